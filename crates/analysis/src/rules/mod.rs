//! Topic rules: word groups (地域词 / 主体词 / 事件词 / 排除词) and expressions, compiled into the
//! shared automaton and evaluated per post from the hits alone.
//!
//! Cost per post follows the hits, not the number of rules. Each topic has one *anchor*: its
//! rarest word group (highest mean IDF), or for an expression-only topic every word of the
//! expression. A hit on an anchor word makes the topic a candidate; a candidate is then checked
//! against its other groups, its excludes and its expression with O(1) lookups of which words the
//! post contains. A frequent word thus wakes only the topics it anchors, not every topic using it.

pub mod expr;

use rustc_hash::FxHashMap;
use yuqing_domain::Field;

use crate::config::TopicDef;
use crate::matcher::{Hit, MatcherBuilder, Use};
use expr::Expr;

/// A rule term as written (a prefix term without its `*`).
#[derive(Debug, Clone)]
pub struct Term {
    pub text: String,
}

/// A compiled expression: leaves are term ids.
#[derive(Debug, Clone)]
enum CExpr {
    Term {
        term: u32,
        scope: Option<Field>,
    },
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
    Not(Box<CExpr>),
    Near {
        left: Box<CExpr>,
        right: Box<CExpr>,
        within: u32,
    },
}

impl CExpr {
    /// Every term that can make the expression match (negated ones cannot).
    fn positive_terms(&self, out: &mut Vec<u32>) {
        match self {
            CExpr::Term { term, .. } => out.push(*term),
            CExpr::And(v) | CExpr::Or(v) => v.iter().for_each(|x| x.positive_terms(out)),
            CExpr::Not(_) => {}
            CExpr::Near { left, right, .. } => {
                left.positive_terms(out);
                right.positive_terms(out);
            }
        }
    }
}

/// The word group a term belongs to, for scoring and explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Region,
    Subject,
    Event,
    Expr,
}

/// A compiled topic.
#[derive(Debug, Clone)]
pub struct Topic {
    pub id: String,
    pub name: String,
    /// Index of the owning unit in the analyzer's unit list.
    pub unit: usize,
    /// Number of non-empty word groups.
    pub groups: u8,
    /// The non-empty word groups: each needs one of its terms.
    group_terms: Vec<(Group, Vec<u32>)>,
    excludes: Vec<u32>,
    expr: Option<CExpr>,
}

/// A word that supports a fired topic: its first occurrence in a field, and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub term: u32,
    pub group: Group,
    pub hit: Hit,
    /// Occurrences of the word in this field (the first one is `hit`).
    pub count: u32,
}

/// A topic that fired, with its evidence.
#[derive(Debug, Clone)]
pub struct Fired {
    pub topic: u32,
    pub evidence: Vec<Evidence>,
}

/// All topics of the county.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub terms: Vec<Term>,
    pub topics: Vec<Topic>,
    /// For each term: the topics it anchors.
    anchors: Vec<Vec<u32>>,
}

impl RuleSet {
    /// Compiles topics into `builder`. `unit_index` maps a topic to its unit's index; `rarity`
    /// scores a term (its IDF) to choose each topic's anchor group. Expressions are assumed valid
    /// (the config loader checked them); a topic whose expression fails to parse here is skipped.
    pub fn compile(
        defs: &[TopicDef],
        unit_index: impl Fn(&TopicDef) -> Option<usize>,
        rarity: impl Fn(&str) -> f32,
        builder: &mut MatcherBuilder,
    ) -> Self {
        let mut rs = RuleSet::default();
        let mut term_ids: FxHashMap<String, u32> = FxHashMap::default();
        for def in defs {
            let Some(unit) = unit_index(def) else {
                continue;
            };
            let expr = match def.expr.as_deref().map(expr::parse) {
                Some(Ok(e)) => Some(e),
                Some(Err(_)) => continue,
                None => None,
            };
            let topic_idx = rs.topics.len() as u32;
            let mut group_terms: Vec<(Group, Vec<u32>)> = Vec::new();
            for (words, group) in [
                (&def.region, Group::Region),
                (&def.subject, Group::Subject),
                (&def.event, Group::Event),
            ] {
                if !words.is_empty() {
                    let ids: Vec<u32> = words
                        .iter()
                        .map(|w| rs.term(w, &mut term_ids, builder))
                        .collect();
                    group_terms.push((group, ids));
                }
            }
            let excludes = def
                .exclude
                .iter()
                .map(|w| rs.term(w, &mut term_ids, builder))
                .collect();
            let cexpr = expr.map(|e| rs.compile_expr(&e, &mut term_ids, builder));
            let mut anchor: Vec<u32> = Vec::new();
            if group_terms.is_empty() {
                if let Some(e) = &cexpr {
                    e.positive_terms(&mut anchor);
                }
            } else {
                let score = |terms: &[u32]| {
                    let sum: f32 = terms
                        .iter()
                        .map(|&t| rarity(&rs.terms[t as usize].text))
                        .sum();
                    sum / terms.len() as f32
                };
                let mut best = 0;
                for (i, (_, terms)) in group_terms.iter().enumerate() {
                    let (s, b) = (score(terms), score(&group_terms[best].1));
                    if s > b || (s == b && terms.len() < group_terms[best].1.len()) {
                        best = i;
                    }
                }
                anchor.clone_from(&group_terms[best].1);
            }
            for t in anchor {
                let list = &mut rs.anchors[t as usize];
                if list.last() != Some(&topic_idx) {
                    list.push(topic_idx);
                }
            }
            rs.topics.push(Topic {
                id: def.id.clone(),
                name: def.name.clone(),
                unit,
                groups: group_terms.len() as u8,
                group_terms,
                excludes,
                expr: cexpr,
            });
        }
        rs
    }

    fn term(
        &mut self,
        raw: &str,
        ids: &mut FxHashMap<String, u32>,
        builder: &mut MatcherBuilder,
    ) -> u32 {
        if let Some(&id) = ids.get(raw) {
            return id;
        }
        let id = self.terms.len() as u32;
        builder.add(raw, Use::Term(id));
        self.terms.push(Term {
            text: raw.strip_suffix('*').unwrap_or(raw).to_owned(),
        });
        self.anchors.push(Vec::new());
        ids.insert(raw.to_owned(), id);
        id
    }

    fn compile_expr(
        &mut self,
        e: &Expr,
        ids: &mut FxHashMap<String, u32>,
        b: &mut MatcherBuilder,
    ) -> CExpr {
        match e {
            Expr::Term {
                text,
                prefix,
                scope,
            } => {
                let raw = if *prefix {
                    format!("{text}*")
                } else {
                    text.clone()
                };
                CExpr::Term {
                    term: self.term(&raw, ids, b),
                    scope: *scope,
                }
            }
            Expr::And(v) => CExpr::And(v.iter().map(|x| self.compile_expr(x, ids, b)).collect()),
            Expr::Or(v) => CExpr::Or(v.iter().map(|x| self.compile_expr(x, ids, b)).collect()),
            Expr::Not(x) => CExpr::Not(Box::new(self.compile_expr(x, ids, b))),
            Expr::Near {
                left,
                right,
                within,
            } => CExpr::Near {
                left: Box::new(self.compile_expr(left, ids, b)),
                right: Box::new(self.compile_expr(right, ids, b)),
                within: *within,
            },
        }
    }

    /// Evaluates all topics against the term hits of one post (`hits` sorted by term, each
    /// term's hits in text order).
    pub fn evaluate(
        &self,
        hits: &[(u32, Hit)],
        char_index: &dyn Fn(Field, u32) -> u32,
    ) -> Vec<Fired> {
        SCRATCH.with_borrow_mut(|scratch| self.evaluate_with(hits, char_index, scratch))
    }

    fn evaluate_with(
        &self,
        hits: &[(u32, Hit)],
        char_index: &dyn Fn(Field, u32) -> u32,
        sc: &mut Scratch,
    ) -> Vec<Fired> {
        sc.begin(self.terms.len(), self.topics.len());
        let generation = sc.generation;
        let mut i = 0;
        while i < hits.len() {
            let term = hits[i].0;
            let lo = i;
            while i < hits.len() && hits[i].0 == term {
                i += 1;
            }
            sc.present[term as usize] = (generation, lo as u32, i as u32);
            for &topic in &self.anchors[term as usize] {
                let seen = &mut sc.candidate[topic as usize];
                if *seen != generation {
                    *seen = generation;
                    sc.candidates.push(topic);
                }
            }
        }
        let present = &sc.present;
        let lookup = |term: u32| -> &[(u32, Hit)] {
            match present[term as usize] {
                (g, lo, hi) if g == generation => &hits[lo as usize..hi as usize],
                _ => &[],
            }
        };
        let has = |term: &u32| present[*term as usize].0 == generation;
        let mut fired = Vec::new();
        for &topic_idx in &sc.candidates {
            let topic = &self.topics[topic_idx as usize];
            if topic.excludes.iter().any(has)
                || !topic.group_terms.iter().all(|(_, g)| g.iter().any(has))
            {
                continue;
            }
            let mut evidence = Vec::new();
            if let Some(e) = &topic.expr {
                match eval(e, &lookup, char_index) {
                    Some(ev) => evidence.extend(ev),
                    None => continue,
                }
            }
            for (group, terms) in &topic.group_terms {
                for &term in terms {
                    for &(_, hit) in lookup(term) {
                        evidence.push(Evidence {
                            term,
                            group: *group,
                            hit,
                            count: 1,
                        });
                    }
                }
            }
            if evidence.is_empty() {
                continue;
            }
            fired.push(Fired {
                topic: topic_idx,
                evidence: first_per_field(evidence),
            });
        }
        fired.sort_unstable_by_key(|f| f.topic);
        fired
    }
}

/// Per-thread scratch space of [`RuleSet::evaluate`], reused across posts without clearing: an
/// entry belongs to the current post only when it carries the current generation.
#[derive(Debug, Default)]
struct Scratch {
    generation: u32,
    /// Per term: (generation, first hit, end of hits) in the post's sorted hits.
    present: Vec<(u32, u32, u32)>,
    /// Per topic: the generation in which it last became a candidate.
    candidate: Vec<u32>,
    candidates: Vec<u32>,
}

impl Scratch {
    fn begin(&mut self, terms: usize, topics: usize) {
        if self.generation == u32::MAX {
            self.present.iter_mut().for_each(|p| p.0 = 0);
            self.candidate.iter_mut().for_each(|c| *c = 0);
            self.generation = 0;
        }
        self.generation += 1;
        if self.present.len() < terms {
            self.present.resize(terms, (0, 0, 0));
        }
        if self.candidate.len() < topics {
            self.candidate.resize(topics, 0);
        }
        self.candidates.clear();
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Keeps the first occurrence of each word in each field, counting the others; ordered by position.
fn first_per_field(mut ev: Vec<Evidence>) -> Vec<Evidence> {
    ev.sort_unstable_by_key(|e| (e.term, e.hit.field, e.hit.start, e.hit.end));
    let mut out: Vec<Evidence> = Vec::with_capacity(ev.len());
    for e in ev {
        match out.last_mut() {
            Some(last) if last.term == e.term && last.hit.field == e.hit.field => {
                if last.hit != e.hit {
                    last.count += 1;
                }
            }
            _ => out.push(e),
        }
    }
    out.sort_unstable_by_key(|e| {
        (
            e.hit.field,
            e.hit.start,
            std::cmp::Reverse(e.hit.end),
            e.term,
        )
    });
    out
}

type Lookup<'a> = dyn Fn(u32) -> &'a [(u32, Hit)] + 'a;

fn eval<'a>(
    e: &CExpr,
    lookup: &Lookup<'a>,
    char_index: &dyn Fn(Field, u32) -> u32,
) -> Option<Vec<Evidence>> {
    match e {
        CExpr::Term { term, scope } => {
            let ev: Vec<_> = lookup(*term)
                .iter()
                .filter(|(_, h)| scope.is_none_or(|s| s == h.field))
                .map(|&(term, hit)| Evidence {
                    term,
                    group: Group::Expr,
                    hit,
                    count: 1,
                })
                .collect();
            (!ev.is_empty()).then_some(ev)
        }
        CExpr::And(items) => {
            let mut all = Vec::new();
            for x in items {
                all.extend(eval(x, lookup, char_index)?);
            }
            Some(all)
        }
        CExpr::Or(items) => {
            let mut any = None::<Vec<Evidence>>;
            for x in items {
                if let Some(ev) = eval(x, lookup, char_index) {
                    any.get_or_insert_with(Vec::new).extend(ev);
                }
            }
            any
        }
        CExpr::Not(x) => match eval(x, lookup, char_index) {
            Some(_) => None,
            None => Some(Vec::new()),
        },
        CExpr::Near {
            left,
            right,
            within,
        } => {
            let l = eval(left, lookup, char_index)?;
            let r = eval(right, lookup, char_index)?;
            let span = |ev: &Evidence| {
                (
                    char_index(ev.hit.field, ev.hit.start),
                    char_index(ev.hit.field, ev.hit.end),
                )
            };
            let mut out = Vec::new();
            for a in &l {
                for b in &r {
                    if a.hit.field != b.hit.field {
                        continue;
                    }
                    let ((a0, a1), (b0, b1)) = (span(a), span(b));
                    let gap = if a1 <= b0 {
                        b0 - a1
                    } else {
                        a0.saturating_sub(b1)
                    };
                    if gap <= *within {
                        out.push(*a);
                        out.push(*b);
                    }
                }
            }
            (!out.is_empty()).then_some(out)
        }
    }
}
