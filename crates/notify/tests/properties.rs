//! Properties: no input makes rendering or command parsing panic, and every rendering stays within
//! its channel's limit.

use proptest::prelude::*;
use yuqing_notify::render;
use yuqing_notify::{NoticeKind, OutboundMessage, parse_button, parse_text, sms_segments};

fn message() -> impl Strategy<Value = OutboundMessage> {
    (
        ".{0,3000}",
        proptest::option::of(".{0,8}"),
        ".{0,300}",
        proptest::collection::vec(".{0,400}", 0..40),
        proptest::option::of(".{0,300}"),
        ".{0,80}",
    )
        .prop_map(|(title, level, department, lines, link, alert_ref)| OutboundMessage {
            idempotency_key: "k".into(),
            channel: "c".into(),
            to: None,
            kind: NoticeKind::Digest,
            title,
            level,
            department,
            lines,
            link,
            alert_ref,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn renderings_stay_within_limits(m in message()) {
        prop_assert!(render::wecom_markdown(&m).len() <= render::WECOM_MAX_BYTES);
        prop_assert!(render::dingtalk_markdown(&m).1.len() <= render::DINGTALK_MAX_BYTES);
        prop_assert!(render::telegram_html(&m).chars().count() <= render::TELEGRAM_MAX_CHARS);
        let card = serde_json::to_vec(&render::feishu_card(&m)).unwrap_or_default();
        prop_assert!(card.len() <= render::FEISHU_MAX_CARD_BYTES);
        let e = render::email(&m);
        prop_assert!(!e.subject.contains('\n'));
        let p = render::sms(&m, render::DEFAULT_SMS_TEMPLATE, Some("某县人民政府"), 2);
        prop_assert!(p.segments <= 2, "{}", p.text);
        prop_assert_eq!(p.segments, sms_segments(&p.text));
    }

    #[test]
    fn command_parsing_never_panics(chat in any::<i64>(), text in "\\PC{0,200}", data in ".{0,100}") {
        let _ = parse_text(chat, &text);
        let _ = parse_text(chat, &format!("/ack {text}"));
        let _ = parse_text(chat, &format!("/start {text}"));
        let _ = parse_button(chat, "q", &data);
    }
}
