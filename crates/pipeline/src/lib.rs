//! The running loop of collection: claim the sources that are due, poll them, analyse what they
//! return off the async reactor, and commit each poll's posts together with the source's cursor,
//! health and next due time in one store transaction (polls that finish together share one:
//! group commit). Several processes on one database split the
//! work through the store's leases; a crash loses nothing (the lease expires, the cursor was not
//! advanced, the items come again and are recognised).
//!
//! Generic over the store and the source type: this crate names no concrete adapter.

pub mod alerting;
pub mod deliver;
pub mod opening;
pub mod ticker;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use yuqing_analysis::Analyzer;
use yuqing_core::store::{Claim, IngestReport, NewPost, PollCommit, Store, StoreError};
use yuqing_core::{Cursor, Item, Poll, Source, SourceError};
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
    /// Polls kept in flight (sources claimed at most at once; `round` claims this many).
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
    /// round is done; nothing is half-committed. (`run` keeps polls flowing instead.)
    pub async fn round(&self, now: DateTime<Utc>) -> Result<RoundReport, StoreError> {
        let s = &self.settings;
        let claims = self.store.claim_due(&s.worker, now, s.lease_secs, s.claim_limit).await?;
        let mut report = RoundReport { claimed: claims.len() as u32, ..RoundReport::default() };
        metrics::counter!("yuqing_sources_claimed_total").increment(claims.len() as u64);
        let (commits, committer) = self.start_committer();
        let mut tasks = tokio::task::JoinSet::new();
        for claim in claims {
            self.spawn_poll(&mut tasks, &commits, claim, now);
        }
        drain(&mut tasks, &mut report).await;
        drop(commits);
        let _ = committer.await;
        Ok(report)
    }

    /// The group committer of this worker: polls sent to it are committed as they arrive, all
    /// that are waiting in one transaction (fewer, larger transactions: on PostgreSQL the round
    /// trips of a transaction per poll were what kept the slots busy). It ends when every sender
    /// is dropped.
    fn start_committer(&self) -> (mpsc::Sender<Pending>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Pending>(self.settings.claim_limit.max(1) as usize);
        let (store, worker) = (self.store.clone(), self.settings.worker.clone());
        let task = tokio::spawn(async move {
            let sizes = metrics::histogram!("yuqing_commit_group_polls");
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(p) => group.push(p),
                        Err(_) => break,
                    }
                }
                sizes.record(group.len() as f64);
                let (polls, replies): (Vec<PollCommit>, Vec<_>) = group.into_iter().unzip();
                match store.commit_polls(&worker, &polls, Utc::now()).await {
                    Ok(results) => {
                        for (result, reply) in results.into_iter().zip(replies) {
                            let _ = reply.send(result);
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        (tx, task)
    }

    /// Polls one claimed source on `tasks`: crawl, analyse off the reactor, commit with the
    /// cursor, health and next due time. The lease is renewed meanwhile.
    fn spawn_poll(
        &self,
        tasks: &mut JoinSet<Polled>,
        commits: &mpsc::Sender<Pending>,
        claim: Claim,
        now: DateTime<Utc>,
    ) {
        let Some(source) = self.sources.get(&claim.source_id).cloned() else {
            // A source removed from the configuration: leave it to expire.
            tracing::warn!(source_id = %claim.source_id, "claimed a source this worker does not know");
            return;
        };
        let store = self.store.clone();
        let commits = commits.clone();
        let analyzer = self.analyzer.clone();
        let reschedule = self.reschedule.clone();
        let settings = self.settings.clone();
        let in_flight = metrics::gauge!("yuqing_polls_in_flight");
        in_flight.increment(1.0);
        let span = tracing::info_span!("poll", source_id = %claim.source_id);
        tasks.spawn(
            async move {
                let id = claim.source_id.clone();
                // While the source is being crawled and analysed, its lease is renewed; if it is
                // lost (another worker took it after an expiry), the work stops uncommitted.
                let heartbeat = {
                    let (store, worker, id, secs) =
                        (store.clone(), settings.worker.clone(), id.clone(), settings.lease_secs);
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
                let work = crawl_and_analyse(&*source, &claim, &analyzer, &settings.analysis_version, now);
                let polled = tokio::select! {
                    w = work => w,
                    () = heartbeat => {
                        in_flight.decrement(1.0);
                        return (false, Err(StoreError::LeaseLost(id)));
                    }
                };
                let (posts, cursor, outcome, done) = polled;
                let (health, next) = reschedule(&id, &claim.health, outcome.as_ref().map(|n| *n), done);
                let poll = PollCommit { source_id: id.clone(), posts, cursor, health, next_due_at: next };
                let (reply, committed) = oneshot::channel();
                let committed = match commits.send((poll, reply)).await {
                    Ok(()) => committed
                        .await
                        .unwrap_or_else(|_| Err(StoreError::Other("the committer stopped".into()))),
                    Err(_) => Err(StoreError::Other("the committer stopped".into())),
                };
                in_flight.decrement(1.0);
                (outcome.is_ok(), committed)
            }
            .instrument(span),
        );
    }

    /// Until `shutdown` is cancelled: keeps up to `claim_limit` polls in flight, claiming more
    /// as they finish (a slow source holds one slot, not the whole worker). On shutdown the polls
    /// in hand are finished and committed; nothing new is claimed.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let s = &self.settings;
        let limit = s.claim_limit.max(1) as usize;
        let mut tasks: JoinSet<Polled> = JoinSet::new();
        let (commits, committer) = self.start_committer();
        let mut report = RoundReport::default();
        let mut logged = tokio::time::Instant::now();
        // A claim fills every free slot; after one that found less than it asked for, the next
        // waits until `next_claim`. (Waiting for several free slots to claim them together was
        // measured: the slots then sit idle for half the time a poll takes.)
        let mut next_claim = tokio::time::Instant::now();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let free = limit - tasks.len();
            let now_i = tokio::time::Instant::now();
            if now_i >= next_claim && free > 0 {
                let now = Utc::now();
                match self.store.claim_due(&s.worker, now, s.lease_secs, free as u32).await {
                    Ok(claims) => {
                        if claims.len() < free {
                            next_claim = now_i + s.idle;
                        }
                        report.claimed += claims.len() as u32;
                        metrics::counter!("yuqing_sources_claimed_total").increment(claims.len() as u64);
                        for claim in claims {
                            self.spawn_poll(&mut tasks, &commits, claim, now);
                        }
                    }
                    Err(StoreError::Unavailable(e)) => {
                        tracing::warn!(error = %e, "store unavailable; retrying");
                        next_claim = now_i + s.idle;
                    }
                    Err(e) => {
                        drain(&mut tasks, &mut report).await;
                        drop(commits);
                        let _ = committer.await;
                        return Err(e);
                    }
                }
            }
            if logged.elapsed() >= std::time::Duration::from_secs(10) && report != RoundReport::default() {
                report.log();
                report = RoundReport::default();
                logged = tokio::time::Instant::now();
            }
            // Wake for a finished poll, or when claiming is allowed again (only worth waking for
            // when it is still in the future: otherwise a finished poll is what frees a slot).
            let wake_to_claim = tasks.is_empty() || next_claim > tokio::time::Instant::now();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    report.tally(joined);
                    // Every poll that is done by now: their slots are claimed for together.
                    while let Some(joined) = tasks.try_join_next() {
                        report.tally(joined);
                    }
                }
                _ = tokio::time::sleep_until(next_claim), if wake_to_claim => {}
            }
        }
        drain(&mut tasks, &mut report).await;
        drop(commits);
        let _ = committer.await;
        report.log();
        Ok(())
    }
}

/// Polls committed together at most.
const MAX_GROUP: usize = 64;

/// A poll waiting for the committer, and where its result goes.
type Pending = (PollCommit, oneshot::Sender<Result<IngestReport, StoreError>>);

/// What one poll task returns: whether the crawl succeeded, and what committing did.
type Polled = (bool, Result<IngestReport, StoreError>);

/// Waits for every poll in hand (each commits or fails on its own).
async fn drain(tasks: &mut JoinSet<Polled>, report: &mut RoundReport) {
    while let Some(joined) = tasks.join_next().await {
        report.tally(joined);
    }
}

/// Crawls one source and analyses what it returned: `(posts, cursor to commit, outcome, time)`.
/// A failed crawl or analysis keeps the old cursor, so nothing is marked seen that was not stored.
async fn crawl_and_analyse<P: Source>(
    source: &P,
    claim: &Claim,
    analyzer: &Arc<Analyzer>,
    version: &str,
    now: DateTime<Utc>,
) -> (Vec<NewPost>, Cursor, Result<u32, SourceError>, DateTime<Utc>) {
    let id = &claim.source_id;
    let polled: Result<Poll, SourceError> = source.poll(claim.cursor.clone(), now).await;
    let done = Utc::now();
    match polled {
        Ok(poll) => {
            for issue in &poll.issues {
                tracing::info!(at = %issue.at, reason = %issue.reason, "issue");
            }
            let n = poll.items.len() as u32;
            metrics::counter!("yuqing_items_fetched_total", "source" => id.clone()).increment(u64::from(n));
            let waiting = metrics::gauge!("yuqing_analysis_queue_items");
            waiting.increment(f64::from(n));
            let (analyzer, version, items) = (analyzer.clone(), version.to_owned(), poll.items);
            let prepared = tokio::task::spawn_blocking(move || prepare(&analyzer, &version, items)).await;
            waiting.decrement(f64::from(n));
            match prepared {
                Ok(posts) => (posts, poll.cursor, Ok(n), done),
                // The cursor already marks these items as seen: keep the old one, so they come
                // again (and are reported) instead of being lost.
                Err(e) => (
                    Vec::new(),
                    claim.cursor.clone(),
                    Err(SourceError::Transient {
                        reason: format!("analysis failed: {e}"),
                        retry_after_secs: None,
                    }),
                    done,
                ),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "poll failed");
            metrics::counter!("yuqing_source_failures_total", "source" => id.clone()).increment(1);
            (Vec::new(), claim.cursor.clone(), Err(e), done)
        }
    }
}

impl RoundReport {
    fn tally(&mut self, joined: Result<Polled, tokio::task::JoinError>) {
        match joined {
            Ok((ok, Ok(r))) => {
                if ok {
                    self.polled_ok += 1;
                } else {
                    self.failed += 1;
                }
                self.ingest.add(r);
            }
            Ok((_, Err(StoreError::LeaseLost(id)))) => {
                tracing::warn!(source_id = %id, "lease lost; another worker has the source");
                self.lease_lost += 1;
            }
            Ok((_, Err(e))) => {
                tracing::error!(error = %e, "a poll could not be stored; the source is retried when its lease expires");
                self.failed += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, "a poll task crashed");
                self.failed += 1;
            }
        }
    }

    fn log(&self) {
        if self.claimed > 0 || self.polled_ok > 0 || self.failed > 0 {
            tracing::info!(
                claimed = self.claimed,
                polled = self.polled_ok,
                failed = self.failed,
                stored = self.ingest.inserted,
                duplicates = self.ingest.duplicates,
                "collected"
            );
        }
    }
}
