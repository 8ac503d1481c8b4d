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

/// Lines read before the threads share them out.
const CHUNK: usize = 1024;
/// Lines analysed as one batch (see `Analyzer::analyze_batch`).
const BATCH: usize = 32;

pub fn load_model(path: Option<&std::path::Path>) -> Result<Option<RouterModel>> {
    path.map(|p| {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read model {}", p.display()))?;
        RouterModel::from_json(&text).with_context(|| format!("{}", p.display()))
    })
    .transpose()
}

/// Appends the output lines (each with its newline) of `lines` to `out`: the analysis of each,
/// or an error record that keeps the lines aligned. The lines are analysed as one batch
/// ([`Analyzer::analyze_batch`]). Returns the error messages for stderr.
fn analyze_lines(
    an: &Analyzer,
    model: Option<&RouterModel>,
    lines: &[(usize, String)],
    out: &mut Vec<u8>,
) -> Vec<String> {
    let parsed: Vec<Result<Document, String>> = lines
        .iter()
        .map(|(_, l)| {
            serde_json::from_str::<Document>(l)
                .map_err(|e| format!("not a JSON object with string fields: {e}"))
        })
        .collect();
    // One analysis per parsed line, in order.
    let mut analyses = an.analyze_batch(parsed.iter().filter_map(|p| p.as_ref().ok()), model).into_iter();
    let mut errors = Vec::new();
    for ((line_no, _), p) in lines.iter().zip(&parsed) {
        match p {
            Ok(_) => {
                if let Some(a) = analyses.next() {
                    a.write_json(out);
                }
            }
            Err(err) => {
                out.extend_from_slice(error_record(*line_no, err).as_bytes());
                errors.push(format!("line {line_no}: {err}"));
            }
        }
        out.push(b'\n');
    }
    errors
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
        let line = input::next_line(&mut reader, &mut buf)?;
        let done = line.is_none();
        if let Some(l) = line {
            line_no += 1;
            if !l.trim().is_empty() {
                chunk.push((line_no, l));
            }
        }
        // Lines go out as soon as no further line is waiting in the buffer, so a stream is
        // answered line by line; from a file they go in batches (one thread) or chunks of
        // batches (several threads).
        let waiting = !done && input::has_buffered_line(&reader);
        let full = chunk.len() >= if single { BATCH } else { CHUNK };
        if !chunk.is_empty() && (full || !waiting) {
            let errors: Vec<String> = if single {
                buf_out.clear();
                let errors = analyze_lines(&an, model.as_ref(), &chunk, &mut buf_out);
                out.write_all(&buf_out)?;
                errors
            } else {
                let results: Vec<(Vec<u8>, Vec<String>)> = chunk
                    .par_chunks(BATCH)
                    .map(|lines| {
                        let mut b = Vec::with_capacity(4096 * lines.len());
                        let errors = analyze_lines(&an, model.as_ref(), lines, &mut b);
                        (b, errors)
                    })
                    .collect();
                let mut errors = Vec::new();
                for (json, e) in results {
                    out.write_all(&json)?;
                    errors.extend(e);
                }
                errors
            };
            for e in errors {
                bad += 1;
                eprintln!("{e}");
            }
            if !waiting {
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
