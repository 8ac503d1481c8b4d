//! The running service, shared by `yuqing run` and `yuqing demo`: the store (migrated on start),
//! the collection pipeline, the search index following the store, retention, and the web server
//! (status page, search, probes, metrics, push API). Stops on Ctrl-C or SIGTERM after the round in
//! hand is committed and indexed.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeDelta, Utc};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use yuqing_core::SourceError;
use yuqing_core::store::Store;
use yuqing_events::SourceTier;
use yuqing_pipeline::alerting::Alerting;
use yuqing_pipeline::deliver::{DeliverSettings, Deliverer};
use yuqing_pipeline::opening::{AutoOpen, InterpretationTracker, LevelOpener};
use yuqing_pipeline::ticker::Ticker;
use yuqing_pipeline::{Pipeline, Reschedule, Settings as PipelineSettings};
use yuqing_search::{SearchIndex, SearchQuery};
use yuqing_sources::fetch::Politeness;
use yuqing_sources::schedule::{self, Health, Schedule};
use yuqing_sources::{ConfiguredSource, config};
use yuqing_store::SqlStore;
use yuqing_web::{PostSearch, SearchHit};

use crate::alerts::{AlertingConfig, AppNotifier};
use crate::resources::Resources;

/// What one service process does.
#[derive(Debug, Clone)]
pub struct Service {
    /// The county configuration folder given (its `calendar/` holds the working-day calendar);
    /// none: ./config, else the embedded copy.
    pub config_dir: Option<PathBuf>,
    pub url: String,
    pub data: PathBuf,
    /// Sources files as `(name, text)`.
    pub source_files: Vec<(String, String)>,
    /// One round, then exit.
    pub once: bool,
    pub worker: String,
    pub listen: Option<SocketAddr>,
    pub retention_days: u32,
    pub lease_secs: i64,
    pub claim_limit: u32,
    /// Shown at the top of the status page.
    pub banner: Option<String>,
    /// Print `Yuqing: http://ADDR/` on stdout as soon as the web server listens.
    pub announce: bool,
    /// Base URL of the web app for links in notifications (default: the listen address).
    pub public_url: Option<String>,
    /// Notified once the web server listens (and its address is printed).
    pub listening: Option<Arc<tokio::sync::Notify>>,
}

/// This process's name in leases: host name and process id.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
}

/// The Prometheus recorder, installed once per process; `/metrics` renders it.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("yuqing_analysis_seconds".into()),
                    &[0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics disabled");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("yuqing_posts_stored_total", "Posts stored (originals and near-duplicates)");
    describe_counter!("yuqing_duplicates_total", "Items recognised as copies: exact, near, already stored");
    describe_counter!("yuqing_items_fetched_total", "Items a source returned, by source");
    describe_counter!("yuqing_source_failures_total", "Failed polls, by source");
    describe_counter!("yuqing_sources_claimed_total", "Source claims taken by this worker");
    describe_counter!("yuqing_push_lines_total", "Lines received by the push API, by outcome");
    describe_counter!("yuqing_posts_indexed_total", "Posts added to this node's search index");
    describe_gauge!(
        "yuqing_polls_in_flight",
        "Polls claimed and not yet committed (bounded by the claim limit)"
    );
    describe_gauge!("yuqing_analysis_queue_items", "Items fetched and waiting for or in analysis");
    describe_histogram!("yuqing_analysis_seconds", Unit::Seconds, "Analysis time per post");
}

/// Health and next due time after a poll, from the source's schedule (a `Retry-After` the server
/// gave is honoured).
fn rescheduler(schedules: HashMap<String, Schedule>) -> Reschedule {
    Arc::new(move |id: &str, health: &str, outcome: Result<u32, &SourceError>, now: DateTime<Utc>| {
        let mut h: Health = serde_json::from_str(health).unwrap_or_default();
        let mut retry_after = None;
        match outcome {
            Ok(n) => h.record_success(now, n),
            Err(e) => {
                h.record_failure(now, &e.to_string());
                if let SourceError::Transient { retry_after_secs, .. } = e {
                    retry_after = *retry_after_secs;
                }
            }
        }
        let next = match schedules.get(id) {
            Some(s) => schedule::next_due(s, &h, now, schedule::jitter_key(id)),
            None => now + TimeDelta::hours(1),
        };
        let asked = retry_after.map(|s| now + TimeDelta::seconds(s.min(7 * 86_400) as i64));
        let next = asked.map_or(next, |a| a.max(next));
        (serde_json::to_string(&h).unwrap_or_else(|_| "{}".into()), next)
    })
}

/// The node's index as the web pages search it.
struct IndexSearch(Arc<SearchIndex>);

impl PostSearch for IndexSearch {
    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, String> {
        let q = SearchQuery { text: query.to_owned(), limit, ..SearchQuery::default() };
        let hits = self.0.search(&q).map_err(|e| e.to_string())?;
        Ok(hits
            .into_iter()
            .map(|h| SearchHit {
                id: h.id as i64,
                title: h.title,
                snippet_html: h.snippet,
                source: h.source,
                departments: h.departments,
                time: h.time,
            })
            .collect())
    }
}

/// Runs the service until a signal (or one round with `once`).
pub async fn serve(res: &Resources, svc: Service) -> Result<()> {
    let analyzer = Arc::new(res.analyzer()?);
    let cfg = config::parse(&svc.source_files).map_err(|errs| {
        anyhow::anyhow!(
            "invalid sources configuration:\n{}",
            errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
        )
    })?;
    let enabled: Vec<_> = cfg.sources.into_iter().filter(|s| s.common.enabled).collect();
    if enabled.is_empty() {
        bail!("no enabled source in the configuration");
    }
    let url = &svc.url;
    let store = Arc::new(SqlStore::connect(url).await.with_context(|| format!("cannot open {url}"))?);
    store.migrate().await?;
    let ids: Vec<(String, String)> =
        enabled.iter().map(|s| (s.common.id.clone(), s.kind.type_name().to_owned())).collect();
    store.register_sources(&ids, Utc::now()).await?;
    let schedules = enabled.iter().map(|s| (s.common.id.clone(), s.schedule.clone())).collect();
    let tiers: HashMap<String, SourceTier> = enabled
        .iter()
        .filter_map(|s| {
            let t = serde_json::to_value(s.common.tier).ok()?;
            Some((s.common.id.clone(), SourceTier::parse(t.as_str()?)?))
        })
        .collect();
    let (alert_cfg, channels) = AlertingConfig::load(res)?;
    let names: HashMap<String, String> =
        enabled.iter().map(|s| (s.common.id.clone(), s.common.name.clone())).collect();
    let politeness = Politeness::new(cfg.fetch.clone())?;
    let mut sources = Vec::new();
    for s in enabled {
        sources.push(Arc::new(ConfiguredSource::new(s, politeness.clone())?));
    }
    let version = format!("yuqing-{}", env!("CARGO_PKG_VERSION"));
    let settings = PipelineSettings {
        worker: svc.worker.clone(),
        lease_secs: svc.lease_secs,
        claim_limit: svc.claim_limit,
        idle: std::time::Duration::from_secs(1),
        analysis_version: version.clone(),
    };
    // The search index catches up with the store (after a crash too), then follows each round.
    let index = Arc::new(crate::search_cmd::open_index(&svc.data, analyzer.shared_segmenter())?);
    let caught = crate::search_cmd::catch_up(store.as_ref(), &index).await?;
    if caught > 0 {
        eprintln!("run: {caught} stored posts added to the search index");
    }
    let purged =
        crate::search_cmd::apply_retention(store.as_ref(), &index, svc.retention_days, Utc::now()).await?;
    if purged > 0 {
        eprintln!("run: retention purged {purged} posts older than {} days", svc.retention_days);
    }
    let shutdown = CancellationToken::new();
    let metrics = metrics_handle();
    let mut public_url = svc.public_url.clone();
    if let Some(addr) = svc.listen {
        let mut state = yuqing_web::AppState::new(store.clone(), analyzer.clone(), version.clone());
        state.search = Some(Arc::new(IndexSearch(index.clone())));
        state.metrics = metrics.map(|h| Arc::new(move || h.render()) as yuqing_web::MetricsRender);
        state.source_names = names;
        state.banner = svc.banner.clone();
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        public_url.get_or_insert_with(|| format!("http://{bound}"));
        if svc.announce {
            // The first loopback URL the process prints: scripts wait for this line.
            let mut out = std::io::stdout().lock();
            writeln!(out, "Yuqing: http://{bound}/")?;
            out.flush()?;
        } else {
            eprintln!(
                "run: web on http://{bound}/ (status page, /search, /healthz, /readyz, /metrics, POST /api/v1/posts)"
            );
        }
        if let Some(n) = &svc.listening {
            n.notify_one();
        }
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, yuqing_web::router(Arc::new(state)))
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "web server stopped");
            }
        });
    }
    let pipeline = Pipeline::new(store.clone(), sources, analyzer, rescheduler(schedules), settings);
    let telegram = crate::alerts::telegram_channels(&channels).into_iter().next();
    let inbox = match &telegram {
        Some(name) => channels
            .telegram_inbox(name, std::time::Duration::from_secs(25))
            .transpose()
            .map_err(|e| anyhow::anyhow!("channels.toml: {e}"))?,
        None => None,
    };
    let alerting = Arc::new(Alerting::new(
        store.clone(),
        alert_cfg.router.clone(),
        alert_cfg.directory.clone(),
        alert_cfg.policy.clone(),
        alert_cfg.settings(&svc.worker, tiers, public_url.clone()),
    ));
    let deliverer = Arc::new(Deliverer::new(
        store.clone(),
        Arc::new(AppNotifier { channels }),
        DeliverSettings { worker: svc.worker.clone(), ..DeliverSettings::default() },
    ));
    // Case clocks: reminders and breach escalations from the database, claimed once.
    let ticker = Arc::new(Ticker::new(
        store.clone(),
        alert_cfg.router.clone(),
        alert_cfg.directory.clone(),
        svc.worker.clone(),
        public_url,
    ));
    // The policy-interpretation tracker: a 政策解读 case per new policy document.
    let tracker = {
        let calendar = crate::cases_cmd::load_calendar(svc.config_dir.as_deref(), None)?;
        let ahead = chrono::Datelike::year(&(Utc::now() + chrono::Duration::days(60)));
        if !calendar.covers(ahead) {
            tracing::warn!(
                year = ahead,
                "the working-day calendar has no data for {ahead}: working-day deadlines reaching it are refused until calendar/{ahead}.csv is added"
            );
        }
        let clocks_toml = res
            .config
            .files
            .iter()
            .find(|(p, _)| p == "clocks.toml")
            .map(|(_, t)| t.as_str())
            .with_context(|| format!("clocks.toml is missing from {}", res.config.origin))?;
        let clocks = yuqing_cases::ClockTemplates::parse("clocks.toml", clocks_toml)?;
        let auto = match res.config.files.iter().find(|(p, _)| p == "cases.toml") {
            Some((_, t)) => Some(AutoOpen::parse("cases.toml", t).map_err(|e| anyhow::anyhow!(e))?),
            None => None,
        };
        let opener =
            auto.map(|a| Arc::new(LevelOpener::new(store.clone(), calendar.clone(), clocks.clone(), a)));
        (Arc::new(InterpretationTracker::new(store.clone(), calendar, clocks, "县人民政府办公室")), opener)
    };
    let (tracker, opener) = tracker;
    if svc.once {
        let r = pipeline.round(Utc::now()).await?;
        crate::search_cmd::catch_up(store.as_ref(), &index).await?;
        // Events and notifications for what this round stored.
        loop {
            let s = alerting.step(Utc::now()).await?;
            if !s.leader || s.posts == 0 {
                break;
            }
        }
        let opened = tracker.step(Utc::now()).await?;
        if opened > 0 {
            eprintln!("run: {opened} 政策解读 cases opened for new policy documents");
        }
        let found = tracker.detect(Utc::now()).await?;
        if found > 0 {
            eprintln!("run: {found} interpretations found on monitored sites (their clocks stopped)");
        }
        if let Some(o) = &opener {
            let n = o.step(Utc::now()).await?;
            if n > 0 {
                eprintln!("run: {n} cases opened for events at the auto-open level");
            }
        }
        let t = ticker.step(Utc::now()).await?;
        if t.fired > 0 {
            eprintln!("run: {} clock firings ({} notifications queued)", t.fired, t.deliveries);
        }
        let d = deliverer.step(Utc::now()).await?;
        if d.claimed > 0 {
            eprintln!("run: {} notifications sent, {} to retry, {} failed", d.sent, d.retried, d.failed);
        }
        eprintln!(
            "run: {} sources claimed, {} polled, {} failed; {} new posts, {} copies, {} near-duplicates, {} already stored",
            r.claimed,
            r.polled_ok,
            r.failed,
            r.ingest.inserted,
            r.ingest.duplicates,
            r.ingest.near_duplicates,
            r.ingest.already_stored
        );
        shutdown.cancel();
        return Ok(());
    }
    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("run: stopping after the polls in hand");
        stop.cancel();
    });
    eprintln!("run: collecting into {url} (Ctrl-C to stop)");
    let retention_days = svc.retention_days;
    let indexing = {
        let (store, stop) = (store.clone(), shutdown.clone());
        async move {
            let mut last_purge = std::time::Instant::now();
            while !stop.is_cancelled() {
                if let Err(e) = crate::search_cmd::catch_up(store.as_ref(), &index).await {
                    tracing::warn!(error = %e, "search index not updated");
                }
                if last_purge.elapsed() >= std::time::Duration::from_secs(86_400) {
                    last_purge = std::time::Instant::now();
                    match crate::search_cmd::apply_retention(
                        store.as_ref(),
                        &index,
                        retention_days,
                        Utc::now(),
                    )
                    .await
                    {
                        Ok(n) if n > 0 => tracing::info!(purged = n, "retention"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "retention not applied"),
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                }
            }
            // One last pass: what the final round stored is searchable after a clean stop.
            let _ = crate::search_cmd::catch_up(store.as_ref(), &index).await;
        }
    };
    let mut loops = Vec::new();
    {
        let (a, stop) = (alerting.clone(), shutdown.clone());
        loops.push(tokio::spawn(async move { a.run(stop).await }));
        let (d, stop) = (deliverer.clone(), shutdown.clone());
        loops.push(tokio::spawn(async move { d.run(stop).await }));
        let (t, stop) = (ticker.clone(), shutdown.clone());
        loops.push(tokio::spawn(
            async move { t.run(std::time::Duration::from_secs(5), Utc::now, stop).await },
        ));
        // Cases opened by policy: policy documents and events at the auto-open level.
        let (tr, opener, stop) = (tracker.clone(), opener.clone(), shutdown.clone());
        loops.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                match tr.step(Utc::now()).await {
                    Ok(n) if n > 0 => tracing::info!(opened = n, "政策解读 cases opened"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "policy-interpretation tracker pass failed"),
                }
                match tr.detect(Utc::now()).await {
                    Ok(n) if n > 0 => tracing::info!(stopped = n, "interpretations found on monitored sites"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "interpretation detection failed"),
                }
                if let Some(o) = &opener {
                    match o.step(Utc::now()).await {
                        Ok(n) if n > 0 => {
                            tracing::info!(opened = n, "cases opened for events at the auto-open level")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "auto-open pass failed"),
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
                }
            }
        }));
        if let Some(inbox) = inbox {
            let cfg = Arc::new(alert_cfg);
            loops.push(tokio::spawn(crate::alerts::telegram_loop(
                store.clone(),
                cfg,
                inbox,
                svc.worker.clone(),
                shutdown.clone(),
            )));
        }
    }
    let collecting = async {
        let r = pipeline.run(shutdown.clone()).await;
        // Whatever ended collection ends indexing too (after its last pass).
        shutdown.cancel();
        r
    };
    let (collected, ()) = tokio::join!(collecting, indexing);
    for l in loops {
        let _ = l.await;
    }
    collected?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
