//! Full-text search over stored posts (tantivy). The index is derived data: it can always be
//! rebuilt from the store (`yuqing reindex`).
//!
//! Chinese has no spaces, so two fields carry each text: one tokenised by the **same segmenter as
//! analysis** (`yuqing_words`, registered by name on every open of the index) and one of CJK
//! character bigrams (`yuqing_bigrams`), so recall never depends on segmentation. A user's query is
//! segmented with the same segmenter; each query word must match, either as a word or as its
//! bigram phrase. Filters: source, department, language, sentiment, time range; sorting by
//! relevance or time; highlighted snippets.
//!
//! This crate is the only one that knows tantivy; it does no analysis of its own.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{
    DateTime as TDate, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};
use yuqing_text::{Segmenter, normalize_term};

pub const WORDS: &str = "yuqing_words";
pub const BIGRAMS: &str = "yuqing_bigrams";

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(String),
    #[error("query: {0}")]
    Query(String),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Index(e.to_string())
    }
}

/// A post as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedPost {
    pub id: u64,
    pub title: String,
    pub body: String,
    pub source: String,
    pub departments: Vec<String>,
    pub lang: String,
    pub sentiment: String,
    pub time: DateTime<Utc>,
}

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    pub source: Option<String>,
    pub department: Option<String>,
    pub lang: Option<String>,
    pub sentiment: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub by_time: bool,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
    pub title: String,
    /// The body around the matches, with `<b>…</b>` around them (HTML-escaped otherwise).
    pub snippet: String,
    pub time: DateTime<Utc>,
    pub source: String,
    /// Unit ids the post was assigned to.
    pub departments: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Tokenizers

fn is_cjk(c: char) -> bool {
    yuqing_text::is_han(c) || matches!(c as u32, 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

/// The analysis segmenter as a tantivy tokenizer; token texts are normalised like rule terms
/// (lower case, full width → half width, traditional → simplified), offsets are the original's.
#[derive(Clone)]
pub struct WordTokenizer {
    segmenter: Arc<Segmenter>,
    tokens: Vec<Token>,
}

impl WordTokenizer {
    pub fn new(segmenter: Arc<Segmenter>) -> Self {
        WordTokenizer { segmenter, tokens: Vec::new() }
    }
}

#[derive(Debug)]
pub struct VecTokenStream<'a> {
    tokens: &'a mut [Token],
    index: usize,
}

impl TokenStream for VecTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.index += 1;
        self.index <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = VecTokenStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        self.tokens.clear();
        for t in self.segmenter.cut(text) {
            if !t.word.chars().any(char::is_alphanumeric) {
                continue;
            }
            let position = self.tokens.len();
            self.tokens.push(Token {
                offset_from: t.start,
                offset_to: t.end,
                position,
                text: normalize_term(t.word),
                position_length: 1,
            });
        }
        VecTokenStream { tokens: &mut self.tokens, index: 0 }
    }
}

impl std::fmt::Debug for WordTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WordTokenizer")
    }
}

/// Overlapping CJK character bigrams (a lone CJK character is its own token); other letters and
/// digits as lower-cased words.
#[derive(Clone, Debug, Default)]
pub struct BigramTokenizer {
    tokens: Vec<Token>,
}

/// The bigram tokens of `text` (also used to build query phrases).
fn bigrams(text: &str, out: &mut Vec<Token>) {
    out.clear();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if is_cjk(c) {
            let mut j = i;
            while j < chars.len() && is_cjk(chars[j].1) {
                j += 1;
            }
            let end_of = |k: usize| chars.get(k).map_or(text.len(), |x| x.0);
            if j - i == 1 {
                out.push(tok(start, end_of(i + 1), normalize_term(&text[start..end_of(i + 1)]), out.len()));
            }
            for (k, &(a, _)) in chars.iter().enumerate().take(j.saturating_sub(1)).skip(i) {
                let b = end_of(k + 2);
                out.push(tok(a, b, normalize_term(&text[a..b]), out.len()));
            }
            i = j;
        } else if c.is_alphanumeric() {
            let mut j = i;
            while j < chars.len() && chars[j].1.is_alphanumeric() && !is_cjk(chars[j].1) {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |x| x.0);
            out.push(tok(start, end, text[start..end].to_lowercase(), out.len()));
            i = j;
        } else {
            i += 1;
        }
    }
}

fn tok(from: usize, to: usize, text: String, position: usize) -> Token {
    Token { offset_from: from, offset_to: to, position, text, position_length: 1 }
}

impl Tokenizer for BigramTokenizer {
    type TokenStream<'a> = VecTokenStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        bigrams(text, &mut self.tokens);
        VecTokenStream { tokens: &mut self.tokens, index: 0 }
    }
}

// ---------------------------------------------------------------------------------------------
// The index

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    body: Field,
    title_bi: Field,
    body_bi: Field,
    source: Field,
    department: Field,
    lang: Field,
    sentiment: Field,
    time: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tok: &str, stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tok)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        if stored { o.set_stored() } else { o }
    };
    let f = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        title: b.add_text_field("title", text(WORDS, true)),
        body: b.add_text_field("body", text(WORDS, true)),
        title_bi: b.add_text_field("title_bigrams", text(BIGRAMS, false)),
        body_bi: b.add_text_field("body_bigrams", text(BIGRAMS, false)),
        source: b.add_text_field("source", STRING | STORED),
        department: b.add_text_field("department", STRING | STORED),
        lang: b.add_text_field("lang", STRING),
        sentiment: b.add_text_field("sentiment", STRING),
        time: b.add_date_field("time", INDEXED | STORED | FAST),
    };
    (b.build(), f)
}

/// Segments with more documents than this are not merged further (see [`SearchIndex::writer`]).
pub const MAX_DOCS_BEFORE_MERGE: usize = 100_000;

/// The index of one node.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    segmenter: Arc<Segmenter>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

fn tdate(t: DateTime<Utc>) -> TDate {
    TDate::from_timestamp_millis(t.timestamp_millis())
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir`; the tokenizers are registered on every open.
    pub fn open(dir: &Path, segmenter: Arc<Segmenter>) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Index(format!("{}: {e}", dir.display())))?;
        let (schema, fields) = schema();
        let directory =
            tantivy::directory::MmapDirectory::open(dir).map_err(|e| SearchError::Index(e.to_string()))?;
        let index = Index::open_or_create(directory, schema)?;
        Self::with_index(index, fields, segmenter)
    }

    /// An index in memory (tests).
    pub fn in_memory(segmenter: Arc<Segmenter>) -> Result<Self, SearchError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields, segmenter)
    }

    fn with_index(index: Index, fields: Fields, segmenter: Arc<Segmenter>) -> Result<Self, SearchError> {
        index.tokenizers().register(WORDS, WordTokenizer::new(segmenter.clone()));
        index.tokenizers().register(BIGRAMS, BigramTokenizer::default());
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex { index, reader, fields, segmenter })
    }

    /// A writer with a 64 MB indexing budget. Merges take four segments at a time (tantivy's
    /// default is eight) and segments stop growing by merges at [`MAX_DOCS_BEFORE_MERGE`]
    /// documents: a merge reads its inputs through memory maps, which count in the process's
    /// resident memory, so large merges of a million-post index take gigabytes; a few more
    /// segments cost searches little (BENCHMARKS.md).
    pub fn writer(&self) -> Result<IndexWriter, SearchError> {
        let w = self.index.writer(64 * 1024 * 1024)?;
        let mut policy = tantivy::merge_policy::LogMergePolicy::default();
        policy.set_max_docs_before_merge(MAX_DOCS_BEFORE_MERGE);
        policy.set_min_num_segments(4);
        w.set_merge_policy(Box::new(policy));
        Ok(w)
    }

    /// Adds (or replaces) posts; call [`SearchIndex::commit`] after a batch.
    pub fn add(&self, w: &IndexWriter, posts: &[IndexedPost]) -> Result<(), SearchError> {
        let f = self.fields;
        for p in posts {
            w.delete_term(Term::from_field_u64(f.id, p.id));
            let mut d = TantivyDocument::default();
            d.add_u64(f.id, p.id);
            d.add_text(f.title, &p.title);
            d.add_text(f.body, &p.body);
            d.add_text(f.title_bi, &p.title);
            d.add_text(f.body_bi, &p.body);
            d.add_text(f.source, &p.source);
            for dep in &p.departments {
                d.add_text(f.department, dep);
            }
            d.add_text(f.lang, &p.lang);
            d.add_text(f.sentiment, &p.sentiment);
            d.add_date(f.time, tdate(p.time));
            w.add_document(d)?;
        }
        Ok(())
    }

    /// Removes posts (retention); call [`SearchIndex::commit`] after.
    pub fn delete(&self, w: &IndexWriter, ids: &[u64]) {
        for &id in ids {
            w.delete_term(Term::from_field_u64(self.fields.id, id));
        }
    }

    /// Commits, keeping the note of the last commit (see [`SearchIndex::commit_with_payload`]).
    pub fn commit(&self, w: &mut IndexWriter) -> Result<(), SearchError> {
        let kept = self.payload()?;
        let mut prepared = w.prepare_commit()?;
        if let Some(p) = &kept {
            prepared.set_payload(p);
        }
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Commits with a note stored atomically with the commit (how far the index has followed
    /// the store); [`SearchIndex::payload`] reads it back.
    pub fn commit_with_payload(&self, w: &mut IndexWriter, payload: &str) -> Result<(), SearchError> {
        let mut prepared = w.prepare_commit()?;
        prepared.set_payload(payload);
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The note of the last commit made with [`SearchIndex::commit_with_payload`], if any.
    pub fn payload(&self) -> Result<Option<String>, SearchError> {
        Ok(self.index.load_metas()?.payload)
    }

    /// Ids of every indexed post (to compare with the store).
    pub fn ids(&self) -> Result<Vec<u64>, SearchError> {
        let searcher = self.reader.searcher();
        let mut out = Vec::new();
        for seg in searcher.segment_readers() {
            let col = seg.fast_fields().u64("id").map_err(|e| SearchError::Index(e.to_string()))?;
            let alive = seg.alive_bitset();
            for doc in 0..seg.max_doc() {
                if alive.is_none_or(|a| a.is_alive(doc))
                    && let Some(v) = col.first(doc)
                {
                    out.push(v);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn text_query(&self, text: &str) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let mut musts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut bi = Vec::new();
        for t in self.segmenter.cut(text) {
            if !t.word.chars().any(char::is_alphanumeric) {
                continue;
            }
            let word = normalize_term(t.word);
            let mut either: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for field in [f.title, f.body] {
                either.push((
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, &word),
                        IndexRecordOption::WithFreqsAndPositions,
                    )),
                ));
            }
            // The same word as bigrams: matches text that segmentation split differently.
            bigrams(t.word, &mut bi);
            for field in [f.title_bi, f.body_bi] {
                let terms: Vec<Term> = bi.iter().map(|b| Term::from_field_text(field, &b.text)).collect();
                match terms.len() {
                    0 => {}
                    1 => either.push((
                        Occur::Should,
                        Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::WithFreqsAndPositions)),
                    )),
                    _ => either.push((Occur::Should, Box::new(PhraseQuery::new(terms)))),
                }
            }
            musts.push((Occur::Must, Box::new(BooleanQuery::new(either))));
        }
        (!musts.is_empty()).then(|| Box::new(BooleanQuery::new(musts)) as Box<dyn Query>)
    }

    pub fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, SearchError> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let text_q = self.text_query(&q.text);
        if let Some(tq) = &text_q {
            clauses.push((Occur::Must, tq.box_clone()));
        }
        for (field, value) in [
            (f.source, &q.source),
            (f.department, &q.department),
            (f.lang, &q.lang),
            (f.sentiment, &q.sentiment),
        ] {
            if let Some(v) = value {
                clauses.push((
                    Occur::Must,
                    Box::new(TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic)),
                ));
            }
        }
        if q.from.is_some() || q.to.is_some() {
            use std::ops::Bound;
            let lo =
                q.from.map_or(Bound::Unbounded, |t| Bound::Included(Term::from_field_date(f.time, tdate(t))));
            let hi =
                q.to.map_or(Bound::Unbounded, |t| Bound::Excluded(Term::from_field_date(f.time, tdate(t))));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        if clauses.is_empty() {
            return Err(SearchError::Query("give words to look for or a filter".into()));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let limit = q.limit.clamp(1, 1000);
        let docs: Vec<(f32, tantivy::DocAddress)> = if q.by_time {
            searcher
                .search(
                    &query,
                    &TopDocs::with_limit(limit).order_by_fast_field::<TDate>("time", Order::Desc),
                )?
                .into_iter()
                .map(|(_, a)| (0.0, a))
                .collect()
        } else {
            searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?
        };
        let snippets = match &text_q {
            Some(tq) => Some((
                tantivy::snippet::SnippetGenerator::create(&searcher, tq.as_ref(), f.body)?,
                tantivy::snippet::SnippetGenerator::create(&searcher, tq.as_ref(), f.title)?,
            )),
            None => None,
        };
        let mut hits = Vec::with_capacity(docs.len());
        for (score, addr) in docs {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let id = doc.get_first(f.id).and_then(|v| v.as_u64()).unwrap_or(0);
            let title = doc.get_first(f.title).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let time = doc
                .get_first(f.time)
                .and_then(|v| v.as_datetime())
                .and_then(|d| DateTime::from_timestamp_millis(d.into_timestamp_millis()))
                .unwrap_or_default();
            // The body around the matches; the title when only the title matched.
            let snippet = match &snippets {
                Some((body, title)) => {
                    let s = body.snippet_from_doc(&doc);
                    if s.highlighted().is_empty() {
                        title.snippet_from_doc(&doc).to_html()
                    } else {
                        s.to_html()
                    }
                }
                None => String::new(),
            };
            let source = doc.get_first(f.source).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let departments =
                doc.get_all(f.department).filter_map(|v| v.as_str()).map(str::to_owned).collect();
            hits.push(Hit { id, score, title, snippet, time, source, departments });
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn post(id: u64, title: &str, body: &str, source: &str, dep: &str, day: u32) -> IndexedPost {
        IndexedPost {
            id,
            title: title.into(),
            body: body.into(),
            source: source.into(),
            departments: vec![dep.into()],
            lang: "zh".into(),
            sentiment: "negative".into(),
            time: Utc.with_ymd_and_hms(2026, 11, day, 2, 0, 0).unwrap(),
        }
    }

    fn index() -> SearchIndex {
        let ix = SearchIndex::in_memory(Arc::new(Segmenter::new())).unwrap();
        let mut w = ix.writer().unwrap();
        ix.add(
            &w,
            &[
                post(
                    1,
                    "小区漏水投诉",
                    "那拉提镇某小区楼顶漏水，业主多次投诉物业无人处理。",
                    "weibo",
                    "housing",
                    20,
                ),
                post(2, "暖气不热", "新源镇幸福小区暖气不热，供热公司推诿。", "hotline", "housing", 21),
                post(3, "道路结冰", "则克台镇道路结冰，出行困难。", "weibo", "transport", 22),
                post(4, "醫保報銷", "醫保報銷太慢了。", "forum", "medical", 23),
            ],
        )
        .unwrap();
        ix.commit(&mut w).unwrap();
        ix
    }

    fn q(text: &str) -> SearchQuery {
        SearchQuery { text: text.into(), limit: 10, ..SearchQuery::default() }
    }

    #[test]
    fn unspaced_chinese_queries_find_posts() {
        let ix = index();
        let hits = ix.search(&q("小区漏水投诉")).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1]);
        assert!(hits[0].snippet.contains("<b>"), "{}", hits[0].snippet);
        // "小区" alone finds both posts with it.
        let mut ids: Vec<u64> = ix.search(&q("小区")).unwrap().iter().map(|h| h.id).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 2]);
        // Traditional characters match simplified queries (and the other way round).
        assert_eq!(ix.search(&q("医保报销")).unwrap().iter().map(|h| h.id).collect::<Vec<_>>(), vec![4]);
    }

    #[test]
    fn bigrams_recall_what_segmentation_splits() {
        let ix = index();
        // "区楼" is no word of the segmenter, but its bigram is in post 1.
        assert_eq!(ix.search(&q("区楼")).unwrap().iter().map(|h| h.id).collect::<Vec<_>>(), vec![1]);
        assert!(ix.search(&q("区楼顶漏雨")).unwrap().is_empty(), "every query word must match");
    }

    #[test]
    fn filters_and_time_order() {
        let ix = index();
        let mut by_source = q("");
        by_source.source = Some("weibo".into());
        by_source.by_time = true;
        assert_eq!(ix.search(&by_source).unwrap().iter().map(|h| h.id).collect::<Vec<_>>(), vec![3, 1]);
        let mut dep = q("小区");
        dep.department = Some("housing".into());
        dep.from = Some(Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap());
        assert_eq!(ix.search(&dep).unwrap().iter().map(|h| h.id).collect::<Vec<_>>(), vec![2]);
        assert!(ix.search(&q("")).is_err(), "an empty query is refused, not a dump of everything");
        assert_eq!(ix.ids().unwrap(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn deleted_posts_are_gone_from_search() {
        let ix = index();
        let mut w = ix.writer().unwrap();
        ix.delete(&w, &[1, 3]);
        ix.commit(&mut w).unwrap();
        assert_eq!(ix.ids().unwrap(), vec![2, 4]);
        assert!(ix.search(&q("小区漏水投诉")).unwrap().is_empty());
    }

    #[test]
    fn re_adding_a_post_replaces_it() {
        let ix = index();
        let mut w = ix.writer().unwrap();
        ix.add(&w, &[post(2, "暖气已修好", "供热恢复。", "hotline", "housing", 24)]).unwrap();
        ix.commit(&mut w).unwrap();
        assert_eq!(ix.ids().unwrap(), vec![1, 2, 3, 4]);
        assert!(ix.search(&q("暖气不热")).unwrap().is_empty());
    }
}
