//! TF-IDF keywords computed from the segmenter's own tokens (segmenting once per post), with
//! jieba's IDF table and formula: weight = tf/total × idf, unknown words at the median IDF.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

/// A stop-word list.
#[derive(Debug, Default, Clone)]
pub struct Stopwords(FxHashSet<Box<str>>);

impl Stopwords {
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.to_lowercase().into_boxed_str())
                .collect(),
        )
    }
    pub fn contains(&self, word: &str) -> bool {
        self.0.contains(word)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Inverse document frequencies (`word idf` per line).
///
/// Keyed by the word's stable 64-bit hash rather than the word itself: one cache line per lookup
/// instead of a pointer chase into a 270,000-word table (a collision among 64-bit hashes of the
/// table's words is about one in a billion, and would only shift one keyword weight).
#[derive(Debug, Default, Clone)]
pub struct Idf {
    map: FxHashMap<u64, f32>,
    median: f32,
}

impl Idf {
    /// Parses `word idf` lines; malformed lines are skipped and counted.
    pub fn parse(text: &str) -> (Self, usize) {
        let mut map = FxHashMap::default();
        map.reserve(text.len() / 20);
        let mut values = Vec::with_capacity(text.len() / 20);
        let mut bad = 0;
        // A byte loop: this runs over 270,000 lines at every start.
        for line in text.as_bytes().split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let Some(sp) = line.iter().position(|b| b.is_ascii_whitespace()) else {
                bad += 1;
                continue;
            };
            let (word, value) = (&line[..sp], line[sp..].trim_ascii());
            let value = value.split(|b| b.is_ascii_whitespace()).next().unwrap_or_default();
            match std::str::from_utf8(value).ok().and_then(parse_decimal) {
                Some(v) if v.is_finite() => {
                    map.insert(crate::simhash::hash64_bytes(word), v);
                    values.push(v);
                }
                _ => bad += 1,
            }
        }
        let median = if values.is_empty() {
            1.0
        } else {
            let mid = (values.len() - 1) / 2;
            *values.select_nth_unstable_by(mid, f32::total_cmp).1
        };
        (Self { map, median }, bad)
    }

    pub fn get(&self, word: &str) -> f32 {
        self.map.get(&crate::simhash::hash64(word)).copied().unwrap_or(self.median)
    }

    pub fn median(&self) -> f32 {
        self.median
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A keyword and its TF-IDF weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keyword {
    pub word: String,
    pub weight: f64,
}

/// Parses `12.345` quickly (the IDF table has 270,000 of them); anything else goes to `str::parse`.
fn parse_decimal(s: &str) -> Option<f32> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 16 || !b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        return s.parse().ok();
    }
    let (mut int, mut frac, mut scale, mut dot) = (0u64, 0u64, 1u64, false);
    for &c in b {
        if c == b'.' {
            if dot {
                return None;
            }
            dot = true;
        } else if dot {
            frac = frac * 10 + u64::from(c - b'0');
            scale *= 10;
        } else {
            int = int * 10 + u64::from(c - b'0');
        }
    }
    Some((int as f64 + frac as f64 / scale as f64) as f32)
}

/// Count and IDF of one keyword-eligible word of a post.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordStat<'a> {
    pub word: &'a str,
    pub count: u32,
    pub idf: f32,
    /// Position of the first occurrence among the tokens.
    pub first: usize,
}

/// Counts the keyword-eligible words of a token sequence once, for keywords and SimHash alike:
/// words of two or more characters with a letter or ideograph, not stop words, not plain numbers.
pub fn word_stats<'a>(
    words: impl IntoIterator<Item = &'a str>,
    idf: &Idf,
    stop: &Stopwords,
) -> Vec<WordStat<'a>> {
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    let mut out: Vec<WordStat<'a>> = Vec::new();
    for (i, w) in words.into_iter().enumerate() {
        if let Some(&k) = index.get(w) {
            out[k].count += 1;
            continue;
        }
        if w.chars().nth(1).is_none()
            || !w.chars().any(char::is_alphanumeric)
            || w.chars().all(|c| c.is_ascii_digit() || c == '.')
            || stop.contains(w)
        {
            continue;
        }
        index.insert(w, out.len());
        out.push(WordStat { word: w, count: 1, idf: idf.get(w), first: i });
    }
    out
}

/// The `top_k` TF-IDF keywords from [`word_stats`]; ties keep the order of first appearance.
pub fn keywords_from(stats: &[WordStat<'_>], top_k: usize) -> Vec<Keyword> {
    let total: u32 = stats.iter().map(|s| s.count).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut scored: Vec<(&str, f64, usize)> = stats
        .iter()
        .map(|s| (s.word, f64::from(s.count) * f64::from(s.idf) / f64::from(total), s.first))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    scored
        .into_iter()
        .take(top_k)
        .map(|(w, weight, _)| Keyword { word: w.to_owned(), weight: (weight * 10_000.0).round() / 10_000.0 })
        .collect()
}

/// The `top_k` TF-IDF keywords of a token sequence (jieba's formula).
pub fn tfidf_keywords<'a>(
    words: impl IntoIterator<Item = &'a str>,
    idf: &Idf,
    stop: &Stopwords,
    top_k: usize,
) -> Vec<Keyword> {
    keywords_from(&word_stats(words, idf, stop), top_k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_like_the_standard_library() {
        for s in ["0", "12.5", "13.900677652", "7.", ".5", "1e3", "-2.5", "abc", "1.2.3"] {
            assert_eq!(parse_decimal(s), s.parse::<f32>().ok(), "{s}");
        }
    }

    #[test]
    fn rarer_words_rank_higher() {
        let (idf, bad) = Idf::parse("停水 9.0\n小区 5.0\n的 0.5\nbroken\n");
        assert_eq!(bad, 1);
        let stop = Stopwords::parse("的\n");
        let kw = tfidf_keywords(["小区", "的", "停水", "小区", "了"], &idf, &stop, 5);
        assert_eq!(kw.iter().map(|k| k.word.as_str()).collect::<Vec<_>>(), ["小区", "停水"]);
        assert!((kw[0].weight - 2.0 * 5.0 / 3.0).abs() < 1e-3);
    }
}
