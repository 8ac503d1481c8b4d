//! The status page (`GET /`) and search results (`GET /search?q=…`): server-rendered HTML, no
//! script, readable without a session. Every value from the store or a source is escaped.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;
use yuqing_core::store::{PostSummary, SourceStatus, Store};

use crate::AppState;

/// Posts listed on the status page.
const RECENT: u32 = 30;
/// Search results per page.
const HITS: usize = 30;
/// Longest query accepted (characters).
const MAX_QUERY_CHARS: usize = 200;

/// A search hit as pages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub id: i64,
    pub title: String,
    /// Body text around the matches, already HTML-escaped, with `<b>…</b>` around the matches.
    pub snippet_html: String,
    pub source: String,
    pub departments: Vec<String>,
    pub time: DateTime<Utc>,
}

/// Full-text search over stored posts, as the web pages need it.
pub trait PostSearch: Send + Sync {
    /// Most relevant first, at most `limit`.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, String>;
}

/// HTML escape for text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Beijing time, as county officials read it.
fn local(t: DateTime<Utc>) -> String {
    let tz = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    match s {
        i64::MIN..=-60 => format!("in {} min", (-s) / 60),
        -59..=59 => "now".into(),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn page(title: &str, banner: Option<&str>, query: &str, body: &str, refresh: bool) -> Response {
    let mut html = String::with_capacity(body.len() + 2048);
    html.push_str("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    if refresh {
        html.push_str("<meta http-equiv=\"refresh\" content=\"30\">");
    }
    let _ = write!(html, "<title>{}</title>", esc(title));
    html.push_str(STYLE);
    html.push_str("</head><body><header><a class=\"brand\" href=\"/\">舆情 Yuqing</a>");
    let _ = write!(
        html,
        "<form action=\"/search\" method=\"get\" role=\"search\"><input name=\"q\" value=\"{}\" \
         placeholder=\"搜索帖子，如：供暖 不热\" maxlength=\"{MAX_QUERY_CHARS}\" aria-label=\"search\">\
         <button>搜索</button></form></header>",
        esc(query)
    );
    if let Some(b) = banner {
        let _ = write!(html, "<p class=\"banner\">{}</p>", esc(b));
    }
    html.push_str("<main>");
    html.push_str(body);
    html.push_str("</main></body></html>");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

const STYLE: &str = "<style>\
body{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;color:#1d232b;background:#f6f7f9}\
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#8f1d1d;color:#fff}\
header a.brand{color:#fff;font-weight:700;text-decoration:none;font-size:1.15rem}\
header form{display:flex;gap:.4rem;flex:1;max-width:36rem}header input{flex:1;padding:.35rem .5rem}\
main{padding:0 1.2rem 2rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}\
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}\
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e6ea;vertical-align:top}\
th{background:#eef0f3;font-weight:600}.ok{color:#17673a}.bad{color:#a4161a;font-weight:600}\
.muted{color:#66707c}.dept{display:inline-block;background:#e8eef9;border-radius:3px;padding:0 .3rem;margin:0 .2rem .1rem 0}\
.neg{color:#a4161a}.pos{color:#17673a}.banner{background:#fff6d6;margin:0;padding:.5rem 1.2rem}\
.stats{display:flex;gap:2rem;margin-top:1rem}.stats b{font-size:1.4rem;display:block}\
.snippet b{background:#fff2a8}</style>";

fn health_cell(s: &SourceStatus, now: DateTime<Utc>) -> String {
    let h: Value = serde_json::from_str(&s.health).unwrap_or(Value::Null);
    let time = |k: &str| h[k].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc());
    let failures = h["consecutive_failures"].as_u64().unwrap_or(0);
    if failures > 0 {
        let err = h["last_error"].as_str().unwrap_or("");
        let when = time("last_error_at").map(|t| ago(t, now)).unwrap_or_default();
        format!(
            "<span class=\"bad\">failing ×{failures}</span> <span class=\"muted\">{} · {}</span>",
            esc(&when),
            esc(err)
        )
    } else if let Some(t) = time("last_success_at") {
        let items = h["items_last_run"].as_u64().unwrap_or(0);
        format!(
            "<span class=\"ok\">ok</span> <span class=\"muted\">{} · {items} items</span>",
            esc(&ago(t, now))
        )
    } else {
        "<span class=\"muted\">not crawled yet</span>".into()
    }
}

/// Department names of an analysis JSON.
fn departments(analysis: Option<&str>) -> (Vec<String>, String, f64) {
    let a: Value = analysis.and_then(|j| serde_json::from_str(j).ok()).unwrap_or(Value::Null);
    let names = a["departments"]
        .as_array()
        .map(|d| {
            d.iter().filter_map(|x| x["name"].as_str().or(x["id"].as_str()).map(str::to_owned)).collect()
        })
        .unwrap_or_default();
    let sentiment = a["sentiment"]["label"].as_str().unwrap_or("").to_owned();
    let risk = a["risk"]["score"].as_f64().unwrap_or(0.0);
    (names, sentiment, risk)
}

fn sentiment_cell(label: &str) -> String {
    match label {
        "negative" => "<span class=\"neg\">负面</span>".into(),
        "positive" => "<span class=\"pos\">正面</span>".into(),
        "neutral" => "<span class=\"muted\">中性</span>".into(),
        other => esc(other),
    }
}

fn dept_tags(names: &[String]) -> String {
    if names.is_empty() {
        return "<span class=\"muted\">—</span>".into();
    }
    names.iter().map(|n| format!("<span class=\"dept\">{}</span>", esc(n))).collect()
}

fn post_row<S>(st: &AppState<S>, p: &PostSummary) -> String {
    let (names, sentiment, risk) = departments(p.analysis.as_deref());
    let title = if p.title.trim().is_empty() { "(无标题)" } else { p.title.as_str() };
    let title = match p.url.as_deref().filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
        Some(u) => format!("<a href=\"{}\" rel=\"noreferrer\">{}</a>", esc(u), esc(title)),
        None => esc(title),
    };
    let mut notes = String::new();
    if let Some(o) = p.duplicate_of {
        let _ = write!(notes, " <span class=\"muted\">(repeats #{o})</span>");
    }
    if p.reposts > 0 {
        let _ = write!(notes, " <span class=\"muted\">(+{} reposts)</span>", p.reposts);
    }
    let source = st.source_names.get(&p.source_id).map_or(p.source_id.as_str(), String::as_str);
    format!(
        "<tr><td class=\"muted\">{}</td><td>{title}{notes}</td><td>{}</td><td>{}</td><td>{}</td><td>{risk:.2}</td></tr>",
        local(p.time),
        esc(source),
        dept_tags(&names),
        sentiment_cell(&sentiment),
    )
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "status page: store unavailable");
    (StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable; try again").into_response()
}

pub(crate) async fn status<S: Store + 'static>(State(st): State<Arc<AppState<S>>>) -> Response {
    let now = Utc::now();
    let sources = match st.store.sources_status(now).await {
        Ok(s) => s,
        Err(e) => return unavailable(e),
    };
    let recent = match st.store.recent_posts(RECENT).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let total: u64 = sources.iter().map(|s| s.posts).sum();
    let failing = sources
        .iter()
        .filter(|s| {
            serde_json::from_str::<Value>(&s.health)
                .ok()
                .and_then(|h| h["consecutive_failures"].as_u64())
                .unwrap_or(0)
                > 0
        })
        .count();
    let mut b = String::new();
    let _ = write!(
        b,
        "<section class=\"stats\"><div><b>{}</b>sources</div><div><b class=\"{}\">{failing}</b>failing</div>\
         <div><b>{total}</b>posts from sources</div></section>",
        sources.len(),
        if failing > 0 { "bad" } else { "ok" }
    );
    b.push_str("<h2>Newest collected posts</h2><table><tr><th>Time</th><th>Title</th><th>Source</th><th>Departments</th><th>Sentiment</th><th>Risk</th></tr>");
    if recent.is_empty() {
        b.push_str(
            "<tr><td colspan=\"6\" class=\"muted\">No posts yet: sources are being crawled.</td></tr>",
        );
    }
    for p in &recent {
        b.push_str(&post_row(&st, p));
    }
    b.push_str("</table><h2>Sources</h2><table><tr><th>Source</th><th>Kind</th><th>Health</th><th>Posts</th><th>Next due</th><th>Held by</th></tr>");
    for s in &sources {
        let name = st
            .source_names
            .get(&s.id)
            .map(|n| format!("{} <span class=\"muted\">{}</span>", esc(n), esc(&s.id)));
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"muted\">{}</td></tr>",
            name.unwrap_or_else(|| esc(&s.id)),
            esc(&s.kind),
            health_cell(s, now),
            s.posts,
            esc(&ago(s.next_due_at, now)),
            esc(s.lease_owner.as_deref().unwrap_or("")),
        );
    }
    b.push_str("</table>");
    page("舆情 · status", st.banner.as_deref(), "", &b, true)
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
}

pub(crate) async fn search<S: Store + 'static>(
    State(st): State<Arc<AppState<S>>>,
    Query(params): Query<SearchParams>,
) -> Response {
    let q: String = params.q.trim().chars().take(MAX_QUERY_CHARS).collect();
    let mut b = String::new();
    if q.is_empty() {
        b.push_str("<p class=\"muted\">Type words to look for (Chinese needs no spaces).</p>");
        return page("舆情 · search", st.banner.as_deref(), "", &b, false);
    }
    let Some(index) = st.search.clone() else {
        b.push_str("<p class=\"bad\">This node has no search index.</p>");
        return page("舆情 · search", st.banner.as_deref(), &q, &b, false);
    };
    let query = q.clone();
    let hits = match tokio::task::spawn_blocking(move || index.search(&query, HITS)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "search failed");
            let _ = write!(b, "<p class=\"bad\">Search failed: {}</p>", esc(&e));
            return page("舆情 · search", st.banner.as_deref(), &q, &b, false);
        }
        Err(e) => return unavailable(e),
    };
    let _ = write!(b, "<h2>{} results for “{}”</h2>", hits.len(), esc(&q));
    b.push_str("<table><tr><th>Time</th><th>Post</th><th>Source</th><th>Departments</th></tr>");
    for h in &hits {
        let source = st.source_names.get(&h.source).map_or(h.source.as_str(), String::as_str);
        let title = if h.title.trim().is_empty() { "(无标题)" } else { h.title.as_str() };
        let _ = write!(
            b,
            "<tr><td class=\"muted\">{}</td><td><b>{}</b> <span class=\"muted\">#{}</span><div class=\"snippet\">{}</div></td><td>{}</td><td>{}</td></tr>",
            local(h.time),
            esc(title),
            h.id,
            h.snippet_html,
            esc(source),
            dept_tags(&h.departments),
        );
    }
    b.push_str("</table>");
    page("舆情 · search", st.banner.as_deref(), &q, &b, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn reads_departments_sentiment_and_risk() {
        let a = r#"{"departments":[{"id":"housing","name":"住房和城乡建设局"},{"id":"x"}],"sentiment":{"label":"negative"},"risk":{"score":0.5}}"#;
        let (names, s, r) = departments(Some(a));
        assert_eq!(names, ["住房和城乡建设局", "x"]);
        assert_eq!((s.as_str(), r), ("negative", 0.5));
        assert_eq!(departments(Some("not json")).0.len(), 0);
    }
}
