//! The generic HTTP channels: an SMS gateway and a signed JSON webhook.

use serde::Serialize;
use serde_json::json;
use yuqing_core::notify::{Notifier, NotifyError, OutboundMessage, Receipt};

use crate::config::{ConfigError, Secret, SmsConfig, WebhookConfig};
use crate::http::{self, Answer};
use crate::limit::Limiter;
use crate::render;

fn remote_id(a: &Answer, fields: &[&str]) -> Option<String> {
    let j = a.json()?;
    fields.iter().find_map(|f| match j.get(*f)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A generic SMS gateway: `POST url` with `Authorization: Bearer API_KEY`, `Idempotency-Key`, and
/// `{"phone", "template_id", "sign_name", "params": {"level", "title", "department"},
/// "idempotency_key"}`. Success is a 2xx answer whose JSON has `"code": 0` or `"ok": true`
/// (`message_id`, `id` or `biz_id` becomes the receipt); 408, 429 and 5xx are retryable; any other
/// answer is rejected.
pub(crate) struct SmsChannel {
    url: url::Url,
    auth: reqwest::header::HeaderValue,
    template_id: String,
    sign_name: Option<String>,
    template: String,
    max_segments: usize,
    client: reqwest::Client,
    limiter: Limiter,
}

impl std::fmt::Debug for SmsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsChannel").field("template_id", &self.template_id).finish_non_exhaustive()
    }
}

/// A phone number as gateways take it: optional `+`, then 5 to 20 digits.
fn valid_phone(p: &str) -> bool {
    let digits = p.strip_prefix('+').unwrap_or(p);
    (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

impl SmsChannel {
    pub(crate) fn new(
        name: &str,
        cfg: &SmsConfig,
        per_minute: u32,
        timeout: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        let url = crate::config::http_url("url", &cfg.url).map_err(|r| ConfigError::invalid(name, r))?;
        let auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", cfg.api_key.expose()))
            .map_err(|_| ConfigError::invalid(name, "api_key is not a valid header value"))?;
        let client = http::client(timeout).map_err(|r| ConfigError::invalid(name, r))?;
        Ok(SmsChannel {
            url,
            auth,
            template_id: cfg.template_id.clone(),
            sign_name: cfg.sign_name.clone(),
            template: cfg.template.clone().unwrap_or_else(|| render::DEFAULT_SMS_TEMPLATE.to_owned()),
            max_segments: cfg.max_segments.map_or(2, |m| m as usize),
            client,
            limiter: Limiter::per_minute(per_minute),
        })
    }

    pub(crate) fn body(&self, msg: &OutboundMessage, phone: &str) -> serde_json::Value {
        let p = render::sms(msg, &self.template, self.sign_name.as_deref(), self.max_segments);
        json!({
            "phone": phone,
            "template_id": self.template_id,
            "sign_name": self.sign_name,
            "params": {"level": p.level, "title": p.title, "department": p.department},
            "idempotency_key": msg.idempotency_key,
        })
    }
}

impl Notifier for SmsChannel {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        let phone = msg.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let phone = phone.ok_or_else(|| NotifyError::Rejected("sms needs a phone number in `to`".into()))?;
        if !valid_phone(phone) {
            return Err(NotifyError::Rejected(format!("`{phone}` is not a phone number")));
        }
        self.limiter.acquire().await?;
        let body = serde_json::to_vec(&self.body(msg, phone))
            .map_err(|e| NotifyError::Rejected(format!("cannot encode the body: {e}")))?;
        let headers = vec![
            ("authorization", self.auth.clone()),
            ("idempotency-key", http::header_value("idempotency key", &msg.idempotency_key)?),
        ];
        let a = http::post_json(&self.client, self.url.clone(), body, headers).await?;
        if !a.is_success() {
            return Err(http::status_error(&a));
        }
        let ok = a.json().is_some_and(|j| {
            j.get("code").and_then(serde_json::Value::as_i64) == Some(0)
                || j.get("ok").and_then(serde_json::Value::as_bool) == Some(true)
        });
        if ok {
            Ok(Receipt { remote_id: remote_id(&a, &["message_id", "id", "biz_id"]) })
        } else {
            Err(NotifyError::Rejected(format!("gateway refused (http {}): {}", a.status, a.snippet())))
        }
    }
}

/// The JSON a generic webhook receives: every [`OutboundMessage`] field under a stable name, the
/// kind's label, and `sent_at` (RFC 3339, UTC).
#[derive(Debug, Serialize)]
pub(crate) struct WebhookPayload<'a> {
    pub idempotency_key: &'a str,
    pub channel: &'a str,
    pub to: Option<&'a str>,
    pub kind: &'a str,
    pub kind_label: &'a str,
    pub title: &'a str,
    pub level: Option<&'a str>,
    pub department: &'a str,
    pub lines: &'a [String],
    pub link: Option<&'a str>,
    pub alert_ref: &'a str,
    pub sent_at: String,
}

/// A generic JSON webhook: `POST url` with [`WebhookPayload`], `Idempotency-Key`, and when a secret
/// is set `X-Yuqing-Timestamp` (Unix seconds, the same instant as `sent_at` in the signed body) and
/// `X-Yuqing-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. 2xx is success (a JSON `id`
/// becomes the receipt); 408, 429, 5xx, connect errors and timeouts are retryable (with
/// `Retry-After`); any other status is rejected.
pub(crate) struct WebhookChannel {
    url: url::Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    limiter: Limiter,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel").finish_non_exhaustive()
    }
}

impl WebhookChannel {
    pub(crate) fn new(
        name: &str,
        cfg: &WebhookConfig,
        per_minute: u32,
        timeout: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        let url = crate::config::http_url("url", &cfg.url).map_err(|r| ConfigError::invalid(name, r))?;
        let client = http::client(timeout).map_err(|r| ConfigError::invalid(name, r))?;
        Ok(WebhookChannel {
            url,
            secret: cfg.secret.clone(),
            client,
            limiter: Limiter::per_minute(per_minute),
        })
    }
}

impl Notifier for WebhookChannel {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        self.limiter.acquire().await?;
        let now = chrono::Utc::now();
        let payload = WebhookPayload {
            idempotency_key: &msg.idempotency_key,
            channel: &msg.channel,
            to: msg.to.as_deref(),
            kind: msg.kind.as_str(),
            kind_label: msg.kind.label(),
            title: &msg.title,
            level: msg.level.as_deref(),
            department: &msg.department,
            lines: &msg.lines,
            link: msg.link.as_deref(),
            alert_ref: &msg.alert_ref,
            sent_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let body = serde_json::to_vec(&payload)
            .map_err(|e| NotifyError::Rejected(format!("cannot encode the body: {e}")))?;
        let mut headers =
            vec![("idempotency-key", http::header_value("idempotency key", &msg.idempotency_key)?)];
        if let Some(secret) = &self.secret {
            let mac = http::hmac_sha256(secret.expose().as_bytes(), &body)?;
            headers
                .push(("x-yuqing-timestamp", http::header_value("timestamp", &now.timestamp().to_string())?));
            headers.push((
                "x-yuqing-signature",
                http::header_value("signature", &format!("sha256={}", http::hex(&mac)))?,
            ));
        }
        let a = http::post_json(&self.client, self.url.clone(), body, headers).await?;
        if a.is_success() {
            Ok(Receipt { remote_id: remote_id(&a, &["id"]) })
        } else {
            Err(http::status_error(&a))
        }
    }
}
