//! The SSRF guard: addresses a crawler of public pages has no business connecting to. Host names
//! are checked at connect time by [`GuardedResolver`] (so every resolved address of every request,
//! redirects included, is checked); IP literals in URLs are checked before each request and on
//! every redirect hop.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused (None: it is a public address).
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_reason(v4).map(|_| "IPv4-mapped private or reserved address");
            }
            v6_reason(v6)
        }
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified address (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_private() {
        Some("private address (RFC 1918)")
    } else if ip.is_link_local() {
        Some("link-local address (169.254/16)")
    } else if o[0] == 100 && (o[1] & 0xC0) == 64 {
        Some("shared address space (100.64/10)")
    } else if ip.is_broadcast() || ip.is_multicast() || o[0] >= 240 {
        Some("broadcast, multicast or reserved address")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("IETF protocol assignment (192.0.0/24)")
    } else if ip.is_documentation() || (o[0] == 198 && (o[1] & 0xFE) == 18) {
        Some("documentation or benchmarking address")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        Some("unspecified address (::)")
    } else if ip.is_loopback() {
        Some("loopback address")
    } else if (s[0] & 0xFE00) == 0xFC00 {
        Some("unique local address (fc00::/7)")
    } else if (s[0] & 0xFFC0) == 0xFE80 {
        Some("link-local address (fe80::/10)")
    } else if (s[0] & 0xFFC0) == 0xFEC0 {
        Some("site-local address (fec0::/10)")
    } else if s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0xFFFF && s[5] == 0 {
        // ::ffff:0:a.b.c.d (SIIT) hides an IPv4 address.
        v4_reason(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
            .map(|_| "SIIT-translated private or reserved address")
    } else if ip.is_multicast() {
        Some("multicast address")
    } else if s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0 {
        // ::a.b.c.d (deprecated IPv4-compatible) hides an IPv4 address.
        v4_reason(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
            .map(|_| "IPv4-compatible private or reserved address")
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        // NAT64 (64:ff9b::/96) can reach any IPv4 address, including private ones.
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        v4_reason(v4).map(|_| "NAT64 address of a private IPv4 address")
    } else {
        None
    }
}

/// The error a refused connection carries (found again in reqwest's error chain).
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused to connect to {host} ({addr}): {reason}")]
pub struct Forbidden {
    pub host: String,
    pub addr: IpAddr,
    pub reason: &'static str,
}

/// Resolves with the system resolver, then refuses the name if any of its addresses is forbidden.
/// `static_hosts` maps names to addresses without DNS (operators pinning a host; tests), and the
/// same check applies to them.
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver {
    pub static_hosts: Arc<HashMap<String, Vec<IpAddr>>>,
    /// Host names a source explicitly allows to be private (`allow_private_hosts`).
    pub exempt: Arc<HashSet<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let pinned = self.static_hosts.get(&host.to_ascii_lowercase()).cloned();
        let exempt = self.exempt.contains(&host.to_ascii_lowercase());
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match pinned {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            for a in addrs.iter().filter(|_| !exempt) {
                if let Some(reason) = forbidden_reason(a.ip()) {
                    return Err(Box::new(Forbidden { host: host.clone(), addr: a.ip(), reason }) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Resolves pinned names only, without any check (sources that allow private addresses).
#[derive(Debug, Clone, Default)]
pub struct PinnedResolver {
    pub static_hosts: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let pinned = self.static_hosts.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match pinned {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn first_forbidden(host: &str, addrs: impl Iterator<Item = SocketAddr>) -> Result<(), Forbidden> {
    for a in addrs {
        if let Some(reason) = forbidden_reason(a.ip()) {
            return Err(Forbidden { host: host.to_owned(), addr: a.ip(), reason });
        }
    }
    Ok(())
}

/// Resolves a URL's host name and checks every address (used when a proxy resolves the target,
/// so our resolver never sees it). Literals are checked by [`check_literal`]; a name that does not
/// resolve here is left to the proxy.
pub async fn check_name(url: &url::Url) -> Result<(), Forbidden> {
    match url.host() {
        Some(url::Host::Domain(d)) => match tokio::net::lookup_host((d, 0)).await {
            Ok(addrs) => first_forbidden(d, addrs),
            Err(_) => Ok(()),
        },
        _ => check_literal(url),
    }
}

/// [`check_name`] with the system resolver, blocking (for redirect hops through a proxy).
pub fn check_name_blocking(url: &url::Url) -> Result<(), Forbidden> {
    use std::net::ToSocketAddrs;
    match url.host() {
        Some(url::Host::Domain(d)) => match (d, 0).to_socket_addrs() {
            Ok(addrs) => first_forbidden(d, addrs),
            Err(_) => Ok(()),
        },
        _ => check_literal(url),
    }
}

/// Checks a URL whose host is an IP literal (a resolver never sees those).
pub fn check_literal(url: &url::Url) -> Result<(), Forbidden> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    match forbidden_reason(ip) {
        Some(reason) => {
            Err(Forbidden { host: url.host_str().unwrap_or_default().to_owned(), addr: ip, reason })
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        let bad = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "fec0::1",
            "::ffff:0:7f00:1",
        ];
        for a in bad {
            assert!(forbidden_reason(a.parse().unwrap()).is_some(), "{a} must be refused");
        }
        let good = ["8.8.8.8", "100.128.0.1", "110.43.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"];
        for a in good {
            assert!(forbidden_reason(a.parse().unwrap()).is_none(), "{a} is public");
        }
    }

    #[test]
    fn literal_urls_in_every_spelling() {
        for u in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:7f00:1]/",
            "http://[::1]:8080/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let url = url::Url::parse(u).unwrap();
            assert!(check_literal(&url).is_err(), "{u} must be refused");
        }
        assert!(check_literal(&url::Url::parse("http://www.xinyuan.gov.cn/").unwrap()).is_ok());
    }
}
