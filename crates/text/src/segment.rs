//! The one segmenter: jieba-rs with the county's user dictionary, shared by everything that needs
//! words (keywords, SimHash, sentiment, the learned router, and later the search index).
//!
//! Han and ASCII text goes to jieba (HMM on, for unseen words). Words in other alphabets — Arabic
//! script (Uyghur, Kazakh), Cyrillic, accented Latin — are split on word boundaries instead: jieba's
//! dictionary knows nothing of them and would cut them into letters.

use jieba_rs::Jieba;

use crate::normalize::is_han;

/// A word of the segmented text, with its byte range in that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub word: &'a str,
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    /// True when the token holds a letter, digit or ideograph (not punctuation or space).
    pub fn is_word(&self) -> bool {
        self.word.chars().any(char::is_alphanumeric)
    }
}

/// Why a user dictionary could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("user dictionary: {0}")]
pub struct DictError(String);

/// jieba-rs plus the county's words.
pub struct Segmenter {
    jieba: Jieba,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter").finish_non_exhaustive()
    }
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

impl Segmenter {
    /// jieba's default dictionary, nothing else.
    pub fn new() -> Self {
        Self { jieba: Jieba::new() }
    }

    /// Adds a user dictionary in jieba's format (`word [freq] [tag]` per line; `#` comments).
    pub fn load_user_dict(&mut self, text: &str) -> Result<usize, DictError> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let word = parts.next().unwrap_or_default();
            let freq = match parts.next() {
                None => None,
                Some(f) => Some(f.parse::<usize>().map_err(|_| {
                    DictError(format!("line {}: frequency {f:?} is not a whole number", i + 1))
                })?),
            };
            let tag = parts.next();
            self.jieba.add_word(word, freq, tag);
            n += 1;
        }
        Ok(n)
    }

    /// Adds one word (a place or institution name from the configuration) unless jieba knows it.
    pub fn add_word(&mut self, word: &str, tag: &str) {
        let word = word.trim();
        if word.chars().count() >= 2 && !word.contains(char::is_whitespace) && !self.jieba.has_word(word) {
            self.jieba.add_word(word, None, Some(tag));
        }
    }

    /// Segments `text`; tokens cover the text in order (spaces and punctuation included).
    pub fn cut<'a>(&self, text: &'a str) -> Vec<Token<'a>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let base = text.as_ptr() as usize;
        let mut plain_start = 0usize; // start of the pending run for jieba
        let mut iter = text.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            if is_foreign_letter(c) {
                // A word in another alphabet: extend over letters, digits and marks.
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = iter.peek() {
                    if (d.is_alphanumeric() || is_mark(d) || d == '\'' || d == '’') && !is_han(d) {
                        end = j + d.len_utf8();
                        iter.next();
                    } else {
                        break;
                    }
                }
                // Any ASCII letters just before belong to the same word.
                let mut word_start = i;
                while word_start > plain_start && text.as_bytes()[word_start - 1].is_ascii_alphanumeric() {
                    word_start -= 1;
                }
                self.cut_plain(&text[plain_start..word_start], base, &mut out);
                out.push(Token { word: &text[word_start..end], start: word_start, end });
                plain_start = end;
            }
        }
        self.cut_plain(&text[plain_start..], base, &mut out);
        out
    }

    fn cut_plain<'a>(&self, run: &'a str, base: usize, out: &mut Vec<Token<'a>>) {
        if run.is_empty() {
            return;
        }
        for t in self.jieba.cut(run, true) {
            let start = t.word.as_ptr() as usize - base;
            out.push(Token { word: t.word, start, end: start + t.word.len() });
        }
    }
}

fn is_mark(c: char) -> bool {
    unicode_normalization::char::canonical_combining_class(c) != 0
        || matches!(c as u32, 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED)
}

/// Letters that jieba cannot segment: non-ASCII, non-Han alphabetic characters.
fn is_foreign_letter(c: char) -> bool {
    // 〇 and 々 (CJK symbols, U+3000–U+303F) are alphabetic to Unicode but belong to Chinese text.
    !c.is_ascii() && !is_han(c) && !('\u{3000}'..='\u{303F}').contains(&c) && c.is_alphabetic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_words_change_segmentation() {
        let mut s = Segmenter::new();
        let words =
            |s: &Segmenter| s.cut("市住建局不作为").iter().map(|t| t.word.to_owned()).collect::<Vec<_>>();
        assert!(!words(&s).contains(&"住建局".to_owned()));
        s.load_user_dict("住建局 2000 nt\n# comment\n").unwrap();
        assert!(words(&s).contains(&"住建局".to_owned()));
    }

    #[test]
    fn arabic_script_is_split_on_word_boundaries() {
        let s = Segmenter::new();
        let text = "سۇ يوق، كوچا buzuldi 停水";
        let words: Vec<_> = s.cut(text).into_iter().filter(|t| t.is_word()).map(|t| t.word).collect();
        assert_eq!(words, ["سۇ", "يوق", "كوچا", "buzuldi", "停水"]);
    }

    #[test]
    fn offsets_are_byte_ranges_of_the_text() {
        let s = Segmenter::new();
        let text = "那拉提 ئۆي 停电了";
        for t in s.cut(text) {
            assert_eq!(&text[t.start..t.end], t.word);
        }
    }

    #[test]
    fn bad_frequency_is_an_error() {
        let mut s = Segmenter::new();
        let e = s.load_user_dict("住建局 many nt").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
