//! The HTTP interface: the push API for partner crawlers and hotline exports (`POST /api/v1/posts`,
//! JSON lines, bearer token with the `ingest` scope), the status page (`GET /`: sources and their
//! health, recent posts with their departments, a search box; `GET /search`), and the probes
//! `/healthz` (the process answers), `/readyz` (the store answers) and `/metrics` (Prometheus
//! text). Pushed posts go through the same analysis and de-duplication as crawled ones.
//!
//! Generic over the store; search and the metrics exporter come in as small traits/closures, so
//! this crate names no adapter (no sqlx, reqwest, tantivy or exporter).

mod pages;

pub use pages::{PostSearch, SearchHit};

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

/// Renders the process's metrics in the Prometheus text format.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

pub struct AppState<S> {
    pub store: Arc<S>,
    pub analyzer: Arc<Analyzer>,
    pub analysis_version: String,
    /// Full-text search over stored posts (the status page's search box); `None`: no index here.
    pub search: Option<Arc<dyn PostSearch>>,
    /// `/metrics`; `None` answers 404.
    pub metrics: Option<MetricsRender>,
    /// Human names of sources by id, for pages.
    pub source_names: std::collections::HashMap<String, String>,
    /// A line shown at the top of the status page (e.g. that this is the demo).
    pub banner: Option<String>,
}

impl<S> AppState<S> {
    /// State with the push API and probes only; add search, metrics and names with the fields.
    pub fn new(store: Arc<S>, analyzer: Arc<Analyzer>, analysis_version: impl Into<String>) -> Self {
        AppState {
            store,
            analyzer,
            analysis_version: analysis_version.into(),
            search: None,
            metrics: None,
            source_names: Default::default(),
            banner: None,
        }
    }
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
        .route("/", get(pages::status::<S>))
        .route("/search", get(pages::search::<S>))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz::<S>))
        .route("/metrics", get(metrics::<S>))
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

/// Ready when the store answers within two seconds.
async fn readyz<S: Store + 'static>(State(st): State<Arc<AppState<S>>>) -> Response {
    match tokio::time::timeout(std::time::Duration::from_secs(2), st.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer in time").into_response(),
    }
}

async fn metrics<S: Store + 'static>(State(st): State<Arc<AppState<S>>>) -> Response {
    match &st.metrics {
        Some(render) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
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
    metrics::counter!("yuqing_push_lines_total", "outcome" => "accepted").increment(items.len() as u64);
    metrics::counter!("yuqing_push_lines_total", "outcome" => "rejected").increment(errors.len() as u64);
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
