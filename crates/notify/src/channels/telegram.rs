//! Telegram through teloxide: the outbound channel (`sendMessage`, HTML, inline buttons 签收 / 查看)
//! and the inbound side ([`TelegramInbox`]: long-poll `getUpdates` into [`Inbound`] values the app
//! acts on). The Bot API has no idempotency key: the delivery loop's dedupe is what applies here.
//!
//! One exception to "never sleeps": on a 5xx answer teloxide itself waits 10 s before reading the
//! body (`DELAY_ON_SERVER_ERROR` in teloxide-core), so a send during a Telegram outage takes that
//! long before it returns `Retryable`.

use std::time::Duration;

use teloxide::payloads::{AnswerCallbackQuerySetters, GetUpdatesSetters, SendMessageSetters};
use teloxide::requests::{Request, Requester};
use teloxide::types::{
    AllowedUpdate, CallbackQueryId, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions,
    ParseMode, Recipient, Update, UpdateKind,
};
use teloxide::{ApiError, Bot, RequestError};
use yuqing_core::notify::{Notifier, NotifyError, OutboundMessage, Receipt};

use crate::config::{ConfigError, TELEGRAM_BASE, TelegramConfig};
use crate::limit::Limiter;
use crate::render;

/// Telegram's limit on `callback_data`.
pub const MAX_CALLBACK_DATA: usize = 64;
/// The prefix of the 签收 button's `callback_data`: `ack:<alert_ref>`.
pub const ACK_PREFIX: &str = "ack:";

fn bot(name: &str, cfg: &TelegramConfig, timeout: Duration) -> Result<Bot, ConfigError> {
    let base = crate::config::http_url("base_url", cfg.base_url.as_deref().unwrap_or(TELEGRAM_BASE))
        .map_err(|r| ConfigError::invalid(name, r))?;
    let client = teloxide::net::default_reqwest_settings()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
        .map_err(|e| ConfigError::invalid(name, format!("cannot build the HTTP client: {e}")))?;
    Ok(Bot::with_client(cfg.token.expose(), client).set_api_url(base))
}

/// Sends to the chat id in `to` (a number, or `@channelname`).
pub(crate) struct TelegramChannel {
    bot: Bot,
    limiter: Limiter,
}

impl std::fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramChannel").finish_non_exhaustive()
    }
}

/// `123456`, `-100123` or `@channel`.
pub(crate) fn recipient(to: &str) -> Option<Recipient> {
    let to = to.trim();
    if let Ok(id) = to.parse::<i64>() {
        return Some(Recipient::Id(ChatId(id)));
    }
    let name = to.strip_prefix('@')?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| Recipient::ChannelUsername(to.to_owned()))
}

/// The inline keyboard: 签收 (callback `ack:<alert_ref>`, left out when that would pass Telegram's
/// 64 bytes or the ref is empty) and 查看 (a URL button, when the message has a usable link).
pub(crate) fn keyboard(msg: &OutboundMessage) -> Option<InlineKeyboardMarkup> {
    let mut row = Vec::new();
    let data = format!("{ACK_PREFIX}{}", msg.alert_ref.trim());
    if !msg.alert_ref.trim().is_empty() && data.len() <= MAX_CALLBACK_DATA {
        row.push(InlineKeyboardButton::callback("签收", data));
    } else {
        tracing::warn!(alert_ref = %msg.alert_ref, "alert_ref unusable as callback data; 签收 button left out");
    }
    if let Some(link) = render::safe_link(msg.link.as_deref()).and_then(|l| url::Url::parse(&l).ok()) {
        row.push(InlineKeyboardButton::url("查看", link));
    }
    (!row.is_empty()).then(|| InlineKeyboardMarkup::new([row]))
}

/// What a failed request means. Flood control (`retry_after`), network trouble and answers that are
/// not the Bot API's JSON (a proxy's error page) are retryable; the API's own errors (chat not
/// found, bot blocked, bad token, bad request) are rejected, except its 5xx-style descriptions.
pub(crate) fn classify(e: RequestError) -> NotifyError {
    match e {
        RequestError::RetryAfter(s) => NotifyError::Retryable {
            reason: "telegram: flood control".into(),
            retry_after: Some(s.duration()),
        },
        RequestError::Network(e) => {
            let e = reqwest_without_url(&e);
            NotifyError::Retryable { reason: format!("telegram network: {e}"), retry_after: None }
        }
        RequestError::Io(e) => {
            NotifyError::Retryable { reason: format!("telegram io: {e}"), retry_after: None }
        }
        RequestError::InvalidJson { raw, .. } => {
            let raw: String = raw.chars().take(200).collect();
            NotifyError::Retryable {
                reason: format!("telegram answered without JSON: {raw}"),
                retry_after: None,
            }
        }
        RequestError::MigrateToChatId(id) => NotifyError::Rejected(format!(
            "telegram: the group moved to chat id {}; update the address",
            id.0
        )),
        RequestError::Api(ApiError::Unknown(d))
            if [
                "Internal Server Error",
                "Bad Gateway",
                "Gateway Timeout",
                "Service Unavailable",
                "Too Many Requests",
            ]
            .iter()
            .any(|p| d.contains(p)) =>
        {
            NotifyError::Retryable { reason: format!("telegram: {d}"), retry_after: None }
        }
        RequestError::Api(api) => NotifyError::Rejected(format!("telegram: {api}")),
    }
}

/// A network error's text without the URL (it carries the bot token).
fn reqwest_without_url(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    if let Some(i) = s.find(" for url (") {
        s.truncate(i);
    }
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(&format!(": {c}"));
        source = c.source();
    }
    s.chars().take(300).collect()
}

/// [`classify`], with the bot token blanked out of the reason wherever it appears.
pub(crate) fn classify_for(bot: &Bot, e: RequestError) -> NotifyError {
    let token = bot.token();
    let redact = |s: String| if token.is_empty() { s } else { s.replace(token, "***") };
    match classify(e) {
        NotifyError::Retryable { reason, retry_after } => {
            NotifyError::Retryable { reason: redact(reason), retry_after }
        }
        NotifyError::Rejected(reason) => NotifyError::Rejected(redact(reason)),
    }
}

impl TelegramChannel {
    pub(crate) fn new(
        name: &str,
        cfg: &TelegramConfig,
        per_minute: u32,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(TelegramChannel { bot: bot(name, cfg, timeout)?, limiter: Limiter::per_minute(per_minute) })
    }
}

fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

impl Notifier for TelegramChannel {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        let to = msg.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let to = to.ok_or_else(|| NotifyError::Rejected("telegram needs a chat id in `to`".into()))?;
        let chat = recipient(to).ok_or_else(|| NotifyError::Rejected(format!("`{to}` is not a chat id")))?;
        self.limiter.acquire().await?;
        let mut req = self
            .bot
            .send_message(chat, render::telegram_html(msg))
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if let Some(k) = keyboard(msg) {
            req = req.reply_markup(k);
        }
        let sent = req.send().await.map_err(|e| classify_for(&self.bot, e))?;
        Ok(Receipt { remote_id: Some(format!("{}:{}", sent.chat.id.0, sent.id.0)) })
    }
}

/// What a person did in a chat with the bot. Pure data: the app (which owns the database) acts on
/// it and answers with [`TelegramInbox::reply`] / [`TelegramInbox::answer_button`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// `/start CODE` or `/link CODE`: link this chat to the account that issued `CODE`.
    Link { chat_id: i64, code: String },
    /// `/cases`: list my open cases.
    Cases { chat_id: i64 },
    /// `/ack N`: acknowledge case N.
    Ack { chat_id: i64, case_no: i64 },
    /// The 签收 button under an alert (`ack:<alert_ref>`); answer it with `answer_button`.
    Button { chat_id: i64, callback_query_id: String, alert_ref: String },
    /// `/help`, or `/start` / `/link` / `/ack` without their argument.
    Help { chat_id: i64 },
    /// Anything else (plain text, unknown commands, malformed arguments, unknown button data).
    Unknown { chat_id: i64, text: String },
}

/// A link code as Telegram deep links carry it: 1-64 of `[A-Za-z0-9_-]`.
fn valid_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses a text message. Commands may carry the bot's name (`/cases@yuqing_bot`) and are
/// case-insensitive; `/ack` takes a positive case number, optionally written `#N`.
pub fn parse_text(chat_id: i64, text: &str) -> Inbound {
    let unknown = || Inbound::Unknown { chat_id, text: text.chars().take(4096).collect() };
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix('/') else { return unknown() };
    let mut parts = rest.split_whitespace();
    let command = parts.next().unwrap_or("");
    let command = command.split('@').next().unwrap_or("").to_ascii_lowercase();
    let arg = parts.next();
    let extra = parts.next().is_some();
    match (command.as_str(), arg) {
        ("start" | "link", None) | ("help", _) | ("ack", None) => Inbound::Help { chat_id },
        ("start" | "link", Some(code)) if !extra && valid_code(code) => {
            Inbound::Link { chat_id, code: code.to_owned() }
        }
        ("cases", None) => Inbound::Cases { chat_id },
        ("ack", Some(n)) if !extra => match n.strip_prefix('#').unwrap_or(n).parse::<i64>() {
            Ok(case_no) if case_no > 0 => Inbound::Ack { chat_id, case_no },
            _ => unknown(),
        },
        _ => unknown(),
    }
}

/// Parses a button press (`callback_data`).
pub fn parse_button(chat_id: i64, callback_query_id: &str, data: &str) -> Inbound {
    match data.strip_prefix(ACK_PREFIX) {
        Some(r) if !r.is_empty() && r.len() <= MAX_CALLBACK_DATA => Inbound::Button {
            chat_id,
            callback_query_id: callback_query_id.to_owned(),
            alert_ref: r.to_owned(),
        },
        _ => Inbound::Unknown { chat_id, text: data.chars().take(MAX_CALLBACK_DATA).collect() },
    }
}

/// One update as an [`Inbound`], or `None` for updates the bot does not act on (edits, channel
/// posts, non-text messages, updates teloxide could not parse).
pub(crate) fn parse_update(update: &Update) -> Option<Inbound> {
    match &update.kind {
        UpdateKind::Message(m) => Some(parse_text(m.chat.id.0, m.text()?)),
        UpdateKind::CallbackQuery(q) => {
            let chat_id = match &q.message {
                Some(m) => m.chat().id.0,
                None => i64::try_from(q.from.id.0).ok()?,
            };
            Some(parse_button(chat_id, &q.id.0, q.data.as_deref().unwrap_or("")))
        }
        _ => None,
    }
}

/// The inbound side of a Telegram channel: long-polls `getUpdates` and keeps the offset, so each
/// update is seen once per process (persist [`TelegramInbox::offset`] to carry it across restarts).
pub struct TelegramInbox {
    bot: Bot,
    offset: Option<i32>,
    poll_timeout: Duration,
}

impl std::fmt::Debug for TelegramInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramInbox")
            .field("offset", &self.offset)
            .field("poll_timeout", &self.poll_timeout)
            .finish_non_exhaustive()
    }
}

impl TelegramInbox {
    /// `poll_timeout` is how long one `getUpdates` waits for an update (Telegram allows up to 50 s;
    /// 0 is a short poll); the HTTP timeout is the channel's plus that.
    pub fn new(name: &str, cfg: &TelegramConfig, poll_timeout: Duration) -> Result<Self, ConfigError> {
        crate::config::ChannelConfig::Telegram(cfg.clone())
            .validate()
            .map_err(|r| ConfigError::invalid(name, r))?;
        let poll_timeout = poll_timeout.min(Duration::from_secs(50));
        let timeout = crate::config::ChannelConfig::Telegram(cfg.clone()).timeout() + poll_timeout;
        Ok(TelegramInbox { bot: bot(name, cfg, timeout)?, offset: None, poll_timeout })
    }

    /// Resume after the updates a previous process acknowledged.
    pub fn with_offset(mut self, offset: i32) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The offset the next poll sends (one past the last update seen).
    pub fn offset(&self) -> Option<i32> {
        self.offset
    }

    /// One `getUpdates` (messages and button presses only). Moves the offset past every update
    /// returned, including those that parse to nothing.
    pub async fn poll(&mut self) -> Result<Vec<Inbound>, NotifyError> {
        let secs = u32::try_from(self.poll_timeout.as_secs()).unwrap_or(50);
        let mut req = self
            .bot
            .get_updates()
            .timeout(secs)
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        if let Some(o) = self.offset {
            req = req.offset(o);
        }
        let updates = req.send().await.map_err(|e| classify_for(&self.bot, e))?;
        if let Some(max) = updates.iter().map(|u| u.id.0).max() {
            self.offset = Some(i32::try_from(u64::from(max) + 1).unwrap_or(i32::MAX));
        }
        Ok(updates.iter().filter_map(parse_update).collect())
    }

    /// Sends plain text (no markup) to a chat, cut to 4,096 characters.
    pub async fn reply(&self, chat_id: i64, text: &str) -> Result<(), NotifyError> {
        let text = render::cut_chars(text, render::TELEGRAM_MAX_CHARS);
        self.bot.send_message(ChatId(chat_id), text).send().await.map_err(|e| classify_for(&self.bot, e))?;
        Ok(())
    }

    /// Answers a button press (the client stops its spinner and shows `text`, cut to 200 characters).
    pub async fn answer_button(&self, callback_query_id: &str, text: &str) -> Result<(), NotifyError> {
        self.bot
            .answer_callback_query(CallbackQueryId(callback_query_id.to_owned()))
            .text(render::cut_chars(text, 200))
            .send()
            .await
            .map_err(|e| classify_for(&self.bot, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_text(7, "/start abc_123"), Inbound::Link { chat_id: 7, code: "abc_123".into() });
        assert_eq!(parse_text(7, "/link  X-9 "), Inbound::Link { chat_id: 7, code: "X-9".into() });
        assert_eq!(parse_text(7, "/start"), Inbound::Help { chat_id: 7 });
        assert_eq!(parse_text(7, "/help"), Inbound::Help { chat_id: 7 });
        assert_eq!(parse_text(7, "/cases"), Inbound::Cases { chat_id: 7 });
        assert_eq!(parse_text(7, "/cases@yuqing_bot"), Inbound::Cases { chat_id: 7 });
        assert_eq!(parse_text(7, "/CASES"), Inbound::Cases { chat_id: 7 });
        assert_eq!(parse_text(7, "/ack 12"), Inbound::Ack { chat_id: 7, case_no: 12 });
        assert_eq!(parse_text(7, "/ack@yuqing_bot #12"), Inbound::Ack { chat_id: 7, case_no: 12 });
        assert_eq!(parse_text(7, "/ack"), Inbound::Help { chat_id: 7 });
    }

    #[test]
    fn malformed_input_is_unknown_never_a_panic() {
        for t in [
            "/ack abc",
            "/ack 0",
            "/ack -3",
            "/ack 99999999999999999999999",
            "/ack 1 2",
            "/start bad code",
            "/start 中文",
            "/frobnicate",
            "hello",
            "",
            "/",
            "/@",
            "   /ack\u{0}",
        ] {
            let r = parse_text(1, t);
            assert!(matches!(r, Inbound::Unknown { .. } | Inbound::Help { .. }), "{t:?} → {r:?}");
        }
        assert_eq!(parse_text(1, "/ack abc"), Inbound::Unknown { chat_id: 1, text: "/ack abc".into() });
        let long = format!("/start {}", "a".repeat(65));
        assert!(matches!(parse_text(1, &long), Inbound::Unknown { .. }));
    }

    #[test]
    fn buttons() {
        assert_eq!(
            parse_button(5, "q1", "ack:a42"),
            Inbound::Button { chat_id: 5, callback_query_id: "q1".into(), alert_ref: "a42".into() }
        );
        assert_eq!(parse_button(5, "q1", "ack:"), Inbound::Unknown { chat_id: 5, text: "ack:".into() });
        assert_eq!(parse_button(5, "q1", "other"), Inbound::Unknown { chat_id: 5, text: "other".into() });
    }

    #[test]
    fn updates() {
        let msg: Update = serde_json::from_str(
            r#"{"update_id":10,"message":{"message_id":3,"date":1700000000,
                "chat":{"id":-1001,"type":"supergroup","title":"办公室"},
                "from":{"id":42,"is_bot":false,"first_name":"张"},"text":"/ack 7"}}"#,
        )
        .unwrap();
        assert_eq!(parse_update(&msg), Some(Inbound::Ack { chat_id: -1001, case_no: 7 }));
        let cb: Update = serde_json::from_str(
            r#"{"update_id":11,"callback_query":{"id":"cbq","chat_instance":"ci",
                "from":{"id":42,"is_bot":false,"first_name":"张"},"data":"ack:r1",
                "message":{"message_id":4,"date":1700000000,"chat":{"id":42,"type":"private","first_name":"张"},"text":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(
            parse_update(&cb),
            Some(Inbound::Button { chat_id: 42, callback_query_id: "cbq".into(), alert_ref: "r1".into() })
        );
        let photo: Update = serde_json::from_str(
            r#"{"update_id":12,"edited_message":{"message_id":3,"date":1700000000,"edit_date":1700000001,
                "chat":{"id":1,"type":"private","first_name":"a"},"text":"/cases"}}"#,
        )
        .unwrap();
        assert_eq!(parse_update(&photo), None);
    }

    #[test]
    fn recipients() {
        assert_eq!(recipient("123"), Some(Recipient::Id(ChatId(123))));
        assert_eq!(recipient("-100123"), Some(Recipient::Id(ChatId(-100123))));
        assert_eq!(recipient("@county_news"), Some(Recipient::ChannelUsername("@county_news".into())));
        assert_eq!(recipient("@"), None);
        assert_eq!(recipient("alice"), None);
    }
}
