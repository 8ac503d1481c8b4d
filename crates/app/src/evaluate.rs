//! `yuqing router train` and `yuqing eval routing | sentiment | lang`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use rayon::prelude::*;
use serde::Deserialize;
use yuqing_analysis::eval::Confusion;
use yuqing_analysis::router::{Features, TrainOptions};
use yuqing_analysis::{Analyzer, RouterModel, Via};
use yuqing_domain::{Document, SentimentLabel};

use crate::input;
use crate::resources::Resources;

#[derive(Debug, Deserialize)]
struct Labelled {
    #[serde(flatten)]
    doc: Document,
    label: Option<String>,
}

fn read_labelled(path: &Path) -> Result<Vec<(Document, String)>> {
    let mut r = input::open(Some(path))?;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(line) = input::next_line(&mut r, &mut buf)? {
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let l: Labelled =
            serde_json::from_str(&line).with_context(|| format!("{}: line {n}", path.display()))?;
        if let Some(label) = l.label.filter(|s| !s.is_empty()) {
            out.push((l.doc, label));
        }
    }
    Ok(out)
}

type LabelMap = BTreeMap<String, Vec<String>>;

fn read_label_map(path: &Path) -> Result<(LabelMap, Vec<String>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let mut map = BTreeMap::new();
    let mut order = Vec::new();
    for (k, v) in table {
        let names: Vec<String> = v
            .as_array()
            .with_context(|| format!("{}: {k} must be a list of department names", path.display()))?
            .iter()
            .map(|x| x.as_str().map(str::to_owned).context("department names must be strings"))
            .collect::<Result<_>>()?;
        order.push(k.clone());
        map.insert(k, names);
    }
    Ok((map, order))
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled posts: JSON lines with the post fields and a `label`.
    #[arg(long)]
    pub labels: PathBuf,
    /// Category → department names; with it the model predicts categories.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
    /// Where to write the model (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// L2 regularisation strength.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    #[arg(long, default_value_t = 200)]
    pub iterations: u64,
}

fn features(an: &Analyzer, docs: &[(Document, String)]) -> Vec<(Features, String)> {
    docs.par_iter()
        .map(|(d, l)| {
            let (_, inter) = an.analyze_full(d, None);
            (an.router_features(&inter), l.clone())
        })
        .collect()
}

fn train_model(
    examples: &[(Features, String)],
    map: Option<LabelMap>,
    alpha: f64,
    iterations: u64,
) -> Result<RouterModel> {
    Ok(RouterModel::train(
        examples,
        map,
        TrainOptions { alpha, max_iterations: iterations, ..Default::default() },
    )?)
}

pub fn train(res: &Resources, args: &TrainArgs) -> Result<ExitCode> {
    let an = res.analyzer()?;
    let data = read_labelled(&args.labels)?;
    let map = args.label_map.as_deref().map(read_label_map).transpose()?.map(|m| m.0);
    if let Some(m) = &map {
        let unknown: Vec<_> = data.iter().map(|d| &d.1).filter(|l| !m.contains_key(*l)).collect();
        if let Some(u) = unknown.first() {
            bail!("label {u:?} is not a category of the label map ({} such posts)", unknown.len());
        }
    }
    let examples = features(&an, &data);
    let t = std::time::Instant::now();
    let model = train_model(&examples, map, args.alpha, args.iterations)?;
    std::fs::write(&args.out, model.to_json())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "trained on {} posts, {} classes in {:.1}s; wrote {}",
        examples.len(),
        model.classes.len(),
        t.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct RoutingArgs {
    #[arg(long)]
    pub labels: PathBuf,
    #[arg(long)]
    pub label_map: PathBuf,
    /// Only the rules: the prediction is the first department listed via a rule.
    #[arg(long, conflicts_with_all = ["model", "cv"])]
    pub rules_only: bool,
    /// Rules with this trained model.
    #[arg(long, conflicts_with = "cv")]
    pub model: Option<PathBuf>,
    /// K-fold cross-validation: train on K-1 folds, score the held-out fold, K times.
    #[arg(long)]
    pub cv: Option<usize>,
    /// Print each wrong prediction.
    #[arg(long)]
    pub errors: bool,
}

/// The category a predicted department name counts as: the gold one when the name is in its
/// list, else the first category listing it, else "(other)".
fn predicted_category<'a>(name: &str, gold: &'a str, map: &'a LabelMap, order: &'a [String]) -> &'a str {
    if map.get(gold).is_some_and(|v| v.iter().any(|n| n == name)) {
        return gold;
    }
    order.iter().find(|c| map[c.as_str()].iter().any(|n| n == name)).map_or("(other)", String::as_str)
}

/// Scores predictions against gold categories.
struct Scorer<'a> {
    an: &'a Analyzer,
    map: &'a LabelMap,
    order: &'a [String],
    print_errors: bool,
}

impl Scorer<'_> {
    /// Adds the predictions for `docs` to `conf`; returns how many leads the model changed.
    fn score(
        &self,
        docs: &[(Document, String)],
        model: Option<&RouterModel>,
        rules_only: bool,
        conf: &mut Confusion,
    ) -> usize {
        let lead = |d: &Document, m: Option<&RouterModel>| {
            let a = self.an.analyze(d, m);
            a.departments.iter().find(|d| !rules_only || d.via == Via::Rule).map(|d| d.name.to_owned())
        };
        let preds: Vec<(Option<String>, bool)> = docs
            .par_iter()
            .map(|(d, _)| {
                let p = lead(d, model);
                let changed = model.is_some() && p != lead(d, None);
                (p, changed)
            })
            .collect();
        let mut changed = 0;
        for ((d, gold), (pred, ch)) in docs.iter().zip(preds) {
            changed += usize::from(ch);
            let cat = pred.as_deref().map(|p| predicted_category(p, gold, self.map, self.order));
            if self.print_errors && cat != Some(gold.as_str()) {
                eprintln!("{}\tgold={gold}\tpred={}\t{}", d.id, pred.as_deref().unwrap_or("-"), d.title);
            }
            conf.add(gold, cat);
        }
        changed
    }
}

pub fn routing(res: &Resources, args: &RoutingArgs) -> Result<ExitCode> {
    let an = res.analyzer()?;
    let data = read_labelled(&args.labels)?;
    let (map, order) = read_label_map(&args.label_map)?;
    let mut labels = order.clone();
    labels.push("(other)".into());
    let mut conf = Confusion::new(labels.clone());
    let scorer = Scorer { an: &an, map: &map, order: &order, print_errors: args.errors };
    if let Some(k) = args.cv {
        anyhow::ensure!(k >= 2 && k <= data.len(), "--cv needs 2 ≤ K ≤ number of posts");
        // Deterministic shuffle, then K folds.
        let mut idx: Vec<usize> = (0..data.len()).collect();
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..idx.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            idx.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let examples = features(&an, &data);
        let mut changed = 0;
        for fold in 0..k {
            // Fold membership by position in the shuffled order.
            let test: Vec<usize> = idx.iter().copied().skip(fold).step_by(k).collect();
            let train: Vec<usize> =
                idx.iter().copied().enumerate().filter(|(pos, _)| pos % k != fold).map(|p| p.1).collect();
            let train_ex: Vec<_> = train.iter().map(|&i| examples[i].clone()).collect();
            let model = train_model(&train_ex, Some(map.clone()), 0.01, 200)?;
            let test_docs: Vec<_> = test.iter().map(|&i| data[i].clone()).collect();
            changed += scorer.score(&test_docs, Some(&model), false, &mut conf);
        }
        println!(
            "routing: rules + model, {k}-fold cross-validation; the model changed the lead of {changed} of {} posts",
            data.len()
        );
    } else {
        let model = crate::analyze::load_model(args.model.as_deref())?;
        let changed = scorer.score(&data, model.as_ref(), args.rules_only || model.is_none(), &mut conf);
        println!(
            "routing: {}",
            if model.is_some() {
                format!("rules + model; the model changed the lead of {changed} of {} posts", data.len())
            } else {
                "rules only".to_owned()
            }
        );
    }
    print!("{}", conf.report());
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct SentimentArgs {
    /// Labelled sets: CSV with `label` (1 positive, 0 negative) and `review` columns, or text files
    /// of one review per line given as `neg=FILE` / `pos=FILE`.
    #[arg(required = true)]
    pub sets: Vec<String>,
}

fn read_sentiment_set(spec: &str) -> Result<(String, Vec<(String, bool)>)> {
    if let Some((label, path)) = spec.split_once('=')
        && (label == "neg" || label == "pos")
    {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        let neg = label == "neg";
        return Ok((
            path.to_owned(),
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| (l.to_owned(), neg)).collect(),
        ));
    }
    let mut rdr = csv::Reader::from_path(spec).with_context(|| format!("cannot read {spec}"))?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| format!("{spec}: no `{name}` column"))
    };
    let (li, ri) = (col("label")?, col("review")?);
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("{spec}: bad CSV record"))?;
        let (Some(l), Some(r)) = (rec.get(li), rec.get(ri)) else {
            continue;
        };
        if r.trim().is_empty() {
            continue;
        }
        rows.push((r.to_owned(), l.trim() == "0"));
    }
    Ok((spec.to_owned(), rows))
}

pub fn sentiment(res: &Resources, args: &SentimentArgs) -> Result<ExitCode> {
    let an = res.analyzer()?;
    println!("{:<60} {:>6} {:>9} {:>9} {:>9}", "set", "n", "neg_prec", "neg_rec", "neg_f1");
    let mut pooled = (0usize, 0usize, 0usize);
    let mut all: Vec<(String, Vec<(String, bool)>)> = Vec::new();
    for spec in &args.sets {
        all.push(read_sentiment_set(spec)?);
    }
    // Text files come in halves (`neg=…` then `pos=…`): score each pair together as one set.
    let mut merged: Vec<(String, Vec<(String, bool)>)> = Vec::new();
    let mut pending_neg = false;
    for (spec, (name, rows)) in args.sets.iter().zip(all) {
        match merged.last_mut() {
            Some((n, r)) if pending_neg && spec.starts_with("pos=") => {
                n.push('+');
                n.push_str(name.rsplit('/').next().unwrap_or(&name));
                r.extend(rows);
                pending_neg = false;
            }
            _ => {
                pending_neg = spec.starts_with("neg=");
                merged.push((name, rows));
            }
        }
    }
    for (name, rows) in merged {
        let preds: Vec<bool> = rows
            .par_iter()
            .map(|(text, _)| {
                let doc = Document { body: text.clone(), ..Default::default() };
                an.analyze(&doc, None).sentiment.label == SentimentLabel::Negative
            })
            .collect();
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        for ((_, gold), p) in rows.iter().zip(&preds) {
            match (gold, p) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                _ => {}
            }
        }
        pooled.0 += tp;
        pooled.1 += fp;
        pooled.2 += fn_;
        let (p, r, f) = prf(tp, fp, fn_);
        println!("{:<60} {:>6} {:>9.3} {:>9.3} {:>9.3}", name, rows.len(), p, r, f);
    }
    let (p, r, f) = prf(pooled.0, pooled.1, pooled.2);
    println!("{:<60} {:>6} {:>9.3} {:>9.3} {:>9.3}", "(pooled)", "", p, r, f);
    Ok(ExitCode::SUCCESS)
}

fn prf(tp: usize, fp: usize, fn_: usize) -> (f64, f64, f64) {
    let p = if tp + fp > 0 { tp as f64 / (tp + fp) as f64 } else { 0.0 };
    let r = if tp + fn_ > 0 { tp as f64 / (tp + fn_) as f64 } else { 0.0 };
    let f = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    (p, r, f)
}

#[derive(Debug, Args)]
pub struct LangArgs {
    /// `LANG=FILE`: every line (for `.txt`) or every `<p>` paragraph (for `.html`) of FILE is in
    /// LANG (zh, ug, kk, ru, en, ar).
    #[arg(required = true)]
    pub sets: Vec<String>,
}

fn paragraphs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in html.split("<p").skip(1) {
        let Some(body) = part.split_once('>').map(|x| x.1) else {
            continue;
        };
        let body = body.split("</p>").next().unwrap_or(body);
        let mut text = String::new();
        let mut in_tag = false;
        for c in body.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text.trim().to_owned();
        if text.chars().count() >= 10 {
            out.push(text);
        }
    }
    out
}

pub fn lang(_res: &Resources, args: &LangArgs) -> Result<ExitCode> {
    println!("{:<70} {:>6} {:>6} {:>8}", "set", "n", "right", "accuracy");
    for spec in &args.sets {
        let (want, path) = spec.split_once('=').context("sets are LANG=FILE")?;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        let items: Vec<String> = if path.ends_with(".html") {
            paragraphs(&text)
        } else {
            text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
        };
        let mut wrong: BTreeMap<&str, usize> = BTreeMap::new();
        let right = items
            .iter()
            .filter(|t| {
                let got = yuqing_text::detect_lang(t).code();
                if got != want {
                    *wrong.entry(got).or_default() += 1;
                }
                got == want
            })
            .count();
        let acc = if items.is_empty() { 0.0 } else { right as f64 / items.len() as f64 };
        println!(
            "{:<70} {:>6} {:>6} {:>8.4}  misses: {:?}",
            format!("{want}={path}"),
            items.len(),
            right,
            acc,
            wrong
        );
    }
    Ok(ExitCode::SUCCESS)
}
