//! The store interface: the system of record that ingestion writes and every other part reads.
//! Implemented for SQLite and PostgreSQL by the `store` crate; no database type crosses it.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::{Cursor, Item};

/// A post ready to store: the collected item plus what ingestion computed from it.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub item: Item,
    /// SHA-256 (hex) of the normalised title and body: equal hashes are exact duplicates.
    pub content_hash: String,
    /// 64-bit SimHash of the normalised text: a small Hamming distance is a near-duplicate.
    pub simhash: u64,
    pub lang: Option<String>,
    /// `(analyzer version, analysis JSON)`, stored beside the post so it can be recomputed later.
    pub analysis: Option<(String, String)>,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// New posts.
    pub inserted: u64,
    /// Items with the text of a stored post (another source's copy): not stored again; the
    /// original's repost count grows.
    pub duplicates: u64,
    /// Stored, linked to the near-identical original they repeat (its repost count grows).
    pub near_duplicates: u64,
    /// Items this store already had from the same source (a batch ingested twice).
    pub already_stored: u64,
}

impl IngestReport {
    pub fn add(&mut self, o: IngestReport) {
        self.inserted += o.inserted;
        self.duplicates += o.duplicates;
        self.near_duplicates += o.near_duplicates;
        self.already_stored += o.already_stored;
    }
}

/// What one poll of a held source commits: its posts and the source's new cursor, health and
/// next due time.
#[derive(Debug, Clone)]
pub struct PollCommit {
    pub source_id: String,
    pub posts: Vec<NewPost>,
    pub cursor: Cursor,
    pub health: String,
    pub next_due_at: DateTime<Utc>,
}

/// A source a worker holds until `lease_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub source_id: String,
    pub cursor: Cursor,
    /// The source's health as stored (JSON; the collection layer owns its shape).
    pub health: String,
    pub lease_until: DateTime<Utc>,
}

/// A stored post as read back (for the search index, re-analysis, pages).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPost {
    pub id: i64,
    /// Commit order: a post committed later has a larger `seq` (ids need not be in that order
    /// when several processes write).
    pub seq: i64,
    pub source_id: String,
    pub title: String,
    pub body: String,
    pub lang: Option<String>,
    /// Publication time, else fetch time.
    pub time: DateTime<Utc>,
    /// The newest analysis JSON, if any.
    pub analysis: Option<String>,
}

/// A source as the status page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub id: String,
    pub kind: String,
    pub next_due_at: DateTime<Utc>,
    /// Health JSON (the collection layer owns its shape).
    pub health: String,
    /// The worker holding the source now, if its lease has not run out.
    pub lease_owner: Option<String>,
    /// Posts stored from this source (originals and near-duplicates).
    pub posts: u64,
}

/// A recent post for lists (the status page); purged posts are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct PostSummary {
    pub id: i64,
    pub source_id: String,
    pub title: String,
    pub url: Option<String>,
    /// Publication time, else fetch time.
    pub time: DateTime<Utc>,
    /// Copies and near-duplicates seen of this post.
    pub reposts: i64,
    /// The original this post nearly repeats.
    pub duplicate_of: Option<i64>,
    /// The newest analysis JSON, if any.
    pub analysis: Option<String>,
}

/// A live API token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub created_at: DateTime<Utc>,
}

/// How long SimHash neighbours are looked for: reposts come within days, not years.
pub const NEAR_DUPLICATE_WINDOW_DAYS: i64 = 7;
/// Hamming distance at or below which two posts are near-duplicates.
pub const NEAR_DUPLICATE_DISTANCE: u32 = 3;

/// Why a store operation failed; never a driver type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or is busy: try again later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The worker's lease on the source ran out and another worker may hold it: its results are
    /// not committed (the other worker will collect them).
    #[error("lease on source {0} was lost")]
    LeaseLost(String),
    /// Stored data that cannot be read back (a bad JSON column, an impossible value).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Someone else changed the row since it was read (optimistic concurrency): read again.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database refused the write by rule: the publication gate, the append-only audit log.
    #[error("refused by the store: {0}")]
    Refused(String),
    /// Anything else the database refused.
    #[error("store error: {0}")]
    Other(String),
}

/// The system of record. Every method is one transaction.
pub trait Store: Send + Sync {
    /// Applies pending migrations.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes sure each `(id, kind)` source exists (new ones are due at `now`); existing ones keep
    /// their cursor, health and schedule.
    fn register_sources(
        &self,
        sources: &[(String, String)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Claims up to `limit` sources due at `now` whose lease is free or expired, for `lease_secs`.
    /// Two workers never hold the same source at once.
    fn claim_due(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Claim>, StoreError>> + Send;

    /// Extends `worker`'s lease on a source to `now + lease_secs`; false when the lease was lost
    /// (expired or taken), and the worker must stop working on the source.
    fn renew_lease(
        &self,
        worker: &str,
        source_id: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// In one transaction: stores the posts of a poll, the source's new cursor and health and its
    /// next due time, and releases the lease. Refused with `LeaseLost` (nothing written) when
    /// `worker` no longer holds the source.
    #[allow(clippy::too_many_arguments)]
    fn commit_poll(
        &self,
        worker: &str,
        source_id: &str,
        posts: &[NewPost],
        cursor: &Cursor,
        health: &str,
        next_due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<IngestReport, StoreError>> + Send;

    /// [`Store::commit_poll`] for several polls of `worker` in one transaction (group commit):
    /// one result per poll, in order. A poll whose lease was lost gets `LeaseLost` and writes
    /// nothing; the others commit. The outer error is a failure of the whole group.
    fn commit_polls(
        &self,
        worker: &str,
        polls: &[PollCommit],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Result<IngestReport, StoreError>>, StoreError>> + Send;

    /// Stores posts that came without a polled source (push API, file import).
    fn ingest(
        &self,
        posts: &[NewPost],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<IngestReport, StoreError>> + Send;

    /// The stored cursor of a source.
    fn cursor(&self, source_id: &str) -> impl Future<Output = Result<Option<Cursor>, StoreError>> + Send;

    /// Posts stored (originals and near-duplicates; exact duplicates are not posts).
    fn count_posts(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Every `(source, item)` ingested, sorted.
    fn item_keys(&self) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// Posts committed after `after_seq` (purged ones left out), in commit order, at most `limit`:
    /// how a reader follows the store without missing a post another writer committed late.
    fn scan_committed(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredPost>, StoreError>> + Send;

    /// Posts with `id > after_id` (purged ones left out), in id order, at most `limit`.
    fn scan_posts(
        &self,
        after_id: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredPost>, StoreError>> + Send;

    /// Stores a new API token by its hash; returns its id.
    fn add_token(
        &self,
        name: &str,
        scope: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// The scope of a live (not revoked) token, by hash.
    fn token_scope(&self, hash: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Revokes a token; false when there was no live token with that id.
    fn revoke_token(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Live tokens, oldest first.
    fn list_tokens(&self) -> impl Future<Output = Result<Vec<TokenInfo>, StoreError>> + Send;

    /// Retention: bodies, titles, author handles and evidence of posts fetched before `cutoff`
    /// are purged (the row, its hashes and analysis stay). Returns the ids purged (for the search index).
    fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Sources with their schedule, health, lease and post counts, by id.
    fn sources_status(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SourceStatus>, StoreError>> + Send;

    /// The newest `limit` posts by id (purged ones left out).
    fn recent_posts(&self, limit: u32) -> impl Future<Output = Result<Vec<PostSummary>, StoreError>> + Send;

    /// Answers when the database can be read (readiness).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores analyses computed again (after a rule or dictionary change) as `(post id, JSON)`
    /// under `version`, replacing an earlier result of the same version. One transaction.
    fn save_analyses(
        &self,
        version: &str,
        results: &[(i64, String)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
