//! One multi-pattern automaton over the normalised text for everything matched by words: rule
//! terms, unit names, places, risk words and the township conduct words. A post is scanned once
//! per field, whatever the number of rules; each hit is then dispatched by what uses the pattern.

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{Anchored, MatchKind};
use rustc_hash::FxHashMap;
use yuqing_domain::Field;
use yuqing_text::{Normalized, is_han, normalize_term};

/// What a pattern is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A rule term (index into the rule set's terms).
    Term(u32),
    /// A place of the gazetteer.
    Place(u32),
    /// A risk word.
    Risk(u32),
    /// A township-government word (镇政府, 村干部…), by index in the configured list.
    Government(u32),
    /// A conduct word (不作为, 推诿…), by index in the configured list.
    Conduct(u32),
}

/// How a pattern must sit in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Boundary {
    /// Anywhere (Han terms: Chinese has no word spaces).
    #[default]
    None,
    /// At a word start (a trailing `*` in an alphabetic-script term).
    Start,
    /// A whole word (alphabetic-script terms without `*`).
    Both,
}

/// A hit of a pattern in one field; offsets are bytes of the normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub field: Field,
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Default)]
pub struct MatcherBuilder {
    index: FxHashMap<String, usize>,
    patterns: Vec<String>,
    uses: Vec<Vec<(Use, Boundary)>>,
}

impl MatcherBuilder {
    /// Adds a use of `raw` (normalised here); returns the normalised pattern, or `None` when it
    /// normalises to nothing. A trailing `*` asks for a word-start match.
    pub fn add(&mut self, raw: &str, what: Use) -> Option<&str> {
        match raw.strip_suffix('*') {
            Some(bare) => self.add_term(bare, true, what),
            None => self.add_term(raw, false, what),
        }
    }

    /// Adds a use of `bare` taken literally; `prefix` asks for a word-start match.
    pub fn add_term(&mut self, bare: &str, prefix: bool, what: Use) -> Option<&str> {
        let norm = normalize_term(bare);
        if norm.is_empty() {
            return None;
        }
        // Words of alphabets and numbers need boundaries ("110" is not inside a phone number);
        // Han terms match anywhere, Chinese having no spaces between words.
        let alphabetic = !norm.chars().any(is_han) && norm.chars().any(char::is_alphanumeric);
        let boundary = match (alphabetic, prefix) {
            (false, _) => Boundary::None,
            (true, true) => Boundary::Start,
            (true, false) => Boundary::Both,
        };
        let id = match self.index.get(&norm) {
            Some(&id) => id,
            None => {
                let id = self.patterns.len();
                self.index.insert(norm.clone(), id);
                self.patterns.push(norm);
                self.uses.push(Vec::new());
                id
            }
        };
        if !self.uses[id].contains(&(what, boundary)) {
            self.uses[id].push((what, boundary));
        }
        Some(self.patterns[id].as_str())
    }

    pub fn build(self) -> Result<Matcher, aho_corasick::BuildError> {
        // The contiguous NFA, walked byte by byte here (`scan`): every match of a state, fail-link
        // matches included, is read from its match list, with no per-match call through the
        // generic search loop. The DFA is faster on a small rule set but its tables grow to
        // megabytes (9 MiB for 4,066 patterns, against 411 KiB here) and stop fitting in cache:
        // measured 1.5× slower with 5,000 generated topics. Dense states beyond the default depth
        // of 2 measured slower too (the automaton doubles in size per level).
        let nfa = NFA::builder().match_kind(MatchKind::Standard).build(&self.patterns)?;
        // An NFA always supports unanchored searches; `None` would only make scans find nothing.
        let start = nfa.start_state(Anchored::No).ok();
        // One packed word per pattern, so a match costs one load of a dense array: most patterns
        // have one use; the others point into `more`.
        let mut uses = Vec::with_capacity(self.uses.len());
        let mut more = Vec::new();
        for list in self.uses {
            match list[..] {
                [(what, boundary)] => uses.push(Packed::one(what, boundary)),
                _ => {
                    uses.push(Packed::many(more.len() as u32));
                    more.push(list);
                }
            }
        }
        Ok(Matcher { nfa, start, patterns: self.patterns, uses, more })
    }
}

/// A pattern's use packed in a `u64`: the index in bits 0–31, the kind in bits 32–39, the boundary
/// in bits 40–47. A pattern with several uses has the kind `MANY` and, as index, the position of
/// its list in `Matcher::more`.
#[derive(Debug, Clone, Copy)]
struct Packed(u64);

impl Packed {
    const MANY: u64 = 0xFF;

    fn one(what: Use, boundary: Boundary) -> Self {
        let (kind, index) = match what {
            Use::Term(i) => (0, i),
            Use::Place(i) => (1, i),
            Use::Risk(i) => (2, i),
            Use::Government(i) => (3, i),
            Use::Conduct(i) => (4, i),
        };
        let b = match boundary {
            Boundary::None => 0,
            Boundary::Start => 1,
            Boundary::Both => 2,
        };
        Packed(u64::from(index) | kind << 32 | b << 40)
    }

    /// Several uses: the list `more[at]`.
    fn many(at: u32) -> Self {
        Packed(u64::from(at) | Self::MANY << 32)
    }

    /// The use, or the position of the list of uses in `Matcher::more`.
    fn unpack(self) -> Result<(Use, Boundary), usize> {
        let index = self.0 as u32;
        let what = match self.0 >> 32 & 0xFF {
            0 => Use::Term(index),
            1 => Use::Place(index),
            2 => Use::Risk(index),
            3 => Use::Government(index),
            4 => Use::Conduct(index),
            _ => return Err(index as usize),
        };
        let boundary = match self.0 >> 40 & 0xFF {
            0 => Boundary::None,
            1 => Boundary::Start,
            _ => Boundary::Both,
        };
        Ok((what, boundary))
    }
}

/// The compiled automaton.
#[derive(Debug)]
pub struct Matcher {
    nfa: NFA,
    start: Option<aho_corasick::automaton::StateID>,
    patterns: Vec<String>,
    /// Per pattern, its use (or where its several uses are in `more`).
    uses: Vec<Packed>,
    more: Vec<Vec<(Use, Boundary)>>,
}

fn is_word_char(c: char) -> bool {
    (c.is_alphanumeric() && !is_han(c)) || unicode_mark(c)
}

fn unicode_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED)
}

impl Matcher {
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Heap bytes of the automaton itself.
    pub fn memory_usage(&self) -> usize {
        self.nfa.memory_usage()
    }

    /// Every occurrence (overlapping ones included) of every pattern in `text`, dispatched to `f`.
    pub fn scan(&self, field: Field, text: &Normalized, mut f: impl FnMut(Use, Hit)) {
        let s = text.as_str();
        let nfa = &self.nfa;
        let Some(mut sid) = self.start else { return };
        for (i, &byte) in s.as_bytes().iter().enumerate() {
            sid = nfa.next_state(Anchored::No, sid, byte);
            if !nfa.is_special(sid) || !nfa.is_match(sid) {
                continue;
            }
            let end = i + 1;
            for k in 0..nfa.match_len(sid) {
                let pid = nfa.match_pattern(sid, k);
                let start = end - nfa.pattern_len(pid);
                self.dispatch(field, s, pid.as_usize(), start, end, &mut f);
            }
        }
    }

    /// Hands one match to `f` once per use of its pattern whose word-boundary rule it meets.
    fn dispatch(
        &self,
        field: Field,
        s: &str,
        pattern: usize,
        start: usize,
        end: usize,
        f: &mut impl FnMut(Use, Hit),
    ) {
        let mut word_start = None;
        let mut word_end = None;
        let mut one = |what: Use, boundary: Boundary| {
            let ok = match boundary {
                Boundary::None => true,
                Boundary::Start => *word_start
                    .get_or_insert_with(|| !s[..start].chars().next_back().is_some_and(is_word_char)),
                Boundary::Both => {
                    *word_start
                        .get_or_insert_with(|| !s[..start].chars().next_back().is_some_and(is_word_char))
                        && *word_end.get_or_insert_with(|| !s[end..].chars().next().is_some_and(is_word_char))
                }
            };
            if ok {
                f(what, Hit { field, start: start as u32, end: end as u32 });
            }
        };
        match self.uses[pattern].unpack() {
            Ok((what, boundary)) => one(what, boundary),
            Err(at) => {
                for &(what, boundary) in &self.more[at] {
                    one(what, boundary);
                }
            }
        }
    }
}
