//! Named clocks: templates from `config/clocks.toml`, and the deadline and warning times of a
//! clock started at a given moment.
//!
//! A clock runs either in wall-clock time (`minutes`/`hours`: the emergency and response clocks,
//! which do not wait for weekends) or in working days under the official calendar (`working_days`:
//! policy interpretation, message replies, information requests). Warnings fire at fractions of
//! the period (default 50% and 80%), measured in wall-clock time between the start and the
//! deadline; the breach action fires at the deadline.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeZone};
use serde::Deserialize;
use yuqing_domain::WarningLevel;

use crate::calendar::{Calendar, CalendarError, hours_deadline};

/// How long a clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    /// Wall-clock minutes.
    Minutes(u32),
    /// Working days under the official calendar, ending at 24:00 of the last one.
    WorkingDays(u32),
}

impl ClockKind {
    /// `48 h`, `30 min`, `3 working days`.
    pub fn describe(self) -> String {
        match self {
            ClockKind::Minutes(m) if m % 60 == 0 => format!("{} h", m / 60),
            ClockKind::Minutes(m) => format!("{m} min"),
            ClockKind::WorkingDays(1) => "1 working day".into(),
            ClockKind::WorkingDays(d) => format!("{d} working days"),
        }
    }

    /// The deadline of this period started at `start`.
    pub fn deadline<Tz: TimeZone>(
        self,
        cal: &Calendar,
        start: &DateTime<Tz>,
    ) -> Result<DateTime<FixedOffset>, CalendarError> {
        match self {
            ClockKind::Minutes(m) => Ok(hours_deadline(start, m)),
            ClockKind::WorkingDays(d) => cal.working_days_deadline(start, d),
        }
    }
}

/// The moment a clock starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartEvent {
    /// The case was opened (for a citizen message or request: when it was received).
    CaseOpened,
    /// The event's first post was detected.
    FirstDetected,
    /// The official incident time, once the 突发事件等级 is set to a grade the clock applies to.
    IncidentTime,
    /// The policy document's publication.
    DocumentPublished,
}

impl StartEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            StartEvent::CaseOpened => "case_opened",
            StartEvent::FirstDetected => "first_detected",
            StartEvent::IncidentTime => "incident_time",
            StartEvent::DocumentPublished => "document_published",
        }
    }
}

/// What stops a clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StopEvent {
    /// The case was acknowledged (签收).
    Acknowledged,
    /// The case was closed, dismissed or merged.
    Closed,
    /// A publication of this kind (`authoritative_info`, `press_conference`, `response`,
    /// `interpretation`, `reply`) was recorded.
    Publication(String),
}

impl StopEvent {
    fn parse(s: &str) -> Option<StopEvent> {
        match s {
            "acknowledged" => Some(StopEvent::Acknowledged),
            "closed" => Some(StopEvent::Closed),
            _ => s.strip_prefix("publication:").map(|k| StopEvent::Publication(k.to_owned())),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StopEvent::Acknowledged => "acknowledged".into(),
            StopEvent::Closed => "closed".into(),
            StopEvent::Publication(k) => format!("publication:{k}"),
        }
    }
}

/// What happens when a clock runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Breach {
    /// Notify up the escalation chain of the lead department.
    pub escalate: bool,
    /// Count against the department in the performance evaluation (考核).
    pub count: bool,
}

/// Which cases a clock applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applies {
    /// Case kinds (`response`, `policy_interpretation`, …); empty means every kind.
    pub kinds: Vec<String>,
    /// 突发事件等级 that start the clock (`major`, `extraordinarily_major`); empty means the clock
    /// does not depend on the grade.
    pub grades: Vec<String>,
}

impl Applies {
    pub fn matches(&self, kind: &str, grade: Option<&str>) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && (self.grades.is_empty() || grade.is_some_and(|g| self.grades.iter().any(|x| x == g)))
    }
}

/// One clock template.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockSpec {
    pub id: String,
    pub name: String,
    pub kind: ClockKind,
    /// Shorter (or longer) wall-clock limits by warning level, e.g. 签收 30 min for red and orange.
    pub by_level: BTreeMap<WarningLevel, ClockKind>,
    pub applies: Applies,
    pub start: StartEvent,
    pub stops: Vec<StopEvent>,
    /// Fractions of the period, ascending, each in (0, 1).
    pub warnings: Vec<f64>,
    pub breach: Breach,
    /// The extension a recorded decision may add once (依申请公开: +20 working days).
    pub extension: Option<ClockKind>,
    /// Where the limit comes from (a regulation or county practice), shown beside the clock.
    pub source: String,
}

/// When a clock started at a moment is due, and when it warns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub due: DateTime<FixedOffset>,
    /// Warning times, ascending, each before `due`.
    pub warnings: Vec<DateTime<FixedOffset>>,
}

impl ClockSpec {
    /// The limit for an event at `level` (the level override, else the template's limit).
    pub fn limit(&self, level: Option<WarningLevel>) -> ClockKind {
        level.and_then(|l| self.by_level.get(&l).copied()).unwrap_or(self.kind)
    }

    pub fn stopped_by(&self, stop: &StopEvent) -> bool {
        self.stops.contains(stop)
    }

    /// The deadline and warning times of this clock started at `start` (with `extended`, the
    /// recorded extension added to the period).
    pub fn deadline<Tz: TimeZone>(
        &self,
        cal: &Calendar,
        start: &DateTime<Tz>,
        level: Option<WarningLevel>,
        extended: bool,
    ) -> Result<Deadline, CalendarError> {
        let limit = match (self.limit(level), extended.then_some(self.extension).flatten()) {
            (ClockKind::Minutes(a), Some(ClockKind::Minutes(b))) => ClockKind::Minutes(a.saturating_add(b)),
            (ClockKind::WorkingDays(a), Some(ClockKind::WorkingDays(b))) => {
                ClockKind::WorkingDays(a.saturating_add(b))
            }
            (k, _) => k,
        };
        let start = start.with_timezone(&crate::calendar::beijing());
        let due = limit.deadline(cal, &start)?;
        let span = due - start;
        let warnings = self
            .warnings
            .iter()
            .filter_map(|&f| {
                let ms = (span.num_milliseconds() as f64 * f).round() as i64;
                let at = start + chrono::Duration::milliseconds(ms);
                (at < due).then_some(at)
            })
            .collect();
        Ok(Deadline { due, warnings })
    }
}

/// The clock templates of a county.
#[derive(Debug, Clone, Default)]
pub struct ClockTemplates {
    pub clocks: Vec<ClockSpec>,
}

/// A configuration error, naming the file and the clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ClockConfigError {
    pub file: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    clock: Vec<ClockToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitToml {
    minutes: Option<u32>,
    hours: Option<u32>,
    working_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockToml {
    id: String,
    name: String,
    minutes: Option<u32>,
    hours: Option<u32>,
    working_days: Option<u32>,
    #[serde(default)]
    by_level: BTreeMap<String, LimitToml>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    grades: Vec<String>,
    start: StartEvent,
    stops_on: Vec<String>,
    warnings: Option<Vec<f64>>,
    #[serde(default = "yes")]
    escalate: bool,
    #[serde(default = "yes")]
    count: bool,
    extension: Option<LimitToml>,
    #[serde(default)]
    source: String,
}

fn yes() -> bool {
    true
}

fn limit_of(m: Option<u32>, h: Option<u32>, d: Option<u32>) -> Result<ClockKind, String> {
    match (m, h, d) {
        (Some(m), None, None) if m > 0 => Ok(ClockKind::Minutes(m)),
        (None, Some(h), None) if h > 0 => {
            h.checked_mul(60).map(ClockKind::Minutes).ok_or_else(|| "hours too large".into())
        }
        (None, None, Some(d)) if d > 0 => Ok(ClockKind::WorkingDays(d)),
        (None, None, None) => Err("needs one of `minutes`, `hours` or `working_days`".into()),
        _ => Err("needs exactly one positive `minutes`, `hours` or `working_days`".into()),
    }
}

impl ClockTemplates {
    /// Parses `clocks.toml`. Every problem is reported, each naming its clock.
    pub fn parse(file: &str, text: &str) -> Result<ClockTemplates, ClockConfigError> {
        let err = |message: String| ClockConfigError { file: file.to_owned(), message };
        let raw: FileToml = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut problems = Vec::new();
        let mut clocks = Vec::new();
        for c in raw.clock {
            let mut bad = |m: String| problems.push(format!("clock `{}`: {m}", c.id));
            if c.id.is_empty()
                || !c.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                bad("the id must be lower-case ASCII letters, digits and `_`".into());
            }
            if clocks.iter().any(|x: &ClockSpec| x.id == c.id) {
                bad("the id is used twice".into());
            }
            let kind = match limit_of(c.minutes, c.hours, c.working_days) {
                Ok(k) => k,
                Err(m) => {
                    bad(m);
                    continue;
                }
            };
            let mut by_level = BTreeMap::new();
            for (lvl, l) in &c.by_level {
                match (WarningLevel::parse(lvl), limit_of(l.minutes, l.hours, l.working_days)) {
                    (Ok(level), Ok(k)) => {
                        if std::mem::discriminant(&k) != std::mem::discriminant(&kind) {
                            bad(format!("by_level.{lvl} must count in the same unit as the clock"));
                        }
                        by_level.insert(level, k);
                    }
                    (Err(e), _) => bad(format!("by_level: {e}")),
                    (_, Err(m)) => bad(format!("by_level.{lvl}: {m}")),
                }
            }
            let extension = match &c.extension {
                None => None,
                Some(l) => match limit_of(l.minutes, l.hours, l.working_days) {
                    Ok(k) if std::mem::discriminant(&k) == std::mem::discriminant(&kind) => Some(k),
                    Ok(_) => {
                        bad("the extension must count in the same unit as the clock".into());
                        None
                    }
                    Err(m) => {
                        bad(format!("extension: {m}"));
                        None
                    }
                },
            };
            let mut stops = Vec::new();
            for s in &c.stops_on {
                match StopEvent::parse(s) {
                    Some(StopEvent::Publication(k))
                        if crate::case::PublicationKind::parse(&k).map(|p| p.as_str())
                            != Some(k.as_str()) =>
                    {
                        bad(format!(
                            "stops_on `{s}`: `{k}` is not a publication kind (authoritative_info, press_conference, response, interpretation, reply)"
                        ))
                    }
                    Some(stop) => stops.push(stop),
                    None => {
                        bad(format!("stops_on `{s}` is not `acknowledged`, `closed` or `publication:<kind>`"))
                    }
                }
            }
            for k in &c.kinds {
                if crate::case::CaseKind::parse(k).map(|x| x.as_str()) != Some(k.as_str()) {
                    bad(format!(
                        "kinds: `{k}` is not a case kind id (response, clarification, policy_interpretation, emergency, message_reply, information_request)"
                    ));
                }
            }
            for g in &c.grades {
                if crate::case::IncidentGrade::parse(g).map(|x| x.as_str()) != Some(g.as_str()) {
                    bad(format!(
                        "grades: `{g}` is not a grade id (general, large, major, extraordinarily_major)"
                    ));
                }
            }
            if stops.is_empty() {
                bad("stops_on must name at least one event".into());
            }
            let warnings = c.warnings.clone().unwrap_or_else(|| vec![0.5, 0.8]);
            if warnings.iter().any(|f| !(*f > 0.0 && *f < 1.0)) || warnings.windows(2).any(|w| w[0] >= w[1]) {
                bad("warnings must be ascending fractions between 0 and 1".into());
            }
            if c.start == StartEvent::IncidentTime && c.grades.is_empty() {
                bad("a clock started by the incident time must name the grades that start it".into());
            }
            clocks.push(ClockSpec {
                id: c.id.clone(),
                name: c.name.clone(),
                kind,
                by_level,
                applies: Applies { kinds: c.kinds.clone(), grades: c.grades.clone() },
                start: c.start,
                stops,
                warnings,
                breach: Breach { escalate: c.escalate, count: c.count },
                extension,
                source: c.source.clone(),
            });
        }
        if problems.is_empty() { Ok(ClockTemplates { clocks }) } else { Err(err(problems.join("; "))) }
    }

    pub fn get(&self, id: &str) -> Option<&ClockSpec> {
        self.clocks.iter().find(|c| c.id == id)
    }

    /// The templates that apply to a case of `kind` (with its 突发事件等级, if set) and start at
    /// `start`.
    pub fn starting<'a>(
        &'a self,
        kind: &'a str,
        grade: Option<&'a str>,
        start: StartEvent,
    ) -> impl Iterator<Item = &'a ClockSpec> + 'a {
        self.clocks.iter().filter(move |c| c.start == start && c.applies.matches(kind, grade))
    }
}

/// The moments clocks can start from, as known for a case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Starts {
    pub case_opened: Option<DateTime<FixedOffset>>,
    pub first_detected: Option<DateTime<FixedOffset>>,
    pub incident_time: Option<DateTime<FixedOffset>>,
    pub document_published: Option<DateTime<FixedOffset>>,
}

impl Starts {
    pub fn of(&self, e: StartEvent) -> Option<DateTime<FixedOffset>> {
        match e {
            StartEvent::CaseOpened => self.case_opened,
            StartEvent::FirstDetected => self.first_detected,
            StartEvent::IncidentTime => self.incident_time,
            StartEvent::DocumentPublished => self.document_published,
        }
    }
}

/// A clock to start: the template and its computed deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedClock {
    pub id: String,
    pub name: String,
    pub limit: String,
    pub started_at: DateTime<FixedOffset>,
    pub deadline: Deadline,
    pub escalate: bool,
    pub count: bool,
}

impl ClockTemplates {
    /// The clocks a case of `kind` (with its 突发事件等级, if set) starts from the moments given in
    /// `starts`, limited to the start events in `only` (all when empty). A clock whose start is
    /// unknown does not start.
    pub fn plan(
        &self,
        cal: &Calendar,
        kind: &str,
        grade: Option<&str>,
        level: Option<WarningLevel>,
        starts: &Starts,
        only: &[StartEvent],
    ) -> Result<Vec<PlannedClock>, CalendarError> {
        let mut out = Vec::new();
        for c in &self.clocks {
            if !(only.is_empty() || only.contains(&c.start)) || !c.applies.matches(kind, grade) {
                continue;
            }
            let Some(start) = starts.of(c.start) else { continue };
            let deadline = c.deadline(cal, &start, level, false)?;
            out.push(PlannedClock {
                id: c.id.clone(),
                name: c.name.clone(),
                limit: c.limit(level).describe(),
                started_at: start,
                deadline,
                escalate: c.breach.escalate,
                count: c.breach.count,
            });
        }
        Ok(out)
    }

    /// The clocks `stop` stops.
    pub fn stopped_by<'a>(&'a self, stop: &'a StopEvent) -> impl Iterator<Item = &'a ClockSpec> + 'a {
        self.clocks.iter().filter(move |c| c.stopped_by(stop))
    }
}

/// The clock a reopened case of `kind` runs again (the shipped templates' ids): the answer the
/// kind owes. None for a kind without one.
pub fn main_clock(kind: &str) -> Option<&'static str> {
    match kind {
        "response" | "clarification" | "emergency" => Some("response"),
        "policy_interpretation" => Some("interpretation"),
        "message_reply" => Some("message_reply"),
        "information_request" => Some("information_request"),
        _ => None,
    }
}
