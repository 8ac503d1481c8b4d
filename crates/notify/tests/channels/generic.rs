//! The SMS gateway and the signed JSON webhook.

use std::time::Duration;

use yuqing_notify::{Notifier, NotifyError, Receipt, sms_segments};
use yuqing_testkit::{FixtureServer, Reply};

use crate::{body_json, channels, hmac_sha256, msg};

fn json(status: u16, body: &str) -> Reply {
    Reply::new(status, body.to_owned()).header("content-type", "application/json")
}

#[tokio::test]
async fn sms_gateway_body_and_answers() {
    let s = FixtureServer::start().await;
    s.sequence(
        "/v1/sms",
        vec![
            json(200, r#"{"code":0,"message_id":"m-1"}"#),
            json(200, r#"{"ok":true}"#),
            json(200, r#"{"code":1001,"message":"template not approved"}"#),
            json(429, r#"{"code":429}"#).header("retry-after", "30"),
            json(503, "{}"),
            json(400, r#"{"code":400,"message":"bad phone"}"#),
        ],
    );
    let c = channels(&format!(
        "[channels.sms]\ntype = \"sms\"\nurl = \"{}\"\napi_key = \"KEY\"\ntemplate_id = \"SMS_123\"\nsign_name = \"某县人民政府\"\nper_minute = 1000000\n",
        s.url("/v1/sms")
    ));
    let m = msg("sms", Some("+8613800138000"));
    assert_eq!(c.send(&m).await, Ok(Receipt { remote_id: Some("m-1".into()) }));
    let l = &s.log()[0];
    assert_eq!(l.method, "POST");
    assert_eq!(l.headers["authorization"], "Bearer KEY");
    assert_eq!(l.headers["idempotency-key"], m.idempotency_key);
    let b = body_json(l);
    assert_eq!(b["phone"], "+8613800138000");
    assert_eq!(b["template_id"], "SMS_123");
    assert_eq!(b["sign_name"], "某县人民政府");
    assert_eq!(b["idempotency_key"], m.idempotency_key.as_str());
    assert_eq!(b["params"]["level"], "红色预警");
    assert_eq!(b["params"]["title"], m.title.as_str());
    assert_eq!(b["params"]["department"], "县住建局");

    assert_eq!(c.send(&m).await, Ok(Receipt { remote_id: None }));
    assert!(matches!(c.send(&m).await, Err(NotifyError::Rejected(r)) if r.contains("template not approved")));
    assert_eq!(
        c.send(&m).await,
        Err(NotifyError::Retryable {
            reason: "http 429: {\"code\":429}".into(),
            retry_after: Some(Duration::from_secs(30))
        })
    );
    assert!(matches!(c.send(&m).await, Err(NotifyError::Retryable { .. })));
    assert!(matches!(c.send(&m).await, Err(NotifyError::Rejected(r)) if r.contains("bad phone")));
}

#[tokio::test]
async fn sms_long_title_is_cut_to_max_segments() {
    let s = FixtureServer::start().await;
    s.route("/send", json(200, r#"{"code":0}"#));
    let c = channels(&format!(
        "[channels.sms]\ntype = \"sms\"\nurl = \"{}\"\napi_key = \"k\"\ntemplate_id = \"T\"\nsign_name = \"某县人民政府\"\ntemplate = \"{{department}}：{{level}}“{{title}}”，请登录系统处置。\"\n",
        s.url("/send")
    ));
    let mut m = msg("sms", Some("13800138000"));
    m.title = "城关镇某小区业主反映楼盘延期交付、物业收费不合理等问题并在售楼处聚集".repeat(5);
    c.send(&m).await.unwrap();
    let b = body_json(&s.log()[0]);
    let title = b["params"]["title"].as_str().unwrap();
    assert!(title.ends_with('…'), "{title}");
    let text = format!("【某县人民政府】县住建局：红色预警“{title}”，请登录系统处置。");
    assert_eq!(sms_segments(&text), 2, "{text}");
    // The longest title that still fits: one character more would take a third segment.
    let kept = title.chars().count() - 1;
    let longer: String = m.title.chars().take(kept + 1).collect();
    let text = format!("【某县人民政府】县住建局：红色预警“{longer}…”，请登录系统处置。");
    assert_eq!(sms_segments(&text), 3);
}

#[tokio::test]
async fn webhook_signature_headers_and_body() {
    let s = FixtureServer::start().await;
    s.sequence(
        "/hook",
        vec![
            json(202, r#"{"id":"evt-9"}"#),
            Reply::new(408, ""),
            Reply::new(429, "").header("retry-after", "12"),
            Reply::new(500, "down"),
            Reply::new(404, "no such hook"),
            Reply::new(302, "").header("location", "/elsewhere"),
            Reply::new(204, ""),
        ],
    );
    let c = channels(&format!(
        "[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"whsec\"\nper_minute = 1000000\n",
        s.url("/hook")
    ));
    let m = msg("hook", Some("ops"));
    assert_eq!(c.send(&m).await, Ok(Receipt { remote_id: Some("evt-9".into()) }));
    let l = &s.log()[0];
    assert_eq!(l.method, "POST");
    assert_eq!(l.headers["idempotency-key"], m.idempotency_key);
    let expected = format!("sha256={}", hex(&hmac_sha256(b"whsec", &l.body)));
    assert_eq!(l.headers["x-yuqing-signature"], expected, "HMAC-SHA256 of the raw body");
    let b = body_json(l);
    let sent_at = chrono::DateTime::parse_from_rfc3339(b["sent_at"].as_str().unwrap()).unwrap();
    assert_eq!(l.headers["x-yuqing-timestamp"], sent_at.timestamp().to_string());
    for (k, v) in [
        ("idempotency_key", "alert-42:wecom-zjj:1"),
        ("channel", "hook"),
        ("to", "ops"),
        ("kind", "new"),
        ("kind_label", "新舆情"),
        ("title", m.title.as_str()),
        ("level", "红"),
        ("department", "县住建局"),
        ("link", "https://yq.example.gov.cn/events/42"),
        ("alert_ref", "a42"),
    ] {
        assert_eq!(b[k], v, "{k}");
    }
    assert_eq!(b["lines"].as_array().unwrap().len(), 3);

    assert!(matches!(c.send(&m).await, Err(NotifyError::Retryable { retry_after: None, .. })), "408");
    assert!(
        matches!(c.send(&m).await, Err(NotifyError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_secs(12)),
        "429 honours Retry-After"
    );
    assert!(matches!(c.send(&m).await, Err(NotifyError::Retryable { .. })), "500");
    assert!(matches!(c.send(&m).await, Err(NotifyError::Rejected(r)) if r.contains("404")));
    assert!(matches!(c.send(&m).await, Err(NotifyError::Rejected(r)) if r.contains("redirect")));
    assert_eq!(c.send(&m).await, Ok(Receipt { remote_id: None }));
    assert_eq!(s.hits("/elsewhere"), 0, "redirects are not followed");
}

#[tokio::test]
async fn webhook_without_secret_is_unsigned() {
    let s = FixtureServer::start().await;
    s.route("/hook", Reply::new(200, ""));
    let c = channels(&format!("[channels.h]\ntype = \"webhook\"\nurl = \"{}\"\n", s.url("/hook")));
    c.send(&msg("h", None)).await.unwrap();
    let l = &s.log()[0];
    assert!(!l.headers.contains_key("x-yuqing-signature"));
    assert_eq!(body_json(l)["to"], serde_json::Value::Null);
}

#[tokio::test]
async fn webhook_timeouts_and_refused_connections_are_retryable() {
    let s = FixtureServer::start().await;
    s.route("/slow", Reply::new(200, "").delay(Duration::from_secs(3)));
    let c = channels(&format!(
        "[channels.slow]\ntype = \"webhook\"\nurl = \"{}\"\ntimeout_secs = 0.3\n",
        s.url("/slow")
    ));
    let started = std::time::Instant::now();
    match c.send(&msg("slow", None)).await {
        Err(NotifyError::Retryable { reason, .. }) => assert!(reason.starts_with("timeout"), "{reason}"),
        other => panic!("expected a retryable timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));

    // A port nothing listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let c =
        channels(&format!("[channels.down]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n"));
    match c.send(&msg("down", None)).await {
        Err(NotifyError::Retryable { reason, .. }) => assert!(reason.starts_with("connect"), "{reason}"),
        other => panic!("expected a retryable connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn error_texts_do_not_carry_tokens() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let c = channels(&format!(
        "[channels.w]\ntype = \"wecom\"\nkey = \"SECRET-KEY\"\nbase_url = \"http://127.0.0.1:{port}\"\n"
    ));
    let e = c.send(&msg("w", None)).await.unwrap_err();
    assert!(!e.to_string().contains("SECRET-KEY"), "{e}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
