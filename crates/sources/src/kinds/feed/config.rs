use serde::Deserialize;

/// `type = "feed"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The feed's URL (an RSSHub route is a feed like any other).
    pub url: String,
    /// Fetch each entry's page and extract the article when the feed carries only summaries.
    #[serde(default)]
    pub fetch_articles: bool,
}

impl FeedConfig {
    pub fn parsed_url(&self) -> Result<url::Url, String> {
        let u = url::Url::parse(self.url.trim()).map_err(|e| format!("url {:?}: {e}", self.url))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!("url {:?}: only http and https are fetched", self.url));
        }
        Ok(u)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.parsed_url().map(|_| ())
    }
}
