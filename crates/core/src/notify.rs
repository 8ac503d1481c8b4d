//! The notification interface: what a channel adapter (the `notify` crate) is handed and what it
//! answers. Retries, deduplication and recording belong to the delivery loop, not to a notifier.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use yuqing_domain::NoticeKind;

/// One message to one receiver on one channel, as the delivery loop hands it to a notifier. It is
/// the rendered content's input: every channel renders it within its own format and length limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Stable across retries of this delivery; sent on the wire where the channel allows it
    /// (a header or a body field), so a receiver can drop a repeat.
    pub idempotency_key: String,
    /// The configured channel instance to send through (a name in `config/channels.toml`).
    pub channel: String,
    /// The address on that channel when it has one per person: phone number, e-mail address,
    /// Telegram chat id. Robot webhooks (WeCom, DingTalk, Feishu) post to their group and take none.
    pub to: Option<String>,
    pub kind: NoticeKind,
    /// The event's title (its most representative post).
    pub title: String,
    /// 蓝 / 黄 / 橙 / 红, when the event has a warning level.
    pub level: Option<String>,
    /// The department (unit name) the alert is for.
    pub department: String,
    /// Short facts, one per line, most important first (heat, posts, sources, townships, what is new).
    pub lines: Vec<String>,
    /// Where to read the event (the web app's page), when a base URL is configured.
    pub link: Option<String>,
    /// A short opaque reference to the alert (for buttons such as 签收); at most 32 ASCII bytes.
    pub alert_ref: String,
}

/// What the channel answered on success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The channel's own id of the message, when it returns one.
    pub remote_id: Option<String>,
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Try again later (timeouts, 5xx, 429, a rate-limit error code, the local limiter);
    /// `retry_after` when the channel said how long to wait.
    #[error("retryable: {reason}")]
    Retryable { reason: String, retry_after: Option<Duration> },
    /// The channel refused the message for good (bad token, bad signature, malformed request,
    /// unknown channel, no address): retrying cannot help.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// A channel adapter (or a set of them, dispatching on [`OutboundMessage::channel`]).
pub trait Notifier: Send + Sync {
    fn send(&self, msg: &OutboundMessage) -> impl Future<Output = Result<Receipt, NotifyError>> + Send;
}
