//! Department assignment: from fired topics (and optionally the learned router) to an ordered
//! list of units, the first being the proposed lead.
//!
//! **Rule score.** Each fired topic scores the distinct words that fired it: 1 per word, plus
//! 0.15 per character beyond two (longer words are more specific, up to +0.6), ×1.5 when the word
//! is in the title, +0.1 per repeat (up to +0.3). A topic with several word groups multiplies by
//! 1 + 0.5 per extra group (its AND made it specific); a unit named outright (its name or alias)
//! counts double. A unit's score is the sum over its topics.
//!
//! **Order.** A township government leads when the post is about its own conduct (a government
//! word and a conduct word, with exactly one township named); then functional units by score; then
//! the governments of the townships named, as 属地 co-owners. Locality never gates assignment.
//!
//! **With a model** ([`Policy`]): the rules decide when exactly one functional unit fired and its
//! evidence is strong (two or more distinct words, a multi-group topic, or its name): the model may
//! then only add its own department after it (at `suggest_confidence`). When several units fired,
//! they are reordered by `rule share + model_weight × model support`, and the model's own department
//! is ranked first when its confidence reaches `override_confidence` and exceeds the support of the
//! current lead (with a label map, a lead in the same category keeps its place); otherwise it is
//! added after them at `suggest_confidence`. When one unit fired with weak evidence (a single word), the model's
//! department may likewise go first at `override_confidence`. When no functional rule fired, the
//! model's department is proposed first whatever its confidence (its `model_confidence` says how
//! sure it is); township governments named in the post still follow as 属地.

use serde::Serialize;
use yuqing_domain::Field;

use crate::router::{Policy, RouterModel};
use crate::rules::{Evidence, Fired};
use crate::{Analyzer, EvidenceOut, NAMED_TOPIC, TopicOut};

/// How a department came to be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// At least one of its topics fired.
    Rule,
    /// Only the learned router proposed it.
    Model,
}

/// The part a unit plays for a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Functionally responsible (its topics fired, or the model proposed it).
    Functional,
    /// The government of a township the post names: 属地 co-owner.
    Territorial,
    /// A township government whose own conduct the post is about.
    Conduct,
}

/// One department entry of the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentHit<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub score: f32,
    pub via: Via,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_confidence: Option<f32>,
    pub topics: Vec<TopicOut<'a>>,
    /// Index into the analyzer's units.
    #[serde(skip)]
    pub unit: usize,
    /// Strong evidence: several distinct words, a multi-group topic, or the unit's name.
    #[serde(skip)]
    pub strong: bool,
}

pub(crate) struct Input<'a, 'c> {
    pub analyzer: &'a Analyzer,
    pub fired: &'c [Fired],
    pub townships_named: &'c [usize],
    pub conduct: bool,
    pub evidence_out: &'c dyn Fn(&Evidence) -> EvidenceOut<'a>,
    pub territory_evidence: &'c dyn Fn(usize) -> Vec<EvidenceOut<'a>>,
    pub conduct_evidence: &'c dyn Fn() -> Vec<EvidenceOut<'a>>,
}

fn topic_score(an: &Analyzer, f: &Fired) -> (f32, usize) {
    // Per distinct word (at most one evidence record per field, so a short quadratic walk over the
    // records beats building a map): its length, whether it is in the title, how often it occurs.
    let ev = &f.evidence;
    let mut s = 0.0;
    let mut distinct = 0;
    for (i, e) in ev.iter().enumerate() {
        if ev[..i].iter().any(|p| p.term == e.term) {
            continue;
        }
        distinct += 1;
        let (mut title, mut count) = (false, 0);
        for x in ev[i..].iter().filter(|x| x.term == e.term) {
            title |= x.hit.field == Field::Title;
            count += x.count;
        }
        let len = an.rules.term_chars(e.term) as usize;
        let mut w = 1.0 + 0.15 * (len.saturating_sub(2).min(4) as f32);
        if title {
            w *= 1.5;
        }
        w += 0.1 * (count.saturating_sub(1).min(3) as f32);
        s += w;
    }
    let groups = f.groups.max(u8::from(f.groups == 0)) as f32; // expression topics count as one
    s *= 1.0 + 0.5 * (groups - 1.0);
    if is_named(an, f) {
        s *= 2.0;
    }
    (s, distinct)
}

fn is_named(an: &Analyzer, f: &Fired) -> bool {
    an.named_topics[f.topic as usize]
}

/// Whether a topic id is a unit's built-in name topic (`<unit>.named`).
pub(crate) fn is_named_topic(id: &str) -> bool {
    id.strip_suffix(NAMED_TOPIC).is_some_and(|p| p.ends_with('.'))
}

/// Rule score share of each functional unit whose topics fired.
pub(crate) fn rule_shares(an: &Analyzer, fired: &[Fired]) -> Vec<(usize, f32)> {
    let mut scores: Vec<(usize, f32)> = Vec::new();
    for f in fired {
        let unit = f.unit as usize;
        if !an.is_functional(unit) {
            continue;
        }
        let (s, _) = topic_score(an, f);
        match scores.iter_mut().find(|x| x.0 == unit) {
            Some(x) => x.1 += s,
            None => scores.push((unit, s)),
        }
    }
    let total: f32 = scores.iter().map(|x| x.1).sum();
    if total > 0.0 {
        scores.iter_mut().for_each(|x| x.1 /= total);
    }
    scores
}

fn distinct_words(ev: &[EvidenceOut<'_>]) -> usize {
    let mut words: Vec<&str> = ev.iter().map(|e| e.word).collect();
    words.sort_unstable();
    words.dedup();
    words.len()
}

fn round(x: f32) -> f32 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn assign<'a>(
    inp: &Input<'a, '_>,
    model: Option<&RouterModel>,
    words: &[String],
) -> Vec<DepartmentHit<'a>> {
    let an = inp.analyzer;
    // Functional units from fired topics.
    let mut functional: Vec<DepartmentHit> = Vec::new();
    for f in inp.fired {
        let unit = f.unit as usize;
        if !an.is_functional(unit) {
            // Township governments are placed by the places and conduct words below.
            continue;
        }
        let (s, distinct) = topic_score(an, f);
        let strong = distinct >= 2 || f.groups >= 2 || is_named(an, f);
        let out = TopicOut {
            id: an.rules.topic_id(f.topic),
            name: an.rules.topic_name(f.topic),
            evidence: f.evidence.iter().map(inp.evidence_out).collect(),
        };
        match functional.iter_mut().find(|d| d.unit == unit) {
            Some(d) => {
                d.score += s;
                // Several topics of one unit together are strong evidence.
                d.strong = true;
                d.topics.push(out);
            }
            None => functional.push(DepartmentHit {
                id: an.units[unit].id.as_str(),
                name: an.units[unit].name.as_str(),
                score: s,
                via: Via::Rule,
                role: Role::Functional,
                model_confidence: None,
                topics: vec![out],
                unit,
                strong,
            }),
        }
    }
    functional.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.unit.cmp(&b.unit)));

    if let Some(m) = model {
        apply_model(an, m, &mut functional, words, inp.fired);
    }

    // Township governments.
    let mut out = Vec::new();
    let gov_unit = |t: usize| an.township_unit.get(t).copied().flatten();
    if inp.conduct
        && let [t] = inp.townships_named
        && let Some(u) = gov_unit(*t)
    {
        let mut evidence = (inp.conduct_evidence)();
        evidence.extend((inp.territory_evidence)(*t));
        out.push(DepartmentHit {
            id: an.units[u].id.as_str(),
            name: an.units[u].name.as_str(),
            score: 3.0,
            via: Via::Rule,
            role: Role::Conduct,
            model_confidence: None,
            topics: vec![TopicOut { id: an.conduct_topic[u].as_str(), name: "干部作风", evidence }],
            unit: u,
            strong: true,
        });
    }
    out.extend(functional);
    for &t in inp.townships_named {
        let Some(u) = gov_unit(t) else { continue };
        if out.iter().any(|d| d.unit == u) {
            continue;
        }
        let evidence = (inp.territory_evidence)(t);
        out.push(DepartmentHit {
            id: an.units[u].id.as_str(),
            name: an.units[u].name.as_str(),
            score: 0.5 * distinct_words(&evidence).min(4) as f32,
            via: Via::Rule,
            role: Role::Territorial,
            model_confidence: None,
            topics: vec![TopicOut { id: an.territory_topic[u].as_str(), name: "属地", evidence }],
            unit: u,
            strong: false,
        });
    }
    for d in &mut out {
        d.score = round(d.score);
        d.model_confidence = d.model_confidence.map(round);
    }
    out
}

/// Support of the model for each unit: the probability of the classes that name it.
fn unit_support(an: &Analyzer, m: &RouterModel, probs: &[f32]) -> Vec<f32> {
    let mut support = vec![0f32; an.units.len()];
    for (c, class) in m.classes.iter().enumerate() {
        let names: Vec<&str> = match &m.label_map {
            Some(map) => map.get(class).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default(),
            None => vec![class.as_str()],
        };
        for (u, unit) in an.units.iter().enumerate() {
            if unit.names().any(|n| names.contains(&n)) {
                support[u] += probs[c];
            }
        }
    }
    support
}

/// The model's proposed unit: for a category, the first unit of its list that exists.
fn model_choice(an: &Analyzer, m: &RouterModel, probs: &[f32]) -> Option<(usize, f32)> {
    let (c, &p) = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let class = &m.classes[c];
    let names: Vec<&str> = match &m.label_map {
        Some(map) => map.get(class)?.iter().map(String::as_str).collect(),
        None => vec![class.as_str()],
    };
    names.iter().find_map(|n| an.units.iter().position(|u| u.names().any(|x| x == *n))).map(|u| (u, p))
}

fn apply_model<'a>(
    an: &'a Analyzer,
    m: &RouterModel,
    functional: &mut Vec<DepartmentHit<'a>>,
    words: &[String],
    fired: &[Fired],
) {
    let Policy { override_confidence, suggest_confidence, model_weight } = m.policy;
    let features = crate::router::Features {
        words: words.to_vec(),
        rules: rule_shares(an, fired).into_iter().map(|(u, s)| (an.units[u].id.to_string(), s)).collect(),
    };
    let probs = m.predict(&features);
    let support = unit_support(an, m, &probs);
    for d in functional.iter_mut() {
        d.model_confidence = Some(support[d.unit]);
    }
    let decisive = functional.len() == 1 && functional[0].strong;
    if functional.len() > 1 {
        let total: f32 = functional.iter().map(|d| d.score).sum::<f32>().max(f32::EPSILON);
        let key = |d: &DepartmentHit| d.score / total + model_weight * support[d.unit];
        functional.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.unit.cmp(&b.unit)));
    }
    let Some((mu, _)) = model_choice(an, m, &probs) else {
        return;
    };
    let conf = support[mu];
    // The model proposes a class; when the current lead is already supported as much (a category
    // listing both), the rules' choice stands.
    let lead_support = functional.first().map_or(0.0, |d| support[d.unit]);
    let overrides = conf >= override_confidence && conf > lead_support + 0.05;
    let pos = functional.iter().position(|d| d.unit == mu);
    match pos {
        Some(i) if overrides && i > 0 => {
            let d = functional.remove(i);
            functional.insert(0, d);
        }
        Some(_) => {}
        None => {
            let hit = DepartmentHit {
                id: an.units[mu].id.as_str(),
                name: an.units[mu].name.as_str(),
                score: 0.0,
                via: Via::Model,
                role: Role::Functional,
                model_confidence: Some(conf),
                topics: vec![],
                unit: mu,
                strong: false,
            };
            if functional.is_empty() || (overrides && !decisive) {
                functional.insert(0, hit);
            } else if conf >= suggest_confidence {
                functional.push(hit);
            }
        }
    }
}
