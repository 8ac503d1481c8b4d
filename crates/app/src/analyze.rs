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
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read model {}", p.display()))?;
        RouterModel::from_json(&text).with_context(|| format!("{}", p.display()))
    })
    .transpose()
}

/// Appends one output line (without the newline) for one input line to `out`: the analysis, or
/// an error record that keeps the lines aligned. Returns the error message for stderr, if any.
fn analyze_line(
    an: &Analyzer,
    model: Option<&RouterModel>,
    line_no: usize,
    line: &str,
    out: &mut Vec<u8>,
) -> Option<String> {
    let err = match serde_json::from_str::<Document>(line) {
        Ok(doc) => {
            an.analyze(&doc, model).write_json(out);
            return None;
        }
        Err(e) => format!("not a JSON object with string fields: {e}"),
    };
    out.extend_from_slice(error_record(line_no, &err).as_bytes());
    Some(format!("line {line_no}: {err}"))
}

fn error_record(line_no: usize, msg: &str) -> String {
    serde_json::json!({ "line": line_no, "error": msg }).to_string()
}

pub fn run(res: &Resources, args: &AnalyzeArgs) -> Result<ExitCode> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().context("thread pool")?;
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
    let mut buf_out: Vec<u8> = Vec::with_capacity(1 << 16);
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
            if single {
                for (n, l) in &chunk {
                    buf_out.clear();
                    let err = analyze_line(&an, model.as_ref(), *n, l, &mut buf_out);
                    buf_out.push(b'\n');
                    out.write_all(&buf_out)?;
                    if let Some(e) = err {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            } else {
                let results: Vec<(Vec<u8>, Option<String>)> = chunk
                    .par_iter()
                    .map(|(n, l)| {
                        let mut b = Vec::with_capacity(4096);
                        let err = analyze_line(&an, model.as_ref(), *n, l, &mut b);
                        b.push(b'\n');
                        (b, err)
                    })
                    .collect();
                for (json, err) in results {
                    out.write_all(&json)?;
                    if let Some(e) = err {
                        bad += 1;
                        eprintln!("{e}");
                    }
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
