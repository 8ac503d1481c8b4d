//! Events, alerts and notifications at the command line, and their wiring into the service:
//! loading `routing.toml`, `officials.toml`, `channels.toml` and `events.toml`; the notifier with
//! the built-in `log` channel; the Telegram update poller (one process, by lease).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;
use yuqing_core::events::{EventFilter, EventStore, ManualInfo, SilenceMatch, SilenceRow};
use yuqing_core::notify::{Notifier, NotifyError, OutboundMessage, Receipt};
use yuqing_core::store::Store;
use yuqing_domain::{UnitKind, WarningLevel};
use yuqing_events::{LevelPolicy, SourceTier};
use yuqing_notify::{ChannelKind, Channels, Inbound, TelegramInbox};
use yuqing_pipeline::alerting::{AlertSettings, UnitFacts};
use yuqing_routing::{Directory, Router, RoutingConfig, UnitInfo};
use yuqing_store::SqlStore;

use crate::resources::Resources;

/// The built-in channel that writes messages to the service log.
pub const LOG_CHANNEL: &str = "log";

/// Everything alerting reads from the configuration folder.
#[derive(Debug)]
pub struct AlertingConfig {
    pub router: Router,
    pub directory: Directory,
    pub policy: LevelPolicy,
    pub units: HashMap<String, UnitFacts>,
}

/// Replaces every string `"${NAME}"` in a TOML document by the environment variable NAME.
fn expand_env(text: &str, file: &str) -> Result<String> {
    fn walk(v: &mut toml::Value, missing: &mut Vec<String>) {
        match v {
            toml::Value::String(s) => {
                if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                    match std::env::var(name) {
                        Ok(val) => *s = val,
                        Err(_) => missing.push(name.to_owned()),
                    }
                }
            }
            toml::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, missing)),
            toml::Value::Table(t) => t.iter_mut().for_each(|(_, x)| walk(x, missing)),
            _ => {}
        }
    }
    let mut doc: toml::Value = toml::from_str(text).with_context(|| format!("{file}: not valid TOML"))?;
    let mut missing = Vec::new();
    walk(&mut doc, &mut missing);
    if !missing.is_empty() {
        bail!("{file}: environment variables not set: {}", missing.join(", "));
    }
    toml::to_string(&doc).with_context(|| format!("{file}: cannot be rewritten"))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EventsFile {
    #[serde(default)]
    levels: Option<LevelPolicy>,
}

impl AlertingConfig {
    /// The alerting configuration and the channels (built once: they hold HTTP clients).
    pub fn load(res: &Resources) -> Result<(AlertingConfig, Channels)> {
        let county = res.county()?;
        let file = |name: &str| res.config.files.iter().find(|(p, _)| p == name).map(|(_, t)| t.as_str());
        let infos: Vec<UnitInfo> = county
            .units
            .iter()
            .map(|u| UnitInfo {
                name: u.name.clone(),
                full_name: u.full_name.clone(),
                jurisdiction: u.jurisdiction,
            })
            .collect();
        let units = county
            .units
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    UnitFacts { jurisdiction: u.jurisdiction, township: u.kind == UnitKind::Township },
                )
            })
            .collect();
        let routing_text = file("routing.toml").context("config/routing.toml is missing")?;
        let routing = RoutingConfig::parse("routing.toml", routing_text, &infos)
            .map_err(|e| anyhow::anyhow!("invalid routing configuration:\n{e}"))?;
        let channels = match file("channels.toml") {
            Some(t) => {
                let text = expand_env(t, "channels.toml")?;
                let doc: toml::Table = toml::from_str(&text).context("channels.toml")?;
                if doc.contains_key("channels") {
                    Channels::parse_toml(&text).map_err(|e| anyhow::anyhow!("channels.toml: {e}"))?
                } else {
                    Channels::from_config(BTreeMap::new())
                        .map_err(|e| anyhow::anyhow!("channels.toml: {e}"))?
                }
            }
            None => Channels::from_config(BTreeMap::new()).map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        if channels.kind(LOG_CHANNEL).is_some() {
            bail!("channels.toml: `{LOG_CHANNEL}` is the built-in log channel; name yours differently");
        }
        let mut names: BTreeSet<String> = channels.names().map(str::to_owned).collect();
        names.insert(LOG_CHANNEL.into());
        let directory = match file("officials.toml") {
            Some(t) => Directory::parse("officials.toml", t, &infos, &names)
                .map_err(|e| anyhow::anyhow!("invalid officials:\n{e}"))?,
            None => Directory::default(),
        };
        let policy = match file("events.toml") {
            Some(t) => toml::from_str::<EventsFile>(t).context("events.toml")?.levels.unwrap_or_default(),
            None => LevelPolicy::default(),
        };
        Ok((AlertingConfig { router: Router::new(routing), directory, policy, units }, channels))
    }

    /// The routing settings for this worker.
    pub fn settings(
        &self,
        worker: &str,
        tiers: HashMap<String, SourceTier>,
        public_url: Option<String>,
    ) -> AlertSettings {
        AlertSettings {
            worker: worker.to_owned(),
            lease_secs: 60,
            batch: 512,
            tiers,
            units: self.units.clone(),
            public_url,
            idle: std::time::Duration::from_millis(200),
        }
    }

    /// The receivers an official belongs to (their unit and the named receivers that list them).
    pub fn receivers_of(&self, official: &str) -> Vec<String> {
        let Some(o) = self.directory.official(official) else { return Vec::new() };
        let cfg = &self.router.config;
        let mut out = vec![o.unit.clone()];
        for name in cfg.receivers.keys() {
            if self.directory.members(cfg, name).officials.iter().any(|m| m.id == official) {
                out.push(name.clone());
            }
        }
        out
    }
}

/// The configured channels plus the built-in `log` channel.
#[derive(Debug)]
pub struct AppNotifier {
    pub channels: Channels,
}

impl Notifier for AppNotifier {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        if msg.channel == LOG_CHANNEL {
            tracing::info!(
                target: "yuqing::notice",
                kind = msg.kind.as_str(),
                level = msg.level.as_deref().unwrap_or("-"),
                department = %msg.department,
                key = %msg.idempotency_key,
                "{}｜{}",
                msg.title,
                msg.lines.join("；")
            );
            return Ok(Receipt::default());
        }
        self.channels.send(msg).await
    }
}

/// Polls the Telegram bot's updates while this process holds the `telegram` lease (two pollers
/// on one token get HTTP 409), and answers link codes, `/cases`, `/ack N` and the 签收 button.
pub async fn telegram_loop(
    store: Arc<SqlStore>,
    cfg: Arc<AlertingConfig>,
    mut inbox: TelegramInbox,
    worker: String,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        match store.take_lease("telegram", &worker, Utc::now(), 90).await {
            Ok(true) => {}
            Ok(false) => {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => continue,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "telegram lease");
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                continue;
            }
        }
        let updates = tokio::select! {
            _ = shutdown.cancelled() => return,
            u = inbox.poll() => u,
        };
        match updates {
            Ok(list) => {
                for u in list {
                    if let Err(e) = handle_inbound(store.as_ref(), &cfg, &inbox, u).await {
                        tracing::warn!(error = %e, "telegram update not handled");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "telegram getUpdates failed");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    }
}

/// Answers one Telegram update. A chat not linked to an official is refused everything but linking.
pub async fn handle_inbound<S: EventStore + yuqing_core::cases::CaseStore>(
    store: &S,
    cfg: &AlertingConfig,
    inbox: &TelegramInbox,
    u: Inbound,
) -> Result<()> {
    let now = Utc::now();
    let linked = |chat: i64| async move { store.official_of_chat(&chat.to_string()).await };
    match u {
        Inbound::Link { chat_id, code } => {
            let text = match store.use_link_code(&code, &chat_id.to_string(), now).await? {
                Some(o) => format!(
                    "已绑定：{}。之后的预警会发到这里。",
                    cfg.directory.official(&o).map_or(o.as_str(), |x| x.name.as_str())
                ),
                None => "绑定码无效或已过期，请向管理员重新获取。".into(),
            };
            inbox.reply(chat_id, &text).await?;
        }
        Inbound::Button { chat_id, callback_query_id, alert_ref } => {
            let text = match linked(chat_id).await? {
                None => "此会话未绑定，无权签收。".to_owned(),
                Some(o) => match alert_ref.parse::<i64>() {
                    Ok(event) => {
                        let n = store.ack_alerts(event, &cfg.receivers_of(&o), &o, now).await?;
                        audit(
                            store,
                            &format!("official:{o}"),
                            "alert.ack",
                            serde_json::json!({"event": event, "alerts": n, "via": "telegram"}),
                        )
                        .await?;
                        if n > 0 {
                            format!("已签收事件 #{event}")
                        } else {
                            format!("事件 #{event} 无待签收的预警")
                        }
                    }
                    Err(_) => "无法识别的按钮".into(),
                },
            };
            inbox.answer_button(&callback_query_id, &text).await?;
        }
        Inbound::Ack { chat_id, case_no } => {
            let text = match linked(chat_id).await? {
                None => "此会话未绑定，无权签收。".to_owned(),
                Some(o) => {
                    let n = store.ack_alerts(case_no, &cfg.receivers_of(&o), &o, now).await?;
                    audit(
                        store,
                        &format!("official:{o}"),
                        "alert.ack",
                        serde_json::json!({"event": case_no, "alerts": n, "via": "telegram"}),
                    )
                    .await?;
                    if n > 0 {
                        format!("已签收事件 #{case_no}")
                    } else {
                        format!("事件 #{case_no} 无待签收的预警")
                    }
                }
            };
            inbox.reply(chat_id, &text).await?;
        }
        Inbound::Cases { chat_id } => {
            let text = match linked(chat_id).await? {
                None => "此会话未绑定。".to_owned(),
                Some(o) => {
                    let mine = cfg.receivers_of(&o);
                    let open: Vec<String> = store
                        .list_alerts(200)
                        .await?
                        .into_iter()
                        .filter(|a| a.acked_at.is_none() && a.muted.is_none() && mine.contains(&a.receiver))
                        .take(20)
                        .map(|a| {
                            format!(
                                "#{} {} 预警 · {}",
                                a.event_id,
                                a.level.label(),
                                a.department.unwrap_or(a.receiver)
                            )
                        })
                        .collect();
                    if open.is_empty() { "没有待签收的事件。".into() } else { open.join("\n") }
                }
            };
            inbox.reply(chat_id, &text).await?;
        }
        Inbound::Help { chat_id } | Inbound::Unknown { chat_id, .. } => {
            inbox
                .reply(chat_id, "命令：/cases 待办事件；/ack N 签收事件 N；/link 绑定码 绑定本会话。")
                .await?;
        }
    }
    Ok(())
}

/// The Telegram channels configured (the first one is polled for updates).
pub fn telegram_channels(channels: &Channels) -> Vec<String> {
    channels.names().filter(|n| channels.kind(n) == Some(ChannelKind::Telegram)).map(str::to_owned).collect()
}

// ---------------------------------------------------------------- CLI

#[derive(Debug, Args)]
pub struct Db {
    #[arg(long)]
    database: Option<String>,
    #[arg(long)]
    data: Option<PathBuf>,
}

impl Db {
    pub(crate) fn run<T>(&self, f: impl AsyncFnOnce(SqlStore) -> Result<T>) -> Result<T> {
        let url = crate::run::database_url(self.database.as_deref(), self.data.as_deref())?;
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().context("async runtime")?;
        rt.block_on(async {
            let store = SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?;
            store.migrate().await?;
            f(store).await
        })
    }
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events at this level or above (blue, yellow, orange, red, or 蓝/黄/橙/红).
    #[arg(long)]
    level: Option<String>,
    /// Only events concerning this unit (name as in departments.toml).
    #[arg(long)]
    department: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: Db,
}

fn level_arg(s: Option<&str>) -> Result<Option<WarningLevel>> {
    s.map(|l| WarningLevel::parse(l).map_err(|e| anyhow::anyhow!("{e}"))).transpose()
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
}

pub fn events(a: &EventsArgs) -> Result<ExitCode> {
    let filter = EventFilter {
        min_level: level_arg(a.level.as_deref())?,
        department: a.department.clone(),
        limit: a.limit,
    };
    a.db.run(async |store| {
        let list = store.list_events(&filter).await?;
        for e in list {
            let stats: yuqing_events::EventStats = serde_json::from_str(&e.stats).unwrap_or_default();
            if a.json {
                out!(
                    "{}",
                    serde_json::json!({
                        "id": e.id, "title": e.title, "level": e.level.map(|l| l.as_str()), "heat": e.heat,
                        "posts": e.posts, "copies": stats.reposts, "sources": stats.sources.len(),
                        "engagement": stats.engagement, "departments": e.departments, "townships": e.townships,
                        "rumour": e.rumour, "first_at": e.first_at, "last_at": e.last_at,
                        "manual": e.manual.is_some(),
                    })
                );
            } else {
                out!(
                    "#{:<6} {} {:>5.1} {:>5} 条 +{:<4} 转载  {}  {}  [{}]{}",
                    e.id,
                    e.level.map_or("－", |l| l.label()),
                    e.heat,
                    e.posts,
                    stats.reposts,
                    fmt_time(e.last_at),
                    e.title.chars().take(40).collect::<String>(),
                    e.departments.join("、"),
                    if e.rumour { " ⚠辟谣信号" } else { "" }
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// An event: its posts, heat, level changes, the rules that fired, its alerts.
    Show {
        id: i64,
        #[arg(long, default_value_t = 50)]
        posts: u32,
        #[command(flatten)]
        db: Db,
    },
    /// Open an event by hand: a phone report, a task from a superior (上级交办) or a leader's
    /// instruction (领导批示). It is routed like any other event at the level given.
    Open {
        #[arg(long)]
        title: String,
        /// phone | superior | instruction | other
        #[arg(long, default_value = "phone")]
        kind: String,
        /// Who reported it (caller, superior office, leader).
        #[arg(long)]
        source: String,
        /// What was reported.
        #[arg(long)]
        text: String,
        /// Responsible unit(s), lead first.
        #[arg(long = "department")]
        departments: Vec<String>,
        #[arg(long, default_value = "blue")]
        level: String,
        /// Who opens it (press officer id).
        #[arg(long)]
        by: String,
        #[command(flatten)]
        db: Db,
    },
}

pub fn event(res: &Resources, c: &EventCommand) -> Result<ExitCode> {
    match c {
        EventCommand::Show { id, posts, db } => db.run(async |store| {
            let Some(e) = store.event(*id).await? else { bail!("no event {id}") };
            out!("事件 #{}  {}", e.id, e.title);
            out!(
                "级别 {}  热度 {:.1}  {} 条  {} → {}  {}",
                e.level.map_or("无", |l| l.label()),
                e.heat,
                e.posts,
                fmt_time(e.first_at),
                fmt_time(e.last_at),
                if e.local { "本县" } else { "未提及本县地名" }
            );
            if let Some(m) = &e.manual {
                out!("人工立项：{}（{}），{}；{}", m.kind, m.source, m.opened_by, m.text);
            }
            out!("单位：{}", e.departments.join("、"));
            if !e.townships.is_empty() {
                out!("乡镇：{}", e.townships.join("、"));
            }
            if e.rumour {
                out!("⚠ 含辟谣/否认信号：可能为不实信息，请核实");
            }
            let kws: Vec<String> = e.keywords.iter().take(10).map(|(k, _)| k.clone()).collect();
            out!("关键词：{}", kws.join(" "));
            let stats: yuqing_events::EventStats = serde_json::from_str(&e.stats).unwrap_or_default();
            out!(
                "来源 {} 个 · 转载 {} · 互动 {} · 负面 {:.2} · 风险 {:.2}{}",
                stats.sources.len(),
                stats.reposts,
                stats.engagement,
                stats.negativity(),
                stats.max_risk,
                if stats.spikes.is_empty() {
                    String::new()
                } else {
                    format!(" · 突增 {}", stats.spikes.join(" "))
                }
            );
            out!("\n级别变化：");
            for c in store.level_changes(*id).await? {
                out!(
                    "  {}  {} → {}  ({})",
                    fmt_time(c.at),
                    c.from.map_or("无", |l| l.label()),
                    c.to.map_or("无", |l| l.label()),
                    c.reason
                );
            }
            out!("\n帖子：");
            let mut rules: BTreeMap<String, usize> = BTreeMap::new();
            for p in store.event_posts(*id, *posts).await? {
                out!(
                    "  {}  [{}] {}  {}  {}",
                    p.post_id,
                    p.via,
                    fmt_time(p.time),
                    p.source_id,
                    p.title.chars().take(50).collect::<String>()
                );
                if let Some(a) =
                    p.analysis.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
                {
                    for d in a["departments"].as_array().into_iter().flatten() {
                        for t in d["topics"].as_array().into_iter().flatten() {
                            let words: Vec<&str> = t["evidence"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|e| e["word"].as_str())
                                .collect();
                            *rules
                                .entry(format!(
                                    "{} {}（{}）",
                                    d["name"].as_str().unwrap_or("?"),
                                    t["id"].as_str().unwrap_or("?"),
                                    words.join("、")
                                ))
                                .or_default() += 1;
                        }
                    }
                }
            }
            out!("\n命中规则：");
            let mut rules: Vec<(String, usize)> = rules.into_iter().collect();
            rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (r, n) in rules.iter().take(15) {
                out!("  {n:>4} × {r}");
            }
            out!("\n预警：");
            for a in store.alerts_of(&[*id]).await? {
                out!("{}", alert_line(&a));
            }
            Ok(ExitCode::SUCCESS)
        }),
        EventCommand::Open { title, kind, source, text, departments, level, by, db } => {
            if !matches!(kind.as_str(), "phone" | "superior" | "instruction" | "other") {
                bail!("--kind {kind:?}: phone, superior, instruction or other");
            }
            let level = WarningLevel::parse(level).map_err(|e| anyhow::anyhow!("{e}"))?;
            let county = res.county()?;
            for d in departments {
                if !county.units.iter().any(|u| &u.name == d) {
                    bail!("--department {d:?} is not a unit of departments.toml");
                }
            }
            if title.trim().is_empty() || text.trim().is_empty() || source.trim().is_empty() {
                bail!("--title, --source and --text must not be empty");
            }
            let manual = ManualInfo {
                kind: kind.clone(),
                source: source.clone(),
                text: text.clone(),
                opened_by: by.clone(),
            };
            db.run(async |store| {
                let id =
                    store.open_manual_event(title, &manual, departments, Some(level), Utc::now()).await?;
                audit(&store, by, "event.open", serde_json::json!({
                    "event": id, "title": title, "kind": kind, "source": source, "level": level.as_str(), "departments": departments,
                }))
                .await?;
                out!("{id}");
                eprintln!("event #{id} opened; the running service routes it within seconds");
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

fn alert_line(a: &yuqing_core::events::AlertRow) -> String {
    format!(
        "  #{:<5} 事件 {:<6} {} {:<28} 通知 {} 次  {}{}{}",
        a.id,
        a.event_id,
        a.level.label(),
        a.receiver,
        a.notices,
        match (&a.acked_at, &a.acked_by) {
            (Some(t), Some(b)) => format!("已签收 {} {}", b, fmt_time(*t)),
            _ => "未签收".into(),
        },
        a.muted.as_ref().map(|m| format!("  静默({m}, {} 次)", a.muted_count)).unwrap_or_default(),
        if a.escalation_step > 0 { format!("  已升级 {} 级", a.escalation_step) } else { String::new() }
    )
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[command(flatten)]
    db: Db,
}

pub fn alerts(a: &AlertsArgs) -> Result<ExitCode> {
    a.db.run(async |store| {
        for x in store.list_alerts(a.limit).await? {
            out!("{}", alert_line(&x));
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// The event to acknowledge.
    event: i64,
    /// The official acknowledging (id in officials.toml): their unit's and groups' alerts.
    #[arg(long)]
    by: String,
    #[command(flatten)]
    db: Db,
}

pub fn ack(res: &Resources, a: &AckArgs) -> Result<ExitCode> {
    let (cfg, _) = AlertingConfig::load(res)?;
    if cfg.directory.official(&a.by).is_none() {
        bail!("--by {:?} is not an official of officials.toml", a.by);
    }
    let receivers = cfg.receivers_of(&a.by);
    a.db.run(async |store| {
        let n = store.ack_alerts(a.event, &receivers, &a.by, Utc::now()).await?;
        audit(
            &store,
            &format!("official:{}", a.by),
            "alert.ack",
            serde_json::json!({"event": a.event, "alerts": n}),
        )
        .await?;
        eprintln!("{n} alert(s) of event #{} acknowledged by {}", a.event, a.by);
        Ok(if n > 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Mute matching notifications for a while (with who and why).
    Add {
        #[arg(long = "department")]
        departments: Vec<String>,
        #[arg(long = "topic")]
        topics: Vec<String>,
        #[arg(long = "township")]
        townships: Vec<String>,
        #[arg(long)]
        event: Option<i64>,
        #[arg(long)]
        receiver: Option<String>,
        /// How long, e.g. 2h, 30m, 1d.
        #[arg(long, default_value = "2h")]
        duration: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        db: Db,
    },
    /// Silences not yet expired.
    List {
        #[command(flatten)]
        db: Db,
    },
    /// End a silence now.
    Expire {
        id: i64,
        #[command(flatten)]
        db: Db,
    },
}

pub fn silence(c: &SilenceCommand) -> Result<ExitCode> {
    match c {
        SilenceCommand::Add { departments, topics, townships, event, receiver, duration, by, reason, db } => {
            if departments.is_empty()
                && topics.is_empty()
                && townships.is_empty()
                && event.is_none()
                && receiver.is_none()
            {
                bail!(
                    "a silence needs at least one of --department, --topic, --township, --event, --receiver"
                );
            }
            if reason.trim().is_empty() {
                bail!("--reason must say why");
            }
            let d = humantime_duration(duration)?;
            let now = Utc::now();
            let row = SilenceRow {
                id: 0,
                matchers: SilenceMatch {
                    department: departments.clone(),
                    topic: topics.clone(),
                    township: townships.clone(),
                    max_level: None,
                },
                event_id: *event,
                receiver: receiver.clone(),
                creator: by.clone(),
                reason: reason.clone(),
                starts_at: now,
                ends_at: now + d,
                created_at: now,
            };
            db.run(async |store| {
                let id = store.add_silence(&row).await?;
                audit(&store, by, "silence.add", serde_json::json!({
                    "silence": id, "reason": reason, "event": event, "receiver": receiver, "ends_at": row.ends_at.to_rfc3339(),
                }))
                .await?;
                out!("{id}");
                eprintln!("silence {id} until {}", fmt_time(row.ends_at));
                Ok(ExitCode::SUCCESS)
            })
        }
        SilenceCommand::List { db } => db.run(async |store| {
            for s in store.silences(Utc::now(), true).await? {
                out!(
                    "{}\t{} → {}\t{}\t{}\t{}",
                    s.id,
                    fmt_time(s.starts_at),
                    fmt_time(s.ends_at),
                    serde_json::to_string(&s.matchers).unwrap_or_default()
                        + &s.event_id.map(|e| format!(" event={e}")).unwrap_or_default()
                        + &s.receiver.as_ref().map(|r| format!(" receiver={r}")).unwrap_or_default(),
                    s.creator,
                    s.reason
                );
            }
            Ok(ExitCode::SUCCESS)
        }),
        SilenceCommand::Expire { id, db } => db.run(async |store| {
            if !store.expire_silence(*id, Utc::now()).await? {
                bail!("no active silence {id}");
            }
            audit(&store, "operator", "silence.expire", serde_json::json!({"silence": id})).await?;
            eprintln!("silence {id} expired");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Appends a manual action to the audit log (its own transaction, right after the action).
async fn audit<S: yuqing_core::cases::CaseStore>(
    store: &S,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let entry = yuqing_core::cases::AuditEntry {
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        case_id: None,
        detail,
    };
    store.append_audit(&[entry]).await?;
    Ok(())
}

fn humantime_duration(s: &str) -> Result<Duration> {
    let d: std::time::Duration =
        s.parse::<humantime::Duration>().with_context(|| format!("{s:?} is not a duration"))?.into();
    Duration::from_std(d).context("duration too long")
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Only the deliveries given up on (rejected, or still failing after a day).
    #[arg(long)]
    failed: bool,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[command(flatten)]
    db: Db,
}

pub fn deliveries(a: &DeliveriesArgs) -> Result<ExitCode> {
    a.db.run(async |store| {
        for d in store.list_deliveries(a.failed, a.limit).await? {
            let state = if d.sent_at.is_some() {
                format!("sent {}", fmt_time(d.sent_at.unwrap_or(d.created_at)))
            } else if d.failed_at.is_some() {
                "FAILED".to_owned()
            } else if d.lease_owner.is_some() {
                "sending".to_owned()
            } else {
                format!("pending (next {})", fmt_time(d.not_before))
            };
            out!(
                "{}\talert {}\t{}\t{}\t{}{}\tattempts {}\t{}\t{}",
                d.id,
                d.alert_id,
                d.kind.as_str(),
                d.official.as_deref().unwrap_or("(group)"),
                d.channel,
                d.to.as_ref().map(|t| format!(":{t}")).unwrap_or_default(),
                d.attempts,
                state,
                d.last_error.as_deref().unwrap_or("")
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, Subcommand)]
pub enum OfficialCommand {
    /// Print a one-time code the official sends to the Telegram bot (`/link CODE`) to link their chat.
    LinkCode {
        /// The official's id in officials.toml.
        id: String,
        /// How long the code stays valid.
        #[arg(long, default_value = "24h")]
        valid: String,
        #[command(flatten)]
        db: Db,
    },
}

pub fn official(res: &Resources, c: &OfficialCommand) -> Result<ExitCode> {
    match c {
        OfficialCommand::LinkCode { id, valid, db } => {
            let (cfg, _) = AlertingConfig::load(res)?;
            if cfg.directory.official(id).is_none() {
                bail!("{id:?} is not an official of officials.toml");
            }
            let mut raw = [0u8; 9];
            getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let code: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            let until = Utc::now() + humantime_duration(valid)?;
            db.run(async |store| {
                store.add_link_code(&code, id, until).await?;
                out!("{code}");
                eprintln!("send `/link {code}` to the bot before {}; the code works once", fmt_time(until));
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use yuqing_testkit::{FixtureServer, Reply};

    const TOKEN: &str = "123:abc";

    fn json(body: &str) -> Reply {
        Reply::ok("application/json", body.to_owned())
    }

    fn message(chat: i64, text: &str, id: u32) -> String {
        format!(
            r#"{{"update_id":{id},"message":{{"message_id":{id},"date":1700000000,"chat":{{"id":{chat},"type":"private","first_name":"官"}},"text":"{text}"}}}}"#
        )
    }

    fn button(chat: i64, data: &str, id: u32) -> String {
        format!(
            r#"{{"update_id":{id},"callback_query":{{"id":"cb{id}","chat_instance":"ci","from":{{"id":{chat},"is_bot":false,"first_name":"官"}},"data":"{data}","message":{{"message_id":9,"date":1700000000,"chat":{{"id":{chat},"type":"private","first_name":"官"}},"text":"alert"}}}}}}"#
        )
    }

    /// The bot's texts, in order (replies and button answers).
    fn answers(s: &FixtureServer) -> Vec<String> {
        s.log()
            .iter()
            .filter(|l| l.path.contains("/SendMessage") || l.path.contains("/AnswerCallbackQuery"))
            .map(|l| {
                serde_json::from_slice::<serde_json::Value>(&l.body).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn telegram_links_once_refuses_unlinked_chats_and_acknowledges() {
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let res = Resources::load(Some(&config), None).unwrap();
        let (cfg, _) = AlertingConfig::load(&res).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::connect(&format!("sqlite://{}/y.db", dir.path().display())).await.unwrap();
        store.migrate().await.unwrap();
        let now = Utc::now();
        // an event with an alert for the housing bureau
        assert!(store.take_lease("events", "w", now, 60).await.unwrap());
        let manual = ManualInfo {
            kind: "phone".into(),
            source: "s".into(),
            text: "t".into(),
            opened_by: "press-duty".into(),
        };
        let event = store
            .open_manual_event("停暖", &manual, &["住房和城乡建设局".into()], Some(WarningLevel::Blue), now)
            .await
            .unwrap();
        let alerting = yuqing_pipeline::alerting::Alerting::new(
            Arc::new(store.clone()),
            cfg.router.clone(),
            cfg.directory.clone(),
            cfg.policy.clone(),
            cfg.settings("w", HashMap::new(), None),
        );
        alerting.step(now).await.unwrap();
        assert!(!store.alerts_of(&[event]).await.unwrap().is_empty());
        store.add_link_code("code1", "housing-officer", now + Duration::hours(1)).await.unwrap();

        let s = FixtureServer::start().await;
        let updates = [
            button(77, &format!("ack:{event}"), 1),
            message(77, "/ack 1", 2),
            message(42, "/link code1", 3),
            message(77, "/link code1", 4),
            message(42, "/cases", 5),
            button(42, &format!("ack:{event}"), 6),
            message(42, &format!("/ack {event}"), 7),
        ];
        s.sequence(
            &format!("/bot{TOKEN}/GetUpdates"),
            vec![
                json(&format!(r#"{{"ok":true,"result":[{}]}}"#, updates.join(","))),
                json(r#"{"ok":true,"result":[]}"#),
            ],
        );
        s.route(
            &format!("/bot{TOKEN}/SendMessage"),
            json(r#"{"ok":true,"result":{"message_id":100,"date":1700000000,"chat":{"id":42,"type":"private","first_name":"官"},"text":"x"}}"#),
        );
        s.route(&format!("/bot{TOKEN}/AnswerCallbackQuery"), json(r#"{"ok":true,"result":true}"#));
        let channels = Channels::parse_toml(&format!(
            "[channels.tg]\ntype = \"telegram\"\ntoken = \"{TOKEN}\"\nbase_url = \"{}\"\n",
            s.url("")
        ))
        .unwrap();
        let mut inbox = channels.telegram_inbox("tg", std::time::Duration::from_secs(1)).unwrap().unwrap();
        for u in inbox.poll().await.unwrap() {
            handle_inbound(&store, &cfg, &inbox, u).await.unwrap();
        }
        let said = answers(&s);
        assert_eq!(said.len(), 7, "{said:?}");
        assert!(
            said[0].contains("未绑定") && said[1].contains("未绑定"),
            "unlinked chats are refused: {said:?}"
        );
        assert!(said[2].starts_with("已绑定：住建局舆情联络员"), "{said:?}");
        assert!(said[3].contains("无效或已过期"), "a code works once: {said:?}");
        assert!(said[4].contains(&format!("#{event}")), "/cases lists the open alert: {said:?}");
        assert_eq!(said[5], format!("已签收事件 #{event}"));
        assert!(said[6].contains("无待签收"), "already acknowledged: {said:?}");
        let alerts = store.alerts_of(&[event]).await.unwrap();
        let mine = alerts.iter().find(|a| a.receiver == "住房和城乡建设局").unwrap();
        assert_eq!(mine.acked_by.as_deref(), Some("housing-officer"));
        assert_eq!(store.official_of_chat("42").await.unwrap().as_deref(), Some("housing-officer"));
    }
}
