//! Crawl scheduling: when is each source next due?
//!
//! Everything here is a pure function of its inputs. Nothing reads the clock or does IO: the caller
//! passes `now`, and stores the returned instant (`next_due_at`) wherever it keeps its sources.
//!
//! A source's schedule comes from its TOML config as a [`ScheduleConfig`] and is validated into a
//! [`Schedule`] (deserialising a [`Schedule`] directly runs the same validation):
//!
//! ```toml
//! every_secs = 600            # a fixed interval, at least MIN_EVERY_SECS
//! # or
//! cron = "*/10 7-23 * * *"    # standard 5 fields: minute hour day-of-month month day-of-week
//! jitter_secs = 30            # optional; see below for the default
//! timezone = "Asia/Shanghai"  # optional IANA name, the zone cron fields are read in
//! ```
//!
//! [`next_due`] combines the schedule with the source's [`Health`]:
//!
//! - after a success, the next slot strictly after `now` (interval: `now + every_secs`; cron: the
//!   next matching minute in the schedule's time zone);
//! - after `n` consecutive failures, `max(next slot, now + backoff(n))` where
//!   `backoff(n) = min(BACKOFF_BASE_SECS * 2^(n-1), BACKOFF_CAP_SECS)`;
//! - plus a deterministic jitter in `[0, jitter_secs)` derived from a per-source key (see
//!   [`jitter_key`]) mixed with the next slot, so sources sharing a schedule spread out while one
//!   source and slot always get the same offset.
//!
//! The jitter depends on the normal slot only, never on the failure count, so the result never
//! decreases as failures accumulate.

use std::fmt;

use chrono::Timelike;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

/// Time zone used when a schedule does not name one.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";
/// Shortest accepted `every_secs`.
pub const MIN_EVERY_SECS: u64 = 10;
/// Longest accepted `every_secs` (365 days).
pub const MAX_EVERY_SECS: u64 = 365 * 24 * 60 * 60;
/// Default interval jitter is `every_secs / DEFAULT_JITTER_DIVISOR` (10 %)...
pub const DEFAULT_JITTER_DIVISOR: u64 = 10;
/// ...capped at this many seconds. Cron schedules default to no jitter.
pub const DEFAULT_JITTER_CAP_SECS: u64 = 300;
/// Largest accepted explicit `jitter_secs` (one day).
pub const MAX_JITTER_SECS: u64 = 24 * 60 * 60;
/// Backoff after the first consecutive failure; it doubles with each further failure.
pub const BACKOFF_BASE_SECS: u64 = 60;
/// Upper bound of the failure backoff (6 hours).
pub const BACKOFF_CAP_SECS: u64 = 6 * 60 * 60;
/// Delay used if a validated cron expression unexpectedly yields no future match.
pub const CRON_FALLBACK_SECS: u64 = BACKOFF_CAP_SECS;
/// Consecutive failures from which a source counts as [`HealthStatus::Failing`]; fewer (but at
/// least one) make it [`HealthStatus::Degraded`].
pub const FAILING_THRESHOLD: u32 = 3;
/// Longest error message kept in [`Health::last_error`], in bytes; longer ones are cut.
pub const MAX_ERROR_LEN: usize = 1024;

/// Why a [`ScheduleConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Both `every_secs` and `cron` were given.
    #[error("schedule sets both `every_secs` and `cron`; set exactly one of them")]
    BothEveryAndCron,
    /// Neither `every_secs` nor `cron` was given.
    #[error("schedule sets neither `every_secs` nor `cron`; set exactly one of them")]
    MissingEveryOrCron,
    /// `every_secs` is zero or below [`MIN_EVERY_SECS`].
    #[error("`every_secs` = {got} is too short; the minimum is {min} seconds", min = MIN_EVERY_SECS)]
    EveryTooShort {
        /// The rejected value.
        got: u64,
    },
    /// `every_secs` is above [`MAX_EVERY_SECS`].
    #[error("`every_secs` = {got} is too long; the maximum is {max} seconds", max = MAX_EVERY_SECS)]
    EveryTooLong {
        /// The rejected value.
        got: u64,
    },
    /// The cron expression has 6 fields, i.e. a leading seconds field.
    #[error(
        "`cron` = {expr:?} has 6 fields, but seconds are not supported: drop the leading seconds field \
         and use the 5 fields minute hour day-of-month month day-of-week"
    )]
    CronWithSeconds {
        /// The rejected expression.
        expr: String,
    },
    /// The cron expression could not be parsed.
    #[error("`cron` = {expr:?} is not a valid cron expression: {reason}")]
    InvalidCron {
        /// The rejected expression.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cron expression parses but no date ever matches it (e.g. `0 0 31 2 *`).
    #[error("`cron` = {expr:?} never matches any date")]
    CronNeverMatches {
        /// The rejected expression.
        expr: String,
    },
    /// `timezone` is not an IANA time zone name known to `chrono-tz`.
    #[error("`timezone` = {name:?} is not a known iana time zone name (such as \"Asia/Shanghai\")")]
    UnknownTimezone {
        /// The rejected name.
        name: String,
    },
    /// An interval's `jitter_secs` is not below its `every_secs`.
    #[error("`jitter_secs` = {got} must be less than `every_secs` = {every_secs}")]
    JitterNotBelowInterval {
        /// The rejected jitter.
        got: u64,
        /// The schedule's interval.
        every_secs: u64,
    },
    /// `jitter_secs` is above [`MAX_JITTER_SECS`].
    #[error("`jitter_secs` = {got} is too large; the maximum is {max} seconds", max = MAX_JITTER_SECS)]
    JitterTooLarge {
        /// The rejected jitter.
        got: u64,
    },
}

/// A schedule exactly as written in config, before validation.
///
/// Exactly one of `every_secs` and `cron` must be set; [`Schedule::parse`] checks this and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Fixed interval between runs, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
    /// Standard 5-field cron expression (minute hour day-of-month month day-of-week).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Upper bound (exclusive) of the per-source jitter, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_secs: Option<u64>,
    /// IANA time zone the cron fields are read in; [`DEFAULT_TIMEZONE`] if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// A validated schedule.
///
/// Deserialises from the same TOML as [`ScheduleConfig`] (unknown fields rejected) and validates
/// on the way; serialises back to a [`ScheduleConfig`] with the effective jitter and time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleConfig", into = "ScheduleConfig")]
pub struct Schedule {
    kind: ScheduleKind,
    jitter_secs: u64,
    timezone: Tz,
}

/// What triggers a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleKind {
    /// Every `secs` seconds, counted from the end of the previous run.
    Every {
        /// The interval in seconds.
        secs: u64,
    },
    /// At the times matching a cron expression, in the schedule's time zone.
    Cron(Box<CronExpr>),
}

/// A parsed 5-field cron expression that is known to match some date.
#[derive(Clone)]
pub struct CronExpr {
    expr: String,
    cron: Cron,
}

impl CronExpr {
    /// The expression as written in config.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// Parses `expr` as a 5-field cron expression that matches at least one date in `timezone`.
    fn parse(expr: &str, timezone: Tz) -> Result<Self, ScheduleError> {
        let fields = expr.split_whitespace().count();
        if fields == 6 {
            return Err(ScheduleError::CronWithSeconds { expr: expr.to_owned() });
        }
        // `@daily` and friends are a single token that the parser expands to 5 fields.
        if fields != 5 && !expr.trim_start().starts_with('@') {
            return Err(ScheduleError::InvalidCron {
                expr: expr.to_owned(),
                reason: format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
                ),
            });
        }
        let cron = CronParser::builder().seconds(Seconds::Disallowed).build().parse(expr).map_err(|e| {
            ScheduleError::InvalidCron { expr: expr.to_owned(), reason: lowercase_first(&e.to_string()) }
        })?;
        let parsed = Self { expr: expr.to_owned(), cron };
        // Day matching repeats with the 400-year Gregorian cycle, so an expression that matches
        // nothing after a fixed reference instant never matches at all.
        if let Some(reference) = DateTime::from_timestamp(946_684_800, 0)
            && parsed.next_after(reference, timezone).is_none()
        {
            return Err(ScheduleError::CronNeverMatches { expr: expr.to_owned() });
        }
        Ok(parsed)
    }

    /// The first matching instant strictly after `now`, reading the fields in `timezone`.
    fn next_after(&self, now: DateTime<Utc>, timezone: Tz) -> Option<DateTime<Utc>> {
        // Cron slots are whole seconds: drop the sub-second part of `now` (the slot stays after it,
        // because the search is exclusive of the truncated instant).
        let whole = now.with_nanosecond(0).unwrap_or(now);
        let local = whole.with_timezone(&timezone);
        let next = self.cron.find_next_occurrence(&local, false).ok()?.with_timezone(&Utc);
        (next > now).then_some(next)
    }
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronExpr").field(&self.expr).finish()
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Eq for CronExpr {}

impl Schedule {
    /// Validates a raw config.
    ///
    /// # Errors
    ///
    /// Returns a [`ScheduleError`] naming the offending field when both or neither of `every_secs`
    /// and `cron` are set, `every_secs` is out of range, the cron expression is malformed, has a
    /// seconds field or never matches, the time zone is unknown, or `jitter_secs` is too large.
    pub fn parse(config: &ScheduleConfig) -> Result<Self, ScheduleError> {
        let (every_secs, cron) = match (config.every_secs, config.cron.as_deref()) {
            (Some(_), Some(_)) => return Err(ScheduleError::BothEveryAndCron),
            (None, None) => return Err(ScheduleError::MissingEveryOrCron),
            pair => pair,
        };
        let timezone = parse_timezone(config.timezone.as_deref())?;
        let kind = match (every_secs, cron) {
            (Some(secs), _) if secs < MIN_EVERY_SECS => {
                return Err(ScheduleError::EveryTooShort { got: secs });
            }
            (Some(secs), _) if secs > MAX_EVERY_SECS => {
                return Err(ScheduleError::EveryTooLong { got: secs });
            }
            (Some(secs), _) => ScheduleKind::Every { secs },
            (None, Some(expr)) => ScheduleKind::Cron(Box::new(CronExpr::parse(expr, timezone)?)),
            (None, None) => return Err(ScheduleError::MissingEveryOrCron),
        };
        let jitter_secs = match (config.jitter_secs, &kind) {
            (Some(got), _) if got > MAX_JITTER_SECS => return Err(ScheduleError::JitterTooLarge { got }),
            (Some(got), ScheduleKind::Every { secs }) if got >= *secs => {
                return Err(ScheduleError::JitterNotBelowInterval { got, every_secs: *secs });
            }
            (Some(got), _) => got,
            (None, ScheduleKind::Every { secs }) => default_interval_jitter_secs(*secs),
            (None, ScheduleKind::Cron(_)) => 0,
        };
        Ok(Self { kind, jitter_secs, timezone })
    }

    /// What triggers a run.
    pub fn kind(&self) -> &ScheduleKind {
        &self.kind
    }

    /// The interval, for interval schedules.
    pub fn every_secs(&self) -> Option<u64> {
        match &self.kind {
            ScheduleKind::Every { secs } => Some(*secs),
            ScheduleKind::Cron(_) => None,
        }
    }

    /// The cron expression, for cron schedules.
    pub fn cron_expr(&self) -> Option<&str> {
        match &self.kind {
            ScheduleKind::Every { .. } => None,
            ScheduleKind::Cron(expr) => Some(expr.as_str()),
        }
    }

    /// Effective jitter bound in seconds (explicit, or the default for the schedule's kind).
    pub fn jitter_secs(&self) -> u64 {
        self.jitter_secs
    }

    /// Time zone the cron fields are read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The normal next slot strictly after `now`, before jitter and backoff.
    ///
    /// Interval: `now + every_secs`. Cron: the next matching time in the schedule's time zone (or
    /// `now + CRON_FALLBACK_SECS` should the cron library fail to find one, which validation rules
    /// out for all practical dates).
    pub fn next_slot(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match &self.kind {
            ScheduleKind::Every { secs } => add_secs(now, *secs),
            ScheduleKind::Cron(expr) => {
                expr.next_after(now, self.timezone).unwrap_or_else(|| add_secs(now, CRON_FALLBACK_SECS))
            }
        }
    }

    /// Deterministic jitter in `[0, jitter_secs)` seconds for one source (`jitter_key`) and slot.
    pub fn jitter_offset_secs(&self, jitter_key: u64, slot: DateTime<Utc>) -> u64 {
        if self.jitter_secs == 0 {
            return 0;
        }
        mix64(jitter_key ^ mix64(slot.timestamp().cast_unsigned())) % self.jitter_secs
    }
}

impl TryFrom<ScheduleConfig> for Schedule {
    type Error = ScheduleError;

    fn try_from(config: ScheduleConfig) -> Result<Self, Self::Error> {
        Self::parse(&config)
    }
}

impl From<Schedule> for ScheduleConfig {
    fn from(schedule: Schedule) -> Self {
        let (every_secs, cron) = match schedule.kind {
            ScheduleKind::Every { secs } => (Some(secs), None),
            ScheduleKind::Cron(expr) => (None, Some(expr.expr)),
        };
        Self {
            every_secs,
            cron,
            jitter_secs: Some(schedule.jitter_secs),
            timezone: Some(schedule.timezone.name().to_owned()),
        }
    }
}

/// Default jitter bound for an interval: 10 % of it, capped at [`DEFAULT_JITTER_CAP_SECS`].
pub fn default_interval_jitter_secs(every_secs: u64) -> u64 {
    (every_secs / DEFAULT_JITTER_DIVISOR).min(DEFAULT_JITTER_CAP_SECS)
}

/// Backoff after `failures` consecutive failures, in seconds: 0 for none, otherwise
/// `min(BACKOFF_BASE_SECS * 2^(failures-1), BACKOFF_CAP_SECS)`.
pub fn backoff_secs(failures: u32) -> u64 {
    match failures {
        0 => 0,
        n => {
            let doublings = (n - 1).min(32);
            BACKOFF_BASE_SECS.saturating_mul(1_u64 << doublings).min(BACKOFF_CAP_SECS)
        }
    }
}

/// A stable 64-bit key for a source id (FNV-1a), suitable as the `jitter_key` of [`next_due`].
///
/// Stable across builds and Rust versions, unlike `std`'s default hasher.
pub fn jitter_key(source_id: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    source_id.bytes().fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// When a source with this schedule and health, having just finished a run at `now`, is next due.
///
/// `next_slot = schedule.next_slot(now)`; with no consecutive failures the base is `next_slot`,
/// otherwise `max(next_slot, now + backoff_secs(failures))`; the result is the base plus
/// `schedule.jitter_offset_secs(jitter_key, next_slot)`.
///
/// Always strictly after `now` (for any `now` at least a year below chrono's maximum date), and
/// non-decreasing in `health.consecutive_failures` for fixed other inputs.
pub fn next_due(schedule: &Schedule, health: &Health, now: DateTime<Utc>, jitter_key: u64) -> DateTime<Utc> {
    let slot = schedule.next_slot(now);
    let base = match health.consecutive_failures {
        0 => slot,
        failures => slot.max(add_secs(now, backoff_secs(failures))),
    };
    add_secs(base, schedule.jitter_offset_secs(jitter_key, slot))
}

/// Outcome history of a source, as shown in the UI and used by [`next_due`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// End of the last successful run.
    pub last_success_at: Option<DateTime<Utc>>,
    /// End of the last failed run.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Message of the last failure (kept after later successes, for the record).
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Items produced by the last run (0 after a failure).
    pub items_last_run: u32,
    /// End of the last run, successful or not.
    pub last_run_at: Option<DateTime<Utc>>,
}

impl Health {
    /// Records a successful run that ended at `now` and produced `items` items.
    pub fn record_success(&mut self, now: DateTime<Utc>, items: u32) {
        self.last_success_at = Some(now);
        self.last_run_at = Some(now);
        self.consecutive_failures = 0;
        self.items_last_run = items;
    }

    /// Records a failed run that ended at `now`; `error` is kept, cut to [`MAX_ERROR_LEN`] bytes.
    pub fn record_failure(&mut self, now: DateTime<Utc>, error: &str) {
        self.last_error_at = Some(now);
        self.last_run_at = Some(now);
        self.last_error = Some(truncate_error(error));
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.items_last_run = 0;
    }

    /// Traffic-light status: unknown (never ran), ok, degraded (1–2 failures in a row) or failing.
    pub fn status(&self) -> HealthStatus {
        match self.consecutive_failures {
            0 if self.last_run_at.is_none()
                && self.last_success_at.is_none()
                && self.last_error_at.is_none() =>
            {
                HealthStatus::Unknown
            }
            0 => HealthStatus::Ok,
            n if n < FAILING_THRESHOLD => HealthStatus::Degraded,
            _ => HealthStatus::Failing,
        }
    }
}

/// Summary of a [`Health`] for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Never ran (grey).
    Unknown,
    /// Last run succeeded (green).
    Ok,
    /// One or two failures in a row (amber).
    Degraded,
    /// [`FAILING_THRESHOLD`] or more failures in a row (red).
    Failing,
}

impl HealthStatus {
    /// Lowercase name, as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Failing => "failing",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn parse_timezone(name: Option<&str>) -> Result<Tz, ScheduleError> {
    let name = name.unwrap_or(DEFAULT_TIMEZONE);
    name.parse::<Tz>().map_err(|_| ScheduleError::UnknownTimezone { name: name.to_owned() })
}

/// `t + secs`, saturating at chrono's maximum instant.
fn add_secs(t: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|delta| t.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// SplitMix64 finaliser: a cheap, well-spread bijection on `u64`.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn truncate_error(error: &str) -> String {
    if error.len() <= MAX_ERROR_LEN {
        return error.to_owned();
    }
    let end = (0..=MAX_ERROR_LEN).rev().find(|&i| error.is_char_boundary(i)).unwrap_or(0);
    let mut cut = error.get(..end).unwrap_or_default().to_owned();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn config(
        every: Option<u64>,
        cron: Option<&str>,
        jitter: Option<u64>,
        tz: Option<&str>,
    ) -> ScheduleConfig {
        ScheduleConfig {
            every_secs: every,
            cron: cron.map(str::to_owned),
            jitter_secs: jitter,
            timezone: tz.map(str::to_owned),
        }
    }

    fn every(secs: u64, jitter: Option<u64>) -> Schedule {
        Schedule::parse(&config(Some(secs), None, jitter, None)).unwrap()
    }

    fn cron(expr: &str, tz: Option<&str>, jitter: Option<u64>) -> Schedule {
        Schedule::parse(&config(None, Some(expr), jitter, tz)).unwrap()
    }

    fn failing(n: u32) -> Health {
        Health { consecutive_failures: n, ..Health::default() }
    }

    fn variant(e: &ScheduleError) -> &'static str {
        match e {
            ScheduleError::BothEveryAndCron => "BothEveryAndCron",
            ScheduleError::MissingEveryOrCron => "MissingEveryOrCron",
            ScheduleError::EveryTooShort { .. } => "EveryTooShort",
            ScheduleError::EveryTooLong { .. } => "EveryTooLong",
            ScheduleError::CronWithSeconds { .. } => "CronWithSeconds",
            ScheduleError::InvalidCron { .. } => "InvalidCron",
            ScheduleError::CronNeverMatches { .. } => "CronNeverMatches",
            ScheduleError::UnknownTimezone { .. } => "UnknownTimezone",
            ScheduleError::JitterNotBelowInterval { .. } => "JitterNotBelowInterval",
            ScheduleError::JitterTooLarge { .. } => "JitterTooLarge",
        }
    }

    #[test]
    fn invalid_configs_are_rejected_with_clear_errors() {
        // (config, text the message must contain, acceptable variants)
        let cases: [(ScheduleConfig, &str, &[&str]); 17] = [
            (
                config(Some(600), Some("0 8 * * *"), None, None),
                "both `every_secs` and `cron`",
                &["BothEveryAndCron"],
            ),
            (
                config(None, None, Some(5), Some("UTC")),
                "neither `every_secs` nor `cron`",
                &["MissingEveryOrCron"],
            ),
            (config(Some(0), None, None, None), "`every_secs` = 0 is too short", &["EveryTooShort"]),
            (config(Some(9), None, None, None), "minimum is 10 seconds", &["EveryTooShort"]),
            (
                config(Some(MAX_EVERY_SECS + 1), None, None, None),
                "`every_secs` = 31536001",
                &["EveryTooLong"],
            ),
            (
                config(None, Some("0 */10 * * * *"), None, None),
                "drop the leading seconds field",
                &["CronWithSeconds"],
            ),
            (config(None, Some("*/10 7-23 * *"), None, None), "`cron` = \"*/10 7-23 * *\"", &["InvalidCron"]),
            (config(None, Some("0 0 1 * * * 2030"), None, None), "found 7", &["InvalidCron"]),
            (config(None, Some("61 * * * *"), None, None), "`cron` = \"61 * * * *\"", &["InvalidCron"]),
            (config(None, Some("0 25 * * *"), None, None), "not a valid cron expression", &["InvalidCron"]),
            (
                config(None, Some("every ten minutes"), None, None),
                "not a valid cron expression",
                &["InvalidCron"],
            ),
            (config(None, Some(""), None, None), "`cron` = \"\"", &["InvalidCron"]),
            // Rejected by the parser or by the never-matches check, whichever the library allows.
            (
                config(None, Some("0 0 31 2 *"), None, None),
                "`cron` = \"0 0 31 2 *\"",
                &["CronNeverMatches", "InvalidCron"],
            ),
            (
                config(Some(600), None, None, Some("Mars/Olympus_Mons")),
                "`timezone` = \"Mars/Olympus_Mons\"",
                &["UnknownTimezone"],
            ),
            (config(None, Some("0 8 * * *"), None, Some("")), "`timezone` = \"\"", &["UnknownTimezone"]),
            (
                config(Some(600), None, Some(600), None),
                "less than `every_secs` = 600",
                &["JitterNotBelowInterval"],
            ),
            (
                config(None, Some("0 8 * * *"), Some(MAX_JITTER_SECS + 1), None),
                "`jitter_secs` = 86401 is too large",
                &["JitterTooLarge"],
            ),
        ];
        for (cfg, needle, variants) in cases {
            let err = Schedule::parse(&cfg).unwrap_err();
            let msg = err.to_string();
            assert!(variants.contains(&variant(&err)), "{cfg:?}: unexpected error {err:?}");
            assert!(msg.contains(needle), "{cfg:?}: {msg:?} lacks {needle:?}");
            assert!(!msg.starts_with(char::is_uppercase), "{cfg:?}: {msg:?} should start lowercase");
        }
    }

    #[test]
    fn valid_configs_get_the_documented_defaults() {
        // (config, every_secs, cron, jitter_secs, timezone)
        let shanghai = chrono_tz::Asia::Shanghai;
        let cases = [
            (config(Some(600), None, None, None), Some(600), None, 60, shanghai),
            (config(Some(10), None, None, None), Some(10), None, 1, shanghai),
            (config(Some(2_999), None, None, None), Some(2_999), None, 299, shanghai),
            (config(Some(86_400), None, None, None), Some(86_400), None, DEFAULT_JITTER_CAP_SECS, shanghai),
            (config(Some(600), None, Some(0), Some("UTC")), Some(600), None, 0, chrono_tz::UTC),
            (config(Some(600), None, Some(599), None), Some(600), None, 599, shanghai),
            (config(None, Some("*/10 7-23 * * *"), None, None), None, Some("*/10 7-23 * * *"), 0, shanghai),
            (
                config(None, Some("0 9 * * MON-FRI"), Some(120), Some("Europe/Berlin")),
                None,
                Some("0 9 * * MON-FRI"),
                120,
                chrono_tz::Europe::Berlin,
            ),
            (config(None, Some("@daily"), None, None), None, Some("@daily"), 0, shanghai),
            (config(None, Some("0 0 29 2 *"), None, None), None, Some("0 0 29 2 *"), 0, shanghai),
        ];
        for (cfg, every_secs, cron_expr, jitter, tz) in cases {
            let schedule = Schedule::parse(&cfg).unwrap();
            assert_eq!(schedule.every_secs(), every_secs, "{cfg:?}");
            assert_eq!(schedule.cron_expr(), cron_expr, "{cfg:?}");
            assert_eq!(schedule.jitter_secs(), jitter, "{cfg:?}");
            assert_eq!(schedule.timezone(), tz, "{cfg:?}");
            // The config a schedule serialises to validates back to the same schedule.
            assert_eq!(Schedule::parse(&ScheduleConfig::from(schedule.clone())).unwrap(), schedule);
            assert_eq!(Schedule::try_from(cfg.clone()).unwrap(), schedule);
        }
    }

    #[test]
    fn schedules_deserialise_from_toml() {
        let s: Schedule = toml::from_str("every_secs = 600").unwrap();
        assert_eq!(
            (s.every_secs(), s.jitter_secs(), s.timezone()),
            (Some(600), 60, chrono_tz::Asia::Shanghai)
        );

        let s: Schedule =
            toml::from_str("cron = \"*/10 7-23 * * *\"\njitter_secs = 30\ntimezone = \"UTC\"").unwrap();
        assert_eq!(
            (s.cron_expr(), s.jitter_secs(), s.timezone()),
            (Some("*/10 7-23 * * *"), 30, chrono_tz::UTC)
        );

        #[derive(Debug, Deserialize)]
        struct Source {
            id: String,
            schedule: Schedule,
        }
        let src: Source = toml::from_str("id = \"weibo\"\n[schedule]\nevery_secs = 60").unwrap();
        assert_eq!((src.id.as_str(), src.schedule.every_secs()), ("weibo", Some(60)));

        let cases = [
            ("every_sec = 600", "unknown field"),
            ("every_secs = 600\ncolour = \"red\"", "unknown field"),
            ("every_secs = 600\ncron = \"0 8 * * *\"", "both `every_secs` and `cron`"),
            ("cron = \"0 */10 * * * *\"", "drop the leading seconds field"),
            ("every_secs = 5", "`every_secs` = 5"),
            ("cron = \"0 8 * * *\"\ntimezone = \"Asia/Peking\"", "\"Asia/Peking\""),
            ("every_secs = -1", "-1"),
        ];
        for (text, needle) in cases {
            let err = toml::from_str::<Schedule>(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err:?} lacks {needle:?}");
        }
    }

    #[test]
    fn cron_slots_match_the_expression_in_its_time_zone() {
        // (expression, timezone, now, expected next due with no jitter)
        let cases = [
            ("0 8 * * *", None, "2026-11-26T10:00:00+08:00", "2026-11-27T00:00:00Z"),
            ("0 8 * * *", Some("Asia/Shanghai"), "2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z"),
            ("0 8 * * *", None, "2026-11-26T07:59:59.900+08:00", "2026-11-26T08:00:00+08:00"),
            ("0 8 * * *", None, "2026-11-26T08:00:00.500+08:00", "2026-11-27T08:00:00+08:00"),
            ("*/10 7-23 * * *", None, "2026-11-26T06:55:00+08:00", "2026-11-26T07:00:00+08:00"),
            ("*/10 7-23 * * *", None, "2026-11-26T12:34:56+08:00", "2026-11-26T12:40:00+08:00"),
            ("*/10 7-23 * * *", None, "2026-11-26T23:55:00+08:00", "2026-11-27T07:00:00+08:00"),
            ("0 8 * * *", Some("UTC"), "2026-11-26T10:00:00Z", "2026-11-27T08:00:00Z"),
            // New York switches to daylight saving time on Sunday 2026-03-08.
            ("0 8 * * *", Some("America/New_York"), "2026-03-07T12:00:00Z", "2026-03-07T13:00:00Z"),
            ("0 8 * * *", Some("America/New_York"), "2026-03-07T13:00:00Z", "2026-03-08T12:00:00Z"),
            // 2026-11-26 is a Thursday; the next Monday is 2026-11-30.
            ("30 9 * * 1", None, "2026-11-26T10:00:00+08:00", "2026-11-30T09:30:00+08:00"),
            ("30 9 * * MON", None, "2026-11-26T10:00:00+08:00", "2026-11-30T09:30:00+08:00"),
            ("@daily", None, "2026-11-26T10:00:00+08:00", "2026-11-27T00:00:00+08:00"),
            ("0 0 1 * *", None, "2026-12-15T00:00:00Z", "2027-01-01T00:00:00+08:00"),
            ("0 0 29 2 *", Some("UTC"), "2026-11-26T00:00:00Z", "2028-02-29T00:00:00Z"),
        ];
        for (expr, tz, now, expected) in cases {
            let schedule = cron(expr, tz, None);
            let (now, expected) = (utc(now), utc(expected));
            assert_eq!(schedule.next_slot(now), expected, "{expr} in {tz:?} from {now}");
            for key in [0, 1, u64::MAX] {
                assert_eq!(next_due(&schedule, &Health::default(), now, key), expected, "{expr} from {now}");
            }
        }
    }

    #[test]
    fn interval_slots_are_now_plus_every() {
        let now = utc("2026-11-26T10:00:00.250+08:00");
        for secs in [MIN_EVERY_SECS, 60, 600, 3_600, MAX_EVERY_SECS] {
            let schedule = every(secs, Some(0));
            let expected = now + TimeDelta::seconds(i64::try_from(secs).unwrap());
            assert_eq!(schedule.next_slot(now), expected);
            assert_eq!(next_due(&schedule, &Health::default(), now, 7), expected);
        }
    }

    #[test]
    fn backoff_doubles_from_a_minute_and_caps_at_six_hours() {
        let cases = [
            (0, 0),
            (1, 60),
            (2, 120),
            (3, 240),
            (4, 480),
            (5, 960),
            (8, 7_680),
            (9, 15_360),
            (10, BACKOFF_CAP_SECS),
            (33, BACKOFF_CAP_SECS),
            (64, BACKOFF_CAP_SECS),
            (u32::MAX, BACKOFF_CAP_SECS),
        ];
        for (failures, secs) in cases {
            assert_eq!(backoff_secs(failures), secs, "failures = {failures}");
        }
        assert_eq!(BACKOFF_CAP_SECS, 21_600);
    }

    #[test]
    fn failures_push_next_due_to_the_later_of_slot_and_backoff() {
        let now = utc("2026-11-26T12:34:56+08:00");
        let interval = every(600, Some(0));
        let daily = cron("0 8 * * *", None, None);
        let tenth = cron("*/10 7-23 * * *", None, None);
        // (schedule, consecutive failures, expected next due)
        let cases = [
            (&interval, 0, "2026-11-26T12:44:56+08:00"),
            (&interval, 1, "2026-11-26T12:44:56+08:00"),
            (&interval, 4, "2026-11-26T12:44:56+08:00"),
            (&interval, 5, "2026-11-26T12:50:56+08:00"),
            (&interval, 9, "2026-11-26T16:50:56+08:00"),
            (&interval, 10, "2026-11-26T18:34:56+08:00"),
            (&interval, u32::MAX, "2026-11-26T18:34:56+08:00"),
            (&daily, 0, "2026-11-27T08:00:00+08:00"),
            (&daily, 12, "2026-11-27T08:00:00+08:00"),
            (&tenth, 0, "2026-11-26T12:40:00+08:00"),
            (&tenth, 1, "2026-11-26T12:40:00+08:00"),
            (&tenth, 3, "2026-11-26T12:40:00+08:00"),
            (&tenth, 4, "2026-11-26T12:42:56+08:00"),
            (&tenth, 20, "2026-11-26T18:34:56+08:00"),
        ];
        for (schedule, failures, expected) in cases {
            let due = next_due(schedule, &failing(failures), now, 99);
            assert_eq!(due, utc(expected), "{schedule:?} after {failures} failures");
        }
    }

    #[test]
    fn jitter_is_bounded_deterministic_and_spread() {
        let now = utc("2026-11-26T10:00:00+08:00");
        let interval = every(600, None); // default jitter: 60 s
        let slot = interval.next_slot(now);
        let mut offsets = HashSet::new();
        for key in 0..2_000_u64 {
            let due = next_due(&interval, &Health::default(), now, key);
            assert_eq!(due, next_due(&interval, &Health::default(), now, key));
            let offset = (due - slot).num_seconds();
            assert!((0..60).contains(&offset), "key {key}: offset {offset}");
            assert_eq!(u64::try_from(offset).unwrap(), interval.jitter_offset_secs(key, slot));
            offsets.insert(offset);
        }
        assert!(offsets.len() >= 50, "only {} distinct offsets", offsets.len());

        // Different keys spread over a cron slot, too.
        let hourly = cron("0 * * * *", None, Some(300));
        let slot = hourly.next_slot(now);
        let spread: HashSet<u64> =
            (0..2_000).map(|k| hourly.jitter_offset_secs(jitter_key(&format!("s{k}")), slot)).collect();
        assert!(spread.len() >= 250 && spread.iter().all(|&o| o < 300), "{} distinct", spread.len());

        // One source lands at different offsets in different slots.
        let minutely = cron("* * * * *", None, Some(30));
        let key = jitter_key("weibo-hot");
        let per_slot: HashSet<u64> =
            (0..200).map(|m| minutely.jitter_offset_secs(key, now + TimeDelta::minutes(m))).collect();
        assert!(per_slot.len() >= 10, "{} distinct", per_slot.len());

        // No jitter configured, or a bound of one second, means no offset at all.
        for (schedule, key) in
            [(every(600, Some(0)), 5), (every(10, None), 5), (cron("0 8 * * *", None, None), 5)]
        {
            for k in key..key + 100 {
                assert_eq!(schedule.jitter_offset_secs(k, now), 0);
            }
        }
    }

    #[test]
    fn jitter_does_not_depend_on_failures() {
        let now = utc("2026-11-26T10:00:00Z");
        let schedule = every(3_600, Some(1_000));
        let slot = schedule.next_slot(now);
        for key in 0..100 {
            let offset = schedule.jitter_offset_secs(key, slot);
            // Backoff is below the slot for up to 6 failures and above it from 7 on.
            for failures in [0, 1, 5, 7, 12] {
                let base = slot.max(now + TimeDelta::seconds(i64::try_from(backoff_secs(failures)).unwrap()));
                let expected = base + TimeDelta::seconds(i64::try_from(offset).unwrap());
                assert_eq!(next_due(&schedule, &failing(failures), now, key), expected);
            }
        }
    }

    #[test]
    fn jitter_key_is_stable_fnv1a() {
        assert_eq!(jitter_key(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(jitter_key("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(jitter_key("foobar"), 0x8594_4171_f739_67e8);
        assert_ne!(jitter_key("source-1"), jitter_key("source-2"));
    }

    #[derive(Debug, Clone, Copy)]
    enum Run {
        Success(u32),
        Failure(&'static str),
    }

    #[test]
    fn health_status_follows_consecutive_failures() {
        let t0 = utc("2026-11-26T00:00:00Z");
        // (run, status after it, consecutive failures after it)
        let script = [
            (Run::Failure("timeout"), HealthStatus::Degraded, 1),
            (Run::Failure("http 503"), HealthStatus::Degraded, 2),
            (Run::Failure("http 503"), HealthStatus::Failing, 3),
            (Run::Failure("dns"), HealthStatus::Failing, 4),
            (Run::Success(17), HealthStatus::Ok, 0),
            (Run::Success(0), HealthStatus::Ok, 0),
            (Run::Failure("parse error"), HealthStatus::Degraded, 1),
            (Run::Success(3), HealthStatus::Ok, 0),
        ];
        let mut health = Health::default();
        assert_eq!(health.status(), HealthStatus::Unknown);
        let mut last_error = None;
        for (i, (run, status, failures)) in script.into_iter().enumerate() {
            let now = t0 + TimeDelta::minutes(i64::try_from(i).unwrap());
            match run {
                Run::Success(items) => {
                    health.record_success(now, items);
                    assert_eq!(health.last_success_at, Some(now));
                    assert_eq!(health.items_last_run, items);
                }
                Run::Failure(error) => {
                    health.record_failure(now, error);
                    assert_eq!(health.last_error_at, Some(now));
                    assert_eq!(health.items_last_run, 0);
                    last_error = Some(error.to_owned());
                }
            }
            assert_eq!(health.last_run_at, Some(now), "step {i}: {run:?}");
            assert_eq!(health.last_error, last_error, "step {i}: {run:?}");
            assert_eq!(health.consecutive_failures, failures, "step {i}: {run:?}");
            assert_eq!(health.status(), status, "step {i}: {run:?}");
        }

        let mut first_ok = Health::default();
        first_ok.record_success(t0, 5);
        assert_eq!(first_ok.status(), HealthStatus::Ok);

        let mut again = Health { consecutive_failures: u32::MAX, ..Health::default() };
        again.record_failure(t0, "still down");
        assert_eq!((again.consecutive_failures, again.status()), (u32::MAX, HealthStatus::Failing));
    }

    #[test]
    fn health_status_names_and_serde() {
        let cases = [
            (HealthStatus::Unknown, "unknown"),
            (HealthStatus::Ok, "ok"),
            (HealthStatus::Degraded, "degraded"),
            (HealthStatus::Failing, "failing"),
        ];
        for (status, name) in cases {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
        }

        let health: Health = toml::from_str("consecutive_failures = 2").unwrap();
        assert_eq!(health, failing(2));
        assert_eq!(health.status(), HealthStatus::Degraded);

        let health: Health =
            toml::from_str("last_success_at = \"2026-11-26T00:00:00Z\"\nitems_last_run = 4").unwrap();
        assert_eq!(health.last_success_at, Some(utc("2026-11-26T00:00:00Z")));
        assert_eq!(health.status(), HealthStatus::Ok);
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let mut health = Health::default();
        let long = "错".repeat(MAX_ERROR_LEN); // 3 bytes per char
        health.record_failure(utc("2026-11-26T00:00:00Z"), &long);
        let kept = health.last_error.unwrap();
        assert!(kept.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(kept.ends_with('…'));
        assert!(long.starts_with(kept.trim_end_matches('…')));

        let exact = "e".repeat(MAX_ERROR_LEN);
        assert_eq!(truncate_error(&exact), exact);
    }

    const CRON_EXPRS: [&str; 7] = [
        "*/10 7-23 * * *",
        "0 8 * * *",
        "30 2 * * *",
        "0 0 1 * *",
        "15 */3 * * 1-5",
        "0 0 29 2 *",
        "@hourly",
    ];
    const TIMEZONES: [&str; 5] =
        ["Asia/Shanghai", "UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"];

    fn now_strategy() -> impl Strategy<Value = DateTime<Utc>> {
        // 2000-01-01 .. 2100-01-01, with sub-second precision.
        (946_684_800_i64..4_102_444_800, 0_u32..1_000_000_000)
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn interval_next_due_is_after_now_monotonic_and_bounded(
            now in now_strategy(),
            secs in MIN_EVERY_SECS..=MAX_EVERY_SECS,
            jitter_permille in prop::option::of(0_u64..1_000),
            failures in 0_u32..48,
            key in any::<u64>(),
        ) {
            let schedule = every(secs, jitter_permille.map(|p| (secs * p / 1_000).min(MAX_JITTER_SECS)));
            let jitter = schedule.jitter_secs();
            prop_assert!(jitter < secs);
            let due = next_due(&schedule, &failing(failures), now, key);
            let later = next_due(&schedule, &failing(failures + 1), now, key);
            prop_assert!(due > now);
            prop_assert!(later >= due);
            let waited = u64::try_from((due - now).num_seconds()).unwrap();
            prop_assert!(waited >= secs.max(backoff_secs(failures)));
            prop_assert!(waited < secs.max(BACKOFF_CAP_SECS) + jitter.max(1));
        }

        #[test]
        fn cron_next_due_is_after_now_monotonic_and_matches(
            now in now_strategy(),
            expr in prop::sample::select(CRON_EXPRS.to_vec()),
            tz in prop::sample::select(TIMEZONES.to_vec()),
            jitter in 0_u64..600,
            failures in 0_u32..16,
            key in any::<u64>(),
        ) {
            let schedule = cron(expr, Some(tz), Some(jitter));
            let slot = schedule.next_slot(now);
            prop_assert!(slot > now);
            let due = next_due(&schedule, &failing(failures), now, key);
            let later = next_due(&schedule, &failing(failures + 1), now, key);
            prop_assert!(due > now);
            prop_assert!(later >= due);
            let base = slot.max(now + TimeDelta::seconds(i64::try_from(backoff_secs(failures)).unwrap()));
            let offset = (due - base).num_seconds();
            prop_assert!(offset >= 0 && u64::try_from(offset).unwrap() < jitter.max(1));
            // Zones without daylight saving time have no skipped or repeated wall-clock times, so the
            // slot must match the expression exactly there.
            if let (ScheduleKind::Cron(parsed), "Asia/Shanghai" | "UTC") = (schedule.kind(), tz) {
                let local = slot.with_timezone(&schedule.timezone());
                prop_assert!(parsed.cron.is_time_matching(&local).unwrap());
            }
        }
    }
}
