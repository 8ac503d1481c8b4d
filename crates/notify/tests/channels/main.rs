//! The channels against local fakes (no test touches the internet): a fixture HTTP server for the
//! robots, the SMS gateway, the webhook and the Telegram Bot API; an SMTP collector for e-mail.
#![allow(clippy::unwrap_used)]

mod email;
mod generic;
mod robots;
mod telegram;

use std::collections::BTreeMap;

use yuqing_notify::{Channels, NoticeKind, OutboundMessage};
use yuqing_testkit::Logged;

/// A typical alert to `channel`.
pub fn msg(channel: &str, to: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        idempotency_key: "alert-42:wecom-zjj:1".into(),
        channel: channel.into(),
        to: to.map(str::to_owned),
        kind: NoticeKind::New,
        title: "某小区业主聚集维权 & <要求> 开发商退款".into(),
        level: Some("红".into()),
        department: "县住建局".into(),
        lines: vec!["热度 87（上升）".into(), "帖子 23 篇，来源 5 个".into(), "涉及城关镇".into()],
        link: Some("https://yq.example.gov.cn/events/42".into()),
        alert_ref: "a42".into(),
    }
}

pub fn channels(toml: &str) -> Channels {
    Channels::parse_toml(toml).unwrap_or_else(|e| panic!("config: {e}\n{toml}"))
}

pub fn body_json(l: &Logged) -> serde_json::Value {
    serde_json::from_slice(&l.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", l.body_text()))
}

/// The query of a logged path, decoded.
pub fn query(l: &Logged) -> BTreeMap<String, String> {
    let q = l.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

pub fn bare_path(l: &Logged) -> &str {
    l.path.split('?').next().unwrap_or("")
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn dispatcher_rejects_unknown_channels_and_missing_addresses() {
    use yuqing_notify::{Notifier, NotifyError};
    let c = channels(
        r#"
[channels.tg]
type = "telegram"
token = "1:x"
base_url = "http://127.0.0.1:9"

[channels.sms]
type = "sms"
url = "http://127.0.0.1:9/send"
api_key = "k"
template_id = "T1"

[channels.mail]
type = "email"
host = "127.0.0.1"
port = 9
tls = "none"
from = "yq@example.invalid"
"#,
    );
    assert_eq!(c.names().collect::<Vec<_>>(), ["mail", "sms", "tg"]);
    let e = c.send(&msg("nope", Some("1"))).await.unwrap_err();
    assert_eq!(e, NotifyError::Rejected("unknown channel `nope`".into()));
    for name in ["tg", "sms", "mail"] {
        let e = c.send(&msg(name, None)).await.unwrap_err();
        assert!(matches!(&e, NotifyError::Rejected(r) if r.contains("needs an address")), "{name}: {e:?}");
        let e = c.send(&msg(name, Some("  "))).await.unwrap_err();
        assert!(matches!(e, NotifyError::Rejected(_)), "{name}");
    }
    let e = c.send(&msg("tg", Some("not a chat"))).await.unwrap_err();
    assert!(matches!(e, NotifyError::Rejected(r) if r.contains("not a chat id")));
    let e = c.send(&msg("sms", Some("call me"))).await.unwrap_err();
    assert!(matches!(e, NotifyError::Rejected(r) if r.contains("not a phone number")));
    let e = c.send(&msg("mail", Some("nobody"))).await.unwrap_err();
    assert!(matches!(e, NotifyError::Rejected(r) if r.contains("not an e-mail address")));
}

#[test]
fn building_needs_no_runtime_and_checks_names() {
    // Outside any tokio runtime: lettre's pooled transport is built on the first send.
    let c = channels("[channels.mail]\ntype = \"email\"\nhost = \"h\"\ntls = \"tls\"\nfrom = \"a@b.c\"\n");
    assert_eq!(c.kind("mail"), Some(yuqing_notify::ChannelKind::Email));
    let mut map = BTreeMap::new();
    map.insert(
        "has space".to_owned(),
        yuqing_notify::parse_toml("[channels.a]\ntype = \"wecom\"\nkey = \"k\"\n")
            .unwrap()
            .remove("a")
            .unwrap(),
    );
    let e = Channels::from_config(map).unwrap_err();
    assert!(e.to_string().starts_with("channel `has space`"), "{e}");
}
