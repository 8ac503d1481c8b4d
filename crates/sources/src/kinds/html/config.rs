use scraper::Selector;
use serde::Deserialize;

use crate::extract::ArticleSelectors;

/// `type = "html"`: a list page (with pagination) and the article pages it links to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmlConfig {
    pub list_url: String,
    pub list: ListSelectors,
    /// Pages after the first, e.g. `http://www.example.gov.cn/xwzx/index_{page}.html`; `{page}`
    /// counts from `page_start`. Used when `list.next_page` is not given.
    pub page_template: Option<String>,
    #[serde(default = "two")]
    pub page_start: u32,
    #[serde(default = "one")]
    pub max_pages: u32,
    /// Article-page selectors; when absent, generic extraction reads the articles.
    pub article: Option<ArticleSelectorConfig>,
    /// New items taken per poll (the rest wait for the next one).
    #[serde(default = "hundred")]
    pub max_items: usize,
    /// Article pages fetched at once (the per-host limits still apply).
    #[serde(default = "four")]
    pub concurrency: usize,
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn four() -> usize {
    4
}
fn hundred() -> usize {
    100
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSelectors {
    /// One element per listed item.
    pub item: String,
    /// Inside an item: the link to the article (default `a`, or the item itself when it is an `<a>`).
    pub link: Option<String>,
    pub title: Option<String>,
    pub date: Option<String>,
    /// When the list itself carries each item's text (message boards, hotline exports), the
    /// articles are not fetched.
    pub body: Option<String>,
    /// The link to the next list page.
    pub next_page: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleSelectorConfig {
    pub title: Option<String>,
    pub body: Option<String>,
    pub date: Option<String>,
    pub author: Option<String>,
}

pub(crate) fn selector(what: &str, s: &str) -> Result<Selector, String> {
    Selector::parse(s).map_err(|e| format!("{what}: invalid CSS selector {s:?}: {e}"))
}

fn opt(what: &str, s: &Option<String>) -> Result<Option<Selector>, String> {
    s.as_deref().map(|s| selector(what, s)).transpose()
}

/// Compiled selectors.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub item: Selector,
    pub link: Option<Selector>,
    pub title: Option<Selector>,
    pub date: Option<Selector>,
    pub body: Option<Selector>,
    pub next_page: Option<Selector>,
    pub article: Option<ArticleSelectors>,
}

impl HtmlConfig {
    pub(crate) fn compile(&self) -> Result<Compiled, String> {
        let l = &self.list;
        Ok(Compiled {
            item: selector("list.item", &l.item)?,
            link: opt("list.link", &l.link)?,
            title: opt("list.title", &l.title)?,
            date: opt("list.date", &l.date)?,
            body: opt("list.body", &l.body)?,
            next_page: opt("list.next_page", &l.next_page)?,
            article: self
                .article
                .as_ref()
                .map(|a| {
                    Ok::<_, String>(ArticleSelectors {
                        title: opt("article.title", &a.title)?,
                        body: opt("article.body", &a.body)?,
                        date: opt("article.date", &a.date)?,
                        author: opt("article.author", &a.author)?,
                    })
                })
                .transpose()?,
        })
    }

    pub fn list_url(&self) -> Result<url::Url, String> {
        let u = url::Url::parse(self.list_url.trim())
            .map_err(|e| format!("list_url {:?}: {e}", self.list_url))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!("list_url {:?}: only http and https are fetched", self.list_url));
        }
        Ok(u)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.list_url()?;
        self.compile()?;
        if let Some(t) = &self.page_template
            && !t.contains("{page}")
        {
            return Err(format!("page_template {t:?} must contain {{page}}"));
        }
        if self.max_pages == 0 || self.max_items == 0 || self.concurrency == 0 {
            return Err("max_pages, max_items and concurrency must be at least 1".into());
        }
        Ok(())
    }
}
