//! A post as partners hand it in (push API, file import): `id`, `title`, `body`, `url`, `source`,
//! `published_at` — `yuqing analyze`'s input format — plus optional `likes`, `comments`, `reposts`,
//! turned into an [`Item`].

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{Engagement, Item};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PostRecord {
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub published_at: Option<String>,
    /// Public engagement counts as the platform shows them (likes, comments, reposts).
    #[serde(default)]
    pub likes: Option<u64>,
    #[serde(default)]
    pub comments: Option<u64>,
    #[serde(default)]
    pub reposts: Option<u64>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl PostRecord {
    /// The item; `raw` is the record as received (its evidence). Errors say what is missing.
    pub fn into_item(
        self,
        default_source: &str,
        source_type: &str,
        raw: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Item, String> {
        let title = self.title.unwrap_or_default();
        let body = self.body.unwrap_or_default();
        if title.trim().is_empty() && body.trim().is_empty() {
            return Err("no title and no body".into());
        }
        let id = match self.id {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => self.url.clone().ok_or("no id and no url")?,
        };
        let published_at = match self.published_at.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|e| format!("published_at {s:?}: {e}"))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        Ok(Item {
            id,
            title,
            body,
            url: self.url,
            source: self.source.filter(|s| !s.is_empty()).unwrap_or_else(|| default_source.to_owned()),
            published_at,
            fetched_at: now,
            author: None,
            author_verified_type: None,
            engagement: Engagement {
                likes: self.likes,
                comments: self.comments,
                reposts: self.reposts,
                views: None,
            },
            raw_sha256: sha256_hex(raw),
            encoding: None,
            policy_document: false,
            source_type: source_type.to_owned(),
            raw: Some(bytes::Bytes::copy_from_slice(raw)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_items_or_say_why_not() {
        let now = Utc::now();
        let r: PostRecord = serde_json::from_str(
            r#"{"id": 7, "title": "停水", "published_at": "2026-11-20T10:00:00+08:00"}"#,
        )
        .unwrap();
        let it = r.into_item("push", "push", b"x", now).unwrap();
        assert_eq!((it.id.as_str(), it.source.as_str()), ("7", "push"));
        assert_eq!(it.published_at.unwrap().to_rfc3339(), "2026-11-20T02:00:00+00:00");
        let empty = PostRecord::default().into_item("push", "push", b"", now).unwrap_err();
        assert_eq!(empty, "no title and no body");
        let bad = PostRecord {
            title: Some("x".into()),
            published_at: Some("昨天".into()),
            url: Some("u".into()),
            ..PostRecord::default()
        };
        assert!(bad.into_item("p", "p", b"", now).unwrap_err().contains("published_at"));
    }
}
