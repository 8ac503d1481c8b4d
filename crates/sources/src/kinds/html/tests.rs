use yuqing_core::Source;
use yuqing_testkit::{FixtureServer, Reply};

use super::*;
use crate::kinds::test_support::{now, source_from};

fn gbk(s: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(s).0.into_owned()
}

fn list_page(items: &[(u32, &str)], next: Option<&str>) -> String {
    let mut s = String::from(
        "<html><head><title>新源要闻</title></head><body><div class=nav><a href=/>首页</a></div><ul class=list>",
    );
    for (n, title) in items {
        s.push_str(&format!(
            "<li><a href=\"/news/{n}.html?from=list#top\">{title}</a><span>2026-11-{:02}</span></li>",
            10 + n
        ));
    }
    s.push_str("</ul>");
    if let Some(n) = next {
        s.push_str(&format!("<a class=next href=\"{n}\">下一页</a>"));
    }
    s.push_str("</body></html>");
    s
}

fn article(n: u32, title: &str) -> String {
    format!(
        "<html><head><meta charset=utf-8><title>{title}_新源县人民政府</title></head><body>\
         <div class=nav><a href=/>首页</a> <a href=/news/>新闻</a></div>\
         <div class=article><h1>{title}</h1><div class=info>发布时间：2026-11-{:02} 10:30 来源：新源县融媒体中心</div>\
         <div class=content><p>11月{n}日，新源县召开专题会议，研究部署冬季供暖、道路除雪和牧民定居点安全工作。</p>\
         <p>会议要求，各乡镇、各部门要压实责任，及时回应群众关切，确保群众温暖过冬。</p></div></div>\
         <div class=footer>版权所有：新源县人民政府 备案号：新ICP备00000000号</div></body></html>",
        10 + n
    )
}

fn config(base: &str, extra: &str) -> String {
    format!(
        r#"[[source]]
id = "html-test"
name = "测试"
type = "html"
list_url = "{base}/news/index.html"
schedule = {{ every_secs = 900 }}
max_pages = 3
fetch = {{ allow_private_addresses = true }}
{extra}
[source.list]
item = "ul.list li"
date = "span"
next_page = "a.next"
"#
    )
}

#[tokio::test]
async fn list_pages_articles_and_paging_stop_at_seen_items() {
    let s = FixtureServer::start().await;
    s.route(
        "/news/index.html",
        Reply::html(list_page(&[(1, "供暖会议"), (2, "道路除雪")], Some("index_2.html"))),
    );
    s.route("/news/index_2.html", Reply::html(list_page(&[(3, "医保窗口"), (4, "牧民定居")], None)));
    for (n, t) in [(1, "供暖会议"), (2, "道路除雪"), (3, "医保窗口"), (4, "牧民定居")] {
        s.route(&format!("/news/{n}.html"), Reply::html(article(n, t)));
    }
    let src = source_from(&config(&format!("http://{}", s.addr), ""));
    let p = src.poll(Cursor::default(), now()).await.unwrap();
    assert_eq!(p.items.len(), 4, "{:?}", p.issues);
    let first = &p.items[0];
    assert_eq!(first.title, "供暖会议");
    assert_eq!(first.url.as_deref(), Some(format!("http://{}/news/1.html?from=list", s.addr).as_str()));
    assert!(first.body.contains("冬季供暖") && !first.body.contains("版权所有"), "{}", first.body);
    assert!(first.published_at.is_some());

    // A new item on page 1 under a pinned old one: the next poll takes it and stops paging at the
    // first seen item after it.
    s.route(
        "/news/index.html",
        Reply::html(list_page(&[(2, "道路除雪"), (5, "新消息"), (1, "供暖会议")], Some("index_2.html"))),
    );
    s.route("/news/5.html", Reply::html(article(5, "新消息")));
    let before = s.hits("/news/index_2.html");
    let p2 = src.poll(p.cursor, now()).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.items[0].title, "新消息");
    assert_eq!(s.hits("/news/index_2.html"), before, "page 2 was not fetched again");
}

#[tokio::test]
async fn selector_that_matches_nothing_is_a_clear_error() {
    let s = FixtureServer::start().await;
    s.route("/news/index.html", Reply::html("<html><body><div class=other>改版后的页面</div></body></html>"));
    let src = source_from(&config(&format!("http://{}", s.addr), ""));
    let err = src.poll(Cursor::default(), now()).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("list.item selector \"ul.list li\" matched nothing"), "{err}");
}

#[tokio::test]
async fn a_failing_article_is_reported_and_retried_next_time() {
    let s = FixtureServer::start().await;
    s.route("/news/index.html", Reply::html(list_page(&[(1, "供暖会议"), (2, "道路除雪")], None)));
    s.route("/news/1.html", Reply::html(article(1, "供暖会议")));
    s.route("/news/2.html", Reply::status(503));
    let src = source_from(&config(&format!("http://{}", s.addr), ""));
    let p = src.poll(Cursor::default(), now()).await.unwrap();
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.issues.len(), 1, "{:?}", p.issues);
    assert!(p.issues[0].reason.contains("503"));
    s.route("/news/2.html", Reply::html(article(2, "道路除雪")));
    let p2 = src.poll(p.cursor, now()).await.unwrap();
    assert_eq!(p2.items.len(), 1, "the failed article is not lost");
    assert_eq!(p2.items[0].title, "道路除雪");

    // A page that is gone (404) is reported once and not asked for again.
    s.route(
        "/news/index.html",
        Reply::html(list_page(&[(3, "医保窗口"), (1, "供暖会议"), (2, "道路除雪")], None)),
    );
    s.route("/news/3.html", Reply::status(404));
    let p3 = src.poll(p2.cursor, now()).await.unwrap();
    assert_eq!((p3.items.len(), p3.issues.len()), (0, 1));
    let p4 = src.poll(p3.cursor, now()).await.unwrap();
    assert_eq!((p4.items.len(), p4.issues.len()), (0, 0));
    assert_eq!(s.hits("/news/3.html?from=list"), 1);
}

#[tokio::test]
async fn gbk_pages_declared_utf8_by_the_server() {
    let s = FixtureServer::start().await;
    s.route(
        "/news/index.html",
        Reply::ok("text/html; charset=utf-8", gbk(&list_page(&[(1, "供暖会议")], None))),
    );
    s.route("/news/1.html", Reply::ok("text/html; charset=utf-8", gbk(&article(1, "供暖会议"))));
    let src = source_from(&config(&format!("http://{}", s.addr), ""));
    let p = src.poll(Cursor::default(), now()).await.unwrap();
    assert_eq!(p.items.len(), 1, "{:?}", p.issues);
    assert_eq!(p.items[0].title, "供暖会议");
    assert!(p.items[0].body.contains("牧民定居点"), "{}", p.items[0].body);
    assert_eq!(p.items[0].encoding.as_deref(), Some("gb18030"));
}

#[tokio::test]
async fn article_selectors_and_policy_documents() {
    let s = FixtureServer::start().await;
    s.route("/news/index.html", Reply::html(list_page(&[(1, "关于印发供暖方案的通知")], None)));
    s.route("/news/1.html", Reply::html(article(1, "关于印发供暖方案的通知")));
    let extra = "policy_documents = true\n[source.article]\ntitle = \".article h1\"\nbody = \".article .content\"\ndate = \".info\"\n";
    let src = source_from(&config(&format!("http://{}", s.addr), extra));
    let p = src.poll(Cursor::default(), now()).await.unwrap();
    let item = &p.items[0];
    assert!(item.policy_document);
    assert_eq!(item.title, "关于印发供暖方案的通知");
    assert!(item.body.starts_with("11月1日"), "{}", item.body);
    assert_eq!(item.published_at.unwrap().to_rfc3339(), "2026-11-11T02:30:00+00:00");

    // A body selector that no longer matches: the item keeps generic text and the issue says why.
    let extra = "[source.article]\nbody = \"#zoom\"\n";
    let src = source_from(&config(&format!("http://{}", s.addr), extra));
    let p = src.poll(Cursor::default(), now()).await.unwrap();
    assert_eq!(p.items.len(), 1);
    assert!(p.items[0].body.contains("冬季供暖"));
    assert!(
        p.issues.iter().any(|i| i.reason.contains("article.body selector matched nothing")),
        "{:?}",
        p.issues
    );
}

#[tokio::test]
async fn list_that_carries_the_text() {
    let s = FixtureServer::start().await;
    s.route(
        "/news/index.html",
        Reply::html(
            "<ul class=list><li><a href=/m/1>小区暖气不热</a><span>2026-11-20</span><div class=c>暖气片冰凉，<b>老人孩子</b>受冻。</div></li></ul>",
        ),
    );
    let mut cfg = config(&format!("http://{}", s.addr), "");
    cfg.push_str("body = \".c\"\n");
    let src = source_from(&cfg);
    let p = src.poll(Cursor::default(), now()).await.unwrap();
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].body, "暖气片冰凉，老人孩子受冻。");
    assert_eq!(s.hits("/m/1"), 0, "no article page fetched");
}
