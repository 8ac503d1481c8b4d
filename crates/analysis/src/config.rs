//! The county configuration (`config/`), parsed from file contents handed in by the caller.
//!
//! Parsing is pure: the binary reads the files (or takes the embedded copies) and passes
//! `(path, text)` pairs. Every problem is collected, not just the first, and each names its file
//! and, where it has one, the line and column or the rule.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;

use serde::Deserialize;
use yuqing_domain::{County, Township, Unit, UnitId, UnitKind};

/// A problem in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub file: String,
    /// The topic or unit concerned, when there is one.
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{}: {}: {}", self.file, r, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// All problems found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigIssue>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// Words that decide when a township government leads (its own conduct) and which words never
/// assign a township on their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TownshipWords {
    pub government_words: Vec<String>,
    pub conduct_words: Vec<String>,
    #[serde(default)]
    pub generic_words: Vec<String>,
}

/// One topic as written in `rules/<unit>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub region: Vec<String>,
    #[serde(default)]
    pub subject: Vec<String>,
    #[serde(default)]
    pub event: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub expr: Option<String>,
    /// Filled in by the loader.
    #[serde(skip)]
    pub unit: Option<UnitId>,
    #[serde(skip)]
    pub file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    unit: UnitId,
    #[serde(default)]
    topic: Vec<TopicDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitsFile {
    unit: Vec<Unit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GazetteerFile {
    township: Vec<Township>,
}

/// The whole county configuration.
#[derive(Debug, Clone)]
pub struct CountyConfig {
    pub county: County,
    pub townships: Vec<Township>,
    pub units: Vec<Unit>,
    pub township_words: TownshipWords,
    pub topics: Vec<TopicDef>,
}

impl CountyConfig {
    pub fn unit(&self, id: &UnitId) -> Option<&Unit> {
        self.units.iter().find(|u| &u.id == id)
    }
}

fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<T> {
    match toml::from_str::<T>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let at = e.span().map(|s| {
                let (l, c) = line_col(text, s.start);
                format!("line {l}, column {c}: ")
            });
            issues.push(ConfigIssue {
                file: file.to_owned(),
                rule: None,
                message: format!("{}{}", at.unwrap_or_default(), e.message()),
            });
            None
        }
    }
}

/// Parses the configuration from `(relative path, text)` pairs: `county.toml`, `gazetteer.toml`,
/// `departments.toml`, `townships.toml` and `rules/*.toml`. Other files are ignored.
pub fn load<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<CountyConfig, ConfigErrors> {
    let files: BTreeMap<&str, &str> = files.into_iter().collect();
    let mut issues = Vec::new();
    let need = |name: &str, issues: &mut Vec<ConfigIssue>| -> Option<&str> {
        let t = files.get(name).copied();
        if t.is_none() {
            issues.push(ConfigIssue { file: name.to_owned(), rule: None, message: "file is missing".into() });
        }
        t
    };
    let county =
        need("county.toml", &mut issues).and_then(|t| parse_toml::<County>("county.toml", t, &mut issues));
    let gazetteer = need("gazetteer.toml", &mut issues)
        .and_then(|t| parse_toml::<GazetteerFile>("gazetteer.toml", t, &mut issues));
    let units = need("departments.toml", &mut issues)
        .and_then(|t| parse_toml::<UnitsFile>("departments.toml", t, &mut issues));
    let township_words = need("townships.toml", &mut issues)
        .and_then(|t| parse_toml::<TownshipWords>("townships.toml", t, &mut issues));

    let mut topics = Vec::new();
    let mut rule_units = Vec::new();
    for (path, text) in &files {
        let Some(stem) = path.strip_prefix("rules/").and_then(|p| p.strip_suffix(".toml")) else {
            continue;
        };
        if stem.contains('/') {
            continue;
        }
        let Some(rf) = parse_toml::<RulesFile>(path, text, &mut issues) else {
            continue;
        };
        if rf.unit.as_str() != stem {
            issues.push(ConfigIssue {
                file: (*path).to_owned(),
                rule: None,
                message: format!(
                    "unit = {:?} but the file is named after {stem:?}; they must agree",
                    rf.unit.as_str()
                ),
            });
        }
        rule_units.push(((*path).to_owned(), rf.unit.clone()));
        for mut t in rf.topic {
            t.unit = Some(rf.unit.clone());
            t.file = (*path).to_owned();
            topics.push(t);
        }
    }

    if let Some(units) = &units {
        check_units(&units.unit, gazetteer.as_ref().map(|g| g.township.as_slice()), &mut issues);
        let ids: HashSet<&UnitId> = units.unit.iter().map(|u| &u.id).collect();
        for (file, unit) in &rule_units {
            if !ids.contains(unit) {
                issues.push(ConfigIssue {
                    file: file.clone(),
                    rule: None,
                    message: format!("unit {:?} is not defined in departments.toml", unit.as_str()),
                });
            }
        }
    }
    check_topics(&topics, &mut issues);

    match (county, gazetteer, units, township_words) {
        (Some(county), Some(g), Some(u), Some(tw)) if issues.is_empty() => {
            Ok(CountyConfig { county, townships: g.township, units: u.unit, township_words: tw, topics })
        }
        _ => Err(ConfigErrors(issues)),
    }
}

fn check_units(units: &[Unit], townships: Option<&[Township]>, issues: &mut Vec<ConfigIssue>) {
    let file = "departments.toml";
    let mut seen_ids = HashSet::default();
    let mut seen_names: HashMap<String, &str> = HashMap::default();
    for u in units {
        let mut issue = |m: String| {
            issues.push(ConfigIssue { file: file.into(), rule: Some(u.id.to_string()), message: m })
        };
        if !seen_ids.insert(&u.id) {
            issue("duplicate unit id".into());
        }
        if u.name.trim().is_empty() || u.full_name.trim().is_empty() {
            issue("name and full_name must not be empty".into());
        }
        for n in u.names() {
            let key = yuqing_text::normalize_term(n);
            if key.is_empty() {
                continue;
            }
            if let Some(other) = seen_names.get(&key) {
                if *other != u.id.as_str() {
                    issue(format!("name or alias {n:?} is also used by unit {other:?}"));
                }
            } else {
                seen_names.insert(key, u.id.as_str());
            }
        }
        match (u.kind, &u.township) {
            (UnitKind::Township, None) => {
                issue("a township unit needs `township = \"<gazetteer code>\"`".into())
            }
            (UnitKind::Township, Some(code)) => {
                if let Some(ts) = townships
                    && !ts.iter().any(|t| &t.code == code)
                {
                    issue(format!("township code {code} is not in gazetteer.toml"));
                }
            }
            (_, Some(_)) => {}
            (_, None) => {}
        }
    }
}

fn check_topics(topics: &[TopicDef], issues: &mut Vec<ConfigIssue>) {
    let mut seen = HashSet::default();
    // Words repeat across topics: normalise each distinct word once.
    let mut empty_after_normalising: HashMap<&str, bool> = HashMap::default();
    for t in topics {
        let mut issue = |m: String| {
            issues.push(ConfigIssue {
                file: t.file.clone(),
                rule: Some(format!("topic {}", t.id)),
                message: m,
            })
        };
        if t.id.ends_with(".named") {
            issue("topic ids ending in .named are reserved for the built-in topic of a unit's names".into());
        }
        if !seen.insert(t.id.as_str()) {
            issue("duplicate topic id (ids must be unique across all rule files)".into());
        }
        let groups_empty = t.region.is_empty() && t.subject.is_empty() && t.event.is_empty();
        if groups_empty && t.expr.is_none() {
            issue("a topic needs at least one of region, subject, event or expr".into());
        }
        for (group, words) in
            [("region", &t.region), ("subject", &t.subject), ("event", &t.event), ("exclude", &t.exclude)]
        {
            for w in words {
                let bare = w.strip_suffix('*').unwrap_or(w);
                if bare.contains('*') {
                    issue(format!("{group}: '*' is only allowed at the end of a word: {w:?}"));
                } else if *empty_after_normalising
                    .entry(bare)
                    .or_insert_with(|| yuqing_text::normalize_term(bare).is_empty())
                {
                    issue(format!("{group}: {w:?} is empty after normalisation"));
                }
            }
        }
        if let Some(src) = &t.expr {
            match crate::rules::expr::parse(src) {
                Ok(e) if groups_empty && !crate::rules::expr::requires_a_word(&e) => issue(
                    "expr: can match a post that contains none of its words; add a word it requires \
                     (for example `停水 AND NOT 演练`) or a word group"
                        .into(),
                ),
                Ok(e) => {
                    for term in crate::rules::expr::terms(&e) {
                        if let crate::rules::expr::Expr::Term { text, .. } = term
                            && yuqing_text::normalize_term(text).is_empty()
                        {
                            issue(format!("expr: {text:?} is empty after normalisation"));
                        }
                    }
                }
                Err(e) => issue(format!("expr {e}")),
            }
        }
    }
}
