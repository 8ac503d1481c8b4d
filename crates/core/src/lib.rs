//! The interfaces the IO components implement, and the values that cross them.
//!
//! Collection: a [`Source`] is polled with its [`Cursor`] and the current time and returns the new
//! [`Item`]s, the advanced cursor and the problems it met ([`Issue`]), or a [`SourceError`] that says
//! whether trying again later can help. The runtime (a later layer) owns scheduling, storing the cursor
//! in the same transaction as the items, and health.
//!
//! Storage: the [`store::Store`] trait, implemented for SQLite and PostgreSQL by the `store` crate.
//!
//! This crate must not depend on any adapter (no HTTP, database or search library) and does no IO.

pub mod cases;
pub mod events;
pub mod notify;
pub mod record;
pub mod store;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many seen ids/URLs a cursor remembers per source (oldest forgotten first).
pub const CURSOR_SEEN_LIMIT: usize = 5_000;

/// One collected post or page, in `yuqing analyze`'s input format plus collection metadata
/// (analysis ignores the fields it does not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable within the source: the platform's id, or the canonical URL.
    pub id: String,
    pub title: String,
    pub body: String,
    /// Canonical URL (tracking parameters and fragment removed), when the item has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The source's id.
    pub source: String,
    /// RFC 3339, when the item carries a date that could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    pub fetched_at: DateTime<Utc>,
    /// The author as published (a screen name), never more about the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The platform's verification type of the account (a public institution or media account is
    /// weighed differently from a private one), as published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_verified_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Engagement::is_empty")]
    pub engagement: Engagement,
    /// SHA-256 (hex) of the raw bytes the item was read from (the article page, or the feed/API
    /// response that carried it).
    pub raw_sha256: String,
    /// The character encoding the raw bytes were decoded with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The county's own policy document (政策性文件): a later stage opens an interpretation case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub policy_document: bool,
    /// The kind of source it came from (`feed`, `html`, `json_api`): routing may match on it.
    pub source_type: String,
    /// Raw bytes are not serialised with the item; whoever stores evidence takes them from here.
    #[serde(skip)]
    pub raw: Option<bytes::Bytes>,
}

/// Public engagement counts as the platform shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reposts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<u64>,
}

impl Engagement {
    pub fn is_empty(&self) -> bool {
        *self == Engagement::default()
    }
}

/// HTTP validators remembered for conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// Where a source got to: a value passed into and returned from [`Source::poll`], stored by the
/// runtime together with the items it covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CursorRepr")]
pub struct Cursor {
    /// Ids / canonical URLs already collected, oldest first (bounded by [`CURSOR_SEEN_LIMIT`]).
    seen: VecDeque<String>,
    #[serde(skip)]
    seen_set: BTreeSet<String>,
    /// The newest publication time collected so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_item_at: Option<DateTime<Utc>>,
    /// Validators per fetched list/feed URL, for conditional GET.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub validators: BTreeMap<String, Validators>,
}

#[derive(Deserialize)]
struct CursorRepr {
    #[serde(default)]
    seen: VecDeque<String>,
    #[serde(default)]
    last_item_at: Option<DateTime<Utc>>,
    #[serde(default)]
    validators: BTreeMap<String, Validators>,
}

impl From<CursorRepr> for Cursor {
    fn from(r: CursorRepr) -> Self {
        let mut c = Cursor { last_item_at: r.last_item_at, validators: r.validators, ..Cursor::default() };
        for key in r.seen {
            c.mark_seen(&key);
        }
        c
    }
}

impl Cursor {
    pub fn has_seen(&self, key: &str) -> bool {
        self.seen_set.contains(key)
    }

    /// Remembers a key; returns false when it was already known.
    pub fn mark_seen(&mut self, key: &str) -> bool {
        if self.has_seen(key) {
            return false;
        }
        self.seen.push_back(key.to_owned());
        self.seen_set.insert(key.to_owned());
        while self.seen.len() > CURSOR_SEEN_LIMIT {
            if let Some(old) = self.seen.pop_front() {
                self.seen_set.remove(&old);
            }
        }
        true
    }

    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }

    pub fn note_published(&mut self, at: Option<DateTime<Utc>>) {
        if let Some(at) = at
            && self.last_item_at.is_none_or(|l| at > l)
        {
            self.last_item_at = Some(at);
        }
    }
}

/// A problem that did not stop the poll (a broken feed entry, an article page that failed): the
/// good items are kept and this is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// What it concerns: a URL, an entry id or position.
    pub at: String,
    pub reason: String,
}

/// What one poll returns.
#[derive(Debug, Clone, Default)]
pub struct Poll {
    pub items: Vec<Item>,
    pub cursor: Cursor,
    pub issues: Vec<Issue>,
    /// Requests made, and how many were answered `304 Not Modified`.
    pub requests: u32,
    pub not_modified: u32,
}

/// Why a poll failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Worth retrying later (timeouts, 5xx, 429, connection errors); `retry_after_secs` when the
    /// server said when.
    #[error("transient: {reason}")]
    Transient { reason: String, retry_after_secs: Option<u64> },
    /// Will fail again until the configuration or the site changes (bad selectors, 404, forbidden
    /// address, robots.txt disallow).
    #[error("permanent: {reason}")]
    Permanent { reason: String },
}

impl SourceError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::Transient { .. })
    }
}

/// A place posts come from. `poll` fetches once; the runtime owns schedule, politeness state shared
/// between sources, retries of whole polls and checkpointing.
pub trait Source {
    fn id(&self) -> &str;
    fn poll(
        &self,
        cursor: Cursor,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Poll, SourceError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_remembers_and_forgets_oldest() {
        let mut c = Cursor::default();
        assert!(c.mark_seen("a"));
        assert!(!c.mark_seen("a"));
        for i in 0..CURSOR_SEEN_LIMIT {
            c.mark_seen(&i.to_string());
        }
        assert_eq!(c.seen_len(), CURSOR_SEEN_LIMIT);
        assert!(!c.has_seen("a"), "the oldest key is forgotten first");
        assert!(c.has_seen(&(CURSOR_SEEN_LIMIT - 1).to_string()));
    }

    #[test]
    fn cursor_round_trips_through_json() {
        let mut c = Cursor::default();
        c.mark_seen("https://example.org/a");
        c.validators.insert("u".into(), Validators { etag: Some("\"x\"".into()), last_modified: None });
        let text = serde_json::to_string(&c).unwrap();
        let back: Cursor = serde_json::from_str(&text).unwrap();
        assert!(back.has_seen("https://example.org/a"));
        assert_eq!(back, c);
    }
}
