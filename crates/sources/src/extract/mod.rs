//! Article extraction from HTML: with a source's CSS selectors, or generically.
//!
//! The generic extractor scores text blocks the way news pages are built: a block's own text
//! (inline children included) earns points for its length and its sentence punctuation (Chinese
//! and Latin), loses them to link text, and passes them up to its ancestors; the best-scoring
//! container, with the siblings that score nearly as well, is the article. Class/id words that mark
//! comments, navigation, sharing or related links count against a block. It contains no host names:
//! per-site behaviour lives only in source configuration (selectors). A page with no article-like
//! block (a portal home page) gets its visible text as the body and `article = false`: the body is
//! never empty when the page has any text.
//!
//! No IO; the parse and every pass are iterative, so deeply nested pages cannot overflow the stack.

pub mod score;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ego_tree::NodeId;
use ego_tree::iter::Edge;
use regex::Regex;
use scraper::{ElementRef, Html, Node, Selector};
use serde::Serialize;

use crate::dates;

/// What was read from a page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extracted {
    pub title: String,
    pub body: String,
    pub published_at: Option<DateTime<Utc>>,
    pub author: Option<String>,
    /// Whether an article-like block was found (false: `body` is the page's visible text).
    pub article: bool,
}

/// CSS selectors for one site's article pages (any may be absent: the generic rules fill in).
#[derive(Debug, Clone, Default)]
pub struct ArticleSelectors {
    pub title: Option<Selector>,
    pub body: Option<Selector>,
    pub date: Option<Selector>,
    pub author: Option<Selector>,
}

/// Tags whose content is never text of the page.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "select", "option", "button",
    "textarea", "input", "object", "embed", "video", "audio", "map", "head", "math",
];
/// Tags that hold page furniture rather than an article.
const FURNITURE: &[&str] = &["nav", "footer", "aside", "menu", "dialog"];
/// Inline tags: their text belongs to the nearest block ancestor.
const INLINE: &[&str] = &[
    "a", "span", "font", "b", "strong", "em", "i", "u", "br", "img", "sub", "sup", "small", "big", "label",
    "code", "abbr", "cite", "q", "s", "strike", "del", "ins", "mark", "time", "wbr", "tt", "var", "nobr",
];
/// Block tags that start a new line in the output.
const BREAKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "header",
    "main",
    "figure",
    "figcaption",
    "hr",
    "center",
    "form",
    "address",
];

static NEGATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[^a-z])(?:comment|combx|contact|foot|footer|footnote|masthead|outbrain|promo|related|relate|scroll|share|sharing|shoutbox|sidebar|side|skyscraper|sponsor|shopping|tags?|tool|toolbar|widget|nav|navi|menu|breadcrumbs?|crumbs?|banner|ads?|advert|adv|recommend|recom|hot|rank|ranking|copyright|login|search|pagination|pager|subscribe|qrcode|erweima|wechat|weixin|popup|modal|hidden|topbar|header|top|bottom|links?|friend|guess|more|list|jubao|report)(?:[^a-z]|$)",
    )
    .expect("static regex")
});
static POSITIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[^a-z])(?:article|articles|body|content|contents|entry|main|post|text|story|detail|details|zoom|con|cont|txt|news_?content|art_?content|trs_editor|rich_media_content|fulltext)(?:[^a-z]|$)",
    )
    .expect("static regex")
});
/// Headings that open page furniture on Chinese news sites (recommendations, rankings, comments).
static FURNITURE_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:热门推荐|相关阅读|推荐阅读|相关新闻|相关文章|相关推荐|延伸阅读|猜你喜欢|热点推荐|热门文章|精彩推荐|更多精彩|排行榜|今日推荐|热门评论|最新评论|网友评论|大家都在看|为您推荐|热点新闻|热门新闻|点击排行|阅读排行|往期回顾|相关链接|友情链接|分享到)",
    )
    .expect("static regex")
});
/// Lines that close an article and are kept (editor, source) though short.
static CLOSING_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*[（(【\[]?\s*(?:责任编辑|责编|编辑|来源|作者|记者|审核|校对|撰稿)")
        .expect("static regex")
});

static BYLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:作者|记者|撰文|文|编辑|责任编辑|来源作者)\s*[：:|丨]\s*([\p{Han}·]{2,5}|[A-Za-z][A-Za-z .\-]{1,40}[A-Za-z])")
        .expect("static regex")
});

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    /// Meaningful characters (letters, digits, CJK) in the subtree.
    text: u32,
    /// Of which inside links.
    link: u32,
    /// Sentence punctuation in the subtree.
    punct: u32,
    /// Elements in the subtree.
    tags: u32,
    /// Own text of this block (its inline descendants included, nested blocks excluded).
    own_text: u32,
    own_link: u32,
    own_punct: u32,
}

fn meaningful(c: char) -> bool {
    c.is_alphanumeric()
}

fn is_punct(c: char) -> bool {
    matches!(c, '，' | '。' | '！' | '？' | '；' | '、' | '：' | '“' | '”' | ',' | '.' | '!' | '?' | ';')
}

fn is_hidden(e: &scraper::node::Element) -> bool {
    if e.attr("hidden").is_some() || e.attr("aria-hidden") == Some("true") {
        return true;
    }
    e.attr("style").is_some_and(|s| {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        s.contains("display:none") || s.contains("visibility:hidden")
    })
}

fn class_id(e: &scraper::node::Element) -> String {
    let mut s = String::new();
    if let Some(c) = e.attr("class") {
        s.push_str(c);
    }
    s.push(' ');
    if let Some(i) = e.attr("id") {
        s.push_str(i);
    }
    s.to_ascii_lowercase()
}

fn class_weight(e: &scraper::node::Element) -> f64 {
    let ci = class_id(e);
    if ci.trim().is_empty() {
        return 0.0;
    }
    let mut w = 0.0;
    if POSITIVE.is_match(&ci) {
        w += 25.0;
    }
    if NEGATIVE.is_match(&ci) {
        w -= 25.0;
    }
    w
}

/// Per-element statistics, computed in one iterative pass.
struct Analysis {
    stats: HashMap<NodeId, Stats>,
}

fn analyse(doc: &Html) -> Analysis {
    let mut stats: HashMap<NodeId, Stats> = HashMap::new();
    // (node, stats so far, is block)
    let mut stack: Vec<(NodeId, Stats, bool)> = Vec::new();
    let mut skip_depth = 0usize;
    let mut link_depth = 0usize;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                let Node::Element(e) = node.value() else {
                    if let Node::Text(t) = node.value()
                        && skip_depth == 0
                    {
                        let (mut n, mut p) = (0u32, 0u32);
                        for c in t.chars() {
                            n += meaningful(c) as u32;
                            p += is_punct(c) as u32;
                        }
                        let linked = if link_depth > 0 { n } else { 0 };
                        if let Some(top) = stack.last_mut() {
                            top.1.text += n;
                            top.1.link += linked;
                            top.1.punct += p;
                        }
                        if let Some(block) = stack.iter_mut().rev().find(|s| s.2) {
                            block.1.own_text += n;
                            block.1.own_link += linked;
                            block.1.own_punct += p;
                        }
                    }
                    continue;
                };
                let name = e.name();
                if skip_depth > 0 || SKIP.contains(&name) || is_hidden(e) {
                    skip_depth += 1;
                    continue;
                }
                if name == "a" {
                    link_depth += 1;
                }
                stack.push((node.id(), Stats { tags: 1, ..Stats::default() }, !INLINE.contains(&name)));
            }
            Edge::Close(node) => {
                let Node::Element(e) = node.value() else { continue };
                if skip_depth > 0 {
                    skip_depth -= 1;
                    continue;
                }
                if e.name() == "a" {
                    link_depth = link_depth.saturating_sub(1);
                }
                let Some((id, s, _)) = stack.pop() else { continue };
                if let Some(parent) = stack.last_mut() {
                    parent.1.text += s.text;
                    parent.1.link += s.link;
                    parent.1.punct += s.punct;
                    parent.1.tags += s.tags;
                }
                stats.insert(id, s);
            }
        }
    }
    Analysis { stats }
}

fn link_density(s: &Stats) -> f64 {
    if s.text == 0 { 0.0 } else { s.link as f64 / s.text as f64 }
}

/// Extracts title, body, date and author. `selectors` (from a source's config) take precedence
/// where given and matching.
pub fn extract(doc: &Html, selectors: Option<&ArticleSelectors>, now: DateTime<Utc>, tz: Tz) -> Extracted {
    let a = analyse(doc);
    let sel = selectors.cloned().unwrap_or_default();

    let title = sel
        .title
        .as_ref()
        .and_then(|s| doc.select(s).map(|e| clean_inline(&element_text(e))).find(|t| !t.is_empty()))
        .unwrap_or_else(|| generic_title(doc));

    let (mut body, article, container) = match &sel.body {
        Some(s) => {
            let parts: Vec<String> =
                doc.select(s).map(|e| block_text(e, &a, false)).filter(|t| !t.is_empty()).collect();
            if parts.is_empty() { generic_body(doc, &a) } else { (parts.join("\n"), true, None) }
        }
        None => generic_body(doc, &a),
    };
    if body.chars().filter(|c| c.is_alphanumeric()).count() < 20
        && let Some(d) = meta_content(doc, &["description", "og:description", "twitter:description"])
    {
        // A page with (almost) no visible text, e.g. one built by scripts: its description.
        body = if body.trim().is_empty() { d } else { format!("{body}\n{d}") };
    }
    if body.trim().is_empty() {
        body = title.clone();
    }

    let published_at = sel
        .date
        .as_ref()
        .and_then(|s| doc.select(s).find_map(|e| dates::find_date(&element_text(e), now, tz)))
        .or_else(|| meta_date(doc, now, tz))
        .or_else(|| header_date(doc, container, &title, now, tz));

    let author = sel
        .author
        .as_ref()
        .and_then(|s| doc.select(s).map(|e| clean_inline(&element_text(e))).find(|t| !t.is_empty()))
        .map(|t| BYLINE.captures(&t).map(|c| c[1].trim().to_owned()).unwrap_or(t))
        .or_else(|| meta_content(doc, &["author", "article:author", "byline", "dc.creator"]))
        .or_else(|| {
            let head: String = body.chars().take(300).collect();
            BYLINE.captures(&head).map(|c| c[1].trim().to_owned())
        });

    Extracted { title, body, published_at, author, article }
}

fn element_text(e: ElementRef<'_>) -> String {
    e.text().collect::<String>()
}

/// Collapses whitespace (one line).
pub fn clean_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

static META: LazyLock<Selector> = LazyLock::new(|| sel("meta"));
static TITLE: LazyLock<Selector> = LazyLock::new(|| sel("title"));
static H1: LazyLock<Selector> = LazyLock::new(|| sel("h1, h2"));
static TIME: LazyLock<Selector> = LazyLock::new(|| sel("time[datetime]"));

fn meta_content(doc: &Html, names: &[&str]) -> Option<String> {
    for want in names {
        for m in doc.select(&META) {
            let v = m.value();
            let key = v.attr("property").or_else(|| v.attr("name")).or_else(|| v.attr("itemprop"));
            if key.is_some_and(|k| k.eq_ignore_ascii_case(want))
                && let Some(c) = v.attr("content").map(clean_inline).filter(|c| !c.is_empty())
            {
                return Some(c);
            }
        }
    }
    None
}

fn normalize_title(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase()
}

/// The page's headline: an `<h1>`/`<h2>` that the `<title>` starts with or contains, else `og:title`,
/// else `<title>` without the site name after a separator.
fn generic_title(doc: &Html) -> String {
    let page_title = doc.select(&TITLE).next().map(|t| clean_inline(&element_text(t))).unwrap_or_default();
    let og = meta_content(doc, &["og:title", "twitter:title"]);
    let nt = normalize_title(&page_title);
    let mut best: Option<String> = None;
    for h in doc.select(&H1) {
        let t = clean_inline(&element_text(h));
        let nh = normalize_title(&t);
        let n = nh.chars().count();
        if ((n >= 4 && nt.contains(&nh))
            || (n >= 2 && nt.starts_with(&nh))
            || og.as_deref().is_some_and(|o| n >= 2 && normalize_title(o) == nh))
            && best.as_ref().is_none_or(|b| t.chars().count() > b.chars().count())
        {
            best = Some(t);
        }
    }
    if let Some(b) = best {
        return b;
    }
    if let Some(o) = og.filter(|o| o.chars().count() >= 4) {
        return strip_site_name(&o);
    }
    if !page_title.is_empty() {
        return strip_site_name(&page_title);
    }
    doc.select(&H1).map(|h| clean_inline(&element_text(h))).find(|t| !t.is_empty()).unwrap_or_default()
}

/// `文章标题_栏目_网站` → `文章标题` (the first part, when it is the longest).
fn strip_site_name(t: &str) -> String {
    let parts: Vec<&str> = t
        .split(['_', '|', '－', '—', '–'])
        .flat_map(|p| p.split(" - "))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match parts.first() {
        Some(first)
            if parts.len() > 1 && parts.iter().all(|p| p.chars().count() <= first.chars().count()) =>
        {
            (*first).to_owned()
        }
        _ => t.trim().to_owned(),
    }
}

fn meta_date(doc: &Html, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    const NAMES: &[&str] = &[
        "article:published_time",
        "og:release_date",
        "pubdate",
        "publishdate",
        "publish_date",
        "publish-date",
        "publication_date",
        "datepublished",
        "firstpublishedtime",
        "dc.date.issued",
        "dc.date",
        "date",
        "weibo:article:create_at",
        "article:modified_time",
    ];
    if let Some(v) = meta_content(doc, NAMES)
        && let Some(d) = dates::parse_date(&v, now, tz).or_else(|| dates::find_date(&v, now, tz))
    {
        return Some(d);
    }
    doc.select(&TIME).find_map(|t| t.value().attr("datetime").and_then(|v| dates::parse_date(v, now, tz)))
}

/// A date printed near the headline: searched in the text between the headline and the start of
/// the article (or the first 3,000 characters of the page).
fn header_date(
    doc: &Html,
    container: Option<NodeId>,
    title: &str,
    now: DateTime<Utc>,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    let all = visible_text(doc);
    let start = if title.chars().count() >= 4 {
        let head: String = title.chars().take(12).collect();
        all.find(&head).unwrap_or(0)
    } else {
        0
    };
    let region: String = all[start..].chars().take(600).collect();
    if let Some(d) = dates::find_date(&region, now, tz) {
        return Some(d);
    }
    if let Some(id) = container
        && let Some(node) = doc.tree.get(id)
        && let Some(e) = ElementRef::wrap(node)
    {
        let text: String = element_text(e).chars().take(600).collect();
        if let Some(d) = dates::find_date(&text, now, tz) {
            return Some(d);
        }
    }
    None
}

/// The page's visible text, block by block (never script, style or hidden parts).
pub fn visible_text(doc: &Html) -> String {
    text_blocks(doc.root_element(), None)
}

/// Collapses whitespace inside lines and drops empty lines.
pub fn tidy_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let l = clean_inline(line);
        if !l.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&l);
        }
    }
    out
}

/// Scores blocks and returns (body, article?, container).
fn generic_body(doc: &Html, a: &Analysis) -> (String, bool, Option<NodeId>) {
    let mut scores: HashMap<NodeId, f64> = HashMap::new();
    for (id, s) in &a.stats {
        if s.own_text < 10 {
            continue;
        }
        let Some(node) = doc.tree.get(*id) else { continue };
        let own_ld = s.own_link as f64 / s.own_text.max(1) as f64;
        if own_ld > 0.5 {
            continue;
        }
        let score =
            (1.0 + s.own_punct as f64 + (s.own_text as f64 / 100.0).min(3.0) + s.own_text as f64 / 60.0)
                * (1.0 - own_ld);
        // The block itself and its ancestors share the score (1, 1, 1/2, 1/3).
        let mut cur = Some(node);
        let mut level = 0usize;
        while let Some(n) = cur {
            if level > 3 {
                break;
            }
            if matches!(n.value(), Node::Element(_)) {
                let div = match level {
                    0 | 1 => 1.0,
                    l => l as f64,
                };
                *scores.entry(n.id()).or_default() += score / div;
                level += 1;
            }
            cur = n.parent();
        }
    }
    let mut best: Option<(NodeId, f64)> = None;
    for (id, raw) in &scores {
        let Some(node) = doc.tree.get(*id) else { continue };
        let Node::Element(e) = node.value() else { continue };
        let st = a.stats.get(id).copied().unwrap_or_default();
        // Class/id words count in proportion to the text they label (a 20-character comment in a
        // `c-content` block is not an article).
        let plain = st.text.saturating_sub(st.link) as f64;
        let mut s = raw * (1.0 - link_density(&st)) + class_weight(e) * (plain / 200.0).min(1.0);
        if FURNITURE.contains(&e.name()) {
            s *= 0.2;
        }
        if matches!(e.name(), "html" | "body") {
            s *= 0.5;
        }
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((*id, s));
        }
    }
    let Some((top, top_score)) = best else {
        return (visible_text(doc), false, None);
    };
    let top_stats = a.stats.get(&top).copied().unwrap_or_default();
    let article_like =
        top_score >= 10.0 && top_stats.text >= 60 && link_density(&top_stats) < 0.5 && top_stats.punct >= 2;
    if !article_like {
        return (visible_text(doc), false, Some(top));
    }
    // Siblings that score nearly as well belong to the article (text split over several blocks).
    let mut parts: Vec<NodeId> = vec![top];
    if let Some(parent) = doc.tree.get(top).and_then(|n| n.parent()) {
        let threshold = (top_score * 0.2).max(10.0);
        parts = parent
            .children()
            .filter(|c| {
                if c.id() == top {
                    return true;
                }
                let Node::Element(e) = c.value() else { return false };
                let st = a.stats.get(&c.id()).copied().unwrap_or_default();
                let ld = link_density(&st);
                let plain = st.text.saturating_sub(st.link) as f64;
                let sc = scores.get(&c.id()).copied().unwrap_or(0.0) * (1.0 - ld)
                    + class_weight(e) * (plain / 200.0).min(1.0);
                sc >= threshold && ld < 0.4
                    || (e.name() == "p" && st.text >= 60 && ld < 0.25 && st.punct >= 2)
            })
            .map(|c| c.id())
            .collect();
    }
    let text: Vec<String> = parts
        .into_iter()
        .filter_map(|id| doc.tree.get(id).and_then(ElementRef::wrap))
        .map(|e| block_text(e, a, true))
        .filter(|t| !t.is_empty())
        .collect();
    let body = trim_tail(&text.join("\n"));
    if body.is_empty() { (visible_text(doc), false, Some(top)) } else { (body, true, Some(top)) }
}

/// The text of `root`, block by block. With `prune`, link lists, furniture and blocks whose
/// class/id mark them as comments, sharing or related links are left out.
fn block_text(root: ElementRef<'_>, a: &Analysis, prune: bool) -> String {
    text_blocks(root, prune.then_some(a))
}

/// The text under `root`, a line per block; script, style and hidden parts never, and with
/// `prune` the blocks [`junk`] or [`furniture_heading`] reject neither.
fn text_blocks(root: ElementRef<'_>, prune: Option<&Analysis>) -> String {
    let mut out = String::new();
    let mut skip = 0usize;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(e) => {
                    let pruned = prune.is_some_and(|a| {
                        node.id() != root.id() && (junk(node.id(), e, a) || furniture_heading(node))
                    });
                    if skip > 0 || SKIP.contains(&e.name()) || is_hidden(e) || pruned {
                        skip += 1;
                    } else if BREAKS.contains(&e.name()) {
                        out.push('\n');
                    }
                }
                Node::Text(t) if skip == 0 => out.push_str(t),
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(e) = node.value() {
                    if skip > 0 {
                        skip -= 1;
                    } else if BREAKS.contains(&e.name()) {
                        out.push('\n');
                    }
                }
            }
        }
    }
    tidy_lines(&out)
}

/// A block that opens with a furniture heading (热门推荐, 相关新闻…).
fn furniture_heading(node: ego_tree::NodeRef<'_, Node>) -> bool {
    let is_block = node.value().as_element().is_some_and(|e| !INLINE.contains(&e.name()) && e.name() != "p");
    is_block && FURNITURE_HEADING.is_match(&leading_text(node, 12))
}

/// Drops trailing lines that are short and carry no sentence punctuation (recommendation lists,
/// counters, share buttons that follow an article inside its container); closing lines such as
/// `责任编辑：…` are kept.
fn trim_tail(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut end = lines.len();
    while end > 1 {
        let l = lines[end - 1];
        let short = l.chars().filter(|c| c.is_alphanumeric()).count() < 30;
        let sentence = l.contains(['。', '！', '？', '!', '?', '.', '；']);
        if short && !sentence && !CLOSING_LINE.is_match(l) {
            end -= 1;
        } else {
            break;
        }
    }
    lines[..end].join("\n")
}

/// The first characters of an element's text (to recognise furniture by its heading).
fn leading_text(node: ego_tree::NodeRef<'_, Node>, max: usize) -> String {
    let mut out = String::new();
    for d in node.descendants() {
        if let Node::Text(t) = d.value() {
            out.extend(t.chars().filter(|c| !c.is_whitespace()));
            if out.chars().count() >= max {
                break;
            }
        }
    }
    out
}

fn junk(id: NodeId, e: &scraper::node::Element, a: &Analysis) -> bool {
    let name = e.name();
    if FURNITURE.contains(&name) {
        return true;
    }
    if INLINE.contains(&name) {
        return false;
    }
    let st = a.stats.get(&id).copied().unwrap_or_default();
    let ld = link_density(&st);
    if st.text >= 4 && ld > 0.6 {
        return true;
    }
    if matches!(name, "ul" | "ol" | "table" | "dl") && ld > 0.4 {
        return true;
    }
    let ci = class_id(e);
    if !ci.trim().is_empty() && NEGATIVE.is_match(&ci) && !POSITIVE.is_match(&ci) {
        // Furniture by name: keep it only if it reads like prose.
        return !(st.text >= 200 && ld < 0.2 && st.punct * 40 >= st.text);
    }
    false
}
