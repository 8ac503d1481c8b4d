//! The shared fetcher: one HTTP client per source (its headers, cookies, proxy and address policy),
//! politeness shared by all sources (per-host rate limit and concurrency, the robots.txt cache),
//! conditional GET, timeouts, retries with exponential backoff and full jitter on transient errors
//! only (timeouts, connection errors, 5xx, 429 honouring `Retry-After`), a body size limit counted
//! on the decompressed bytes, a redirect limit with loop detection, and the SSRF guard.

pub mod config;
pub mod guard;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, redirect};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use url::Url;
use yuqing_core::{SourceError, Validators};

pub use config::{FetchConfig, FetchDefaults, HostLimits, ROBOTS_TOKEN};
use guard::{Forbidden, GuardedResolver, PinnedResolver};

/// How long a robots.txt answer is trusted.
const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long an unreachable robots.txt blocks the host before it is asked again.
const ROBOTS_RETRY: Duration = Duration::from_secs(600);
const ROBOTS_MAX_BYTES: u64 = 512 * 1024;

/// Why a fetch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("invalid url {0:?}")]
    InvalidUrl(String),
    #[error("{url}: {source}")]
    Forbidden { url: String, source: Forbidden },
    #[error("{url}: disallowed by robots.txt")]
    RobotsDisallowed { url: String },
    #[error("{url}: robots.txt could not be read ({reason}); the host is not crawled until it can")]
    RobotsUnavailable { url: String, reason: String },
    #[error("{url}: timed out")]
    Timeout { url: String },
    #[error("{url}: connection failed: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: http status {status}")]
    Status { url: String, status: u16, retry_after_secs: Option<u64> },
    #[error("{url}: body larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url}: redirect loop")]
    RedirectLoop { url: String },
    #[error("{url}: {reason}")]
    Other { url: String, reason: String },
    #[error("fetch configuration: {0}")]
    Config(String),
}

impl FetchError {
    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout { .. }
            | FetchError::Connect { .. }
            | FetchError::RobotsUnavailable { .. } => true,
            // 418: what m.weibo.cn answers a client it throttles.
            FetchError::Status { status, .. } => matches!(*status, 408 | 418 | 429) || *status >= 500,
            FetchError::Other { .. } => true,
            _ => false,
        }
    }

    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            FetchError::Status { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        }
    }
}

impl From<FetchError> for SourceError {
    fn from(e: FetchError) -> Self {
        if e.is_transient() {
            SourceError::Transient { retry_after_secs: e.retry_after_secs(), reason: e.to_string() }
        } else {
            SourceError::Permanent { reason: e.to_string() }
        }
    }
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL after redirects.
    pub url: Url,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub sha256: String,
    pub fetched_at: DateTime<Utc>,
    pub validators: Validators,
}

impl Fetched {
    pub fn charset(&self) -> Option<String> {
        self.content_type.as_deref().and_then(crate::encoding::charset_from_content_type)
    }
}

#[derive(Debug, Clone)]
pub enum FetchOutcome {
    Fetched(Box<Fetched>),
    /// `304 Not Modified` to a conditional request.
    NotModified,
}

struct HostGate {
    limiter: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
}

type RobotsSlot = tokio::sync::Mutex<Option<(Instant, RobotsRule)>>;

#[derive(Clone)]
enum RobotsRule {
    AllowAll,
    Rules(Arc<texting_robots::Robot>),
    Unavailable(String),
}

/// State shared by every source's fetcher: per-host gates and the robots.txt cache.
pub struct Politeness {
    defaults: FetchDefaults,
    gates: Mutex<HashMap<String, Arc<HostGate>>>,
    /// Per origin; the inner lock is held while robots.txt is fetched, so each origin's file is
    /// requested once at a time and other origins are not held up.
    robots: Mutex<HashMap<String, Arc<RobotsSlot>>>,
    /// Names resolved without DNS (operators pinning hosts; tests). The SSRF check still applies.
    static_hosts: Arc<HashMap<String, Vec<IpAddr>>>,
    /// HTTP clients by everything that shapes one (headers, cookies, timeouts, proxy, redirect
    /// and address rules): sources configured alike share a client, its TLS roots (loaded once,
    /// not once per source) and its keep-alive connections.
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

impl std::fmt::Debug for Politeness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Politeness").field("defaults", &self.defaults).finish_non_exhaustive()
    }
}

impl Politeness {
    pub fn new(defaults: FetchDefaults) -> Result<Arc<Self>, FetchError> {
        Self::with_static_hosts(defaults, HashMap::new())
    }

    pub fn with_static_hosts(
        defaults: FetchDefaults,
        static_hosts: HashMap<String, Vec<IpAddr>>,
    ) -> Result<Arc<Self>, FetchError> {
        defaults.validate().map_err(FetchError::Config)?;
        Ok(Arc::new(Politeness {
            defaults,
            gates: Mutex::new(HashMap::new()),
            robots: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            static_hosts: Arc::new(
                static_hosts.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
            ),
        }))
    }

    pub fn defaults(&self) -> &FetchDefaults {
        &self.defaults
    }

    fn gate(&self, host: &str) -> Arc<HostGate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(host.to_owned())
            .or_insert_with(|| {
                let limits = self.defaults.hosts.get(host);
                let rate = limits
                    .and_then(|l| l.requests_per_sec)
                    .unwrap_or(self.defaults.per_host_requests_per_sec);
                let conc = limits.and_then(|l| l.concurrency).unwrap_or(self.defaults.per_host_concurrency);
                // One request per period, no burst: the limit holds over any window.
                let period = Duration::from_secs_f64(1.0 / rate.max(1e-6)).max(Duration::from_nanos(1));
                let quota = Quota::with_period(period)
                    .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::MIN);
                Arc::new(HostGate {
                    limiter: RateLimiter::direct(quota),
                    slots: Arc::new(Semaphore::new(conc.max(1) as usize)),
                })
            })
            .clone()
    }
}

/// One source's HTTP client.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    politeness: Arc<Politeness>,
    source_id: String,
    allow_private: bool,
    proxied: bool,
    exempt: Arc<std::collections::HashSet<String>>,
    ignore_robots_reason: Option<String>,
    max_body: u64,
    retries: u32,
    /// Forced character encoding for everything this source fetches.
    pub encoding: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("more than {0} redirects")]
struct TooManyRedirects(usize);

#[derive(Debug, thiserror::Error)]
#[error("redirect loop")]
struct RedirectLoop;

impl Fetcher {
    pub fn new(source_id: &str, cfg: &FetchConfig, politeness: Arc<Politeness>) -> Result<Self, FetchError> {
        let d = &politeness.defaults;
        let max_redirects = cfg.max_redirects.unwrap_or(d.max_redirects);
        let allow_private = cfg.allow_private_addresses;
        let exempt: Arc<std::collections::HashSet<String>> =
            Arc::new(cfg.allow_private_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect());
        if let Some(reason) = &cfg.ignore_robots_reason
            && reason.trim().is_empty()
        {
            return Err(FetchError::Config(format!("source {source_id}: ignore_robots_reason must say why")));
        }
        let client = Self::client(source_id, cfg, &politeness, max_redirects, exempt.clone())?;
        Ok(Fetcher {
            client,
            source_id: source_id.to_owned(),
            allow_private,
            proxied: cfg.proxy.is_some(),
            exempt,
            ignore_robots_reason: cfg.ignore_robots_reason.clone(),
            max_body: cfg.max_body_bytes.unwrap_or(d.max_body_bytes),
            retries: cfg.retries.unwrap_or(d.retries),
            encoding: cfg.encoding.clone(),
            politeness,
        })
    }

    /// The client for a source's settings: one already built for the same settings, or a new one.
    fn client(
        source_id: &str,
        cfg: &FetchConfig,
        politeness: &Politeness,
        max_redirects: usize,
        exempt: Arc<std::collections::HashSet<String>>,
    ) -> Result<reqwest::Client, FetchError> {
        let d = &politeness.defaults;
        let allow_private = cfg.allow_private_addresses;
        let mut exempt_sorted: Vec<&String> = exempt.iter().collect();
        exempt_sorted.sort();
        let key = format!(
            "{:?}|{:?}|{:?}|{:?}|{allow_private}|{exempt_sorted:?}|{max_redirects}",
            cfg.headers, cfg.cookies, cfg.proxy, cfg.timeout_secs
        );
        let mut clients = politeness.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let exempt_literals = exempt.clone();
        let proxied = cfg.proxy.is_some();
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(TooManyRedirects(max_redirects));
            }
            if attempt.previous().iter().any(|u| u == attempt.url()) {
                return attempt.error(RedirectLoop);
            }
            let exempted =
                attempt.url().host_str().is_some_and(|h| exempt_literals.contains(&h.to_ascii_lowercase()));
            if !allow_private
                && !exempted
                && let Err(f) = guard::check_literal(attempt.url())
            {
                return attempt.error(f);
            }
            if proxied
                && !allow_private
                && !exempted
                && let Err(f) = guard::check_name_blocking(attempt.url())
            {
                // Through a proxy, a redirect's host is resolved here (the hop is rare; the lookup
                // blocks this worker briefly).
                return attempt.error(f);
            }
            attempt.follow()
        });
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| FetchError::Config(format!("source {source_id}: bad header name {k:?}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| FetchError::Config(format!("source {source_id}: bad value for header {k:?}")))?;
            headers.insert(name, value);
        }
        if !cfg.cookies.is_empty() {
            let cookie = cfg.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            let value = HeaderValue::from_str(&cookie)
                .map_err(|_| FetchError::Config(format!("source {source_id}: bad cookie value")))?;
            headers.insert(header::COOKIE, value);
        }
        let timeout = cfg.timeout_secs.unwrap_or(d.timeout_secs);
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(FetchError::Config(format!("source {source_id}: timeout_secs must be positive")));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(d.user_agent())
            .default_headers(headers)
            .connect_timeout(Duration::from_secs_f64(d.connect_timeout_secs))
            .timeout(Duration::from_secs_f64(timeout))
            .redirect(policy);
        builder = if allow_private {
            builder.dns_resolver(Arc::new(PinnedResolver { static_hosts: politeness.static_hosts.clone() }))
        } else {
            builder.dns_resolver(Arc::new(GuardedResolver {
                static_hosts: politeness.static_hosts.clone(),
                exempt: exempt.clone(),
            }))
        };
        match &cfg.proxy {
            Some(p) => {
                let proxy = reqwest::Proxy::all(p)
                    .map_err(|e| FetchError::Config(format!("source {source_id}: bad proxy {p:?}: {e}")))?;
                builder = builder.proxy(proxy);
            }
            None => builder = builder.no_proxy(),
        }
        let client = builder.build().map_err(|e| FetchError::Config(format!("source {source_id}: {e}")))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// GET `url`. With `validators`, the request is conditional and may answer `NotModified`.
    pub async fn get(&self, url: &Url, validators: Option<&Validators>) -> Result<FetchOutcome, FetchError> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(FetchError::InvalidUrl(url.to_string()));
        }
        let exempted = url.host_str().is_some_and(|h| self.exempt.contains(&h.to_ascii_lowercase()));
        if !self.allow_private && !exempted {
            guard::check_literal(url)
                .map_err(|source| FetchError::Forbidden { url: url.to_string(), source })?;
        }
        if self.proxied && !self.allow_private && !exempted {
            // Through a proxy the target is resolved by the proxy, not by our resolver: check it
            // here, before anything (robots.txt included) is requested from the host.
            guard::check_name(url)
                .await
                .map_err(|source| FetchError::Forbidden { url: url.to_string(), source })?;
        }
        match &self.ignore_robots_reason {
            Some(reason) => {
                tracing::info!(source_id = %self.source_id, %url, reason = %reason, "robots.txt ignored for this source")
            }
            None => self.check_robots(url).await?,
        }
        self.get_with_retries(url, validators, self.max_body, false).await
    }

    async fn get_with_retries(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        max_body: u64,
        truncate: bool,
    ) -> Result<FetchOutcome, FetchError> {
        let d = &self.politeness.defaults;
        let mut attempt = 0u32;
        loop {
            let result = self.get_once(url, validators, max_body, truncate).await;
            let err = match result {
                Ok(out) => return Ok(out),
                Err(e) => e,
            };
            if !err.is_transient() || attempt >= self.retries {
                return Err(err);
            }
            let wait = match err.retry_after_secs() {
                Some(s) if s > d.max_retry_after_secs => return Err(err),
                Some(s) => Duration::from_secs(s),
                None => {
                    let ceiling =
                        d.backoff_base_ms.saturating_mul(1u64 << attempt.min(20)).min(d.backoff_cap_ms);
                    Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling.max(1)))
                }
            };
            tracing::debug!(source_id = %self.source_id, %url, error = %err, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn get_once(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        max_body: u64,
        truncate: bool,
    ) -> Result<FetchOutcome, FetchError> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let gate = self.politeness.gate(&host);
        let _slot =
            gate.slots.clone().acquire_owned().await.map_err(|_| FetchError::Other {
                url: url.to_string(),
                reason: "fetcher shut down".into(),
            })?;
        gate.limiter.until_ready().await;

        let mut req = self.client.get(url.clone());
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
        }
        let fetched_at = Utc::now();
        let resp = req.send().await.map_err(|e| classify(url, &e))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, Utc::now()));
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                retry_after_secs: retry_after,
            });
        }
        let final_url = resp.url().clone();
        let header_str =
            |h: header::HeaderName| resp.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = header_str(header::CONTENT_TYPE);
        let validators =
            Validators { etag: header_str(header::ETAG), last_modified: header_str(header::LAST_MODIFIED) };
        let body = read_limited(resp, url, max_body, truncate).await?;
        let sha256 = hex(&Sha256::digest(&body));
        Ok(FetchOutcome::Fetched(Box::new(Fetched {
            url: final_url,
            status: status.as_u16(),
            content_type,
            body,
            sha256,
            fetched_at,
            validators,
        })))
    }

    async fn check_robots(&self, url: &Url) -> Result<(), FetchError> {
        let origin = url.origin().ascii_serialization();
        let slot = {
            let mut all = self.politeness.robots.lock().unwrap_or_else(|p| p.into_inner());
            all.entry(origin.clone()).or_default().clone()
        };
        let rule = {
            let mut entry = slot.lock().await;
            let fresh = entry.as_ref().filter(|(at, rule)| {
                let ttl = if matches!(rule, RobotsRule::Unavailable(_)) { ROBOTS_RETRY } else { ROBOTS_TTL };
                at.elapsed() < ttl
            });
            match fresh {
                Some((_, rule)) => rule.clone(),
                None => {
                    let rule = self.fetch_robots(&origin).await?;
                    *entry = Some((Instant::now(), rule.clone()));
                    rule
                }
            }
        };
        match rule {
            RobotsRule::AllowAll => Ok(()),
            RobotsRule::Rules(robot) if robot.allowed(url.as_str()) => Ok(()),
            RobotsRule::Rules(_) => Err(FetchError::RobotsDisallowed { url: url.to_string() }),
            RobotsRule::Unavailable(reason) => {
                Err(FetchError::RobotsUnavailable { url: url.to_string(), reason })
            }
        }
    }

    /// The rule for an origin; a refused address is the page's error too (and is not cached).
    async fn fetch_robots(&self, origin: &str) -> Result<RobotsRule, FetchError> {
        let Ok(robots_url) = Url::parse(&format!("{origin}/robots.txt")) else {
            return Ok(RobotsRule::AllowAll);
        };
        Ok(match self.get_with_retries(&robots_url, None, ROBOTS_MAX_BYTES, true).await {
            Ok(FetchOutcome::Fetched(f)) => match texting_robots::Robot::new(ROBOTS_TOKEN, &f.body) {
                Ok(robot) => RobotsRule::Rules(Arc::new(robot)),
                // A file we cannot read may disallow what we would fetch: stay away for now.
                Err(e) => RobotsRule::Unavailable(format!("robots.txt could not be parsed: {e}")),
            },
            Ok(FetchOutcome::NotModified) => RobotsRule::AllowAll,
            // RFC 9309: a 4xx robots.txt means no restrictions; 5xx or unreachable means none may be
            // assumed, so the host is not crawled for now.
            Err(FetchError::Status { status, .. }) if (400..500).contains(&status) => RobotsRule::AllowAll,
            Err(e @ FetchError::Forbidden { .. }) => return Err(e),
            Err(e) => RobotsRule::Unavailable(e.to_string()),
        })
    }
}

/// Reads the body up to `limit` bytes (decompressed); beyond it, an error — or, with `truncate`
/// (robots.txt, of which the first 500 KiB must be read), the first `limit` bytes.
async fn read_limited(
    mut resp: reqwest::Response,
    url: &Url,
    limit: u64,
    truncate: bool,
) -> Result<Bytes, FetchError> {
    if !truncate && resp.content_length().is_some_and(|n| n > limit) {
        return Err(FetchError::TooLarge { url: url.to_string(), limit });
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(url, &e))? {
        if buf.len() as u64 + chunk.len() as u64 > limit {
            if truncate {
                let room = (limit as usize).saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
                break;
            }
            return Err(FetchError::TooLarge { url: url.to_string(), limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

fn classify(url: &Url, e: &reqwest::Error) -> FetchError {
    let url_s = e.url().map(|u| u.to_string()).unwrap_or_else(|| url.to_string());
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(f) = s.downcast_ref::<Forbidden>() {
            return FetchError::Forbidden { url: url_s, source: f.clone() };
        }
        if let Some(t) = s.downcast_ref::<TooManyRedirects>() {
            return FetchError::TooManyRedirects { url: url_s, limit: t.0 };
        }
        if s.downcast_ref::<RedirectLoop>().is_some() {
            return FetchError::RedirectLoop { url: url_s };
        }
        src = s.source();
    }
    if e.is_timeout() {
        FetchError::Timeout { url: url_s }
    } else if e.is_connect() {
        FetchError::Connect { url: url_s, reason: error_chain(e) }
    } else {
        FetchError::Other { url: url_s, reason: error_chain(e) }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?;
    Some((at.with_timezone(&Utc) - now).num_seconds().max(0) as u64)
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
