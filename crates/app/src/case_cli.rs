//! `yuqing cases`, `yuqing case …`, `yuqing audit verify` and `yuqing report performance`: the
//! operators' commands for cases until the web app exists. Every change goes through the domain
//! state machine (`Case::apply`), starts and stops clocks from `config/clocks.toml`, and is written
//! with its audit entries in one transaction.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use clap::{Args, Subcommand};
use yuqing_cases::calendar::beijing;
use yuqing_cases::case::{
    Actor, CaseKind, IncidentGrade, Publication, PublicationKind, ReviewResult, ReviewSignOff, Role,
    Transition,
};
use yuqing_cases::clock::{Starts, StopEvent};
use yuqing_cases::{Calendar, Case, CaseState, ClockTemplates, PublicationPolicy};
use yuqing_core::cases::{
    AuditEntry, CaseFilter, CaseMeta, CaseStore, CaseView, ClockOp, NewClock, verify_chain,
};
use yuqing_core::events::{EventStore, ManualInfo};

use crate::alerts::Db;
use crate::cases_cmd::{load_calendar, parse_moment};
use crate::resources::Resources;

/// Who acts: until accounts exist (web app), the operator names themself and their role.
#[derive(Debug, Args)]
pub struct By {
    /// The person acting (recorded in the case history and the audit log).
    #[arg(long = "by", default_value = "operator")]
    name: String,
    /// Their role: press_officer, department_officer, reviewer, leader, admin.
    #[arg(long, default_value = "press_officer")]
    role: String,
}

impl By {
    fn actor(&self) -> Result<Actor> {
        let role = match self.role.as_str() {
            "press_officer" | "press" => Role::PressOfficer,
            "department_officer" | "officer" => Role::DepartmentOfficer,
            "reviewer" => Role::Reviewer,
            "leader" => Role::Leader,
            "admin" => Role::Admin,
            other => {
                bail!("--role {other:?}: use press_officer, department_officer, reviewer, leader or admin")
            }
        };
        Ok(Actor::User { id: 0, name: self.name.clone(), role })
    }
}

#[derive(Debug, Args)]
pub struct CasesArgs {
    #[arg(long)]
    department: Option<String>,
    /// Only cases with a running clock past its deadline.
    #[arg(long)]
    overdue: bool,
    /// Include closed, dismissed and merged cases.
    #[arg(long)]
    all: bool,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// A case: state, clocks with time left, history.
    Show {
        id: i64,
        #[command(flatten)]
        db: Db,
    },
    /// Open a case (for an event, or by hand: 上级交办, 领导批示 with `--origin`).
    Open(OpenArgs),
    /// 签收.
    Ack(Simple),
    /// 研判.
    Assess(Simple),
    /// Write or replace the draft (`--text` or `--file`).
    Draft(DraftArgs),
    /// Submit the draft for the secrecy review.
    Submit(Simple),
    /// Record the 保密审查 sign-off: `--approve` or `--reject REASON`, with `--basis`.
    Review(ReviewArgs),
    /// Mark the draft published (`--kind`, `--url`): refused unless reviewed and the publication
    /// check passes.
    Publish(PublishArgs),
    /// 办结.
    Close(NoteArgs),
    /// 不予处理, with a reason.
    Dismiss(ReasonArgs),
    /// 合并 into another case.
    Merge(MergeArgs),
    /// Back to 研判中 (二次舆情, or a follow-up release).
    Reopen(ReasonArgs),
    /// Set the 突发事件等级 and the official incident time (starts the 5 h / 24 h clocks for
    /// 重大 and 特别重大).
    Grade(GradeArgs),
    /// Record an extension of a clock that allows one (依申请公开: +20 working days), with the
    /// reason.
    Extend(ExtendArgs),
    /// One pass of the clock ticker now (or `--at`): fires what is due, prints what it did and
    /// how long it took. The service runs the same pass every 5 s.
    Tick(TickArgs),
    /// Benchmarks: open N synthetic cases, each with a clock whose warnings and breach fall in
    /// `[now + start_in, now + start_in + spread]` (see benches/ticker_bench.py).
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    id: i64,
    /// The clock (default: the case's clock that allows an extension).
    #[arg(long)]
    clock: Option<String>,
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct TickArgs {
    #[arg(long)]
    at: Option<String>,
    #[arg(long, default_value = "cli")]
    worker: String,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    #[arg(long)]
    cases: u32,
    /// Seconds from now to the first clock's start of warnings.
    #[arg(long, default_value_t = 30)]
    start_in: i64,
    /// Seconds over which the clocks' firings are spread.
    #[arg(long, default_value_t = 300)]
    spread: i64,
    /// The lead department of every case.
    #[arg(long, default_value = "住房和城乡建设局")]
    department: String,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct Simple {
    id: i64,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// response, clarification, policy_interpretation, emergency, message_reply,
    /// information_request (or 回应, 辟谣, 政策解读, 突发事件, 留言答复, 依申请公开).
    #[arg(long)]
    kind: String,
    /// The lead department (its name as in departments.toml).
    #[arg(long)]
    department: String,
    #[arg(long)]
    title: String,
    /// The event the case answers; without it a manual event is opened from the title.
    #[arg(long)]
    event: Option<i64>,
    /// Co-operating departments, comma-separated.
    #[arg(long, value_delimiter = ',')]
    co: Vec<String>,
    /// Where a manual case comes from: 上级交办, 领导批示, 电话, …
    #[arg(long)]
    origin: Option<String>,
    /// The deadline a superior set (上级交办), `YYYY-MM-DD HH:MM` Beijing time.
    #[arg(long)]
    due: Option<String>,
    /// The policy document's publication time (政策解读).
    #[arg(long)]
    document_at: Option<String>,
    #[arg(long)]
    document_url: Option<String>,
    /// When the message or request was received, if not now (留言答复, 依申请公开).
    #[arg(long)]
    received_at: Option<String>,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct DraftArgs {
    id: i64,
    #[arg(long, conflicts_with = "file")]
    text: Option<String>,
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    id: i64,
    #[arg(long, conflicts_with = "reject")]
    approve: bool,
    #[arg(long)]
    reject: Option<String>,
    /// The basis of the review (e.g. 《中华人民共和国保守国家秘密法》, the county's rules).
    #[arg(long)]
    basis: String,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    id: i64,
    /// authoritative_info, press_conference, response, interpretation, reply.
    #[arg(long)]
    kind: String,
    #[arg(long)]
    url: String,
    /// When it went public (default: now).
    #[arg(long)]
    at: Option<String>,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    id: i64,
    #[arg(long)]
    note: Option<String>,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct ReasonArgs {
    id: i64,
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    id: i64,
    #[arg(long)]
    into: i64,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Args)]
pub struct GradeArgs {
    id: i64,
    /// 一般, 较大, 重大, 特别重大 (or general, large, major, extraordinarily_major).
    #[arg(long)]
    grade: String,
    /// The official incident time, `YYYY-MM-DD HH:MM` Beijing time.
    #[arg(long)]
    incident_at: String,
    #[command(flatten)]
    by: By,
    #[command(flatten)]
    db: Db,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain from the first row.
    Verify {
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Per department: on-time 签收/回应/办结 rates, overdue counts, median time to first
    /// authoritative information, for the cases opened in a month.
    Performance(PerformanceArgs),
}

#[derive(Debug, Args)]
pub struct PerformanceArgs {
    /// `YYYY-MM`.
    #[arg(long)]
    month: String,
    /// table, csv or markdown.
    #[arg(long, default_value = "table")]
    format: String,
    #[command(flatten)]
    db: Db,
}

/// What the case commands need from the configuration.
struct Policy {
    calendar: Calendar,
    clocks: ClockTemplates,
    publication: PublicationPolicy,
}

fn policy(res: &Resources, config_dir: Option<&Path>) -> Result<Policy> {
    let file = |name: &str| {
        res.config
            .files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, t)| t.as_str())
            .with_context(|| format!("{name} is missing from {}", res.config.origin))
    };
    Ok(Policy {
        calendar: load_calendar(config_dir, None)?,
        clocks: ClockTemplates::parse("clocks.toml", file("clocks.toml")?)?,
        publication: PublicationPolicy::parse("publication.toml", file("publication.toml")?)?,
    })
}

fn utc(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    t.with_timezone(&Utc)
}

fn now_bj() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&beijing())
}

fn actor_text(a: &Actor) -> String {
    a.to_string()
}

fn new_clocks(planned: Vec<yuqing_cases::clock::PlannedClock>) -> Vec<NewClock> {
    planned.into_iter().map(NewClock::from).collect()
}

/// The clocks `stop` stops: the templates', and the superior's deadline (上级交办) on any
/// publication or on closing.
fn stops(p: &Policy, stop: &StopEvent, reason: &str, at: DateTime<Utc>) -> Vec<ClockOp> {
    let mut ops: Vec<ClockOp> = p
        .clocks
        .stopped_by(stop)
        .map(|c| ClockOp::Stop { clock: c.id.clone(), reason: reason.to_owned(), at })
        .collect();
    if matches!(stop, StopEvent::Publication(_) | StopEvent::Closed) {
        ops.push(ClockOp::Stop { clock: SUPERIOR.into(), reason: reason.to_owned(), at });
    }
    ops
}

/// The clock of a deadline a superior set.
const SUPERIOR: &str = "superior";

fn left(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = due - now;
    let (sign, d) = if d < Duration::zero() { ("超时 ", -d) } else { ("剩 ", d) };
    if d.num_hours() >= 48 {
        format!("{sign}{} 天 {} 小时", d.num_days(), d.num_hours() % 24)
    } else {
        format!("{sign}{} 小时 {} 分", d.num_hours(), d.num_minutes() % 60)
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).format("%Y-%m-%d %H:%M").to_string()
}

pub fn cases(a: &CasesArgs) -> Result<ExitCode> {
    let now = Utc::now();
    let filter = CaseFilter {
        department: a.department.clone(),
        overdue_at: a.overdue.then_some(now),
        all: a.all,
        limit: a.limit,
    };
    a.db.run(async |store| {
        for v in store.list_cases(&filter).await? {
            let c = &v.stored.case;
            let next = v.clocks.iter().filter(|k| k.stopped_at.is_none()).min_by_key(|k| k.due_at);
            if a.json {
                out!(
                    "{}",
                    serde_json::json!({
                        "id": c.id, "kind": c.kind.as_str(), "state": c.state().as_str(), "title": c.title,
                        "department": c.lead_department, "event": c.event_id,
                        "next_deadline": next.map(|k| serde_json::json!({"clock": k.clock, "due_at": k.due_at.to_rfc3339(), "overdue": k.due_at <= now})),
                    })
                );
            } else {
                out!(
                    "#{:<5} {:<6} {:<5} {:<14} {}{}",
                    c.id,
                    c.kind.label(),
                    c.state().label(),
                    c.lead_department,
                    c.title,
                    next.map(|k| format!("  [{} {}]", k.name, left(k.due_at, now))).unwrap_or_default()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn show(v: &CaseView, now: DateTime<Utc>) -> Vec<String> {
    let c = &v.stored.case;
    let mut lines = vec![
        format!("case #{} {} · {} · {}", c.id, c.kind.label(), c.state().label(), c.title),
        format!(
            "lead: {}{}",
            c.lead_department,
            if c.co_departments.is_empty() {
                String::new()
            } else {
                format!("  co: {}", c.co_departments.join("、"))
            }
        ),
    ];
    if let Some(e) = c.event_id {
        lines.push(format!("event: #{e}"));
    }
    if let Some(g) = c.grade {
        lines.push(format!("突发事件等级: {}", g.label()));
    }
    if let Some(o) = &v.stored.meta.origin {
        lines.push(format!("origin: {o}"));
    }
    lines.push("clocks:".into());
    for k in &v.clocks {
        let status = match (k.stopped_at, k.breached_at) {
            (Some(s), _) => format!("stopped {} ({})", fmt(s), k.stop_reason.as_deref().unwrap_or("")),
            (None, Some(_)) => format!("BREACHED, {}", left(k.due_at, now)),
            (None, None) => left(k.due_at, now),
        };
        lines.push(format!("  {:<10} {:<16} due {}  {status}", k.name, k.limit_text, fmt(k.due_at)));
    }
    if let Some(d) = c.draft() {
        lines.push(format!("draft r{}: {}", d.revision(), d.text()));
    }
    for p in c.publications() {
        lines.push(format!(
            "published: {} {} {}",
            p.kind().label(),
            p.url(),
            p.at().format("%Y-%m-%d %H:%M")
        ));
    }
    lines.push("history:".into());
    for h in c.history() {
        lines.push(format!(
            "  {} {} {:?}: {} → {}{}",
            h.at.format("%Y-%m-%d %H:%M"),
            h.actor,
            h.transition,
            h.from.label(),
            h.to.label(),
            if h.note.is_empty() { String::new() } else { format!(" ({})", h.note) }
        ));
    }
    lines
}

/// Applies `t` to case `id` as `by`, with clock changes from `clock_ops(case_before, case_after)`,
/// and saves it with an audit entry.
async fn transition(
    store: &yuqing_store::SqlStore,
    id: i64,
    t: Transition,
    by: &By,
    p: &Policy,
    extra: impl FnOnce(&mut yuqing_core::cases::StoredCase, &Policy, DateTime<Utc>) -> Result<Vec<ClockOp>>,
) -> Result<ExitCode> {
    let actor = by.actor()?;
    let view = store.case(id).await?.with_context(|| format!("no case {id}"))?;
    let mut stored = view.stored.clone();
    let now = now_bj();
    let name = format!("{:?}", t.name());
    let checked = match &t {
        Transition::Publish { .. } => stored.case.draft().map(|d| d.revision()),
        _ => None,
    };
    let applied = stored.case.apply(t, &actor, now).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ops = extra(&mut stored, p, utc(now))?;
    let audit = AuditEntry {
        at: utc(now),
        actor: actor_text(&actor),
        action: "case.transition".into(),
        case_id: Some(id),
        detail: serde_json::json!({
            "transition": name,
            "from": applied.from.as_str(),
            "to": applied.to.as_str(),
            "note": applied.note,
            "clocks": ops.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>(),
        }),
    };
    store.save_case(&stored, view.stored.version, checked, &ops, &[audit], &[], utc(now)).await?;
    println!("case #{id}: {} → {}", applied.from.label(), applied.to.label());
    Ok(ExitCode::SUCCESS)
}

pub fn case(res: &Resources, config_dir: Option<&Path>, cmd: &CaseCommand) -> Result<ExitCode> {
    if let CaseCommand::Show { id, db } = cmd {
        return db.run(async |store| {
            let v = store.case(*id).await?.with_context(|| format!("no case {id}"))?;
            for l in show(&v, Utc::now()) {
                out!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        });
    }
    let p = policy(res, config_dir)?;
    match cmd {
        CaseCommand::Show { .. } => unreachable!("handled above"),
        CaseCommand::Open(a) => open(&p, a),
        CaseCommand::Ack(a) => a.db.run(async |s| {
            transition(&s, a.id, Transition::Acknowledge, &a.by, &p, |c, p, now| {
                c.acked_at = Some(now);
                Ok(stops(p, &StopEvent::Acknowledged, "签收", now))
            })
            .await
        }),
        CaseCommand::Assess(a) => a
            .db
            .run(async |s| transition(&s, a.id, Transition::Assess, &a.by, &p, |_, _, _| Ok(vec![])).await),
        CaseCommand::Draft(a) => {
            let text = match (&a.text, &a.file) {
                (Some(t), _) => t.clone(),
                (None, Some(f)) => {
                    std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
                }
                (None, None) => bail!("give --text or --file"),
            };
            a.db.run(async |s| {
                transition(&s, a.id, Transition::Draft { text }, &a.by, &p, |_, _, _| Ok(vec![])).await
            })
        }
        CaseCommand::Submit(a) => a
            .db
            .run(async |s| transition(&s, a.id, Transition::Submit, &a.by, &p, |_, _, _| Ok(vec![])).await),
        CaseCommand::Review(a) => {
            let result = match (&a.reject, a.approve) {
                (Some(r), _) => ReviewResult::Rejected { reason: r.clone() },
                (None, true) => ReviewResult::Approved,
                (None, false) => bail!("give --approve or --reject REASON"),
            };
            let sign = ReviewSignOff::new(a.by.name.clone(), a.basis.clone(), result, now_bj())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            a.db.run(async |s| {
                transition(&s, a.id, Transition::Review(sign), &a.by, &p, |_, _, _| Ok(vec![])).await
            })
        }
        CaseCommand::Publish(a) => {
            let kind = PublicationKind::parse(&a.kind)
                .with_context(|| format!("--kind {:?} is not a publication kind", a.kind))?;
            let at = a.at.as_deref().map(parse_moment).transpose()?.unwrap_or_else(now_bj);
            let publication =
                Publication::new(kind, a.url.clone(), at).map_err(|e| anyhow::anyhow!("{e}"))?;
            a.db.run(async |s| {
                let v = s.case(a.id).await?.with_context(|| format!("no case {}", a.id))?;
                let text = v.stored.case.draft().map(|d| d.text().to_owned()).unwrap_or_default();
                // The event's heat now: a rise during the 72 h watch is a second wave.
                let heat = match v.stored.case.event_id {
                    Some(e) => s.event(e).await?.map(|e| f64::from(e.heat)),
                    None => None,
                };
                // 先审查、后公开: the automatic check of the text, every finding listed.
                let check = match p.publication.check(&text) {
                    Ok(c) => c,
                    Err(findings) => {
                        let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
                        bail!("case {}: the draft fails the publication check:\n{}", a.id, list.join("\n"));
                    }
                };
                transition(&s, a.id, Transition::Publish { check, publication }, &a.by, &p, |c, p, now| {
                    c.published_at = Some(now);
                    // Watched for a second wave (二次舆情) for 72 h.
                    c.watch_until = Some(now + Duration::hours(72));
                    c.watch_heat = heat;
                    // The clocks stop when it went public, which may be before it was recorded.
                    Ok(stops(
                        p,
                        &StopEvent::Publication(kind.as_str().to_owned()),
                        &format!("发布 {}", kind.label()),
                        utc(at).min(now),
                    ))
                })
                .await
            })
        }
        CaseCommand::Close(a) => a.db.run(async |s| {
            transition(&s, a.id, Transition::Close { note: a.note.clone() }, &a.by, &p, |c, p, now| {
                c.closed_at = Some(now);
                // Nothing runs on after 办结 (incident clocks included).
                Ok(all_stops(p, "办结", now))
            })
            .await
        }),
        CaseCommand::Dismiss(a) => a.db.run(async |s| {
            transition(&s, a.id, Transition::Dismiss { reason: a.reason.clone() }, &a.by, &p, |c, p, now| {
                c.closed_at = Some(now);
                Ok(all_stops(p, "不予处理", now))
            })
            .await
        }),
        CaseCommand::Merge(a) => a.db.run(async |s| {
            if s.case(a.into).await?.is_none() {
                bail!("no case {} to merge into", a.into);
            }
            transition(&s, a.id, Transition::Merge { into: a.into }, &a.by, &p, |c, p, now| {
                c.closed_at = Some(now);
                c.merged_into = Some(a.into);
                Ok(all_stops(p, &format!("合并入 #{}", a.into), now))
            })
            .await
        }),
        CaseCommand::Reopen(a) => a.db.run(async |s| {
            transition(&s, a.id, Transition::Reopen { reason: a.reason.clone() }, &a.by, &p, |c, _, now| {
                c.closed_at = None;
                c.watch_until = None;
                // The answer is owed again: its clock runs a new cycle from now.
                Ok(yuqing_cases::clock::main_clock(c.case.kind.as_str())
                    .map(|k| ClockOp::Restart { clock: k.to_owned(), at: now })
                    .into_iter()
                    .collect())
            })
            .await
        }),
        CaseCommand::Grade(a) => grade(&p, a),
        CaseCommand::Tick(a) => tick(res, a),
        CaseCommand::Extend(a) => extend(&p, a),
        CaseCommand::Synth(a) => synth(a),
    }
}

fn extend(p: &Policy, a: &ExtendArgs) -> Result<ExitCode> {
    let actor = a.by.actor()?;
    if a.reason.trim().is_empty() {
        bail!("an extension needs a reason");
    }
    a.db.run(async |store| {
        let view = store.case(a.id).await?.with_context(|| format!("no case {}", a.id))?;
        let running: Vec<_> = view.clocks.iter().filter(|k| k.stopped_at.is_none()).collect();
        let k = match &a.clock {
            Some(c) => running.iter().find(|k| &k.clock == c).with_context(|| format!("case {} has no running clock {c}", a.id))?,
            None => running
                .iter()
                .find(|k| p.clocks.get(&k.clock).is_some_and(|t| t.extension.is_some()))
                .with_context(|| format!("case {} has no running clock that allows an extension", a.id))?,
        };
        if k.extended {
            bail!("clock {} of case {} was extended already", k.clock, a.id);
        }
        // An extension is decided within the period (条例 第三十三条), not after the breach.
        if k.breached_at.is_some() || k.due_at <= Utc::now() {
            bail!("clock {} of case {} ran out at {}: an extension is decided before the deadline", k.clock, a.id, fmt(k.due_at));
        }
        let spec = p.clocks.get(&k.clock).with_context(|| format!("clock {} is not in clocks.toml", k.clock))?;
        if spec.extension.is_none() {
            bail!("clock {} ({}) allows no extension", k.clock, k.name);
        }
        let d = spec.deadline(&p.calendar, &k.started_at, view.stored.meta.level, true)?;
        let op = ClockOp::Extend { clock: k.clock.clone(), due_at: utc(d.due), warnings: d.warnings.into_iter().map(utc).collect() };
        let now = Utc::now();
        let audit = AuditEntry {
            at: now,
            actor: actor_text(&actor),
            action: "clock.extend".into(),
            case_id: Some(a.id),
            detail: serde_json::json!({"clock": k.clock, "from": k.due_at.to_rfc3339(), "to": utc(d.due).to_rfc3339(), "reason": a.reason}),
        };
        store.save_case(&view.stored, view.stored.version, None, &[op], &[audit], &[], now).await?;
        out!("case #{}: {} extended to {}", a.id, k.name, fmt(utc(d.due)));
        Ok(ExitCode::SUCCESS)
    })
}

fn tick(res: &Resources, a: &TickArgs) -> Result<ExitCode> {
    let (cfg, _channels) = crate::alerts::AlertingConfig::load(res)?;
    let at = a.at.as_deref().map(parse_moment).transpose()?.map(utc).unwrap_or_else(Utc::now);
    a.db.run(async |store| {
        let ticker = yuqing_pipeline::ticker::Ticker::new(
            std::sync::Arc::new(store),
            cfg.router.clone(),
            cfg.directory.clone(),
            a.worker.clone(),
            None,
        );
        let t = std::time::Instant::now();
        let r = ticker.step(at).await?;
        out!(
            "tick at {}: {} fired, {} already fired elsewhere, {} notifications queued, {:.1} ms",
            fmt(at),
            r.fired,
            r.skipped,
            r.deliveries,
            t.elapsed().as_secs_f64() * 1000.0
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn synth(a: &SynthArgs) -> Result<ExitCode> {
    a.db.run(async |store| {
        let now = Utc::now();
        let info = ManualInfo {
            kind: "synthetic".into(),
            source: "bench".into(),
            text: "bench".into(),
            opened_by: "bench".into(),
        };
        let event = store
            .open_manual_event("合成案件", &info, std::slice::from_ref(&a.department), None, now)
            .await?;
        let t = std::time::Instant::now();
        for i in 0..a.cases {
            // Spread evenly: the breach of case i at start_in + spread * i / n; warnings at 50 %
            // and 80 % of a period that starts a minute before the window.
            let due = now
                + Duration::seconds(a.start_in)
                + Duration::milliseconds(a.spread * 1000 * i64::from(i) / i64::from(a.cases.max(1)));
            let started = now + Duration::seconds(a.start_in) - Duration::seconds(60);
            let span = due - started;
            let w = |f: f64| started + Duration::milliseconds((span.num_milliseconds() as f64 * f) as i64);
            let mut case = Case::open(
                0,
                CaseKind::Response,
                a.department.clone(),
                format!("合成案件 {i}"),
                started.with_timezone(&beijing()),
            );
            case.event_id = Some(event);
            let clock = NewClock {
                clock: "response".into(),
                name: "回应".into(),
                limit_text: "synthetic".into(),
                started_at: started,
                due_at: due,
                warnings: vec![w(0.5), w(0.8)].into_iter().filter(|x| *x < due).collect(),
                escalate: true,
                count: true,
            };
            let meta = CaseMeta { opened_by: "bench".into(), ..CaseMeta::default() };
            let audit = AuditEntry {
                at: now,
                actor: "bench".into(),
                action: "case.open".into(),
                case_id: None,
                detail: serde_json::json!({"synthetic": i}),
            };
            store.open_case(&case, &meta, &[clock], &[audit], now).await?;
        }
        out!("{} synthetic cases opened in {:.1} s", a.cases, t.elapsed().as_secs_f64());
        Ok(ExitCode::SUCCESS)
    })
}

fn all_stops(p: &Policy, reason: &str, at: DateTime<Utc>) -> Vec<ClockOp> {
    p.clocks
        .clocks
        .iter()
        .map(|c| c.id.as_str())
        .chain([SUPERIOR])
        .map(|c| ClockOp::Stop { clock: c.to_owned(), reason: reason.to_owned(), at })
        .collect()
}

fn open(p: &Policy, a: &OpenArgs) -> Result<ExitCode> {
    let kind = CaseKind::parse(&a.kind).with_context(|| format!("--kind {:?} is not a case kind", a.kind))?;
    let actor = a.by.actor()?;
    let now = now_bj();
    let due = a.due.as_deref().map(parse_moment).transpose()?;
    let document_at = a.document_at.as_deref().map(parse_moment).transpose()?;
    let received = a.received_at.as_deref().map(parse_moment).transpose()?.unwrap_or(now);
    if kind == CaseKind::PolicyInterpretation && document_at.is_none() {
        bail!("a 政策解读 case needs --document-at (the document's publication time)");
    }
    a.db.run(async |store| {
        let (event, level, detected) = match a.event {
            Some(e) => {
                let ev = store.event(e).await?.with_context(|| format!("no event {e}"))?;
                (e, ev.level, Some(ev.first_at))
            }
            None => {
                let info = ManualInfo {
                    kind: a.origin.clone().unwrap_or_else(|| "manual".into()),
                    source: a.origin.clone().unwrap_or_else(|| "case".into()),
                    text: a.title.clone(),
                    opened_by: a.by.name.clone(),
                };
                let e = store.open_manual_event(&a.title, &info, std::slice::from_ref(&a.department), None, utc(now)).await?;
                (e, None, Some(utc(received)))
            }
        };
        let mut case = Case::open(0, kind, a.department.clone(), a.title.clone(), received);
        case.event_id = Some(event);
        case.co_departments = a.co.clone();
        let starts = Starts {
            case_opened: Some(received),
            first_detected: detected.map(|t| t.with_timezone(&beijing())),
            incident_time: None,
            document_published: document_at,
        };
        let mut clocks = new_clocks(p.clocks.plan(&p.calendar, kind.as_str(), None, level, &starts, &[])?);
        if let Some(d) = due {
            // 上级交办: the superior's deadline is a clock of its own.
            clocks.push(NewClock {
                clock: SUPERIOR.into(),
                name: "上级交办时限".into(),
                limit_text: format!("至 {}", d.format("%Y-%m-%d %H:%M")),
                started_at: utc(received),
                due_at: utc(d),
                warnings: [0.5, 0.8]
                    .iter()
                    .map(|f| utc(received) + Duration::milliseconds(((utc(d) - utc(received)).num_milliseconds() as f64 * f) as i64))
                    .filter(|w| *w < utc(d))
                    .collect(),
                escalate: true,
                count: true,
            });
        }
        let meta = CaseMeta {
            origin: a.origin.clone(),
            level,
            incident_at: None,
            detected_at: detected,
            document_at: document_at.map(utc),
            document_url: a.document_url.clone(),
            document_post: None,
            superior_due_at: due.map(utc),
            opened_by: actor_text(&actor),
        };
        let audit = AuditEntry {
            at: utc(now),
            actor: actor_text(&actor),
            action: "case.open".into(),
            case_id: None,
            detail: serde_json::json!({
                "kind": kind.as_str(), "department": a.department, "title": a.title, "event": event,
                "origin": a.origin, "clocks": clocks.iter().map(|c| serde_json::json!({"clock": c.clock, "due_at": c.due_at.to_rfc3339()})).collect::<Vec<_>>(),
            }),
        };
        let id = store.open_case(&case, &meta, &clocks, &[audit], utc(now)).await?;
        out!("case #{id} opened for event #{event}");
        for c in &clocks {
            out!("  {:<12} {:<18} due {}", c.name, c.limit_text, fmt(c.due_at));
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn grade(p: &Policy, a: &GradeArgs) -> Result<ExitCode> {
    let g = IncidentGrade::parse(&a.grade)
        .with_context(|| format!("--grade {:?} is not a 突发事件等级", a.grade))?;
    let incident = parse_moment(&a.incident_at)?;
    let actor = a.by.actor()?;
    if !matches!(actor, Actor::User { role: Role::PressOfficer | Role::Leader | Role::Admin, .. }) {
        bail!("the 突发事件等级 is set by a press officer or a leader");
    }
    a.db.run(async |store| {
        let view = store.case(a.id).await?.with_context(|| format!("no case {}", a.id))?;
        let mut stored = view.stored.clone();
        if stored.case.state().is_terminal() {
            bail!("case {} is {}: its grade cannot change", a.id, stored.case.state().label());
        }
        let before = stored.case.grade;
        stored.case.grade = Some(g);
        stored.meta.incident_at = Some(utc(incident));
        let starts = Starts { incident_time: Some(incident), ..Starts::default() };
        let planned = p.clocks.plan(
            &p.calendar,
            stored.case.kind.as_str(),
            Some(g.as_str()),
            stored.meta.level,
            &starts,
            &[yuqing_cases::clock::StartEvent::IncidentTime],
        )?;
        let ops: Vec<ClockOp> = new_clocks(planned).into_iter().map(ClockOp::Start).collect();
        let now = Utc::now();
        let audit = AuditEntry {
            at: now,
            actor: actor_text(&actor),
            action: "case.grade".into(),
            case_id: Some(a.id),
            detail: serde_json::json!({
                "from": before.map(|g| g.as_str()), "to": g.as_str(), "incident_at": incident.to_rfc3339(),
                "clocks": ops.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>(),
            }),
        };
        store.save_case(&stored, view.stored.version, None, &ops, &[audit], &[], now).await?;
        out!(
            "case #{}: 突发事件等级 {} from {}; {} clock(s) started",
            a.id,
            g.label(),
            incident.format("%Y-%m-%d %H:%M"),
            ops.len()
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn audit(cmd: &AuditCommand) -> Result<ExitCode> {
    let AuditCommand::Verify { db } = cmd;
    db.run(async |store| {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = store.audit_rows(after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        match verify_chain(&all) {
            Ok(n) => {
                out!("audit log: {n} rows, chain intact");
                Ok(ExitCode::SUCCESS)
            }
            Err(b) => {
                eprintln!("audit log: BROKEN at row {}: {}", b.seq, b.why);
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// One department's figures for a month.
#[derive(Debug, Default, Clone)]
struct Perf {
    cases: u32,
    ack_total: u32,
    ack_on_time: u32,
    resp_total: u32,
    resp_on_time: u32,
    closed_total: u32,
    closed_on_time: u32,
    overdue: u32,
    first_info_mins: Vec<i64>,
}

fn rate(n: u32, d: u32) -> String {
    if d == 0 { "-".into() } else { format!("{:.0}%", f64::from(n) * 100.0 / f64::from(d)) }
}

pub fn report(cmd: &ReportCommand) -> Result<ExitCode> {
    let ReportCommand::Performance(a) = cmd;
    let first = NaiveDate::parse_from_str(&format!("{}-01", a.month), "%Y-%m-%d")
        .with_context(|| format!("--month {:?}: use YYYY-MM", a.month))?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .context("month out of range")?;
    let at = |d: NaiveDate| -> Result<DateTime<Utc>> {
        Ok(utc(beijing()
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .single()
            .context("local time")?))
    };
    let (from, to) = (at(first)?, at(next)?);
    if !matches!(a.format.as_str(), "table" | "csv" | "markdown" | "md") {
        bail!("--format {:?}: use table, csv or markdown", a.format);
    }
    a.db.run(async |store| {
        let now = Utc::now();
        let mut by: std::collections::BTreeMap<String, Perf> = std::collections::BTreeMap::new();
        for v in store.cases_opened_between(from, to).await? {
            let c = &v.stored.case;
            let p = by.entry(c.lead_department.clone()).or_default();
            p.cases += 1;
            for k in &v.clocks {
                // A clock stopped because the case was dismissed or merged is neither on time nor late.
                if k.stop_reason.as_deref().is_some_and(|r| r.starts_with("不予处理") || r.starts_with("合并入")) {
                    continue;
                }
                // A reopened case's later cycles (`response#2`) count like the first.
                let base = k.clock.split('#').next().unwrap_or(&k.clock);
                let done = k.stopped_at;
                let on_time = done.is_some_and(|d| d <= k.due_at) && k.breached_at.is_none();
                let decided = done.is_some() || k.due_at <= now;
                if base == "ack" && decided {
                    p.ack_total += 1;
                    p.ack_on_time += u32::from(on_time);
                }
                if ["response", "interpretation", "message_reply", "information_request", "authoritative_info"].contains(&base) && decided {
                    p.resp_total += 1;
                    p.resp_on_time += u32::from(on_time);
                }
                if k.count && (k.breached_at.is_some() || (k.stopped_at.is_none() && k.due_at <= now)) {
                    p.overdue += 1;
                }
            }
            if matches!(c.state(), CaseState::Closed) {
                p.closed_total += 1;
                let late = v.clocks.iter().any(|k| k.count && k.breached_at.is_some());
                p.closed_on_time += u32::from(!late);
            }
            if let (Some(inc), Some(first)) = (
                v.stored.meta.incident_at,
                c.publications().iter().filter(|p| p.kind() == PublicationKind::AuthoritativeInfo).map(|p| utc(p.at())).min(),
            ) {
                p.first_info_mins.push((first - inc).num_minutes());
            }
        }
        let header = ["部门", "案件", "签收按时", "回应按时", "办结按时", "超时", "首发权威信息中位(分钟)"];
        let rows: Vec<[String; 7]> = by
            .iter()
            .map(|(d, p)| {
                let mut m = p.first_info_mins.clone();
                m.sort_unstable();
                let median = if m.is_empty() { "-".into() } else { m[m.len() / 2].to_string() };
                [
                    d.clone(),
                    p.cases.to_string(),
                    format!("{} ({}/{})", rate(p.ack_on_time, p.ack_total), p.ack_on_time, p.ack_total),
                    format!("{} ({}/{})", rate(p.resp_on_time, p.resp_total), p.resp_on_time, p.resp_total),
                    format!("{} ({}/{})", rate(p.closed_on_time, p.closed_total), p.closed_on_time, p.closed_total),
                    p.overdue.to_string(),
                    median,
                ]
            })
            .collect();
        match a.format.as_str() {
            "csv" => {
                out!("department,cases,ack_on_time,ack_total,response_on_time,response_total,closed_on_time,closed_total,overdue,median_first_info_minutes");
                for (d, p) in &by {
                    let mut m = p.first_info_mins.clone();
                    m.sort_unstable();
                    let median = m.get(m.len() / 2).map(|v| v.to_string()).unwrap_or_default();
                    out!(
                        "{},{},{},{},{},{},{},{},{},{}",
                        d, p.cases, p.ack_on_time, p.ack_total, p.resp_on_time, p.resp_total, p.closed_on_time, p.closed_total, p.overdue, median
                    );
                }
            }
            "markdown" | "md" => {
                out!("| {} |", header.join(" | "));
                out!("|{}", "---|".repeat(header.len()));
                for r in &rows {
                    out!("| {} |", r.join(" | "));
                }
            }
            _ => {
                out!("{} 考核 ({} cases)", a.month, by.values().map(|p| p.cases).sum::<u32>());
                out!("{}", header.join("\t"));
                for r in &rows {
                    out!("{}", r.join("\t"));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
