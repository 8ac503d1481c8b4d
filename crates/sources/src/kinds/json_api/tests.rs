use chrono::TimeZone;
use serde_json::json;
use yuqing_core::Source;
use yuqing_testkit::{FixtureServer, Reply};

use super::*;
use crate::kinds::test_support::{now, source_from};

fn post(id: &str, created: &str, text: &str, long: bool) -> Value {
    json!({"card_type": 9, "itemid": format!("x_{id}"), "mblog": {
        "id": id, "mid": id, "created_at": created, "text": text,
        "reposts_count": 3, "comments_count": 1, "attitudes_count": "1.2万", "isLongText": long,
        "user": {"id": 1, "screen_name": "新源发布", "verified": true, "verified_type": 1,
                 "followers_count": 20000, "gender": "m", "description": "新源县人民政府新闻办公室"}}})
}

#[test]
fn weibo_preset_reads_posts_and_nothing_more_of_the_author() {
    let doc = json!({"ok": 1, "data": {"cardlistInfo": {"since_id": 42}, "cards": [
        post("1", "刚刚", "暖气不热<span class=\"url-icon\"><img alt=[怒] src=\"x.png\"></span>，<a href=\"/n/新源发布\">@新源发布</a> 请回复", false),
        {"card_type": 11, "card_group": []},
        post("2", "06-14", "路灯不亮", false),
        post("3", "Tue Nov 25 09:30:00 +0800 2026", "全文…", true),
    ]}});
    let m = Preset::WeiboContainer.mapping();
    let (items, issues) = map_response(&doc, &m, now(), chrono_tz::Asia::Shanghai);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(items.len(), 3, "the card of another type is skipped");
    let a = &items[0];
    assert_eq!(a.text, "暖气不热[怒]，@新源发布 请回复");
    assert_eq!(a.author.as_deref(), Some("新源发布"));
    assert_eq!(a.author_verified_type, Some(1));
    assert_eq!(a.published_at, Some(now()));
    assert_eq!(a.engagement.likes, Some(12_000));
    assert_eq!(a.url.as_deref(), Some("https://m.weibo.cn/detail/1"));
    assert_eq!(items[1].published_at.unwrap().to_rfc3339(), "2026-06-13T16:00:00+00:00");
    assert!(items[2].truncated);
    assert_eq!(items[2].published_at, Some(Utc.with_ymd_and_hms(2026, 11, 25, 1, 30, 0).unwrap()));
}

#[test]
fn comments_preset_drops_repeats_across_endpoints() {
    let c = |id: u64, who: &str, text: &str| json!({"id": id, "created_at": "刚刚", "text": text, "like_counts": 2, "user": {"screen_name": who, "verified_type": -1, "followers_count": 9}});
    let doc = json!({"ok": 1, "data": {
        "hot_data": [c(1, "甲", "学校门口太堵"), c(2, "乙", "同意")],
        "data": [c(1, "甲", "学校门口太堵"), c(3, "乙", "同意"), c(4, "丙", "")]}});
    let (items, issues) =
        map_response(&doc, &Preset::WeiboComments.mapping(), now(), chrono_tz::Asia::Shanghai);
    assert_eq!(items.len(), 2, "same id, and same author and text, are one comment: {items:?}");
    assert_eq!(issues.len(), 1, "the empty comment is reported");
}

#[test]
fn raw_escaped_album_response_parses_and_yields_no_posts() {
    // Real m.weibo.cn response, served compact with \uXXXX escapes (fixture provenance beside it).
    let bytes = include_bytes!("../../../tests/fixtures/weibo/getIndex_album_raw-escaped.json");
    let doc = parse_json(bytes, None).unwrap();
    assert_eq!(doc.pointer("/data/cardlistInfo/title_top").and_then(Value::as_str), Some("相册"));
    let (items, issues) =
        map_response(&doc, &Preset::WeiboContainer.mapping(), now(), chrono_tz::Asia::Shanghai);
    assert!(items.is_empty() && issues.is_empty());
}

#[test]
fn not_json_is_an_error_not_a_panic() {
    assert!(parse_json(b"<html>busy</html>", None).is_err());
    assert!(parse_json(b"", None).is_err());
}

fn weibo_config(base: &str) -> String {
    format!(
        r#"[[source]]
id = "weibo-test"
name = "测试"
type = "json_api"
preset = "weibo_container"
url = "{base}/api/container/getIndex?containerid=107603{{uid}}&since_id={{cursor}}"
vars = {{ uid = "5" }}
max_pages = 3
schedule = {{ every_secs = 600 }}
fetch = {{ allow_private_addresses = true }}
[source.mapping]
items = "/data/cards"
filter = {{ pointer = "/card_type", equals = 9 }}
id = "/mblog/id"
text = "/mblog/text"
author = "/mblog/user/screen_name"
author_verified_type = "/mblog/user/verified_type"
time = "/mblog/created_at"
url_template = "https://m.weibo.cn/detail/{{id}}"
likes = "/mblog/attitudes_count"
[source.mapping.expand]
when = "/mblog/isLongText"
url = "{base}/statuses/extend?id={{id}}"
text = "/data/longTextContent"
"#
    )
}

#[tokio::test]
async fn pages_by_cursor_expands_long_texts_and_stops_at_seen_posts() {
    let s = FixtureServer::start().await;
    let page1 = json!({"ok": 1, "data": {"cardlistInfo": {"since_id": 7}, "cards": [post("1", "刚刚", "短", false), post("2", "刚刚", "长文…", true)]}});
    let page2 = json!({"ok": 1, "data": {"cardlistInfo": {}, "cards": [post("3", "06-14", "旧", false)]}});
    s.route(
        "/api/container/getIndex?containerid=1076035&since_id=",
        Reply::ok("application/json", page1.to_string()),
    );
    s.route(
        "/api/container/getIndex?containerid=1076035&since_id=7",
        Reply::ok("application/json", page2.to_string()),
    );
    s.route(
        "/statuses/extend?id=2",
        Reply::ok(
            "application/json",
            json!({"ok": 1, "data": {"longTextContent": "长文全文：<br>供暖问题已经解决"}}).to_string(),
        ),
    );
    let src = source_from(&weibo_config(&format!("http://{}", s.addr)));
    let p = src.poll(Cursor::default(), now()).await.unwrap();
    assert_eq!(p.items.len(), 3, "{:?}", p.issues);
    assert_eq!(p.items[1].body, "长文全文：\n供暖问题已经解决");
    let serialized = serde_json::to_string(&p.items[0]).unwrap();
    for absent in ["followers", "gender", "description", "20000"] {
        assert!(!serialized.contains(absent), "{absent} must not be kept: {serialized}");
    }
    let p2 = src.poll(p.cursor, now()).await.unwrap();
    assert_eq!(p2.items.len(), 0);
    assert_eq!(
        s.hits("/api/container/getIndex?containerid=1076035&since_id=7"),
        1,
        "paging stopped at seen posts"
    );
}

#[tokio::test]
async fn api_error_answer_is_transient() {
    let s = FixtureServer::start().await;
    s.route(
        "/api/container/getIndex?containerid=1076035&since_id=",
        Reply::ok("application/json", r#"{"ok":0,"msg":"请求过于频繁"}"#),
    );
    let src = source_from(&weibo_config(&format!("http://{}", s.addr)));
    let err = src.poll(Cursor::default(), now()).await.unwrap_err();
    assert!(err.is_transient());
    assert!(err.to_string().contains("请求过于频繁"), "{err}");
}

#[test]
fn equal_texts_of_one_account_are_different_posts() {
    let doc = json!({"ok": 1, "data": {"cards": [post("1", "刚刚", "转发微博", false), post("2", "刚刚", "转发微博", false)]}});
    let (items, _) = map_response(&doc, &Preset::WeiboContainer.mapping(), now(), chrono_tz::Asia::Shanghai);
    assert_eq!(items.len(), 2);
    let raw = String::from_utf8(items[0].raw.clone()).unwrap();
    assert!(
        raw.contains("新源发布") && !raw.contains("followers_count") && !raw.contains("description"),
        "{raw}"
    );
}

#[test]
fn cursors_are_escaped_and_placeholders_checked_on_the_template() {
    let toml = weibo_config("http://a.example");
    let cfg = crate::config::parse(&[("t.toml".into(), toml)]).unwrap();
    let crate::config::KindConfig::JsonApi(j) = &cfg.sources[0].kind else { panic!() };
    let u = j.page_url(1, Some("ab+/c={\"o\":2}&x")).unwrap();
    assert!(u.as_str().ends_with("since_id=ab%2B%2Fc%3D%7B%22o%22%3A2%7D%26x"), "{u}");
    let mut bad = (**j).clone();
    bad.url = "http://a.example/{nope}?p={page}".into();
    assert!(bad.page_url(1, None).unwrap_err().contains("{nope}"));
}
