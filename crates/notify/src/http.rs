//! What the HTTP channels share: one client per channel instance, one POST, and the mapping of
//! answers to [`Receipt`] / [`NotifyError`].

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use yuqing_core::notify::{NotifyError, Receipt};

/// The most of an answer's body that is read.
const MAX_ANSWER: usize = 64 * 1024;
/// A `Retry-After` longer than this is capped (a day).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The client of one channel instance: request timeout, no redirects (a webhook that moved is a
/// configuration to fix, and a redirected POST may silently turn into a GET).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("yuqing-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// An HTTP answer: status, `Retry-After` and the start of the body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The start of the body, for error messages.
    pub(crate) fn snippet(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        let s: String = s.chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
        s.trim().to_owned()
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A header value, or `Rejected` when the text cannot be one (a control character).
pub(crate) fn header_value(what: &str, v: &str) -> Result<HeaderValue, NotifyError> {
    HeaderValue::from_str(v).map_err(|_| NotifyError::Rejected(format!("{what} is not a valid header value")))
}

/// POSTs `body` as JSON with `headers`. Transport failures (connect, timeout, reset) are
/// `Retryable`; the URL is never part of an error message (it may carry a token).
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: url::Url,
    body: Vec<u8>,
    headers: Vec<(&'static str, HeaderValue)>,
) -> Result<Answer, NotifyError> {
    let mut map = HeaderMap::new();
    map.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    for (k, v) in headers {
        map.insert(HeaderName::from_static(k), v);
    }
    let mut resp = client.post(url).headers(map).body(body).send().await.map_err(transport_error)?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_ANSWER {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return Err(transport_error(e)),
        }
    }
    Ok(Answer { status, retry_after, body })
}

fn transport_error(e: reqwest::Error) -> NotifyError {
    let e = e.without_url();
    if e.is_builder() {
        return NotifyError::Rejected(format!("request: {e}"));
    }
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    let mut reason = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason.push_str(&format!(": {s}"));
        source = s.source();
    }
    NotifyError::Retryable { reason, retry_after: None }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110), capped at a day.
pub(crate) fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = v.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
        (at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// The generic rule for a non-2xx status: 408, 429 and 5xx are retryable (with the server's
/// `Retry-After`), a redirect or any other 4xx is rejected.
pub(crate) fn status_error(a: &Answer) -> NotifyError {
    let s = a.status;
    if s == 408 || s == 429 || (500..600).contains(&s) {
        NotifyError::Retryable { reason: format!("http {s}: {}", a.snippet()), retry_after: a.retry_after }
    } else if (300..400).contains(&s) {
        NotifyError::Rejected(format!("http {s}: redirect not followed (configure the final URL)"))
    } else {
        NotifyError::Rejected(format!("http {s}: {}", a.snippet()))
    }
}

/// A robot API's answer (WeCom, DingTalk, Feishu): 429 and 5xx are retryable; otherwise the JSON
/// error code decides — 0 with a 2xx status is success, a code in `retryable` (rate limits,
/// "system busy") is retryable, any other code is rejected. An answer without a code is rejected
/// (it is not the robot API answering).
pub(crate) fn robot_outcome(
    a: &Answer,
    code_fields: &[&str],
    message_fields: &[&str],
    retryable: &[i64],
) -> Result<Receipt, NotifyError> {
    if a.status == 429 || (500..600).contains(&a.status) {
        return Err(status_error(a));
    }
    let json = a.json();
    let code = json.as_ref().and_then(|j| code_fields.iter().find_map(|f| j.get(*f)?.as_i64()));
    let message = json
        .as_ref()
        .and_then(|j| message_fields.iter().find_map(|f| j.get(*f)?.as_str().map(str::to_owned)))
        .unwrap_or_default();
    match code {
        Some(0) if a.is_success() => Ok(Receipt::default()),
        Some(c) if retryable.contains(&c) => {
            Err(NotifyError::Retryable { reason: format!("code {c}: {message}"), retry_after: a.retry_after })
        }
        Some(c) => Err(NotifyError::Rejected(format!("code {c}: {message} (http {})", a.status))),
        None if a.is_success() => Err(NotifyError::Rejected(format!("unrecognised answer: {}", a.snippet()))),
        None => Err(status_error(a)),
    }
}

pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> Result<[u8; 32], NotifyError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| NotifyError::Rejected("hmac key rejected".into()))?;
    mac.update(msg);
    Ok(mac.finalize().into_bytes().into())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// `base` with `segments` appended to its path.
pub(crate) fn endpoint(base: &url::Url, segments: &[&str]) -> Result<url::Url, String> {
    let mut u = base.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.path_segments_mut()
        .map_err(|_| format!("`{base}` cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, retry_after: None, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").expect("date").to_utc();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn robot_codes() {
        let f = |a: &Answer| robot_outcome(a, &["errcode"], &["errmsg"], &[45009, -1]);
        assert_eq!(f(&answer(200, r#"{"errcode":0,"errmsg":"ok"}"#)), Ok(Receipt::default()));
        assert!(matches!(
            f(&answer(200, r#"{"errcode":45009,"errmsg":"freq"}"#)),
            Err(NotifyError::Retryable { .. })
        ));
        assert!(
            matches!(f(&answer(200, r#"{"errcode":93000,"errmsg":"bad"}"#)), Err(NotifyError::Rejected(m)) if m.contains("93000"))
        );
        assert!(matches!(f(&answer(502, "bad gateway")), Err(NotifyError::Retryable { .. })));
        assert!(matches!(f(&answer(400, "nope")), Err(NotifyError::Rejected(_))));
        assert!(
            matches!(f(&answer(200, "<html>")), Err(NotifyError::Rejected(m)) if m.starts_with("unrecognised"))
        );
        assert!(matches!(f(&answer(400, r#"{"errcode":45009}"#)), Err(NotifyError::Retryable { .. })));
        assert!(matches!(f(&answer(301, "")), Err(NotifyError::Rejected(m)) if m.contains("redirect")));
    }

    #[test]
    fn hex_and_endpoints() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        let base = url::Url::parse("http://127.0.0.1:8/prefix/").expect("url");
        assert_eq!(endpoint(&base, &["a", "b c"]).expect("ok").as_str(), "http://127.0.0.1:8/prefix/a/b%20c");
        let base = url::Url::parse("https://qyapi.weixin.qq.com").expect("url");
        assert_eq!(
            endpoint(&base, &["cgi-bin", "webhook", "send"]).expect("ok").as_str(),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
        );
    }
}
