//! `yuqing reindex` (rebuild the search index from the store) and `yuqing search "QUERY"`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use yuqing_core::store::{Store, StoredPost};
use yuqing_search::{IndexedPost, SearchIndex, SearchQuery};
use yuqing_store::SqlStore;

use crate::resources::Resources;
use crate::run::database_url;

#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Only compare: the index's document ids against the store's posts (exit 1 when they differ).
    #[arg(long)]
    check: bool,
    #[arg(long)]
    database: Option<String>,
    /// The data folder (the index lives in DATA/index).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for (Chinese needs no spaces).
    #[arg(required_unless_present = "queries")]
    query: Option<String>,
    /// Run every query of this file (one per line) and report latency percentiles on stderr.
    #[arg(long)]
    queries: Option<PathBuf>,
    #[arg(long)]
    source: Option<String>,
    /// A unit id (`housing`, `township-654025104`…).
    #[arg(long)]
    department: Option<String>,
    #[arg(long)]
    lang: Option<String>,
    /// negative, neutral or positive.
    #[arg(long)]
    sentiment: Option<String>,
    /// RFC 3339 time, inclusive.
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// RFC 3339 time, exclusive.
    #[arg(long)]
    to: Option<DateTime<Utc>>,
    /// Newest first instead of most relevant first.
    #[arg(long)]
    by_time: bool,
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[arg(long)]
    data: Option<PathBuf>,
}

fn index_dir(data: &Path) -> PathBuf {
    data.join("index")
}

/// What the index keeps of a stored post: departments and sentiment come from its analysis.
pub fn indexed(p: &StoredPost) -> IndexedPost {
    let a: serde_json::Value =
        p.analysis.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
    let departments = a["departments"]
        .as_array()
        .map(|d| d.iter().filter_map(|x| x["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    IndexedPost {
        id: p.id.max(0) as u64,
        title: p.title.clone(),
        body: p.body.clone(),
        source: p.source_id.clone(),
        departments,
        lang: p.lang.clone().unwrap_or_default(),
        sentiment: a["sentiment"]["label"].as_str().unwrap_or("").to_owned(),
        time: p.time,
    }
}

/// Posts indexed between two commits of a long catch-up.
const CATCH_UP_COMMIT_EVERY: usize = 50_000;

/// How far the index has followed the store: the commit order (`seq`) of the last post it took,
/// kept in the index's commit payload as `seq:N` (an index written before there was a payload
/// falls back to its largest post id, which was the commit order then).
fn followed(index: &SearchIndex) -> Result<i64> {
    if let Some(n) =
        index.payload()?.as_deref().and_then(|p| p.strip_prefix("seq:")).and_then(|n| n.parse().ok())
    {
        return Ok(n);
    }
    Ok(index.ids()?.last().map_or(0, |&id| id as i64))
}

/// Indexes every post committed to the store after the last one the index took (after a crash,
/// or after other writers stored posts), in commit order: the index catches up with the store.
/// Returns how many were added.
pub async fn catch_up<S: Store>(store: &S, index: &SearchIndex) -> Result<usize> {
    let mut after = followed(index)?;
    let mut writer = index.writer()?;
    let mut n = 0;
    let mut progress: Option<crate::progress::Progress> = None;
    loop {
        let batch = store.scan_committed(after, 2000).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        let docs: Vec<IndexedPost> = batch.iter().map(indexed).collect();
        index.add(&writer, &docs)?;
        n += docs.len();
        // A long catch-up (a reindex, a node far behind) commits in steps: what is done survives
        // a crash, and the writer's pending operations (each add carries a delete of the same id)
        // do not pile up in memory.
        if n % CATCH_UP_COMMIT_EVERY < docs.len() {
            index.commit_with_payload(&mut writer, &format!("seq:{after}"))?;
        }
        // Only long catch-ups (a reindex, a node far behind) show progress.
        if n >= 10_000 {
            progress
                .get_or_insert_with(|| crate::progress::Progress::new("search index", None))
                .add(docs.len() as u64);
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    if n > 0 {
        index.commit_with_payload(&mut writer, &format!("seq:{after}"))?;
        metrics::counter!("yuqing_posts_indexed_total").increment(n as u64);
    }
    // Let the merges the commit started finish (dropping the writer would discard them).
    writer.wait_merging_threads().map_err(|e| anyhow::anyhow!("search index merge: {e}"))?;
    Ok(n)
}

/// Retention: purges the text, author and evidence of posts fetched more than `days` days ago and
/// removes them from the search index. `days == 0` keeps everything. Returns how many were purged.
pub async fn apply_retention<S: Store>(
    store: &S,
    index: &SearchIndex,
    days: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize> {
    if days == 0 {
        return Ok(0);
    }
    let ids = store.purge_before(now - chrono::TimeDelta::days(i64::from(days)), now).await?;
    if !ids.is_empty() {
        let mut writer = index.writer()?;
        let ids: Vec<u64> = ids.iter().map(|&i| i.max(0) as u64).collect();
        index.delete(&writer, &ids);
        index.commit(&mut writer)?;
        writer.wait_merging_threads().map_err(|e| anyhow::anyhow!("search index merge: {e}"))?;
    }
    Ok(ids.len())
}

/// Opens the data folder's index.
pub fn open_index(data: &Path, res_segmenter: std::sync::Arc<yuqing_text::Segmenter>) -> Result<SearchIndex> {
    Ok(SearchIndex::open(&index_dir(data), res_segmenter)?)
}

pub fn reindex(res: &Resources, a: &ReindexArgs) -> Result<ExitCode> {
    let analyzer = res.analyzer()?;
    let url = database_url(a.database.as_deref(), a.data.as_deref())?;
    let dir = index_dir(&crate::settings::get().data_dir(a.data.as_deref()));
    if a.check {
        return check(&url, &dir, analyzer.shared_segmenter());
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let index = SearchIndex::open(&dir, analyzer.shared_segmenter())?;
    let started = std::time::Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    let n = rt.block_on(async {
        let store = SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?;
        store.migrate().await?;
        // An empty index catches up with the whole store.
        catch_up(&store, &index).await
    })?;
    eprintln!(
        "reindex: {n} posts indexed in {:.1} s into {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `reindex --check`: the ids in the index equal the ids of the stored (not purged) posts.
fn check(url: &str, dir: &Path, segmenter: std::sync::Arc<yuqing_text::Segmenter>) -> Result<ExitCode> {
    let index = SearchIndex::open(dir, segmenter)?;
    let in_index = index.ids()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("async runtime")?;
    let stored: Vec<u64> = rt.block_on(async {
        let store = SqlStore::connect(url).await.with_context(|| format!("cannot open {url}"))?;
        let (mut ids, mut after) = (Vec::new(), 0i64);
        loop {
            let batch = store.scan_posts(after, 5000).await?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            ids.extend(batch.iter().map(|p| p.id.max(0) as u64));
        }
        Ok::<_, anyhow::Error>(ids)
    })?;
    let index_set: std::collections::BTreeSet<u64> = in_index.iter().copied().collect();
    let store_set: std::collections::BTreeSet<u64> = stored.iter().copied().collect();
    let missing: Vec<_> = store_set.difference(&index_set).take(10).collect();
    let extra: Vec<_> = index_set.difference(&store_set).take(10).collect();
    let twice = in_index.len() - index_set.len();
    println!(
        "{}",
        serde_json::json!({
            "stored": stored.len(), "indexed": in_index.len(), "indexed_twice": twice,
            "missing_from_index": store_set.difference(&index_set).count(),
            "not_in_store": index_set.difference(&store_set).count(),
            "examples_missing": missing, "examples_extra": extra,
        })
    );
    Ok(if missing.is_empty() && extra.is_empty() && twice == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn search(res: &Resources, a: &SearchArgs) -> Result<ExitCode> {
    let analyzer = res.analyzer()?;
    let dir = index_dir(&crate::settings::get().data_dir(a.data.as_deref()));
    if !dir.exists() {
        anyhow::bail!("no search index in {} (run `yuqing reindex`)", dir.display());
    }
    let index = SearchIndex::open(&dir, analyzer.shared_segmenter())?;
    let make = |text: &str| SearchQuery {
        text: text.to_owned(),
        source: a.source.clone(),
        department: a.department.clone(),
        lang: a.lang.clone(),
        sentiment: a.sentiment.clone(),
        from: a.from,
        to: a.to,
        by_time: a.by_time,
        limit: a.limit,
    };
    if let Some(file) = &a.queries {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let mut times = Vec::new();
        let mut total_hits = 0;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let t = std::time::Instant::now();
            let hits = index.search(&make(line))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            total_hits += hits.len();
            println!("{}", serde_json::json!({"query": line, "hits": hits.len(), "ms": times.last()}));
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            times.get(((times.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0)
        };
        eprintln!(
            "search: {} queries, {total_hits} hits; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            times.len(),
            pct(0.5),
            pct(0.99),
            times.last().copied().unwrap_or(0.0)
        );
        return Ok(ExitCode::SUCCESS);
    }
    for h in index.search(&make(a.query.as_deref().unwrap_or("")))? {
        println!(
            "{}",
            serde_json::json!({"id": h.id, "score": h.score, "time": h.time, "title": h.title, "snippet": h.snippet})
        );
    }
    Ok(ExitCode::SUCCESS)
}
