//! Source configuration: TOML files with an optional `[fetch]` table (defaults for every source) and
//! `[[source]]` entries. Each source has the common keys below plus a `type` that selects a closed
//! set of kinds (`feed`, `html`, `json_api`), each with its own keys. Unknown keys are errors that
//! name the file and the source. Parsing does no IO and builds nothing; [`crate::build`] does.

use std::collections::HashSet;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::fetch::{FetchConfig, FetchDefaults};
use crate::kinds::{feed::FeedConfig, html::HtmlConfig, json_api::JsonApiConfig};
use crate::schedule::{Schedule, ScheduleConfig};

/// How far a source's voice carries; later stages weigh heat by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Central,
    Provincial,
    Prefecture,
    #[default]
    Local,
    Forum,
    Social,
}

/// Keys every source has, whatever its type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// Stable id: lower-case ASCII letters, digits and `-`.
    pub id: String,
    /// Human name, e.g. `新源县人民政府 · 新源要闻`.
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub schedule: ScheduleConfig,
    /// IANA time zone for dates without an offset (default Asia/Shanghai).
    #[serde(default = "default_tz")]
    pub timezone: String,
    #[serde(default)]
    pub tier: Tier,
    /// Items are the county's own policy documents (政策性文件): each opens an interpretation case.
    #[serde(default)]
    pub policy_documents: bool,
    #[serde(default)]
    pub fetch: FetchConfig,
}

fn yes() -> bool {
    true
}
fn default_tz() -> String {
    "Asia/Shanghai".to_owned()
}

/// The closed set of source kinds.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KindConfig {
    Feed(FeedConfig),
    Html(Box<HtmlConfig>),
    JsonApi(Box<JsonApiConfig>),
}

impl KindConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            KindConfig::Feed(_) => "feed",
            KindConfig::Html(_) => "html",
            KindConfig::JsonApi(_) => "json_api",
        }
    }
}

/// One validated source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub common: Common,
    pub schedule: Schedule,
    pub tz: Tz,
    pub kind: KindConfig,
}

/// Everything read from one or more sources files.
#[derive(Debug, Clone, Default)]
pub struct SourcesConfig {
    pub fetch: FetchDefaults,
    pub sources: Vec<SourceConfig>,
}

/// One problem in a sources file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", source_id.as_ref().map(|s| format!(": source {s:?}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub source_id: Option<String>,
    pub message: String,
}

const COMMON_KEYS: &[&str] =
    &["id", "name", "enabled", "schedule", "timezone", "tier", "policy_documents", "fetch"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    fetch: Option<toml::Table>,
    #[serde(default)]
    source: Vec<toml::Table>,
}

/// Parses sources files given as `(name, text)`; all problems are collected.
pub fn parse(files: &[(String, String)]) -> Result<SourcesConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = SourcesConfig::default();
    let mut fetch_from: Option<String> = None;
    let mut ids = HashSet::new();
    for (file, text) in files {
        let err = |source_id: Option<&str>, message: String| ConfigError {
            file: file.clone(),
            source_id: source_id.map(str::to_owned),
            message,
        };
        let repr: FileRepr = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                errors.push(err(None, e.to_string().trim_end().to_owned()));
                continue;
            }
        };
        if let Some(fetch) = repr.fetch {
            if let Some(first) = &fetch_from {
                errors.push(err(None, format!("[fetch] is already given in {first}; give it once")));
            } else {
                fetch_from = Some(file.clone());
                match FetchDefaults::deserialize(fetch).map_err(|e| e.to_string()).and_then(|f| {
                    f.validate()?;
                    Ok(f)
                }) {
                    Ok(f) => out.fetch = f,
                    Err(e) => errors.push(err(None, format!("[fetch]: {e}"))),
                }
            }
        }
        for (i, table) in repr.source.into_iter().enumerate() {
            let label = table
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{}", i + 1));
            match parse_one(table) {
                Ok(s) => {
                    if !ids.insert(s.common.id.clone()) {
                        errors.push(err(Some(&label), "duplicate source id".into()));
                    } else {
                        out.sources.push(s);
                    }
                }
                Err(m) => errors.push(err(Some(&label), m)),
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn parse_one(table: toml::Table) -> Result<SourceConfig, String> {
    let (mut common_t, mut kind_t) = (toml::Table::new(), toml::Table::new());
    for (k, v) in table {
        if COMMON_KEYS.contains(&k.as_str()) {
            common_t.insert(k, v);
        } else {
            kind_t.insert(k, v);
        }
    }
    if !kind_t.contains_key("type") {
        return Err("missing `type` (one of feed, html, json_api)".into());
    }
    let common = Common::deserialize(common_t).map_err(|e| e.to_string().trim_end().to_owned())?;
    let id_ok = !common.id.is_empty()
        && common.id.len() <= 64
        && common.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(format!("id {:?} must be 1-64 characters of a-z, 0-9 and '-'", common.id));
    }
    let kind = KindConfig::deserialize(kind_t).map_err(|e| e.to_string().trim_end().to_owned())?;
    let schedule = Schedule::parse(&common.schedule).map_err(|e| format!("schedule: {e}"))?;
    let tz: Tz = common.timezone.parse().map_err(|_| format!("unknown timezone {:?}", common.timezone))?;
    match &kind {
        KindConfig::Feed(c) => c.validate(),
        KindConfig::Html(c) => c.validate(),
        KindConfig::JsonApi(c) => c.validate(),
    }?;
    if let Some(r) = &common.fetch.ignore_robots_reason
        && r.trim().is_empty()
    {
        return Err("fetch.ignore_robots_reason must say why robots.txt is ignored".into());
    }
    Ok(SourceConfig { common, schedule, tz, kind })
}

/// Reads a sources file, or every `*.toml` file of a folder (sorted by name).
pub fn read_files(path: &std::path::Path) -> std::io::Result<Vec<(String, String)>> {
    if path.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        names.sort();
        names.into_iter().map(|p| Ok((p.display().to_string(), std::fs::read_to_string(&p)?))).collect()
    } else {
        Ok(vec![(path.display().to_string(), std::fs::read_to_string(path)?)])
    }
}
