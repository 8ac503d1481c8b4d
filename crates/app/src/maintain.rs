//! Maintenance: `yuqing backup DIR` (an online copy of the embedded database) and
//! `yuqing reanalyze` (analysis computed again after a rule or dictionary change, stored as the
//! current version, and the search index's departments and sentiment updated to match).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Args;
use rayon::prelude::*;
use yuqing_core::store::Store;
use yuqing_domain::Document;
use yuqing_store::{Backend, SqlStore};

use crate::resources::Resources;
use crate::run::database_url;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Folder to write the backup into (created if missing); the file is named by the time.
    dir: PathBuf,
    #[arg(long)]
    database: Option<String>,
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReanalyzeArgs {
    #[arg(long)]
    database: Option<String>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Posts analysed and stored per transaction.
    #[arg(long, default_value_t = 1000)]
    batch: u32,
}

/// `yuqing backup DIR`: SQLite is copied online (writers go on) into
/// `DIR/yuqing-YYYYMMDDTHHMMSSZ.db`, then opened read-only, checked and counted. The search index
/// is not copied: it is derived data (`yuqing reindex` rebuilds it). PostgreSQL is backed up with
/// `pg_dump` (README, Backup).
pub fn backup(a: &BackupArgs) -> Result<ExitCode> {
    let url = database_url(a.database.as_deref(), a.data.as_deref())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("async runtime")?;
    rt.block_on(async {
        let store = SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?;
        if store.backend() == Backend::Postgres {
            bail!(
                "{url} is PostgreSQL: back it up with its own tool, e.g.\n  pg_dump --format=custom --file={}/yuqing.dump '{url}'\n(restore: pg_restore --dbname=… --clean yuqing.dump)",
                a.dir.display()
            );
        }
        std::fs::create_dir_all(&a.dir).with_context(|| format!("cannot create {}", a.dir.display()))?;
        let file = a.dir.join(format!("yuqing-{}.db", Utc::now().format("%Y%m%dT%H%M%SZ")));
        let started = std::time::Instant::now();
        let posts = store.backup_to(&file).await?;
        let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "backup: {posts} posts, {:.1} MB in {:.1} s",
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        println!("{}", file.display());
        Ok(ExitCode::SUCCESS)
    })
}

/// `yuqing reanalyze`: every stored post (purged ones left out) analysed again with the
/// configuration and dictionaries in use now, stored as the current analysis version, and its
/// search document replaced. Safe to stop and run again: each batch is one transaction.
pub fn reanalyze(res: &Resources, a: &ReanalyzeArgs) -> Result<ExitCode> {
    let analyzer = Arc::new(res.analyzer()?);
    let url = database_url(a.database.as_deref(), a.data.as_deref())?;
    let data = crate::settings::get().data_dir(a.data.as_deref());
    let version = format!("yuqing-{}", env!("CARGO_PKG_VERSION"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    let started = std::time::Instant::now();
    let (n, changed) = rt.block_on(async {
        let store = SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?;
        store.migrate().await?;
        let index = crate::search_cmd::open_index(&data, analyzer.shared_segmenter())?;
        // Posts not yet in the index are added first, so the replacements below cover them.
        crate::search_cmd::catch_up(&store, &index).await?;
        let total = store.count_posts().await?;
        let mut progress = crate::progress::Progress::new("reanalyze", Some(total));
        let mut writer = index.writer()?;
        let (mut after, mut n, mut changed) = (0i64, 0u64, 0u64);
        loop {
            let batch = store.scan_posts(after, a.batch.max(1)).await?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            let an = analyzer.clone();
            let results: Vec<(i64, String)> = tokio::task::block_in_place(|| {
                batch
                    .par_iter()
                    .map(|p| {
                        let doc = Document {
                            id: p.id.to_string(),
                            title: p.title.clone(),
                            body: p.body.clone(),
                            url: None,
                            source: Some(p.source_id.clone()),
                            published_at: Some(p.time.to_rfc3339()),
                        };
                        let mut json = Vec::new();
                        an.analyze(&doc, None).write_json(&mut json);
                        (p.id, String::from_utf8_lossy(&json).into_owned())
                    })
                    .collect()
            });
            store.save_analyses(&version, &results, Utc::now()).await?;
            let mut docs = Vec::with_capacity(batch.len());
            for (p, (_, json)) in batch.iter().zip(&results) {
                if !same_result(p.analysis.as_deref(), json) {
                    changed += 1;
                }
                let mut updated = p.clone();
                updated.analysis = Some(json.clone());
                docs.push(crate::search_cmd::indexed(&updated));
            }
            let ids: Vec<u64> = docs.iter().map(|d| d.id).collect();
            index.delete(&writer, &ids);
            index.add(&writer, &docs)?;
            n += batch.len() as u64;
            progress.add(batch.len() as u64);
            // The index keeps up in steps, so an interrupted run leaves little to redo.
            if n % (50 * u64::from(a.batch.max(1))) == 0 {
                index.commit(&mut writer)?;
            }
        }
        index.commit(&mut writer)?;
        writer.wait_merging_threads().map_err(|e| anyhow::anyhow!("search index merge: {e}"))?;
        progress.finish();
        Ok::<_, anyhow::Error>((n, changed))
    })?;
    eprintln!(
        "reanalyze: {n} posts analysed as {version} in {:.1} s; {changed} results changed",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Two analysis results are the same apart from the document id they carry (stored posts were
/// analysed under their item id, re-analysis uses the post id).
fn same_result(old: Option<&str>, new: &str) -> bool {
    let parse = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s).ok().map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("id");
            }
            v
        })
    };
    match (old.and_then(parse), parse(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_compare_without_their_id() {
        assert!(same_result(Some(r#"{"id":"u1","departments":[1]}"#), r#"{"id":"7","departments":[1]}"#));
        assert!(!same_result(Some(r#"{"id":"u1","departments":[1]}"#), r#"{"id":"7","departments":[2]}"#));
        assert!(!same_result(None, r#"{"id":"7"}"#));
    }
}
