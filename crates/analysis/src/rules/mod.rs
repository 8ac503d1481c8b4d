//! Topic rules: word groups (地域词 / 主体词 / 事件词 / 排除词) and expressions, compiled into the
//! shared automaton and evaluated per post from the hits alone.
//!
//! Cost per post follows the hits, not the number of rules. Every word of a topic's word group
//! *anchors* the topic at the group's position (an expression-only topic is anchored by every
//! positive word of its expression). Each word of a post sets its anchored topics' bits in one bit
//! set per position (a few instructions a topic, no branch); a topic whose bits are set at every
//! position it uses has all its word groups present and is a candidate, checked against its
//! excludes and its expression with O(1) lookups of which words the post contains. A frequent word
//! thus costs one bit per topic it belongs to, and only topics that fire, or nearly, are read.

pub mod expr;

use rustc_hash::FxHashMap;
use yuqing_domain::Field;

use crate::config::TopicDef;
use crate::matcher::{Hit, MatcherBuilder, Use};
use expr::Expr;

/// A compiled expression: leaves are term ids.
#[derive(Debug, Clone)]
enum CExpr {
    Term { term: u32, scope: Option<Field> },
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
    Not(Box<CExpr>),
    Near { left: Box<CExpr>, right: Box<CExpr>, within: u32 },
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
    /// Index of the topic's unit in the analyzer's unit list.
    pub unit: u32,
    /// Number of non-empty word groups of the topic.
    pub groups: u8,
    pub evidence: Vec<Evidence>,
}

/// All topics of the county.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub topics: Vec<Topic>,
    /// For each term, the topics it anchors, one `u32` each: `word << 6 | bit` of the topic's bit in
    /// the anchor bit sets (position `i`'s set is words `i·W..(i + 1)·W`, `W` = `anchor_words`),
    /// read as `anchor_data[anchor_start[t]..anchor_start[t + 1]]`.
    anchor_start: Vec<u32>,
    anchor_data: Vec<u32>,
    /// Words of one anchor bit set (topics / 64, rounded up).
    anchor_words: usize,
    /// Per position after the first: the topics with no word group there (fewer groups, or an
    /// expression only), whose bit at that position is always set.
    unused_position: [Vec<u64>; POSITIONS - 1],
    /// Per topic, one record (`records[record_start[topic]..]`) holding all a candidate's check,
    /// its evidence and its output need, so that a topic costs one or two cache lines:
    /// `[flags, unit, id start, name start, name end, excludes, exclude terms…, groups,
    /// (group, len, terms…) × groups]`, where `flags` has bit 0 for an expression and the id and
    /// name are ranges of `text`.
    record_start: Vec<u32>,
    records: Vec<u32>,
    /// Topic ids and names and term texts, one after another (read together when writing output).
    text: String,
    /// Per term, its text in `text`.
    term_span: Vec<(u32, u32)>,
    /// Characters of each term (scoring weighs longer words more), saturating at 255.
    term_chars: Vec<u8>,
}

/// Flag of a topic record: the topic has an expression.
const HAS_EXPR: u32 = 1;

/// Positions in a topic record (see [`RuleSet::records`]).
const FLAGS: usize = 0;
const UNIT: usize = 1;
const ID: usize = 2;
const NAME: usize = 3;
const NAME_END: usize = 4;
const EXCLUDES: usize = 5;

/// Anchor positions: one per word group (地域词, 主体词, 事件词), in the order the topic lists them.
const POSITIONS: usize = 3;

/// The word groups of a topic record: (group, its terms).
fn record_groups(rec: &[u32]) -> impl Iterator<Item = (Group, &[u32])> {
    let mut k = EXCLUDES + 1 + rec[EXCLUDES] as usize;
    let n = rec[k] as usize;
    k += 1;
    (0..n).map(move |_| {
        let group = match rec[k] {
            0 => Group::Region,
            1 => Group::Subject,
            _ => Group::Event,
        };
        let len = rec[k + 1] as usize;
        let terms = &rec[k + 2..k + 2 + len];
        k += 2 + len;
        (group, terms)
    })
}

/// The exclude terms of a topic record.
fn record_excludes(rec: &[u32]) -> &[u32] {
    &rec[EXCLUDES + 1..EXCLUDES + 1 + rec[EXCLUDES] as usize]
}

impl RuleSet {
    /// Compiles topics into `builder`. `unit_index` maps a topic to its unit's index. Expressions
    /// are assumed valid (the config loader checked them); a topic whose expression fails to parse
    /// here is skipped.
    pub fn compile(
        defs: &[&TopicDef],
        unit_index: impl Fn(&TopicDef) -> Option<usize>,
        builder: &mut MatcherBuilder,
    ) -> Self {
        let mut rs = RuleSet::default();
        let mut term_ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut anchors: Vec<(u32, u32, usize)> = Vec::new(); // (term, topic, position)
        let mut positions_used: Vec<usize> = Vec::new(); // per topic
        for &def in defs {
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
            for (words, group) in
                [(&def.region, Group::Region), (&def.subject, Group::Subject), (&def.event, Group::Event)]
            {
                if !words.is_empty() {
                    let ids: Vec<u32> = words.iter().map(|w| rs.term(w, &mut term_ids, builder)).collect();
                    group_terms.push((group, ids));
                }
            }
            let excludes: Vec<u32> = def.exclude.iter().map(|w| rs.term(w, &mut term_ids, builder)).collect();
            let cexpr = expr.map(|e| rs.compile_expr(&e, &mut term_ids, builder));
            // Anchors: each group's words at the group's position, or the expression's positive
            // words at the first.
            let mut anchor: Vec<(u32, usize)> = Vec::new(); // (term, position)
            if group_terms.is_empty() {
                let mut terms = Vec::new();
                if let Some(e) = &cexpr {
                    e.positive_terms(&mut terms);
                }
                anchor.extend(terms.into_iter().map(|t| (t, 0)));
                positions_used.push(1);
            } else {
                for (position, (_, terms)) in group_terms.iter().enumerate() {
                    anchor.extend(terms.iter().map(|&t| (t, position)));
                }
                positions_used.push(group_terms.len());
            }
            anchor.sort_unstable();
            anchor.dedup();
            anchors.extend(anchor.into_iter().map(|(t, position)| (t, topic_idx, position)));
            let flags = u32::from(cexpr.is_some()) * HAS_EXPR;
            rs.record_start.push(rs.records.len() as u32);
            let id = rs.text.len() as u32;
            rs.text.push_str(&def.id);
            let name = rs.text.len() as u32;
            rs.text.push_str(&def.name);
            let name_end = rs.text.len() as u32;
            rs.records.extend([flags, unit as u32, id, name, name_end, excludes.len() as u32]);
            rs.records.extend(&excludes);
            rs.records.push(group_terms.len() as u32);
            for (group, terms) in &group_terms {
                rs.records.extend([*group as u32, terms.len() as u32]);
                rs.records.extend(terms);
            }
            rs.topics.push(Topic {
                id: def.id.clone(),
                name: def.name.clone(),
                unit,
                groups: group_terms.len() as u8,
                expr: cexpr,
            });
        }
        rs.record_start.push(rs.records.len() as u32);
        let words = rs.topics.len().div_ceil(64);
        rs.anchor_words = words;
        for (i, unused) in rs.unused_position.iter_mut().enumerate() {
            *unused = vec![0; words];
            for (topic, &used) in positions_used.iter().enumerate() {
                if used <= i + 1 {
                    unused[topic / 64] |= 1 << (topic % 64);
                }
            }
        }
        // The bit a record sets: the topic's bit in its position's set.
        let record = |topic: u32, position: usize| -> u32 {
            let word = (position * words) as u32 + topic / 64;
            (word << 6) | (topic % 64)
        };
        // Group the anchor records by term with a counting sort (stable: topics stay in order).
        let mut count = vec![0u32; rs.term_count() + 1];
        for &(t, _, _) in &anchors {
            count[t as usize + 1] += 1;
        }
        for t in 0..rs.term_count() {
            count[t + 1] += count[t];
        }
        rs.anchor_start = count.clone();
        rs.anchor_data = vec![0; anchors.len()];
        for &(t, topic, position) in &anchors {
            let slot = &mut count[t as usize];
            rs.anchor_data[*slot as usize] = record(topic, position);
            *slot += 1;
        }
        rs
    }

    /// Whether a candidate topic (all its word groups present) passes its check: no exclude present.
    fn passes(rec: &[u32], has: impl Fn(u32) -> bool) -> bool {
        !record_excludes(rec).iter().any(|&t| has(t))
    }

    /// Brings into cache what writing out `fired` reads (topic records, ids, names, the words of
    /// the evidence), with independent loads that overlap: called before the output is built,
    /// when segmentation has run since the rule stage and evicted these lines.
    pub fn prefetch_output(&self, fired: &[Fired]) {
        touch(fired.iter().map(|f| self.record_start[f.topic as usize]));
        touch(fired.iter().map(|f| self.records[self.record_start[f.topic as usize] as usize + ID]));
        touch(fired.iter().flat_map(|f| f.evidence.iter().map(|e| self.term_span[e.term as usize].0)));
        let byte = |at: u32| u32::from(self.text.as_bytes().get(at as usize).copied().unwrap_or(0));
        touch(fired.iter().map(|f| byte(self.records[self.record_start[f.topic as usize] as usize + ID])));
        touch(fired.iter().flat_map(|f| f.evidence.iter().map(|e| byte(self.term_span[e.term as usize].0))));
    }

    /// Number of distinct rule terms (a prefix term and its bare word count apart).
    pub fn term_count(&self) -> usize {
        self.term_span.len()
    }

    /// The text of a term as written (a prefix term without its `*`).
    pub fn term_text(&self, term: u32) -> &str {
        let (a, b) = self.term_span[term as usize];
        &self.text[a as usize..b as usize]
    }

    /// The id of a topic.
    pub fn topic_id(&self, topic: u32) -> &str {
        let rec = &self.records[self.record_start[topic as usize] as usize..];
        &self.text[rec[ID] as usize..rec[NAME] as usize]
    }

    /// The name of a topic.
    pub fn topic_name(&self, topic: u32) -> &str {
        let rec = &self.records[self.record_start[topic as usize] as usize..];
        &self.text[rec[NAME] as usize..rec[NAME_END] as usize]
    }

    /// Characters of a term, saturating at 255.
    pub fn term_chars(&self, term: u32) -> u32 {
        u32::from(self.term_chars[term as usize])
    }

    /// A group word as written in a list: a trailing `*` makes it a prefix.
    fn term(&mut self, raw: &str, ids: &mut FxHashMap<String, u32>, builder: &mut MatcherBuilder) -> u32 {
        match raw.strip_suffix('*') {
            Some(bare) => self.term_of(bare, true, ids, builder),
            None => self.term_of(raw, false, ids, builder),
        }
    }

    /// A term taken literally (a quoted phrase may end in `*` and still be a phrase).
    fn term_of(
        &mut self,
        text: &str,
        prefix: bool,
        ids: &mut FxHashMap<String, u32>,
        builder: &mut MatcherBuilder,
    ) -> u32 {
        // Look up without allocating: most words of a large rule set repeat.
        if !prefix && let Some(&id) = ids.get(text) {
            return id;
        }
        let key = if prefix { format!("{text}\u{0}*") } else { text.to_owned() };
        if prefix && let Some(&id) = ids.get(&key) {
            return id;
        }
        let id = self.term_count() as u32;
        // A term that normalises to nothing gets no pattern and never matches.
        builder.add_term(text, prefix, Use::Term(id));
        let at = self.text.len() as u32;
        self.text.push_str(text);
        self.term_span.push((at, self.text.len() as u32));
        self.term_chars.push(text.chars().count().min(255) as u8);
        ids.insert(key, id);
        id
    }

    fn compile_expr(&mut self, e: &Expr, ids: &mut FxHashMap<String, u32>, b: &mut MatcherBuilder) -> CExpr {
        match e {
            Expr::Term { text, prefix, scope } => {
                CExpr::Term { term: self.term_of(text, *prefix, ids, b), scope: *scope }
            }
            Expr::And(v) => CExpr::And(v.iter().map(|x| self.compile_expr(x, ids, b)).collect()),
            Expr::Or(v) => CExpr::Or(v.iter().map(|x| self.compile_expr(x, ids, b)).collect()),
            Expr::Not(x) => CExpr::Not(Box::new(self.compile_expr(x, ids, b))),
            Expr::Near { left, right, within } => CExpr::Near {
                left: Box::new(self.compile_expr(left, ids, b)),
                right: Box::new(self.compile_expr(right, ids, b)),
                within: *within,
            },
        }
    }

    /// Evaluates all topics against the term hits of one post, in scan order (title first, each
    /// field in text order).
    pub fn evaluate(&self, hits: &[(u32, Hit)], char_index: &dyn Fn(Field, u32) -> u32) -> Vec<Fired> {
        SCRATCH.with_borrow_mut(|scratch| {
            let mut grouped = std::mem::take(&mut scratch.grouped);
            let fired = self.evaluate_with(hits, &mut grouped, char_index, scratch);
            scratch.grouped = grouped;
            fired
        })
    }

    fn evaluate_with(
        &self,
        scanned: &[(u32, Hit)],
        grouped: &mut Vec<(u32, Hit)>,
        char_index: &dyn Fn(Field, u32) -> u32,
        sc: &mut Scratch,
    ) -> Vec<Fired> {
        sc.begin(self.term_count(), self.anchor_words);
        let generation = sc.generation;
        // Group the hits by term with a counting sort over the terms present (stable, so each
        // term's hits stay in text order): `present[t]` becomes the range of its hits.
        sc.distinct.clear();
        for &(t, _) in scanned {
            let Some(p) = sc.present.get_mut(t as usize) else { continue };
            if p.0 != generation {
                *p = (generation, 0, 0);
                sc.distinct.push(t);
            }
            p.2 += 1;
        }
        let mut offset = 0;
        for &t in &sc.distinct {
            let p = &mut sc.present[t as usize];
            let n = p.2;
            *p = (generation, offset, offset);
            offset += n;
            sc.present_bits[t as usize / 64] |= 1 << (t % 64);
        }
        grouped.clear();
        grouped.extend_from_slice(scanned);
        for &h in scanned {
            if let Some(p) = sc.present.get_mut(h.0 as usize) {
                grouped[p.2 as usize] = h;
                p.2 += 1;
            }
        }
        let hits: &[(u32, Hit)] = grouped;
        let present = &sc.present;
        let bits = &sc.present_bits;
        let lookup = |term: u32| -> &[(u32, Hit)] {
            match present[term as usize] {
                (g, lo, hi) if g == generation => &hits[lo as usize..hi as usize],
                _ => &[],
            }
        };
        let has = |term: u32| bits[term as usize / 64] >> (term % 64) & 1 == 1;
        // Candidates: the topics with a word of the post at every position they use. The tables
        // are mostly out of cache by the time a post reaches them (segmentation and the IDF table
        // run between two posts), so each pass first touches the lines it is about to read in a
        // tight loop of independent loads: the misses then overlap instead of coming one by one.
        let run = |t: u32| -> std::ops::Range<usize> {
            let t = t as usize;
            match (self.anchor_start.get(t), self.anchor_start.get(t + 1)) {
                (Some(&a), Some(&b)) => a as usize..b as usize,
                _ => 0..0,
            }
        };
        touch(sc.distinct.iter().map(|&t| self.anchor_start.get(t as usize).copied().unwrap_or(0)));
        touch(sc.distinct.iter().flat_map(|&t| {
            // At least one load per cache line of the run (16 records a line).
            let r = run(t);
            let last = r.end.saturating_sub(1).max(r.start);
            r.step_by(8).chain(std::iter::once(last)).filter_map(|i| self.anchor_data.get(i).copied())
        }));
        let words = self.anchor_words;
        let seen = &mut sc.anchored[..POSITIONS * words];
        for &term in &sc.distinct {
            for &rec in &self.anchor_data[run(term)] {
                if let Some(w) = seen.get_mut((rec >> 6) as usize) {
                    *w |= 1 << (rec & 63);
                }
            }
        }
        sc.candidates.clear();
        let (first, rest) = seen.split_at_mut(words);
        let (second, third) = rest.split_at_mut(words);
        let [unused2, unused3] = &self.unused_position;
        for w in 0..words {
            let mut all = first[w] & (second[w] | unused2[w]) & (third[w] | unused3[w]);
            (first[w], second[w], third[w]) = (0, 0, 0);
            while all != 0 {
                sc.candidates.push((w * 64 + all.trailing_zeros() as usize) as u32);
                all &= all - 1;
            }
        }
        let record = |topic: u32| -> &[u32] {
            let t = topic as usize;
            &self.records[self.record_start[t] as usize..self.record_start[t + 1] as usize]
        };
        touch(sc.candidates.iter().map(|&t| self.record_start.get(t as usize).copied().unwrap_or(0)));
        touch(sc.candidates.iter().map(|&t| record(t)[EXCLUDES]));
        for &topic in &sc.candidates {
            if Self::passes(record(topic), has) {
                sc.passed.push(topic);
            }
        }
        // The fired topics' records are read whole for their evidence.
        touch(sc.passed.iter().flat_map(|&t| record(t).iter().step_by(16).copied()));
        let mut fired = Vec::new();
        for &topic_idx in &sc.passed {
            let rec = &self.records[self.record_start[topic_idx as usize] as usize..];
            let mut evidence = Vec::with_capacity(8);
            if rec[FLAGS] & HAS_EXPR != 0
                && let Some(e) = &self.topics[topic_idx as usize].expr
            {
                match eval(e, &lookup, char_index) {
                    Some(ev) => evidence.extend(ev),
                    None => continue,
                }
            }
            let from_expr = !evidence.is_empty();
            let mut groups = 0u8;
            for (group, terms) in record_groups(rec) {
                groups += 1;
                for &term in terms {
                    if !has(term) {
                        continue;
                    }
                    // A term's hits are sorted by field (title first), then position: the first
                    // of each field and how many there are come straight from the slice.
                    let hits = lookup(term);
                    let in_title = hits.partition_point(|h| h.1.field == Field::Title);
                    if in_title > 0 {
                        evidence.push(Evidence { term, group, hit: hits[0].1, count: in_title as u32 });
                    }
                    if let Some(&(_, hit)) = hits.get(in_title) {
                        evidence.push(Evidence { term, group, hit, count: (hits.len() - in_title) as u32 });
                    }
                }
            }
            if evidence.is_empty() {
                continue;
            }
            let evidence = if from_expr {
                first_per_field(evidence, &lookup)
            } else {
                // Group words are distinct terms already: only the order remains.
                evidence.sort_unstable_by_key(|e| {
                    (e.hit.field, e.hit.start, std::cmp::Reverse(e.hit.end), e.term)
                });
                // (A word listed in two groups of one topic is one piece of evidence.)
                evidence.dedup_by(|later, first| later.term == first.term && later.hit == first.hit);
                evidence
            };
            fired.push(Fired { topic: topic_idx, unit: rec[UNIT], groups, evidence });
        }
        // Leave the bit sets empty for the next post.
        for &(term, _) in hits {
            sc.present_bits[term as usize / 64] = 0;
        }
        fired.sort_unstable_by_key(|f| f.topic);
        fired
    }
}

/// Per-thread scratch space of [`RuleSet::evaluate`], reused across posts: the present-word bit
/// set is cleared after each post from its hits; `present` ranges and `anchored` marks belong to
/// the current post only when they carry the current generation.
#[derive(Debug, Default)]
struct Scratch {
    generation: u32,
    /// Per term: (generation, first hit, end of hits) in the post's sorted hits.
    present: Vec<(u32, u32, u32)>,
    /// Terms the post contains, as a bit set.
    present_bits: Vec<u64>,
    /// The anchor bit sets of [`RuleSet::anchor_data`], one per position: all zero between posts.
    anchored: Vec<u64>,
    passed: Vec<u32>,
    /// Topics with a word of the post at every position they use.
    candidates: Vec<u32>,
    /// Terms present in the post, in order of first hit.
    distinct: Vec<u32>,
    /// The post's hits grouped by term.
    grouped: Vec<(u32, Hit)>,
}

impl Scratch {
    fn begin(&mut self, terms: usize, anchor_words: usize) {
        if self.generation == u32::MAX {
            self.present.iter_mut().for_each(|p| p.0 = 0);
            self.generation = 0;
        }
        self.generation += 1;
        if self.present.len() < terms {
            self.present.resize(terms, (0, 0, 0));
        }
        if self.present_bits.len() < terms.div_ceil(64) {
            self.present_bits.resize(terms.div_ceil(64), 0);
        }
        if self.anchored.len() < POSITIONS * anchor_words {
            self.anchored.resize(POSITIONS * anchor_words, 0);
        }
        self.passed.clear();
    }
}

/// Reads every value of `values` and keeps the result opaque to the optimiser: a prefetch without
/// `unsafe`, used where a loop is about to read scattered lines of a large table.
fn touch(values: impl Iterator<Item = u32>) {
    std::hint::black_box(values.fold(0u32, |acc, v| acc ^ v));
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Keeps the first occurrence of each word in each field, counting the others; ordered by position.
fn first_per_field(mut ev: Vec<Evidence>, lookup: &Lookup<'_>) -> Vec<Evidence> {
    ev.sort_unstable_by_key(|e| (e.term, e.hit.field, e.hit.start, e.hit.end));
    ev.dedup_by(|later, first| later.term == first.term && later.hit.field == first.hit.field);
    for e in &mut ev {
        e.count = lookup(e.term).iter().filter(|h| h.1.field == e.hit.field).count() as u32;
    }
    ev.sort_unstable_by_key(|e| (e.hit.field, e.hit.start, std::cmp::Reverse(e.hit.end), e.term));
    ev
}

type Lookup<'a> = dyn Fn(u32) -> &'a [(u32, Hit)] + 'a;

fn eval<'a>(e: &CExpr, lookup: &Lookup<'a>, char_index: &dyn Fn(Field, u32) -> u32) -> Option<Vec<Evidence>> {
    match e {
        CExpr::Term { term, scope } => {
            let ev: Vec<_> = lookup(*term)
                .iter()
                .filter(|(_, h)| scope.is_none_or(|s| s == h.field))
                .map(|&(term, hit)| Evidence { term, group: Group::Expr, hit, count: 1 })
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
        CExpr::Near { left, right, within } => {
            let l = eval(left, lookup, char_index)?;
            let r = eval(right, lookup, char_index)?;
            near(&l, &r, *within, char_index)
        }
    }
}

/// The occurrences of `l` and `r` that lie within `within` characters of one another, in the same
/// field and without overlapping (a word is not near itself). Sorted sweeps keep the cost near
/// linear even for very long posts.
fn near(
    l: &[Evidence],
    r: &[Evidence],
    within: u32,
    char_index: &dyn Fn(Field, u32) -> u32,
) -> Option<Vec<Evidence>> {
    let spans = |v: &[Evidence]| -> Vec<(Field, u32, u32, Evidence)> {
        let mut s: Vec<_> = v
            .iter()
            .map(|e| {
                (e.hit.field, char_index(e.hit.field, e.hit.start), char_index(e.hit.field, e.hit.end), *e)
            })
            .collect();
        s.sort_unstable_by_key(|x| (x.0, x.1, x.2));
        s
    };
    let (ls, rs) = (spans(l), spans(r));
    let longest_r = rs.iter().map(|x| x.2 - x.1).max().unwrap_or(0);
    let mut used_r = vec![false; rs.len()];
    let mut out = Vec::new();
    for &(field, a0, a1, ev) in &ls {
        // Right-hand occurrences that can be near: start in [a0 - within - longest, a1 + within].
        let lo_start = a0.saturating_sub(within.saturating_add(longest_r));
        let first = rs.partition_point(|x| (x.0, x.1) < (field, lo_start));
        let mut near_any = false;
        for (k, &(f, b0, b1, _)) in rs.iter().enumerate().skip(first) {
            if f != field || b0 > a1.saturating_add(within) {
                break;
            }
            let overlap = a0 < b1 && b0 < a1;
            let gap = if a1 <= b0 { b0 - a1 } else { a0.saturating_sub(b1) };
            if !overlap && gap <= within {
                near_any = true;
                used_r[k] = true;
            }
        }
        if near_any {
            out.push(ev);
        }
    }
    out.extend(rs.iter().zip(&used_r).filter(|(_, u)| **u).map(|(x, _)| x.3));
    (!out.is_empty()).then_some(out)
}
