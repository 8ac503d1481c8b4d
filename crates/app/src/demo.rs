//! `yuqing demo`: the whole service in one process, with nothing to set up. It serves, on
//! loopback, a small county news site, a forum feed, a prefecture news feed and a 12345 hotline
//! export (pages in `demo/site`, written for the demo; dates are relative to today), collects them
//! on SQLite in a data folder of its own, and serves the status page on a free port. The first
//! loopback URL it prints is `Yuqing: http://127.0.0.1:<port>/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, NaiveTime, TimeDelta, Utc};
use clap::Args;

use crate::resources::Resources;
use crate::service::Service;

/// Marks a data folder as the demo's, so that a fresh start may empty it.
const MARKER: &str = ".yuqing-demo";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo's own data folder (database and index), emptied at start unless `--keep`.
    #[arg(long, default_value = "data/demo")]
    data: PathBuf,
    /// Address of the web server (default: loopback, a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Keep what an earlier demo collected.
    #[arg(long)]
    keep: bool,
    /// Serve the demo files from this folder instead of the copy built into the binary.
    #[arg(long)]
    site: Option<PathBuf>,
}

/// The demo's files as `(path under demo/, text)`.
#[derive(Debug)]
struct Files(Vec<(String, String)>);

impl Files {
    fn load(dir: Option<&Path>) -> Result<Self> {
        match dir {
            None => Ok(Files(
                crate::resources::embedded_demo()
                    .iter()
                    .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                    .collect(),
            )),
            Some(d) => {
                let mut out = Vec::new();
                walk(d, d, &mut out)?;
                Ok(Files(out))
            }
        }
    }

    fn get(&self, path: &str) -> Option<&str> {
        self.0.iter().find(|(p, _)| p == path).map(|(_, t)| t.as_str())
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out)?;
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
            out.push((rel, text));
        }
    }
    Ok(())
}

/// Beijing time.
fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// 10:00 Beijing time `days` days before `now` (never later than `now`).
fn day_at_ten(now: DateTime<Utc>, days: i64) -> DateTime<FixedOffset> {
    let local = now.with_timezone(&cst());
    let date = local.date_naive() - TimeDelta::days(days);
    let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default();
    let t = date.and_time(ten).and_local_timezone(cst()).single().unwrap_or(local);
    if t > local { local - TimeDelta::minutes(10) } else { t }
}

/// `{{at:N HH:MM[:SS]}}`: that time of the day N days ago, `YYYY-MM-DD HH:MM[:SS]`, Beijing time;
/// a time still to come today is moved a few minutes before now, so nothing is dated in the future.
fn at(now: DateTime<Utc>, spec: &str) -> Option<String> {
    let (n, time) = spec.trim().split_once(' ')?;
    let days: i64 = n.parse().ok().filter(|n| (0..=3650).contains(n))?;
    let with_secs = time.matches(':').count() == 2;
    let t = NaiveTime::parse_from_str(time, if with_secs { "%H:%M:%S" } else { "%H:%M" }).ok()?;
    let local = now.with_timezone(&cst());
    let date = local.date_naive() - TimeDelta::days(days);
    let mut when = date.and_time(t).and_local_timezone(cst()).single()?;
    if when > local {
        when = local
            - TimeDelta::minutes(5 + i64::from(t.format("%M").to_string().parse::<u8>().unwrap_or(0) % 40));
    }
    Some(when.format(if with_secs { "%Y-%m-%d %H:%M:%S" } else { "%Y-%m-%d %H:%M" }).to_string())
}

/// Replaces `{{base}}`, `{{date:N}}`, `{{at:N HH:MM}}`, `{{rfc2822:N}}` and `{{rfc3339:N}}` (N days
/// ago). Anything else between braces is left as it is.
fn expand(text: &str, base: &str, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let value = match inner.split_once(':') {
            None if inner == "base" => Some(base.to_owned()),
            Some(("at", spec)) => at(now, spec),
            Some((kind, n)) => {
                n.trim().parse::<i64>().ok().filter(|n| (0..=3650).contains(n)).and_then(|n| {
                    let t = day_at_ten(now, n);
                    match kind {
                        "date" => Some(t.format("%Y-%m-%d").to_string()),
                        "rfc2822" => Some(t.to_rfc2822()),
                        "rfc3339" => Some(t.to_rfc3339()),
                        _ => None,
                    }
                })
            }
            None => None,
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

struct Site {
    files: Files,
    base: String,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") if path.contains("atom") => "application/atom+xml; charset=utf-8",
        Some("xml") => "application/rss+xml; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

async fn site(State(site): State<Arc<Site>>, req: Request) -> Response {
    let mut path = req.uri().path().trim_start_matches('/').to_owned();
    if path.is_empty() || path.ends_with('/') {
        path.push_str("index.html");
    }
    if path.split('/').any(|seg| seg == "..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match site.files.get(&format!("site/{path}")) {
        Some(text) => ([(header::CONTENT_TYPE, content_type(&path))], expand(text, &site.base, Utc::now()))
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Empties the demo's data folder (only if it is the demo's, or empty).
fn fresh(data: &Path) -> Result<()> {
    if data.exists() {
        let empty = std::fs::read_dir(data).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty && !data.join(MARKER).exists() {
            bail!("{} holds data that is not the demo's; choose another folder with --data", data.display());
        }
        std::fs::remove_dir_all(data).with_context(|| format!("cannot empty {}", data.display()))?;
    }
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    std::fs::write(data.join(MARKER), "yuqing demo data: emptied at each `yuqing demo`\n")
        .with_context(|| format!("cannot write in {}", data.display()))?;
    Ok(())
}

pub fn demo(res: &Resources, a: &DemoArgs) -> Result<ExitCode> {
    let files = Files::load(a.site.as_deref())?;
    let Some(sources) = files.get("sources.toml").map(str::to_owned) else {
        bail!("the demo has no sources.toml");
    };
    if a.keep {
        std::fs::create_dir_all(&a.data).with_context(|| format!("cannot create {}", a.data.display()))?;
    } else {
        fresh(&a.data)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("demo site")?;
        let base = format!("http://{}", listener.local_addr()?);
        let site_state = Arc::new(Site { files, base: base.clone() });
        let app = axum::Router::new().fallback(site).with_state(site_state);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "demo site stopped");
            }
        });
        let listening = Arc::new(tokio::sync::Notify::new());
        let svc = Service {
            config_dir: None,
            url: format!("sqlite://{}", a.data.join("yuqing.db").display()),
            data: a.data.clone(),
            source_files: vec![("demo/sources.toml".to_owned(), expand(&sources, &base, Utc::now()))],
            once: false,
            worker: crate::service::worker_name(),
            listen: Some(a.listen),
            retention_days: 0,
            lease_secs: 120,
            claim_limit: 32,
            banner: Some(
                "演示 Demo: the sources are a county news site, a forum, a prefecture feed and a 12345 export \
                 served by this process on loopback; every page was written for the demo."
                    .to_owned(),
            ),
            public_url: None,
            announce: true,
            listening: Some(listening.clone()),
        };
        let serving = crate::service::serve(res, svc);
        tokio::pin!(serving);
        // The demo site's address only after the service has printed its own.
        tokio::select! {
            r = &mut serving => return r,
            () = listening.notified() => {
                eprintln!("demo: the sources are served at {base}/ (pages written for the demo)");
            }
        }
        serving.await
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn expands_placeholders_relative_to_today() {
        // 2026-12-06 15:00 Beijing time.
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 7, 0, 0).single().expect("time");
        let t =
            "{{base}}/a.html {{date:0}} {{date:2}} {{rfc3339:1}} {{rfc2822:3}} {{unknown}} {{date:x}} {{open";
        assert_eq!(
            expand(t, "http://127.0.0.1:9", now),
            "http://127.0.0.1:9/a.html 2026-12-06 2026-12-04 2026-12-05T10:00:00+08:00 Thu, 3 Dec 2026 10:00:00 +0800 \
             {{unknown}} {{date:x}} {{open"
        );
        assert_eq!(
            expand("{{at:1 18:20:05}} {{at:0 09:30}}", "", now),
            "2026-12-05 18:20:05 2026-12-06 09:30"
        );
        // Before 10:00, today's items are not in the future.
        let early = Utc.with_ymd_and_hms(2026, 12, 6, 0, 30, 0).single().expect("time");
        assert_eq!(expand("{{rfc3339:0}}", "", early), "2026-12-06T08:20:00+08:00");
        assert_eq!(expand("{{at:0 11:15}}", "", early), "2026-12-06 08:10");
    }

    #[test]
    fn embedded_demo_sources_parse() {
        let files = Files::load(None).expect("embedded");
        let text = files.get("sources.toml").expect("demo/sources.toml is embedded");
        let cfg = yuqing_sources::config::parse(&[(
            "demo/sources.toml".into(),
            expand(text, "http://127.0.0.1:9", Utc::now()),
        )])
        .expect("the demo's sources are valid");
        assert!(cfg.sources.len() >= 4);
        assert!(files.get("site/robots.txt").is_some());
    }
}
