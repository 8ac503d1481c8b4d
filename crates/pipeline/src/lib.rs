//! The running loop of collection: claim the sources that are due, poll them, analyse what they
//! return off the async reactor, and commit each poll's posts together with the source's cursor,
//! health and next due time in one store transaction. Several processes on one database split the
//! work through the store's leases; a crash loses nothing (the lease expires, the cursor was not
//! advanced, the items come again and are recognised).
//!
//! Generic over the store and the source type: this crate names no concrete adapter.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use yuqing_analysis::Analyzer;
use yuqing_core::store::{IngestReport, NewPost, Store, StoreError};
use yuqing_core::{Item, Poll, Source, SourceError};
use yuqing_domain::Document;

/// What a poll's outcome does to a source's health and schedule: `(stored health JSON, outcome,
/// now) -> (new health JSON, next due time)`. The collection layer owns both shapes; the app wires
/// its schedule functions in here.
pub type Reschedule = Arc<
    dyn Fn(&str, &str, Result<u32, &SourceError>, DateTime<Utc>) -> (String, DateTime<Utc>) + Send + Sync,
>;

/// Settings of one worker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This worker's name in leases (host and process id by default).
    pub worker: String,
    pub lease_secs: i64,
    /// Sources claimed per round.
    pub claim_limit: u32,
    /// How long to wait when nothing is due.
    pub idle: std::time::Duration,
    /// Stored with each analysis so results can be recomputed after a rule change.
    pub analysis_version: String,
}

/// A round's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub claimed: u32,
    pub polled_ok: u32,
    pub failed: u32,
    pub lease_lost: u32,
    pub ingest: IngestReport,
}

pub struct Pipeline<S, P> {
    store: Arc<S>,
    sources: HashMap<String, Arc<P>>,
    analyzer: Arc<Analyzer>,
    reschedule: Reschedule,
    settings: Settings,
}

impl<S, P> std::fmt::Debug for Pipeline<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("sources", &self.sources.len())
            .field("settings", &self.settings)
            .finish()
    }
}

/// SHA-256 of the normalised title and body: equal for copies of the same text.
pub fn content_hash(title: &str, body: &str) -> String {
    let t = yuqing_text::normalize(title);
    let b = yuqing_text::normalize(body);
    let mut h = Sha256::new();
    h.update(t.as_str().as_bytes());
    h.update([0x1f]);
    h.update(b.as_str().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Analyses items into posts ready to store (CPU work: call it off the reactor).
pub fn prepare(analyzer: &Analyzer, version: &str, items: Vec<Item>) -> Vec<NewPost> {
    items
        .into_iter()
        .map(|item| {
            let mut item = item;
            // PostgreSQL text cannot hold NUL; no reader needs it.
            for s in [&mut item.title, &mut item.body] {
                if s.contains('\0') {
                    *s = s.replace('\0', "");
                }
            }
            if let Some(a) = item.author.as_mut().filter(|a| a.contains('\0')) {
                *a = a.replace('\0', "");
            }
            let doc = Document {
                id: item.id.clone(),
                title: item.title.clone(),
                body: item.body.clone(),
                url: item.url.clone(),
                source: Some(item.source.clone()),
                published_at: item.published_at.map(|t| t.to_rfc3339()),
            };
            let started = std::time::Instant::now();
            let a = analyzer.analyze(&doc, None);
            metrics::histogram!("yuqing_analysis_seconds").record(started.elapsed().as_secs_f64());
            let simhash = u64::from_str_radix(&a.simhash, 16).unwrap_or(0);
            let lang = serde_json::to_value(a.lang).ok().and_then(|v| v.as_str().map(str::to_owned));
            let mut json = Vec::new();
            a.write_json(&mut json);
            let analysis = String::from_utf8(json).ok().map(|j| (version.to_owned(), j));
            NewPost { content_hash: content_hash(&item.title, &item.body), simhash, lang, analysis, item }
        })
        .collect()
}

impl<S, P> Pipeline<S, P>
where
    S: Store + 'static,
    P: Source + Send + Sync + 'static,
{
    pub fn new(
        store: Arc<S>,
        sources: Vec<Arc<P>>,
        analyzer: Arc<Analyzer>,
        reschedule: Reschedule,
        settings: Settings,
    ) -> Self {
        let sources = sources.into_iter().map(|s| (s.id().to_owned(), s)).collect();
        Pipeline { store, sources, analyzer, reschedule, settings }
    }

    /// Claims what is due at `now`, polls it concurrently, commits each poll. Returns when the
    /// round is done; nothing is half-committed.
    pub async fn round(&self, now: DateTime<Utc>) -> Result<RoundReport, StoreError> {
        let s = &self.settings;
        let claims = self.store.claim_due(&s.worker, now, s.lease_secs, s.claim_limit).await?;
        let mut report = RoundReport { claimed: claims.len() as u32, ..RoundReport::default() };
        metrics::counter!("yuqing_sources_claimed_total").increment(claims.len() as u64);
        let in_flight = metrics::gauge!("yuqing_polls_in_flight");
        let mut tasks = tokio::task::JoinSet::new();
        for claim in claims {
            let Some(source) = self.sources.get(&claim.source_id).cloned() else {
                // A source removed from the configuration: leave it to expire.
                tracing::warn!(source_id = %claim.source_id, "claimed a source this worker does not know");
                continue;
            };
            let store = self.store.clone();
            let analyzer = self.analyzer.clone();
            let reschedule = self.reschedule.clone();
            let settings = self.settings.clone();
            in_flight.increment(1.0);
            tasks.spawn(async move {
                let id = claim.source_id.clone();
                // While the source is being crawled and analysed, its lease is renewed; if it is
                // lost (another worker took it after an expiry), the work stops uncommitted.
                let heartbeat = {
                    let (store, worker, id, secs) = (store.clone(), settings.worker.clone(), id.clone(), settings.lease_secs);
                    async move {
                        let every = std::time::Duration::from_secs((secs / 3).max(1) as u64);
                        loop {
                            tokio::time::sleep(every).await;
                            if !matches!(store.renew_lease(&worker, &id, Utc::now(), secs).await, Ok(true)) {
                                return;
                            }
                        }
                    }
                };
                let work = async {
                let polled: Result<Poll, SourceError> = source.poll(claim.cursor.clone(), now).await;
                let done = Utc::now();
                let (posts, cursor, outcome) = match polled {
                    Ok(poll) => {
                        for issue in &poll.issues {
                            tracing::info!(source_id = %id, at = %issue.at, reason = %issue.reason, "issue");
                        }
                        let n = poll.items.len() as u32;
                        metrics::counter!("yuqing_items_fetched_total", "source" => id.clone()).increment(u64::from(n));
                        let waiting = metrics::gauge!("yuqing_analysis_queue_items");
                        waiting.increment(f64::from(n));
                        let version = settings.analysis_version.clone();
                        let items = poll.items;
                        let prepared = tokio::task::spawn_blocking(move || prepare(&analyzer, &version, items)).await;
                        waiting.decrement(f64::from(n));
                        match prepared {
                            Ok(posts) => (posts, poll.cursor, Ok(n)),
                            // The cursor already marks these items as seen: keep the old one, so
                            // they come again (and are reported) instead of being lost.
                            Err(e) => (
                                Vec::new(),
                                claim.cursor.clone(),
                                Err(SourceError::Transient {
                                    reason: format!("analysis failed: {e}"),
                                    retry_after_secs: None,
                                }),
                            ),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(source_id = %id, error = %e, "poll failed");
                        metrics::counter!("yuqing_source_failures_total", "source" => id.clone()).increment(1);
                        (Vec::new(), claim.cursor.clone(), Err(e))
                    }
                };
                (posts, cursor, outcome, done)
                };
                let (posts, cursor, outcome, done) = tokio::select! {
                    w = work => w,
                    () = heartbeat => return (false, Err(StoreError::LeaseLost(id))),
                };
                let (health, next) = reschedule(&id, &claim.health, outcome.as_ref().map(|n| *n), done);
                let committed =
                    store.commit_poll(&settings.worker, &id, &posts, &cursor, &health, next, done).await;
                (outcome.is_ok(), committed)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            in_flight.decrement(1.0);
            match joined {
                Ok((ok, Ok(r))) => {
                    if ok {
                        report.polled_ok += 1;
                    } else {
                        report.failed += 1;
                    }
                    report.ingest.add(r);
                }
                Ok((_, Err(StoreError::LeaseLost(id)))) => {
                    tracing::warn!(source_id = %id, "lease lost; another worker has the source");
                    report.lease_lost += 1;
                }
                Ok((_, Err(e))) => {
                    tracing::error!(error = %e, "a poll could not be stored; the source is retried when its lease expires");
                    report.failed += 1;
                }
                Err(e) => {
                    tracing::error!(error = %e, "a poll task crashed");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Rounds until `shutdown` is cancelled; the round in hand is finished first.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), StoreError> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let r = match self.round(Utc::now()).await {
                Ok(r) => r,
                Err(StoreError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "store unavailable; retrying");
                    RoundReport::default()
                }
                Err(e) => return Err(e),
            };
            if r.claimed > 0 {
                tracing::info!(
                    claimed = r.claimed,
                    stored = r.ingest.inserted,
                    duplicates = r.ingest.duplicates,
                    "round"
                );
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.settings.idle) => {}
            }
        }
    }
}
