//! WeCom, DingTalk and Feishu robots: wire format, signatures, error codes, the local limiter.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use yuqing_notify::{Notifier, NotifyError, Receipt};
use yuqing_testkit::{FixtureServer, Reply};

use crate::{bare_path, body_json, channels, hmac_sha256, msg, query};

fn json(body: &str) -> Reply {
    Reply::ok("application/json", body.to_owned())
}

fn retryable(r: Result<Receipt, NotifyError>) -> Option<Duration> {
    match r {
        Err(NotifyError::Retryable { retry_after, .. }) => retry_after,
        other => panic!("expected retryable, got {other:?}"),
    }
}

fn rejected(r: Result<Receipt, NotifyError>) -> String {
    match r {
        Err(NotifyError::Rejected(m)) => m,
        other => panic!("expected rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn wecom_wire_format_and_codes() {
    let s = FixtureServer::start().await;
    s.sequence(
        "/cgi-bin/webhook/send",
        vec![
            json(r#"{"errcode":0,"errmsg":"ok"}"#),
            json(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
            json(r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#),
            Reply::new(500, "oops"),
            Reply::new(429, "slow down").header("retry-after", "7"),
            Reply::new(400, "bad"),
            json(r#"{"errcode":-1,"errmsg":"system busy"}"#),
        ],
    );
    let c = channels(&format!(
        "[channels.wecom-zjj]\ntype = \"wecom\"\nkey = \"KEY-1\"\nbase_url = \"{}\"\nper_minute = 1000000\n",
        s.url("")
    ));
    let m = msg("wecom-zjj", None);
    assert_eq!(c.send(&m).await, Ok(Receipt::default()));
    let log = s.log();
    let l = &log[0];
    assert_eq!(l.method, "POST");
    assert_eq!(l.path, "/cgi-bin/webhook/send?key=KEY-1");
    assert_eq!(l.headers["idempotency-key"], "alert-42:wecom-zjj:1");
    assert!(l.headers["content-type"].starts_with("application/json"));
    let b = body_json(l);
    assert_eq!(b["msgtype"], "markdown");
    let content = b["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("[新舆情] 红色预警 · 县住建局"), "{content}");
    assert!(content.contains("某小区业主聚集维权 & ＜要求＞ 开发商退款"), "markup neutralised: {content}");
    assert!(content.contains("- 热度 87（上升）"));
    assert!(content.contains("[查看详情](https://yq.example.gov.cn/events/42)"));

    assert_eq!(retryable(c.send(&m).await), None, "45009");
    assert!(rejected(c.send(&m).await).contains("93000"));
    retryable(c.send(&m).await);
    assert_eq!(retryable(c.send(&m).await), Some(Duration::from_secs(7)), "429 with Retry-After");
    assert!(rejected(c.send(&m).await).contains("http 400"));
    retryable(c.send(&m).await);
}

#[tokio::test]
async fn wecom_long_title_stays_within_4096_bytes() {
    let s = FixtureServer::start().await;
    s.route("/cgi-bin/webhook/send", json(r#"{"errcode":0}"#));
    let c = channels(&format!("[channels.w]\ntype = \"wecom\"\nkey = \"k\"\nbase_url = \"{}\"\n", s.url("")));
    let mut m = msg("w", None);
    m.title = "县城某小区业主反映楼盘延期交付问题".repeat(300);
    c.send(&m).await.unwrap();
    let content = body_json(&s.log()[0])["markdown"]["content"].as_str().unwrap().to_owned();
    assert!(content.len() <= 4096 && content.len() > 3900, "{}", content.len());
    assert!(content.contains('…'));
}

#[tokio::test]
async fn local_rate_limit_refuses_without_sending() {
    let s = FixtureServer::start().await;
    s.route("/cgi-bin/webhook/send", json(r#"{"errcode":0}"#));
    let c = channels(&format!(
        "[channels.w]\ntype = \"wecom\"\nkey = \"k\"\nbase_url = \"{}\"\nper_minute = 1\n",
        s.url("")
    ));
    let m = msg("w", None);
    c.send(&m).await.unwrap();
    match c.send(&m).await {
        Err(NotifyError::Retryable { reason, retry_after: Some(w) }) => {
            assert_eq!(reason, "local rate limit");
            assert!(w > Duration::from_secs(55) && w <= Duration::from_secs(60), "{w:?}");
        }
        other => panic!("expected the local limit, got {other:?}"),
    }
    assert_eq!(s.log().len(), 1, "the refused send made no request");
}

#[tokio::test]
async fn dingtalk_signed_request_and_codes() {
    let s = FixtureServer::start().await;
    s.sequence(
        "/robot/send",
        vec![
            json(r#"{"errcode":0,"errmsg":"ok"}"#),
            json(r#"{"errcode":130101,"errmsg":"send too fast"}"#),
            json(r#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Reply::new(502, "bad gateway"),
        ],
    );
    let secret = "SEC0123456789abcdef+/=";
    let c = channels(&format!(
        "[channels.dd]\ntype = \"dingtalk\"\naccess_token = \"TOK\"\nsecret = \"{secret}\"\nbase_url = \"{}\"\nper_minute = 1000000\n",
        s.url("")
    ));
    let m = msg("dd", None);
    let before = chrono::Utc::now().timestamp_millis();
    c.send(&m).await.unwrap();
    let after = chrono::Utc::now().timestamp_millis();
    let l = &s.log()[0];
    assert_eq!(bare_path(l), "/robot/send");
    let q = query(l);
    assert_eq!(q["access_token"], "TOK");
    let ts: i64 = q["timestamp"].parse().unwrap();
    assert!((before..=after).contains(&ts), "timestamp in milliseconds");
    let expected = BASE64.encode(hmac_sha256(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes()));
    assert_eq!(q["sign"], expected, "sign = base64(HMAC-SHA256(secret, ts\\nsecret))");
    assert!(l.path.contains("&sign=") && !l.path.contains('+'), "sign is URL-encoded: {}", l.path);
    assert_eq!(l.headers["idempotency-key"], "alert-42:wecom-zjj:1");
    let b = body_json(l);
    assert_eq!(b["msgtype"], "markdown");
    assert!(b["markdown"]["title"].as_str().unwrap().starts_with("[新舆情] 红色预警 · 县住建局"));
    let text = b["markdown"]["text"].as_str().unwrap();
    assert!(text.starts_with("#### [新舆情] 红色预警 · 县住建局"), "{text}");
    assert!(text.contains("- 帖子 23 篇，来源 5 个"));

    retryable(c.send(&m).await);
    assert!(rejected(c.send(&m).await).contains("310000"));
    retryable(c.send(&m).await);
}

#[tokio::test]
async fn dingtalk_unsigned_has_no_sign() {
    let s = FixtureServer::start().await;
    s.route("/robot/send", json(r#"{"errcode":0}"#));
    let c = channels(&format!(
        "[channels.dd]\ntype = \"dingtalk\"\naccess_token = \"T\"\nbase_url = \"{}\"\n",
        s.url("")
    ));
    c.send(&msg("dd", None)).await.unwrap();
    assert_eq!(s.log()[0].path, "/robot/send?access_token=T");
}

#[tokio::test]
async fn feishu_signed_card_and_codes() {
    let s = FixtureServer::start().await;
    let path = "/open-apis/bot/v2/hook/HOOK-9";
    s.sequence(
        path,
        vec![
            json(r#"{"code":0,"msg":"success","data":{}}"#),
            json(r#"{"StatusCode":0,"StatusMessage":"success"}"#),
            json(r#"{"code":9499,"msg":"too many request"}"#),
            json(r#"{"code":11232,"msg":"frequency limited"}"#),
            Reply::new(400, r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour"}"#)
                .header("content-type", "application/json"),
            json(r#"{"code":19024,"msg":"Key Words Not Found"}"#),
        ],
    );
    let c = channels(&format!(
        "[channels.fs]\ntype = \"feishu\"\nhook_id = \"HOOK-9\"\nsecret = \"s3cr3t\"\nbase_url = \"{}\"\nper_minute = 1000000\n",
        s.url("")
    ));
    let m = msg("fs", None);
    c.send(&m).await.unwrap();
    let l = &s.log()[0];
    assert_eq!(l.path, path);
    assert_eq!(l.headers["idempotency-key"], "alert-42:wecom-zjj:1");
    let b = body_json(l);
    assert_eq!(b["msg_type"], "interactive");
    let ts = b["timestamp"].as_str().expect("timestamp is a string");
    let secs: i64 = ts.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - secs).abs() < 5, "Unix seconds");
    let expected = BASE64.encode(hmac_sha256(format!("{ts}\ns3cr3t").as_bytes(), b""));
    assert_eq!(b["sign"], expected.as_str(), "sign = base64(HMAC-SHA256(key = ts\\nsecret, empty))");
    let card = &b["card"];
    assert_eq!(card["header"]["title"]["content"], "[新舆情] 红色预警 · 县住建局");
    assert_eq!(card["header"]["template"], "red");
    let md = card["elements"][0]["text"]["content"].as_str().unwrap();
    assert!(md.starts_with("**某小区业主聚集维权") && md.contains("- 涉及城关镇"), "{md}");
    assert_eq!(card["elements"][1]["actions"][0]["url"], "https://yq.example.gov.cn/events/42");

    c.send(&m).await.unwrap();
    retryable(c.send(&m).await);
    retryable(c.send(&m).await);
    assert!(rejected(c.send(&m).await).contains("19021"));
    assert!(rejected(c.send(&m).await).contains("19024"));
}

#[tokio::test]
async fn feishu_unsigned_has_no_timestamp() {
    let s = FixtureServer::start().await;
    s.route("/open-apis/bot/v2/hook/h", json(r#"{"code":0}"#));
    let c = channels(&format!(
        "[channels.fs]\ntype = \"feishu\"\nhook_id = \"h\"\nbase_url = \"{}\"\n",
        s.url("")
    ));
    c.send(&msg("fs", None)).await.unwrap();
    let b = body_json(&s.log()[0]);
    assert!(b.get("timestamp").is_none() && b.get("sign").is_none());
}
