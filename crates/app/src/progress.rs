//! Progress of long work (import, reindex, reanalyze): a live counter with its rate on a terminal
//! (indicatif), a line every ten seconds otherwise (logs of services and benchmarks).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    bar: Option<ProgressBar>,
    done: u64,
    last_line: Instant,
}

impl Progress {
    /// `total`: how many items the work has, when known.
    pub fn new(what: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let (bar, template) = match total {
                Some(n) => (ProgressBar::new(n), "{prefix}: [{bar:30}] {pos}/{len} {per_sec} eta {eta}"),
                None => (ProgressBar::new_spinner(), "{prefix}: {spinner} {pos} {per_sec} {elapsed}"),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { what, bar, done: 0, last_line: Instant::now() }
    }

    pub fn add(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(b) => b.inc(n),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                eprintln!("{}: {} so far", self.what, self.done);
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
