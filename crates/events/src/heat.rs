//! Heat and warning level of an event.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use yuqing_domain::WarningLevel;

/// How much a source's word weighs: central media > provincial > prefecture > local > forum/social.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceTier {
    Social,
    Forum,
    #[default]
    Local,
    Prefecture,
    Provincial,
    Central,
}

impl SourceTier {
    pub fn weight(self) -> f32 {
        match self {
            SourceTier::Central => 1.0,
            SourceTier::Provincial => 0.8,
            SourceTier::Prefecture => 0.65,
            SourceTier::Local => 0.5,
            SourceTier::Forum | SourceTier::Social => 0.35,
        }
    }

    pub fn parse(s: &str) -> Option<SourceTier> {
        Some(match s {
            "central" => SourceTier::Central,
            "provincial" => SourceTier::Provincial,
            "prefecture" => SourceTier::Prefecture,
            "local" => SourceTier::Local,
            "forum" => SourceTier::Forum,
            "social" => SourceTier::Social,
            _ => return None,
        })
    }
}

/// What an event has gathered; persisted with the event (JSON) so a restart resumes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventStats {
    pub posts: u32,
    /// Copies of its posts seen elsewhere (exact duplicates are counted on their original).
    pub reposts: u64,
    pub engagement: u64,
    /// Distinct sources, sorted.
    pub sources: Vec<String>,
    pub max_tier: SourceTier,
    /// Some post names a place in the county.
    pub local: bool,
    /// Sum of the posts' negativity in [0, 1] (mean = sum / posts).
    pub negativity_sum: f32,
    pub max_risk: f32,
    pub risk_words: Vec<String>,
    /// Some post looks like an official denial or 辟谣.
    pub rumour: bool,
    /// Departments or townships whose activity spiked when posts of this event arrived.
    pub spikes: Vec<String>,
    /// Times of the newest posts (at most [`EventStats::RECENT`]), for velocity.
    pub recent: Vec<DateTime<Utc>>,
    /// How many posts named each department (`d:`), topic (`t:`) and township (`w:`).
    #[serde(default)]
    pub tally: BTreeMap<String, u32>,
}

impl EventStats {
    pub const RECENT: usize = 256;

    /// The values of one tally kind (`d`, `t`, `w`) that at least a fifth of the posts share, most
    /// frequent first, in `order` for ties; at least the most frequent one. An event that gathered
    /// many posts is routed by what it is mostly about, not by every word one post happened to use.
    pub fn main(&self, kind: char, order: &[String]) -> Vec<String> {
        let count = |v: &String| self.tally.get(&format!("{kind}:{v}")).copied().unwrap_or(0);
        let mut v: Vec<(usize, &String)> = order.iter().enumerate().collect();
        v.sort_by(|a, b| count(b.1).cmp(&count(a.1)).then(a.0.cmp(&b.0)));
        let floor = (self.posts as f32 / 5.0).ceil().max(1.0) as u32;
        let mut out: Vec<String> =
            v.iter().filter(|(_, x)| count(x) >= floor).map(|(_, x)| (*x).clone()).collect();
        if out.is_empty()
            && let Some((_, first)) = v.first()
        {
            out.push((*first).clone());
        }
        out
    }

    pub fn negativity(&self) -> f32 {
        if self.posts == 0 { 0.0 } else { self.negativity_sum / self.posts as f32 }
    }

    /// Posts in the hour before the newest one.
    pub fn velocity(&self) -> u32 {
        let Some(last) = self.recent.iter().max() else { return 0 };
        let from = *last - Duration::hours(1);
        self.recent.iter().filter(|t| **t > from).count() as u32
    }

    pub(crate) fn add_time(&mut self, t: DateTime<Utc>) {
        let at = self.recent.partition_point(|x| *x <= t);
        self.recent.insert(at, t);
        if self.recent.len() > Self::RECENT {
            self.recent.remove(0);
        }
    }
}

/// The heat index in [0, 100).
pub fn heat(s: &EventStats) -> f32 {
    let volume = s.posts as f32 + s.reposts as f32;
    // Volume weighs most: many people raising one matter is the signal; likes on one post count,
    // but less than that.
    let raw = 3.0 * volume.ln_1p()
        + 3.0 * (s.sources.len() as f32).ln_1p()
        + 2.0 * (s.velocity() as f32).ln_1p()
        + (s.engagement as f32 / 20.0).ln_1p()
        + 4.0 * s.max_tier.weight();
    let h = 100.0 * (1.0 - (-raw / 20.0).exp());
    if s.local { h } else { h * 0.5 }
}

/// Level thresholds and topic policy, from `config/events.toml` (`[levels]`, `[topic_policy]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelPolicy {
    /// Scores (heat + negativity + risk) at which each level starts: blue, yellow, orange, red.
    #[serde(default = "thresholds")]
    pub thresholds: [f32; 4],
    /// Points for a fully negative event.
    #[serde(default = "negativity_points")]
    pub negativity_points: f32,
    /// Points for a risk score of 1.
    #[serde(default = "risk_points")]
    pub risk_points: f32,
    /// The least level of an event on these topics (by topic id), e.g. food safety at yellow.
    #[serde(default)]
    pub topic_floor: BTreeMap<String, WarningLevel>,
}

fn thresholds() -> [f32; 4] {
    [30.0, 65.0, 85.0, 100.0]
}
fn negativity_points() -> f32 {
    15.0
}
fn risk_points() -> f32 {
    30.0
}

impl Default for LevelPolicy {
    fn default() -> Self {
        LevelPolicy {
            thresholds: thresholds(),
            negativity_points: negativity_points(),
            risk_points: risk_points(),
            topic_floor: BTreeMap::new(),
        }
    }
}

/// The warning level of an event, or none when it is not worth an alert. A spike raises it one
/// step (to blue at least); a topic floor raises it to the floor.
pub fn level(s: &EventStats, heat: f32, topics: &[String], policy: &LevelPolicy) -> Option<WarningLevel> {
    let score = heat + policy.negativity_points * s.negativity() + policy.risk_points * s.max_risk;
    let mut l = policy
        .thresholds
        .iter()
        .zip(WarningLevel::ALL)
        .filter(|(t, _)| score >= **t)
        .map(|(_, l)| l)
        .next_back();
    if !s.spikes.is_empty() {
        l = Some(match l {
            None => WarningLevel::Blue,
            Some(WarningLevel::Blue) => WarningLevel::Yellow,
            Some(WarningLevel::Yellow) => WarningLevel::Orange,
            Some(_) => WarningLevel::Red,
        });
    }
    for t in topics {
        if let Some(floor) = policy.topic_floor.get(t) {
            l = Some(l.map_or(*floor, |x| x.max(*floor)));
        }
    }
    l
}

/// Words of an official denial or a 辟谣 (normalised, simplified text).
const DENIAL: &[&str] = &[
    "辟谣",
    "谣言",
    "不实信息",
    "不属实",
    "系谣传",
    "纯属谣言",
    "假消息",
    "虚假信息",
    "造谣",
    "传谣",
    "澄清",
    "网传",
    "经核实",
];

/// Whether a text carries rumour signals: two different denial words, or one of the strong ones
/// (辟谣 / 谣言 / 不实信息 / 不属实 / 造谣).
pub fn rumour_signal(text: &str) -> bool {
    let found: Vec<&str> = DENIAL.iter().copied().filter(|w| text.contains(w)).collect();
    found.len() >= 2 || found.iter().any(|w| matches!(*w, "辟谣" | "谣言" | "不实信息" | "不属实" | "造谣"))
}
