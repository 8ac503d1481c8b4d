//! The source kinds, one folder each (config, implementation, tests), and [`ConfiguredSource`], which
//! dispatches a poll to its kind.

pub mod feed;
pub mod html;
pub mod json_api;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use scraper::Html;
use yuqing_core::{Cursor, Engagement, Item, Poll, Source, SourceError};

use crate::config::{KindConfig, SourceConfig};
use crate::encoding::{self, DocKind};
use crate::extract;
use crate::fetch::{FetchError, FetchOutcome, Fetched, Fetcher, Politeness};

/// A source ready to poll: its configuration and its HTTP client.
#[derive(Debug, Clone)]
pub struct ConfiguredSource {
    pub config: SourceConfig,
    pub fetcher: Fetcher,
}

impl ConfiguredSource {
    pub fn new(config: SourceConfig, politeness: Arc<Politeness>) -> Result<Self, FetchError> {
        let fetcher = Fetcher::new(&config.common.id, &config.common.fetch, politeness)?;
        Ok(ConfiguredSource { config, fetcher })
    }

    pub(crate) fn ctx(&self, now: DateTime<Utc>) -> Ctx<'_> {
        Ctx { source: self, now, tz: self.config.tz }
    }
}

impl Source for ConfiguredSource {
    fn id(&self) -> &str {
        &self.config.common.id
    }

    async fn poll(&self, cursor: Cursor, now: DateTime<Utc>) -> Result<Poll, SourceError> {
        let ctx = self.ctx(now);
        match &self.config.kind {
            KindConfig::Feed(c) => feed::poll(&ctx, c, cursor).await,
            KindConfig::Html(c) => html::poll(&ctx, c, cursor).await,
            KindConfig::JsonApi(c) => json_api::poll(&ctx, c, cursor).await,
        }
    }
}

/// What every kind's poll needs.
pub(crate) struct Ctx<'a> {
    pub source: &'a ConfiguredSource,
    pub now: DateTime<Utc>,
    pub tz: Tz,
}

impl Ctx<'_> {
    pub fn fetcher(&self) -> &Fetcher {
        &self.source.fetcher
    }

    pub fn id(&self) -> &str {
        &self.source.config.common.id
    }

    /// A fresh item carrying the source's identity and the evidence of the response it came from.
    pub fn item(&self, id: String, fetched: &Fetched, encoding: Option<String>) -> Item {
        Item {
            id,
            title: String::new(),
            body: String::new(),
            url: None,
            source: self.id().to_owned(),
            published_at: None,
            fetched_at: fetched.fetched_at,
            author: None,
            author_verified_type: None,
            engagement: Engagement::default(),
            raw_sha256: fetched.sha256.clone(),
            encoding,
            policy_document: self.source.config.common.policy_documents,
            source_type: self.source.config.kind.type_name().to_owned(),
            raw: Some(fetched.body.clone()),
        }
    }

    /// GET with the cursor's validators for this URL; the new validators are stored in the cursor.
    pub async fn get_conditional(
        &self,
        url: &url::Url,
        cursor: &mut Cursor,
    ) -> Result<Option<Box<Fetched>>, FetchError> {
        let key = url.as_str().to_owned();
        match self.fetcher().get(url, cursor.validators.get(&key)).await? {
            FetchOutcome::NotModified => Ok(None),
            FetchOutcome::Fetched(f) => {
                if f.validators.is_empty() {
                    cursor.validators.remove(&key);
                } else {
                    cursor.validators.insert(key, f.validators.clone());
                }
                Ok(Some(f))
            }
        }
    }

    /// One page of a paged list: the first is fetched conditionally and its failure fails the
    /// poll; a later page's failure is reported in `poll` and ends the paging (None either way
    /// when there is nothing to read).
    pub async fn page(
        &self,
        url: &url::Url,
        first: bool,
        cursor: &mut Cursor,
        poll: &mut Poll,
    ) -> Result<Option<Box<Fetched>>, SourceError> {
        poll.requests += 1;
        if first {
            let f = self.get_conditional(url, cursor).await?;
            poll.not_modified += u32::from(f.is_none());
            return Ok(f);
        }
        match self.get(url).await {
            Ok(f) => Ok(Some(f)),
            Err(e) => {
                poll.issues.push(yuqing_core::Issue { at: url.to_string(), reason: e.to_string() });
                Ok(None)
            }
        }
    }

    pub async fn get(&self, url: &url::Url) -> Result<Box<Fetched>, FetchError> {
        match self.fetcher().get(url, None).await? {
            FetchOutcome::Fetched(f) => Ok(f),
            FetchOutcome::NotModified => {
                Err(FetchError::Other { url: url.to_string(), reason: "unexpected 304".into() })
            }
        }
    }

    /// Decodes a fetched page as HTML (source override, header, BOM, meta, detection).
    pub fn decode_html(&self, f: &Fetched) -> encoding::Decoded {
        decode_fetched(f, DocKind::Html, self.fetcher().encoding.as_deref())
    }
}

pub(crate) fn tld(url: &url::Url) -> Option<Vec<u8>> {
    let host = url.host_str()?;
    let last = host.rsplit('.').next()?;
    (last.len() >= 2 && last.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| last.as_bytes().to_ascii_lowercase())
}

pub(crate) fn decode_fetched(f: &Fetched, kind: DocKind, override_label: Option<&str>) -> encoding::Decoded {
    let tld = tld(&f.url);
    let charset = f.charset();
    match encoding::decode(&f.body, kind, charset.as_deref(), override_label, tld.as_deref()) {
        Ok(d) => d,
        // An unknown override label: fall back to detection rather than losing the page.
        Err(_) => {
            encoding::decode(&f.body, kind, charset.as_deref(), None, tld.as_deref()).unwrap_or_else(|_| {
                encoding::Decoded {
                    text: String::from_utf8_lossy(&f.body).into_owned(),
                    encoding: "UTF-8".into(),
                    source: encoding::CharsetSource::Default,
                    declared: None,
                    had_errors: true,
                }
            })
        }
    }
}

/// The text of an HTML fragment (a feed entry's content, a post's `text`): emoticon images become
/// their `alt` text, block elements and `<br>` become line breaks.
pub fn fragment_text(fragment: &str) -> String {
    if !fragment.contains('<') && !fragment.contains('&') {
        return extract::tidy_lines(fragment);
    }
    let doc = Html::parse_fragment(fragment);
    let mut out = String::new();
    for node in doc.tree.root().descendants() {
        match node.value() {
            scraper::Node::Text(t)
                if !node.ancestors().any(|a| {
                    a.value()
                        .as_element()
                        .is_some_and(|e| matches!(e.name(), "script" | "style" | "noscript"))
                }) =>
            {
                out.push_str(t)
            }
            scraper::Node::Element(e) => match e.name() {
                "img" => {
                    if let Some(alt) = e.attr("alt") {
                        out.push_str(alt);
                    }
                }
                "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "blockquote" => out.push('\n'),
                _ => {}
            },
            _ => {}
        }
    }
    extract::tidy_lines(&out)
}

#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, TimeZone, Utc};

    use super::ConfiguredSource;
    use crate::fetch::{FetchDefaults, Politeness};

    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
    }

    /// Fast retries, lifted politeness: tests of behaviour, not of timing.
    pub fn quick() -> FetchDefaults {
        FetchDefaults {
            backoff_base_ms: 5,
            backoff_cap_ms: 20,
            per_host_requests_per_sec: 1000.0,
            per_host_concurrency: 8,
            timeout_secs: 5.0,
            ..FetchDefaults::default()
        }
    }

    /// The one source of a TOML snippet.
    pub fn source_from(toml: &str) -> ConfiguredSource {
        let cfg =
            crate::config::parse(&[("test.toml".into(), toml.into())]).unwrap_or_else(|e| panic!("{e:?}"));
        let s = cfg.sources.into_iter().next().unwrap();
        ConfiguredSource::new(s, Politeness::new(quick()).unwrap()).unwrap()
    }
}
