//! Domain values of Yuqing: the county, its units (departments, township governments, branches),
//! the gazetteer, and the documents the analysis reads.
//!
//! This crate does no IO, no async and never reads the clock. Values that have rules are newtypes
//! with private fields and a fallible `parse` (parse, don't validate); configuration structs derive
//! `Deserialize` with `deny_unknown_fields` so a typo in a TOML file is an error, not a default.

use std::fmt;

use serde::{Deserialize, Serialize};

mod document;

pub use document::{Document, Field, Lang, SentimentLabel};

/// Why a domain value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("unit id {0:?} must be 1-64 characters of a-z, 0-9 and '-'")]
    UnitId(String),
    #[error("division code {0:?} must be 6, 9 or 12 ASCII digits")]
    DivisionCode(String),
    #[error("{0}")]
    Invalid(String),
}

/// Stable ASCII identifier of a unit (`housing`, `township-654025104`); rule files are named after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UnitId(String);

impl UnitId {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(s.to_owned())) } else { Err(DomainError::UnitId(s.to_owned())) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UnitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        UnitId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An NBS administrative division code (6 digits for a county, 9 for a township, 12 for a village).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DivisionCode(String);

impl DivisionCode {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = matches!(s.len(), 6 | 9 | 12) && s.bytes().all(|b| b.is_ascii_digit());
        if ok { Ok(Self(s.to_owned())) } else { Err(DomainError::DivisionCode(s.to_owned())) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DivisionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DivisionCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What kind of body a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A county government department (局/委/办).
    Department,
    /// A township-level government (乡/镇人民政府, 场).
    Township,
    /// A management committee such as the 那拉提 scenic area's 管委会.
    Committee,
    /// A public utility or service enterprise (供电, 通信, 邮政).
    Utility,
    /// A branch of a higher-level or other body working in the county (生态环境分局, 税务, XPCC).
    Branch,
    /// Courts and procuratorates.
    Judicial,
    /// Party organs (宣传部, 网信办, 纪委监委).
    Party,
}

/// Whose authority a unit answers to; units outside the county's own jurisdiction are handled by
/// 转办 (forwarding), not by county deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jurisdiction {
    County,
    Prefecture,
    /// 新疆生产建设兵团: regiments inside the county are a different jurisdiction.
    Xpcc,
    /// Vertically managed bodies (税务, 气象, 海关).
    Vertical,
    Enterprise,
}

impl Jurisdiction {
    pub fn is_county(self) -> bool {
        self == Jurisdiction::County
    }
}

/// A body that concerns can be assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub id: UnitId,
    /// Canonical short name, without the county prefix (`住房和城乡建设局`).
    pub name: String,
    /// Official full name (`新源县住房和城乡建设局`).
    pub full_name: String,
    /// Older and colloquial names (`住建局`, `建设局`).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub kind: UnitKind,
    pub jurisdiction: Jurisdiction,
    /// For township governments: the gazetteer code of the township they govern.
    #[serde(default)]
    pub township: Option<DivisionCode>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Unit {
    /// The name and every alias, the forms by which a post can name the unit.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str())
            .chain(std::iter::once(self.full_name.as_str()))
            .chain(self.aliases.iter().map(String::as_str))
    }
}

/// Township-level division kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TownshipKind {
    Town,
    Township,
    Farm,
    /// An XPCC regiment (兵团…团): inside the county's territory, outside its jurisdiction.
    Regiment,
}

/// A township-level division and its villages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Township {
    pub code: DivisionCode,
    pub name: String,
    #[serde(default)]
    pub short: Vec<String>,
    pub kind: TownshipKind,
    pub jurisdiction: Jurisdiction,
    #[serde(default)]
    pub villages: Vec<String>,
}

/// The county itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct County {
    pub code: DivisionCode,
    pub name: String,
    #[serde(default)]
    pub short: Vec<String>,
    pub prefecture: String,
    #[serde(default)]
    pub prefecture_short: Vec<String>,
    #[serde(default)]
    pub other_names: Vec<String>,
    #[serde(default)]
    pub landmarks: Vec<String>,
}

/// 舆情预警级别: the computed warning level of an event, which drives notification. It comes from
/// heat, negativity, risk words and the topic's policy, never from the language of the posts.
/// (The 突发事件等级 of an incident is a separate, human decision.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    /// 蓝 一般
    Blue,
    /// 黄 较大
    Yellow,
    /// 橙 重大
    Orange,
    /// 红 特别重大
    Red,
}

impl WarningLevel {
    pub const ALL: [WarningLevel; 4] =
        [WarningLevel::Blue, WarningLevel::Yellow, WarningLevel::Orange, WarningLevel::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            WarningLevel::Blue => "blue",
            WarningLevel::Yellow => "yellow",
            WarningLevel::Orange => "orange",
            WarningLevel::Red => "red",
        }
    }

    /// The colour as officials say it: 蓝 / 黄 / 橙 / 红.
    pub fn label(self) -> &'static str {
        match self {
            WarningLevel::Blue => "蓝",
            WarningLevel::Yellow => "黄",
            WarningLevel::Orange => "橙",
            WarningLevel::Red => "红",
        }
    }

    /// Accepts `blue`…`red`, the colour characters and 一般/较大/重大/特别重大.
    pub fn parse(s: &str) -> Result<WarningLevel, DomainError> {
        Ok(match s.trim() {
            "blue" | "蓝" | "蓝色" | "一般" => WarningLevel::Blue,
            "yellow" | "黄" | "黄色" | "较大" => WarningLevel::Yellow,
            "orange" | "橙" | "橙色" | "重大" => WarningLevel::Orange,
            "red" | "红" | "红色" | "特别重大" => WarningLevel::Red,
            other => {
                return Err(DomainError::Invalid(format!(
                    "unknown warning level {other:?} (blue, yellow, orange, red)"
                )));
            }
        })
    }
}

impl fmt::Display for WarningLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The first notification of an event to a receiver.
    New,
    /// New developments since the last notification (grouped).
    Digest,
    /// Still unacknowledged: sent again.
    Repeat,
    /// The event's warning level went up.
    Upgrade,
    /// Not acknowledged in time: sent to the next step of the escalation chain.
    Escalation,
    /// A case reminder or clock warning (cases).
    Reminder,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::New => "new",
            NoticeKind::Digest => "digest",
            NoticeKind::Repeat => "repeat",
            NoticeKind::Upgrade => "upgrade",
            NoticeKind::Escalation => "escalation",
            NoticeKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        Some(match s {
            "new" => NoticeKind::New,
            "digest" => NoticeKind::Digest,
            "repeat" => NoticeKind::Repeat,
            "upgrade" => NoticeKind::Upgrade,
            "escalation" => NoticeKind::Escalation,
            "reminder" => NoticeKind::Reminder,
            _ => return None,
        })
    }

    /// The words a reader sees (Chinese, as the officials read it).
    pub fn label(self) -> &'static str {
        match self {
            NoticeKind::New => "新舆情",
            NoticeKind::Digest => "舆情进展",
            NoticeKind::Repeat => "未签收提醒",
            NoticeKind::Upgrade => "预警升级",
            NoticeKind::Escalation => "逾期未签收·升级报告",
            NoticeKind::Reminder => "办理时限提醒",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_id_accepts_lowercase_ascii_and_rejects_the_rest() {
        assert!(UnitId::parse("township-654025104").is_ok());
        for bad in ["", "Housing", "住建", "a b", &"x".repeat(65)] {
            assert!(UnitId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn division_code_lengths() {
        assert!(DivisionCode::parse("654025").is_ok());
        assert!(DivisionCode::parse("654025104").is_ok());
        assert!(DivisionCode::parse("65402510").is_err());
        assert!(DivisionCode::parse("65402a104").is_err());
    }

    #[test]
    fn unknown_unit_fields_are_refused() {
        let toml_like = serde_json::json!({
            "id": "housing", "name": "住房和城乡建设局", "full_name": "新源县住房和城乡建设局",
            "kind": "department", "jurisdiction": "county", "colour": "red"
        });
        let err = serde_json::from_value::<Unit>(toml_like).unwrap_err().to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }
}
