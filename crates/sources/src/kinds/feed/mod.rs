//! `type = "feed"`: RSS 0.9x/1.0/2.0, Atom and JSON Feed (feed-rs), including self-hosted RSSHub
//! routes. The bytes are decoded by [`crate::encoding`] first (the HTTP charset wins over the XML
//! prolog, which is then rewritten to UTF-8), dates are read with the Chinese date parser in the
//! source's time zone, and a feed that does not parse as a whole is parsed entry by entry: the good
//! entries are kept, the bad ones reported.

mod config;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use regex::Regex;
use yuqing_core::{Cursor, Issue, Item, Poll, SourceError};

pub use config::FeedConfig;

use super::{Ctx, fragment_text};
use crate::canon;
use crate::encoding::{self, DocKind};
use crate::fetch::Fetched;

/// Entries of one parsed feed, with the problems found.
#[derive(Debug, Default)]
pub struct ParsedFeed {
    pub entries: Vec<FeedEntry>,
    pub issues: Vec<Issue>,
    pub encoding: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub id: String,
    pub title: String,
    pub body: String,
    pub link: Option<url::Url>,
    pub published_at: Option<DateTime<Utc>>,
    pub author: Option<String>,
}

static ENTRY_CHUNK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<item\b.*?</item\s*>|<entry\b.*?</entry\s*>").expect("static regex"));

static FEED_ROOT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<(?:rss|feed|rdf:rdf)\b[^>]*>").expect("static regex"));

fn parser(base: Option<&str>, now: DateTime<Utc>, tz: Tz) -> feed_rs::parser::Parser {
    feed_rs::parser::Builder::new()
        .base_uri(base)
        .sanitize_content(false)
        .timestamp_parser(move |s| {
            // Java-made Chinese feeds write `CST` for China Standard Time (+08:00), not US Central.
            let s = match s.trim().strip_suffix("CST") {
                Some(head) => format!("{head}+0800"),
                None => s.trim().to_owned(),
            };
            crate::dates::parse_date(&s, now, tz)
                .or_else(|| DateTime::parse_from_rfc2822(&s).ok().map(|d| d.with_timezone(&Utc)))
        })
        .build()
}

/// feed-rs can panic on some inputs (it slices author strings at byte offsets that may fall
/// inside a Chinese character); a panic is turned into a parse error so the entry-by-entry
/// fallback reports only the bad entry.
fn parse_guarded(
    base: Option<&str>,
    now: DateTime<Utc>,
    tz: Tz,
    bytes: &[u8],
) -> Result<feed_rs::model::Feed, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser(base, now, tz).parse(bytes)))
        .map_err(|_| "the feed parser failed on this input".to_owned())?
        .map_err(|e| e.to_string())
}

/// Decodes and parses a feed document. `http_charset` is the response's charset parameter.
pub fn parse_feed(
    bytes: &[u8],
    http_charset: Option<&str>,
    override_label: Option<&str>,
    base: Option<&url::Url>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<ParsedFeed, String> {
    let trimmed =
        bytes.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &bytes[i..]).unwrap_or_default();
    let kind = if trimmed.starts_with(b"{") { DocKind::Json } else { DocKind::Xml };
    let decoded =
        encoding::decode(bytes, kind, http_charset, override_label, None).map_err(|e| e.to_string())?;
    let text = if kind == DocKind::Xml {
        // Atom 0.3 (still served by old blogs) differs from Atom 1.0 mostly in its namespace.
        encoding::rewrite_xml_prolog_utf8(decoded.text.trim_start_matches('\u{feff}'))
            .replace("http://purl.org/atom/ns#", "http://www.w3.org/2005/Atom")
    } else {
        decoded.text
    };
    let base_s = base.map(|u| u.to_string());
    let mut out = ParsedFeed { encoding: decoded.encoding, ..ParsedFeed::default() };
    let whole = match parse_guarded(base_s.as_deref(), now, tz, text.as_bytes()) {
        // A feed that parses but yields no entries although it has some is read entry by entry.
        Ok(f) if f.entries.is_empty() && ENTRY_CHUNK.is_match(&text) => {
            Err("the feed parsed but its entries did not".to_owned())
        }
        other => other,
    };
    match whole {
        Ok(feed) => {
            for (i, e) in feed.entries.into_iter().enumerate() {
                match entry(e, base) {
                    Ok(x) => out.entries.push(x),
                    Err(reason) => out.issues.push(Issue { at: format!("entry {}", i + 1), reason }),
                }
            }
            Ok(out)
        }
        Err(whole) => {
            // Parse what can be parsed, entry by entry.
            let root_tag = FEED_ROOT.find(&text).map(|m| m.as_str().to_owned());
            let chunks: Vec<&str> = ENTRY_CHUNK.find_iter(&text).map(|m| m.as_str()).collect();
            if chunks.is_empty() {
                // A feed document with nothing in it (`<rss version="2.0"></rss>`) is an empty feed.
                if FEED_ROOT.is_match(&text) {
                    out.issues
                        .push(Issue { at: "feed".into(), reason: format!("feed has no entries ({whole})") });
                    return Ok(out);
                }
                return Err(format!("not a feed: {whole}"));
            }
            for (i, chunk) in chunks.iter().enumerate() {
                // Wrap the entry in the original root start tag, so its namespaces still apply.
                let is_atom = chunk.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("<entry"));
                let doc = match (&root_tag, is_atom) {
                    (Some(root), true) if root.to_ascii_lowercase().starts_with("<feed") => {
                        format!("{root}<title>x</title>{chunk}</feed>")
                    }
                    (_, true) => {
                        format!("<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title>{chunk}</feed>")
                    }
                    (Some(root), false) if root.to_ascii_lowercase().starts_with("<rss") => {
                        format!("{root}<channel><title>x</title>{chunk}</channel></rss>")
                    }
                    (_, false) => {
                        format!("<rss version=\"2.0\"><channel><title>x</title>{chunk}</channel></rss>")
                    }
                };
                match parse_guarded(base_s.as_deref(), now, tz, doc.as_bytes()) {
                    Ok(f) => {
                        for e in f.entries {
                            match entry(e, base) {
                                Ok(x) => out.entries.push(x),
                                Err(reason) => {
                                    out.issues.push(Issue { at: format!("entry {}", i + 1), reason })
                                }
                            }
                        }
                    }
                    Err(e) => out
                        .issues
                        .push(Issue { at: format!("entry {}", i + 1), reason: format!("unparseable: {e}") }),
                }
            }
            out.issues.insert(
                0,
                Issue {
                    at: "feed".into(),
                    reason: format!("feed is malformed ({whole}); parsed entry by entry"),
                },
            );
            Ok(out)
        }
    }
}

fn entry(e: feed_rs::model::Entry, base: Option<&url::Url>) -> Result<FeedEntry, String> {
    let title = e.title.map(|t| fragment_text(&t.content)).unwrap_or_default();
    let body = e
        .content
        .and_then(|c| c.body)
        .filter(|b| !b.trim().is_empty())
        .or_else(|| e.summary.map(|s| s.content))
        .map(|b| fragment_text(&b))
        .unwrap_or_default();
    let link = e
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| e.links.first())
        .and_then(|l| match base {
            Some(b) => canon::resolve(b, &l.href),
            None => url::Url::parse(l.href.trim()).ok().and_then(|u| canon::canonical(&u)),
        });
    if title.is_empty() && body.is_empty() && link.is_none() {
        return Err("entry has no title, text or link".into());
    }
    let id =
        if e.id.trim().is_empty() { link.as_ref().map(|l| l.to_string()).unwrap_or_default() } else { e.id };
    Ok(FeedEntry {
        id,
        title,
        body,
        link,
        published_at: e.published.or(e.updated),
        author: e
            .authors
            .first()
            .and_then(|p| p.name.as_deref())
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
    })
}

pub(crate) async fn poll(ctx: &Ctx<'_>, cfg: &FeedConfig, mut cursor: Cursor) -> Result<Poll, SourceError> {
    let url = cfg.parsed_url().map_err(|e| SourceError::Permanent { reason: e })?;
    let mut poll = Poll { requests: 1, ..Poll::default() };
    let Some(fetched) = ctx.get_conditional(&url, &mut cursor).await? else {
        poll.not_modified = 1;
        poll.cursor = cursor;
        return Ok(poll);
    };
    let charset = fetched.charset();
    let parsed = parse_feed(
        &fetched.body,
        charset.as_deref(),
        ctx.fetcher().encoding.as_deref(),
        Some(&fetched.url),
        ctx.now,
        ctx.tz,
    )
    .map_err(|reason| SourceError::Permanent { reason: format!("{url}: {reason}") })?;
    poll.issues = parsed.issues;
    for e in parsed.entries {
        let key = e.link.as_ref().map(|l| l.to_string()).unwrap_or_else(|| e.id.clone());
        if cursor.has_seen(&key) {
            continue;
        }
        let mut item = entry_item(ctx, &fetched, &parsed.encoding, &e);
        if cfg.fetch_articles
            && let Some(link) = &e.link
        {
            poll.requests += 1;
            match ctx.get(link).await {
                Ok(page) => {
                    let decoded = ctx.decode_html(&page);
                    let doc = scraper::Html::parse_document(&decoded.text);
                    let x = crate::extract::extract(&doc, None, ctx.now, ctx.tz);
                    if x.article && x.body.chars().count() > item.body.chars().count() {
                        item.body = x.body;
                    }
                    item.published_at = item.published_at.or(x.published_at);
                    item.author = item.author.or(x.author);
                    item.raw_sha256 = page.sha256.clone();
                    item.raw = Some(page.body.clone());
                    item.encoding = Some(decoded.encoding);
                }
                Err(err) if err.is_transient() => {
                    // Not marked seen: the next poll fetches the article again.
                    poll.issues
                        .push(Issue { at: link.to_string(), reason: format!("{err}; retried next poll") });
                    continue;
                }
                Err(err) => {
                    // The page will not come: keep the entry as the feed gave it.
                    poll.issues.push(Issue { at: link.to_string(), reason: err.to_string() });
                }
            }
        }
        cursor.mark_seen(&key);
        cursor.note_published(item.published_at);
        poll.items.push(item);
    }
    poll.cursor = cursor;
    Ok(poll)
}

fn entry_item(ctx: &Ctx<'_>, fetched: &Fetched, encoding: &str, e: &FeedEntry) -> Item {
    let id = e.link.as_ref().map(|l| l.to_string()).unwrap_or_else(|| e.id.clone());
    let mut item = ctx.item(id, fetched, Some(encoding.to_owned()));
    item.title = e.title.clone();
    item.body = e.body.clone();
    item.url = e.link.as_ref().map(|l| l.to_string());
    item.published_at = e.published_at;
    item.author = e.author.clone();
    item
}
