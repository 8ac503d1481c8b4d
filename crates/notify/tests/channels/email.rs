//! E-mail through the SMTP collector: multipart/alternative with both parts, Message-ID from the
//! idempotency key, 4xx retryable and 5xx rejected.

use base64::Engine as _;
use yuqing_notify::{Notifier, NotifyError, Receipt, message_id};
use yuqing_testkit::smtp::SmtpCollector;

use crate::{channels, msg};

fn config(smtp: &SmtpCollector) -> String {
    format!(
        "[channels.mail]\ntype = \"email\"\nhost = \"{}\"\nport = {}\ntls = \"none\"\nfrom = \"舆情监测 <yq@county.example>\"\ntimeout_secs = 5\nper_minute = 1000000\n",
        smtp.host(),
        smtp.port()
    )
}

/// The decoded body of each MIME leaf part, by content type.
fn parts(data: &str) -> Vec<(String, String)> {
    let head = data.split("\r\n\r\n").next().unwrap();
    let boundary = head
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_start_matches('"').split(['"', '\r', ';']).next().unwrap().to_owned())
        .expect("a multipart boundary");
    let mut out = Vec::new();
    for part in data.split(&format!("--{boundary}")).skip(1) {
        let Some((h, body)) = part.split_once("\r\n\r\n") else { continue };
        let lower = h.to_ascii_lowercase();
        let ctype = lower
            .lines()
            .find_map(|l| l.trim().strip_prefix("content-type:"))
            .map(|v| v.trim().split(';').next().unwrap().to_owned())
            .unwrap_or_default();
        let body = body.trim_end_matches("\r\n");
        let decoded = if lower.contains("content-transfer-encoding: base64") {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).unwrap()).unwrap()
        } else if lower.contains("content-transfer-encoding: quoted-printable") {
            decode_qp(body)
        } else {
            body.to_owned()
        };
        out.push((ctype, decoded));
    }
    out
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn email_is_multipart_with_message_id() {
    let smtp = SmtpCollector::start().await;
    let c = channels(&config(&smtp));
    let m = msg("mail", Some("张三 <zhangsan@county.example>"));
    let r = c.send(&m).await.unwrap();
    assert_eq!(r, Receipt { remote_id: Some("<alert-42=3Awecom-zjj=3A1@yuqing>".into()) });
    let got = smtp.messages();
    assert_eq!(got.len(), 1);
    let e = &got[0];
    assert_eq!(e.mail_from, "yq@county.example");
    assert_eq!(e.rcpt_to, ["zhangsan@county.example"]);
    assert_eq!(e.header("Message-ID").unwrap(), message_id(&m.idempotency_key));
    assert!(e.header("Content-Type").unwrap().starts_with("multipart/alternative"), "{}", e.data);
    assert!(e.header("Subject").is_some());
    let parts = parts(&e.data);
    let plain = &parts.iter().find(|(t, _)| t == "text/plain").expect("a text part").1;
    let html = &parts.iter().find(|(t, _)| t == "text/html").expect("an HTML part").1;
    assert!(plain.contains("[新舆情] 红色预警 · 县住建局"), "{plain}");
    assert!(plain.contains("某小区业主聚集维权 & <要求> 开发商退款"));
    assert!(plain.contains("查看：https://yq.example.gov.cn/events/42"));
    assert!(html.contains("某小区业主聚集维权 &amp; &lt;要求&gt; 开发商退款"), "{html}");
    assert!(html.contains("<li>热度 87（上升）</li>"));
    assert!(html.contains("<a href=\"https://yq.example.gov.cn/events/42\">"));
}

#[tokio::test]
async fn smtp_4xx_is_retryable_and_5xx_rejected() {
    let smtp = SmtpCollector::start().await;
    smtp.fail_next(1, "451 4.3.0 try again later");
    let c = channels(&config(&smtp));
    let m = msg("mail", Some("a@county.example"));
    assert!(matches!(c.send(&m).await, Err(NotifyError::Retryable { .. })));
    assert_eq!(smtp.refused(), 1);
    c.send(&m).await.unwrap();
    assert_eq!(smtp.messages().len(), 1, "the retry went through");

    smtp.fail_next(1, "550 5.7.1 rejected by policy");
    assert!(
        matches!(c.send(&m).await, Err(NotifyError::Rejected(r)) if r.contains("550") || r.contains("policy"))
    );
    c.send(&m).await.unwrap();
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test]
async fn smtp_connection_refused_is_retryable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let c = channels(&format!(
        "[channels.mail]\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"a@b.example\"\ntimeout_secs = 2\n"
    ));
    assert!(matches!(c.send(&msg("mail", Some("x@y.example"))).await, Err(NotifyError::Retryable { .. })));
}
