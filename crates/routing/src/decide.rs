//! The routing tree as a pure function, grouping (when a digest or repeat is due) and escalation.

use chrono::{DateTime, Duration, Utc};
use yuqing_domain::{Jurisdiction, NoticeKind, WarningLevel};

use crate::config::{Matchers, RouteConfig, RoutingConfig, Timing};

/// The part a unit plays in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitRole {
    /// 牵头: the first functional department.
    Lead,
    /// 配合: further functional departments.
    Co,
    /// 属地: the government of a township the event names.
    Territorial,
    /// A township government whose own conduct the event is about.
    Conduct,
}

impl UnitRole {
    pub fn parse(s: &str) -> Option<UnitRole> {
        Some(match s {
            "lead" => UnitRole::Lead,
            "co" => UnitRole::Co,
            "territorial" => UnitRole::Territorial,
            "conduct" => UnitRole::Conduct,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UnitRole::Lead => "lead",
            UnitRole::Co => "co",
            UnitRole::Territorial => "territorial",
            UnitRole::Conduct => "conduct",
        }
    }
}

/// A unit an event concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUnit {
    pub name: String,
    pub role: UnitRole,
    pub jurisdiction: Jurisdiction,
}

/// An event at a warning level, as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub event_id: i64,
    pub level: WarningLevel,
    /// Lead first.
    pub units: Vec<IncidentUnit>,
    pub topics: Vec<String>,
    pub townships: Vec<String>,
    pub source_types: Vec<String>,
    pub local: bool,
}

/// An open event other than the one being routed (for inhibition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveEvent {
    pub event_id: i64,
    pub level: WarningLevel,
    pub townships: Vec<String>,
    pub departments: Vec<String>,
    pub topics: Vec<String>,
}

/// A silence: matching notifications are not sent while it is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: i64,
    pub matchers: Matchers,
    /// Only this event, when set.
    pub event_id: Option<i64>,
    /// Only this receiver, when set.
    pub receiver: Option<String>,
    pub creator: String,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Silence {
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// A receiver to notify about an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub receiver: String,
    /// The unit the notification is about (the department it shows), if any.
    pub department: Option<String>,
    /// The route that chose it (`parent/child` path).
    pub route: String,
    pub timing: Timing,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuteReason {
    Silenced { silence_id: i64 },
    Inhibited { by_event: i64 },
}

/// A receiver that would have been notified, and why it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Muted {
    pub target: Target,
    pub reason: MuteReason,
}

/// The routing decision for one incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub notify: Vec<Target>,
    pub muted: Vec<Muted>,
}

/// Where an escalation step goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepTarget {
    /// The head(s) of the alerted unit.
    Head,
    /// A named receiver (county leadership).
    Receiver(String),
}

/// One step of an escalation chain: taken when nobody acknowledged within `after` of the first
/// notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    pub after: Duration,
    pub to: StepTarget,
}

/// The routing tree, ready to decide.
#[derive(Debug, Clone)]
pub struct Router {
    pub config: RoutingConfig,
}

struct Subject<'a> {
    incident: &'a Incident,
    unit: Option<&'a IncidentUnit>,
}

fn any_in(wanted: &[String], have: &[String]) -> bool {
    wanted.is_empty() || have.iter().any(|h| wanted.contains(h))
}

fn matches(m: &Matchers, s: &Subject) -> bool {
    let i = s.incident;
    (m.department.is_empty() || s.unit.is_some_and(|u| m.department.contains(&u.name)))
        && (m.role.is_empty() || s.unit.is_some_and(|u| m.role.contains(&u.role)))
        && (m.jurisdiction.is_empty() || s.unit.is_some_and(|u| m.jurisdiction.contains(&u.jurisdiction)))
        && any_in(&m.topic, &i.topics)
        && any_in(&m.township, &i.townships)
        && any_in(&m.source_type, &i.source_types)
        && m.level.is_none_or(|l| i.level >= l)
        && m.local.is_none_or(|l| i.local == l)
}

impl Router {
    pub fn new(config: RoutingConfig) -> Router {
        Router { config }
    }

    /// Who to notify about `incident` at `now`, given the other open events (for inhibition) and
    /// the silences. Pure: the same inputs give the same decision.
    pub fn decide(
        &self,
        incident: &Incident,
        active: &[ActiveEvent],
        silences: &[Silence],
        now: DateTime<Utc>,
    ) -> Decision {
        let mut targets: Vec<Target> = Vec::new();
        let subjects: Vec<Subject> = if incident.units.is_empty() {
            vec![Subject { incident, unit: None }]
        } else {
            incident.units.iter().map(|u| Subject { incident, unit: Some(u) }).collect()
        };
        for s in &subjects {
            let mut found = Vec::new();
            walk(&self.config.routes, s, &self.config.press_desk, "", &mut found);
            if found.is_empty() {
                found.push(Target {
                    receiver: self.config.press_desk.clone(),
                    department: None,
                    route: "root".into(),
                    timing: self.config.defaults,
                    note: None,
                });
            }
            for mut t in found {
                t.department = s.unit.map(|u| u.name.clone());
                // One notification per receiver per event: the first route (lead unit first) wins;
                // a later unit's note is kept.
                match targets.iter_mut().find(|x| x.receiver == t.receiver) {
                    Some(x) => {
                        if let Some(n) = t.note
                            && x.note.as_deref() != Some(n.as_str())
                        {
                            x.note = Some(match x.note.take() {
                                Some(old) => format!("{old}；{n}"),
                                None => n,
                            });
                        }
                    }
                    None => targets.push(t),
                }
            }
        }
        let mut decision = Decision::default();
        for t in targets {
            if let Some(by) = self.inhibited_by(incident, &t, active) {
                decision.muted.push(Muted { target: t, reason: MuteReason::Inhibited { by_event: by } });
            } else if let Some(s) = silences.iter().find(|s| silence_matches(s, incident, &t, now)) {
                decision.muted.push(Muted { target: t, reason: MuteReason::Silenced { silence_id: s.id } });
            } else {
                decision.notify.push(t);
            }
        }
        decision
    }

    fn inhibited_by(&self, incident: &Incident, t: &Target, active: &[ActiveEvent]) -> Option<i64> {
        for rule in &self.config.inhibit {
            if incident.level >= rule.source_level {
                continue;
            }
            for a in active {
                if a.level < rule.source_level {
                    continue;
                }
                if a.event_id == incident.event_id && !rule.equal.iter().any(|e| e == "event") {
                    continue;
                }
                let shares = rule.equal.iter().all(|e| match e.as_str() {
                    "event" => a.event_id == incident.event_id,
                    "township" => incident.townships.iter().any(|x| a.townships.contains(x)),
                    "department" => t.department.as_ref().is_some_and(|d| a.departments.contains(d)),
                    "topic" => incident.topics.iter().any(|x| a.topics.contains(x)),
                    _ => false,
                });
                if shares {
                    return Some(a.event_id);
                }
            }
        }
        None
    }

    /// The escalation step due for an alert at `level`, first notified at `first_notified`, of which
    /// `steps_taken` steps have already been taken; `None` when no further step is due yet.
    pub fn escalation_due(
        &self,
        level: WarningLevel,
        first_notified: DateTime<Utc>,
        steps_taken: usize,
        now: DateTime<Utc>,
    ) -> Option<(usize, &EscalationStep)> {
        let steps = self.config.escalation.get(&level)?;
        let step = steps.get(steps_taken)?;
        (now >= first_notified + step.after).then_some((steps_taken, step))
    }

    /// When the next escalation step would fall due, if there is one.
    pub fn next_escalation_at(
        &self,
        level: WarningLevel,
        first_notified: DateTime<Utc>,
        steps_taken: usize,
    ) -> Option<DateTime<Utc>> {
        let step = self.config.escalation.get(&level)?.get(steps_taken)?;
        Some(first_notified + step.after)
    }

    /// When a message to someone who may (`night`) or may not be woken can go out: now in office
    /// hours; at night only for events at the wake level or above and people on night duty; else
    /// at the next office window.
    pub fn not_before(&self, level: WarningLevel, night: bool, now: DateTime<Utc>) -> DateTime<Utc> {
        if night && level >= self.config.wake_level { now } else { self.config.office_hours.next_open(now) }
    }
}

/// Alertmanager's walk: a matching route whose children match delegates to them; otherwise it is
/// the leaf that notifies. Siblings after a match are tried only with `continue`.
fn walk(routes: &[RouteConfig], s: &Subject, inherited: &str, path: &str, out: &mut Vec<Target>) -> bool {
    let mut any = false;
    for r in routes {
        if !matches(&r.matchers, s) {
            continue;
        }
        any = true;
        let receiver = r.receiver.as_deref().unwrap_or(inherited);
        let here = format!("{path}{}", r.name);
        if !walk(&r.routes, s, receiver, &format!("{here}/"), out) {
            out.push(Target {
                receiver: receiver.to_string(),
                department: None,
                route: here,
                timing: r.timing,
                note: r.note.clone(),
            });
        }
        if !r.continue_ {
            break;
        }
    }
    any
}

fn silence_matches(s: &Silence, i: &Incident, t: &Target, now: DateTime<Utc>) -> bool {
    if !s.active(now) {
        return false;
    }
    if s.event_id.is_some_and(|e| e != i.event_id) || s.receiver.as_ref().is_some_and(|r| r != &t.receiver) {
        return false;
    }
    let unit = i.units.iter().find(|u| Some(&u.name) == t.department.as_ref());
    matches(&s.matchers, &Subject { incident: i, unit })
}

/// What one alert (an event at one receiver) has been through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertState {
    /// The event's current level.
    pub level: WarningLevel,
    /// The level last notified; `None` before the first notification.
    pub notified_level: Option<WarningLevel>,
    /// When the alert was created (the event first routed here).
    pub created_at: DateTime<Utc>,
    pub last_notified_at: Option<DateTime<Utc>>,
    /// Posts that joined the event since the last notification.
    pub new_posts: u32,
    pub acknowledged: bool,
    pub resolved: bool,
}

/// Whether a notification is due for an alert now, and if not, when to look again.
pub fn next_notice(
    a: &AlertState,
    timing: &Timing,
    now: DateTime<Utc>,
) -> (Option<NoticeKind>, Option<DateTime<Utc>>) {
    if a.resolved {
        return (None, None);
    }
    let (Some(notified), Some(last)) = (a.notified_level, a.last_notified_at) else {
        let at = a.created_at + timing.group_wait;
        return if now >= at { (Some(NoticeKind::New), None) } else { (None, Some(at)) };
    };
    if a.level > notified {
        return (Some(NoticeKind::Upgrade), None);
    }
    let digest_at = (a.new_posts > 0).then(|| last + timing.group_interval);
    let repeat_at = (!a.acknowledged).then(|| last + timing.repeat_interval);
    if digest_at.is_some_and(|t| now >= t) {
        return (Some(NoticeKind::Digest), None);
    }
    if repeat_at.is_some_and(|t| now >= t) {
        return (Some(NoticeKind::Repeat), None);
    }
    let next = match (digest_at, repeat_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (None, next)
}
