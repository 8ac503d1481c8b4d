//! `yuqing rules check | explain | synth`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use yuqing_domain::{Document, Field};

use crate::input;
use crate::resources::Resources;

pub fn check(res: &Resources) -> Result<ExitCode> {
    match yuqing_analysis::config::load(res.config.files.iter().map(|(p, t)| (p.as_str(), t.as_str()))) {
        Err(errors) => {
            println!("{} problem(s) in {}:", errors.0.len(), res.config.origin);
            for e in &errors.0 {
                println!("  {e}");
            }
            Ok(ExitCode::from(1))
        }
        Ok(cfg) => {
            let an = res.analyzer()?;
            let units_with_topics = {
                let mut v: Vec<_> = cfg.topics.iter().filter_map(|t| t.unit.as_ref()).collect();
                v.sort();
                v.dedup();
                v.len()
            };
            println!(
                "ok: {} units ({} with topics), {} topics, {} townships, {} rule terms, {} patterns in one automaton of {} KiB ({}, {})",
                cfg.units.len(),
                units_with_topics,
                cfg.topics.len(),
                cfg.townships.len(),
                an.rules().term_count(),
                an.pattern_count(),
                an.automaton_bytes().div_ceil(1024),
                res.config.origin,
                res.dicts.origin,
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The body text to explain.
    #[arg(long)]
    pub text: String,
    /// An optional title.
    #[arg(long, default_value = "")]
    pub title: String,
    /// A router model, to show its opinion as well.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

fn snippet(text: &str, start: usize, end: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let a = start.saturating_sub(8);
    let b = (end + 8).min(chars.len());
    let s: String = chars[a..start.min(chars.len())].iter().collect();
    let m: String = chars[start.min(chars.len())..end.min(chars.len())].iter().collect();
    let e: String = chars[end.min(chars.len())..b].iter().collect();
    format!("…{s}【{m}】{e}…")
}

pub fn explain(res: &Resources, args: &ExplainArgs) -> Result<ExitCode> {
    let model = crate::analyze::load_model(args.model.as_deref())?;
    let an = res.analyzer()?;
    let doc = Document {
        id: "explain".into(),
        title: args.title.clone(),
        body: args.text.clone(),
        ..Default::default()
    };
    let (a, _) = an.analyze_full(&doc, model.as_ref());
    let mut out = String::new();
    if a.departments.is_empty() {
        let _ = writeln!(out, "no rule fired; no department assigned");
    }
    for (i, d) in a.departments.iter().enumerate() {
        let role = if i == 0 { "lead" } else { "co" };
        let _ = writeln!(
            out,
            "{}. {} ({}) [{role}, {:?}, via {:?}] score {:.3}{}",
            i + 1,
            d.name,
            d.id,
            d.role,
            d.via,
            d.score,
            d.model_confidence.map(|c| format!(", model confidence {c:.3}")).unwrap_or_default()
        );
        for t in &d.topics {
            let _ = writeln!(out, "   topic {} 「{}」", t.id, t.name);
            for e in &t.evidence {
                let text = doc.text(e.field);
                let f = if e.field == Field::Title { "title" } else { "body" };
                let _ = writeln!(
                    out,
                    "     {} in {f} [{}..{}] {}",
                    e.word,
                    e.start,
                    e.end,
                    snippet(text, e.start, e.end)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "sentiment {:?} {:.3}; risk {:.3} {:?}",
        a.sentiment.label, a.sentiment.score, a.risk.score, a.risk.words
    );
    let places: Vec<_> = a.places.iter().map(|p| p.name).collect();
    let _ = writeln!(out, "places {:?}; local {}; lang {}", places, a.local, a.lang.code());
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Posts (JSON lines) whose frequent words the topics are drawn from.
    #[arg(long)]
    pub input: PathBuf,
    /// Number of topics to generate.
    #[arg(long)]
    pub topics: usize,
    /// Output configuration folder (county, gazetteer and departments are copied; the only rules
    /// are the generated ones).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Draw the words from generated three-character Han strings that do not occur in the input
    /// instead of its frequent words: a control where rules exist but never match.
    #[arg(long)]
    pub absent: bool,
}

/// xorshift64*: a tiny deterministic generator for benchmark topics.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn sample<'a>(&mut self, v: &'a [String], k: usize) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::with_capacity(k);
        while out.len() < k.min(v.len()) {
            let w = v[(self.next() % v.len() as u64) as usize].as_str();
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }
}

/// Writes a configuration whose only topics are `n` generated ones: three groups of four frequent
/// words of the input and two exclude words each, as the Python baseline's `make_topics` does.
pub fn synth(res: &Resources, args: &SynthArgs) -> Result<ExitCode> {
    let an = res.analyzer()?;
    let cfg = res.county()?;
    let mut reader = input::open(Some(&args.input))?;
    let mut buf = Vec::new();
    let mut freq: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut n = 0;
    while n < 2000 {
        let Some(line) = input::next_line(&mut reader, &mut buf)? else {
            break;
        };
        let Ok(doc) = serde_json::from_str::<Document>(&line) else {
            continue;
        };
        n += 1;
        let text = format!("{}\n{}", doc.title, doc.body);
        for w in an.words(&text) {
            if w.chars().count() >= 2 && w.chars().all(char::is_alphanumeric) {
                *freq.entry(w.to_owned()).or_default() += 1;
            }
        }
    }
    let mut vocab: Vec<(String, usize)> = freq.into_iter().collect();
    vocab.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut vocab: Vec<String> = vocab.into_iter().take(3000).map(|v| v.0).collect();
    let mut rng = Rng(args.seed.max(1));
    if args.absent {
        let seen: std::collections::HashSet<String> = vocab.drain(..).collect();
        while vocab.len() < 3000 {
            let w: String =
                (0..3).filter_map(|_| char::from_u32(0x4E00 + (rng.next() % 0x5000) as u32)).collect();
            if !seen.contains(&w) && !vocab.contains(&w) {
                vocab.push(w);
            }
        }
    }
    anyhow::ensure!(vocab.len() >= 12, "the input has too few distinct words ({})", vocab.len());
    let unit = cfg
        .units
        .iter()
        .find(|u| u.kind == yuqing_domain::UnitKind::Department)
        .context("no department unit")?;
    let q = |ws: Vec<&str>| ws.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", ");
    let mut rules = format!("# {} generated benchmark topics\nunit = \"{}\"\n", args.topics, unit.id);
    for i in 0..args.topics {
        let _ = write!(
            rules,
            "\n[[topic]]\nid = \"synth.t{i}\"\nname = \"t{i}\"\nregion = [{}]\nsubject = [{}]\nevent = [{}]\nexclude = [{}]\n",
            q(rng.sample(&vocab, 4)),
            q(rng.sample(&vocab, 4)),
            q(rng.sample(&vocab, 4)),
            q(rng.sample(&vocab, 2)),
        );
    }
    std::fs::create_dir_all(args.out.join("rules"))
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (path, text) in &res.config.files {
        if !path.starts_with("rules/") {
            let p = args.out.join(path);
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        }
    }
    let p = args.out.join("rules").join(format!("{}.toml", unit.id));
    std::fs::write(&p, rules).with_context(|| format!("cannot write {}", p.display()))?;
    eprintln!("wrote {} topics over {} words to {}", args.topics, vocab.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}
