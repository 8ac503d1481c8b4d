//! Telegram against a fake Bot API on 127.0.0.1: sendMessage with HTML and the inline keyboard,
//! error mapping, and the inbox (getUpdates → Inbound, offset, replies, button answers).
//! teloxide writes method names capitalised (`/bot<TOKEN>/SendMessage`); the Bot API matches them
//! case-insensitively, the fake server does not, so the routes are spelt as teloxide sends them.

use std::time::Duration;

use yuqing_notify::{Inbound, Notifier, NotifyError, Receipt};
use yuqing_testkit::{FixtureServer, Reply};

use crate::{body_json, channels, msg};

const TOKEN: &str = "123456:ABC-def";

fn json(status: u16, body: &str) -> Reply {
    Reply::new(status, body.to_owned()).header("content-type", "application/json")
}

fn sent_message(chat: i64, id: i32) -> Reply {
    json(
        200,
        &format!(
            r#"{{"ok":true,"result":{{"message_id":{id},"date":1700000000,"chat":{{"id":{chat},"type":"private","first_name":"张"}},"text":"x"}}}}"#
        ),
    )
}

fn config(s: &FixtureServer) -> String {
    format!(
        "[channels.tg]\ntype = \"telegram\"\ntoken = \"{TOKEN}\"\nbase_url = \"{}\"\nper_minute = 1000000\n",
        s.url("")
    )
}

#[tokio::test]
async fn send_message_with_html_and_buttons() {
    let s = FixtureServer::start().await;
    let path = format!("/bot{TOKEN}/SendMessage");
    s.route(&path, sent_message(5551234, 77));
    let c = channels(&config(&s));
    let m = msg("tg", Some("5551234"));
    assert_eq!(c.send(&m).await, Ok(Receipt { remote_id: Some("5551234:77".into()) }));
    let log = s.log();
    let l = &log[0];
    assert_eq!(l.method, "POST");
    assert_eq!(l.path, path);
    let b = body_json(l);
    assert_eq!(b["chat_id"], 5551234);
    assert_eq!(b["parse_mode"], "HTML");
    let text = b["text"].as_str().unwrap();
    assert!(text.starts_with("<b>[新舆情] 红色预警 · 县住建局</b>"), "{text}");
    assert!(text.contains("某小区业主聚集维权 &amp; &lt;要求&gt; 开发商退款"));
    assert!(text.chars().count() <= 4096);
    let row = &b["reply_markup"]["inline_keyboard"][0];
    assert_eq!(row[0]["text"], "签收");
    let data = row[0]["callback_data"].as_str().unwrap();
    assert_eq!(data, "ack:a42");
    assert!(data.len() <= 64);
    assert_eq!(row[1]["text"], "查看");
    assert_eq!(row[1]["url"], "https://yq.example.gov.cn/events/42");
}

#[tokio::test]
async fn long_messages_and_refs_stay_within_limits() {
    let s = FixtureServer::start().await;
    s.route(&format!("/bot{TOKEN}/SendMessage"), sent_message(-100200, 1));
    let c = channels(&config(&s));
    let mut m = msg("tg", Some("-100200"));
    m.title = "群众反映某镇卫生院服务态度差、排队时间长".repeat(400);
    m.link = None;
    m.alert_ref = "x".repeat(61); // "ack:" + 61 > 64 bytes: the button is left out, the alert still goes
    c.send(&m).await.unwrap();
    let b = body_json(&s.log()[0]);
    let text = b["text"].as_str().unwrap();
    assert!(text.chars().count() <= 4096 && text.chars().count() > 4000, "{}", text.chars().count());
    assert!(b.get("reply_markup").is_none(), "no usable button, no keyboard: {b}");
}

#[tokio::test]
async fn api_errors_map_to_rejected_and_flood_control_to_retryable() {
    let s = FixtureServer::start().await;
    s.sequence(
        &format!("/bot{TOKEN}/SendMessage"),
        vec![
            json(400, r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#),
            json(403, r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#),
            json(
                429,
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}"#,
            ),
            json(401, r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#),
            Reply::new(200, "<html>proxy error</html>"),
        ],
    );
    let c = channels(&config(&s));
    let m = msg("tg", Some("42"));
    assert!(matches!(c.send(&m).await, Err(NotifyError::Rejected(r)) if r.contains("chat not found")));
    assert!(matches!(c.send(&m).await, Err(NotifyError::Rejected(r)) if r.contains("blocked")));
    assert_eq!(
        c.send(&m).await,
        Err(NotifyError::Retryable {
            reason: "telegram: flood control".into(),
            retry_after: Some(Duration::from_secs(5))
        })
    );
    let e = c.send(&m).await.unwrap_err();
    assert!(matches!(&e, NotifyError::Rejected(_)), "{e:?}");
    assert!(!e.to_string().contains(TOKEN));
    assert!(matches!(c.send(&m).await, Err(NotifyError::Retryable { .. })), "not the Bot API answering");
}

#[tokio::test]
async fn inbox_polls_updates_into_inbound_and_answers() {
    let s = FixtureServer::start().await;
    let updates = format!("/bot{TOKEN}/GetUpdates");
    s.sequence(
        &updates,
        vec![
            json(
                200,
                r#"{"ok":true,"result":[
                {"update_id":500,"message":{"message_id":1,"date":1700000000,"chat":{"id":42,"type":"private","first_name":"张"},"from":{"id":42,"is_bot":false,"first_name":"张"},"text":"/start LINK-code_1"}},
                {"update_id":501,"message":{"message_id":2,"date":1700000000,"chat":{"id":42,"type":"private","first_name":"张"},"text":"/ack 17"}},
                {"update_id":502,"message":{"message_id":3,"date":1700000000,"chat":{"id":42,"type":"private","first_name":"张"},"text":"/ack seventeen"}},
                {"update_id":503,"callback_query":{"id":"cb-1","chat_instance":"ci","from":{"id":42,"is_bot":false,"first_name":"张"},"data":"ack:a42",
                    "message":{"message_id":9,"date":1700000000,"chat":{"id":-1009,"type":"supergroup","title":"值班群"},"text":"alert"}}},
                {"update_id":504,"message":{"message_id":4,"date":1700000000,"chat":{"id":42,"type":"private","first_name":"张"},"sticker":{"file_id":"f","file_unique_id":"u","type":"regular","width":1,"height":1,"is_animated":false,"is_video":false}}},
                {"update_id":505,"message":{"message_id":5,"date":1700000000,"chat":{"id":42,"type":"private","first_name":"张"},"text":"/cases"}}
            ]}"#,
            ),
            json(200, r#"{"ok":true,"result":[]}"#),
        ],
    );
    s.route(&format!("/bot{TOKEN}/SendMessage"), sent_message(42, 100));
    s.route(&format!("/bot{TOKEN}/AnswerCallbackQuery"), json(200, r#"{"ok":true,"result":true}"#));
    let c = channels(&config(&s));
    let mut inbox = c.telegram_inbox("tg", Duration::from_secs(1)).expect("a telegram channel").unwrap();
    assert!(c.telegram_inbox("nope", Duration::ZERO).is_none());

    let got = inbox.poll().await.unwrap();
    assert_eq!(
        got,
        vec![
            Inbound::Link { chat_id: 42, code: "LINK-code_1".into() },
            Inbound::Ack { chat_id: 42, case_no: 17 },
            Inbound::Unknown { chat_id: 42, text: "/ack seventeen".into() },
            Inbound::Button { chat_id: -1009, callback_query_id: "cb-1".into(), alert_ref: "a42".into() },
            Inbound::Cases { chat_id: 42 },
        ]
    );
    assert_eq!(inbox.offset(), Some(506));
    assert!(inbox.poll().await.unwrap().is_empty());
    let log = s.log();
    let first = body_json(&log[0]);
    assert_eq!(first["timeout"], 1);
    assert!(first.get("offset").is_none());
    assert_eq!(first["allowed_updates"], serde_json::json!(["message", "callback_query"]));
    assert_eq!(body_json(&log[1])["offset"], 506, "the next poll confirms what was seen");

    inbox.reply(42, "已签收 <b>17</b>").await.unwrap();
    inbox.answer_button("cb-1", "已签收").await.unwrap();
    let log = s.log();
    let reply = body_json(&log[2]);
    assert_eq!(reply["chat_id"], 42);
    assert_eq!(reply["text"], "已签收 <b>17</b>");
    assert!(reply.get("parse_mode").is_none(), "replies are plain text");
    let answer = body_json(&log[3]);
    assert!(log[3].path.ends_with("/AnswerCallbackQuery"));
    assert_eq!(answer["callback_query_id"], "cb-1");
    assert_eq!(answer["text"], "已签收");
}
