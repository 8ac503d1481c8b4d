//! Test support: a fixture HTTP server on `127.0.0.1:0` that serves recorded pages and scripted
//! misbehaviour (status sequences, delays, `Retry-After`, ETags, redirects, oversized bodies) and
//! logs every request with its arrival time, so tests can check what a crawler really did.
//!
//! The [`smtp`] module is the same for mail: an SMTP collector on `127.0.0.1:0` that accepts and
//! records messages, optionally answering a scripted failure for the first ones.
//!
//! Tests only: no test may touch the internet.

pub mod smtp;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

/// One scripted response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Reply { status, headers: Vec::new(), body: body.into(), delay: Duration::ZERO }
    }
    /// 200 with a content type.
    pub fn ok(content_type: &str, body: impl Into<Bytes>) -> Self {
        Self::new(200, body).header("content-type", content_type)
    }
    pub fn html(body: impl Into<Bytes>) -> Self {
        Self::ok("text/html; charset=utf-8", body)
    }
    pub fn status(status: u16) -> Self {
        Self::new(status, Bytes::new())
    }
    pub fn redirect(to: &str) -> Self {
        Self::new(302, Bytes::new()).header("location", to)
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A generated route: given the path (and query), the reply, or None for 404.
pub type Generator = Arc<dyn Fn(&str) -> Option<Reply> + Send + Sync>;

enum Route {
    Fixed(Reply),
    /// Served in order; the last one repeats.
    Sequence(VecDeque<Reply>),
    /// 304 when `If-None-Match` carries the ETag, else the reply with the ETag.
    Etag(String, Reply),
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// `GET`, `POST`, ….
    pub method: String,
    /// Path and query.
    pub path: String,
    pub at: Instant,
    /// Header names lowercase; of a repeated header, one value.
    pub headers: HashMap<String, String>,
    /// The request body (at most [`MAX_LOGGED_BODY`] bytes are read; a longer body is logged empty).
    pub body: Bytes,
}

/// The largest request body the server reads and logs.
pub const MAX_LOGGED_BODY: usize = 16 * 1024 * 1024;

impl Logged {
    /// The body as UTF-8 (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Route>,
    prefixes: Vec<(String, Generator)>,
    log: Vec<Logged>,
}

/// The server; it stops when dropped.
#[derive(Clone)]
pub struct FixtureServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for FixtureServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl FixtureServer {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FixtureServer { addr, inner, _stop: Arc::new(tx) }
    }

    /// `http://127.0.0.1:PORT` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The same URL under another host name (which a test resolves to this server).
    pub fn url_as(&self, host: &str, path: &str) -> String {
        format!("http://{}:{}{}", host, self.addr.port(), path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn route(&self, path: &str, reply: Reply) -> &Self {
        self.lock().routes.insert(path.to_owned(), Route::Fixed(reply));
        self
    }

    pub fn sequence(&self, path: &str, replies: Vec<Reply>) -> &Self {
        self.lock().routes.insert(path.to_owned(), Route::Sequence(replies.into()));
        self
    }

    pub fn etag(&self, path: &str, etag: &str, reply: Reply) -> &Self {
        self.lock().routes.insert(path.to_owned(), Route::Etag(etag.to_owned(), reply));
        self
    }

    /// Every path starting with `prefix` (and not routed exactly) is answered by `generator`.
    pub fn prefix(&self, prefix: &str, generator: Generator) -> &Self {
        self.lock().prefixes.push((prefix.to_owned(), generator));
        self
    }

    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// How many requests a path (with query) received.
    pub fn hits(&self, path: &str) -> usize {
        self.lock().log.iter().filter(|l| l.path == path).count()
    }
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, req: Request) -> Response {
    let path = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let method = req.method().as_str().to_owned();
    let at = Instant::now();
    let body = axum::body::to_bytes(req.into_body(), MAX_LOGGED_BODY).await.unwrap_or_default();
    let reply = {
        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
        g.log.push(Logged { method, path: path.clone(), at, headers: headers.clone(), body });
        let bare = path.split('?').next().unwrap_or("/").to_owned();
        let key = if g.routes.contains_key(&path) {
            Some(path.clone())
        } else {
            g.routes.contains_key(&bare).then_some(bare)
        };
        match key.and_then(|k| g.routes.get_mut(&k)) {
            Some(Route::Fixed(r)) => Some(r.clone()),
            Some(Route::Sequence(q)) => {
                if q.len() > 1 {
                    q.pop_front()
                } else {
                    q.front().cloned()
                }
            }
            Some(Route::Etag(tag, r)) => {
                if headers.get("if-none-match").is_some_and(|v| v == tag) {
                    Some(Reply::status(304).header("etag", tag))
                } else {
                    Some(r.clone().header("etag", tag))
                }
            }
            None => g.prefixes.iter().find(|(p, _)| path.starts_with(p.as_str())).and_then(|(_, f)| f(&path)),
        }
    };
    let reply = reply.unwrap_or_else(|| Reply::new(404, "not found"));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

/// Every file with extension `ext` under `dir`, as `(path relative to dir with '/', text)`,
/// sorted: the way the binary sees `config/` and `dictionaries/`.
pub fn read_tree(dir: &std::path::Path, ext: &str) -> std::io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The analyzer built from the repository's `config/` and `dictionaries/` (tests that need the
/// real county configuration).
pub fn shipped_analyzer() -> yuqing_analysis::Analyzer {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cfg_files = read_tree(&root.join("config"), "toml").expect("config");
    let cfg = yuqing_analysis::config::load(cfg_files.iter().map(|(p, t)| (p.as_str(), t.as_str())))
        .expect("valid");
    let dict_files = read_tree(&root.join("dictionaries"), "txt").expect("dictionaries");
    yuqing_analysis::Analyzer::new(
        &cfg,
        yuqing_analysis::Dictionaries::from_files(&dict_files).expect("all there"),
    )
    .expect("analyzer")
}
