//! The case store: cases with their clocks, clock firings claimed once, and the hash-chained,
//! append-only audit log. Every method is one transaction.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use yuqing_cases::Case;
use yuqing_domain::WarningLevel;

use crate::events::NewDelivery;
use crate::store::StoreError;

/// What a case carries beside the domain [`Case`]: where it came from and the moments its clocks
/// start from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseMeta {
    /// 上级交办, 领导批示, a phone report… (manual cases); none for cases opened by policy.
    pub origin: Option<String>,
    /// The event's warning level when the case was opened (shortens the 签收 clock).
    pub level: Option<WarningLevel>,
    /// The official incident time (突发事件).
    pub incident_at: Option<DateTime<Utc>>,
    /// The event's first detection.
    pub detected_at: Option<DateTime<Utc>>,
    /// The policy document's publication (政策解读).
    pub document_at: Option<DateTime<Utc>>,
    pub document_url: Option<String>,
    /// The stored post of the policy document (the interpretation tracker's cases).
    pub document_post: Option<i64>,
    /// The deadline a superior set (上级交办).
    pub superior_due_at: Option<DateTime<Utc>>,
    pub opened_by: String,
}

/// A stored case.
#[derive(Debug, Clone)]
pub struct StoredCase {
    pub case: Case,
    pub meta: CaseMeta,
    pub version: i64,
    pub acked_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// After publication: watched for a second wave (二次舆情) until then.
    pub watch_until: Option<DateTime<Utc>>,
    /// The event's heat when the watch began.
    pub watch_heat: Option<f64>,
    pub merged_into: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// A clock to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewClock {
    pub clock: String,
    pub name: String,
    /// `48 h`, `3 working days`.
    pub limit_text: String,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Warning times, ascending, before `due_at`.
    pub warnings: Vec<DateTime<Utc>>,
    pub escalate: bool,
    pub count: bool,
}

impl From<yuqing_cases::clock::PlannedClock> for NewClock {
    fn from(c: yuqing_cases::clock::PlannedClock) -> Self {
        NewClock {
            clock: c.id,
            name: c.name,
            limit_text: c.limit,
            started_at: c.started_at.with_timezone(&Utc),
            due_at: c.deadline.due.with_timezone(&Utc),
            warnings: c.deadline.warnings.into_iter().map(|w| w.with_timezone(&Utc)).collect(),
            escalate: c.escalate,
            count: c.count,
        }
    }
}

/// A stored clock.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockRow {
    pub id: i64,
    pub case_id: i64,
    pub clock: String,
    pub name: String,
    pub limit_text: String,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub warnings: Vec<DateTime<Utc>>,
    /// The next firing the ticker waits for (`warning:N`, `breach`), none once stopped or breached.
    pub next_fire_at: Option<DateTime<Utc>>,
    pub next_fire: Option<String>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<String>,
    pub breached_at: Option<DateTime<Utc>>,
    pub extended: bool,
    pub escalate: bool,
    pub count: bool,
}

impl ClockRow {
    /// The firing after `firing` (`warning:1` → `warning:2` … → `breach` → none).
    pub fn after(&self, firing: &str) -> Option<(String, DateTime<Utc>)> {
        next_firing(&self.warnings, self.due_at, Some(firing))
    }
}

/// The first firing of a clock with these warnings, or the one after `after`.
pub fn next_firing(
    warnings: &[DateTime<Utc>],
    due: DateTime<Utc>,
    after: Option<&str>,
) -> Option<(String, DateTime<Utc>)> {
    let start = match after {
        None => 0,
        Some("breach") => return None,
        Some(f) => f.strip_prefix("warning:").and_then(|n| n.parse::<usize>().ok()).unwrap_or(usize::MAX),
    };
    match warnings.get(start) {
        Some(&at) => Some((format!("warning:{}", start + 1), at)),
        None if start <= warnings.len() => Some(("breach".to_owned(), due)),
        None => None,
    }
}

/// A change to a case's clocks, saved with the case.
#[derive(Debug, Clone, PartialEq)]
pub enum ClockOp {
    /// Start a clock (a clock already started under this name is left as it is).
    Start(NewClock),
    /// Stop a running clock.
    Stop { clock: String, reason: String, at: DateTime<Utc> },
    /// Start a new cycle of a clock (a reopened case): a new row `{clock}#N` with the length and
    /// warning fractions of the clock's first cycle, from `at`. A working-day clock's new cycle
    /// keeps the first cycle's wall-clock length. Nothing when the case never had that clock.
    Restart { clock: String, at: DateTime<Utc> },
    /// Move a running clock's deadline (a recorded extension).
    Extend { clock: String, due_at: DateTime<Utc>, warnings: Vec<DateTime<Utc>> },
}

/// One audit entry to append.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// `user:3 王芳 (press_officer)`, `official:zhang-wei`, `system`.
    pub actor: String,
    /// `case.open`, `case.transition`, `clock.start`, `clock.warning`, `clock.breach`, …
    pub action: String,
    pub case_id: Option<i64>,
    pub detail: serde_json::Value,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub case_id: Option<i64>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of the first row's predecessor.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 (hex) over the previous hash and this row's content, fields separated by U+001F.
pub fn audit_hash(
    prev: &str,
    at_ms: i64,
    actor: &str,
    action: &str,
    case_id: Option<i64>,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    let case = case_id.map(|c| c.to_string()).unwrap_or_default();
    h.update(format!("{prev}\u{1f}{at_ms}\u{1f}{actor}\u{1f}{action}\u{1f}{case}\u{1f}{detail}"));
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where an audit chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub why: String,
}

/// Checks rows (in `seq` order, from the first) link and hash correctly.
pub fn verify_chain<'a>(rows: impl IntoIterator<Item = &'a AuditRow>) -> Result<u64, ChainBreak> {
    let mut prev = AUDIT_GENESIS.to_owned();
    let mut n = 0;
    for r in rows {
        if r.prev_hash != prev {
            return Err(ChainBreak {
                seq: r.seq,
                why: "its previous hash is not the hash of the row before it".into(),
            });
        }
        let want =
            audit_hash(&r.prev_hash, r.at.timestamp_millis(), &r.actor, &r.action, r.case_id, &r.detail);
        if want != r.hash {
            return Err(ChainBreak { seq: r.seq, why: "its content does not match its hash".into() });
        }
        prev = r.hash.clone();
        n += 1;
    }
    Ok(n)
}

/// A firing the ticker found due.
#[derive(Debug, Clone, PartialEq)]
pub struct DueFiring {
    pub clock: ClockRow,
    /// `warning:N` or `breach`.
    pub firing: String,
    pub due_at: DateTime<Utc>,
    pub case_title: String,
    pub lead_department: String,
    pub event_id: Option<i64>,
    pub level: Option<WarningLevel>,
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub department: Option<String>,
    /// Only cases with a clock past its deadline and not stopped, as of this moment.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Include closed, dismissed and merged cases.
    pub all: bool,
    pub limit: u32,
}

/// A case with its clocks, for lists and `yuqing case show`.
#[derive(Debug, Clone)]
pub struct CaseView {
    pub stored: StoredCase,
    pub clocks: Vec<ClockRow>,
}

/// What the performance report reads: every case opened in a period with its clocks.
pub type PerformanceRows = Vec<CaseView>;

/// A policy document (a post from a policy-documents source) that has no 政策解读 case yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub post_id: i64,
    pub title: String,
    pub url: Option<String>,
    /// Its publication time (else when it was fetched).
    pub published_at: DateTime<Utc>,
    /// The event the post was placed in.
    pub event_id: i64,
    /// The departments its analysis assigned, in order (the first drafts the interpretation).
    pub departments: Vec<String>,
}

/// A post that interprets a tracked policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundInterpretation {
    pub case_id: i64,
    pub post_id: i64,
    pub url: Option<String>,
    pub title: String,
}

pub trait CaseStore: Send + Sync {
    /// Published cases still under watch (`watch_until` after `now`) whose event's heat is now at
    /// least `factor` × the heat when the watch began and `min_rise` above it: `(case id, heat
    /// then, heat now)`.
    fn second_waves(
        &self,
        now: DateTime<Utc>,
        factor: f64,
        min_rise: f64,
    ) -> impl Future<Output = Result<Vec<(i64, f64, f64)>, StoreError>> + Send;

    /// Open events at one of `levels` with no case yet, oldest first.
    fn events_without_case(
        &self,
        levels: &[WarningLevel],
        limit: u32,
    ) -> impl Future<Output = Result<Vec<crate::events::EventRow>, StoreError>> + Send;

    /// Open 政策解读 cases whose interpretation clock still runs and for which a later post titled
    /// as an interpretation (解读) of the document has been stored: `(case id, post id, url,
    /// title)`. The document is recognised by the name in its 《》, else its whole title.
    fn interpretations_found(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FoundInterpretation>, StoreError>> + Send;

    /// Policy documents placed in an event and without a case, oldest first.
    fn untracked_policy_documents(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PolicyDocument>, StoreError>> + Send;

    /// Inserts a case (its `id` is assigned here), starts its clocks and appends the audit
    /// entries (their `case_id` is set to the new id). Returns the id.
    fn open_case(
        &self,
        case: &Case,
        meta: &CaseMeta,
        clocks: &[NewClock],
        audit: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Saves a case changed by a transition, if its version is still `expected_version`
    /// ([`StoreError::Conflict`] otherwise), with its clock changes, audit entries and outbox rows.
    /// `checked_revision` is the draft revision a `PassedCheck` covers (publishing). Returns the
    /// new version.
    #[allow(clippy::too_many_arguments)]
    fn save_case(
        &self,
        stored: &StoredCase,
        expected_version: i64,
        checked_revision: Option<u32>,
        clocks: &[ClockOp],
        audit: &[AuditEntry],
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    fn case(&self, id: i64) -> impl Future<Output = Result<Option<CaseView>, StoreError>> + Send;

    fn list_cases(
        &self,
        filter: &CaseFilter,
    ) -> impl Future<Output = Result<Vec<CaseView>, StoreError>> + Send;

    /// Cases opened in `[from, to)`, with their clocks.
    fn cases_opened_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<PerformanceRows, StoreError>> + Send;

    /// Firings due at `now`, earliest first.
    fn due_firings(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DueFiring>, StoreError>> + Send;

    /// Claims a firing and, in the same transaction, advances the clock to its next firing,
    /// appends the audit entry and queues the deliveries. `false`: it was fired already (by
    /// another ticker, or before a restart), nothing written.
    fn fire(
        &self,
        firing: &DueFiring,
        worker: &str,
        audit: &AuditEntry,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Appends audit entries on their own (manual actions outside a case write).
    fn append_audit(&self, entries: &[AuditEntry]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Audit rows from `after_seq` on, in order.
    fn audit_rows(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;
}
