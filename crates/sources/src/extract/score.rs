//! Scoring extracted text against ground truth, the same way for every extractor (ours or another
//! run in the same benchmark), so figures are comparable.
//!
//! Body: for mostly-CJK text, F1 over character bigrams after removing everything but CJK, digits
//! and Latin letters; otherwise F1 over lower-cased word tokens. Both are bag (multiset) measures.
//! Snippet-only truth: the share of `must_contain` snippets present plus `must_not_contain`
//! snippets absent, whitespace removed. An empty body scores 0.

use std::collections::HashMap;

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Whether at least half of the letters of `s` are CJK.
pub fn mostly_cjk(s: &str) -> bool {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in s.chars().filter(|c| c.is_alphanumeric()) {
        letters += 1;
        cjk += is_cjk(c) as usize;
    }
    letters > 0 && cjk * 2 >= letters
}

fn bigrams(s: &str) -> HashMap<(char, char), u32> {
    let kept: Vec<char> = s
        .chars()
        .filter(|&c| is_cjk(c) || c.is_ascii_digit() || c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut m = HashMap::new();
    for w in kept.windows(2) {
        *m.entry((w[0], w[1])).or_insert(0) += 1;
    }
    m
}

fn words(s: &str) -> HashMap<String, u32> {
    let mut m = HashMap::new();
    for w in s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *m.entry(w.to_lowercase()).or_insert(0) += 1;
    }
    m
}

fn f1<K: std::hash::Hash + Eq>(truth: &HashMap<K, u32>, got: &HashMap<K, u32>) -> f64 {
    let t: u32 = truth.values().sum();
    let g: u32 = got.values().sum();
    if t == 0 || g == 0 {
        return 0.0;
    }
    let common: u32 = got.iter().map(|(k, n)| (*n).min(truth.get(k).copied().unwrap_or(0))).sum();
    if common == 0 {
        return 0.0;
    }
    let p = common as f64 / g as f64;
    let r = common as f64 / t as f64;
    2.0 * p * r / (p + r)
}

/// Body F1 (see the module doc); the unit is chosen from the expected text.
pub fn body_f1(expected: &str, got: &str) -> f64 {
    if mostly_cjk(expected) {
        f1(&bigrams(expected), &bigrams(got))
    } else {
        f1(&words(expected), &words(got))
    }
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Share of snippets handled right: `must_contain` present, `must_not_contain` absent.
pub fn snippet_score(must_contain: &[String], must_not_contain: &[String], got: &str) -> f64 {
    let total = must_contain.len() + must_not_contain.len();
    if total == 0 || got.trim().is_empty() {
        return 0.0;
    }
    let g = squash(got);
    let present = must_contain.iter().filter(|s| g.contains(&squash(s))).count();
    let absent = must_not_contain.iter().filter(|s| !g.contains(&squash(s))).count();
    (present + absent) as f64 / total as f64
}

fn title_key(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// A title is right when it equals the expected one after dropping spaces and punctuation, or when
/// one is the other plus a site or section name set off by a separator (`_ | - — @ :: ·`), e.g.
/// `标题_栏目_网站` for `标题`.
pub fn title_correct(expected: &str, got: &str) -> bool {
    let (e, g) = (title_key(expected), title_key(got));
    if e.is_empty() || g.is_empty() {
        return false;
    }
    if e == g {
        return true;
    }
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (e, g) = (squash(expected), squash(got));
    let (short, long) = if e.chars().count() <= g.chars().count() { (&e, &g) } else { (&g, &e) };
    if short.chars().count() < 2 {
        return false;
    }
    const SEP: &[char] = &['_', '|', '-', '–', '—', '@', ':', '·', '｜', '：', '-'];
    let rest_after = long.strip_prefix(short.as_str()).map(|r| r.trim_start().starts_with(SEP));
    let rest_before = long.strip_suffix(short.as_str()).map(|r| r.trim_end().ends_with(SEP));
    rest_after == Some(true) || rest_before == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_bigram_f1() {
        assert!((body_f1("新源县人民政府", "新源县人民政府") - 1.0).abs() < 1e-9);
        assert_eq!(body_f1("新源县人民政府", ""), 0.0);
        let half = body_f1("新源县人民政府", "新源县");
        assert!(half > 0.4 && half < 0.6, "{half}");
        // punctuation and spacing do not count
        assert!(
            (body_f1("新源县，人民政府。", "新源县 人民 政府") - body_f1("新源县人民政府", "新源县人民政府"))
                .abs()
                < 0.2
        );
    }

    #[test]
    fn word_f1_for_latin_text() {
        assert!((body_f1("The county replied.", "the COUNTY replied") - 1.0).abs() < 1e-9);
        assert!(body_f1("a b c d", "a b") < 1.0);
    }

    #[test]
    fn snippets_and_titles() {
        let with = vec!["发现社会".to_owned()];
        let without = vec!["热门推荐".to_owned()];
        assert_eq!(snippet_score(&with, &without, "他们 发现 社会"), 1.0);
        assert_eq!(snippet_score(&with, &without, "热门推荐"), 0.0);
        assert_eq!(snippet_score(&with, &without, ""), 0.0);
        assert!(title_correct(
            "逆水寒再按照这个速度研发下去 应该马上就要收到律师函了！",
            "逆水寒再按照这个速度研发下去应该马上就要收到律师函了"
        ));
        assert!(title_correct(
            "宇航员在太空中喝酒会怎么样？后果很严重 _探索者 _光明网",
            "宇航员在太空中喝酒会怎么样？后果很严重"
        ));
        assert!(!title_correct("新源县召开会议", "光明网"));
        assert!(title_correct(
            "新竹尖石_美樹營地賞楓 (2) @ 史蒂文的家_藍天 :: 痞客邦 PIXNET",
            "新竹尖石_美樹營地賞楓 (2)"
        ));
        assert!(!title_correct("新源县召开牧民定居工作推进会", "新源县召开"), "a cut headline is wrong");
    }
}
