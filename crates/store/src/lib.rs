//! The store: [`yuqing_core::store::Store`] for SQLite (the embedded default: WAL, `busy_timeout`,
//! one writer) and PostgreSQL (several processes sharing the work), through sqlx's `Any` driver
//! with runtime-checked queries, so the release build needs no database. Times are Unix
//! milliseconds in both dialects and placeholders are `$N` (both accept them); the few statements
//! that differ (source claims) are chosen by [`Backend`]. Migrations for each dialect live in
//! `migrations/sqlite` and `migrations/postgres` with the same versions and are embedded.
//!
//! `sqlx::Error` never leaves this crate: every error becomes a [`StoreError`].

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Row};
mod batch;

use yuqing_core::Cursor;
use yuqing_core::store::{
    Claim, IngestReport, NewPost, PollCommit, PostSummary, SourceStatus, Store, StoreError, StoredPost,
    TokenInfo,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    /// SQLite: the single writer (one connection); PostgreSQL: the same pool.
    writer: AnyPool,
    backend: Backend,
    /// PostgreSQL with autovacuum off: this store refreshes the planner's statistics itself.
    stats: Option<Arc<StatsKeeper>>,
}

/// Refreshes PostgreSQL's planner statistics of the tables ingestion grows when nothing else
/// does (autovacuum off): after 1,000 posts written by this process, then 2,000, 4,000, … and
/// every 100,000 from then on. Without statistics the planner takes a growing table for a small
/// one: measured, a batch's item-key lookup read every key of its source (0.24 s instead of
/// 2 ms at 100,000 keys).
#[derive(Debug)]
struct StatsKeeper {
    written: AtomicU64,
    next: AtomicU64,
}

pub(crate) fn err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d)
            if d.message().contains("locked")
                || d.message().contains("busy")
                || matches!(d.code().as_deref(), Some("40P01" | "40001")) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        // A CHECK constraint (the publication gate) or a trigger (the append-only audit log).
        sqlx::Error::Database(d)
            if d.message().contains("CHECK constraint failed")
                || d.message().contains("append-only")
                || matches!(d.code().as_deref(), Some("23514" | "P0001")) =>
        {
            StoreError::Refused(d.message().to_owned())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(v).single().ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

/// Every SQLite connection: write-ahead log, a generous busy timeout, foreign keys.
fn sqlite_setup(
    conn: &mut AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlx::raw_sql(
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    })
}

/// Attempts of a writing transaction that PostgreSQL aborted as a deadlock victim or a
/// serialization failure (two writers bumping the same repost counters in opposite orders).
pub(crate) const RETRIES: u32 = 3;

pub(crate) fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// Every PostgreSQL connection: plans made for the values at hand. sqlx keeps statements
/// prepared, and PostgreSQL switches a prepared statement to a generic plan after five
/// executions and keeps it while the table's statistics stay unchanged: a plan chosen while
/// `posts` was nearly empty (a sequential scan) then outlives the table's growth wherever
/// statistics are not refreshed (measured: 0.7 s per content-hash lookup at 100,000 posts with
/// autovacuum off; 2 ms with custom plans).
fn postgres_setup(
    conn: &mut AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlx::raw_sql("SET plan_cache_mode = force_custom_plan").execute(&mut *conn).await?;
        Ok(())
    })
}

/// The count of written posts at which statistics are refreshed next, after `mark`.
fn next_statistics_mark(mark: u64) -> u64 {
    if mark < 100_000 { mark * 2 } else { mark + 100_000 }
}

/// Runs the block `$body` (which may use `?`, and sees the open transaction as `$tx`) in a
/// writing transaction of `$store` and commits it; evaluates to the block's result. A
/// transaction PostgreSQL aborted as a deadlock victim or a serialization failure (two writers
/// bumping the same repost counters in opposite orders) runs again, up to [`RETRIES`] times.
macro_rules! write_tx {
    ($store:expr, $tx:ident => $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut $tx = $store.begin_write().await?;
            let result: Result<_, sqlx::Error> = async { $body }.await;
            let done = match result {
                Ok(v) => $tx.commit().await.map(|()| v),
                Err(e) => Err(e),
            };
            match done {
                Err(e) if attempt < RETRIES && retryable(&e) => {
                    tracing::debug!(error = %e, attempt, "write retried");
                }
                done => break done,
            }
        }
    }};
}

/// What a group commit did: the sources whose lease was still held, and one report per post.
type GroupDone = (HashSet<String>, Vec<IngestReport>);

/// Counts what a committed batch did (Prometheus, through the `metrics` facade).
fn record(r: &IngestReport) {
    metrics::counter!("yuqing_posts_stored_total").increment(r.inserted + r.near_duplicates);
    metrics::counter!("yuqing_duplicates_total", "kind" => "exact").increment(r.duplicates);
    metrics::counter!("yuqing_duplicates_total", "kind" => "near").increment(r.near_duplicates);
    metrics::counter!("yuqing_duplicates_total", "kind" => "already_stored").increment(r.already_stored);
}

/// The four 16-bit bands of a SimHash: two hashes within Hamming distance 3 share at least one.
fn bands(h: u64) -> [i64; 4] {
    [(h & 0xFFFF) as i64, ((h >> 16) & 0xFFFF) as i64, ((h >> 32) & 0xFFFF) as i64, (h >> 48) as i64]
}

impl SqlStore {
    /// Opens `sqlite://PATH` (created if missing) or `postgres://…`. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Other(format!(
                "unsupported database url {url:?} (sqlite: or postgres:)"
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let opts = AnyConnectOptions::from_str(&url).map_err(err)?;
        match backend {
            Backend::Sqlite => {
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .after_connect(sqlite_setup)
                    .connect_with(opts.clone())
                    .await
                    .map_err(err)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(sqlite_setup)
                    .connect_with(opts)
                    .await
                    .map_err(err)?;
                Ok(SqlStore { pool, writer, backend, stats: None })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(postgres_setup)
                    .connect_with(opts)
                    .await
                    .map_err(err)?;
                let autovacuum: String = sqlx::query("SHOW autovacuum")
                    .fetch_one(&pool)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(err)?;
                let stats = (autovacuum != "on").then(|| {
                    tracing::warn!(
                        "PostgreSQL runs with autovacuum off: this process refreshes the statistics of its tables itself"
                    );
                    Arc::new(StatsKeeper { written: AtomicU64::new(0), next: AtomicU64::new(1_000) })
                });
                Ok(SqlStore { writer: pool.clone(), pool, backend, stats })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Posts matching `filter` (with `$1` bound to `after`), at most `limit`.
    async fn scan(&self, filter: &str, after: i64, limit: u32) -> Result<Vec<StoredPost>, StoreError> {
        let sql = format!(
            "SELECT p.id, COALESCE(p.seq, p.id), p.source_id, p.title, p.body, p.lang, \
             COALESCE(p.published_at, p.fetched_at), \
             (SELECT a.result FROM analyses a WHERE a.post_id = p.id ORDER BY a.analyzed_at DESC LIMIT 1) \
             FROM posts p WHERE {filter} LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredPost {
                    id: r.try_get(0).map_err(err)?,
                    seq: r.try_get(1).map_err(err)?,
                    source_id: r.try_get(2).map_err(err)?,
                    title: r.try_get(3).map_err(err)?,
                    body: r.try_get(4).map_err(err)?,
                    lang: r.try_get(5).map_err(err)?,
                    time: from_ms(r.try_get(6).map_err(err)?)?,
                    analysis: r.try_get(7).map_err(err)?,
                })
            })
            .collect()
    }

    /// Closes the connections; later calls fail with `StoreError::Unavailable`.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// An online, consistent copy of a SQLite database at `path` (which must not exist), taken
    /// while writers go on (`VACUUM INTO`: one read transaction, a compacted file), then opened
    /// read-only and checked (`PRAGMA quick_check`). Returns the posts in the copy. PostgreSQL is
    /// backed up with its own tools (`pg_dump`), so this refuses it.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<u64, StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Other(
                "a PostgreSQL store is backed up with pg_dump (see README, Backup)".into(),
            ));
        }
        if path.exists() {
            return Err(StoreError::Other(format!("{} exists; backups never overwrite", path.display())));
        }
        let target = path.to_str().ok_or_else(|| StoreError::Other("backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(&self.pool).await.map_err(err)?;
        let opts = AnyConnectOptions::from_str(&format!("sqlite://{target}?mode=ro")).map_err(err)?;
        let mut copy = AnyConnection::connect_with(&opts).await.map_err(err)?;
        let check: String = sqlx::query("PRAGMA quick_check")
            .fetch_one(&mut copy)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(err)?;
        if check != "ok" {
            return Err(StoreError::Corrupt(format!("the backup {target} fails its check: {check}")));
        }
        let posts: i64 = sqlx::query("SELECT COUNT(*) FROM posts")
            .fetch_one(&mut copy)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(err)?;
        copy.close().await.map_err(err)?;
        Ok(posts.max(0) as u64)
    }

    /// Counts rows written and, where this store keeps PostgreSQL's statistics, refreshes them
    /// when the count passes the next mark. A failure is logged, not returned: the rows are
    /// committed already.
    async fn written(&self, rows: u64) {
        let Some(keeper) = &self.stats else { return };
        let total = keeper.written.fetch_add(rows, Ordering::Relaxed) + rows;
        let next = keeper.next.load(Ordering::Relaxed);
        if total < next {
            return;
        }
        let after = next_statistics_mark(next);
        // One caller wins the mark; the others go on.
        if keeper.next.compare_exchange(next, after, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        let started = std::time::Instant::now();
        match sqlx::raw_sql("ANALYZE posts, post_items, evidence, analyses, sources")
            .execute(&self.pool)
            .await
        {
            Ok(_) => tracing::info!(
                posts_written = total,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "planner statistics refreshed"
            ),
            Err(e) => tracing::warn!(error = %e, "planner statistics not refreshed"),
        }
    }

    /// `posts` in one transaction: one report per post.
    async fn ingest_all(
        &self,
        posts: &[NewPost],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestReport>, sqlx::Error> {
        let posts: Vec<&NewPost> = posts.iter().collect();
        write_tx!(self, tx => batch::store(&mut tx, self.backend, &posts, now).await)
    }

    /// One transaction for `polls` (distinct sources): the leases `worker` still holds are
    /// released with the new cursors, health and due times, and the posts of those polls stored.
    /// Returns the sources whose lease was held and one report per post (polls in order).
    async fn commit_group(
        &self,
        worker: &str,
        polls: &[PollCommit],
        cursors: &[String],
        now: DateTime<Utc>,
    ) -> Result<GroupDone, sqlx::Error> {
        write_tx!(self, tx => {
            let mut held = HashSet::with_capacity(polls.len());
            for (chunk, cursors) in polls.chunks(200).zip(cursors.chunks(200)) {
                let values = (0..chunk.len())
                    .map(|r| format!("(${}, ${}, ${}, ${})", 3 + r * 4, 4 + r * 4, 5 + r * 4, 6 + r * 4))
                    .collect::<Vec<_>>()
                    .join(", ");
                // The lease is checked and released in the same transaction as the posts.
                let sql = format!(
                    "UPDATE sources SET cursor = v.column2, health = v.column3, next_due_at = CAST(v.column4 AS BIGINT), \
                     lease_owner = NULL, lease_until = NULL, updated_at = $1 FROM (VALUES {values}) AS v \
                     WHERE sources.id = v.column1 AND sources.lease_owner = $2 AND sources.lease_until > $1 RETURNING id"
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now)).bind(worker);
                for (p, cursor) in chunk.iter().zip(cursors) {
                    q = q.bind(&p.source_id).bind(cursor).bind(&p.health).bind(ms(p.next_due_at));
                }
                for row in q.fetch_all(&mut *tx).await? {
                    held.insert(row.try_get::<String, _>(0)?);
                }
            }
            let posts: Vec<&NewPost> =
                polls.iter().filter(|p| held.contains(&p.source_id)).flat_map(|p| &p.posts).collect();
            let reports = batch::store(&mut tx, self.backend, &posts, now).await?;
            Ok((held, reports))
        })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            // Take the write lock at once: no deadlock between two read-then-write transactions.
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            // Writers run side by side; only writing new posts, numbered in commit order, takes
            // turns (`batch::store`). Two transactions storing the same text meet at the unique
            // content hash (the second waits, then records a copy); a deadlock between repost
            // counters is retried (`retrying`).
            Backend::Postgres => self.writer.begin().await,
        }
    }
}

impl Store for SqlStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let m = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        m.run(&self.writer).await.map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    async fn register_sources(
        &self,
        sources: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        for (id, kind) in sources {
            sqlx::query(
                "INSERT INTO sources (id, kind, next_due_at, updated_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind",
            )
            .bind(id)
            .bind(kind)
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn claim_due(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<Claim>, StoreError> {
        let until = ms(now) + lease_secs.max(1) * 1000;
        // One statement picks and leases. PostgreSQL: rows another worker is claiming right now
        // are skipped, not waited for. SQLite: BEGIN IMMEDIATE already serialises writers.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE sources SET lease_owner = $1, lease_until = $2, updated_at = $3 WHERE id IN \
             (SELECT id FROM sources WHERE next_due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) \
             ORDER BY next_due_at, id LIMIT $4{lock}) RETURNING id, cursor, health, next_due_at"
        );
        let mut tx = self.begin_write().await.map_err(err)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(until)
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let cursor: String = row.try_get(1).map_err(err)?;
            let due: i64 = row.try_get(3).map_err(err)?;
            out.push((
                due,
                Claim {
                    source_id: row.try_get(0).map_err(err)?,
                    // An unreadable cursor is not fatal: items already stored are recognised anyway.
                    cursor: serde_json::from_str(&cursor).unwrap_or_default(),
                    health: row.try_get(2).map_err(err)?,
                    lease_until: from_ms(until)?,
                },
            ));
        }
        // Longest overdue first, as picked (RETURNING promises no order).
        out.sort_by(|a, b| (a.0, &a.1.source_id).cmp(&(b.0, &b.1.source_id)));
        Ok(out.into_iter().map(|(_, c)| c).collect())
    }

    async fn renew_lease(
        &self,
        worker: &str,
        source_id: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = sqlx::query(
            "UPDATE sources SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND lease_until > $4",
        )
        .bind(ms(now) + lease_secs.max(1) * 1000)
        .bind(source_id)
        .bind(worker)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn commit_poll(
        &self,
        worker: &str,
        source_id: &str,
        posts: &[NewPost],
        cursor: &Cursor,
        health: &str,
        next_due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, StoreError> {
        let poll = PollCommit {
            source_id: source_id.to_owned(),
            posts: posts.to_vec(),
            cursor: cursor.clone(),
            health: health.to_owned(),
            next_due_at,
        };
        self.commit_polls(worker, std::slice::from_ref(&poll), now).await?.remove(0)
    }

    async fn commit_polls(
        &self,
        worker: &str,
        polls: &[PollCommit],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<IngestReport, StoreError>>, StoreError> {
        let cursors = polls
            .iter()
            .map(|p| serde_json::to_string(&p.cursor))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let distinct = polls.iter().map(|p| &p.source_id).collect::<HashSet<_>>().len() == polls.len();
        let group = if distinct { Some(self.commit_group(worker, polls, &cursors, now).await) } else { None };
        let groups: Vec<(std::ops::Range<usize>, Result<GroupDone, sqlx::Error>)> = match group
            .map(|g| g.map_err(err))
        {
            Some(Ok(done)) => vec![(0..polls.len(), Ok(done))],
            Some(Err(e)) if polls.len() == 1 || matches!(e, StoreError::Unavailable(_)) => return Err(e),
            // One poll the database refuses must not sink the others (and two polls of one
            // source cannot share an UPDATE): each alone.
            other => {
                if let Some(Err(e)) = other {
                    tracing::warn!(error = %e, polls = polls.len(), "group commit refused; committing polls one by one");
                }
                let mut each = Vec::with_capacity(polls.len());
                for k in 0..polls.len() {
                    let one = self.commit_group(worker, &polls[k..=k], &cursors[k..=k], now).await;
                    each.push((k..k + 1, one));
                }
                each
            }
        };
        let mut out = Vec::with_capacity(polls.len());
        for (range, done) in groups {
            match done {
                Ok((held, reports)) => {
                    let mut reports = reports.into_iter();
                    for p in &polls[range] {
                        if held.contains(&p.source_id) {
                            let mut r = IngestReport::default();
                            reports.by_ref().take(p.posts.len()).for_each(|x| r.add(x));
                            record(&r);
                            out.push(Ok(r));
                        } else {
                            out.push(Err(StoreError::LeaseLost(p.source_id.clone())));
                        }
                    }
                }
                Err(e) => out.push(Err(err(e))),
            }
        }
        let rows = out.iter().flatten().map(|r| r.inserted + r.near_duplicates + r.duplicates).sum();
        self.written(rows).await;
        Ok(out)
    }

    async fn ingest(&self, posts: &[NewPost], now: DateTime<Utc>) -> Result<IngestReport, StoreError> {
        let reports = self.ingest_all(posts, now).await.map_err(err)?;
        let mut report = IngestReport::default();
        reports.into_iter().for_each(|r| report.add(r));
        record(&report);
        self.written(report.inserted + report.near_duplicates + report.duplicates).await;
        Ok(report)
    }

    async fn cursor(&self, source_id: &str) -> Result<Option<Cursor>, StoreError> {
        let row = sqlx::query("SELECT cursor FROM sources WHERE id = $1")
            .bind(source_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        match row {
            None => Ok(None),
            Some(r) => {
                let text: String = r.try_get(0).map_err(err)?;
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("cursor of {source_id}: {e}")))
            }
        }
    }

    async fn count_posts(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM posts")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?
            .try_get(0)
            .map_err(err)?;
        Ok(n.max(0) as u64)
    }

    async fn item_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT source_id, item_id FROM post_items ORDER BY source_id, item_id")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .into_iter()
            .map(|r| Ok((r.try_get(0).map_err(err)?, r.try_get(1).map_err(err)?)))
            .collect()
    }

    async fn scan_posts(&self, after_id: i64, limit: u32) -> Result<Vec<StoredPost>, StoreError> {
        self.scan("p.id > $1 AND p.purged_at IS NULL ORDER BY p.id", after_id, limit).await
    }

    async fn scan_committed(&self, after_seq: i64, limit: u32) -> Result<Vec<StoredPost>, StoreError> {
        self.scan("p.seq > $1 AND p.purged_at IS NULL ORDER BY p.seq", after_seq, limit).await
    }

    async fn add_token(
        &self,
        name: &str,
        scope: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let id: i64 = sqlx::query(
            "INSERT INTO api_tokens (name, scope, hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(scope)
        .bind(hash)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?
        .try_get(0)
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(id)
    }

    async fn token_scope(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT scope FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| r.try_get(0).map_err(err)).transpose()
    }

    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        sqlx::query("SELECT id, name, scope, created_at FROM api_tokens WHERE revoked_at IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .into_iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get(0).map_err(err)?,
                    name: r.try_get(1).map_err(err)?,
                    scope: r.try_get(2).map_err(err)?,
                    created_at: from_ms(r.try_get(3).map_err(err)?)?,
                })
            })
            .collect()
    }

    async fn purge_before(&self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let ids: Vec<i64> =
            sqlx::query("SELECT id FROM posts WHERE fetched_at < $1 AND purged_at IS NULL ORDER BY id")
                .bind(ms(cutoff))
                .fetch_all(&mut *tx)
                .await
                .map_err(err)?
                .into_iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(err)?;
        sqlx::query(
            "DELETE FROM evidence WHERE post_id IN (SELECT id FROM posts WHERE fetched_at < $1 AND purged_at IS NULL)",
        )
        .bind(ms(cutoff))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query(
            "UPDATE posts SET title = '', body = '', author = NULL, purged_at = $2 WHERE fetched_at < $1 AND purged_at IS NULL",
        )
        .bind(ms(cutoff))
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(ids)
    }

    async fn sources_status(&self, now: DateTime<Utc>) -> Result<Vec<SourceStatus>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.kind, s.next_due_at, s.health, \
             CASE WHEN s.lease_until > $1 THEN s.lease_owner END, \
             (SELECT COUNT(*) FROM posts p WHERE p.source_id = s.id) \
             FROM sources s ORDER BY s.id",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.into_iter()
            .map(|r| {
                Ok(SourceStatus {
                    id: r.try_get(0).map_err(err)?,
                    kind: r.try_get(1).map_err(err)?,
                    next_due_at: from_ms(r.try_get(2).map_err(err)?)?,
                    health: r.try_get(3).map_err(err)?,
                    lease_owner: r.try_get(4).map_err(err)?,
                    posts: r.try_get::<i64, _>(5).map_err(err)?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn recent_posts(&self, limit: u32) -> Result<Vec<PostSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.source_id, p.title, p.url, COALESCE(p.published_at, p.fetched_at), p.reposts, \
             p.duplicate_of, \
             (SELECT a.result FROM analyses a WHERE a.post_id = p.id ORDER BY a.analyzed_at DESC LIMIT 1) \
             FROM posts p WHERE p.purged_at IS NULL ORDER BY p.id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.into_iter()
            .map(|r| {
                Ok(PostSummary {
                    id: r.try_get(0).map_err(err)?,
                    source_id: r.try_get(1).map_err(err)?,
                    title: r.try_get(2).map_err(err)?,
                    url: r.try_get(3).map_err(err)?,
                    time: from_ms(r.try_get(4).map_err(err)?)?,
                    reposts: r.try_get(5).map_err(err)?,
                    duplicate_of: r.try_get(6).map_err(err)?,
                    analysis: r.try_get(7).map_err(err)?,
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(err)?;
        Ok(())
    }

    async fn save_analyses(
        &self,
        version: &str,
        results: &[(i64, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        for (id, json) in results {
            sqlx::query(
                "INSERT INTO analyses (post_id, version, result, analyzed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (post_id, version) DO UPDATE SET result = excluded.result, analyzed_at = excluded.analyzed_at",
            )
            .bind(*id)
            .bind(version)
            .bind(json.as_str())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_marks_double_then_step_by_100000() {
        let mut marks = vec![1_000];
        while marks.len() < 10 {
            marks.push(next_statistics_mark(*marks.last().unwrap()));
        }
        assert_eq!(marks, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 228_000, 328_000]);
    }

    #[test]
    fn bands_cover_distance_three() {
        let h = 0x1234_5678_9ABC_DEF0u64;
        for flips in [0b1u64, 0b11 << 15, 1 << 63 | 1 << 31 | 1 << 7] {
            let (a, b) = (bands(h), bands(h ^ flips));
            assert!(a.iter().zip(b.iter()).any(|(x, y)| x == y));
        }
    }
}
mod cases;
mod events;
