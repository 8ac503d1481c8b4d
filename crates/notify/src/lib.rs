//! Notification channels: the adapters that deliver one [`OutboundMessage`] to one receiver on one
//! configured channel instance — WeCom (企业微信 / 政务微信), DingTalk and Feishu group robots, a
//! generic SMS gateway, e-mail (SMTP), a signed JSON webhook and a Telegram bot — plus the
//! Telegram inbound side ([`TelegramInbox`]) whose commands and buttons the app acts on.
//!
//! Invariants:
//! - **One attempt per call.** No retries, no sleeping, no dedupe, no recording here: the delivery
//!   loop (the outbox) owns those. A `send` makes at most one request (teloxide waits 10 s on a
//!   Telegram 5xx before returning; see the Telegram channel).
//! - **Every error is classified**: [`NotifyError::Retryable`] (timeouts, connection errors, 429
//!   and 5xx, the channels' rate-limit codes, SMTP 4xx, the local limiter — with `retry_after`
//!   when known) or [`NotifyError::Rejected`] (bad token or signature, unknown channel, missing or
//!   malformed address, any other 4xx, SMTP 5xx). Error texts never carry a token or key.
//! - **The idempotency key goes on the wire** wherever the channel allows it: the
//!   `Idempotency-Key` header on every HTTP channel (and the body of SMS and webhook), the
//!   `Message-ID` of e-mail (`<key@yuqing>`). The Telegram Bot API has no such field.
//! - **Each channel instance builds its client once** (request timeout 10 s unless configured, no
//!   redirects) and has its own rate limiter (`per_minute`: never more in any 60 s window, bursts of
//!   up to 3); a refusal is `Retryable { reason: "local rate limit", retry_after }`, never a wait.
//! - **Rendering is pure and bounded** ([`render`]): each channel's format and length limit,
//!   values escaped, trailing lines dropped before the title is shortened on a character
//!   boundary.
//! - **No panics on any input**, and no OpenSSL: every TLS stack is rustls.
//! - Configuration ([`config`]) parses and validates without IO; `Channels::from_config` builds.
//!
//! This crate depends only on `core` (L2); nothing here knows the database, routing or the app.

pub mod config;
pub mod render;

mod channels;
mod http;
mod limit;

pub use channels::Channels;
pub use channels::email::message_id;
pub use channels::telegram::{
    ACK_PREFIX, Inbound, MAX_CALLBACK_DATA, TelegramInbox, parse_button, parse_text,
};
pub use config::{ChannelConfig, ChannelKind, ConfigError, parse_toml};
pub use render::sms_segments;
pub use yuqing_core::notify::{NoticeKind, Notifier, NotifyError, OutboundMessage, Receipt};
