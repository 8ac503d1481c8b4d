//! The clock ticker: a scan of the database for due clock firings (warnings at 50 %/80 %, the
//! breach), each claimed in the database with its audit entry and its outbox rows in one
//! transaction. No timers live in memory: a restart loses nothing, and two tickers (two
//! processes) fire nothing twice — the claim is a unique row per clock and firing.
//!
//! Warnings go to the lead department's officials; a breach with `escalate` goes to the
//! department's heads and the county leadership (the `leadership` receiver of `routing.toml`),
//! and is counted against the department by the performance report. Messages respect office
//! hours as alerts do (`Router::not_before`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use yuqing_cases::calendar::in_beijing;
use yuqing_cases::case::{Actor, Transition};
use yuqing_core::cases::{AuditEntry, CaseStore, ClockOp, DueFiring};
use yuqing_core::events::NewDelivery;
use yuqing_core::notify::OutboundMessage;
use yuqing_core::store::StoreError;
use yuqing_domain::{NoticeKind, WarningLevel};
use yuqing_routing::{Directory, Members, Router};

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Firings this process claimed.
    pub fired: u32,
    /// Firings found due but already claimed (by another ticker, or stopped meanwhile).
    pub skipped: u32,
    pub deliveries: u32,
    /// Published cases reopened by a second wave (二次舆情).
    pub reopened: u32,
}

pub struct Ticker<S> {
    store: Arc<S>,
    router: Router,
    directory: Directory,
    worker: String,
    public_url: Option<String>,
}

impl<S> std::fmt::Debug for Ticker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticker").field("worker", &self.worker).finish_non_exhaustive()
    }
}

/// The receiver a breach escalates to beside the department's heads.
pub const LEADERSHIP: &str = "leadership";

/// A second wave: the event's heat at least this many times the heat at publication…
pub const SECOND_WAVE_FACTOR: f64 = 1.2;
/// …and at least this much higher.
pub const SECOND_WAVE_MIN_RISE: f64 = 5.0;

/// Firings read per query.
const PAGE: u32 = 500;

fn key(case: i64, clock: &str, firing: &str, whom: &str, channel: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{case}\u{1f}{clock}\u{1f}{firing}\u{1f}{whom}\u{1f}{channel}"));
    let hex: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let firing = firing.replace(':', "");
    format!("yq-c{case}-{clock}-{firing}-{hex}")
}

impl<S: CaseStore> Ticker<S> {
    pub fn new(
        store: Arc<S>,
        router: Router,
        directory: Directory,
        worker: impl Into<String>,
        public_url: Option<String>,
    ) -> Self {
        Ticker { store, router, directory, worker: worker.into(), public_url }
    }

    /// Fires everything due at `now`. Firings due together are fired in due order; a clock
    /// whose warnings and breach are all past (after downtime) fires each of them once.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        // Bounded: every claimed or skipped firing moves its clock on, so a page is never the
        // same twice; the bound only guards against a store that misbehaves.
        for _ in 0..10_000 {
            let due = self.store.due_firings(now, PAGE).await?;
            if due.is_empty() {
                break;
            }
            let before = report;
            for f in &due {
                let deliveries = self.plan(f, now);
                let audit = AuditEntry {
                    at: now,
                    actor: "system".into(),
                    action: if f.firing == "breach" { "clock.breach".into() } else { "clock.warning".into() },
                    case_id: Some(f.clock.case_id),
                    detail: serde_json::json!({
                        "clock": f.clock.clock,
                        "name": f.clock.name,
                        "firing": f.firing,
                        "due_at": f.due_at.to_rfc3339(),
                        "deadline": f.clock.due_at.to_rfc3339(),
                        "escalate": f.firing == "breach" && f.clock.escalate,
                        "count": f.firing == "breach" && f.clock.count,
                        "deliveries": deliveries.len(),
                    }),
                };
                if self.store.fire(f, &self.worker, &audit, &deliveries, now).await? {
                    report.fired += 1;
                    report.deliveries += deliveries.len() as u32;
                } else {
                    report.skipped += 1;
                }
            }
            // Another round: a clock that fired moves on to its next firing, which may be due too
            // (after downtime). Stop when a round changed nothing.
            if report == before {
                break;
            }
        }
        report.reopened = self.second_waves(now).await?;
        Ok(report)
    }

    /// 二次舆情: a published case whose event's heat rises again during the 72 h watch goes back
    /// to 研判中 (by the system, audited) and its lead department is told.
    async fn second_waves(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let mut reopened = 0;
        for (id, then, heat) in self.store.second_waves(now, SECOND_WAVE_FACTOR, SECOND_WAVE_MIN_RISE).await?
        {
            let Some(view) = self.store.case(id).await? else { continue };
            let mut stored = view.stored.clone();
            let reason = format!("二次舆情：事件热度由 {then:.0} 升至 {heat:.0}");
            let applied = match stored.case.apply(
                Transition::Reopen { reason: reason.clone() },
                &Actor::System,
                in_beijing(&now),
            ) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(case = id, error = %e, "second wave: case not reopened");
                    continue;
                }
            };
            stored.watch_until = None;
            stored.watch_heat = None;
            stored.closed_at = None;
            let deliveries = match stored.case.event_id {
                Some(event_id) => self.notices(
                    id,
                    event_id,
                    "second_wave",
                    &format!("reopen{}", view.stored.version),
                    &stored.case.title,
                    &stored.case.lead_department,
                    stored.meta.level,
                    vec![reason.clone(), "案件已重新进入研判，请及时回应".into()],
                    false,
                    now,
                ),
                None => Vec::new(),
            };
            let audit = AuditEntry {
                at: now,
                actor: "system".into(),
                action: "case.transition".into(),
                case_id: Some(id),
                detail: serde_json::json!({
                    "transition": "Reopen", "from": applied.from.as_str(), "to": applied.to.as_str(),
                    "note": applied.note, "heat_then": then, "heat_now": heat,
                }),
            };
            // The answer is owed again: its clock runs a new cycle from now.
            let ops: Vec<ClockOp> = yuqing_cases::clock::main_clock(stored.case.kind.as_str())
                .map(|k| ClockOp::Restart { clock: k.to_owned(), at: now })
                .into_iter()
                .collect();
            match self
                .store
                .save_case(&stored, view.stored.version, None, &ops, &[audit], &deliveries, now)
                .await
            {
                Ok(_) => reopened += 1,
                // Someone changed the case meanwhile: the next pass looks again.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(reopened)
    }

    /// Runs passes every `every` until `shutdown`, with `clock` as the time source.
    pub async fn run(
        &self,
        every: std::time::Duration,
        clock: impl Fn() -> DateTime<Utc>,
        shutdown: CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            match self.step(clock()).await {
                Ok(r) if r.fired > 0 => {
                    tracing::info!(fired = r.fired, deliveries = r.deliveries, "clock firings")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "clock ticker pass failed; trying again"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    fn plan(&self, f: &DueFiring, now: DateTime<Utc>) -> Vec<NewDelivery> {
        let Some(event_id) = f.event_id else {
            tracing::warn!(
                case = f.clock.case_id,
                "a case without an event: its clock fires without notifications"
            );
            return Vec::new();
        };
        let breach = f.firing == "breach";
        let due = in_beijing(&f.clock.due_at).format("%Y-%m-%d %H:%M");
        let line = match f.firing.as_str() {
            "breach" => format!("已超时：{}（{}）截止 {due}，已逾期", f.clock.name, f.clock.limit_text),
            w => {
                let n: usize = w.strip_prefix("warning:").and_then(|n| n.parse().ok()).unwrap_or(1);
                let total = f.clock.warnings.len().max(1);
                let span = (f.clock.due_at - f.clock.started_at).num_seconds().max(1) as f64;
                let at = f.clock.warnings.get(n - 1).copied().unwrap_or(f.due_at);
                let pct = ((at - f.clock.started_at).num_seconds() as f64 / span * 100.0).round();
                format!(
                    "时限提醒（{n}/{total}）：{}（{}）已用 {pct:.0}%，截止 {due}",
                    f.clock.name, f.clock.limit_text
                )
            }
        };
        let mut lines = vec![line];
        if breach && f.clock.count {
            lines.push("计入部门考核".into());
        }
        self.notices(
            f.clock.case_id,
            event_id,
            &f.clock.clock,
            &f.firing,
            &f.case_title,
            &f.lead_department,
            f.level,
            lines,
            breach && f.clock.escalate,
            now,
        )
    }

    /// Messages about a case: to the lead department's officials, or (`escalate`) to its heads
    /// and the county leadership; to the press desk when nobody there can be reached.
    #[allow(clippy::too_many_arguments)]
    fn notices(
        &self,
        case_id: i64,
        event_id: i64,
        clock: &str,
        firing: &str,
        title: &str,
        department: &str,
        level: Option<WarningLevel>,
        lines: Vec<String>,
        escalate: bool,
        now: DateTime<Utc>,
    ) -> Vec<NewDelivery> {
        let cfg = &self.router.config;
        let mut targets: Vec<(String, Members<'_>)> = Vec::new();
        if escalate {
            targets.push((department.to_owned(), self.directory.heads(cfg, department)));
            if cfg.receivers.contains_key(LEADERSHIP) {
                targets.push((LEADERSHIP.to_owned(), self.directory.members(cfg, LEADERSHIP)));
            }
        }
        if !escalate || targets.iter().all(|(_, m)| m.officials.is_empty() && m.groups.is_empty()) {
            targets.insert(0, (department.to_owned(), self.directory.members(cfg, department)));
        }
        let reachable =
            |m: &Members<'_>| m.officials.iter().any(|o| !o.contacts.is_empty()) || !m.groups.is_empty();
        if !targets.iter().any(|(_, m)| reachable(m)) {
            // Nothing unowned: the press desk hears it.
            targets = vec![(cfg.press_desk.clone(), self.directory.members(cfg, &cfg.press_desk))];
        }
        let lvl = level.unwrap_or(WarningLevel::Blue);
        let link = self.public_url.as_ref().map(|b| format!("{}/cases/{}", b.trim_end_matches('/'), case_id));
        let mut out: Vec<NewDelivery> = Vec::new();
        for (receiver, members) in &targets {
            let mut push =
                |whom: &str, official: Option<&str>, channel: &str, to: Option<&str>, night: bool| {
                    if out.iter().any(|d| {
                        d.official.as_deref() == official && d.channel == channel && d.to.as_deref() == to
                    }) {
                        return;
                    }
                    let k = key(case_id, clock, firing, whom, channel);
                    let msg = OutboundMessage {
                        idempotency_key: k.clone(),
                        channel: channel.to_owned(),
                        to: to.map(str::to_owned),
                        kind: NoticeKind::Reminder,
                        title: title.to_owned(),
                        level: level.map(|l| l.label().to_owned()),
                        department: department.to_owned(),
                        lines: lines.clone(),
                        link: link.clone(),
                        alert_ref: event_id.to_string(),
                    };
                    out.push(NewDelivery {
                        event_id,
                        receiver: receiver.clone(),
                        idempotency_key: k,
                        kind: NoticeKind::Reminder,
                        official: official.map(str::to_owned),
                        channel: channel.to_owned(),
                        to: to.map(str::to_owned),
                        message: serde_json::to_string(&msg).unwrap_or_default(),
                        not_before: self.router.not_before(lvl, night, now),
                    });
                };
            for o in &members.officials {
                for c in &o.contacts {
                    push(&o.id, Some(&o.id), &c.channel, c.to.as_deref(), o.night);
                }
            }
            for g in &members.groups {
                push(&format!("group:{}", g.channel), None, &g.channel, None, g.night);
            }
        }
        out
    }
}
