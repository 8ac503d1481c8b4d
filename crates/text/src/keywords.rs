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
#[derive(Debug, Default, Clone)]
pub struct Idf {
    map: FxHashMap<Box<str>, f32>,
    median: f32,
}

impl Idf {
    /// Parses `word idf` lines; malformed lines are skipped and counted.
    pub fn parse(text: &str) -> (Self, usize) {
        let mut map = FxHashMap::default();
        map.reserve(text.len() / 20);
        let mut values = Vec::with_capacity(text.len() / 20);
        let mut bad = 0;
        for line in text.lines() {
            let mut parts = line.split_ascii_whitespace();
            match (parts.next(), parts.next().and_then(|v| v.parse::<f32>().ok())) {
                (Some(w), Some(v)) if v.is_finite() => {
                    map.insert(w.into(), v);
                    values.push(v);
                }
                (None, _) => {}
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
        self.map.get(word).copied().unwrap_or(self.median)
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

/// The `top_k` TF-IDF keywords of a token sequence. Words shorter than two characters, stop words
/// and tokens without letters are skipped; ties keep the order of first appearance.
pub fn tfidf_keywords<'a>(
    words: impl IntoIterator<Item = &'a str>,
    idf: &Idf,
    stop: &Stopwords,
    top_k: usize,
) -> Vec<Keyword> {
    let mut freq: FxHashMap<&str, (u32, usize)> = FxHashMap::default();
    let mut total = 0u32;
    for (i, w) in words.into_iter().enumerate() {
        if w.chars().nth(1).is_none() || stop.contains(w) || !w.chars().any(char::is_alphanumeric) {
            continue;
        }
        if w.chars().all(|c| c.is_ascii_digit() || c == '.') {
            continue;
        }
        freq.entry(w).or_insert((0, i)).0 += 1;
        total += 1;
    }
    if total == 0 {
        return Vec::new();
    }
    let mut scored: Vec<(&str, f64, usize)> = freq
        .into_iter()
        .map(|(w, (n, first))| (w, f64::from(n) * f64::from(idf.get(w)) / f64::from(total), first))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    scored
        .into_iter()
        .take(top_k)
        .map(|(w, weight, _)| Keyword { word: w.to_owned(), weight: (weight * 10_000.0).round() / 10_000.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
