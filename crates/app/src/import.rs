//! `yuqing import FILE`: posts from a file (JSON lines in `yuqing analyze`'s input format, or CSV
//! with a header naming the same fields) into the store, through the same analysis and
//! de-duplication as crawled posts. Bad lines are reported with their line number and skipped;
//! the rest is imported.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use rayon::prelude::*;
use yuqing_core::Item;
use yuqing_core::store::{IngestReport, Store};
use yuqing_store::SqlStore;

use crate::resources::Resources;
use crate::run::database_url;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSON lines (`.jsonl`, `.json`) or CSV (`.csv`) with `id`, `title`, `body`, `url`, `source`,
    /// `published_at` (RFC 3339).
    file: PathBuf,
    /// The source id recorded for posts that name none.
    #[arg(long, default_value = "import")]
    source: String,
    #[arg(long)]
    database: Option<String>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Posts per transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Store only: leave event building to the running service.
    #[arg(long)]
    no_events: bool,
}

type Row = yuqing_core::record::PostRecord;

fn item_of(row: Row, default_source: &str, line: &[u8], now: DateTime<Utc>) -> Result<Item, String> {
    row.into_item(default_source, "import", line, now)
}

/// Collects items into batches for `each` and counts good and bad records.
struct Batches<'a, F> {
    file: &'a std::path::Path,
    size: usize,
    items: Vec<Item>,
    good: usize,
    bad: usize,
    each: F,
}

impl<F: FnMut(Vec<Item>) -> bool> Batches<'_, F> {
    /// Takes one record (reporting it on stderr when bad); false when the consumer has stopped.
    fn push(&mut self, line: usize, record: Result<Item, String>) -> bool {
        match record {
            Ok(it) => self.items.push(it),
            Err(e) => {
                self.bad += 1;
                eprintln!("{}: line {line}: {e}", self.file.display());
            }
        }
        self.items.len() < self.size || self.flush()
    }

    fn flush(&mut self) -> bool {
        self.good += self.items.len();
        self.items.is_empty() || (self.each)(std::mem::take(&mut self.items))
    }
}

/// Streams the file's records as items, `batch` at a time, to `each`; bad records are reported
/// on stderr and counted. Memory stays bounded by the batch, whatever the file's size.
fn read_batches(
    a: &ImportArgs,
    now: DateTime<Utc>,
    each: impl FnMut(Vec<Item>) -> bool,
) -> Result<(usize, usize)> {
    use std::io::BufRead;
    let file = std::fs::File::open(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let size = a.batch.max(1);
    let mut b = Batches { file: &a.file, size, items: Vec::with_capacity(size), good: 0, bad: 0, each };
    if a.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        let mut r = csv::Reader::from_reader(std::io::BufReader::new(file));
        let headers = r.headers().with_context(|| format!("{}: no CSV header", a.file.display()))?.clone();
        for (i, rec) in r.records().enumerate() {
            // The record itself, re-written as one CSV line, is the evidence.
            let item = rec.map_err(|e| e.to_string()).and_then(|rec| {
                let mut raw = csv::Writer::from_writer(Vec::new());
                raw.write_record(&rec).map_err(|e| e.to_string())?;
                let raw = raw.into_inner().map_err(|e| e.to_string())?;
                let row: Row = rec.deserialize(Some(&headers)).map_err(|e| e.to_string())?;
                item_of(row, &a.source, raw.trim_ascii_end(), now)
            });
            if !b.push(i + 2, item) {
                return Ok((b.good, b.bad));
            }
        }
    } else {
        let mut r = std::io::BufReader::new(file);
        let mut buf = Vec::new();
        let mut line = 0usize;
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf).with_context(|| format!("cannot read {}", a.file.display()))?
                == 0
            {
                break;
            }
            line += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let item = serde_json::from_slice::<Row>(&buf)
                .map_err(|e| e.to_string())
                .and_then(|row| item_of(row, &a.source, buf.trim_ascii_end(), now));
            if !b.push(line, item) {
                return Ok((b.good, b.bad));
            }
        }
    }
    b.flush();
    Ok((b.good, b.bad))
}

/// Places the new posts in events and routes them (the outbox keeps the notifications for the
/// service to send), unless a running service holds the event builder's lease.
async fn build_events(res: &Resources, store: &Arc<SqlStore>) -> Result<()> {
    let (cfg, _) = crate::alerts::AlertingConfig::load(res)?;
    let worker = crate::service::worker_name();
    let alerting = yuqing_pipeline::alerting::Alerting::new(
        store.clone(),
        cfg.router.clone(),
        cfg.directory.clone(),
        cfg.policy.clone(),
        cfg.settings(&worker, Default::default(), crate::settings::get().alerts.public_url.clone()),
    );
    let started = std::time::Instant::now();
    let (mut posts, mut events, mut deliveries) = (0u64, 0u64, 0u64);
    loop {
        let s = alerting.step(Utc::now()).await?;
        if !s.leader {
            eprintln!("import: a running service builds the events of these posts");
            return Ok(());
        }
        posts += u64::from(s.posts);
        events += u64::from(s.new_events);
        deliveries += u64::from(s.deliveries);
        if s.posts == 0 {
            break;
        }
    }
    // Let a service take over at once.
    use yuqing_core::events::EventStore;
    store.take_lease("events", &worker, Utc::now() - chrono::Duration::hours(1), 1).await?;
    eprintln!(
        "import: {posts} posts placed in events ({events} new events, {deliveries} notifications queued) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn import(res: &Resources, a: &ImportArgs) -> Result<ExitCode> {
    let now = Utc::now();
    let analyzer = Arc::new(res.analyzer()?);
    let url = database_url(a.database.as_deref(), a.data.as_deref())?;
    let version = format!("yuqing-{}", env!("CARGO_PKG_VERSION"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    let started = std::time::Instant::now();
    let (report, good, bad) = rt.block_on(async {
        let store = Arc::new(SqlStore::connect(&url).await.with_context(|| format!("cannot open {url}"))?);
        store.migrate().await?;
        // Reading and analysis on the CPU pool, storing on the runtime: a bounded channel between
        // them keeps memory flat.
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let an = analyzer.clone();
        let args = ImportArgs {
            file: a.file.clone(),
            source: a.source.clone(),
            database: None,
            data: a.data.clone(),
            batch: a.batch,
            no_events: a.no_events,
        };
        let producer = tokio::task::spawn_blocking(move || {
            read_batches(&args, now, |chunk| {
                let posts: Vec<_> = chunk
                    .into_par_iter()
                    .flat_map_iter(|it| yuqing_pipeline::prepare(&an, &version, vec![it]))
                    .collect();
                tx.blocking_send(posts).is_ok()
            })
        });
        let mut report = IngestReport::default();
        let mut progress = crate::progress::Progress::new("import", None);
        while let Some(posts) = rx.recv().await {
            report.add(store.ingest(&posts, Utc::now()).await?);
            progress.add(posts.len() as u64);
        }
        progress.finish();
        let (good, bad) = producer.await.context("reading task")??;
        // The search index follows the store.
        let data = crate::settings::get().data_dir(a.data.as_deref());
        let index = crate::search_cmd::open_index(&data, analyzer.shared_segmenter())?;
        let indexed = crate::search_cmd::catch_up(store.as_ref(), &index).await?;
        eprintln!("import: {indexed} posts added to the search index");
        if !a.no_events {
            build_events(res, &store).await?;
        }
        Ok::<_, anyhow::Error>((report, good, bad))
    })?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "import: {} records read ({bad} bad), {} new posts, {} copies, {} near-duplicates, {} already stored; {:.0} posts/s",
        good + bad,
        report.inserted,
        report.duplicates,
        report.near_duplicates,
        report.already_stored,
        good as f64 / secs.max(1e-9)
    );
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
