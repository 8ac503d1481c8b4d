//! `yuqing extract`, `yuqing crawl --once` and `yuqing eval extract`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::{Deserialize, Serialize};
use yuqing_core::{Cursor, Source};
use yuqing_sources::encoding::{self, DocKind};
use yuqing_sources::extract::{self, score};
use yuqing_sources::fetch::{FetchConfig, FetchDefaults, FetchOutcome, Fetcher, Politeness};
use yuqing_sources::schedule::{self, Health};
use yuqing_sources::{ConfiguredSource, config};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn parse_tz(s: &str) -> Result<chrono_tz::Tz> {
    s.parse().map_err(|_| anyhow::anyhow!("unknown time zone {s:?}"))
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// A local file (read as HTML whatever its extension) or an http(s) URL.
    target: String,
    /// Force the character encoding (e.g. gbk, big5, utf-8).
    #[arg(long)]
    encoding: Option<String>,
    /// Time zone for dates without an offset.
    #[arg(long, default_value = "Asia/Shanghai")]
    timezone: String,
    /// Allow a URL on a private or loopback address (an intranet page).
    #[arg(long)]
    allow_private: bool,
}

#[derive(Debug, Serialize)]
struct ExtractOut {
    title: String,
    body: String,
    published_at: Option<DateTime<Utc>>,
    author: Option<String>,
    encoding: String,
    charset_source: encoding::CharsetSource,
    article: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_sha256: Option<String>,
}

pub fn extract_cmd(a: &ExtractArgs) -> Result<ExitCode> {
    let tz = parse_tz(&a.timezone)?;
    let now = Utc::now();
    let is_url = a.target.starts_with("http://") || a.target.starts_with("https://");
    let (bytes, charset, url, sha) = if is_url {
        let url = url::Url::parse(&a.target).with_context(|| format!("bad URL {:?}", a.target))?;
        let rt = runtime()?;
        let fetched = rt.block_on(async {
            let pol = Politeness::new(FetchDefaults::default())?;
            let cfg = FetchConfig { allow_private_addresses: a.allow_private, ..FetchConfig::default() };
            Fetcher::new("extract", &cfg, pol)?.get(&url, None).await
        })?;
        let FetchOutcome::Fetched(f) = fetched else { bail!("{url}: unexpected 304") };
        let charset = f.charset();
        (f.body.to_vec(), charset, Some(f.url.to_string()), Some(f.sha256.clone()))
    } else {
        let bytes = std::fs::read(&a.target).with_context(|| format!("cannot read {}", a.target))?;
        (bytes, None, None, None)
    };
    let tld = url.as_deref().and_then(|u| url::Url::parse(u).ok()).and_then(|u| {
        u.host_str().and_then(|h| h.rsplit('.').next().map(|t| t.as_bytes().to_ascii_lowercase()))
    });
    let decoded =
        encoding::decode(&bytes, DocKind::Html, charset.as_deref(), a.encoding.as_deref(), tld.as_deref())?;
    let doc = scraper::Html::parse_document(&decoded.text);
    let x = extract::extract(&doc, None, now, tz);
    let out = ExtractOut {
        title: x.title,
        body: x.body,
        published_at: x.published_at,
        author: x.author,
        encoding: decoded.encoding,
        charset_source: decoded.source,
        article: x.article,
        url,
        raw_sha256: sha,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Crawl only this source.
    #[arg(long)]
    source: Option<String>,
    /// Fetch each source once and exit (continuous crawling belongs to the service).
    #[arg(long)]
    once: bool,
    /// A JSON file keeping each source's cursor, health and next due time between runs.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Also poll sources that are disabled in the configuration.
    #[arg(long)]
    include_disabled: bool,
}

/// What `--state` keeps per source.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SourceState {
    #[serde(default)]
    cursor: Cursor,
    #[serde(default)]
    health: Health,
    next_due_at: Option<DateTime<Utc>>,
}

/// The sources configuration: `--config` (a file or a folder), else `./config/sources`, else the
/// copy embedded in the binary.
fn sources_files(given: Option<&Path>, embedded: &[(&str, &str)]) -> Result<Vec<(String, String)>> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None if Path::new("config/sources").is_dir() => PathBuf::from("config/sources"),
        None => {
            return Ok(embedded
                .iter()
                .filter(|(p, _)| p.starts_with("sources/"))
                .map(|(p, t)| (format!("(embedded config)/{p}"), (*t).to_owned()))
                .collect());
        }
    };
    let path = if path.is_dir() && path.join("sources").is_dir() { path.join("sources") } else { path };
    config::read_files(&path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn crawl(given: Option<&Path>, embedded: &[(&str, &str)], a: &CrawlArgs) -> Result<ExitCode> {
    if !a.once {
        bail!("only `yuqing crawl --once` exists so far: it fetches each source once and prints the items");
    }
    let files = sources_files(given, embedded)?;
    if files.is_empty() {
        bail!("no sources configuration found");
    }
    let cfg = config::parse(&files).map_err(|errs| {
        anyhow::anyhow!(
            "invalid sources configuration:\n{}",
            errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
        )
    })?;
    let selected: Vec<_> = cfg
        .sources
        .into_iter()
        .filter(|s| a.source.as_deref().is_none_or(|id| s.common.id == id))
        .filter(|s| s.common.enabled || a.include_disabled || a.source.is_some())
        .collect();
    if selected.is_empty() {
        bail!(
            "no source {}",
            a.source.as_deref().map(|s| format!("with id {s:?}")).unwrap_or_else(|| "enabled".into())
        );
    }
    let mut state: BTreeMap<String, SourceState> = match &a.state {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{}: not a crawl state file", p.display()))?
        }
        _ => BTreeMap::new(),
    };
    let rt = runtime()?;
    let politeness = Politeness::new(cfg.fetch.clone())?;
    let mut sources = Vec::new();
    for s in selected {
        sources.push(Arc::new(ConfiguredSource::new(s, politeness.clone())?));
    }
    let results = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        let mut index_of = std::collections::HashMap::new();
        for (i, s) in sources.iter().enumerate() {
            let s = s.clone();
            let cursor = state.get(s.id()).map(|st| st.cursor.clone()).unwrap_or_default();
            let handle = set.spawn(async move { s.poll(cursor, Utc::now()).await });
            index_of.insert(handle.id(), i);
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next_with_id().await {
            // A task that panicked is that source's failure, not the run's.
            let (i, result) = match r {
                Ok((id, poll)) => (index_of[&id], poll),
                Err(e) => (
                    index_of[&e.id()],
                    Err(yuqing_core::SourceError::Permanent { reason: format!("the poll crashed: {e}") }),
                ),
            };
            out.push((i, Utc::now(), result));
        }
        out
    });
    let mut failed = 0;
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut results = results;
    results.sort_by_key(|r| r.0);
    for (i, now, r) in results {
        let s = &sources[i];
        let id = s.id().to_owned();
        let st = state.entry(id.clone()).or_default();
        let mut retry_after = None;
        match r {
            Ok(poll) => {
                for item in &poll.items {
                    serde_json::to_writer(&mut w, item)?;
                    w.write_all(b"\n")?;
                }
                eprintln!(
                    "{id}: {} new items, {} requests{}{}",
                    poll.items.len(),
                    poll.requests,
                    if poll.not_modified > 0 { " (not modified)" } else { "" },
                    if poll.issues.is_empty() {
                        String::new()
                    } else {
                        format!(", {} issues", poll.issues.len())
                    }
                );
                for issue in &poll.issues {
                    eprintln!("  {id}: {}: {}", issue.at, issue.reason);
                }
                st.cursor = poll.cursor;
                st.health.record_success(now, poll.items.len() as u32);
            }
            Err(e) => {
                failed += 1;
                eprintln!("{id}: failed: {e}");
                st.health.record_failure(now, &e.to_string());
                retry_after = match &e {
                    yuqing_core::SourceError::Transient { retry_after_secs, .. } => *retry_after_secs,
                    _ => None,
                };
            }
        }
        let due = schedule::next_due(&s.config.schedule, &st.health, now, schedule::jitter_key(&id));
        // A server that said when to come back (Retry-After) is not asked sooner.
        let asked = retry_after.map(|secs| now + chrono::TimeDelta::seconds(secs.min(7 * 86_400) as i64));
        st.next_due_at = Some(asked.map_or(due, |a| a.max(due)));
    }
    w.flush()?;
    if let Some(p) = &a.state {
        let text = serde_json::to_string_pretty(&state)?;
        std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[derive(Debug, Args)]
pub struct EvalExtractArgs {
    /// The corpus index (`html/INDEX.jsonl`); page paths in it are relative to the corpus root.
    #[arg(long)]
    index: PathBuf,
    /// Only pages whose language starts with this (e.g. `zh`).
    #[arg(long)]
    lang: Option<String>,
    /// Score another extractor's output instead of ours: JSON lines `{file, title, body}`.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Print one JSON line per page and a summary line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Deserialize)]
struct IndexEntry {
    file: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    bytes: String,
    expected_file: Option<String>,
    expected_title: Option<String>,
    expected_encoding: Option<String>,
    #[serde(default)]
    must_contain: Vec<String>,
    #[serde(default)]
    must_not_contain: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Prediction {
    file: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

#[derive(Debug, Serialize)]
struct PageScore {
    file: String,
    lang: String,
    title_ok: Option<bool>,
    /// Body F1, or the snippet score on snippet-only truth.
    body: Option<f64>,
    truth: &'static str,
    article: Option<bool>,
    encoding: Option<String>,
    /// Legacy-encoded pages: decoded with no U+FFFD and at least 10 CJK characters.
    legacy_ok: Option<bool>,
}

/// Expected body text of a page: (text, snippets) from the expected file, if any.
fn expected_body(root: &Path, e: &IndexEntry) -> Result<(Option<String>, Vec<String>, Vec<String>)> {
    let mut with = e.must_contain.clone();
    let mut without = e.must_not_contain.clone();
    let Some(f) = &e.expected_file else { return Ok((None, with, without)) };
    let path = root.join(f);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if f.ends_with(".json") {
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        fn find(v: &serde_json::Value, keys: &[&str]) -> Option<String> {
            match v {
                serde_json::Value::Object(m) => {
                    for k in keys {
                        if let Some(s) = m.get(*k).and_then(|x| x.as_str()).filter(|s| !s.trim().is_empty()) {
                            return Some(s.to_owned());
                        }
                    }
                    m.values().find_map(|x| find(x, keys))
                }
                _ => None,
            }
        }
        let strings = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(|x| x.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        if with.is_empty() {
            with = strings("with");
        }
        if without.is_empty() {
            without = strings("without");
        }
        Ok((find(&v, &["articleBody", "content", "cleaned_text"]), with, without))
    } else if f.ends_with(".txt") {
        Ok((Some(text), with, without))
    } else {
        let doc = scraper::Html::parse_document(&text);
        Ok((Some(extract::visible_text(&doc)), with, without))
    }
}

fn cjk_count(s: &str) -> usize {
    s.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count()
}

pub fn eval_extract(a: &EvalExtractArgs) -> Result<ExitCode> {
    let index_text =
        std::fs::read_to_string(&a.index).with_context(|| format!("cannot read {}", a.index.display()))?;
    let index_dir = a.index.parent().unwrap_or(Path::new("."));
    let root = index_dir.parent().unwrap_or(Path::new("."));
    let predictions: Option<BTreeMap<String, Prediction>> = match &a.predictions {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            let mut m = BTreeMap::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let pr: Prediction =
                    serde_json::from_str(line).with_context(|| format!("{}: line {}", p.display(), n + 1))?;
                m.insert(pr.file.clone(), pr);
            }
            Some(m)
        }
        None => None,
    };
    let now = Utc::now();
    let tz = chrono_tz::Asia::Shanghai;
    let mut scores = Vec::new();
    for (n, line) in index_text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let e: IndexEntry =
            serde_json::from_str(line).with_context(|| format!("{}: line {}", a.index.display(), n + 1))?;
        if a.lang.as_deref().is_some_and(|l| !e.lang.starts_with(l)) {
            continue;
        }
        let legacy =
            e.file.contains("legacy-encodings") || !(e.bytes.is_empty() || e.bytes.starts_with("utf-8"));
        let (title, body, article, enc) = match &predictions {
            Some(p) => match p.get(&e.file) {
                Some(pr) => (pr.title.clone(), pr.body.clone(), None, None),
                None => (String::new(), String::new(), None, None),
            },
            None => {
                let bytes =
                    std::fs::read(root.join(&e.file)).with_context(|| format!("cannot read {}", e.file))?;
                let d = encoding::decode(&bytes, DocKind::Html, None, None, None)?;
                let doc = scraper::Html::parse_document(&d.text);
                let x = extract::extract(&doc, None, now, tz);
                (x.title, x.body, Some(x.article), Some(d.encoding))
            }
        };
        let (truth_text, with, without) = expected_body(root, &e)?;
        let (body_score, truth) = match (&truth_text, with.is_empty() && without.is_empty()) {
            (Some(t), _) => (Some(score::body_f1(t, &body)), "text"),
            (None, false) => (Some(score::snippet_score(&with, &without, &body)), "snippets"),
            (None, true) => (None, "none"),
        };
        let legacy_ok = legacy.then(|| {
            let all = format!("{title}\n{body}");
            !all.contains('\u{FFFD}') && cjk_count(&all) >= 10
        });
        let _ = &e.expected_encoding;
        scores.push(PageScore {
            file: e.file.clone(),
            lang: e.lang.clone(),
            title_ok: e.expected_title.as_deref().map(|t| score::title_correct(t, &title)),
            body: body_score,
            truth,
            article,
            encoding: enc,
            legacy_ok,
        });
    }
    let titled: Vec<bool> = scores.iter().filter_map(|s| s.title_ok).collect();
    let bodies: Vec<f64> = scores.iter().filter_map(|s| s.body).collect();
    let legacy: Vec<bool> = scores.iter().filter_map(|s| s.legacy_ok).collect();
    let mean = if bodies.is_empty() { 0.0 } else { bodies.iter().sum::<f64>() / bodies.len() as f64 };
    let title_acc = if titled.is_empty() {
        0.0
    } else {
        titled.iter().filter(|b| **b).count() as f64 / titled.len() as f64
    };
    if a.json {
        for s in &scores {
            println!("{}", serde_json::to_string(s)?);
        }
        println!(
            "{}",
            serde_json::json!({"summary": {"pages": scores.len(), "title_accuracy": title_acc, "titled": titled.len(),
                "mean_body": mean, "scored": bodies.len(), "legacy_ok": legacy.iter().filter(|b| **b).count(), "legacy": legacy.len()}})
        );
    } else {
        println!("{:<70} {:>6} {:>7} {:>9} {:>8}", "page", "title", "body", "truth", "legacy");
        for s in &scores {
            let t = s.title_ok.map(|b| if b { "ok" } else { "WRONG" }).unwrap_or("-");
            let b = s.body.map(|b| format!("{b:.3}")).unwrap_or_else(|| "-".into());
            let l = s.legacy_ok.map(|b| if b { "ok" } else { "BAD" }).unwrap_or("-");
            println!("{:<70} {:>6} {:>7} {:>9} {:>8}", s.file, t, b, s.truth, l);
        }
        println!(
            "pages {}  title accuracy {:.3} ({}/{})  mean body score {:.4} over {} pages  legacy decoded {}/{}",
            scores.len(),
            title_acc,
            titled.iter().filter(|b| **b).count(),
            titled.len(),
            mean,
            bodies.len(),
            legacy.iter().filter(|b| **b).count(),
            legacy.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct EvalRobustnessArgs {
    /// A folder of saved pages, feeds and JSON responses (e.g. `../shared/corpus`), read recursively.
    corpus: PathBuf,
}

/// Runs every page, feed and JSON file through the same code the crawler uses (decoding,
/// extraction, feed parsing, JSON mapping with the Weibo presets) and reports each failure with its
/// reason; a panic is caught, counted and makes the run fail.
pub fn eval_robustness(a: &EvalRobustnessArgs) -> Result<ExitCode> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use yuqing_sources::kinds::{feed, json_api};

    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(&a.corpus, &mut files)?;
    let now = Utc::now();
    let tz = chrono_tz::Asia::Shanghai;
    let (mut pages, mut feeds, mut jsons, mut skipped, mut failures, mut panics) = (0, 0, 0, 0, 0, 0);
    for path in &files {
        let name = path.strip_prefix(&a.corpus).unwrap_or(path).display().to_string();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let in_feeds = name.starts_with("feeds/");
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let kind = match ext.as_str() {
            "html" | "htm" => "page",
            "xml" | "rss" | "atom" | "rdf" => "feed",
            "json" if in_feeds && !name.ends_with(".serde.json") && !name.contains("/expected/") => "feed",
            "json" => "json",
            "txt" if name.starts_with("social/") => "page",
            _ => {
                skipped += 1;
                continue;
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| -> Result<String, String> {
            match kind {
                "page" => {
                    let d = encoding::decode(&bytes, DocKind::Html, None, None, None)
                        .map_err(|e| e.to_string())?;
                    let x = extract::extract(&scraper::Html::parse_document(&d.text), None, now, tz);
                    if x.body.trim().is_empty()
                        && !d.text.trim().is_empty()
                        && !extract::visible_text(&scraper::Html::parse_document(&d.text)).is_empty()
                    {
                        return Err("empty body from a page with visible text".into());
                    }
                    Ok(format!("{} chars, article {}", x.body.chars().count(), x.article))
                }
                "feed" => {
                    let f = feed::parse_feed(&bytes, None, None, None, now, tz)?;
                    let issues: Vec<String> =
                        f.issues.iter().map(|i| format!("{}: {}", i.at, i.reason)).collect();
                    Ok(format!(
                        "{} entries{}",
                        f.entries.len(),
                        if issues.is_empty() {
                            String::new()
                        } else {
                            format!(", reported: {}", issues.join("; "))
                        }
                    ))
                }
                _ => {
                    let v = json_api::parse_json(&bytes, None)?;
                    let mut n = 0;
                    for preset in [json_api::Preset::WeiboContainer, json_api::Preset::WeiboComments] {
                        n += json_api::map_response(&v, &preset.mapping(), now, tz).0.len();
                    }
                    Ok(format!("valid JSON, {n} posts/comments through the Weibo presets"))
                }
            }
        }));
        match kind {
            "page" => pages += 1,
            "feed" => feeds += 1,
            _ => jsons += 1,
        }
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(reason)) => {
                failures += 1;
                println!("{name}: {kind}: {reason}");
            }
            Err(_) => {
                panics += 1;
                println!("{name}: {kind}: PANIC");
            }
        }
    }
    println!(
        "files {}  pages {pages}  feeds {feeds}  json {jsons}  skipped (other formats) {skipped}  failures reported {failures}  panics {panics}",
        files.len()
    );
    Ok(if panics > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
