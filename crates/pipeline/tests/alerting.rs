//! Events, routing, grouping, escalation and delivery end to end on SQLite, with the shipped
//! county configuration and analyzer, simulated time (every step takes `now`) and a local webhook
//! collector.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, TimeZone, Utc};
use yuqing_core::Item;
use yuqing_core::events::{EventFilter, EventStore, ManualInfo};
use yuqing_core::store::Store;
use yuqing_domain::{NoticeKind, UnitKind, WarningLevel};
use yuqing_events::LevelPolicy;
use yuqing_notify::Channels;
use yuqing_pipeline::alerting::{AlertSettings, Alerting, UnitFacts};
use yuqing_pipeline::deliver::{DeliverSettings, Deliverer};
use yuqing_routing::{Directory, Router, RoutingConfig, UnitInfo};
use yuqing_store::SqlStore;
use yuqing_testkit::{FixtureServer, Reply, read_tree, shipped_analyzer};

fn analyzer() -> &'static yuqing_analysis::Analyzer {
    static A: OnceLock<yuqing_analysis::Analyzer> = OnceLock::new();
    A.get_or_init(shipped_analyzer)
}

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

const OFFICIALS: &str = r#"
[[official]]
id = "press-duty"
name = "值班员"
unit = "宣传部"
role = "press"
night = true
contacts = [{ channel = "hook", to = "press-duty" }]
[[official]]
id = "water-officer"
name = "水利局联络员"
unit = "水利局"
role = "officer"
contacts = [{ channel = "hook", to = "water-officer" }]
[[official]]
id = "water-head"
name = "水利局局长"
unit = "水利局"
role = "head"
contacts = [{ channel = "hook", to = "water-head" }]
[[official]]
id = "housing-officer"
name = "住建局联络员"
unit = "住房和城乡建设局"
role = "officer"
contacts = [{ channel = "hook", to = "housing-officer" }]
[[official]]
id = "housing-head"
name = "住建局局长"
unit = "住房和城乡建设局"
role = "head"
contacts = [{ channel = "hook", to = "housing-head" }]
[[official]]
id = "leader"
name = "副县长"
unit = "县人民政府办公室"
role = "leader"
night = true
contacts = [{ channel = "hook", to = "leader" }]
"#;

struct Setup {
    store: Arc<SqlStore>,
    router: Router,
    directory: Directory,
    units: HashMap<String, UnitFacts>,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let files = read_tree(&config_dir(), "toml").unwrap();
    let county = yuqing_analysis::config::load(files.iter().map(|(p, t)| (p.as_str(), t.as_str()))).unwrap();
    let infos: Vec<UnitInfo> = county
        .units
        .iter()
        .map(|u| UnitInfo {
            name: u.name.clone(),
            full_name: u.full_name.clone(),
            jurisdiction: u.jurisdiction,
        })
        .collect();
    let routing = files.iter().find(|(p, _)| p == "routing.toml").unwrap();
    let router = Router::new(RoutingConfig::parse("routing.toml", &routing.1, &infos).unwrap());
    let channels = ["hook".to_string()].into_iter().collect();
    let directory = Directory::parse("officials.toml", OFFICIALS, &infos, &channels).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&format!("sqlite://{}/y.db", dir.path().display())).await.unwrap();
    store.migrate().await.unwrap();
    Setup { store: Arc::new(store), router, directory, units, _dir: dir }
}

impl Setup {
    fn alerting(&self, worker: &str) -> Alerting<SqlStore> {
        Alerting::new(
            self.store.clone(),
            self.router.clone(),
            self.directory.clone(),
            LevelPolicy::default(),
            AlertSettings {
                worker: worker.into(),
                lease_secs: 60,
                batch: 512,
                tiers: HashMap::new(),
                units: self.units.clone(),
                public_url: Some("https://yuqing.example".into()),
                idle: std::time::Duration::from_millis(50),
            },
        )
    }

    async fn ingest(&self, items: Vec<Item>, now: DateTime<Utc>) {
        let posts = yuqing_pipeline::prepare(analyzer(), "test", items);
        self.store.ingest(&posts, now).await.unwrap();
    }

    /// `(official, kind)` → count of queued messages.
    async fn queued(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for d in self.store.list_deliveries(false, 100_000).await.unwrap() {
            *out.entry((d.official.unwrap_or_default(), d.kind.as_str().to_owned())).or_default() += 1;
        }
        out
    }
}

/// The shipped working-day calendar and clock templates.
fn case_config() -> (yuqing_cases::Calendar, yuqing_cases::ClockTemplates) {
    let files: Vec<(String, String)> = std::fs::read_dir(config_dir().join("calendar"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    let calendar =
        yuqing_cases::Calendar::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str()))).unwrap();
    let clocks = yuqing_cases::ClockTemplates::parse(
        "clocks.toml",
        &std::fs::read_to_string(config_dir().join("clocks.toml")).unwrap(),
    )
    .unwrap();
    (calendar, clocks)
}

/// Wednesday 2026-11-25 10:30 Beijing time: office hours.
fn t0() -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai.with_ymd_and_hms(2026, 11, 25, 10, 30, 0).unwrap().with_timezone(&Utc)
}

fn item(id: &str, source: &str, title: &str, body: &str, at: DateTime<Utc>) -> Item {
    Item {
        id: id.into(),
        title: title.into(),
        body: body.into(),
        url: Some(format!("https://{source}.example/{id}")),
        source: source.into(),
        published_at: Some(at),
        fetched_at: at,
        author: None,
        author_verified_type: None,
        engagement: Default::default(),
        raw_sha256: String::new(),
        encoding: None,
        policy_document: false,
        source_type: "json_api".into(),
        raw: None,
    }
}

const STORY: &str = "那拉提镇喀拉苏村停水已经三天了，村里自来水管道冻裂，打供水站电话一直没人接，\
    老人孩子只能去河边挑水，希望水利局和镇政府尽快派人抢修恢复供水。";

fn traditional(s: &str) -> String {
    s.replace('镇', "鎮")
        .replace('经', "經")
        .replace('里', "裏")
        .replace('来', "來")
        .replace('冻', "凍")
        .replace('电', "電")
        .replace('话', "話")
        .replace('没', "沒")
        .replace('边', "邊")
        .replace('县', "縣")
        .replace('复', "復")
        .replace('应', "應")
}

/// A repost as people write them: forwarding chains, truncation, hashtags, traditional script.
fn variant(i: usize) -> (String, String) {
    let names = ["阿依古丽", "牧民老王", "新源人", "草原上的风", "小李", "巴合提"];
    let body = match i % 6 {
        0 => STORY.to_owned(),
        1 => format!("//@{}: 转发 //@{}: {}", names[i % names.len()], names[(i + 1) % names.len()], STORY),
        2 => format!("{}…全文", STORY.chars().take(48 + i % 10).collect::<String>()),
        3 => format!("#新源身边事# #那拉提# {} 大家帮忙扩散！", STORY),
        4 => traditional(STORY),
        _ => format!("求助：{} （第{}次反映）", STORY, i / 6 + 1),
    };
    (format!("喀拉苏村停水求助 {}", ["", "转发", "扩散", "急"][i % 4]), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn varied_reposts_form_one_event_that_exact_duplicates_alone_would_not() {
    let s = setup().await;
    let mut items = Vec::new();
    for i in 0..12 {
        let (title, body) = variant(i);
        // different sources, spread over two days
        items.push(item(
            &format!("r{i}"),
            ["weibo", "forum", "news"][i % 3],
            &title,
            &body,
            t0() + Duration::hours(i as i64 * 4),
        ));
    }
    items.push(item(
        "other",
        "forum",
        "县城小区暖气不热",
        "新源镇天山街某小区暖气片冰凉，物业推诿，住建局能否督促供热公司？",
        t0(),
    ));
    s.ingest(items, t0() + Duration::days(2)).await;
    // the store keeps them as separate posts: their texts differ
    let stored = s.store.count_posts().await.unwrap();
    assert!(stored >= 10, "only {stored} posts stored: the variants were not different enough");
    let a = s.alerting("w1");
    let r = a.step(t0() + Duration::days(2)).await.unwrap();
    assert_eq!(r.posts as u64, stored);
    let events = s.store.list_events(&EventFilter { limit: 100, ..EventFilter::default() }).await.unwrap();
    assert_eq!(events.len(), 2, "{:#?}", events.iter().map(|e| (&e.title, e.posts)).collect::<Vec<_>>());
    let story = events.iter().find(|e| e.title.contains("停水")).unwrap();
    assert_eq!(story.posts as u64, stored - 1);
    assert!(story.townships.iter().any(|t| t == "那拉提镇"), "{:?}", story.townships);
    assert!(story.departments.iter().any(|d| d == "水利局"), "{:?}", story.departments);
    // how they joined: not only as store-level near-duplicates
    let posts = s.store.event_posts(story.id, 100).await.unwrap();
    let vias: std::collections::BTreeSet<&str> = posts.iter().map(|p| p.via.as_str()).collect();
    assert!(vias.contains("new") && vias.len() >= 2, "{vias:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_reposts_is_one_event_with_one_notification_per_receiver_and_digests() {
    let s = setup().await;
    let a = s.alerting("w1");
    // 500 reposts over two hours, arriving in 20 crawls
    for chunk in 0..20 {
        let at = t0() + Duration::minutes(chunk * 6);
        let items = (0..25)
            .map(|j| {
                let i = (chunk * 25 + j) as usize;
                let (title, body) = variant(i);
                item(
                    &format!("b{i}"),
                    ["weibo", "forum", "news", "wechat"][i % 4],
                    &title,
                    &format!("{body}{}", "！".repeat(i % 7)),
                    at,
                )
            })
            .collect();
        s.ingest(items, at).await;
        a.step(at + Duration::seconds(1)).await.unwrap();
    }
    let events = s.store.list_events(&EventFilter { limit: 10, ..EventFilter::default() }).await.unwrap();
    assert_eq!(events.len(), 1, "{:?}", events.iter().map(|e| (&e.title, e.posts)).collect::<Vec<_>>());
    let e = &events[0];
    assert!(e.level.is_some());
    let q = s.queued().await;
    let news: Vec<&(String, String)> = q.keys().filter(|(_, k)| k == "new").collect();
    // one first notification per receiver's official, never one per repost
    for ((official, kind), n) in &q {
        if kind == "new" {
            assert_eq!(*n, 1, "{official} got {n} first notifications");
        }
    }
    assert!(news.iter().any(|(o, _)| o == "water-officer"), "{q:?}");
    let digests: usize =
        q.iter().filter(|((o, k), _)| o == "water-officer" && k == "digest").map(|(_, n)| *n).sum();
    assert!((1..=4).contains(&digests), "digests every 30 minutes over two hours: {digests}");
    let total: usize = q.values().sum();
    assert!(total < 60, "{total} messages for 500 reposts: {q:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_manual_event_escalates_until_acknowledged_across_a_restart() {
    let s = setup().await;
    let manual = ManualInfo {
        kind: "instruction".into(),
        source: "县委书记批示".into(),
        text: "县城供热管网爆管，多个小区停暖，请住建局立即处置".into(),
        opened_by: "press-duty".into(),
    };
    let id = s
        .store
        .open_manual_event(
            "县城供热管网爆管停暖",
            &manual,
            &["住房和城乡建设局".into()],
            Some(WarningLevel::Red),
            t0(),
        )
        .await
        .unwrap();
    let a = s.alerting("w1");
    a.step(t0()).await.unwrap();
    let q = s.queued().await;
    for who in ["housing-officer", "press-duty", "leader"] {
        assert_eq!(q.get(&(who.into(), "new".into())), Some(&1), "{who}: {q:?}");
    }
    assert!(!q.keys().any(|(o, _)| o == "housing-head"), "{q:?}");
    // group wait/repeat: nothing new 10 minutes later
    a.step(t0() + Duration::minutes(10)).await.unwrap();
    assert_eq!(s.queued().await, q);
    // 15 minutes unacknowledged: the head of the unit
    a.step(t0() + Duration::minutes(16)).await.unwrap();
    assert_eq!(s.queued().await.get(&("housing-head".into(), "escalation".into())), Some(&1));
    // a restart: a new process takes over when the lease runs out and goes on from the database
    drop(a);
    let b = s.alerting("w2");
    let r = b.step(t0() + Duration::minutes(16) + Duration::seconds(30)).await.unwrap();
    assert!(!r.leader, "the first process's lease still runs");
    b.step(t0() + Duration::minutes(32)).await.unwrap();
    let q = s.queued().await;
    assert!(q.contains_key(&("leader".into(), "escalation".into())), "30 minutes: county leadership: {q:?}");
    // acknowledged: no repeats, no further escalation
    assert!(s.store.ack_alerts(id, &[], "housing-officer", t0() + Duration::minutes(40)).await.unwrap() > 0);
    let before = s.queued().await;
    b.step(t0() + Duration::hours(6)).await.unwrap();
    assert_eq!(s.queued().await, before);
    // without the acknowledgement a repeat would have gone out after 4 hours: check on a twin
    let twin = s
        .store
        .open_manual_event(
            "另一起爆管",
            &manual,
            &["住房和城乡建设局".into()],
            Some(WarningLevel::Blue),
            t0() + Duration::hours(6),
        )
        .await
        .unwrap();
    b.step(t0() + Duration::hours(6)).await.unwrap();
    b.step(t0() + Duration::hours(10) + Duration::minutes(1)).await.unwrap();
    let repeats: Vec<_> = s
        .store
        .list_deliveries(false, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == NoticeKind::Repeat)
        .collect();
    assert!(
        !repeats.is_empty() && repeats.iter().all(|d| d.idempotency_key.contains(&format!("e{twin}-"))),
        "{repeats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_retries_retryable_failures_with_one_key_and_gives_up_on_rejections() {
    let s = setup().await;
    let server = FixtureServer::start().await;
    server.sequence("/hook", vec![Reply::status(500), Reply::status(503), Reply::new(200, "{}")]);
    server.route("/reject", Reply::status(400));
    let toml = format!(
        "[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"s3cret\"\nper_minute = 10000\n\n[channels.bad]\ntype = \"webhook\"\nurl = \"{}\"\nper_minute = 10000\n",
        server.url("/hook"),
        server.url("/reject")
    );
    let channels = Channels::parse_toml(&toml).unwrap();
    let manual = ManualInfo {
        kind: "phone".into(),
        source: "12345".into(),
        text: "停水".into(),
        opened_by: "press-duty".into(),
    };
    s.store
        .open_manual_event("停水", &manual, &["水利局".into()], Some(WarningLevel::Blue), t0())
        .await
        .unwrap();
    s.alerting("w1").step(t0()).await.unwrap();
    let queued = s.store.list_deliveries(false, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let d = Deliverer::new(
        s.store.clone(),
        Arc::new(channels),
        DeliverSettings { worker: "d1".into(), ..DeliverSettings::default() },
    );
    let now = t0() + Duration::seconds(1);
    assert_eq!(d.step(now).await.unwrap().retried, 1);
    assert_eq!(d.step(now).await.unwrap().claimed, 0, "not before its backoff");
    assert_eq!(d.step(now + Duration::seconds(6)).await.unwrap().retried, 1);
    assert_eq!(d.step(now + Duration::seconds(20)).await.unwrap().sent, 1);
    let log = server.log();
    let keys: Vec<&String> = log.iter().filter_map(|l| l.headers.get("idempotency-key")).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]), "one key across attempts: {keys:?}");
    let done = &s.store.list_deliveries(false, 10).await.unwrap()[0];
    assert!(done.sent_at.is_some());
    assert_eq!(done.attempts, 3);
    // the body is the rendered alert: title, level, department and the link
    let body: serde_json::Value = serde_json::from_slice(&log[2].body).unwrap();
    assert_eq!(body["title"], "停水");
    assert_eq!(body["level"], "蓝");
    assert_eq!(body["department"], "水利局");
    assert!(body["link"].as_str().unwrap().starts_with("https://yuqing.example/events/"));
    // a rejected message is not retried
    let rejected = yuqing_core::notify::OutboundMessage {
        channel: "bad".into(),
        ..serde_json::from_value(body).unwrap()
    };
    let out = yuqing_pipeline::deliver::outcome(
        yuqing_core::notify::Notifier::send(d_notifier(&toml).as_ref(), &rejected).await.map(|r| r.remote_id),
        done,
        &DeliverSettings::default(),
        now,
    );
    assert!(matches!(out, yuqing_core::events::DeliveryOutcome::Failed { .. }), "{out:?}");
    assert_eq!(server.hits("/reject"), 1);
}

fn d_notifier(toml: &str) -> Arc<Channels> {
    Arc::new(Channels::parse_toml(toml).unwrap())
}

/// Clock reminders and the breach escalation come from the database on an injected clock: a
/// restarted ticker (a new one on the same store) and a second ticker racing it fire each due
/// firing exactly once, counted in the audit log and in the outbox.
#[tokio::test]
async fn clock_reminders_and_breach_escalation_fire_once_across_a_restart() {
    use yuqing_cases::{Case, CaseKind};
    use yuqing_core::cases::{AuditEntry, CaseMeta, CaseStore, NewClock};
    use yuqing_pipeline::ticker::Ticker;

    let s = setup().await;
    let info = ManualInfo {
        kind: "leader".into(),
        source: "领导批示".into(),
        text: "停水".into(),
        opened_by: "desk".into(),
    };
    let event = s
        .store
        .open_manual_event("那拉提镇停水三天", &info, &["水利局".into()], Some(WarningLevel::Orange), t0())
        .await
        .unwrap();
    let bj = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let mut case = Case::open(0, CaseKind::Response, "水利局", "那拉提镇停水三天", t0().with_timezone(&bj));
    case.event_id = Some(event);
    let clock = |name: &str, hours: i64| NewClock {
        clock: name.into(),
        name: if name == "ack" { "签收".into() } else { "回应".into() },
        limit_text: format!("{hours} h"),
        started_at: t0(),
        due_at: t0() + Duration::hours(hours),
        warnings: vec![t0() + Duration::minutes(hours * 30), t0() + Duration::minutes(hours * 48)],
        escalate: true,
        count: true,
    };
    let meta =
        CaseMeta { level: Some(WarningLevel::Orange), opened_by: "desk".into(), ..CaseMeta::default() };
    let open = AuditEntry {
        at: t0(),
        actor: "system".into(),
        action: "case.open".into(),
        case_id: None,
        detail: serde_json::json!({}),
    };
    let id = s
        .store
        .open_case(&case, &meta, &[clock("ack", 1), clock("response", 48)], &[open], t0())
        .await
        .unwrap();
    let ticker = |w: &str| Ticker::new(s.store.clone(), s.router.clone(), s.directory.clone(), w, None);

    // 30 min: the ack clock's first warning, to the water bureau's officer (not yet the head).
    let r = ticker("t1").step(t0() + Duration::minutes(30)).await.unwrap();
    assert_eq!((r.fired, r.skipped), (1, 0));
    let q = s.queued().await;
    assert_eq!(q.get(&("water-officer".into(), "reminder".into())), Some(&1), "{q:?}");
    assert_eq!(q.get(&("water-head".into(), "reminder".into())), None, "{q:?}");

    // The ticker "restarts" (a new one on the same store) after downtime: at 3 h the ack
    // clock's second warning and its breach are both past and fire once each; two tickers race.
    let later = t0() + Duration::hours(3);
    let (t2, t3) = (ticker("t2"), ticker("t3"));
    let (a, b) = tokio::join!(t2.step(later), t3.step(later));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.fired + b.fired, 2, "{a:?} {b:?}");

    // Nothing more is due until the response clock's first warning at 24 h.
    assert_eq!(ticker("t4").step(later).await.unwrap().fired, 0);

    let q = s.queued().await;
    // The breach went to the head and the county leadership; each message once.
    assert_eq!(q.get(&("leader".into(), "reminder".into())), Some(&1), "{q:?}");
    assert_eq!(q.get(&("water-head".into(), "reminder".into())), Some(&1), "{q:?}");
    assert_eq!(q.get(&("water-officer".into(), "reminder".into())), Some(&2), "{q:?}");

    let audit = s.store.audit_rows(0, 100).await.unwrap();
    let firings: Vec<&str> =
        audit.iter().filter(|r| r.action.starts_with("clock.")).map(|r| r.action.as_str()).collect();
    assert_eq!(firings, ["clock.warning", "clock.warning", "clock.breach"]);
    assert_eq!(yuqing_core::cases::verify_chain(&audit), Ok(4));
    let view = s.store.case(id).await.unwrap().unwrap();
    let ack = view.clocks.iter().find(|k| k.clock == "ack").unwrap();
    assert!(ack.breached_at.is_some());
    let resp = view.clocks.iter().find(|k| k.clock == "response").unwrap();
    assert_eq!(resp.next_fire.as_deref(), Some("warning:1"));
    assert_eq!(resp.next_fire_at, Some(t0() + Duration::hours(24)));

    // After two days of downtime one pass catches up: the response clock's two warnings and its
    // breach, each once.
    let r = ticker("t5").step(t0() + Duration::hours(49)).await.unwrap();
    assert_eq!(r.fired, 3, "{r:?}");
    assert_eq!(ticker("t6").step(t0() + Duration::hours(50)).await.unwrap().fired, 0);
    let audit = s.store.audit_rows(0, 100).await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.action.starts_with("clock.")).count(), 6);
}

/// A new policy document opens one 政策解读 case with its 3-working-day clock from the document's
/// publication, once, whichever tracker sees it first.
#[tokio::test]
async fn a_policy_document_opens_an_interpretation_case_with_its_clock() {
    use yuqing_core::cases::CaseStore;
    use yuqing_pipeline::opening::InterpretationTracker;

    let s = setup().await;
    let mut doc = item(
        "doc1",
        "gov",
        "新源县人民政府关于印发《新源县城镇老旧小区改造实施方案》的通知",
        "各乡镇人民政府，县直各部门：现将《新源县城镇老旧小区改造实施方案》印发给你们，请认真贯彻执行。住房和城乡建设局牵头，负责小区供热、供水管网改造。",
        t0(),
    );
    doc.policy_document = true;
    s.ingest(vec![doc], t0()).await;
    s.alerting("w1").step(t0()).await.unwrap();
    let (calendar, clocks) = case_config();
    let tracker = |c: &yuqing_cases::Calendar| {
        InterpretationTracker::new(s.store.clone(), c.clone(), clocks.clone(), "县人民政府办公室")
    };
    let (a, b) = (tracker(&calendar), tracker(&calendar));
    let (x, y) = tokio::join!(a.step(t0()), b.step(t0()));
    assert_eq!(x.unwrap() + y.unwrap(), 1);
    assert_eq!(tracker(&calendar).step(t0()).await.unwrap(), 0);
    let case = s.store.case(1).await.unwrap().unwrap();
    assert_eq!(case.stored.case.kind, yuqing_cases::CaseKind::PolicyInterpretation);
    assert!(case.stored.case.title.contains("老旧小区改造"));
    assert_eq!(case.stored.case.lead_department, "住房和城乡建设局");
    let clock = case.clocks.iter().find(|k| k.clock == "interpretation").unwrap();
    // Wed 2026-11-25 10:30 + 3 working days: Thu, Fri, Mon → Mon 30 Nov, 24:00.
    assert_eq!(
        clock.due_at,
        chrono_tz::Asia::Shanghai.with_ymd_and_hms(2026, 11, 30, 23, 59, 59).unwrap().with_timezone(&Utc)
    );

    // An unrelated 解读 does not stop the clock; the interpretation of this document does.
    let t1 = t0() + Duration::days(2);
    s.ingest(vec![item("other", "gov", "《新源县河长制工作方案》政策解读", "图解。", t1)], t1).await;
    assert_eq!(tracker(&calendar).detect(t1).await.unwrap(), 0);
    s.ingest(
        vec![item(
            "interp",
            "gov",
            "一图读懂｜《新源县城镇老旧小区改造实施方案》政策解读",
            "改造范围、标准和资金。",
            t1,
        )],
        t1,
    )
    .await;
    assert_eq!(tracker(&calendar).detect(t1).await.unwrap(), 1);
    assert_eq!(tracker(&calendar).detect(t1).await.unwrap(), 0);
    let case = s.store.case(1).await.unwrap().unwrap();
    let clock = case.clocks.iter().find(|k| k.clock == "interpretation").unwrap();
    assert!(
        clock.stopped_at.is_some()
            && clock.stop_reason.as_deref().unwrap().contains("https://gov.example/interp")
    );
    assert!(clock.stopped_at.unwrap() <= clock.due_at, "on time");
}

/// 二次舆情: a published case whose event's heat rises again within the 72 h watch is reopened by
/// the system and its department told; after the watch, nothing happens.
#[tokio::test]
async fn a_second_wave_reopens_a_published_case() {
    use yuqing_cases::case::{
        Actor, Publication, PublicationKind, ReviewResult, ReviewSignOff, Role, Transition,
    };
    use yuqing_cases::{Case, CaseKind, CaseState, PublicationPolicy};
    use yuqing_core::cases::{CaseMeta, CaseStore};
    use yuqing_core::events::EventBatch;
    use yuqing_pipeline::ticker::Ticker;

    let s = setup().await;
    let info = ManualInfo {
        kind: "phone".into(),
        source: "12345".into(),
        text: "停水".into(),
        opened_by: "desk".into(),
    };
    let event =
        s.store.open_manual_event("喀拉苏村停水", &info, &["水利局".into()], None, t0()).await.unwrap();
    let bj = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let at = |m: i64| (t0() + Duration::minutes(m)).with_timezone(&bj);
    let mut case = Case::open(0, CaseKind::Response, "水利局", "喀拉苏村停水", at(0));
    case.event_id = Some(event);
    let meta = CaseMeta { opened_by: "desk".into(), ..CaseMeta::default() };
    let response = yuqing_core::cases::NewClock {
        clock: "response".into(),
        name: "回应".into(),
        limit_text: "48 h".into(),
        started_at: t0(),
        due_at: t0() + Duration::hours(48),
        warnings: vec![t0() + Duration::hours(24)],
        escalate: true,
        count: true,
    };
    let id = s.store.open_case(&case, &meta, &[response], &[], t0()).await.unwrap();
    let mut stored = s.store.case(id).await.unwrap().unwrap().stored;
    let officer = Actor::User { id: 1, name: "王芳".into(), role: Role::PressOfficer };
    let reviewer = Actor::User { id: 2, name: "李审".into(), role: Role::Reviewer };
    let text = "喀拉苏村供水管道已抢修完毕，今日已恢复供水。";
    let c = &mut stored.case;
    c.apply(Transition::Acknowledge, &officer, at(1)).unwrap();
    c.apply(Transition::Assess, &officer, at(2)).unwrap();
    c.apply(Transition::Draft { text: text.into() }, &officer, at(3)).unwrap();
    c.apply(Transition::Submit, &officer, at(4)).unwrap();
    let sign = ReviewSignOff::new("李审", "保密审查制度", ReviewResult::Approved, at(5)).unwrap();
    c.apply(Transition::Review(sign), &reviewer, at(5)).unwrap();
    let policy = PublicationPolicy::parse(
        "publication.toml",
        &std::fs::read_to_string(config_dir().join("publication.toml")).unwrap(),
    )
    .unwrap();
    let publication =
        Publication::new(PublicationKind::Response, "https://www.xinyuan.gov.cn/1.html", at(6)).unwrap();
    c.apply(Transition::Publish { check: policy.check(text).unwrap(), publication }, &officer, at(6))
        .unwrap();
    let revision = c.draft().unwrap().revision();
    stored.watch_until = Some(t0() + Duration::hours(72));
    stored.watch_heat = Some(20.0);
    s.store.save_case(&stored, 1, Some(revision), &[], &[], &[], t0()).await.unwrap();

    let ticker = Ticker::new(s.store.clone(), s.router.clone(), s.directory.clone(), "t1", None);
    let store = s.store.clone();
    let heat = |h: f32| {
        let store = store.clone();
        async move {
            let mut row = store.event(event).await.unwrap().unwrap();
            row.heat = h;
            assert!(store.take_lease("events", "heat", t0(), 86_400).await.unwrap());
            store
                .apply_events("heat", &EventBatch { events: vec![row], ..EventBatch::default() }, t0())
                .await
                .unwrap();
        }
    };
    // A small rise is not a second wave.
    heat(23.0).await;
    assert_eq!(ticker.step(t0() + Duration::hours(1)).await.unwrap().reopened, 0);
    heat(40.0).await;
    assert_eq!(ticker.step(t0() + Duration::hours(2)).await.unwrap().reopened, 1);
    let view = s.store.case(id).await.unwrap().unwrap();
    assert_eq!(view.stored.case.state(), CaseState::Assessing);
    assert!(view.stored.case.history().last().unwrap().note.contains("二次舆情"));
    // The answer is owed again: the response clock runs a new 48 h cycle from the reopening.
    let first = view.clocks.iter().find(|k| k.clock == "response").unwrap();
    assert_eq!(first.stop_reason.as_deref(), Some("reopened"));
    let again = view.clocks.iter().find(|k| k.clock == "response#2").unwrap();
    assert_eq!(again.due_at, t0() + Duration::hours(2) + Duration::hours(48));
    assert_eq!(again.next_fire_at, Some(t0() + Duration::hours(2) + Duration::hours(24)));
    let q = s.queued().await;
    assert_eq!(q.get(&("water-officer".into(), "reminder".into())), Some(&1), "{q:?}");
    // Reopened once: the watch is over.
    assert_eq!(ticker.step(t0() + Duration::hours(3)).await.unwrap().reopened, 0);
}

/// 自动立案: an event at the configured level gets one case for its lead department, with 签收 at
/// 30 min (orange) and 回应 48 h from the event's first detection; a lower level gets none.
#[tokio::test]
async fn an_orange_event_opens_one_case_by_policy() {
    use yuqing_core::cases::CaseStore;
    use yuqing_pipeline::opening::{AutoOpen, LevelOpener};

    let s = setup().await;
    let info = ManualInfo {
        kind: "phone".into(),
        source: "12345".into(),
        text: "停水".into(),
        opened_by: "desk".into(),
    };
    let orange = s
        .store
        .open_manual_event(
            "喀拉苏村停水",
            &info,
            &["水利局".into(), "那拉提镇人民政府".into()],
            Some(WarningLevel::Orange),
            t0(),
        )
        .await
        .unwrap();
    s.store
        .open_manual_event("路灯不亮", &info, &["城市管理局".into()], Some(WarningLevel::Yellow), t0())
        .await
        .unwrap();
    let (calendar, clocks) = case_config();
    let policy =
        AutoOpen::parse("cases.toml", &std::fs::read_to_string(config_dir().join("cases.toml")).unwrap())
            .unwrap();
    assert_eq!(policy.min_level, WarningLevel::Orange);
    let opener = |_: u8| LevelOpener::new(s.store.clone(), calendar.clone(), clocks.clone(), policy.clone());
    let (a, b) = (opener(1), opener(2));
    let now = t0() + Duration::minutes(5);
    let (x, y) = tokio::join!(a.step(now), b.step(now));
    assert_eq!(x.unwrap() + y.unwrap(), 1, "one case per event, whichever opener is first");
    assert_eq!(opener(3).step(now).await.unwrap(), 0);
    let view = s.store.case(1).await.unwrap().unwrap();
    assert_eq!(view.stored.case.event_id, Some(orange));
    assert_eq!(view.stored.case.lead_department, "水利局");
    assert_eq!(view.stored.case.co_departments, ["那拉提镇人民政府"]);
    let ack = view.clocks.iter().find(|k| k.clock == "ack").unwrap();
    assert_eq!(ack.due_at, now + Duration::minutes(30));
    let resp = view.clocks.iter().find(|k| k.clock == "response").unwrap();
    assert_eq!(resp.due_at, t0() + Duration::hours(48));
    assert!(s.store.case(2).await.unwrap().is_none(), "a yellow event opens no case");
    assert!(
        AutoOpen::parse("cases.toml", "[auto_open]\nmin_level = \"purple\"\nkind = \"response\"\n")
            .unwrap_err()
            .contains("min_level")
    );
}
