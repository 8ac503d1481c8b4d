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
    if u.query().is_some() {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| !is_tracking(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
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
    fn resolves_relative_links_and_refuses_others() {
        let base = Url::parse("http://example.org/list/index.html").unwrap();
        assert_eq!(resolve(&base, "../news/1.html#c").unwrap().as_str(), "http://example.org/news/1.html");
        assert!(resolve(&base, "javascript:void(0)").is_none());
        assert!(resolve(&base, "ftp://example.org/a").is_none());
    }
}
