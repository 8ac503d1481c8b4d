//! Topic rules: word groups (地域词 / 主体词 / 事件词 / 排除词) and expressions, compiled into the
//! shared automaton and evaluated per post from the hits alone.
//!
//! Cost per post follows the number of hits, not the number of rules: a hit marks the word group
//! it belongs to in a per-topic bit mask, and only topics that received a hit are looked at.

pub mod expr;

use rustc_hash::FxHashMap;
use yuqing_domain::Field;

use crate::config::TopicDef;
use crate::matcher::{Hit, MatcherBuilder, Use};
use expr::Expr;

/// A rule term as written, with its prefix flag.
#[derive(Debug, Clone)]
pub struct Term {
    pub text: String,
}

/// How a term takes part in a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Group(u8),
    Exclude,
    Expr,
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
    required: u8,
    /// Number of non-empty word groups.
    pub groups: u8,
    expr: Option<CExpr>,
    /// Positive group terms, with their group, for evidence.
    group_terms: Vec<(u32, Group)>,
}

/// A term occurrence that supports a fired topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub term: u32,
    pub group: Group,
    pub hit: Hit,
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
    term_roles: Vec<Vec<(u32, Role)>>,
}

impl RuleSet {
    /// Compiles topics into `builder`. `unit_index` maps a topic to its unit's index.
    /// Expressions are assumed valid (the config loader checked them); a topic whose expression
    /// fails to parse here is skipped.
    pub fn compile(
        defs: &[TopicDef],
        unit_index: impl Fn(&TopicDef) -> Option<usize>,
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
            let mut required = 0u8;
            let mut groups = 0u8;
            let mut group_terms = Vec::new();
            for (bit, (words, group)) in [
                (&def.region, Group::Region),
                (&def.subject, Group::Subject),
                (&def.event, Group::Event),
            ]
            .into_iter()
            .enumerate()
            {
                if words.is_empty() {
                    continue;
                }
                required |= 1 << bit;
                groups += 1;
                for w in words {
                    let t = rs.term(w, &mut term_ids, builder);
                    rs.term_roles[t as usize].push((topic_idx, Role::Group(1 << bit)));
                    group_terms.push((t, group));
                }
            }
            for w in &def.exclude {
                let t = rs.term(w, &mut term_ids, builder);
                rs.term_roles[t as usize].push((topic_idx, Role::Exclude));
            }
            let cexpr = expr.map(|e| rs.compile_expr(&e, topic_idx, &mut term_ids, builder));
            rs.topics.push(Topic {
                id: def.id.clone(),
                name: def.name.clone(),
                unit,
                required,
                groups,
                expr: cexpr,
                group_terms,
            });
        }
        for roles in &mut rs.term_roles {
            roles.sort_unstable_by_key(|r| r.0);
            roles.dedup();
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
        self.term_roles.push(Vec::new());
        ids.insert(raw.to_owned(), id);
        id
    }

    fn compile_expr(
        &mut self,
        e: &Expr,
        topic: u32,
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
                let t = self.term(&raw, ids, b);
                self.term_roles[t as usize].push((topic, Role::Expr));
                CExpr::Term {
                    term: t,
                    scope: *scope,
                }
            }
            Expr::And(v) => CExpr::And(
                v.iter()
                    .map(|x| self.compile_expr(x, topic, ids, b))
                    .collect(),
            ),
            Expr::Or(v) => CExpr::Or(
                v.iter()
                    .map(|x| self.compile_expr(x, topic, ids, b))
                    .collect(),
            ),
            Expr::Not(x) => CExpr::Not(Box::new(self.compile_expr(x, topic, ids, b))),
            Expr::Near {
                left,
                right,
                within,
            } => CExpr::Near {
                left: Box::new(self.compile_expr(left, topic, ids, b)),
                right: Box::new(self.compile_expr(right, topic, ids, b)),
                within: *within,
            },
        }
    }

    /// Evaluates all topics against the term hits of one post (`hits` sorted by term).
    pub fn evaluate(
        &self,
        hits: &[(u32, Hit)],
        char_index: &dyn Fn(Field, u32) -> u32,
    ) -> Vec<Fired> {
        // Per touched topic: (group mask, vetoed, has expression terms).
        let mut state: FxHashMap<u32, (u8, bool)> = FxHashMap::default();
        let mut i = 0;
        while i < hits.len() {
            let term = hits[i].0;
            while i < hits.len() && hits[i].0 == term {
                i += 1;
            }
            for &(topic, role) in &self.term_roles[term as usize] {
                let st = state.entry(topic).or_insert((0, false));
                match role {
                    Role::Group(bit) => st.0 |= bit,
                    Role::Exclude => st.1 = true,
                    Role::Expr => {}
                }
            }
        }
        let lookup = |term: u32| -> &[(u32, Hit)] {
            let lo = hits.partition_point(|h| h.0 < term);
            let hi = hits.partition_point(|h| h.0 <= term);
            &hits[lo..hi]
        };
        let mut fired = Vec::new();
        let mut touched: Vec<_> = state.into_iter().collect();
        touched.sort_unstable_by_key(|t| t.0);
        for (topic_idx, (mask, vetoed)) in touched {
            let topic = &self.topics[topic_idx as usize];
            if vetoed || mask & topic.required != topic.required {
                continue;
            }
            let mut evidence = Vec::new();
            if let Some(e) = &topic.expr {
                match eval(e, &lookup, char_index) {
                    Some(ev) => evidence.extend(ev),
                    None => continue,
                }
            }
            for &(term, group) in &topic.group_terms {
                for &(_, hit) in lookup(term) {
                    evidence.push(Evidence { term, group, hit });
                }
            }
            if evidence.is_empty() {
                continue;
            }
            evidence.sort_by_key(|e| (e.hit.field, e.hit.start, std::cmp::Reverse(e.hit.end)));
            evidence.dedup_by_key(|e| (e.term, e.hit));
            fired.push(Fired {
                topic: topic_idx,
                evidence,
            });
        }
        fired
    }
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
