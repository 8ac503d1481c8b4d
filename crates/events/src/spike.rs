//! Spike detection against each department's and township's own baseline: a small county's
//! spike is small, so the test is relative to the key's own last seven days.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

const HOUR: i64 = 3600;
/// Hours of history the baseline looks at.
const HISTORY_HOURS: i64 = 7 * 24;
/// Hours a key must have been seen for before its activity can spike.
const MIN_HISTORY_HOURS: i64 = 24;

/// Hourly post counts per key (`dept:NAME`, `town:NAME`).
#[derive(Debug, Clone, Default)]
pub struct Baselines {
    counts: FxHashMap<String, BTreeMap<i64, u32>>,
    /// A spike needs at least this many posts in the hour.
    pub min_count: u32,
    /// …and this many standard deviations above the hourly mean.
    pub sigmas: f32,
}

impl Baselines {
    pub fn new() -> Baselines {
        Baselines { counts: FxHashMap::default(), min_count: 5, sigmas: 3.0 }
    }

    /// The hour bucket (Unix hours) of a time.
    pub fn hour(t: DateTime<Utc>) -> i64 {
        t.timestamp().div_euclid(HOUR)
    }

    /// Loads stored counts `(key, hour, count)`.
    pub fn restore(&mut self, rows: impl IntoIterator<Item = (String, i64, u32)>) {
        for (k, h, c) in rows {
            self.counts.entry(k).or_default().insert(h, c);
        }
    }

    /// Counts one post of `key` at `t`; returns the new count of that hour and whether that hour
    /// is a spike against the previous seven days (empty hours count as zero).
    pub fn record(&mut self, key: &str, t: DateTime<Utc>) -> (i64, u32, bool) {
        let h = Self::hour(t);
        let series = self.counts.entry(key.to_owned()).or_default();
        let c = series.entry(h).or_insert(0);
        *c += 1;
        let now = *c;
        let (mut sum, mut sq) = (0f64, 0f64);
        for (_, &n) in series.range(h - HISTORY_HOURS..h) {
            sum += n as f64;
            sq += (n as f64) * (n as f64);
        }
        let n = HISTORY_HOURS as f64;
        let mean = sum / n;
        let sd = (sq / n - mean * mean).max(0.0).sqrt();
        // Without a day of history there is no baseline to rise above (a fresh installation, a
        // department never named before): no spike.
        let known_since = series.keys().next().copied().unwrap_or(h);
        let spike = h - known_since >= MIN_HISTORY_HOURS
            && now >= self.min_count
            && now as f64 > mean + self.sigmas as f64 * sd.max(1.0);
        // forget what no baseline will read again
        if series.len() > (HISTORY_HOURS as usize) * 2 {
            let keep = h - HISTORY_HOURS - 1;
            *series = series.split_off(&keep);
        }
        (h, now, spike)
    }
}
