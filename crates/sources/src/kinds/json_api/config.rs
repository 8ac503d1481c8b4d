use std::collections::BTreeMap;

use serde::Deserialize;

/// `type = "json_api"`: an endpoint template, paging, and a declarative field mapping from JSON
/// pointers (RFC 6901) to an item. A `preset` supplies the mapping for a known platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonApiConfig {
    pub preset: Option<Preset>,
    /// URL template: `{page}`, `{cursor}` (from `next_cursor` of the previous page; empty on the
    /// first) and any key of `vars`.
    pub url: String,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(default = "one")]
    pub page_start: u32,
    #[serde(default = "one")]
    pub max_pages: u32,
    /// Pointer to the next page's cursor in a response.
    pub next_cursor: Option<String>,
    /// A response is good only when this pointer holds this value (e.g. Weibo's `/ok` = 1).
    pub ok: Option<OkCheck>,
    pub mapping: Option<Mapping>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// m.weibo.cn `api/container/getIndex?containerid=107603{uid}`: an account's posts.
    WeiboContainer,
    /// m.weibo.cn `api/comments/show?id={mid}`: comments on a post (hot and latest).
    WeiboComments,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OkCheck {
    pub pointer: String,
    pub equals: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn all(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Where each field of an item is found in one element of the items array.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Pointer(s) to the array(s) of items in a response.
    pub items: OneOrMany,
    /// Keep only elements where this pointer holds this value.
    pub filter: Option<OkCheck>,
    pub id: String,
    pub title: Option<String>,
    pub text: String,
    /// `text` (and `title`) hold HTML (links, emoticon images): converted to plain text.
    #[serde(default = "yes")]
    pub text_is_html: bool,
    /// The author's screen name as published, and the platform's verification type: nothing else
    /// about a person is read.
    pub author: Option<String>,
    pub author_verified_type: Option<String>,
    pub time: Option<String>,
    pub url: Option<String>,
    /// Used when `url` is absent: `{id}` is replaced by the item's id.
    pub url_template: Option<String>,
    pub reposts: Option<String>,
    pub comments: Option<String>,
    pub likes: Option<String>,
    pub views: Option<String>,
    /// Texts cut short in lists: when `when` is true, the full text is fetched from `url` (`{id}`)
    /// and read at `text`.
    pub expand: Option<Expand>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expand {
    pub when: String,
    pub url: String,
    pub text: String,
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn p(s: &str) -> String {
    s.to_owned()
}

impl Preset {
    pub fn mapping(self) -> Mapping {
        match self {
            Preset::WeiboContainer => Mapping {
                items: OneOrMany::One(p("/data/cards")),
                filter: Some(OkCheck { pointer: p("/card_type"), equals: serde_json::json!(9) }),
                id: p("/mblog/id"),
                title: None,
                text: p("/mblog/text"),
                text_is_html: true,
                author: Some(p("/mblog/user/screen_name")),
                author_verified_type: Some(p("/mblog/user/verified_type")),
                time: Some(p("/mblog/created_at")),
                url: None,
                url_template: Some(p("https://m.weibo.cn/detail/{id}")),
                reposts: Some(p("/mblog/reposts_count")),
                comments: Some(p("/mblog/comments_count")),
                likes: Some(p("/mblog/attitudes_count")),
                views: None,
                expand: Some(Expand {
                    when: p("/mblog/isLongText"),
                    url: p("https://m.weibo.cn/statuses/extend?id={id}"),
                    text: p("/data/longTextContent"),
                }),
            },
            Preset::WeiboComments => Mapping {
                items: OneOrMany::Many(vec![p("/data/hot_data"), p("/data/data")]),
                filter: None,
                id: p("/id"),
                title: None,
                text: p("/text"),
                text_is_html: true,
                author: Some(p("/user/screen_name")),
                author_verified_type: Some(p("/user/verified_type")),
                time: Some(p("/created_at")),
                url: None,
                url_template: None,
                reposts: None,
                comments: None,
                likes: Some(p("/like_counts")),
                views: None,
                expand: None,
            },
        }
    }

    pub fn ok(self) -> OkCheck {
        OkCheck { pointer: p("/ok"), equals: serde_json::json!(1) }
    }

    pub fn next_cursor(self) -> Option<String> {
        match self {
            Preset::WeiboContainer => Some(p("/data/cardlistInfo/since_id")),
            Preset::WeiboComments => None,
        }
    }
}

impl JsonApiConfig {
    /// The mapping in force: the configured one, else the preset's.
    pub fn effective_mapping(&self) -> Option<Mapping> {
        self.mapping.clone().or_else(|| self.preset.map(Preset::mapping))
    }

    pub fn effective_ok(&self) -> Option<OkCheck> {
        self.ok.clone().or_else(|| self.preset.map(Preset::ok))
    }

    pub fn effective_next_cursor(&self) -> Option<String> {
        self.next_cursor.clone().or_else(|| self.preset.and_then(Preset::next_cursor))
    }

    /// The URL of one page. Placeholders are checked on the template; the cursor (which may hold
    /// `+`, `&`, `=` or braces) is percent-encoded and substituted last.
    pub fn page_url(&self, page: u32, cursor: Option<&str>) -> Result<url::Url, String> {
        let mut s = self.url.replace("{page}", &page.to_string());
        for (k, v) in &self.vars {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        let unresolved = s.replace("{cursor}", "");
        if let Some(start) = unresolved.find('{')
            && let Some(len) = unresolved[start..].find('}')
        {
            return Err(format!(
                "url {:?}: placeholder {} has no value in vars",
                self.url,
                &unresolved[start..=start + len]
            ));
        }
        let s = s.replace("{cursor}", &encode_component(cursor.unwrap_or("")));
        let u = url::Url::parse(&s).map_err(|e| format!("url {s:?}: {e}"))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!("url {s:?}: only http and https are fetched"));
        }
        Ok(u)
    }

    pub fn validate(&self) -> Result<(), String> {
        let m = self.effective_mapping().ok_or("give a `mapping` or a `preset`")?;
        self.page_url(self.page_start, None)?;
        let mut pointers: Vec<&str> = m.items.all();
        pointers.extend([m.id.as_str(), m.text.as_str()]);
        for o in [
            &m.title,
            &m.author,
            &m.author_verified_type,
            &m.time,
            &m.url,
            &m.reposts,
            &m.comments,
            &m.likes,
            &m.views,
        ]
        .into_iter()
        .flatten()
        {
            pointers.push(o);
        }
        for ptr in pointers {
            if !(ptr.is_empty() || ptr.starts_with('/')) {
                return Err(format!("{ptr:?} is not a JSON pointer (it must start with '/')"));
            }
        }
        if self.max_pages == 0 {
            return Err("max_pages must be at least 1".into());
        }
        Ok(())
    }
}
