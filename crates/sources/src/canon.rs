//! Canonical URLs: the same article reached through a share link, a feed with tracking parameters
//! or an anchor is one URL. Scheme and host are lower-cased (the `url` crate), default ports and
//! fragments dropped, tracking parameters removed; the order of the remaining parameters is kept.

use url::Url;

/// Query parameters that only track where a click came from.
const TRACKING: &[&str] = &[
    "spm",
    "fbclid",
    "gclid",
    "dclid",
    "yclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "isappinstalled",
    "share_token",
    "share_source",
    "share_medium",
    "sharer_sharetime",
    "sharer_shareid",
    "wfr",
    "clicktime",
    "enterid",
    "scene",
    "xtrack",
    "ref_src",
];

fn is_tracking(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("utm_") || TRACKING.contains(&k.as_str())
}

/// The canonical form of an absolute http(s) URL; None for anything else.
pub fn canonical(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    let mut u = url.clone();
    u.set_fragment(None);
    if let Some(q) = u.query().map(str::to_owned) {
        // Work on the raw segments: a query is left byte for byte as it was (GBK-encoded values,
        // `?/path` styles) unless a tracking parameter is removed from it.
        let key_of = |seg: &str| {
            let k = seg.split('=').next().unwrap_or("");
            url::form_urlencoded::parse(k.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default()
        };
        let segments: Vec<&str> = q.split('&').collect();
        if segments.iter().any(|s| is_tracking(&key_of(s))) {
            let kept: Vec<&str> =
                segments.into_iter().filter(|s| !s.is_empty() && !is_tracking(&key_of(s))).collect();
            let joined = kept.join("&");
            u.set_query(if joined.is_empty() { None } else { Some(&joined) });
        } else if q.is_empty() {
            u.set_query(None);
        }
    }
    Some(u)
}

/// Resolves `href` against `base` and canonicalises it.
pub fn resolve(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() || href.starts_with("javascript:") || href.starts_with("mailto:") {
        return None;
    }
    canonical(&base.join(href).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tracking_and_fragment() {
        let u = Url::parse("HTTP://WWW.Xinyuan.GOV.cn:80/a/b.html?id=3&utm_source=wx&spm=1.2#top").unwrap();
        assert_eq!(canonical(&u).unwrap().as_str(), "http://www.xinyuan.gov.cn/a/b.html?id=3");
        let u = Url::parse("https://example.org/x?utm_medium=a").unwrap();
        assert_eq!(canonical(&u).unwrap().as_str(), "https://example.org/x");
    }

    #[test]
    fn leaves_other_queries_byte_for_byte() {
        for q in [
            "http://a.example/list.asp?class=%D0%C2%CE%C5",
            "http://a.example/index.php?/news/123",
            "http://a.example/?a=1&&b=+",
        ] {
            let u = Url::parse(q).unwrap();
            assert_eq!(canonical(&u).unwrap().as_str(), q);
        }
        let u = Url::parse("http://a.example/list.asp?class=%D0%C2&utm_source=x&page=2").unwrap();
        assert_eq!(canonical(&u).unwrap().as_str(), "http://a.example/list.asp?class=%D0%C2&page=2");
    }

    #[test]
    fn resolves_relative_links_and_refuses_others() {
        let base = Url::parse("http://example.org/list/index.html").unwrap();
        assert_eq!(resolve(&base, "../news/1.html#c").unwrap().as_str(), "http://example.org/news/1.html");
        assert!(resolve(&base, "javascript:void(0)").is_none());
        assert!(resolve(&base, "ftp://example.org/a").is_none());
    }
}
