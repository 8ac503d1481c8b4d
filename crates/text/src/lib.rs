//! Text processing for Yuqing: normalisation with an offset map, the one jieba segmenter, TF-IDF
//! keywords from its tokens, SimHash, and script/language detection.
//!
//! This is the only crate that knows jieba. It does no IO: dictionaries arrive as strings.

pub mod keywords;
pub mod lang;
pub mod normalize;
pub mod segment;
pub mod simhash;

pub use keywords::{Idf, Keyword, Stopwords, WordStat, keywords_from, tfidf_keywords, word_stats};
pub use lang::detect as detect_lang;
pub use normalize::{Normalized, is_han, normalize, normalize_term};
pub use segment::{Segmenter, Token};
pub use simhash::{hamming, simhash};
