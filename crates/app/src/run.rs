//! `yuqing run` (the collection service; see [`crate::service`]), `yuqing migrate`,
//! `yuqing check-config` and `yuqing token`.

use std::path::{Path, PathBuf};

use chrono::Datelike;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Args;
use yuqing_core::store::Store;
use yuqing_sources::config;
use yuqing_store::SqlStore;

use crate::resources::Resources;
use crate::service::Service;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Database URL (`sqlite://PATH` or `postgres://…`); also `YUQING__DATABASE__URL`. Default:
    /// SQLite in the data folder.
    #[arg(long)]
    database: Option<String>,
    /// Folder for the embedded database and the search index (default `./data`; settings
    /// `paths.data`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// One round (claim what is due, crawl, store) and exit.
    #[arg(long)]
    once: bool,
    /// This worker's name in source leases (default: host name and process id).
    #[arg(long)]
    worker: Option<String>,
    /// Serve the status page, search, probes, metrics and the push API on this address, e.g.
    /// `127.0.0.1:8080` (settings `web.listen`).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Days after which a post's text, author handle and evidence are purged (0: keep forever;
    /// default 180). Checked at start and daily.
    #[arg(long)]
    retention_days: Option<u32>,
    /// Seconds a claimed source is held before another worker may take it (default 300).
    #[arg(long)]
    lease_secs: Option<i64>,
    /// Sources crawled at once: polls kept in flight (default 32).
    #[arg(long)]
    claim_limit: Option<u32>,
}

/// The database URL: the flag, the settings (file or `YUQING__DATABASE__URL`), or SQLite in the
/// data folder.
pub fn database_url(given: Option<&str>, data: Option<&Path>) -> Result<String> {
    let s = crate::settings::get();
    s.database_url(given, &s.data_dir(data))
}

/// The sources files: `CONFIG/sources` of the configuration folder in use.
pub fn source_files(res: &Resources, config_dir: Option<&Path>) -> Result<Vec<(String, String)>> {
    Ok(match config_dir {
        Some(dir) => config::read_files(&dir.join("sources"))
            .with_context(|| format!("cannot read {}/sources", dir.display()))?,
        None => res.config.files.iter().filter(|(p, _)| p.starts_with("sources/")).cloned().collect(),
    })
}

pub fn run(res: &Resources, config_dir: Option<&Path>, a: &RunArgs) -> Result<ExitCode> {
    let s = crate::settings::get();
    let data = s.data_dir(a.data.as_deref());
    let svc = Service {
        config_dir: config_dir.map(Path::to_path_buf),
        url: s.database_url(a.database.as_deref(), &data)?,
        data,
        source_files: source_files(res, config_dir)?,
        once: a.once,
        worker: a
            .worker
            .clone()
            .or_else(|| s.collect.worker.clone())
            .unwrap_or_else(crate::service::worker_name),
        listen: a.listen.or(s.web.listen),
        retention_days: a.retention_days.unwrap_or(s.collect.retention_days),
        lease_secs: a.lease_secs.unwrap_or(s.collect.lease_secs),
        claim_limit: a.claim_limit.unwrap_or(s.collect.claim_limit).max(1),
        banner: None,
        public_url: s.alerts.public_url.clone(),
        announce: false,
        listening: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    rt.block_on(crate::service::serve(res, svc))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[arg(long)]
    database: Option<String>,
    #[arg(long)]
    data: Option<PathBuf>,
}

/// `yuqing migrate`: applies the store's migrations (`run` and `import` also do on start).
pub fn migrate(a: &MigrateArgs) -> Result<ExitCode> {
    let url = database_url(a.database.as_deref(), a.data.as_deref())?;
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
    let files = source_files(res, config_dir)?;
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
    let cases_ok = match check_case_config(res, config_dir) {
        Ok(msg) => {
            println!("ok: {msg}");
            true
        }
        Err(e) => {
            println!("problem in the case configuration: {e:#}");
            false
        }
    };
    Ok(if county == ExitCode::SUCCESS && sources_ok && cases_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The clocks, the publication check, the auto-open policy and the calendar.
fn check_case_config(res: &Resources, config_dir: Option<&Path>) -> Result<String> {
    let file = |name: &str| res.config.files.iter().find(|(p, _)| p == name).map(|(_, t)| t.as_str());
    let clocks = yuqing_cases::ClockTemplates::parse(
        "clocks.toml",
        file("clocks.toml").context("clocks.toml is missing")?,
    )?;
    yuqing_cases::PublicationPolicy::parse(
        "publication.toml",
        file("publication.toml").context("publication.toml is missing")?,
    )?;
    if let Some(t) = file("cases.toml") {
        yuqing_pipeline::opening::AutoOpen::parse("cases.toml", t).map_err(|e| anyhow::anyhow!(e))?;
    }
    let cal = crate::cases_cmd::load_calendar(config_dir, None)?;
    let years: Vec<i32> = cal.years().collect();
    // Working-day deadlines run weeks ahead: a calendar that ends within 60 days refuses them soon.
    let ahead = (chrono::Utc::now() + chrono::Duration::days(60)).year();
    if years.last().is_none_or(|last| *last < ahead) {
        println!(
            "warning: the working-day calendar has no data for {ahead}: working-day deadlines reaching it will be refused; \
             add calendar/{ahead}.csv from the State Council's holiday notice (config/calendar/README.md)"
        );
    }
    Ok(format!(
        "{} clocks, the publication check, a calendar of {}",
        clocks.clocks.len(),
        match (years.first(), years.last()) {
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "no years".into(),
        }
    ))
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
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Revoke a token by id.
    Revoke {
        id: i64,
        #[arg(long)]
        database: Option<String>,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// List live tokens (never the tokens themselves).
    List {
        #[arg(long)]
        database: Option<String>,
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

pub fn token(cmd: &TokenCommand) -> Result<ExitCode> {
    let (database, data) = match cmd {
        TokenCommand::Add { database, data, .. }
        | TokenCommand::Revoke { database, data, .. }
        | TokenCommand::List { database, data } => (database, data),
    };
    let url = database_url(database.as_deref(), data.as_deref())?;
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
