//! Text normalisation for matching, with a map back to the original text.
//!
//! Rules and dictionaries are matched on normalised text, and every match must be reported as
//! Unicode-scalar offsets into the *original* field. [`Normalized`] therefore keeps, for every
//! character it emits, the span of original characters it came from.
//!
//! What is done, in order, per character (or per base character plus its combining marks):
//! - zero-width characters and the Arabic tatweel are dropped;
//! - everything outside ASCII and the common CJK block goes through NFKC (full-width → half-width,
//!   Arabic presentation forms → letters, compatibility ideographs → unified ones);
//! - Arabic-script variants are unified (ی → ي, ک → ك);
//! - letters are lower-cased;
//! - platform markup: `#` is dropped (`#话题#` → `话题`), `@` is dropped (`@用户` → `用户`), so a
//!   repost chain `//@某人:` keeps `//` as the separator between the reposted texts;
//! - runs of whitespace become one space, and whitespace between two Han characters is dropped;
//! - traditional Han characters become simplified ones (character for character, so offsets hold).
//!
//! Normalisation is idempotent: normalising normalised text changes nothing.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

/// Normalised text plus the map from each of its characters to the original characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    text: String,
    /// For each normalised char: (original start char index, original end char index, exclusive).
    spans: Vec<(u32, u32)>,
    /// For each byte offset of `text` (and one past the end): the index of the char it falls in.
    char_at_byte: Vec<u32>,
    /// False for [`normalize_term`], which needs the text only.
    track: bool,
}

impl Normalized {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }

    /// Number of characters in the normalised text.
    pub fn char_len(&self) -> usize {
        self.spans.len()
    }

    /// Char index (in the normalised text) of a byte offset.
    pub fn char_index(&self, byte: usize) -> usize {
        self.char_at_byte.get(byte).map_or(self.spans.len(), |&c| c as usize)
    }

    /// Maps a byte range of the normalised text to a char range `[start, end)` of the original.
    /// An empty or out-of-range input maps to an empty range at the nearest position.
    pub fn original_span(&self, start_byte: usize, end_byte: usize) -> (usize, usize) {
        let first = self.char_index(start_byte);
        let last_excl = self.char_index(end_byte);
        if first >= self.spans.len() {
            let end = self.spans.last().map_or(0, |s| s.1 as usize);
            return (end, end);
        }
        if last_excl <= first {
            let s = self.spans[first].0 as usize;
            return (s, s);
        }
        (self.spans[first].0 as usize, self.spans[last_excl - 1].1 as usize)
    }

    fn push(&mut self, c: char, orig: (u32, u32)) {
        let idx = self.spans.len() as u32;
        self.text.push(c);
        self.spans.push(orig);
        self.char_at_byte.extend(std::iter::repeat_n(idx, c.len_utf8()));
    }

    fn last_char(&self) -> Option<char> {
        self.text.chars().next_back()
    }

    /// Removes the last character, returning it and the start of its original span.
    fn pop(&mut self) -> Option<(char, u32)> {
        let c = self.text.pop()?;
        if !self.track {
            return Some((c, 0));
        }
        let start = self.spans.pop().map_or(0, |s| s.0);
        self.char_at_byte.truncate(self.char_at_byte.len().saturating_sub(c.len_utf8()));
        Some((c, start))
    }

    fn finish(mut self) -> Self {
        self.char_at_byte.push(self.spans.len() as u32);
        if !self.text.chars().any(maybe_traditional) {
            return self;
        }
        let simplified = fast2s::convert(&self.text);
        if simplified == self.text {
            return self;
        }
        if !self.track {
            self.text = simplified;
            return self;
        }
        // The converter is character for character; keep the map only if that held.
        if simplified.chars().count() == self.spans.len() {
            let mut at = Vec::with_capacity(simplified.len() + 1);
            for (i, c) in simplified.chars().enumerate() {
                at.extend(std::iter::repeat_n(i as u32, c.len_utf8()));
            }
            at.push(self.spans.len() as u32);
            self.text = simplified;
            self.char_at_byte = at;
        }
        self
    }
}

/// True for characters of the Han script (CJK unified ideographs and extensions, compatibility).
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF
        | 0x30000..=0x3134F)
}

/// Han characters of the Basic Multilingual Plane that the traditional → simplified converter
/// changes when they stand alone, as a bit set built once (about 28,000 probes, a few
/// milliseconds). Text without any of them skips the converter, which costs a hash lookup per
/// character. Characters the converter changes only in some contexts are added by hand (著: fast2s
/// 0.3 has one such rule); a test checks the pair 看著 / 看着.
fn maybe_traditional(c: char) -> bool {
    static SET: OnceLock<Vec<u64>> = OnceLock::new();
    let set = SET.get_or_init(|| {
        let mut bits = vec![0u64; 0x10000 / 64];
        let mut buf = [0u8; 4];
        for cp in (0x3400u32..=0x4DBF).chain(0x4E00..=0x9FFF).chain(0xF900..=0xFAFF) {
            if let Some(ch) = char::from_u32(cp)
                && !fast2s::convert(ch.encode_utf8(&mut buf)).starts_with(ch)
            {
                bits[(cp / 64) as usize] |= 1 << (cp % 64);
            }
        }
        // fast2s converts 著 only in context (看著 → 看着); alone it is kept, so the probe misses it.
        const CONTEXT_ONLY: [char; 1] = ['著'];
        for ch in CONTEXT_ONLY.map(|c| c as u32) {
            bits[(ch / 64) as usize] |= 1 << (ch % 64);
        }
        bits
    });
    let cp = c as u32;
    cp < 0x10000 && set[(cp / 64) as usize] >> (cp % 64) & 1 == 1
}

fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}')
}

fn fold(c: char) -> Option<char> {
    match c {
        '\u{0640}' => None,             // tatweel
        '\u{06CC}' => Some('\u{064A}'), // Farsi yeh → Arabic yeh
        '\u{06A9}' => Some('\u{0643}'), // keheh → kaf
        c if is_zero_width(c) => None,
        c => Some(c),
    }
}

/// Normalises `input` for matching; see the module documentation.
pub fn normalize(input: &str) -> Normalized {
    normalize_impl(input, true)
}

fn normalize_impl(input: &str, track: bool) -> Normalized {
    let mut out = Normalized {
        text: String::with_capacity(input.len()),
        spans: Vec::with_capacity(if track { input.len() / 2 } else { 0 }),
        char_at_byte: Vec::with_capacity(if track { input.len() + 1 } else { 0 }),
        track,
    };
    let chars: Vec<char> = input.chars().collect();
    let mut pending_space: Option<u32> = None; // original index of the first whitespace char
    let mut i = 0usize;
    let mut scratch: Vec<char> = Vec::with_capacity(4);
    while i < chars.len() {
        let c = chars[i];
        let start = i as u32;
        // Fast path for the bulk of Chinese text: a common ideograph with no space pending.
        if pending_space.is_none() && (0x4E00..=0x9FFF).contains(&(c as u32)) {
            out.push(c, (start, start + 1));
            i += 1;
            continue;
        }
        // Dropped outright, before grouping marks, so that a mark after them still joins its base.
        if matches!(c, '#' | '@' | '\u{0640}') || is_zero_width(c) {
            i += 1;
            continue;
        }
        // Gather the unit: a base char plus following combining marks (outside the fast paths).
        scratch.clear();
        let mut unit_start = start;
        let next_is_mark =
            chars.get(i + 1).is_some_and(|&n| !n.is_ascii() && canonical_combining_class(n) != 0);
        if c.is_ascii() && !next_is_mark {
            i += 1;
            scratch.push(c.to_ascii_lowercase());
        } else if is_han(c) && (0x4E00..=0x9FFF).contains(&(c as u32)) {
            i += 1;
            scratch.push(c);
        } else {
            let mut j = i + 1;
            while j < chars.len() && canonical_combining_class(chars[j]) != 0 {
                j += 1;
            }
            // Marks whose base was emitted before (something dropped in between) rejoin it.
            let mut base = None;
            if canonical_combining_class(c) != 0
                && pending_space.is_none()
                && let Some((prev, prev_start)) = out.pop()
            {
                base = Some(prev);
                unit_start = prev_start;
            }
            for n in base.into_iter().chain(chars[i..j].iter().copied()).nfkc() {
                if let Some(f) = fold(n) {
                    scratch.extend(f.to_lowercase());
                }
            }
            i = j;
        }
        let end = i as u32;
        for &n in &scratch {
            // Markup: `#话题#` and `@用户` lose their marks; a repost chain `//@a: …` keeps `//`.
            if n == '#' || n == '@' {
                continue;
            }
            if n.is_whitespace() {
                pending_space.get_or_insert(start);
                continue;
            }
            if let Some(ws) = pending_space.take() {
                let prev_han = out.last_char().is_some_and(is_han);
                let glue = prev_han && is_han(n);
                if !out.text.is_empty() && !glue {
                    out.push(' ', (ws, ws + 1));
                }
            }
            out.push(n, (unit_start, end));
        }
    }
    out.finish()
}

/// Normalises a rule or dictionary term: the same transformation, text only.
pub fn normalize_term(term: &str) -> String {
    normalize_impl(term, false).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orig(s: &str, span: (usize, usize)) -> String {
        s.chars().skip(span.0).take(span.1 - span.0).collect()
    }

    #[test]
    fn width_case_and_traditional() {
        assert_eq!(normalize("ＡＢＣ１２３　新源縣醫院").as_str(), "abc123 新源县医院");
    }

    #[test]
    fn platform_markup() {
        let n = normalize("#新源停水# @新源发布 快解决//@张三: 同问");
        assert_eq!(n.as_str(), "新源停水新源发布快解决//张三: 同问");
    }

    #[test]
    fn whitespace_between_han_is_dropped() {
        assert_eq!(normalize("停 水  三天 abc  def").as_str(), "停水三天 abc def");
    }

    #[test]
    fn arabic_script_folds() {
        // presentation form of beh + tatweel + Farsi yeh + keheh
        let n = normalize("\u{FE8F}\u{0640}\u{06CC}\u{06A9}");
        assert_eq!(n.as_str(), "\u{0628}\u{064A}\u{0643}");
    }

    #[test]
    fn spans_point_into_the_original() {
        let s = "【转发】#那拉提镇#　停水３天了！";
        let n = normalize(s);
        let at = n.as_str().find("停水3天").unwrap();
        let span = n.original_span(at, at + "停水3天".len());
        assert_eq!(orig(s, span), "停水３天");
        let at = n.as_str().find("那拉提镇").unwrap();
        assert_eq!(orig(s, n.original_span(at, at + "那拉提镇".len())), "那拉提镇");
    }

    #[test]
    fn context_dependent_conversion_is_consistent() {
        assert_eq!(normalize("他看著").as_str(), normalize_term("他看着"));
        assert_eq!(normalize_term("看著"), normalize_term("看着"));
    }

    #[test]
    fn marks_rejoin_their_base_across_dropped_characters() {
        for s in ["e\u{200B}\u{0301}", "e#\u{0301}", "e@\u{0301}"] {
            let once = normalize(s).into_string();
            assert_eq!(once, "é", "{s:?}");
            assert_eq!(normalize(&once).as_str(), once);
        }
    }

    #[test]
    fn idempotent_on_examples() {
        for s in ["新源縣 ＡＢＣ", "ئۇيغۇرچە تېكىست", "Қазақ тілі", "İstanbul ß ǅ", "a//@b #c#"]
        {
            let once = normalize(s).into_string();
            assert_eq!(normalize(&once).as_str(), once, "{s}");
        }
    }
}
