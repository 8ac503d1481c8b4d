//! `yuqing run`: the collection service — claims due sources from the store, crawls, analyses and
//! stores, until Ctrl-C or SIGTERM (the round in hand is finished first). Several processes on one
//! PostgreSQL database split the work through row leases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use tokio_util::sync::CancellationToken;
use yuqing_core::SourceError;
use yuqing_core::store::Store;
use yuqing_pipeline::{Pipeline, Reschedule, Settings};
use yuqing_sources::fetch::Politeness;
use yuqing_sources::schedule::{self, Health, Schedule};
use yuqing_sources::{ConfiguredSource, config};
use yuqing_store::SqlStore;

use crate::resources::Resources;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Database URL (`sqlite://PATH` or `postgres://…`); also `YUQING__DATABASE__URL`. Default:
    /// SQLite in the data folder.
    #[arg(long)]
    database: Option<String>,
    /// Folder for the embedded database (default `./data`).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// One round (claim what is due, crawl, store) and exit.
    #[arg(long)]
    once: bool,
    /// This worker's name in source leases (default: host name and process id).
    #[arg(long)]
    worker: Option<String>,
    /// Serve the push API (`POST /api/v1/posts`) and `/healthz` on this address, e.g.
    /// `127.0.0.1:8080`.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Days after which a post's text, author handle and evidence are purged (0: keep forever).
    /// Checked at start and daily.
    #[arg(long, default_value_t = 180)]
    retention_days: u32,
    /// Seconds a claimed source is held before another worker may take it.
    #[arg(long, default_value_t = 300)]
    lease_secs: i64,
}

/// The database URL: the flag, the environment, or SQLite in the data folder.
pub fn database_url(given: Option<&str>, data: &Path) -> Result<String> {
    if let Some(u) = given {
        return Ok(u.to_owned());
    }
    if let Ok(u) = std::env::var("YUQING__DATABASE__URL")
        && !u.is_empty()
    {
        return Ok(u);
    }
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    Ok(format!("sqlite://{}", data.join("yuqing.db").display()))
}

fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
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

pub fn run(res: &Resources, config_dir: Option<&Path>, a: &RunArgs) -> Result<ExitCode> {
    let analyzer = Arc::new(res.analyzer()?);
    let files: Vec<(String, String)> = match config_dir {
        Some(dir) => config::read_files(&dir.join("sources"))
            .with_context(|| format!("cannot read {}/sources", dir.display()))?,
        None => res.config.files.iter().filter(|(p, _)| p.starts_with("sources/")).cloned().collect(),
    };
    let cfg = config::parse(&files).map_err(|errs| {
        anyhow::anyhow!(
            "invalid sources configuration:\n{}",
            errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
        )
    })?;
    let enabled: Vec<_> = cfg.sources.into_iter().filter(|s| s.common.enabled).collect();
    if enabled.is_empty() {
        bail!("no enabled source in the configuration");
    }
    let url = database_url(a.database.as_deref(), &a.data)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    rt.block_on(async {
        let store = Arc::new(SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?);
        store.migrate().await?;
        let ids: Vec<(String, String)> =
            enabled.iter().map(|s| (s.common.id.clone(), s.kind.type_name().to_owned())).collect();
        store.register_sources(&ids, Utc::now()).await?;
        let schedules = enabled.iter().map(|s| (s.common.id.clone(), s.schedule.clone())).collect();
        let politeness = Politeness::new(cfg.fetch.clone())?;
        let mut sources = Vec::new();
        for s in enabled {
            sources.push(Arc::new(ConfiguredSource::new(s, politeness.clone())?));
        }
        let settings = Settings {
            worker: a.worker.clone().unwrap_or_else(worker_name),
            lease_secs: a.lease_secs,
            claim_limit: 32,
            idle: std::time::Duration::from_secs(1),
            analysis_version: format!("yuqing-{}", env!("CARGO_PKG_VERSION")),
        };
        // The search index catches up with the store (after a crash too), then follows each round.
        let index = crate::search_cmd::open_index(&a.data, analyzer.shared_segmenter())?;
        let caught = crate::search_cmd::catch_up(store.as_ref(), &index).await?;
        if caught > 0 {
            eprintln!("run: {caught} stored posts added to the search index");
        }
        let purged = crate::search_cmd::apply_retention(store.as_ref(), &index, a.retention_days, Utc::now()).await?;
        if purged > 0 {
            eprintln!("run: retention purged {purged} posts older than {} days", a.retention_days);
        }
        let analyzer_for_web = analyzer.clone();
        let pipeline = Pipeline::new(store.clone(), sources, analyzer, rescheduler(schedules), settings);
        if a.once {
            let r = pipeline.round(Utc::now()).await?;
            crate::search_cmd::catch_up(store.as_ref(), &index).await?;
            eprintln!(
                "run: {} sources claimed, {} polled, {} failed; {} new posts, {} copies, {} near-duplicates, {} already stored",
                r.claimed, r.polled_ok, r.failed, r.ingest.inserted, r.ingest.duplicates, r.ingest.near_duplicates, r.ingest.already_stored
            );
            return Ok::<_, anyhow::Error>(ExitCode::SUCCESS);
        }
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("run: stopping after the round in hand");
            stop.cancel();
        });
        if let Some(addr) = a.listen {
            let state = yuqing_web::AppState {
                store: store.clone(),
                analyzer: analyzer_for_web.clone(),
                analysis_version: format!("yuqing-{}", env!("CARGO_PKG_VERSION")),
            };
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            let stop = shutdown.clone();
            eprintln!("run: push API on http://{}/api/v1/posts", listener.local_addr()?);
            tokio::spawn(async move {
                let served = axum::serve(listener, yuqing_web::router(std::sync::Arc::new(state)))
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "web server stopped");
                }
            });
        }
        eprintln!("run: collecting into {url} (Ctrl-C to stop)");
        let retention_days = a.retention_days;
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
                        match crate::search_cmd::apply_retention(store.as_ref(), &index, retention_days, Utc::now()).await {
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
        let collecting = async {
            let r = pipeline.run(shutdown.clone()).await;
            // Whatever ended collection ends indexing too (after its last pass).
            shutdown.cancel();
            r
        };
        let (collected, ()) = tokio::join!(collecting, indexing);
        collected?;
        Ok(ExitCode::SUCCESS)
    })
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

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[arg(long)]
    database: Option<String>,
    #[arg(long, default_value = "data")]
    data: PathBuf,
}

/// `yuqing migrate`: applies the store's migrations (`run` and `import` also do on start).
pub fn migrate(a: &MigrateArgs) -> Result<ExitCode> {
    let url = database_url(a.database.as_deref(), &a.data)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("async runtime")?;
    rt.block_on(async {
        let store = SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?;
        store.migrate().await?;
        eprintln!("migrate: {url} is up to date");
        Ok(ExitCode::SUCCESS)
    })
}

/// `yuqing check-config`: the county configuration, the dictionaries and the sources, every
/// problem with its file (and line where the parser knows it). Exit 1 on any problem.
pub fn check_config(res: &Resources, config_dir: Option<&Path>) -> Result<ExitCode> {
    let county = crate::rules_cmd::check(res)?;
    let files: Vec<(String, String)> = match config_dir {
        Some(dir) => config::read_files(&dir.join("sources")).unwrap_or_default(),
        None => res.config.files.iter().filter(|(p, _)| p.starts_with("sources/")).cloned().collect(),
    };
    let sources_ok = match config::parse(&files) {
        Ok(cfg) => {
            println!(
                "ok: {} sources ({} enabled) in {} files",
                cfg.sources.len(),
                cfg.sources.iter().filter(|s| s.common.enabled).count(),
                files.len()
            );
            true
        }
        Err(errs) => {
            println!("{} problem(s) in the sources:", errs.len());
            for e in &errs {
                println!("  {e}");
            }
            false
        }
    };
    Ok(if county == ExitCode::SUCCESS && sources_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it once (only its hash is stored).
    Add {
        /// Who uses it (a partner crawler, the 12345 centre).
        #[arg(long)]
        name: String,
        /// What it may do: `ingest` (push posts).
        #[arg(long, default_value = "ingest")]
        scope: String,
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Revoke a token by id.
    Revoke {
        id: i64,
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// List live tokens (never the tokens themselves).
    List {
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

pub fn token(cmd: &TokenCommand) -> Result<ExitCode> {
    let (database, data) = match cmd {
        TokenCommand::Add { database, data, .. }
        | TokenCommand::Revoke { database, data, .. }
        | TokenCommand::List { database, data } => (database, data),
    };
    let url = database_url(database.as_deref(), data)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("async runtime")?;
    rt.block_on(async {
        let store = SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?;
        store.migrate().await?;
        match cmd {
            TokenCommand::Add { name, scope, .. } => {
                if scope != "ingest" {
                    bail!("unknown scope {scope:?} (ingest)");
                }
                let mut raw = [0u8; 32];
                getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                let token: String =
                    std::iter::once("yq_".to_owned()).chain(raw.iter().map(|b| format!("{b:02x}"))).collect();
                let id = store.add_token(name, scope, &yuqing_web::token_hash(&token), Utc::now()).await?;
                eprintln!("token {id} for {name:?} ({scope}); it is shown once, keep it secret:");
                println!("{token}");
            }
            TokenCommand::Revoke { id, .. } => {
                if !store.revoke_token(*id, Utc::now()).await? {
                    bail!("no live token {id}");
                }
                eprintln!("token {id} revoked");
            }
            TokenCommand::List { .. } => {
                for t in store.list_tokens().await? {
                    println!("{}\t{}\t{}\t{}", t.id, t.scope, t.created_at.to_rfc3339(), t.name);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
