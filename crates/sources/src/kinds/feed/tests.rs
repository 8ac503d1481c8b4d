use chrono::TimeZone;
use yuqing_core::Source;
use yuqing_testkit::{FixtureServer, Reply};

use super::*;
use crate::kinds::test_support::{now, source_from};

const RSS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>天山网 新疆新闻</title>
<item><title>新源县启动冬季供暖保障工作</title><link>http://news.example.cn/a/1.html?utm_source=rss</link>
<description><![CDATA[<p>新源县住建局召开会议，部署<b>冬季供暖</b>保障。</p>]]></description>
<pubDate>Tue, 25 Nov 2026 09:30:00 +0800</pubDate><author>记者 王林</author></item>
<item></item>
<item><title>那拉提景区冬季旅游推介会举行</title><link>http://news.example.cn/a/2.html</link>
<pubDate>2026-11-24 18:05</pubDate></item>
</channel></rss>"#;

#[test]
fn keeps_good_entries_and_reports_the_empty_one() {
    let f = parse_feed(RSS.as_bytes(), None, None, None, now(), chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(f.entries.len(), 2);
    assert_eq!(f.issues.len(), 1, "{:?}", f.issues);
    let first = &f.entries[0];
    assert_eq!(first.title, "新源县启动冬季供暖保障工作");
    assert_eq!(first.body, "新源县住建局召开会议，部署冬季供暖保障。");
    assert_eq!(first.link.as_ref().unwrap().as_str(), "http://news.example.cn/a/1.html", "tracking removed");
    assert_eq!(first.published_at, Some(Utc.with_ymd_and_hms(2026, 11, 25, 1, 30, 0).unwrap()));
    // A Chinese date without an offset is read in the source's time zone.
    assert_eq!(f.entries[1].published_at, Some(Utc.with_ymd_and_hms(2026, 11, 24, 10, 5, 0).unwrap()));
}

#[test]
fn malformed_feed_is_read_entry_by_entry() {
    let broken = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>
<item><title>新源县医保窗口延时服务</title><link>http://a.example/1</link></item>
<item><title>坏条目 <b>未闭合</title><link>http://a.example/2</link></item>
<item><title>新源县牧民定居点通自来水</title><link>http://a.example/3</link></item>
</channel>"#;
    let f = parse_feed(broken.as_bytes(), None, None, None, now(), chrono_tz::Asia::Shanghai).unwrap();
    let titles: Vec<&str> = f.entries.iter().map(|e| e.title.as_str()).collect();
    assert!(
        titles.contains(&"新源县医保窗口延时服务") && titles.contains(&"新源县牧民定居点通自来水"),
        "{titles:?}"
    );
    assert!(f.issues.iter().any(|i| i.at == "feed"), "the malformed feed is reported: {:?}", f.issues);
}

#[test]
fn not_a_feed_is_an_error() {
    assert!(
        parse_feed(b"<html><body>404</body></html>", None, None, None, now(), chrono_tz::Asia::Shanghai)
            .is_err()
    );
    assert!(parse_feed(b"", None, None, None, now(), chrono_tz::Asia::Shanghai).is_err());
}

#[test]
fn atom_and_json_feed() {
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>RSSHub</title><id>x</id><updated>2026-11-25T00:00:00Z</updated>
<entry><title>新源县#供暖#话题</title><id>tag:1</id><link href="https://rsshub.example/1"/><updated>2026-11-25T08:00:00+08:00</updated>
<content type="html">&lt;p&gt;暖气不热&lt;/p&gt;</content></entry></feed>"#;
    let f = parse_feed(atom.as_bytes(), None, None, None, now(), chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(f.entries.len(), 1);
    assert_eq!(f.entries[0].body, "暖气不热");
    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"x","items":[
        {"id":"1","url":"https://example.org/1","title":"新源县道路维修","content_text":"路面坑洼"},
        {"id":"2"}]}"#;
    let f = parse_feed(json.as_bytes(), None, None, None, now(), chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(f.entries.len(), 1, "{:?}", f.entries);
    assert_eq!(f.issues.len(), 1);
}

#[test]
fn http_charset_overrides_the_prolog() {
    let mut bytes = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>t</title><item><title>".to_vec();
    bytes.extend(encoding_rs::GB18030.encode("新源县冬季供暖投诉").0.iter());
    bytes.extend(b"</title><link>http://a.example/1</link></item></channel></rss>");
    let f = parse_feed(&bytes, Some("gbk"), None, None, now(), chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(f.entries[0].title, "新源县冬季供暖投诉");
    assert_eq!(f.encoding, "gb18030");
}

#[tokio::test]
async fn poll_twice_uses_the_cursor_and_conditional_get() {
    let s = FixtureServer::start().await;
    s.etag("/rss.xml", "\"v1\"", Reply::ok("application/rss+xml; charset=utf-8", RSS));
    let src = source_from(&format!(
        r#"[[source]]
id = "feed-test"
name = "测试"
type = "feed"
url = "{}"
schedule = {{ every_secs = 600 }}
fetch = {{ allow_private_addresses = true }}
"#,
        s.url("/rss.xml")
    ));
    let p1 = src.poll(Cursor::default(), now()).await.unwrap();
    assert_eq!(p1.items.len(), 2);
    assert_eq!(p1.items[0].source, "feed-test");
    assert_eq!(p1.items[0].source_type, "feed");
    assert_eq!(p1.items[0].raw_sha256.len(), 64);
    assert!(p1.items[0].raw.is_some(), "the raw bytes travel with the item");
    let p2 = src.poll(p1.cursor.clone(), now()).await.unwrap();
    assert_eq!((p2.items.len(), p2.not_modified), (0, 1), "304 the second time");
    // The feed changes (new ETag): only the new entry is collected.
    let changed = RSS.replace(
        "</channel>",
        "<item><title>新条目</title><link>http://news.example.cn/a/3.html</link></item></channel>",
    );
    s.etag("/rss.xml", "\"v2\"", Reply::ok("application/rss+xml", changed));
    let p3 = src.poll(p2.cursor, now()).await.unwrap();
    assert_eq!(p3.items.len(), 1);
    assert_eq!(p3.items[0].title, "新条目");
}

#[test]
fn author_strings_that_upset_the_feed_parser_cost_one_entry_at_most() {
    let rss = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<managingEditor>news@xinyuan.gov.cn（新源县融媒体中心）</managingEditor>
<item><title>新源县召开供暖会议</title><link>http://a.example/1</link><author>张三（zhangsan@example.com）</author></item>
<item><title>那拉提镇道路除雪</title><link>http://a.example/2</link></item>
</channel></rss>"#;
    let f = parse_feed(rss.as_bytes(), None, None, None, now(), chrono_tz::Asia::Shanghai).unwrap();
    let titles: Vec<&str> = f.entries.iter().map(|e| e.title.as_str()).collect();
    assert!(titles.contains(&"那拉提镇道路除雪"), "{titles:?} {:?}", f.issues);
}

#[test]
fn cst_means_china_standard_time() {
    let rss = r#"<rss version="2.0"><channel><title>t</title><item><title>x</title><link>http://a.example/1</link>
<pubDate>Fri, 14 Apr 2017 10:20:00 CST</pubDate></item></channel></rss>"#;
    let f = parse_feed(rss.as_bytes(), None, None, None, now(), chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(f.entries[0].published_at, Some(Utc.with_ymd_and_hms(2017, 4, 14, 2, 20, 0).unwrap()));
}
