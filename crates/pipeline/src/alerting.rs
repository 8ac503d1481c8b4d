//! From stored posts to events, alerts and outbox rows: the single event builder (it holds the
//! `events` lease; any process can take over when it dies) and the ticker of digests, repeats and
//! escalations.
//!
//! One pass ([`Alerting::step`]): read the posts committed after the checkpoint, place each in an
//! event ([`yuqing_events::Clusterer`]), recompute the changed events' heat and level, route them
//! ([`yuqing_routing::Router::decide`]), decide which notifications are due (new, upgrade, digest,
//! repeat, escalation) and write everything — events, placements, level changes, alerts, outbox
//! rows and the new checkpoint — in one transaction. A crash before the commit loses nothing (the
//! posts are read again); after it, nothing is done twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use yuqing_core::events::{
    AlertRow, EventBatch, EventInput, EventRow, EventStore, LevelChange, NewDelivery, PlacementRow,
    SilenceRow,
};
use yuqing_core::notify::OutboundMessage;
use yuqing_core::store::StoreError;
use yuqing_domain::{Jurisdiction, NoticeKind, WarningLevel};
use yuqing_events::{
    Clusterer, EventSnapshot, EventStats, LevelPolicy, PostSignal, RestoredEvent, SourceTier,
};
use yuqing_routing::{
    ActiveEvent, AlertState, Directory, Incident, IncidentUnit, Matchers, Router, Silence, Target, Timing,
    UnitRole, next_notice,
};

/// A unit as alerting needs it.
#[derive(Debug, Clone)]
pub struct UnitFacts {
    pub jurisdiction: Jurisdiction,
    /// A township government (属地 co-owner unless it leads).
    pub township: bool,
}

/// Configuration of the event builder.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub worker: String,
    pub lease_secs: i64,
    /// Posts placed per pass.
    pub batch: u32,
    /// Source id → tier (central … social); unknown sources count as local.
    pub tiers: HashMap<String, SourceTier>,
    /// Unit name → facts, for routing.
    pub units: HashMap<String, UnitFacts>,
    /// Base URL of the web app, for links in messages (`{base}/events/{id}`).
    pub public_url: Option<String>,
    /// How often to look for new posts and due alerts when idle.
    pub idle: std::time::Duration,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    /// This process holds the `events` lease.
    pub leader: bool,
    pub posts: u32,
    pub new_events: u32,
    pub changed_events: u32,
    pub deliveries: u32,
    pub level_changes: u32,
}

struct State {
    clusterer: Clusterer,
    /// Each open event's level as last stored.
    levels: HashMap<i64, Option<WarningLevel>>,
}

pub struct Alerting<S> {
    store: Arc<S>,
    router: Router,
    directory: Directory,
    policy: LevelPolicy,
    settings: AlertSettings,
    state: Mutex<Option<State>>,
}

impl<S> std::fmt::Debug for Alerting<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting").field("worker", &self.settings.worker).finish_non_exhaustive()
    }
}

/// An ASCII idempotency key (it travels in HTTP headers) that names one message of one alert.
fn idempotency_key(
    event: i64,
    receiver: &str,
    kind: NoticeKind,
    n: i64,
    whom: &str,
    channel: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(format!("{event}\u{1f}{receiver}\u{1f}{}\u{1f}{n}\u{1f}{whom}\u{1f}{channel}", kind.as_str()));
    let d = h.finalize();
    let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("yq-e{event}-{}{n}-{hex}", kind.as_str())
}

fn strs(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().map(|a| a.iter()).into_iter().flatten()
}

/// Builds the clustering input of a post from its row and analysis JSON.
pub fn signal(input: &EventInput, tiers: &HashMap<String, SourceTier>) -> PostSignal {
    let a: Value =
        input.analysis.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
    // A title says what the post is about: its words weigh double.
    let title_norm = input.title.to_lowercase();
    let mut keywords: Vec<(String, f32)> = strs(&a["keywords"])
        .filter_map(|k| {
            let w = k["word"].as_str()?;
            let weight = k["weight"].as_f64()? as f32;
            Some((w.to_owned(), if title_norm.contains(w) { weight * 2.0 } else { weight }))
        })
        .collect();
    keywords.sort_by(|a, b| b.1.total_cmp(&a.1));
    let departments: Vec<String> =
        strs(&a["departments"]).filter_map(|d| d["name"].as_str().map(str::to_owned)).collect();
    let mut topics = Vec::new();
    for d in strs(&a["departments"]) {
        for t in strs(&d["topics"]) {
            if let Some(id) = t["id"].as_str()
                && !id.ends_with(".named")
                && !topics.iter().any(|x: &String| x == id)
            {
                topics.push(id.to_owned());
            }
        }
    }
    let mut townships: Vec<String> = Vec::new();
    for p in strs(&a["places"]) {
        // the township a place lies in (for a township, itself, by its canonical name)
        let t = p["township"]
            .as_str()
            .or_else(|| if p["kind"] == "township" { p["name"].as_str() } else { None });
        if let Some(t) = t
            && !townships.iter().any(|x| x == t)
        {
            townships.push(t.to_owned());
        }
    }
    // Place names say where, not what: two matters in one township are not one event.
    let places: Vec<&str> = strs(&a["places"]).filter_map(|p| p["name"].as_str()).collect();
    keywords.retain(|(w, _)| !places.iter().any(|p| p == w || townships.iter().any(|t| t == w)));
    let eng: Value = serde_json::from_str(&input.engagement).unwrap_or(Value::Null);
    let engagement = ["reposts", "comments", "likes"].iter().filter_map(|k| eng[*k].as_u64()).sum();
    let text = format!("{}\n{}", input.title, input.body);
    PostSignal {
        post_id: input.post_id,
        time: input.time,
        source_id: input.source_id.clone(),
        tier: tiers.get(&input.source_id).copied().unwrap_or_default(),
        title: if input.title.trim().is_empty() {
            input.body.chars().take(40).collect()
        } else {
            input.title.clone()
        },
        simhash: input.simhash,
        keywords,
        duplicate_of: input.duplicate_of,
        reposts: input.reposts.max(0) as u64,
        engagement,
        departments,
        topics,
        townships,
        local: a["local"].as_bool().unwrap_or(false),
        negativity: (-(a["sentiment"]["score"].as_f64().unwrap_or(0.0) as f32)).clamp(0.0, 1.0),
        risk: a["risk"]["score"].as_f64().unwrap_or(0.0) as f32,
        risk_words: strs(&a["risk"]["words"]).filter_map(|w| w.as_str().map(str::to_owned)).collect(),
        rumour: yuqing_events::rumour_signal(&text),
    }
}

fn secs(d: Duration) -> i64 {
    d.num_seconds()
}

fn timing_of(a: &AlertRow) -> Timing {
    Timing {
        group_wait: Duration::seconds(a.group_wait_secs),
        group_interval: Duration::seconds(a.group_interval_secs),
        repeat_interval: Duration::seconds(a.repeat_interval_secs),
    }
}

fn silence_of(s: &SilenceRow) -> Silence {
    Silence {
        id: s.id,
        matchers: Matchers {
            department: s.matchers.department.clone(),
            topic: s.matchers.topic.clone(),
            township: s.matchers.township.clone(),
            ..Matchers::default()
        },
        event_id: s.event_id,
        receiver: s.receiver.clone(),
        creator: s.creator.clone(),
        reason: s.reason.clone(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
    }
}

/// The view of an event messages and routing need.
#[derive(Debug, Clone)]
struct EventView {
    id: i64,
    title: String,
    level: Option<WarningLevel>,
    heat: f32,
    posts: i64,
    sources: usize,
    departments: Vec<String>,
    topics: Vec<String>,
    townships: Vec<String>,
    local: bool,
    rumour: bool,
}

impl EventView {
    fn of_snapshot(s: &EventSnapshot, level: Option<WarningLevel>, heat: f32) -> EventView {
        EventView {
            id: s.id,
            title: s.title.clone(),
            level,
            heat,
            posts: i64::from(s.stats.posts),
            sources: s.stats.sources.len(),
            departments: s.departments.clone(),
            topics: s.topics.clone(),
            townships: s.townships.clone(),
            local: s.stats.local,
            rumour: s.stats.rumour,
        }
    }

    fn of_row(e: &EventRow) -> EventView {
        let stats: EventStats = serde_json::from_str(&e.stats).unwrap_or_default();
        EventView {
            id: e.id,
            title: e.title.clone(),
            level: e.level,
            heat: e.heat,
            posts: e.posts,
            sources: stats.sources.len(),
            departments: e.departments.clone(),
            topics: e.topics.clone(),
            townships: e.townships.clone(),
            local: e.local || e.manual.is_some(),
            rumour: e.rumour,
        }
    }
}

impl<S: EventStore> Alerting<S> {
    pub fn new(
        store: Arc<S>,
        router: Router,
        directory: Directory,
        policy: LevelPolicy,
        settings: AlertSettings,
    ) -> Self {
        Alerting { store, router, directory, policy, settings, state: Mutex::new(None) }
    }

    fn incident(&self, e: &EventView, level: WarningLevel) -> Incident {
        let mut lead_taken = false;
        let units = e
            .departments
            .iter()
            .filter_map(|name| {
                let facts = self.settings.units.get(name)?;
                let role = if facts.township && lead_taken {
                    UnitRole::Territorial
                } else if !lead_taken {
                    lead_taken = true;
                    UnitRole::Lead
                } else {
                    UnitRole::Co
                };
                Some(IncidentUnit { name: name.clone(), role, jurisdiction: facts.jurisdiction })
            })
            .collect();
        Incident {
            event_id: e.id,
            level,
            units,
            topics: e.topics.clone(),
            townships: e.townships.clone(),
            source_types: Vec::new(),
            local: e.local,
        }
    }

    async fn restore(&self, now: DateTime<Utc>) -> Result<State, StoreError> {
        let mut clusterer = Clusterer::default();
        let checkpoint = self.store.events_checkpoint().await?;
        // The window is measured in post time: an import of older posts resumes with its own events.
        let next_time = self.store.event_inputs(checkpoint, 1).await?.first().map(|i| i.time).unwrap_or(now);
        let since = next_time.min(now) - clusterer.params.long_window;
        let mut levels = HashMap::new();
        for open in self.store.open_events(since, clusterer.params.event_hashes as u32).await? {
            let (e, posts) = (open.event, open.posts);
            levels.insert(e.id, e.level);
            let stats: EventStats = serde_json::from_str(&e.stats).unwrap_or_default();
            clusterer.restore(RestoredEvent {
                id: e.id,
                first_at: e.first_at,
                last_at: e.last_at,
                title: e.title,
                title_post: e.title_post.unwrap_or(0),
                title_score: e.title_score,
                stats,
                keywords: e.keywords,
                departments: e.departments,
                topics: e.topics,
                townships: e.townships,
                posts,
            });
        }
        let hour = yuqing_events::Baselines::hour(since) - 7 * 24;
        clusterer.baselines.restore(self.store.activity_since(hour).await?);
        tracing::info!(open_events = clusterer.open_events(), checkpoint, "event builder restored");
        Ok(State { clusterer, levels })
    }

    /// One pass: place new posts, route changed events, fire due notifications; one transaction.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<StepReport, StoreError> {
        let mut report = StepReport::default();
        if !self.store.take_lease("events", &self.settings.worker, now, self.settings.lease_secs).await? {
            // Someone else builds events; our state would go stale.
            *self.state.lock().await = None;
            return Ok(report);
        }
        report.leader = true;
        let mut guard = self.state.lock().await;
        if guard.is_none() {
            *guard = Some(self.restore(now).await?);
        }
        let Some(state) = guard.as_mut() else { return Ok(report) };
        let result = self.pass(state, now, &mut report).await;
        if result.is_err() {
            // The batch did not commit: rebuild from the store next time.
            *guard = None;
        }
        result.map(|()| report)
    }

    async fn pass(
        &self,
        state: &mut State,
        now: DateTime<Utc>,
        report: &mut StepReport,
    ) -> Result<(), StoreError> {
        let checkpoint = self.store.events_checkpoint().await?;
        let inputs = self.store.event_inputs(checkpoint, self.settings.batch).await?;
        let mut batch = EventBatch::default();
        let mut placements = Vec::with_capacity(inputs.len());
        for input in &inputs {
            placements.push(state.clusterer.place(&signal(input, &self.settings.tiers)));
        }
        // New events get their ids now.
        let mut provisional: Vec<i64> = placements.iter().map(|p| p.event).filter(|e| *e < 0).collect();
        provisional.sort_unstable_by(|a, b| b.cmp(a));
        provisional.dedup();
        let ids = self.store.reserve_event_ids(provisional.len() as u32).await?;
        let renamed: HashMap<i64, i64> = provisional.iter().copied().zip(ids.iter().copied()).collect();
        for (p, id) in &renamed {
            state.clusterer.assign_id(*p, *id);
        }
        report.new_events = renamed.len() as u32;
        let mut joined: HashMap<i64, i64> = HashMap::new();
        for p in &placements {
            let event = renamed.get(&p.event).copied().unwrap_or(p.event);
            *joined.entry(event).or_default() += 1;
            batch.placements.push(PlacementRow {
                post_id: p.post_id,
                event_id: event,
                via: p.via.as_str().to_owned(),
                score: p.score,
            });
        }
        report.posts = inputs.len() as u32;
        batch.checkpoint = inputs.last().map(|i| i.seq);
        batch.activity = state.clusterer.take_activity();

        // Changed events: heat, level, level-change log.
        let mut changed: Vec<EventView> = Vec::new();
        for s in state.clusterer.take_changed() {
            let h = yuqing_events::heat(&s.stats);
            let level = yuqing_events::level(&s.stats, h, &s.topics, &self.policy);
            let before = state.levels.insert(s.id, level).flatten();
            if before != level {
                report.level_changes += 1;
                batch.level_changes.push(LevelChange {
                    event_id: s.id,
                    at: now,
                    from: before,
                    to: level,
                    heat: h,
                    reason: format!(
                        "heat {h:.0}, negativity {:.2}, risk {:.2}{}{}",
                        s.stats.negativity(),
                        s.stats.max_risk,
                        if s.stats.spikes.is_empty() {
                            String::new()
                        } else {
                            format!(", spike {}", s.stats.spikes.join(" "))
                        },
                        if s.stats.rumour { ", rumour signal" } else { "" }
                    ),
                });
            }
            batch.events.push(EventRow {
                id: s.id,
                title: s.title.clone(),
                title_post: Some(s.title_post),
                title_score: s.title_score,
                first_at: s.first_at,
                last_at: s.last_at,
                posts: i64::from(s.stats.posts),
                heat: h,
                level,
                rumour: s.stats.rumour,
                local: s.stats.local,
                departments: s.departments.clone(),
                topics: s.topics.clone(),
                townships: s.townships.clone(),
                keywords: s.keywords.clone(),
                stats: serde_json::to_string(&s.stats).unwrap_or_else(|_| "{}".into()),
                manual: None,
                status: "open".into(),
            });
            changed.push(EventView::of_snapshot(&s, level, h));
        }
        report.changed_events = changed.len() as u32;
        // Events a press officer opened by hand are routed like the others.
        for m in self.store.unrouted_manual_events(100).await? {
            changed.push(EventView::of_row(&m));
        }

        // Routing of the changed events that have a level.
        let leveled: Vec<&EventView> = changed.iter().filter(|e| e.level.is_some()).collect();
        let mut alerts: HashMap<(i64, String), AlertRow> = HashMap::new();
        if !leveled.is_empty() {
            let ids: Vec<i64> = leveled.iter().map(|e| e.id).collect();
            for a in self.store.alerts_of(&ids).await? {
                alerts.insert((a.event_id, a.receiver.clone()), a);
            }
            let window_start = now - Duration::hours(72);
            let mut active: Vec<ActiveEvent> = self
                .store
                .leveled_events(WarningLevel::Orange, window_start)
                .await?
                .iter()
                .map(|e| ActiveEvent {
                    event_id: e.id,
                    level: e.level.unwrap_or(WarningLevel::Blue),
                    townships: e.townships.clone(),
                    departments: e.departments.clone(),
                    topics: e.topics.clone(),
                })
                .collect();
            for e in &changed {
                active.retain(|a| a.event_id != e.id);
                if let Some(l) = e.level
                    && l >= WarningLevel::Orange
                {
                    active.push(ActiveEvent {
                        event_id: e.id,
                        level: l,
                        townships: e.townships.clone(),
                        departments: e.departments.clone(),
                        topics: e.topics.clone(),
                    });
                }
            }
            let silences: Vec<Silence> =
                self.store.silences(now, false).await?.iter().map(silence_of).collect();
            for e in leveled {
                let Some(level) = e.level else { continue };
                let decision = self.router.decide(&self.incident(e, level), &active, &silences, now);
                let added = joined.get(&e.id).copied().unwrap_or(0);
                for t in &decision.notify {
                    let a = alerts
                        .entry((e.id, t.receiver.clone()))
                        .or_insert_with(|| new_alert(e.id, level, t, now));
                    a.level = level;
                    a.muted = None;
                    if a.notified_level.is_some() {
                        a.new_posts += added;
                    }
                }
                for m in &decision.muted {
                    let a = alerts
                        .entry((e.id, m.target.receiver.clone()))
                        .or_insert_with(|| new_alert(e.id, level, &m.target, now));
                    a.level = level;
                    a.muted = Some(match m.reason {
                        yuqing_routing::MuteReason::Silenced { silence_id } => {
                            format!("silenced:{silence_id}")
                        }
                        yuqing_routing::MuteReason::Inhibited { by_event } => format!("inhibited:{by_event}"),
                    });
                    a.muted_count += 1;
                }
            }
        }
        let views: HashMap<i64, EventView> = changed.into_iter().map(|e| (e.id, e)).collect();

        // The ticker: alerts whose time has come (digests, repeats, escalations, group wait).
        for a in self.store.due_alerts(now, 500).await? {
            alerts.entry((a.event_id, a.receiver.clone())).or_insert(a);
        }
        let mut missing: Vec<i64> = alerts
            .keys()
            .map(|(e, _)| *e)
            .filter(|e| !views.contains_key(e))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut views = views;
        for id in missing.drain(..) {
            if let Some(row) = self.store.event(id).await? {
                views.insert(id, EventView::of_row(&row));
            }
        }
        let mut keys: Vec<(i64, String)> = alerts.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let Some(mut a) = alerts.remove(&key) else { continue };
            let Some(view) = views.get(&a.event_id) else { continue };
            self.fire(&mut a, view, now, &mut batch);
            batch.alerts.push(a);
        }
        report.deliveries = batch.deliveries.len() as u32;
        if batch == EventBatch::default() {
            return Ok(());
        }
        self.store.apply_events(&self.settings.worker, &batch, now).await
    }

    /// Decides what is due for one alert now and plans its messages.
    fn fire(&self, a: &mut AlertRow, e: &EventView, now: DateTime<Utc>, batch: &mut EventBatch) {
        let timing = timing_of(a);
        if a.muted.is_some() || a.resolved_at.is_some() {
            a.next_check_at = None;
            return;
        }
        let state = AlertState {
            level: a.level,
            notified_level: a.notified_level,
            created_at: a.created_at,
            last_notified_at: a.last_notified_at,
            new_posts: a.new_posts.clamp(0, u32::MAX as i64) as u32,
            acknowledged: a.acked_at.is_some(),
            resolved: false,
        };
        let (kind, next) = next_notice(&state, &timing, now);
        if let Some(kind) = kind {
            let before = a.notified_level;
            self.plan(a, e, kind, None, before, now, batch);
            a.notified_level = Some(a.level);
            a.last_notified_at = Some(now);
            a.first_notified_at.get_or_insert(now);
            a.notices += 1;
            a.new_posts = 0;
        }
        // Escalation while nobody has acknowledged.
        let mut next_escalation = None;
        if a.acked_at.is_none()
            && let Some(first) = a.first_notified_at
        {
            let step = a.escalation_step.max(0) as usize;
            if let Some((i, s)) = self.router.escalation_due(a.level, first, step, now) {
                let to = s.to.clone();
                self.plan(a, e, NoticeKind::Escalation, Some(to), a.notified_level, now, batch);
                a.escalation_step = i as i64 + 1;
                a.notices += 1;
            }
            next_escalation =
                self.router.next_escalation_at(a.level, first, a.escalation_step.max(0) as usize);
        }
        let (_, next_notice_at) = if kind.is_some() {
            let state = AlertState {
                notified_level: a.notified_level,
                last_notified_at: a.last_notified_at,
                new_posts: 0,
                ..state
            };
            next_notice(&state, &timing, now)
        } else {
            (None, next)
        };
        a.next_check_at = match (next_notice_at, next_escalation) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }

    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        a: &AlertRow,
        e: &EventView,
        kind: NoticeKind,
        escalate_to: Option<yuqing_routing::StepTarget>,
        before: Option<WarningLevel>,
        now: DateTime<Utc>,
        batch: &mut EventBatch,
    ) {
        let cfg = &self.router.config;
        let mut members = match &escalate_to {
            None => self.directory.members(cfg, &a.receiver),
            Some(yuqing_routing::StepTarget::Head) => {
                self.directory.heads(cfg, a.department.as_deref().unwrap_or(&a.receiver))
            }
            Some(yuqing_routing::StepTarget::Receiver(r)) => self.directory.members(cfg, r),
        };
        let mut lines = vec![format!("热度 {:.0} · {} 条 · {} 个来源", e.heat, e.posts, e.sources)];
        // Nobody to reach at this receiver: the press desk hears it instead (nothing unowned).
        let reachable =
            members.officials.iter().any(|o| !o.contacts.is_empty()) || !members.groups.is_empty();
        if !reachable && a.receiver != cfg.press_desk {
            members = self.directory.members(cfg, &cfg.press_desk);
            lines.push(format!("“{}”未配置接收人，由舆情值班台代收并转交", a.receiver));
        }
        match kind {
            NoticeKind::Upgrade => lines.insert(
                0,
                format!(
                    "预警升级：{} → {}",
                    before.map_or("无", |l| l.label()),
                    e.level.map_or("无", |l| l.label())
                ),
            ),
            NoticeKind::Digest => lines.insert(0, format!("新进展：自上次通知以来新增 {} 条", a.new_posts)),
            NoticeKind::Repeat => lines.insert(0, "尚未签收，请及时签收并研判".into()),
            NoticeKind::Escalation => lines.insert(0, format!("“{}”逾期未签收，逐级上报", a.receiver)),
            _ => {}
        }
        if !e.townships.is_empty() {
            lines.push(format!("涉及：{}", e.townships.join("、")));
        }
        if e.departments.len() > 1 {
            lines.push(format!("相关单位：{}", e.departments.join("、")));
        }
        if e.rumour {
            lines.push("含辟谣/否认信号，注意核实是否为不实信息".into());
        }
        if !e.local {
            lines.push("未提及本县地名（热度已下调）".into());
        }
        if let Some(n) = &a.note {
            lines.push(n.clone());
        }
        let link =
            self.settings.public_url.as_ref().map(|b| format!("{}/events/{}", b.trim_end_matches('/'), e.id));
        let level = e.level.unwrap_or(a.level);
        let department = a.department.clone().unwrap_or_else(|| a.receiver.clone());
        let mut push = |whom: &str, official: Option<&str>, channel: &str, to: Option<&str>, night: bool| {
            // One message per person and channel per event and kind in a pass, even when several
            // of the event's receivers fall back to the same desk.
            if batch.deliveries.iter().any(|d| {
                d.event_id == e.id
                    && d.kind == kind
                    && d.official.as_deref() == official
                    && d.channel == channel
                    && d.to.as_deref() == to
            }) {
                return;
            }
            let key = idempotency_key(e.id, &a.receiver, kind, a.notices, whom, channel);
            let msg = OutboundMessage {
                idempotency_key: key.clone(),
                channel: channel.to_owned(),
                to: to.map(str::to_owned),
                kind,
                title: e.title.clone(),
                level: Some(level.label().to_owned()),
                department: department.clone(),
                lines: lines.clone(),
                link: link.clone(),
                alert_ref: e.id.to_string(),
            };
            batch.deliveries.push(NewDelivery {
                event_id: e.id,
                receiver: a.receiver.clone(),
                idempotency_key: key,
                kind,
                official: official.map(str::to_owned),
                channel: channel.to_owned(),
                to: to.map(str::to_owned),
                message: serde_json::to_string(&msg).unwrap_or_default(),
                not_before: self.router.not_before(level, night, now),
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

    /// Runs passes until `shutdown`, as fast as there is work and every `idle` otherwise.
    pub async fn run(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let pause = match self.step(Utc::now()).await {
                Ok(r) if r.posts as usize >= self.settings.batch as usize => std::time::Duration::ZERO,
                Ok(_) => self.settings.idle,
                Err(e) => {
                    tracing::warn!(error = %e, "event builder pass failed; retrying");
                    self.settings.idle * 5
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

fn new_alert(event: i64, level: WarningLevel, t: &Target, now: DateTime<Utc>) -> AlertRow {
    AlertRow {
        id: 0,
        event_id: event,
        receiver: t.receiver.clone(),
        department: t.department.clone(),
        route: t.route.clone(),
        note: t.note.clone(),
        level,
        notified_level: None,
        muted: None,
        muted_count: 0,
        group_wait_secs: secs(t.timing.group_wait),
        group_interval_secs: secs(t.timing.group_interval),
        repeat_interval_secs: secs(t.timing.repeat_interval),
        created_at: now,
        first_notified_at: None,
        last_notified_at: None,
        notices: 0,
        new_posts: 0,
        escalation_step: 0,
        acked_at: None,
        acked_by: None,
        resolved_at: None,
        next_check_at: Some(now),
    }
}
