//! The push API end to end on SQLite: tokens, bad lines, idempotent pushes, limits.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use tower::ServiceExt;
use yuqing_core::store::Store;
use yuqing_store::SqlStore;
use yuqing_testkit::shipped_analyzer;
use yuqing_web::{AppState, router, token_hash};

async fn call(app: &axum::Router, token: Option<&str>, body: &str) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post("/api/v1/posts");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp =
        app.clone().oneshot(req.body(Body::from(body.to_owned())).expect("request")).await.expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn push_with_tokens_and_per_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqlStore::connect(&format!("sqlite://{}/y.db", dir.path().display())).await.unwrap());
    store.migrate().await.unwrap();
    let id = store.add_token("12345热线", "ingest", &token_hash("secret-ingest"), Utc::now()).await.unwrap();
    store.add_token("报表", "read", &token_hash("secret-read"), Utc::now()).await.unwrap();
    let state = AppState::new(store.clone(), Arc::new(shipped_analyzer()), "t");
    let app = router(Arc::new(state));

    let lines = "{\"id\":\"h1\",\"title\":\"小区停水\",\"body\":\"那拉提镇某小区停水三天\"}\nnot json\n{\"id\":\"h2\",\"title\":\"\",\"body\":\"\"}\n{\"id\":\"h3\",\"title\":\"路灯不亮\",\"source\":\"hotline\"}\n";
    assert_eq!(call(&app, None, lines).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, Some("guess"), lines).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, Some("secret-read"), lines).await.0, StatusCode::FORBIDDEN);

    let (status, v) = call(&app, Some("secret-ingest"), lines).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!((v["accepted"].as_u64(), v["inserted"].as_u64()), (Some(2), Some(2)), "{v}");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!((errors[0]["line"].as_u64(), errors[1]["line"].as_u64()), (Some(2), Some(3)));
    // The same push again changes nothing.
    let (_, v) = call(&app, Some("secret-ingest"), lines).await;
    assert_eq!((v["inserted"].as_u64(), v["already_stored"].as_u64()), (Some(0), Some(2)), "{v}");
    assert_eq!(store.count_posts().await.unwrap(), 2);
    // Nothing usable: 400 with the reasons.
    assert_eq!(call(&app, Some("secret-ingest"), "oops\n").await.0, StatusCode::BAD_REQUEST);
    // Revoked tokens stop working.
    assert!(store.revoke_token(id, Utc::now()).await.unwrap());
    assert_eq!(call(&app, Some("secret-ingest"), lines).await.0, StatusCode::UNAUTHORIZED);
    // Oversized bodies are refused.
    let big = "x".repeat(yuqing_web::MAX_PUSH_BYTES + 1);
    assert_eq!(call(&app, Some("secret-read"), &big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}
