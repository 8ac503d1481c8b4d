//! Lexicon sentiment over the segmenter's tokens, tuned for complaint language.
//!
//! Each sentiment word scores ±1, multiplied by the nearest preceding degree word (很, 非常, 有点…)
//! and flipped by an odd number of negations (不, 没有…) within the three preceding words of the
//! same clause. Words after a contrast (但是, 可是, 不过…) weigh more than those before it, and an
//! exclamation mark strengthens its clause. The score is `tanh(sum / 3)`, in [-1, 1].

use rustc_hash::FxHashMap;
use serde::Serialize;
use yuqing_domain::SentimentLabel;

/// What the lexicon knows of one word.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Entry {
    /// +1 positive, -1 negative, 0 neither.
    polarity: i8,
    negation: bool,
    /// Degree multiplier (很 1.5, 有点 0.8); 0 when the word is not a degree word.
    degree: f32,
}

/// Sentiment dictionaries, merged into one table so that each token costs one lookup.
#[derive(Debug, Default)]
pub struct SentimentLexicon {
    words: FxHashMap<Box<str>, Entry>,
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

impl SentimentLexicon {
    /// Builds the lexicon from its files; `degree` lines are `word<TAB>multiplier`.
    /// Returns the lexicon and the number of malformed degree lines. A word in both polarity lists
    /// counts as negative.
    pub fn parse(positive: &str, negative: &str, negation: &str, degree: &str) -> (Self, usize) {
        let mut words: FxHashMap<Box<str>, Entry> = FxHashMap::default();
        for w in lines(positive) {
            words.entry(w.into()).or_default().polarity = 1;
        }
        for w in lines(negative) {
            words.entry(w.into()).or_default().polarity = -1;
        }
        for w in lines(negation) {
            words.entry(w.into()).or_default().negation = true;
        }
        let mut bad = 0;
        for l in lines(degree) {
            let mut p = l.split('\t');
            match (p.next(), p.next().and_then(|m| m.trim().parse::<f32>().ok())) {
                (Some(w), Some(m)) if m.is_finite() && m > 0.0 => {
                    words.entry(w.trim().into()).or_default().degree = m
                }
                _ => bad += 1,
            }
        }
        (Self { words }, bad)
    }

    /// Scores a token sequence (normalised words, punctuation included).
    pub fn score<'a>(&self, tokens: impl IntoIterator<Item = &'a str>) -> Sentiment {
        let mut total = 0f32;
        let mut clause = 0f32;
        let mut clause_weight = 1f32;
        let mut recent: [Entry; 3] = [Entry::default(); 3];
        let flush = |total: &mut f32, clause: &mut f32, weight: f32| {
            *total += *clause * weight;
            *clause = 0.0;
        };
        for tok in tokens {
            let t = tok.trim();
            if t.is_empty() {
                continue;
            }
            match t {
                "，" | "," | "。" | "." | "；" | ";" | "？" | "?" | "\n" | "…" | "~" | "～" => {
                    flush(&mut total, &mut clause, clause_weight);
                    clause_weight = 1.0;
                    recent = [Entry::default(); 3];
                    continue;
                }
                "！" | "!" => {
                    clause *= 1.3;
                    flush(&mut total, &mut clause, clause_weight);
                    clause_weight = 1.0;
                    recent = [Entry::default(); 3];
                    continue;
                }
                "但是" | "但" | "可是" | "不过" | "然而" | "却" | "只是" => {
                    // What came before the contrast counts less than what follows it.
                    clause *= 0.6;
                    flush(&mut total, &mut clause, clause_weight);
                    total *= 0.6;
                    clause_weight = 1.4;
                    recent = [Entry::default(); 3];
                    continue;
                }
                _ => {}
            }
            let entry = self.words.get(t).copied().unwrap_or_default();
            if entry.polarity != 0 {
                let mut value = f32::from(entry.polarity);
                let mut negations = 0;
                for e in &recent {
                    if e.negation {
                        negations += 1;
                    } else if e.degree > 0.0 {
                        value *= e.degree;
                    }
                }
                if negations % 2 == 1 {
                    // "不好" is bad, "不差" is only mildly good.
                    value = if value > 0.0 { -value } else { -value * 0.5 };
                }
                clause += value;
            }
            recent = [recent[1], recent[2], entry];
        }
        total += clause * clause_weight;
        let score = (total / 3.0).tanh();
        let label = if score <= -0.05 {
            SentimentLabel::Negative
        } else if score >= 0.05 {
            SentimentLabel::Positive
        } else {
            SentimentLabel::Neutral
        };
        Sentiment { score: (score * 10_000.0).round() / 10_000.0, label }
    }
}

/// Sentiment of a post.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sentiment {
    pub score: f32,
    pub label: SentimentLabel,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex() -> SentimentLexicon {
        SentimentLexicon::parse(
            "好\n满意\n方便\n",
            "差\n脏\n拖欠\n投诉\n",
            "不\n没有\n",
            "很\t1.5\n非常\t1.8\n",
        )
        .0
    }

    #[test]
    fn negation_and_degree() {
        let l = lex();
        assert_eq!(l.score(["服务", "很", "好"]).label, SentimentLabel::Positive);
        assert_eq!(l.score(["服务", "不", "好"]).label, SentimentLabel::Negative);
        assert_eq!(l.score(["一点", "也", "不", "满意"]).label, SentimentLabel::Negative);
        assert!(l.score(["非常", "差"]).score < l.score(["差"]).score);
        assert_eq!(l.score(["今天", "开会"]).label, SentimentLabel::Neutral);
    }

    #[test]
    fn contrast_favours_what_follows() {
        let l = lex();
        assert_eq!(
            l.score(["位置", "方便", "，", "但是", "房间", "很", "脏", "很", "差"]).label,
            SentimentLabel::Negative
        );
        assert_eq!(l.score(["有点", "贵", "但是", "服务", "很", "好"]).label, SentimentLabel::Positive);
    }
}
