//! `config/officials.toml`: the officials who receive alerts, their roles and contacts, and the
//! robot groups (WeCom / DingTalk / Feishu group chats) of each unit. A later issue moves this into
//! web administration; the shape stays.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::config::{ReceiverDef, RoutingConfig, UnitInfo};

/// What an official does in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficialRole {
    /// 舆情联络员: the unit's first contact, acknowledges and drafts.
    Officer,
    /// The unit's head (分管领导 / 局长): the first escalation step.
    Head,
    /// County leadership (县领导): the last escalation step.
    Leader,
    /// Press officers of the triage desk (宣传部 / 网信办).
    Press,
}

impl OfficialRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OfficialRole::Officer => "officer",
            OfficialRole::Head => "head",
            OfficialRole::Leader => "leader",
            OfficialRole::Press => "press",
        }
    }
}

/// Where an official can be reached: a configured channel and the address on it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub channel: String,
    /// Phone, e-mail address or chat id; none for a channel that has one destination.
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Official {
    pub id: String,
    pub name: String,
    /// The unit (name as in departments.toml).
    pub unit: String,
    pub role: OfficialRole,
    /// May be woken outside office hours for events at the wake level or above.
    #[serde(default)]
    pub night: bool,
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

/// A unit's group chat robot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotGroup {
    pub unit: String,
    pub channel: String,
    /// Posts outside office hours for events at the wake level or above.
    #[serde(default)]
    pub night: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    official: Vec<Official>,
    #[serde(default)]
    group: Vec<RobotGroup>,
}

/// The checked directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    pub officials: Vec<Official>,
    pub groups: Vec<RobotGroup>,
}

/// Who a receiver reaches at one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members<'a> {
    pub officials: Vec<&'a Official>,
    pub groups: Vec<&'a RobotGroup>,
}

impl Directory {
    /// Parses `officials.toml`, checking units, unique ids and that every contact's channel is one
    /// of `channels`.
    pub fn parse(
        file: &str,
        text: &str,
        units: &[UnitInfo],
        channels: &BTreeSet<String>,
    ) -> Result<Directory, crate::ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| crate::ConfigError(vec![format!("{file}: {e}")]))?;
        let mut errors = Vec::new();
        let mut ids = BTreeSet::new();
        let known_unit = |u: &str| units.iter().any(|x| x.name == u);
        for o in &raw.official {
            if !ids.insert(o.id.as_str()) {
                errors.push(format!("{file}: official id {:?} is used twice", o.id));
            }
            if !known_unit(&o.unit) {
                errors
                    .push(format!("{file}: official {}: unit {:?} is not in departments.toml", o.id, o.unit));
            }
            for c in &o.contacts {
                if !channels.contains(&c.channel) {
                    errors.push(format!(
                        "{file}: official {}: channel {:?} is not configured",
                        o.id, c.channel
                    ));
                }
            }
        }
        for g in &raw.group {
            if !known_unit(&g.unit) {
                errors.push(format!(
                    "{file}: group {}: unit {:?} is not in departments.toml",
                    g.channel, g.unit
                ));
            }
            if !channels.contains(&g.channel) {
                errors
                    .push(format!("{file}: group for {}: channel {:?} is not configured", g.unit, g.channel));
            }
        }
        if !errors.is_empty() {
            return Err(crate::ConfigError(errors));
        }
        Ok(Directory { officials: raw.official, groups: raw.group })
    }

    pub fn official(&self, id: &str) -> Option<&Official> {
        self.officials.iter().find(|o| o.id == id)
    }

    /// The members of a receiver: a named receiver of `routing.toml`, else a unit (its officers
    /// and its robot groups). `head_of` resolves the escalation step `head`: the heads of that unit.
    pub fn members<'a>(&'a self, config: &RoutingConfig, receiver: &str) -> Members<'a> {
        match config.receivers.get(receiver) {
            Some(def) => self.named(def),
            None => Members {
                officials: self
                    .officials
                    .iter()
                    .filter(|o| o.unit == receiver && o.role == OfficialRole::Officer)
                    .collect(),
                groups: self.groups.iter().filter(|g| g.unit == receiver).collect(),
            },
        }
    }

    /// The heads of a unit (or, for a named receiver, the heads of its units).
    pub fn heads<'a>(&'a self, config: &RoutingConfig, receiver: &str) -> Members<'a> {
        let units: Vec<&str> = match config.receivers.get(receiver) {
            Some(def) => def.units.iter().map(String::as_str).collect(),
            None => vec![receiver],
        };
        Members {
            officials: self
                .officials
                .iter()
                .filter(|o| units.contains(&o.unit.as_str()) && o.role == OfficialRole::Head)
                .collect(),
            groups: Vec::new(),
        }
    }

    fn named<'a>(&'a self, def: &ReceiverDef) -> Members<'a> {
        let mut seen: BTreeMap<&str, &'a Official> = BTreeMap::new();
        for o in &self.officials {
            if def.officials.contains(&o.id)
                || def.roles.iter().any(|r| r == o.role.as_str())
                || def.units.contains(&o.unit)
            {
                seen.insert(o.id.as_str(), o);
            }
        }
        Members {
            officials: seen.into_values().collect(),
            groups: self.groups.iter().filter(|g| def.groups.contains(&g.channel)).collect(),
        }
    }
}
