//! `yuqing analyze`: JSON lines in, one JSON line of analysis out per input line, in input order.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;
use yuqing_analysis::{Analyzer, RouterModel};
use yuqing_domain::Document;

use crate::input;
use crate::resources::Resources;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Input file of JSON lines (`id`, `title`, `body`, `url`, `source`, `published_at`); `-` or
    /// nothing for stdin.
    pub file: Option<PathBuf>,
    /// A router model trained with `yuqing router train`, as a second opinion.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Worker threads (default: the cores this process may use).
    #[arg(long)]
    pub threads: Option<usize>,
}

const CHUNK: usize = 1024;

pub fn load_model(path: Option<&std::path::Path>) -> Result<Option<RouterModel>> {
    path.map(|p| {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read model {}", p.display()))?;
        RouterModel::from_json(&text).with_context(|| format!("{}", p.display()))
    })
    .transpose()
}

/// One output line for one input line: the analysis, or an error record that keeps the alignment.
fn analyze_line(
    an: &Analyzer,
    model: Option<&RouterModel>,
    line_no: usize,
    line: &str,
) -> (String, Option<String>) {
    match serde_json::from_str::<Document>(line) {
        Ok(doc) => {
            let a = an.analyze(&doc, model);
            match serde_json::to_string(&a) {
                Ok(s) => (s, None),
                Err(e) => (
                    error_record(line_no, &e.to_string()),
                    Some(format!("line {line_no}: {e}")),
                ),
            }
        }
        Err(e) => {
            let msg = format!("not a JSON object with string fields: {e}");
            (
                error_record(line_no, &msg),
                Some(format!("line {line_no}: {msg}")),
            )
        }
    }
}

fn error_record(line_no: usize, msg: &str) -> String {
    serde_json::json!({ "line": line_no, "error": msg }).to_string()
}

pub fn run(res: &Resources, args: &AnalyzeArgs) -> Result<ExitCode> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("thread pool")?;
    }
    let model = load_model(args.model.as_deref())?;
    let an = res.analyzer()?;
    let mut reader = input::open(args.file.as_deref())?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut bad = 0usize;
    let mut chunk: Vec<(usize, String)> = Vec::with_capacity(CHUNK);
    let single = rayon::current_num_threads() == 1;
    loop {
        let line = input::next_line(&mut *reader, &mut buf)?;
        let done = line.is_none();
        if let Some(l) = line {
            line_no += 1;
            if !l.trim().is_empty() {
                chunk.push((line_no, l));
            }
        }
        // One thread: stream line by line so the first result appears at once.
        if (single && !chunk.is_empty()) || chunk.len() >= CHUNK || (done && !chunk.is_empty()) {
            let results: Vec<(String, Option<String>)> = if single {
                chunk
                    .iter()
                    .map(|(n, l)| analyze_line(&an, model.as_ref(), *n, l))
                    .collect()
            } else {
                chunk
                    .par_iter()
                    .map(|(n, l)| analyze_line(&an, model.as_ref(), *n, l))
                    .collect()
            };
            for (json, err) in results {
                out.write_all(json.as_bytes())?;
                out.write_all(b"\n")?;
                if let Some(e) = err {
                    bad += 1;
                    eprintln!("{e}");
                }
            }
            if single && line_no <= 1 {
                out.flush()?;
            }
            chunk.clear();
        }
        if done {
            break;
        }
    }
    out.flush()?;
    if bad > 0 {
        eprintln!("{bad} bad line(s) of {line_no}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
