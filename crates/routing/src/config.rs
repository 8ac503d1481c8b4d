//! `config/routing.toml`: parsed into a checked tree. Every problem is collected and named by
//! its route or key.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveTime};
use serde::Deserialize;
use yuqing_domain::{Jurisdiction, WarningLevel};

use crate::decide::{EscalationStep, StepTarget, UnitRole};
use crate::time::OfficeHours;

/// A unit as routing sees it (from `departments.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitInfo {
    pub name: String,
    pub full_name: String,
    pub jurisdiction: Jurisdiction,
}

/// Every problem found in the routing configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

/// How often a receiver hears about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Wait after an event first routes to a receiver before the first notification, to gather
    /// the first reposts into it.
    pub group_wait: Duration,
    /// At most one digest of new developments per this interval.
    pub group_interval: Duration,
    /// Sent again after this long while nobody has acknowledged.
    pub repeat_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            group_wait: Duration::zero(),
            group_interval: Duration::minutes(30),
            repeat_interval: Duration::hours(4),
        }
    }
}

/// What a route matches; an empty list matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers {
    pub department: Vec<String>,
    pub role: Vec<UnitRole>,
    pub topic: Vec<String>,
    pub township: Vec<String>,
    pub source_type: Vec<String>,
    pub jurisdiction: Vec<Jurisdiction>,
    /// The incident's level is at least this.
    pub level: Option<WarningLevel>,
    /// The event names a place in the county (or not).
    pub local: Option<bool>,
}

/// One checked route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    pub name: String,
    pub matchers: Matchers,
    /// Empty: inherits the parent's receiver.
    pub receiver: Option<String>,
    pub continue_: bool,
    pub timing: Timing,
    /// Shown with the notification (a 转办 note for units outside the county's jurisdiction).
    pub note: Option<String>,
    pub routes: Vec<RouteConfig>,
}

/// The checked routing configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingConfig {
    /// The root receiver: the press officers' triage desk.
    pub press_desk: String,
    pub defaults: Timing,
    pub routes: Vec<RouteConfig>,
    pub office_hours: OfficeHours,
    /// Outside office hours, events at this level or above wake the officials on night duty.
    pub wake_level: WarningLevel,
    pub inhibit: Vec<InhibitRule>,
    pub escalation: BTreeMap<WarningLevel, Vec<EscalationStep>>,
    /// Named receivers (groups of officials chosen by id, role or unit).
    pub receivers: BTreeMap<String, ReceiverDef>,
}

/// A named receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverDef {
    #[serde(default)]
    pub officials: Vec<String>,
    /// Officials of any unit with one of these roles (`press`, `leader`, …).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Every official of these units.
    #[serde(default)]
    pub units: Vec<String>,
    /// Robot groups (channel names) that also receive.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// An open event at `source_level` or above mutes lower-level alerts of other events that share
/// the `equal` labels with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitRule {
    pub source_level: WarningLevel,
    /// `township`, `department`, `topic` or `event`.
    pub equal: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    press_desk: String,
    #[serde(default)]
    defaults: RawTiming,
    #[serde(default)]
    office_hours: Option<RawOffice>,
    #[serde(default)]
    night: RawNight,
    #[serde(default)]
    receivers: BTreeMap<String, ReceiverDef>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    inhibit: Vec<RawInhibit>,
    #[serde(default)]
    escalation: BTreeMap<String, Vec<RawStep>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTiming {
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffice {
    timezone: String,
    days: Vec<String>,
    windows: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNight {
    wake_level: String,
}

impl Default for RawNight {
    fn default() -> Self {
        RawNight { wake_level: "orange".into() }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    department: Vec<String>,
    #[serde(default)]
    role: Vec<String>,
    #[serde(default)]
    topic: Vec<String>,
    #[serde(default)]
    township: Vec<String>,
    #[serde(default)]
    source_type: Vec<String>,
    #[serde(default)]
    jurisdiction: Vec<String>,
    level: Option<String>,
    local: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    #[serde(default, rename = "match")]
    matchers: RawMatch,
    receiver: Option<String>,
    /// `departments`: one child route per unit of the responsibility matrix.
    generate: Option<String>,
    #[serde(default, rename = "continue")]
    continue_: bool,
    #[serde(flatten)]
    timing: RawTiming,
    note: Option<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibit {
    source_level: String,
    #[serde(default)]
    equal: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    after: String,
    /// `head` (the head of the alerted unit) or a receiver name.
    to: String,
}

fn duration(s: &str, what: &str, errors: &mut Vec<String>) -> Option<Duration> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) => match Duration::from_std(d) {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push(format!("{what}: duration {s:?} is too long"));
                None
            }
        },
        Err(e) => {
            errors.push(format!("{what}: {s:?} is not a duration ({e}; write e.g. \"30m\", \"4h\")"));
            None
        }
    }
}

fn level(s: &str, what: &str, errors: &mut Vec<String>) -> Option<WarningLevel> {
    match WarningLevel::parse(s) {
        Ok(l) => Some(l),
        Err(e) => {
            errors.push(format!("{what}: {e}"));
            None
        }
    }
}

fn timing(raw: &RawTiming, parent: Timing, what: &str, errors: &mut Vec<String>) -> Timing {
    let mut t = parent;
    if let Some(d) = raw.group_wait.as_deref().and_then(|s| duration(s, what, errors)) {
        t.group_wait = d;
    }
    if let Some(d) = raw.group_interval.as_deref().and_then(|s| duration(s, what, errors)) {
        t.group_interval = d;
    }
    if let Some(d) = raw.repeat_interval.as_deref().and_then(|s| duration(s, what, errors)) {
        t.repeat_interval = d;
    }
    t
}

fn jurisdiction_label(j: Jurisdiction) -> &'static str {
    match j {
        Jurisdiction::County => "本县",
        Jurisdiction::Prefecture => "州级单位",
        Jurisdiction::Xpcc => "兵团单位",
        Jurisdiction::Vertical => "垂直管理单位",
        Jurisdiction::Enterprise => "企业",
    }
}

struct Ctx<'a> {
    units: &'a [UnitInfo],
    receivers: &'a BTreeMap<String, ReceiverDef>,
    press_desk: &'a str,
    errors: Vec<String>,
}

impl Ctx<'_> {
    fn known_receiver(&self, name: &str) -> bool {
        self.receivers.contains_key(name) || self.units.iter().any(|u| u.name == name)
    }

    fn matchers(&mut self, raw: &RawMatch, what: &str) -> Matchers {
        let mut m = Matchers {
            department: raw.department.clone(),
            topic: raw.topic.clone(),
            township: raw.township.clone(),
            source_type: raw.source_type.clone(),
            local: raw.local,
            ..Matchers::default()
        };
        for d in &raw.department {
            if !self.units.iter().any(|u| &u.name == d) {
                self.errors.push(format!("{what}: match.department {d:?} is not a unit of departments.toml"));
            }
        }
        for r in &raw.role {
            match UnitRole::parse(r) {
                Some(role) => m.role.push(role),
                None => self
                    .errors
                    .push(format!("{what}: match.role {r:?} is not one of lead, co, territorial, conduct")),
            }
        }
        for j in &raw.jurisdiction {
            match j.as_str() {
                "county" => m.jurisdiction.push(Jurisdiction::County),
                "prefecture" => m.jurisdiction.push(Jurisdiction::Prefecture),
                "xpcc" => m.jurisdiction.push(Jurisdiction::Xpcc),
                "vertical" => m.jurisdiction.push(Jurisdiction::Vertical),
                "enterprise" => m.jurisdiction.push(Jurisdiction::Enterprise),
                other => self.errors.push(format!("{what}: match.jurisdiction {other:?} is unknown")),
            }
        }
        if let Some(l) = &raw.level {
            m.level = level(l, &format!("{what}: match.level"), &mut self.errors);
        }
        m
    }

    fn route(&mut self, raw: &RawRoute, parent: Timing, path: &str) -> RouteConfig {
        let what = format!("route {path}{}", raw.name);
        let mut matchers = self.matchers(&raw.matchers, &what);
        if raw.generate.is_some() && matchers.department.is_empty() {
            // A generated route is about units: an event with none goes on to the root.
            matchers.department = self.units.iter().map(|u| u.name.clone()).collect();
        }
        let timing = timing(&raw.timing, parent, &what, &mut self.errors);
        if let Some(r) = &raw.receiver
            && !self.known_receiver(r)
        {
            self.errors.push(format!(
                "{what}: receiver {r:?} is neither a unit of departments.toml nor defined under [receivers]"
            ));
        }
        let mut routes: Vec<RouteConfig> = Vec::new();
        match raw.generate.as_deref() {
            None => {}
            Some("departments") => {
                if raw.receiver.is_some() || !raw.routes.is_empty() {
                    self.errors.push(format!("{what}: a generated route takes no receiver or child routes"));
                }
                for u in self.units {
                    let (receiver, note) = if u.jurisdiction.is_county() {
                        (u.name.clone(), None)
                    } else {
                        (
                            self.press_desk.to_string(),
                            Some(format!(
                                "转办：{}属{}，不归本县管辖，请宣传部（网信办）转交其处理并跟踪",
                                u.full_name,
                                jurisdiction_label(u.jurisdiction)
                            )),
                        )
                    };
                    routes.push(RouteConfig {
                        name: u.name.clone(),
                        matchers: Matchers { department: vec![u.name.clone()], ..Matchers::default() },
                        receiver: Some(receiver),
                        continue_: false,
                        timing,
                        note,
                        routes: Vec::new(),
                    });
                }
            }
            Some(other) => {
                self.errors.push(format!("{what}: generate = {other:?}; only \"departments\" is known"))
            }
        }
        let child_path = format!("{path}{}/", raw.name);
        for child in &raw.routes {
            routes.push(self.route(child, timing, &child_path));
        }
        if raw.receiver.is_none() && raw.generate.is_none() && raw.routes.is_empty() {
            self.errors.push(format!("{what}: has neither a receiver nor child routes"));
        }
        RouteConfig {
            name: raw.name.clone(),
            matchers,
            receiver: raw.receiver.clone(),
            continue_: raw.continue_,
            timing,
            note: raw.note.clone(),
            routes,
        }
    }
}

impl RoutingConfig {
    /// Parses `routing.toml` against the units of the responsibility matrix. `file` names the file
    /// in errors.
    pub fn parse(file: &str, text: &str, units: &[UnitInfo]) -> Result<RoutingConfig, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError(vec![format!("{file}: {e}")]))?;
        let mut errors = Vec::new();
        let defaults = timing(&raw.defaults, Timing::default(), "[defaults]", &mut errors);
        let office_hours = match &raw.office_hours {
            None => OfficeHours::xinjiang_default(),
            Some(o) => match OfficeHours::parse(&o.timezone, &o.days, &o.windows) {
                Ok(h) => h,
                Err(e) => {
                    errors.push(format!("[office_hours]: {e}"));
                    OfficeHours::xinjiang_default()
                }
            },
        };
        let wake_level =
            level(&raw.night.wake_level, "[night] wake_level", &mut errors).unwrap_or(WarningLevel::Orange);
        let mut inhibit = Vec::new();
        for (i, r) in raw.inhibit.iter().enumerate() {
            let what = format!("[[inhibit]] #{}", i + 1);
            for e in &r.equal {
                if !matches!(e.as_str(), "township" | "department" | "topic" | "event") {
                    errors.push(format!(
                        "{what}: equal {e:?} is not one of township, department, topic, event"
                    ));
                }
            }
            if let Some(source_level) = level(&r.source_level, &what, &mut errors) {
                inhibit.push(InhibitRule { source_level, equal: r.equal.clone() });
            }
        }
        let mut ctx = Ctx { units, receivers: &raw.receivers, press_desk: &raw.press_desk, errors };
        if !ctx.known_receiver(&raw.press_desk) {
            ctx.errors.push(format!("press_desk {:?} is not a receiver", raw.press_desk));
        }
        let mut escalation = BTreeMap::new();
        for (l, steps) in &raw.escalation {
            let what = format!("[escalation] {l}");
            let Some(lvl) = level(l, &what, &mut ctx.errors) else { continue };
            let mut out: Vec<EscalationStep> = Vec::new();
            for s in steps {
                let Some(after) = duration(&s.after, &what, &mut ctx.errors) else { continue };
                if out.last().is_some_and(|p| p.after >= after) {
                    ctx.errors.push(format!("{what}: steps must come in increasing `after` order"));
                }
                let to = if s.to == "head" {
                    StepTarget::Head
                } else {
                    if !ctx.known_receiver(&s.to) {
                        ctx.errors
                            .push(format!("{what}: to = {:?} is neither \"head\" nor a receiver", s.to));
                    }
                    StepTarget::Receiver(s.to.clone())
                };
                out.push(EscalationStep { after, to });
            }
            escalation.insert(lvl, out);
        }
        let routes: Vec<RouteConfig> = raw.routes.iter().map(|r| ctx.route(r, defaults, "")).collect();
        fn check_names(rs: &[RouteConfig], path: &str, errors: &mut Vec<String>) {
            let mut names = std::collections::BTreeSet::new();
            for r in rs {
                if !names.insert(r.name.as_str()) {
                    errors.push(format!("route name {path}{} is used twice", r.name));
                }
                check_names(&r.routes, &format!("{path}{}/", r.name), errors);
            }
        }
        check_names(&routes, "", &mut ctx.errors);
        let errors = ctx.errors;
        if !errors.is_empty() {
            return Err(ConfigError(errors.into_iter().map(|e| format!("{file}: {e}")).collect()));
        }
        Ok(RoutingConfig {
            press_desk: raw.press_desk,
            defaults,
            routes,
            office_hours,
            wake_level,
            inhibit,
            escalation,
            receivers: raw.receivers,
        })
    }
}

pub(crate) fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}
