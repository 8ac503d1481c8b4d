//! `type = "html"`: a list page read with CSS selectors (items, link, title, date; pagination by a
//! next-page link or a page template), then each new article page, read with the source's article
//! selectors or by generic extraction. Paging stops at a page that holds items already seen. A list
//! selector that matches nothing is an error that names it, never an empty success.

mod config;
#[cfg(test)]
mod tests;

use futures_util::StreamExt;
use scraper::{ElementRef, Html};
use sha2::Digest;
use url::Url;
use yuqing_core::{Cursor, Issue, Item, Poll, SourceError};

pub use config::{ArticleSelectorConfig, HtmlConfig, ListSelectors};

use super::Ctx;
use crate::extract::{self, clean_inline};
use crate::{canon, dates};

/// One entry of a list page.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub url: Url,
    pub title: String,
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    pub body: Option<String>,
    /// What the cursor remembers: the canonical URL, or — for a list that carries the text and
    /// gives an item no link of its own — the list URL plus a hash of the item's text.
    pub key: String,
    /// The item has a page of its own (`url` is not just the list page).
    pub own_page: bool,
}

/// Reads a list page: its entries, the next page's URL, and problems with single entries.
pub(crate) fn read_list(
    doc: &Html,
    base: &Url,
    sel: &config::Compiled,
    ctx_now: chrono::DateTime<chrono::Utc>,
    tz: chrono_tz::Tz,
) -> (Vec<Listed>, Option<Url>, usize, Vec<Issue>) {
    let mut out = Vec::new();
    let mut issues = Vec::new();
    let mut matched = 0usize;
    let default_link = config::selector("list.link", "a[href]").ok();
    for (i, item) in doc.select(&sel.item).enumerate() {
        matched += 1;
        let link_el: Option<ElementRef<'_>> = match (&sel.link, item.value().name()) {
            (Some(s), _) => item.select(s).next(),
            (None, "a") => Some(item),
            (None, _) => default_link.as_ref().and_then(|s| item.select(s).next()),
        };
        let href = link_el.and_then(|a| a.value().attr("href"));
        let own =
            href.and_then(|h| canon::resolve(base, h)).filter(|u| canon::canonical(base).as_ref() != Some(u));
        let (url, own_page) = match own {
            Some(u) => (u, true),
            // A list that carries the text needs no link (message boards link `#msg-12`).
            None if sel.body.is_some() => (base.clone(), false),
            None => {
                issues.push(Issue {
                    at: format!("{base} item {}", i + 1),
                    reason: "no usable link in the item".into(),
                });
                continue;
            }
        };
        let text_of = |e: ElementRef<'_>| clean_inline(&e.text().collect::<String>());
        let title = sel
            .title
            .as_ref()
            .and_then(|s| item.select(s).next())
            .map(|e| e.value().attr("title").map(clean_inline).unwrap_or_else(|| text_of(e)))
            .or_else(|| {
                link_el.map(|a| a.value().attr("title").map(clean_inline).unwrap_or_else(|| text_of(a)))
            })
            .unwrap_or_default();
        let date = match &sel.date {
            Some(s) => item.select(s).next().and_then(|e| dates::find_date(&text_of(e), ctx_now, tz)),
            None => dates::find_date(&text_of(item), ctx_now, tz),
        };
        let body = sel.body.as_ref().map(|s| {
            item.select(s)
                .map(|e| super::fragment_text(&e.inner_html()))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        });
        let key = if own_page {
            url.to_string()
        } else {
            let text = format!("{title}\u{1f}{date:?}\u{1f}{}", body.as_deref().unwrap_or(""));
            format!("{base}#item-{}", &crate::fetch::hex(&sha2::Sha256::digest(text.as_bytes()))[..16])
        };
        out.push(Listed { url, title, date, body, key, own_page });
    }
    let next = sel
        .next_page
        .as_ref()
        .and_then(|s| doc.select(s).find_map(|a| a.value().attr("href")))
        .and_then(|h| canon::resolve(base, h));
    (out, next, matched, issues)
}

pub(crate) async fn poll(ctx: &Ctx<'_>, cfg: &HtmlConfig, mut cursor: Cursor) -> Result<Poll, SourceError> {
    let sel = cfg.compile().map_err(|reason| SourceError::Permanent { reason })?;
    let first = cfg.list_url().map_err(|reason| SourceError::Permanent { reason })?;
    let mut poll = Poll::default();
    let mut fresh: Vec<(Listed, std::sync::Arc<crate::fetch::Fetched>)> = Vec::new();
    let mut page_url = Some(first.clone());
    // Until every new item is collected, the list's old validators are kept, so a `304` cannot
    // hide items that still have to be fetched.
    let old_validators = cursor.validators.get(first.as_str()).cloned();
    let mut incomplete = false;
    let mut page_no = 1u32;
    while let Some(url) = page_url.take() {
        let Some(fetched) = ctx.page(&url, page_no == 1, &mut cursor, &mut poll).await? else {
            // Not modified, or a later page failed (reported; its items wait for the next poll).
            incomplete |= page_no > 1;
            break;
        };
        let fetched: std::sync::Arc<crate::fetch::Fetched> = fetched.into();
        let decoded = ctx.decode_html(&fetched);
        let (listed, next, matched, issues) = {
            let doc = Html::parse_document(&decoded.text);
            read_list(&doc, &fetched.url, &sel, ctx.now, ctx.tz)
        };
        poll.issues.extend(issues);
        if matched == 0 || listed.is_empty() {
            let what = if matched == 0 {
                format!("list.item selector {:?} matched nothing", cfg.list.item)
            } else {
                format!(
                    "list.link selector {:?} found no link in {matched} items",
                    cfg.list.link.as_deref().unwrap_or("a[href]")
                )
            };
            if page_no == 1 {
                return Err(SourceError::Permanent { reason: format!("{url}: {what}") });
            }
            poll.issues.push(Issue { at: url.to_string(), reason: what });
            break;
        }
        // Paging stops at the boundary between new and already-collected items: a seen item that
        // follows a new one on the page, or a page with nothing new. Seen items *above* the new
        // ones (pinned 置顶 posts) are not a boundary.
        let (mut new_on_page, mut boundary) = (0usize, false);
        for l in listed {
            if fresh.iter().any(|(f, _)| f.key == l.key) {
                continue; // the same link twice in one poll
            }
            if cursor.has_seen(&l.key) {
                boundary |= new_on_page > 0;
                continue;
            }
            new_on_page += 1;
            if fresh.len() < cfg.max_items {
                fresh.push((l, fetched.clone()));
            } else {
                incomplete = true;
            }
        }
        if boundary || new_on_page == 0 || fresh.len() >= cfg.max_items || page_no >= cfg.max_pages {
            break;
        }
        page_no += 1;
        page_url = next.or_else(|| {
            let t = cfg.page_template.as_ref()?;
            let n = cfg.page_start + page_no - 2;
            Url::parse(&t.replace("{page}", &n.to_string())).ok()
        });
    }

    if sel.body.is_some() {
        // The list carries the text: no article pages.
        for (l, page) in fresh {
            let mut item = ctx.item(l.key.clone(), &page, None);
            item.title = l.title;
            item.body = l.body.unwrap_or_default();
            item.url = l.own_page.then(|| l.url.to_string());
            item.published_at = l.date;
            cursor.mark_seen(&l.key);
            cursor.note_published(item.published_at);
            poll.items.push(item);
        }
        restore_validators(&mut cursor, &first, old_validators, incomplete);
        poll.cursor = cursor;
        return Ok(poll);
    }

    let article_sel = sel.article.clone();
    let results: Vec<(Listed, ArticleResult)> = futures_util::stream::iter(fresh)
        .map(|(l, _)| {
            let article_sel = article_sel.clone();
            async move {
                let r = article(ctx, &l, article_sel.as_ref()).await;
                (l, r)
            }
        })
        .buffered(cfg.concurrency)
        .collect()
        .await;
    for (l, r) in results {
        poll.requests += 1;
        match r {
            Ok((item, warning)) => {
                poll.issues.extend(warning);
                cursor.mark_seen(&l.key);
                cursor.note_published(item.published_at);
                poll.items.push(item);
            }
            Err((issue, transient)) => {
                poll.issues.push(issue);
                if transient {
                    // Fetched again next poll.
                    incomplete = true;
                } else {
                    // A page that is gone (404, robots.txt) is not asked for on every poll.
                    cursor.mark_seen(&l.key);
                }
            }
        }
    }
    restore_validators(&mut cursor, &first, old_validators, incomplete);
    poll.cursor = cursor;
    Ok(poll)
}

fn restore_validators(
    cursor: &mut Cursor,
    first: &Url,
    old: Option<yuqing_core::Validators>,
    incomplete: bool,
) {
    if incomplete {
        match old {
            Some(v) => cursor.validators.insert(first.to_string(), v),
            None => cursor.validators.remove(first.as_str()),
        };
    }
}

/// An item (with a warning), or an issue and whether the failure is transient.
type ArticleResult = Result<(Item, Option<Issue>), (Issue, bool)>;

/// One article page; a configured body selector that matched nothing is reported beside the item
/// (whose text then comes from generic extraction, so nothing is lost).
async fn article(ctx: &Ctx<'_>, l: &Listed, sel: Option<&extract::ArticleSelectors>) -> ArticleResult {
    let page = ctx
        .get(&l.url)
        .await
        .map_err(|e| (Issue { at: l.url.to_string(), reason: e.to_string() }, e.is_transient()))?;
    let decoded = ctx.decode_html(&page);
    let (x, body_missed) = {
        let doc = Html::parse_document(&decoded.text);
        let missed = sel.and_then(|s| s.body.as_ref()).is_some_and(|b| doc.select(b).next().is_none());
        (extract::extract(&doc, sel, ctx.now, ctx.tz), missed)
    };
    let mut item = ctx.item(l.url.to_string(), &page, Some(decoded.encoding));
    item.url = Some(l.url.to_string());
    item.title = if x.title.is_empty()
        || (!l.title.is_empty()
            && sel.is_none_or(|s| s.title.is_none())
            && l.title.chars().count() > x.title.chars().count() + 20)
    {
        l.title.clone()
    } else {
        x.title
    };
    item.body = x.body;
    item.published_at = x.published_at.or(l.date);
    item.author = x.author;
    let warning = body_missed.then(|| {
        tracing::warn!(source_id = %ctx.id(), url = %l.url, "article.body selector matched nothing");
        Issue {
            at: l.url.to_string(),
            reason: "article.body selector matched nothing; generic extraction used".into(),
        }
    });
    Ok((item, warning))
}
