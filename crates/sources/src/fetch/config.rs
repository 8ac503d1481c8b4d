//! Fetch settings: defaults for every source (`[fetch]` in a sources file) and what one source may
//! change (`[source.fetch]`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The robots.txt product token we identify as; our user agent starts with it.
pub const ROBOTS_TOKEN: &str = "yuqing";

/// `[fetch]`: defaults shared by all sources of a configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchDefaults {
    /// Who runs this crawler (a URL or e-mail address); part of the user agent so site operators
    /// can reach the county.
    #[serde(default = "default_contact")]
    pub contact: String,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: f64,
    /// The whole request, body included.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    #[serde(default = "default_max_redirects")]
    pub max_redirects: usize,
    /// Further attempts after a transient failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "default_backoff_cap_ms")]
    pub backoff_cap_ms: u64,
    /// A `Retry-After` longer than this is not waited for in the poll: the poll fails as transient
    /// and the scheduler comes back later.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_secs: u64,
    /// Requests per second to one host (all sources together).
    #[serde(default = "default_rate")]
    pub per_host_requests_per_sec: f64,
    /// Requests in flight to one host at once.
    #[serde(default = "default_concurrency")]
    pub per_host_concurrency: u32,
    /// Per-host exceptions, e.g. `[fetch.hosts."www.xinyuan.gov.cn"] requests_per_sec = 0.5`.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostLimits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostLimits {
    pub requests_per_sec: Option<f64>,
    pub concurrency: Option<u32>,
}

fn default_contact() -> String {
    "https://example.invalid/yuqing-crawler".to_owned()
}
fn default_connect_timeout() -> f64 {
    10.0
}
fn default_timeout() -> f64 {
    30.0
}
fn default_max_body() -> u64 {
    10 * 1024 * 1024
}
fn default_max_redirects() -> usize {
    5
}
fn default_retries() -> u32 {
    2
}
fn default_backoff_base_ms() -> u64 {
    500
}
fn default_backoff_cap_ms() -> u64 {
    30_000
}
fn default_max_retry_after() -> u64 {
    120
}
fn default_rate() -> f64 {
    1.0
}
fn default_concurrency() -> u32 {
    2
}

impl Default for FetchDefaults {
    fn default() -> Self {
        FetchDefaults {
            contact: default_contact(),
            connect_timeout_secs: default_connect_timeout(),
            timeout_secs: default_timeout(),
            max_body_bytes: default_max_body(),
            max_redirects: default_max_redirects(),
            retries: default_retries(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_cap_ms: default_backoff_cap_ms(),
            max_retry_after_secs: default_max_retry_after(),
            per_host_requests_per_sec: default_rate(),
            per_host_concurrency: default_concurrency(),
            hosts: BTreeMap::new(),
        }
    }
}

impl FetchDefaults {
    pub fn user_agent(&self) -> String {
        format!(
            "{ROBOTS_TOKEN}/{} (public-opinion monitor of a county government; +{})",
            env!("CARGO_PKG_VERSION"),
            self.contact
        )
    }

    pub fn validate(&self) -> Result<(), String> {
        let positive = |v: f64, name: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("fetch.{name} must be a positive number"))
            }
        };
        positive(self.connect_timeout_secs, "connect_timeout_secs")?;
        positive(self.timeout_secs, "timeout_secs")?;
        positive(self.per_host_requests_per_sec, "per_host_requests_per_sec")?;
        if self.per_host_concurrency == 0 {
            return Err("fetch.per_host_concurrency must be at least 1".into());
        }
        for (host, l) in &self.hosts {
            if let Some(r) = l.requests_per_sec {
                positive(r, &format!("hosts.{host}.requests_per_sec"))?;
            }
            if l.concurrency == Some(0) {
                return Err(format!("fetch.hosts.{host}.concurrency must be at least 1"));
            }
        }
        Ok(())
    }
}

/// `[source.fetch]`: what one source changes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub cookies: BTreeMap<String, String>,
    /// `http://host:port` (HTTP or HTTPS proxy); none by default. Through a proxy the SSRF guard
    /// resolves each target (and redirect hop) itself before the request.
    pub proxy: Option<String>,
    /// Lets this source reach private, loopback and link-local addresses (an intranet system of
    /// the county, a test fixture). Off by default: the SSRF guard refuses them.
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Narrower than `allow_private_addresses`: only these host names (or IP literals) may be
    /// private; redirects elsewhere are still checked.
    #[serde(default)]
    pub allow_private_hosts: Vec<String>,
    /// Setting this ignores robots.txt for the source; the reason is logged on every poll.
    pub ignore_robots_reason: Option<String>,
    /// Forces the character encoding of everything this source fetches.
    pub encoding: Option<String>,
    pub timeout_secs: Option<f64>,
    pub max_body_bytes: Option<u64>,
    pub max_redirects: Option<usize>,
    pub retries: Option<u32>,
}
