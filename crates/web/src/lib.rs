//! The HTTP interface: today the push API for partner crawlers and hotline exports
//! (`POST /api/v1/posts`, JSON lines, bearer token with the `ingest` scope) and `GET /healthz`.
//! Pushed posts go through the same analysis and de-duplication as crawled ones.
//!
//! Generic over the store: this crate names no adapter (no sqlx, reqwest or tantivy).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use sha2::{Digest, Sha256};
use yuqing_analysis::Analyzer;
use yuqing_core::record::PostRecord;
use yuqing_core::store::Store;

/// Largest push body accepted (JSON lines).
pub const MAX_PUSH_BYTES: usize = 16 * 1024 * 1024;
/// Most lines in one push.
pub const MAX_PUSH_LINES: usize = 10_000;

pub struct AppState<S> {
    pub store: Arc<S>,
    pub analyzer: Arc<Analyzer>,
    pub analysis_version: String,
}

impl<S> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("analysis_version", &self.analysis_version).finish_non_exhaustive()
    }
}

/// SHA-256 (hex) of a token: what the store keeps.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn router<S: Store + 'static>(state: Arc<AppState<S>>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/posts", post(push::<S>))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BYTES))
        .with_state(state)
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn problem(status: StatusCode, msg: &str) -> Response {
    json(status, serde_json::json!({ "error": msg }))
}

async fn push<S: Store + 'static>(
    State(st): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return problem(StatusCode::UNAUTHORIZED, "a bearer token is required");
    };
    match st.store.token_scope(&token_hash(token)).await {
        Ok(Some(scope)) if scope == "ingest" => {}
        Ok(Some(_)) => return problem(StatusCode::FORBIDDEN, "this token may not ingest"),
        Ok(None) => return problem(StatusCode::UNAUTHORIZED, "unknown or revoked token"),
        Err(e) => {
            tracing::error!(error = %e, "token check failed");
            return problem(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable; try again");
        }
    }
    let now = Utc::now();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if items.len() + errors.len() >= MAX_PUSH_LINES {
            return problem(StatusCode::PAYLOAD_TOO_LARGE, "too many lines in one push (at most 10000)");
        }
        let parsed = serde_json::from_slice::<PostRecord>(line).map_err(|e| e.to_string());
        match parsed.and_then(|r| r.into_item("push", "push", line.trim_ascii_end(), now)) {
            Ok(item) => items.push(item),
            Err(e) => errors.push(serde_json::json!({ "line": i + 1, "error": e })),
        }
    }
    if items.is_empty() {
        return json(StatusCode::BAD_REQUEST, serde_json::json!({ "accepted": 0, "errors": errors }));
    }
    let accepted = items.len();
    let (an, version) = (st.analyzer.clone(), st.analysis_version.clone());
    let posts =
        match tokio::task::spawn_blocking(move || yuqing_pipeline::prepare(&an, &version, items)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "analysis failed");
                return problem(StatusCode::INTERNAL_SERVER_ERROR, "analysis failed");
            }
        };
    match st.store.ingest(&posts, Utc::now()).await {
        Ok(r) => json(
            StatusCode::OK,
            serde_json::json!({
                "accepted": accepted,
                "inserted": r.inserted,
                "duplicates": r.duplicates,
                "near_duplicates": r.near_duplicates,
                "already_stored": r.already_stored,
                "errors": errors,
            }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "push not stored");
            problem(StatusCode::SERVICE_UNAVAILABLE, "not stored; send the same lines again")
        }
    }
}
