//! Cases opened by policy, by every process (unique indexes make the second opener fail
//! harmlessly):
//!
//! - [`LevelOpener`] (自动立案): an event that reaches the level in `config/cases.toml` gets a case
//!   for its lead department, with the clocks of its kind (签收, 回应 48 h from first detection).
//! - [`InterpretationTracker`], the policy-interpretation tracker (seed plan 五(一)): every new
//!   policy document (a post from a source marked `policy_documents`) opens a 政策解读 case for
//!   the department its analysis names first (else the county government office), with the
//!   clocks `config/clocks.toml` gives that kind — the 3-working-day `interpretation` clock from
//!   the document's publication. The clock stops when the interpretation is recorded as published
//!   (`yuqing case publish --kind interpretation`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use yuqing_cases::calendar::in_beijing;
use yuqing_cases::clock::Starts;
use yuqing_cases::{Calendar, Case, CaseKind, ClockTemplates};
use yuqing_core::cases::{AuditEntry, CaseMeta, CaseStore, ClockOp, NewClock};
use yuqing_core::store::StoreError;
use yuqing_domain::WarningLevel;

/// `config/cases.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoOpen {
    pub min_level: WarningLevel,
    pub kind: CaseKind,
}

impl AutoOpen {
    /// Parses `cases.toml`; errors name the file and the key.
    pub fn parse(file: &str, text: &str) -> Result<AutoOpen, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            auto_open: RawAuto,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawAuto {
            min_level: String,
            kind: String,
        }
        let raw: Raw = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        let min_level = WarningLevel::parse(&raw.auto_open.min_level)
            .map_err(|e| format!("{file}: auto_open.min_level: {e}"))?;
        let kind = CaseKind::parse(&raw.auto_open.kind)
            .ok_or_else(|| format!("{file}: auto_open.kind {:?} is not a case kind", raw.auto_open.kind))?;
        Ok(AutoOpen { min_level, kind })
    }
}

/// The origin recorded on cases opened for an event's level (one per event: a unique index).
pub const AUTO_ORIGIN: &str = "预警自动立案";

/// Opens a case for every open event at or above the configured level that has none.
pub struct LevelOpener<S> {
    store: Arc<S>,
    calendar: Calendar,
    clocks: ClockTemplates,
    policy: AutoOpen,
}

impl<S> std::fmt::Debug for LevelOpener<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelOpener").field("policy", &self.policy).finish_non_exhaustive()
    }
}

fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Other(m) if m.contains("UNIQUE") || m.contains("duplicate key"))
}

/// Opens a case by policy, as the system, with an audit entry naming its clocks. `false`: another
/// process opened it first (a unique index).
async fn open_by_policy<S: CaseStore>(
    store: &S,
    case: &Case,
    meta: &CaseMeta,
    clocks: &[NewClock],
    mut detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    detail["clocks"] = clocks
        .iter()
        .map(|c| serde_json::json!({"clock": c.clock, "due_at": c.due_at.to_rfc3339()}))
        .collect();
    let audit =
        AuditEntry { at: now, actor: "system".into(), action: "case.open".into(), case_id: None, detail };
    match store.open_case(case, meta, clocks, &[audit], now).await {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

impl<S: CaseStore> LevelOpener<S> {
    pub fn new(store: Arc<S>, calendar: Calendar, clocks: ClockTemplates, policy: AutoOpen) -> Self {
        LevelOpener { store, calendar, clocks, policy }
    }

    /// Opens the cases due; returns how many it opened.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let levels: Vec<WarningLevel> =
            WarningLevel::ALL.into_iter().filter(|l| *l >= self.policy.min_level).collect();
        let mut opened = 0;
        for e in self.store.events_without_case(&levels, 200).await? {
            let Some(lead) = e.departments.first().cloned() else { continue };
            let kind = self.policy.kind;
            let mut case = Case::open(0, kind, lead.clone(), e.title.clone(), in_beijing(&now));
            case.event_id = Some(e.id);
            case.co_departments = e.departments.iter().skip(1).cloned().collect();
            let starts = Starts {
                case_opened: Some(in_beijing(&now)),
                first_detected: Some(in_beijing(&e.first_at)),
                ..Starts::default()
            };
            let clocks: Vec<NewClock> =
                match self.clocks.plan(&self.calendar, kind.as_str(), None, e.level, &starts, &[]) {
                    Ok(p) => p.into_iter().map(NewClock::from).collect(),
                    Err(err) => {
                        tracing::error!(event = e.id, error = %err, "no case opened for the event");
                        continue;
                    }
                };
            let meta = CaseMeta {
                origin: Some(AUTO_ORIGIN.into()),
                level: e.level,
                detected_at: Some(e.first_at),
                opened_by: "system".into(),
                ..CaseMeta::default()
            };
            let detail = serde_json::json!({
                "policy": "auto_open", "event": e.id, "level": e.level.map(|l| l.as_str()), "department": lead,
            });
            if open_by_policy(self.store.as_ref(), &case, &meta, &clocks, detail, now).await? {
                opened += 1;
            }
        }
        Ok(opened)
    }
}

pub struct InterpretationTracker<S> {
    store: Arc<S>,
    calendar: Calendar,
    clocks: ClockTemplates,
    /// The lead department when the analysis names none.
    fallback: String,
}

impl<S> std::fmt::Debug for InterpretationTracker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterpretationTracker").field("fallback", &self.fallback).finish_non_exhaustive()
    }
}

impl<S: CaseStore> InterpretationTracker<S> {
    pub fn new(
        store: Arc<S>,
        calendar: Calendar,
        clocks: ClockTemplates,
        fallback: impl Into<String>,
    ) -> Self {
        InterpretationTracker { store, calendar, clocks, fallback: fallback.into() }
    }

    /// Stops the interpretation clock of every tracked document whose interpretation has appeared
    /// on a monitored site (a later post titled 解读 naming the document), audited with its URL;
    /// the case itself is closed by a person. Returns how many clocks it stopped.
    pub async fn detect(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let mut stopped = 0;
        for f in self.store.interpretations_found(200).await? {
            let (case_id, post, url, title) = (f.case_id, f.post_id, f.url, f.title);
            let Some(view) = self.store.case(case_id).await? else { continue };
            let reason = format!("检测到解读：{}", url.as_deref().unwrap_or(&title));
            let op = ClockOp::Stop { clock: "interpretation".into(), reason: reason.clone(), at: now };
            let audit = AuditEntry {
                at: now,
                actor: "system".into(),
                action: "clock.stop".into(),
                case_id: Some(case_id),
                detail: serde_json::json!({"clock": "interpretation", "reason": reason, "post": post, "title": title, "url": url}),
            };
            match self
                .store
                .save_case(&view.stored, view.stored.version, None, &[op], &[audit], &[], now)
                .await
            {
                Ok(_) => stopped += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(stopped)
    }

    /// Opens the cases of the documents not tracked yet; returns how many it opened.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let mut opened = 0;
        for d in self.store.untracked_policy_documents(200).await? {
            let lead = d.departments.first().cloned().unwrap_or_else(|| self.fallback.clone());
            let kind = CaseKind::PolicyInterpretation;
            let mut case =
                Case::open(0, kind, lead.clone(), format!("政策解读：{}", d.title), in_beijing(&now));
            case.event_id = Some(d.event_id);
            let starts = Starts {
                case_opened: Some(in_beijing(&now)),
                document_published: Some(in_beijing(&d.published_at)),
                ..Starts::default()
            };
            let clocks: Vec<NewClock> =
                match self.clocks.plan(&self.calendar, kind.as_str(), None, None, &starts, &[]) {
                    Ok(p) => p.into_iter().map(NewClock::from).collect(),
                    Err(e) => {
                        // A year without calendar data: no deadline is guessed; the document waits.
                        tracing::error!(post = d.post_id, error = %e, "policy document not tracked");
                        continue;
                    }
                };
            let meta = CaseMeta {
                origin: Some("政策性文件".into()),
                document_at: Some(d.published_at),
                document_url: d.url.clone(),
                document_post: Some(d.post_id),
                opened_by: "system".into(),
                ..CaseMeta::default()
            };
            let detail = serde_json::json!({
                "tracker": "policy_interpretation", "post": d.post_id, "title": d.title, "department": lead,
            });
            if open_by_policy(self.store.as_ref(), &case, &meta, &clocks, detail, now).await? {
                opened += 1;
            }
        }
        Ok(opened)
    }
}
