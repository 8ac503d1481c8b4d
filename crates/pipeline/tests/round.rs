//! The loop end to end on SQLite: a fixture feed is claimed, polled, analysed and stored with its
//! cursor; the next round finds nothing new; a second worker never gets a source that is held.

use std::sync::Arc;

use chrono::{Duration, Utc};
use yuqing_core::store::Store;
use yuqing_pipeline::{Pipeline, Reschedule, Settings};
use yuqing_sources::fetch::{FetchDefaults, Politeness};
use yuqing_sources::{ConfiguredSource, config};
use yuqing_store::SqlStore;
use yuqing_testkit::{FixtureServer, Reply, shipped_analyzer};

const RSS: &str = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>新源县小区暖气不热，住户投诉多日无人管</title><link>http://news.example/1.html</link>
<description>新源县某小区暖气片冰凉，物业推诿，住建局能否督促供热公司尽快解决？</description></item>
<item><title>那拉提镇牧民定居点道路结冰</title><link>http://news.example/2.html</link>
<description>道路结冰，出行困难。</description></item>
</channel></rss>"#;

/// The sources of one configuration file, sharing one politeness.
fn configured(toml: String, fetch: FetchDefaults) -> Vec<Arc<ConfiguredSource>> {
    let cfg = config::parse(&[("t.toml".into(), toml)]).expect("test configuration parses");
    let pol = Politeness::new(fetch).expect("politeness builds");
    cfg.sources
        .into_iter()
        .map(|s| Arc::new(ConfiguredSource::new(s, pol.clone()).expect("source builds")))
        .collect()
}

/// A migrated SQLite store in `dir`.
async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<SqlStore> {
    let store =
        SqlStore::connect(&format!("sqlite://{}/y.db", dir.path().display())).await.expect("store opens");
    store.migrate().await.expect("store migrates");
    Arc::new(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_stores_posts_with_their_cursor_and_the_next_finds_nothing_new() {
    let server = FixtureServer::start().await;
    server.route("/rss.xml", Reply::ok("application/rss+xml", RSS));
    let toml = format!(
        "[[source]]\nid = \"news\"\nname = \"新闻\"\ntype = \"feed\"\nurl = \"{}\"\nschedule = {{ every_secs = 600 }}\nfetch = {{ allow_private_addresses = true }}\n",
        server.url("/rss.xml")
    );
    let sources = configured(toml, FetchDefaults::default());
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    store
        .register_sources(&[("news".into(), "feed".into())], Utc::now() - Duration::seconds(1))
        .await
        .unwrap();

    let reschedule: Reschedule = Arc::new(|_, _, outcome, now| {
        let health = if outcome.is_ok() { "{\"ok\":true}" } else { "{\"ok\":false}" };
        (health.to_owned(), now + Duration::minutes(10))
    });
    let settings = Settings {
        worker: "w1".into(),
        lease_secs: 60,
        claim_limit: 10,
        idle: std::time::Duration::from_millis(50),
        analysis_version: "test".into(),
    };
    let p = Pipeline::new(
        store.clone(),
        sources.clone(),
        Arc::new(shipped_analyzer()),
        reschedule.clone(),
        settings.clone(),
    );
    let r = p.round(Utc::now()).await.unwrap();
    assert_eq!((r.claimed, r.polled_ok, r.ingest.inserted), (1, 1, 2), "{r:?}");
    assert_eq!(store.count_posts().await.unwrap(), 2);
    let cursor = store.cursor("news").await.unwrap().unwrap();
    assert!(cursor.has_seen("http://news.example/1.html"));

    // Not due again for ten minutes; when due, nothing new.
    assert_eq!(p.round(Utc::now()).await.unwrap().claimed, 0);
    let later = Utc::now() + Duration::minutes(11);
    let r = p.round(later).await.unwrap();
    assert_eq!((r.claimed, r.ingest.inserted), (1, 0));
    assert_eq!(store.count_posts().await.unwrap(), 2);
}

/// `run` keeps polls flowing: with two slots, a slow source holds one while the other serves
/// every fast source in turn; on shutdown the slow poll still finishes and commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_does_not_wait_for_the_slowest_source_and_finishes_it_on_shutdown() {
    let server = FixtureServer::start().await;
    let mut toml = String::new();
    let mut ids = Vec::new();
    for k in 0..5 {
        let path = format!("/feed-{k}.xml");
        let body = RSS
            .replace("http://news.example/", &format!("http://news.example/{k}/"))
            .replace("新源县", &format!("新源县{k}号"));
        let reply = Reply::ok("application/rss+xml", body.replace("道路结冰", &format!("道路结冰{k}")));
        // Source 0 answers after 3 s; the others at once.
        server.route(&path, if k == 0 { reply.delay(std::time::Duration::from_secs(3)) } else { reply });
        toml.push_str(&format!(
            "[[source]]\nid = \"s{k}\"\nname = \"s{k}\"\ntype = \"feed\"\nurl = \"{}\"\nschedule = {{ every_secs = 600 }}\nfetch = {{ allow_private_addresses = true }}\n",
            server.url(&path)
        ));
        ids.push((format!("s{k}"), "feed".to_string()));
    }
    // One host for all: politeness must not be what serialises them here.
    let fetch = FetchDefaults {
        per_host_requests_per_sec: 1000.0,
        per_host_concurrency: 8,
        ..FetchDefaults::default()
    };
    let sources = configured(toml, fetch);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    // s0 is the longest overdue: it is claimed first.
    store.register_sources(&ids[..1], Utc::now() - Duration::seconds(10)).await.unwrap();
    store.register_sources(&ids[1..], Utc::now() - Duration::seconds(1)).await.unwrap();
    let reschedule: Reschedule = Arc::new(|_, _, _, now| ("{}".to_owned(), now + Duration::minutes(10)));
    let settings = Settings {
        worker: "w1".into(),
        lease_secs: 60,
        claim_limit: 2,
        idle: std::time::Duration::from_millis(50),
        analysis_version: "test".into(),
    };
    let p =
        Arc::new(Pipeline::new(store.clone(), sources, Arc::new(shipped_analyzer()), reschedule, settings));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn({
        let (p, shutdown) = (p.clone(), shutdown.clone());
        async move { p.run(shutdown).await }
    });
    // The four fast sources are done while the slow one is still being fetched.
    let started = std::time::Instant::now();
    while store.count_posts().await.unwrap() < 8 {
        assert!(
            started.elapsed() < std::time::Duration::from_millis(2500),
            "fast sources waited for the slow one"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(server.hits("/feed-0.xml"), 1);
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(store.count_posts().await.unwrap(), 10, "the poll in hand was finished and committed");
    assert!(store.cursor("s0").await.unwrap().unwrap().has_seen("http://news.example/0/1.html"));
}
