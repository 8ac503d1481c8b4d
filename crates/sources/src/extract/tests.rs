use chrono::{TimeZone, Utc};
use scraper::Html;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
}

fn run(html: &str) -> Extracted {
    extract(&Html::parse_document(html), None, now(), chrono_tz::Asia::Shanghai)
}

const ARTICLE: &str = r##"<html><head><title>新源县全力保障冬季供暖_新源县人民政府</title>
<meta name="author" content="新源县融媒体中心"></head><body>
<div class="top-nav"><a href="/">首页</a><a href="/xw/">新闻中心</a><a href="/gk/">政务公开</a><a href="/hd/">互动交流</a></div>
<div class="main"><div class="left">
 <h1>新源县全力保障冬季供暖</h1>
 <div class="info">发布时间：2026年11月20日 10:30　来源：新源县住房和城乡建设局</div>
 <div id="zoom">
  <p>入冬以来，新源县住房和城乡建设局组织供热企业对全县集中供热管网进行全面排查，确保群众温暖过冬。</p>
  <p>截至目前，全县共排查供热管网120公里，维修更换阀门86个，处理群众反映的暖气不热问题43件。</p>
  <p>县住建局提醒，群众如遇暖气不热等问题，可拨打12345政务服务便民热线反映，相关部门将在24小时内响应。</p>
 </div>
 <div class="share">分享到：<a href="#">微信</a><a href="#">微博</a></div>
 <div class="related"><h3>相关新闻</h3><ul><li><a href="/1">那拉提景区冬季开放</a></li><li><a href="/2">新源县召开安全生产会议</a></li></ul></div>
</div>
<div class="right"><h3>热门推荐</h3><ul><li><a href="/3">县医保局开展宣传活动</a></li><li><a href="/4">牧民定居工程进展顺利</a></li></ul></div></div>
<div class="footer">版权所有：新源县人民政府　新ICP备00000000号</div>
</body></html>"##;

#[test]
fn reads_an_article_without_its_furniture() {
    let x = run(ARTICLE);
    assert!(x.article);
    assert_eq!(x.title, "新源县全力保障冬季供暖");
    assert!(x.body.starts_with("入冬以来"), "{}", x.body);
    assert!(x.body.contains("24小时内响应"));
    for junk in ["首页", "分享到", "相关新闻", "热门推荐", "版权所有", "那拉提景区冬季开放"]
    {
        assert!(!x.body.contains(junk), "{junk} in {}", x.body);
    }
    assert_eq!(x.published_at, Some(Utc.with_ymd_and_hms(2026, 11, 20, 2, 30, 0).unwrap()));
    assert_eq!(x.author.as_deref(), Some("新源县融媒体中心"));
}

#[test]
fn selectors_take_precedence() {
    let sel = ArticleSelectors {
        title: Some(Selector::parse(".info").unwrap()),
        body: Some(Selector::parse("#zoom p:first-child").unwrap()),
        ..ArticleSelectors::default()
    };
    let x = extract(&Html::parse_document(ARTICLE), Some(&sel), now(), chrono_tz::Asia::Shanghai);
    assert!(x.title.starts_with("发布时间"));
    assert_eq!(
        x.body,
        "入冬以来，新源县住房和城乡建设局组织供热企业对全县集中供热管网进行全面排查，确保群众温暖过冬。"
    );
}

#[test]
fn portal_page_gets_its_visible_text_and_no_article() {
    let mut html =
        String::from("<html><head><title>新源县人民政府门户网站</title></head><body><div class=nav>");
    for i in 0..40 {
        html.push_str(&format!("<a href=/l{i}>栏目{i}</a> "));
    }
    html.push_str("</div><ul class=news>");
    for i in 0..30 {
        html.push_str(&format!(
            "<li><a href=/n{i}>新源县第{i}条新闻标题较长一些</a><span>11-{:02}</span></li>",
            i % 28 + 1
        ));
    }
    html.push_str("</ul><div class=footer>主办：新源县人民政府办公室</div></body></html>");
    let x = run(&html);
    assert!(!x.article);
    assert!(x.body.contains("栏目0") && x.body.contains("主办：新源县人民政府办公室"), "{}", x.body);
    assert_eq!(x.title, "新源县人民政府门户网站");
}

#[test]
fn empty_and_script_only_pages_still_have_a_body() {
    let x = run(
        "<html><head><title>新源县</title><meta name=description content=\"新源县人民政府网站，发布政务信息和办事服务。\"></head><body><script>var a=1;</script></body></html>",
    );
    assert!(x.body.contains("发布政务信息"), "{x:?}");
    let x = run("");
    assert_eq!(x.body, "");
    let x = run("<title>只有标题</title>");
    assert_eq!(x.body, "只有标题");
}

#[test]
fn deep_nesting_does_not_overflow() {
    let mut html = String::new();
    for _ in 0..20_000 {
        html.push_str("<div>");
    }
    html.push_str("<p>新源县，很深的页面。</p>");
    let x = run(&html);
    assert!(x.body.contains("很深的页面"));
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_markup(s in "(<[a-z]{1,6}( class=\"[a-z ]{0,12}\")?>|</[a-z]{1,6}>|[\\PC]{0,20}|，|。){0,60}") {
        let _ = run(&s);
    }
}
