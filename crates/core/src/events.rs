//! The storage interface of events, alerts and the delivery outbox. Implemented for SQLite and
//! PostgreSQL by the `store` crate, next to [`crate::store::Store`].
//!
//! One process at a time builds events (it holds the `events` lease and advances the checkpoint
//! in the same transaction as what it wrote); any number of processes deliver, claiming outbox rows
//! with leases as they claim sources.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yuqing_domain::{NoticeKind, WarningLevel};

use crate::store::StoreError;

/// A stored post as event building reads it, in commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInput {
    pub post_id: i64,
    pub seq: i64,
    pub source_id: String,
    pub source_type: String,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    /// Publication time, else fetch time.
    pub time: DateTime<Utc>,
    pub simhash: u64,
    pub duplicate_of: Option<i64>,
    /// Exact copies seen so far.
    pub reposts: i64,
    /// Engagement JSON as collected.
    pub engagement: String,
    /// The newest analysis JSON, if any.
    pub analysis: Option<String>,
}

/// How a manual event came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualInfo {
    /// `phone` (电话报告), `superior` (上级交办), `instruction` (领导批示), `other`.
    pub kind: String,
    /// Who or what reported it (a caller, the superior office, the leader).
    pub source: String,
    pub text: String,
    pub opened_by: String,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub title: String,
    pub title_post: Option<i64>,
    pub title_score: f32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub posts: i64,
    pub heat: f32,
    pub level: Option<WarningLevel>,
    pub rumour: bool,
    pub local: bool,
    pub departments: Vec<String>,
    pub topics: Vec<String>,
    pub townships: Vec<String>,
    /// Normalised weights, best first.
    pub keywords: Vec<(String, f32)>,
    /// The clustering statistics (JSON; the events crate owns the shape).
    pub stats: String,
    pub manual: Option<ManualInfo>,
    /// `open` or `closed`.
    pub status: String,
}

/// A post's place in an event.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementRow {
    pub post_id: i64,
    pub event_id: i64,
    /// `new`, `duplicate`, `simhash`, `keywords`.
    pub via: String,
    pub score: f32,
}

/// A change of an event's warning level (the level-change log).
#[derive(Debug, Clone, PartialEq)]
pub struct LevelChange {
    pub event_id: i64,
    pub at: DateTime<Utc>,
    pub from: Option<WarningLevel>,
    pub to: Option<WarningLevel>,
    pub heat: f32,
    pub reason: String,
}

/// One event at one receiver: the unit of grouping, repeat, acknowledgement and escalation.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// 0 for an alert not stored yet (stored alerts are found by `(event_id, receiver)`).
    pub id: i64,
    pub event_id: i64,
    pub receiver: String,
    pub department: Option<String>,
    pub route: String,
    pub note: Option<String>,
    pub level: WarningLevel,
    pub notified_level: Option<WarningLevel>,
    /// `silenced:ID` or `inhibited:EVENT` while muted.
    pub muted: Option<String>,
    /// How many notifications were muted (for the UI).
    pub muted_count: i64,
    pub group_wait_secs: i64,
    pub group_interval_secs: i64,
    pub repeat_interval_secs: i64,
    pub created_at: DateTime<Utc>,
    pub first_notified_at: Option<DateTime<Utc>>,
    pub last_notified_at: Option<DateTime<Utc>>,
    /// Notifications sent so far (numbering them keeps idempotency keys distinct).
    pub notices: i64,
    pub new_posts: i64,
    pub escalation_step: i64,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the ticker should look at it again.
    pub next_check_at: Option<DateTime<Utc>>,
}

/// A message to put in the outbox. The store finds its alert by `(event_id, receiver)`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub event_id: i64,
    pub receiver: String,
    pub idempotency_key: String,
    pub kind: NoticeKind,
    /// The official it goes to, or none for a group robot.
    pub official: Option<String>,
    pub channel: String,
    pub to: Option<String>,
    /// The `OutboundMessage` as JSON.
    pub message: String,
    pub not_before: DateTime<Utc>,
}

/// An open event with its posts' `(id, SimHash)`, oldest first (for restoring the clusterer).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenEvent {
    pub event: EventRow,
    pub posts: Vec<(i64, u64)>,
}

/// A post of an event, for `yuqing event show`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPost {
    pub post_id: i64,
    /// How it joined (`new`, `duplicate`, `simhash`, `keywords`).
    pub via: String,
    pub source_id: String,
    pub title: String,
    pub url: Option<String>,
    pub time: DateTime<Utc>,
    pub analysis: Option<String>,
}

/// What one pass of event building writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventBatch {
    /// The commit sequence number read up to (none: unchanged).
    pub checkpoint: Option<i64>,
    /// Events to insert or update (by id; ids come from [`EventStore::reserve_event_ids`]).
    pub events: Vec<EventRow>,
    pub placements: Vec<PlacementRow>,
    pub level_changes: Vec<LevelChange>,
    /// `(key, hour, count)` activity counts for spike baselines.
    pub activity: Vec<(String, i64, u32)>,
    /// Alerts to insert or update by `(event_id, receiver)`; acknowledgement fields are never
    /// overwritten (someone may acknowledge while the batch is built).
    pub alerts: Vec<AlertRow>,
    pub deliveries: Vec<NewDelivery>,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub alert_id: i64,
    pub idempotency_key: String,
    pub kind: NoticeKind,
    pub official: Option<String>,
    pub channel: String,
    pub to: Option<String>,
    pub message: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
}

/// What sending a delivery came to.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Sent {
        remote_id: Option<String>,
    },
    /// A retryable failure: try again at `at`.
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    /// Refused for good, or out of attempts.
    Failed {
        error: String,
    },
}

/// What a silence matches (JSON in the store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub department: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub township: Vec<String>,
    /// Up to and including this level (none: every level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_level: Option<WarningLevel>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRow {
    pub id: i64,
    pub matchers: SilenceMatch,
    pub event_id: Option<i64>,
    pub receiver: Option<String>,
    pub creator: String,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Filters of the event list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub min_level: Option<WarningLevel>,
    pub department: Option<String>,
    pub limit: u32,
}

/// Events, alerts and the outbox.
pub trait EventStore: Send + Sync {
    /// Takes or renews the named worker lease (`events`, `telegram`) until `now + lease_secs`;
    /// false when another worker holds it.
    fn take_lease(
        &self,
        name: &str,
        worker: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The events checkpoint: the commit sequence number of the last post placed.
    fn events_checkpoint(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Reserves `n` new event ids (never handed out twice, also not to manual events).
    fn reserve_event_ids(&self, n: u32) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Posts committed after `after_seq`, in commit order, at most `limit`.
    fn event_inputs(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EventInput>, StoreError>> + Send;

    /// Open events whose last post is at or after `since`, with their posts' `(id, simhash)`
    /// (the newest `per_event` of each, oldest first).
    fn open_events(
        &self,
        since: DateTime<Utc>,
        per_event: u32,
    ) -> impl Future<Output = Result<Vec<OpenEvent>, StoreError>> + Send;

    /// Activity counts from `hour` (Unix hours) on.
    fn activity_since(
        &self,
        hour: i64,
    ) -> impl Future<Output = Result<Vec<(String, i64, u32)>, StoreError>> + Send;

    /// The alerts of these events.
    fn alerts_of(&self, event_ids: &[i64]) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;

    /// Alerts whose `next_check_at` has come, oldest first.
    fn due_alerts(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;

    /// Writes a batch in one transaction, refused with `LeaseLost("events")` when `worker` does not
    /// hold the `events` lease.
    fn apply_events(
        &self,
        worker: &str,
        batch: &EventBatch,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Open events at `min_level` or above with a post since `since` (for inhibition).
    fn leveled_events(
        &self,
        min_level: WarningLevel,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<EventRow>, StoreError>> + Send;

    /// Open manual events that have no alert yet (the event builder routes them).
    fn unrouted_manual_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EventRow>, StoreError>> + Send;

    fn list_events(
        &self,
        filter: &EventFilter,
    ) -> impl Future<Output = Result<Vec<EventRow>, StoreError>> + Send;

    fn event(&self, id: i64) -> impl Future<Output = Result<Option<EventRow>, StoreError>> + Send;

    /// An event's posts, oldest first.
    fn event_posts(
        &self,
        id: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EventPost>, StoreError>> + Send;

    /// An event's level changes, oldest first.
    fn level_changes(&self, id: i64) -> impl Future<Output = Result<Vec<LevelChange>, StoreError>> + Send;

    /// Opens a manual event (phone report, 上级交办, 领导批示); returns its id.
    fn open_manual_event(
        &self,
        title: &str,
        manual: &ManualInfo,
        departments: &[String],
        level: Option<WarningLevel>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Newest first.
    fn list_alerts(&self, limit: u32) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;

    /// Acknowledges alerts of an event for these receivers (all receivers when empty); returns how
    /// many changed.
    fn ack_alerts(
        &self,
        event_id: i64,
        receivers: &[String],
        by: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Acknowledges one alert; false when there is no unacknowledged alert with that id.
    fn ack_alert(
        &self,
        alert_id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn add_silence(&self, s: &SilenceRow) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Silences active at `now` (or every one not yet expired when `all`).
    fn silences(
        &self,
        now: DateTime<Utc>,
        all: bool,
    ) -> impl Future<Output = Result<Vec<SilenceRow>, StoreError>> + Send;

    /// Ends a silence now; false when there was no active silence with that id.
    fn expire_silence(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Claims up to `limit` deliveries due at `now` whose lease is free or expired.
    fn claim_deliveries(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>, StoreError>> + Send;

    /// Records a delivery's outcome; false when `worker` no longer held it (it is recorded anyway
    /// when still unsent, since the message may have gone out).
    fn finish_delivery(
        &self,
        worker: &str,
        id: i64,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Newest first; only failed ones when `failed`.
    fn list_deliveries(
        &self,
        failed: bool,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>, StoreError>> + Send;

    /// Stores a one-time link code for an official (Telegram).
    fn add_link_code(
        &self,
        code: &str,
        official: &str,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Uses a link code: links the chat to the official and returns the official; none when the
    /// code is unknown, used or expired.
    fn use_link_code(
        &self,
        code: &str,
        chat_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The official linked to a chat.
    fn official_of_chat(
        &self,
        chat_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The chat linked to an official.
    fn chat_of_official(
        &self,
        official: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}
