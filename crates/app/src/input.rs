//! Reading JSON-lines input from a file or stdin.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};

/// A buffered input; [`has_buffered_line`] tells whether a next line can be read without waiting.
pub type Input = BufReader<Box<dyn Read>>;

/// Opens `path` (`-` or none = stdin) for buffered reading.
pub fn open(path: Option<&Path>) -> Result<Input> {
    let inner: Box<dyn Read> = match path {
        None => Box::new(std::io::stdin()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin()),
        Some(p) => Box::new(std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?),
    };
    Ok(BufReader::with_capacity(1 << 20, inner))
}

/// Whether a whole next line is already in the buffer (reading it will not wait for a pipe).
pub fn has_buffered_line(r: &Input) -> bool {
    r.buffer().contains(&b'\n')
}

/// Reads the next line as bytes (invalid UTF-8 is replaced, not fatal); `None` at the end.
pub fn next_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> Result<Option<String>> {
    buf.clear();
    let n = r.read_until(b'\n', buf).context("cannot read input")?;
    if n == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    let line = String::from_utf8_lossy(buf);
    // A byte-order mark (files saved by Windows tools) is not part of the JSON.
    Ok(Some(line.strip_prefix('\u{FEFF}').unwrap_or(&line).to_owned()))
}
