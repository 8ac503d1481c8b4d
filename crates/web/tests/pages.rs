//! The status page, search page and probes on a SQLite store: what a visitor without a session
//! sees, and that nothing from a post reaches the page unescaped.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use tower::ServiceExt;
use yuqing_core::record::PostRecord;
use yuqing_core::store::Store;
use yuqing_store::SqlStore;
use yuqing_testkit::shipped_analyzer;
use yuqing_web::{AppState, PostSearch, SearchHit, router};

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String, String) {
    let resp =
        app.clone().oneshot(Request::get(uri).body(Body::empty()).expect("request")).await.expect("response");
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.expect("body");
    (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
}

struct FixedSearch;

impl PostSearch for FixedSearch {
    fn search(&self, query: &str, _limit: usize) -> Result<Vec<SearchHit>, String> {
        if query == "故障" {
            return Err("index <broken>".into());
        }
        Ok(vec![SearchHit {
            id: 7,
            title: "暖气<b>不热</b>".into(),
            snippet_html: "小区<b>暖气</b>不热".into(),
            source: "forum".into(),
            departments: vec!["住房和城乡建设局".into()],
            time: Utc::now(),
        }])
    }
}

async fn store_with_posts(dir: &tempfile::TempDir) -> Arc<SqlStore> {
    let store =
        Arc::new(SqlStore::connect(&format!("sqlite://{}/y.db", dir.path().display())).await.expect("store"));
    store.migrate().await.expect("migrate");
    store
        .register_sources(&[("forum".into(), "feed".into()), ("news".into(), "html".into())], Utc::now())
        .await
        .expect("register");
    let analyzer = shipped_analyzer();
    let now = Utc::now();
    let records = [
        r#"{"id":"p1","title":"那拉提镇小区暖气不热","body":"小区暖气片冰凉，室温不到十六度，物业推诿。","url":"http://forum.example/t/1"}"#,
        r#"{"id":"p2","title":"<script>alert(1)</script>","body":"工地拖欠农民工工资三个月","url":"javascript:alert(1)"}"#,
    ];
    let items = records
        .iter()
        .map(|line| {
            let r: PostRecord = serde_json::from_str(line).expect("record");
            r.into_item("forum", "feed", line.as_bytes(), now).expect("item")
        })
        .collect();
    let posts = yuqing_pipeline::prepare(&analyzer, "t", items);
    store.ingest(&posts, now).await.expect("ingest");
    store
}

#[tokio::test]
async fn status_page_lists_sources_and_posts_with_departments_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_posts(&dir).await;
    let mut state = AppState::new(store, Arc::new(shipped_analyzer()), "t");
    state.source_names.insert("forum".into(), "县论坛 · 百姓呼声".into());
    state.banner = Some("演示 <demo>".into());
    let app = router(Arc::new(state));

    let (status, ctype, html) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(html.contains("县论坛 · 百姓呼声") && html.contains("news"), "both sources are listed");
    assert!(html.contains("not crawled yet"), "sources without a poll say so");
    assert!(html.contains("那拉提镇小区暖气不热"), "recent posts are listed");
    assert!(html.contains("住房和城乡建设局"), "with the departments analysis assigned");
    assert!(html.contains("人力资源和社会保障局"), "{html}");
    assert!(html.contains("href=\"http://forum.example/t/1\""), "http links are kept");
    assert!(!html.contains("<script>alert(1)"), "titles are escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("javascript:alert"), "non-http links are dropped");
    assert!(html.contains("演示 &lt;demo&gt;"), "the banner is escaped too");
    assert!(html.contains("action=\"/search\""), "a search box");
}

#[tokio::test]
async fn search_page_probes_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_posts(&dir).await;

    // Without an index or a metrics recorder.
    let bare = router(Arc::new(AppState::new(store.clone(), Arc::new(shipped_analyzer()), "t")));
    let (status, _, html) = get(&bare, "/search?q=%E6%9A%96%E6%B0%94").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("no search index"), "{html}");
    assert_eq!(get(&bare, "/metrics").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&bare, "/healthz").await.0, StatusCode::OK);
    let (status, _, body) = get(&bare, "/readyz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));

    let mut state = AppState::new(store.clone(), Arc::new(shipped_analyzer()), "t");
    state.search = Some(Arc::new(FixedSearch));
    state.metrics = Some(Arc::new(|| "yuqing_posts_stored_total 2\n".to_owned()));
    let app = router(Arc::new(state));
    let (status, _, html) = get(&app, "/search?q=%E6%9A%96%E6%B0%94%3Cx%3E").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("小区<b>暖气</b>不热"), "snippets keep their highlight");
    assert!(html.contains("暖气&lt;b&gt;不热&lt;/b&gt;"), "titles are escaped");
    assert!(html.contains("value=\"暖气&lt;x&gt;\""), "the query is echoed escaped");
    assert!(html.contains("住房和城乡建设局"));
    let (_, _, html) = get(&app, "/search?q=%E6%95%85%E9%9A%9C").await;
    assert!(html.contains("Search failed: index &lt;broken&gt;"), "{html}");
    let (_, _, html) = get(&app, "/search?q=").await;
    assert!(html.contains("Type words"), "an empty query asks for words");
    let (status, ctype, body) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    assert_eq!(body, "yuqing_posts_stored_total 2\n");

    // A store that is gone: readiness fails, liveness does not.
    store.close().await;
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&app, "/").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
}
