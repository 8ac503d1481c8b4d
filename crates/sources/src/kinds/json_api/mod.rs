//! `type = "json_api"`: social platforms' and forums' JSON APIs through a declarative mapping (JSON
//! pointers), with presets for Weibo's mobile API. Only the screen name and verification type of
//! an author are read. Elements that miss their id or text are reported and skipped; duplicates
//! (same id, or same author and text, as comment endpoints repeat each other) are dropped.

mod config;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use sha2::Digest;
use yuqing_core::{Cursor, Engagement, Issue, Poll, SourceError};

pub use config::{Expand, JsonApiConfig, Mapping, OkCheck, OneOrMany, Preset};

use super::{Ctx, fragment_text};
use crate::encoding::{self, DocKind};
use crate::{canon, dates};

/// One element read through a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub id: String,
    pub title: String,
    pub text: String,
    pub author: Option<String>,
    pub author_verified_type: Option<i64>,
    /// The element as published, with every `user`/`author` object reduced to the screen name
    /// and verification type: the evidence kept for the item (never an author's profile).
    pub raw: Vec<u8>,
    pub published_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    pub engagement: Engagement,
    /// The element asks for its full text (`expand.when` was true).
    pub truncated: bool,
}

/// The element with `user`/`author`/`member` objects reduced to what is kept of a person.
fn redacted(el: &Value) -> Vec<u8> {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| match (k.as_str(), v) {
                        ("user" | "author" | "member", Value::Object(person)) => {
                            let kept = person
                                .iter()
                                .filter(|(k, _)| {
                                    matches!(
                                        k.as_str(),
                                        "screen_name" | "verified_type" | "name" | "nickname" | "uname"
                                    )
                                })
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect();
                            (k.clone(), Value::Object(kept))
                        }
                        _ => (k.clone(), strip(v)),
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&strip(el)).unwrap_or_default()
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        // "1.2万" style counts
        Value::String(s) => {
            let s = s.trim();
            if let Some(w) = s.strip_suffix('万') {
                w.trim().parse::<f64>().ok().map(|f| (f * 10_000.0) as u64)
            } else {
                s.replace(',', "").parse().ok()
            }
        }
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty() && s != "0" && s != "false",
        _ => false,
    }
}

fn time_of(v: &Value, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => dates::parse_date(s, now, tz),
        Value::Number(n) => {
            let x = n.as_i64()?;
            let secs = if x > 100_000_000_000 { x / 1000 } else { x };
            Utc.timestamp_opt(secs, 0).single()
        }
        _ => None,
    }
}

/// Reads the items of one response through `m`: the mapped elements and the problems found.
pub fn map_response(doc: &Value, m: &Mapping, now: DateTime<Utc>, tz: Tz) -> (Vec<Mapped>, Vec<Issue>) {
    let mut out = Vec::new();
    let mut issues = Vec::new();
    let mut seen_ids = HashSet::new();
    // (array, author, text): the same comment returned by two endpoints (hot and latest) is one
    // comment; within one array, equal texts (转发微博, 分享图片) are different posts.
    let mut seen_texts: HashSet<(usize, Option<String>, String)> = HashSet::new();
    for (array_no, items_ptr) in m.items.all().into_iter().enumerate() {
        let Some(arr) = doc.pointer(items_ptr).and_then(Value::as_array) else { continue };
        for (i, el) in arr.iter().enumerate() {
            if let Some(f) = &m.filter
                && el.pointer(&f.pointer) != Some(&f.equals)
            {
                continue;
            }
            let at = format!("{items_ptr}/{i}");
            let Some(id) = el.pointer(&m.id).and_then(as_string).filter(|s| !s.is_empty()) else {
                issues.push(Issue { at, reason: format!("no id at {}", m.id) });
                continue;
            };
            let raw_text = el.pointer(&m.text).and_then(Value::as_str).unwrap_or_default();
            let text = if m.text_is_html { fragment_text(raw_text) } else { raw_text.trim().to_owned() };
            let title = m
                .title
                .as_ref()
                .and_then(|p| el.pointer(p))
                .and_then(Value::as_str)
                .map(|t| if m.text_is_html { fragment_text(t) } else { t.trim().to_owned() })
                .unwrap_or_default();
            if text.is_empty() && title.is_empty() {
                issues.push(Issue { at, reason: format!("no text at {}", m.text) });
                continue;
            }
            let author = m.author.as_ref().and_then(|p| el.pointer(p)).and_then(as_string);
            if !seen_ids.insert(id.clone()) {
                continue;
            }
            if seen_texts.iter().any(|(n, a, t)| *n != array_no && *a == author && *t == text) {
                continue;
            }
            seen_texts.insert((array_no, author.clone(), text.clone()));
            let url = m
                .url
                .as_ref()
                .and_then(|p| el.pointer(p))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    m.url_template.as_ref().map(|t| t.replace("{id}", &config::encode_component(&id)))
                })
                .and_then(|u| url::Url::parse(&u).ok())
                .and_then(|u| canon::canonical(&u))
                .map(|u| u.to_string());
            let count = |p: &Option<String>| p.as_ref().and_then(|p| el.pointer(p)).and_then(as_count);
            out.push(Mapped {
                raw: redacted(el),
                id,
                title,
                text,
                author,
                author_verified_type: m
                    .author_verified_type
                    .as_ref()
                    .and_then(|p| el.pointer(p))
                    .and_then(Value::as_i64),
                published_at: m.time.as_ref().and_then(|p| el.pointer(p)).and_then(|v| time_of(v, now, tz)),
                url,
                engagement: Engagement {
                    reposts: count(&m.reposts),
                    comments: count(&m.comments),
                    likes: count(&m.likes),
                    views: count(&m.views),
                },
                truncated: m.expand.as_ref().is_some_and(|e| truthy(el.pointer(&e.when))),
            });
        }
    }
    (out, issues)
}

/// Decodes (BOM, declared or detected charset) and parses a JSON response.
pub fn parse_json(bytes: &[u8], charset: Option<&str>) -> Result<Value, String> {
    let decoded = encoding::decode(bytes, DocKind::Json, charset, None, None).map_err(|e| e.to_string())?;
    serde_json::from_str(decoded.text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("response is not JSON: {e}"))
}

pub(crate) async fn poll(
    ctx: &Ctx<'_>,
    cfg: &JsonApiConfig,
    mut cursor: Cursor,
) -> Result<Poll, SourceError> {
    let m = cfg.effective_mapping().ok_or_else(|| SourceError::Permanent { reason: "no mapping".into() })?;
    let ok = cfg.effective_ok();
    let next_ptr = cfg.effective_next_cursor();
    let mut poll = Poll::default();
    let mut page_cursor: Option<String> = None;
    for page in cfg.page_start..cfg.page_start.saturating_add(cfg.max_pages) {
        let url =
            cfg.page_url(page, page_cursor.as_deref()).map_err(|reason| SourceError::Permanent { reason })?;
        let Some(fetched) = ctx.page(&url, page == cfg.page_start, &mut cursor, &mut poll).await? else {
            break;
        };
        let doc = match parse_json(&fetched.body, fetched.charset().as_deref()) {
            Ok(d) => d,
            Err(reason) if page == cfg.page_start => {
                return Err(SourceError::Transient {
                    reason: format!("{url}: {reason}"),
                    retry_after_secs: None,
                });
            }
            Err(reason) => {
                poll.issues.push(Issue { at: url.to_string(), reason });
                break;
            }
        };
        if let Some(check) = &ok
            && doc.pointer(&check.pointer) != Some(&check.equals)
        {
            let msg = doc.pointer("/msg").and_then(Value::as_str).unwrap_or("");
            let reason = format!(
                "{url}: the API answered {} = {} {msg}",
                check.pointer,
                doc.pointer(&check.pointer).unwrap_or(&Value::Null)
            );
            if page == cfg.page_start {
                return Err(SourceError::Transient { reason, retry_after_secs: None });
            }
            poll.issues.push(Issue { at: url.to_string(), reason });
            break;
        }
        let (mapped, issues) = map_response(&doc, &m, ctx.now, ctx.tz);
        poll.issues.extend(issues);
        if mapped.is_empty() {
            break;
        }
        let mut saw_old = false;
        for x in mapped {
            let key = x.id.clone();
            if cursor.has_seen(&key) {
                saw_old = true;
                continue;
            }
            let mut item = ctx.item(key.clone(), &fetched, None);
            item.raw_sha256 = crate::fetch::hex(&sha2::Sha256::digest(&x.raw));
            item.raw = Some(bytes::Bytes::from(x.raw));
            item.title = x.title;
            item.body = x.text;
            item.url = x.url;
            item.author = x.author;
            item.author_verified_type = x.author_verified_type;
            item.published_at = x.published_at;
            item.engagement = x.engagement;
            if x.truncated
                && let Some(e) = &m.expand
            {
                poll.requests += 1;
                match expand(ctx, e, &key).await {
                    Ok(full) if !full.is_empty() => item.body = full,
                    Ok(_) => {}
                    Err(reason) => {
                        // Not marked seen: the next poll tries the full text again.
                        poll.issues.push(Issue {
                            at: key.clone(),
                            reason: format!("full text: {reason}; retried next poll"),
                        });
                        continue;
                    }
                }
            }
            cursor.mark_seen(&key);
            cursor.note_published(item.published_at);
            poll.items.push(item);
        }
        page_cursor = next_ptr
            .as_ref()
            .and_then(|p| doc.pointer(p))
            .and_then(as_string)
            .filter(|s| !s.is_empty() && s != "0");
        if saw_old || (cfg.url.contains("{cursor}") && page_cursor.is_none()) {
            break;
        }
    }
    poll.cursor = cursor;
    Ok(poll)
}

async fn expand(ctx: &Ctx<'_>, e: &Expand, id: &str) -> Result<String, String> {
    let url =
        url::Url::parse(&e.url.replace("{id}", &config::encode_component(id))).map_err(|x| x.to_string())?;
    let f = ctx.get(&url).await.map_err(|x| x.to_string())?;
    let doc = parse_json(&f.body, f.charset().as_deref())?;
    Ok(doc.pointer(&e.text).and_then(Value::as_str).map(fragment_text).unwrap_or_default())
}
