//! The policy-interpretation tracker (seed plan 五(一)): every new policy document (a post from a
//! source marked `policy_documents`) opens a 政策解读 case for the department its analysis names
//! first (else the county government office), with the clocks `config/clocks.toml` gives that
//! kind — the 3-working-day `interpretation` clock from the document's publication. The clock stops
//! when the interpretation is recorded as published (`yuqing case publish --kind interpretation`).
//!
//! Every process may run it: a unique index on the document's post makes the second opener fail
//! harmlessly.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use yuqing_cases::clock::Starts;
use yuqing_cases::{Calendar, Case, CaseKind, ClockTemplates};
use yuqing_core::cases::{AuditEntry, CaseMeta, CaseStore, NewClock};
use yuqing_core::store::StoreError;

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

fn beijing(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("valid offset"))
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

    /// Opens the cases of the documents not tracked yet; returns how many it opened.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let mut opened = 0;
        for d in self.store.untracked_policy_documents(200).await? {
            let lead = d.departments.first().cloned().unwrap_or_else(|| self.fallback.clone());
            let kind = CaseKind::PolicyInterpretation;
            let mut case = Case::open(0, kind, lead.clone(), format!("政策解读：{}", d.title), beijing(now));
            case.event_id = Some(d.event_id);
            let starts = Starts {
                case_opened: Some(beijing(now)),
                document_published: Some(beijing(d.published_at)),
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
            let audit = AuditEntry {
                at: now,
                actor: "system".into(),
                action: "case.open".into(),
                case_id: None,
                detail: serde_json::json!({
                    "tracker": "policy_interpretation", "post": d.post_id, "title": d.title, "department": lead,
                    "clocks": clocks.iter().map(|c| serde_json::json!({"clock": c.clock, "due_at": c.due_at.to_rfc3339()})).collect::<Vec<_>>(),
                }),
            };
            match self.store.open_case(&case, &meta, &clocks, &[audit], now).await {
                Ok(_) => opened += 1,
                // Another process opened it first (unique document post).
                Err(StoreError::Other(m)) if m.contains("UNIQUE") || m.contains("duplicate key") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(opened)
    }
}
