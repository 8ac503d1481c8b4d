//! The group robots: WeCom (企业微信 / 政务微信), DingTalk (钉钉), Feishu (飞书). Each posts to one
//! group and takes no address.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;
use yuqing_core::notify::{Notifier, NotifyError, OutboundMessage, Receipt};

use crate::config::{
    ConfigError, DINGTALK_BASE, DingtalkConfig, FEISHU_BASE, FeishuConfig, Secret, WECOM_BASE, WecomConfig,
};
use crate::http::{self, Answer};
use crate::limit::Limiter;
use crate::render;

/// WeCom "API freq out of limit".
pub(crate) const WECOM_FREQ_LIMIT: i64 = 45009;
/// DingTalk "send too fast".
pub(crate) const DINGTALK_TOO_FAST: i64 = 130101;
/// Feishu frequency limits ("too many request", "frequency limited").
pub(crate) const FEISHU_FREQ_LIMITS: [i64; 2] = [9499, 11232];
/// WeCom and DingTalk "system busy".
const SYSTEM_BUSY: i64 = -1;

fn build(
    name: &str,
    base: Option<&str>,
    default: &str,
    segments: &[&str],
    timeout: std::time::Duration,
) -> Result<(url::Url, reqwest::Client), ConfigError> {
    let base = crate::config::http_url("base_url", base.unwrap_or(default))
        .map_err(|r| ConfigError::invalid(name, r))?;
    let url = http::endpoint(&base, segments).map_err(|r| ConfigError::invalid(name, r))?;
    let client = http::client(timeout).map_err(|r| ConfigError::invalid(name, r))?;
    Ok((url, client))
}

fn body_of(v: &serde_json::Value) -> Result<Vec<u8>, NotifyError> {
    serde_json::to_vec(v).map_err(|e| NotifyError::Rejected(format!("cannot encode the body: {e}")))
}

fn idempotency(
    msg: &OutboundMessage,
) -> Result<Vec<(&'static str, reqwest::header::HeaderValue)>, NotifyError> {
    Ok(vec![("idempotency-key", http::header_value("idempotency key", &msg.idempotency_key)?)])
}

/// 企业微信 / 政务微信 group robot: `POST {base}/cgi-bin/webhook/send?key=KEY` with a markdown
/// message. Success iff `errcode == 0`; 45009 (frequency) and -1 (busy) are retryable.
pub(crate) struct WecomChannel {
    url: url::Url,
    client: reqwest::Client,
    limiter: Limiter,
}

impl std::fmt::Debug for WecomChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WecomChannel").finish_non_exhaustive()
    }
}

impl WecomChannel {
    pub(crate) fn new(
        name: &str,
        cfg: &WecomConfig,
        per_minute: u32,
        timeout: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        let (mut url, client) =
            build(name, cfg.base_url.as_deref(), WECOM_BASE, &["cgi-bin", "webhook", "send"], timeout)?;
        url.query_pairs_mut().append_pair("key", cfg.key.expose());
        Ok(WecomChannel { url, client, limiter: Limiter::per_minute(per_minute) })
    }

    /// The JSON body for `msg`.
    pub(crate) fn body(msg: &OutboundMessage) -> serde_json::Value {
        json!({"msgtype": "markdown", "markdown": {"content": render::wecom_markdown(msg)}})
    }
}

impl Notifier for WecomChannel {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        self.limiter.acquire().await?;
        let body = body_of(&Self::body(msg))?;
        let a = http::post_json(&self.client, self.url.clone(), body, idempotency(msg)?).await?;
        http::robot_outcome(&a, &["errcode"], &["errmsg"], &[WECOM_FREQ_LIMIT, SYSTEM_BUSY])
    }
}

/// 钉钉 group robot: `POST {base}/robot/send?access_token=T[&timestamp=MS&sign=S]` with a markdown
/// message; `sign` = base64(HMAC-SHA256(secret, "{timestamp}\n{secret}")), URL-encoded. Success iff
/// `errcode == 0`; 130101 (too fast) and -1 (busy) are retryable.
pub(crate) struct DingtalkChannel {
    url: url::Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    limiter: Limiter,
}

impl std::fmt::Debug for DingtalkChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingtalkChannel").finish_non_exhaustive()
    }
}

/// DingTalk's `sign` (before URL encoding) for `timestamp_ms`.
pub(crate) fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> Result<String, NotifyError> {
    let mac = http::hmac_sha256(secret.as_bytes(), format!("{timestamp_ms}\n{secret}").as_bytes())?;
    Ok(BASE64.encode(mac))
}

impl DingtalkChannel {
    pub(crate) fn new(
        name: &str,
        cfg: &DingtalkConfig,
        per_minute: u32,
        timeout: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        let (mut url, client) =
            build(name, cfg.base_url.as_deref(), DINGTALK_BASE, &["robot", "send"], timeout)?;
        url.query_pairs_mut().append_pair("access_token", cfg.access_token.expose());
        Ok(DingtalkChannel {
            url,
            secret: cfg.secret.clone(),
            client,
            limiter: Limiter::per_minute(per_minute),
        })
    }

    pub(crate) fn body(msg: &OutboundMessage) -> serde_json::Value {
        let (title, text) = render::dingtalk_markdown(msg);
        json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}})
    }
}

impl Notifier for DingtalkChannel {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        self.limiter.acquire().await?;
        let mut url = self.url.clone();
        if let Some(secret) = &self.secret {
            let ts = chrono::Utc::now().timestamp_millis();
            let sign = dingtalk_sign(secret.expose(), ts)?;
            url.query_pairs_mut().append_pair("timestamp", &ts.to_string()).append_pair("sign", &sign);
        }
        let body = body_of(&Self::body(msg))?;
        let a = http::post_json(&self.client, url, body, idempotency(msg)?).await?;
        http::robot_outcome(&a, &["errcode"], &["errmsg"], &[DINGTALK_TOO_FAST, SYSTEM_BUSY])
    }
}

/// 飞书 custom bot: `POST {base}/open-apis/bot/v2/hook/{hook_id}` with an `interactive` message
/// card (see [`render::feishu_card`]); when signed, the body carries `timestamp` (Unix seconds, a
/// string) and `sign` = base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = empty)).
/// Success iff `code == 0` (older answers: `StatusCode == 0`); 9499 and 11232 (frequency) are
/// retryable.
pub(crate) struct FeishuChannel {
    url: url::Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    limiter: Limiter,
}

impl std::fmt::Debug for FeishuChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeishuChannel").finish_non_exhaustive()
    }
}

/// Feishu's `sign` for `timestamp_secs`.
pub(crate) fn feishu_sign(secret: &str, timestamp_secs: i64) -> Result<String, NotifyError> {
    let mac = http::hmac_sha256(format!("{timestamp_secs}\n{secret}").as_bytes(), b"")?;
    Ok(BASE64.encode(mac))
}

impl FeishuChannel {
    pub(crate) fn new(
        name: &str,
        cfg: &FeishuConfig,
        per_minute: u32,
        timeout: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        let (url, client) = build(
            name,
            cfg.base_url.as_deref(),
            FEISHU_BASE,
            &["open-apis", "bot", "v2", "hook", cfg.hook_id.expose()],
            timeout,
        )?;
        Ok(FeishuChannel {
            url,
            secret: cfg.secret.clone(),
            client,
            limiter: Limiter::per_minute(per_minute),
        })
    }

    /// The body for `msg`, signed with `(timestamp_secs, sign)` when given.
    pub(crate) fn body(msg: &OutboundMessage, signed: Option<(i64, String)>) -> serde_json::Value {
        let mut v = json!({"msg_type": "interactive", "card": render::feishu_card(msg)});
        if let (Some((ts, sign)), Some(o)) = (signed, v.as_object_mut()) {
            o.insert("timestamp".into(), json!(ts.to_string()));
            o.insert("sign".into(), json!(sign));
        }
        v
    }
}

fn feishu_outcome(a: &Answer) -> Result<Receipt, NotifyError> {
    http::robot_outcome(a, &["code", "StatusCode"], &["msg", "StatusMessage"], &FEISHU_FREQ_LIMITS)
}

impl Notifier for FeishuChannel {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        self.limiter.acquire().await?;
        let signed = match &self.secret {
            Some(secret) => {
                let ts = chrono::Utc::now().timestamp();
                Some((ts, feishu_sign(secret.expose(), ts)?))
            }
            None => None,
        };
        let body = body_of(&Self::body(msg, signed))?;
        let a = http::post_json(&self.client, self.url.clone(), body, idempotency(msg)?).await?;
        feishu_outcome(&a)
    }
}
