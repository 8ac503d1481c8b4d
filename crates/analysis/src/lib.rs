//! The analysis core: from a post to explainable department flags, sentiment, risk and places.
//!
//! [`Analyzer`] is built once from the county configuration and the dictionaries and is then
//! shared (`&self`, `Sync`) by every thread. Per post it normalises each field, scans it once with
//! the shared automaton ([`matcher`]), evaluates the topic rules from the hits ([`rules`]),
//! segments once with the shared segmenter for keywords, SimHash, sentiment and the learned
//! router, and assigns departments ([`assign`]).
//!
//! No IO and no clock: dictionaries and configuration arrive as strings, output is a value.
//! Locality never gates department assignment, and the language of a post never raises its risk.

pub mod assign;
pub mod config;
pub mod eval;
mod json;
mod matcher;
pub mod router;
pub mod rules;
pub mod sentiment;

use rustc_hash::FxHashMap;
use serde::Serialize;
use yuqing_domain::{Document, Field, Jurisdiction, Lang, TownshipKind, Unit, UnitKind};
use yuqing_text::{Idf, Keyword, Normalized, Segmenter, Stopwords, normalize};

pub use assign::{DepartmentHit, Via};
pub use config::{ConfigErrors, ConfigIssue, CountyConfig};
pub use router::{Policy, RouterModel};
pub use sentiment::{Sentiment, SentimentLexicon};

use matcher::{Hit, Matcher, MatcherBuilder, Use};
use rules::RuleSet;

/// The dictionary files, as text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dictionaries<'a> {
    pub userdict: &'a str,
    pub stopwords: &'a str,
    pub positive: &'a str,
    pub negative: &'a str,
    pub negation: &'a str,
    pub degree: &'a str,
    pub risk: &'a str,
    pub idf: &'a str,
}

impl<'a> Dictionaries<'a> {
    /// The dictionaries from `(path relative to dictionaries/, text)` pairs; the error names the
    /// missing file.
    pub fn from_files(files: &'a [(String, String)]) -> Result<Self, String> {
        let get = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p == name)
                .map(|(_, t)| t.as_str())
                .ok_or_else(|| format!("missing dictionary file {name}"))
        };
        Ok(Dictionaries {
            userdict: get("userdict.txt")?,
            stopwords: get("stopwords.txt")?,
            positive: get("sentiment/positive.txt")?,
            negative: get("sentiment/negative.txt")?,
            negation: get("sentiment/negation.txt")?,
            degree: get("sentiment/degree.txt")?,
            risk: get("risk.txt")?,
            idf: get("idf.txt")?,
        })
    }
}

/// Why an analyzer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("dictionaries/{file}: {message}")]
    Dictionary { file: &'static str, message: String },
    #[error("the rule automaton could not be built: {0}")]
    Automaton(String),
}

/// Kind of a place named in a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    County,
    Township,
    Village,
    Landmark,
    Regiment,
}

#[derive(Debug, Clone)]
struct Place {
    name: String,
    kind: PlaceKind,
    township: Option<usize>,
    jurisdiction: Jurisdiction,
}

#[derive(Debug, Clone)]
struct RiskWord {
    word: String,
    weight: f32,
    category: String,
}

/// A place named in a post.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceHit<'a> {
    pub name: &'a str,
    pub kind: PlaceKind,
    /// The township it lies in (the township itself for a township).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub township: Option<&'a str>,
    pub jurisdiction: Jurisdiction,
}

/// Risk of a post: a score in [0, 1] and the words behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk<'a> {
    pub score: f32,
    pub words: Vec<&'a str>,
    pub categories: Vec<&'a str>,
}

/// One word occurrence that made a topic fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceOut<'a> {
    /// The rule's word as written (for a prefix, without `*`).
    pub word: &'a str,
    pub field: Field,
    /// Unicode-scalar offsets into the original field text, end exclusive (the first occurrence).
    pub start: usize,
    pub end: usize,
    /// Occurrences of the word in this field, when more than one.
    #[serde(skip_serializing_if = "is_one")]
    pub count: u32,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A topic that fired, as shown to the officer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicOut<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub evidence: Vec<EvidenceOut<'a>>,
}

/// The analysis of one post.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis<'a> {
    pub id: String,
    pub lang: Lang,
    pub keywords: Vec<Keyword>,
    pub departments: Vec<DepartmentHit<'a>>,
    pub sentiment: Sentiment,
    pub risk: Risk<'a>,
    pub places: Vec<PlaceHit<'a>>,
    pub local: bool,
    /// 64-bit SimHash as 16 hex digits.
    pub simhash: String,
}

/// The rule stage's result for one post, kept until its word stage.
#[derive(Debug)]
struct Matched {
    norm: [Normalized; 2],
    place_hits: Vec<(u32, Hit)>,
    risk_hits: Vec<u32>,
    gov: Vec<(u32, Hit)>,
    conduct: Vec<(u32, Hit)>,
    fired: Vec<rules::Fired>,
}

/// What the analyzer keeps between the rule stage and the output, for the router and `explain`.
#[derive(Debug, Clone)]
pub struct Intermediate {
    pub words: Vec<String>,
    pub fired: Vec<rules::Fired>,
}

/// The analysis engine; build once, share everywhere.
#[derive(Debug)]
pub struct Analyzer {
    units: Vec<Unit>,
    townships: Vec<yuqing_domain::Township>,
    segmenter: std::sync::Arc<Segmenter>,
    idf: Idf,
    stopwords: Stopwords,
    sentiment: SentimentLexicon,
    matcher: Matcher,
    rules: RuleSet,
    /// Per topic: whether it is a unit's built-in name topic.
    named_topics: Vec<bool>,
    places: Vec<Place>,
    risk_words: Vec<RiskWord>,
    /// Unit index of each township's government, by township index.
    township_unit: Vec<Option<usize>>,
    /// Township-government and conduct words, as configured.
    government_words: Vec<String>,
    conduct_words: Vec<String>,
    /// Per unit: the ids of its built-in conduct and territory topics.
    conduct_topic: Vec<String>,
    territory_topic: Vec<String>,
    keyword_count: usize,
}

const NAMED_TOPIC: &str = "named";

impl Analyzer {
    /// Builds the analyzer. Takes a few hundred milliseconds (jieba's dictionary and the IDF table).
    pub fn new(cfg: &CountyConfig, dicts: Dictionaries<'_>) -> Result<Self, BuildError> {
        let mut segmenter = Segmenter::new();
        segmenter
            .load_user_dict(dicts.userdict)
            .map_err(|e| BuildError::Dictionary { file: "userdict.txt", message: e.to_string() })?;
        for u in &cfg.units {
            for n in u.names() {
                segmenter.add_word(n, "nt");
            }
        }
        let county = &cfg.county;
        for n in std::iter::once(&county.name).chain(&county.short).chain(&county.landmarks) {
            segmenter.add_word(n, "ns");
        }
        for t in &cfg.townships {
            for n in std::iter::once(&t.name).chain(&t.short).chain(&t.villages) {
                segmenter.add_word(n, "ns");
            }
        }
        let (idf, _bad_idf) = Idf::parse(dicts.idf);
        let stopwords = Stopwords::parse(dicts.stopwords);
        let (sentiment, bad) =
            SentimentLexicon::parse(dicts.positive, dicts.negative, dicts.negation, dicts.degree);
        if bad > 0 {
            return Err(BuildError::Dictionary {
                file: "sentiment/degree.txt",
                message: format!("{bad} line(s) are not `word<TAB>multiplier` with a positive number"),
            });
        }

        let mut b = MatcherBuilder::default();
        // Topics: the configured ones, plus one "named" topic per unit for its names and aliases.
        let mut named = Vec::with_capacity(cfg.units.len());
        for u in &cfg.units {
            named.push(config::TopicDef {
                id: format!("{}.{NAMED_TOPIC}", u.id),
                name: "点名提及".into(),
                region: vec![],
                subject: u.names().map(str::to_owned).collect(),
                event: vec![],
                exclude: vec![],
                expr: None,
                unit: Some(u.id.clone()),
                file: "departments.toml".into(),
            });
        }
        let defs: Vec<&config::TopicDef> = cfg.topics.iter().chain(&named).collect();
        let unit_pos: FxHashMap<&str, usize> =
            cfg.units.iter().enumerate().map(|(i, u)| (u.id.as_str(), i)).collect();
        let rules = RuleSet::compile(
            &defs,
            |d| d.unit.as_ref().and_then(|u| unit_pos.get(u.as_str()).copied()),
            &mut b,
        );

        let mut places = Vec::new();
        let mut add_place = |b: &mut MatcherBuilder, p: Place| {
            let idx = places.len() as u32;
            if b.add(&p.name, Use::Place(idx)).is_some() {
                places.push(p);
            }
        };
        for n in std::iter::once(&county.name).chain(&county.short).chain(&county.other_names) {
            add_place(
                &mut b,
                Place {
                    name: n.clone(),
                    kind: PlaceKind::County,
                    township: None,
                    jurisdiction: Jurisdiction::County,
                },
            );
        }
        for n in &county.landmarks {
            add_place(
                &mut b,
                Place {
                    name: n.clone(),
                    kind: PlaceKind::Landmark,
                    township: None,
                    jurisdiction: Jurisdiction::County,
                },
            );
        }
        let mut township_unit = Vec::new();
        for (ti, t) in cfg.townships.iter().enumerate() {
            let kind =
                if t.kind == TownshipKind::Regiment { PlaceKind::Regiment } else { PlaceKind::Township };
            for n in std::iter::once(&t.name).chain(&t.short) {
                add_place(
                    &mut b,
                    Place { name: n.clone(), kind, township: Some(ti), jurisdiction: t.jurisdiction },
                );
            }
            for v in &t.villages {
                add_place(
                    &mut b,
                    Place {
                        name: v.clone(),
                        kind: PlaceKind::Village,
                        township: Some(ti),
                        jurisdiction: t.jurisdiction,
                    },
                );
            }
            township_unit.push(cfg.units.iter().position(|u| u.township.as_ref() == Some(&t.code)));
        }

        let mut risk_words = Vec::new();
        for (i, line) in dicts.risk.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut p = line.split('\t');
            let (Some(word), Some(weight), category) =
                (p.next(), p.next().and_then(|w| w.trim().parse::<f32>().ok()), p.next())
            else {
                return Err(BuildError::Dictionary {
                    file: "risk.txt",
                    message: format!("line {}: expected `word<TAB>weight<TAB>category`", i + 1),
                });
            };
            let idx = risk_words.len() as u32;
            if b.add(word.trim(), Use::Risk(idx)).is_some() {
                risk_words.push(RiskWord {
                    word: word.trim().to_owned(),
                    weight: weight.clamp(0.0, 10.0),
                    category: category.unwrap_or("").trim().to_owned(),
                });
            }
        }
        for (i, w) in cfg.township_words.government_words.iter().enumerate() {
            b.add(w, Use::Government(i as u32));
        }
        for (i, w) in cfg.township_words.conduct_words.iter().enumerate() {
            b.add(w, Use::Conduct(i as u32));
        }
        let matcher = b.build().map_err(|e| BuildError::Automaton(e.to_string()))?;
        Ok(Self {
            units: cfg.units.clone(),
            townships: cfg.townships.clone(),
            segmenter: std::sync::Arc::new(segmenter),
            idf,
            stopwords,
            sentiment,
            matcher,
            named_topics: rules.topics.iter().map(|t| assign::is_named_topic(&t.id)).collect(),
            rules,
            places,
            risk_words,
            township_unit,
            government_words: cfg.township_words.government_words.clone(),
            conduct_words: cfg.township_words.conduct_words.clone(),
            conduct_topic: cfg.units.iter().map(|u| format!("{}.conduct", u.id)).collect(),
            territory_topic: cfg.units.iter().map(|u| format!("{}.territory", u.id)).collect(),
            keyword_count: 10,
        })
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The one segmenter (with the county's words), shared with the search index's tokenizer.
    pub fn shared_segmenter(&self) -> std::sync::Arc<Segmenter> {
        self.segmenter.clone()
    }

    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    pub fn pattern_count(&self) -> usize {
        self.matcher.pattern_count()
    }

    /// Heap bytes of the automaton (it is walked for every byte of every post).
    pub fn automaton_bytes(&self) -> usize {
        self.matcher.memory_usage()
    }

    /// Words of normalised text for keywords, SimHash, sentiment and the router.
    pub fn words<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.segmenter.cut(text).into_iter().map(|t| t.word).collect()
    }

    /// Analyses one post, optionally with the learned router.
    pub fn analyze(&self, doc: &Document, model: Option<&RouterModel>) -> Analysis<'_> {
        self.word_stage(doc, self.match_stage(doc), model, false).0
    }

    /// Analyses posts in order, the same as [`Analyzer::analyze`] on each. Faster on many posts:
    /// the rule stage runs over all of them first, then segmentation and the rest, so each stage's
    /// tables stay in cache across the batch instead of evicting one another at every post (with
    /// thousands of topics, the rule tables are the larger part). Batches of a few dozen suffice.
    pub fn analyze_batch<'d>(
        &self,
        docs: impl IntoIterator<Item = &'d Document>,
        model: Option<&RouterModel>,
    ) -> Vec<Analysis<'_>> {
        let matched: Vec<(&Document, Matched)> = docs.into_iter().map(|d| (d, self.match_stage(d))).collect();
        matched.into_iter().map(|(d, m)| self.word_stage(d, m, model, false).0).collect()
    }

    /// Analyses one post and also returns the intermediate words and fired topics.
    pub fn analyze_full(&self, doc: &Document, model: Option<&RouterModel>) -> (Analysis<'_>, Intermediate) {
        self.word_stage(doc, self.match_stage(doc), model, true)
    }

    /// The rule stage: normalisation, the one scan of the automaton, and the topics that fire.
    fn match_stage(&self, doc: &Document) -> Matched {
        let norm = [normalize(&doc.title), normalize(&doc.body)];
        let normalized = |f: Field| -> &Normalized { &norm[f as usize] };

        let mut term_hits: Vec<(u32, Hit)> = Vec::with_capacity(256);
        let mut place_hits: Vec<(u32, Hit)> = Vec::new();
        let mut risk_hits: Vec<u32> = Vec::new();
        let (mut gov, mut conduct) = (Vec::new(), Vec::new());
        for f in Field::ALL {
            self.matcher.scan(f, normalized(f), |u, h| match u {
                Use::Term(t) => term_hits.push((t, h)),
                Use::Place(p) => place_hits.push((p, h)),
                Use::Risk(r) => risk_hits.push(r),
                Use::Government(w) => gov.push((w, h)),
                Use::Conduct(w) => conduct.push((w, h)),
            });
        }
        // In scan order (title first, text order): the rule set groups them by term itself.
        let char_index = |f: Field, byte: u32| normalized(f).char_index(byte as usize) as u32;
        let fired = self.rules.evaluate(&term_hits, &char_index);
        Matched { norm, place_hits, risk_hits, gov, conduct, fired }
    }

    /// Everything after the rule stage: words, keywords, SimHash, sentiment, language, places,
    /// risk and the department decision.
    fn word_stage(
        &self,
        doc: &Document,
        matched: Matched,
        model: Option<&RouterModel>,
        want_words: bool,
    ) -> (Analysis<'_>, Intermediate) {
        let Matched { norm, mut place_hits, mut risk_hits, gov, conduct, fired } = matched;
        self.rules.prefetch_output(&fired);
        let normalized = |f: Field| -> &Normalized { &norm[f as usize] };

        // Words: one segmentation per field.
        let mut words: Vec<&str> = Vec::new();
        for f in Field::ALL {
            if !words.is_empty() {
                words.push("。");
            }
            words.extend(self.words(normalized(f).as_str()));
        }
        let stats = yuqing_text::word_stats(words.iter().copied(), &self.idf, &self.stopwords);
        let keywords = yuqing_text::keywords_from(&stats, self.keyword_count);
        // SimHash over the same words, weighted by tf × idf (idf capped so rare typos do not dominate).
        let simhash = yuqing_text::simhash(stats.iter().map(|s| (s.word, s.count as f32 * s.idf.min(12.0))));
        let sentiment = self.sentiment.score(words.iter().copied());
        let lang = if doc.title.is_empty() {
            yuqing_text::detect_lang(&doc.body)
        } else if doc.body.is_empty() {
            yuqing_text::detect_lang(&doc.title)
        } else {
            yuqing_text::detect_lang(&format!("{}\n{}", doc.title, doc.body))
        };

        // A county name inside a company's trade name (丰新源投资有限公司) is not a place mention.
        place_hits.retain(|(p, h)| {
            let pl = &self.places[*p as usize];
            !(pl.kind == PlaceKind::County
                && in_trade_name(normalized(h.field).as_str(), h.start as usize, h.end as usize))
        });
        // Places, in order of first appearance, title first. A place name inside a longer one
        // (喀拉布拉 in 喀拉布拉克村) is not a mention of its own.
        place_hits.sort_unstable_by_key(|h| (h.1.field, h.1.start, std::cmp::Reverse(h.1.end)));
        let mut longest: Vec<(u32, Hit)> = Vec::with_capacity(place_hits.len());
        let mut cover: Option<Hit> = None; // the hit reaching furthest so far in this field
        for &(p, h) in &place_hits {
            let inside = cover.is_some_and(|o| {
                o.field == h.field
                    && o.start <= h.start
                    && h.end <= o.end
                    && (o.end - o.start) > (h.end - h.start)
            });
            if !inside {
                longest.push((p, h));
            }
            if cover.is_none_or(|o| o.field != h.field || h.end > o.end) {
                cover = Some(h);
            }
        }
        let place_hits = longest;
        let mut seen_places = Vec::new();
        for (p, _) in &place_hits {
            if !seen_places.contains(p) {
                seen_places.push(*p);
            }
        }
        let places_out: Vec<PlaceHit> = seen_places
            .iter()
            .map(|&p| {
                let pl = &self.places[p as usize];
                PlaceHit {
                    name: pl.name.as_str(),
                    kind: pl.kind,
                    township: pl.township.map(|t| self.townships[t].name.as_str()),
                    jurisdiction: pl.jurisdiction,
                }
            })
            .collect();
        let local = !places_out.is_empty();
        let mut townships_named: Vec<usize> = Vec::new();
        for &p in &seen_places {
            if let Some(t) = self.places[p as usize].township
                && !townships_named.contains(&t)
            {
                townships_named.push(t);
            }
        }

        // Risk: distinct words, combined as independent chances.
        risk_hits.sort_unstable();
        risk_hits.dedup();
        let mut risk_list: Vec<&RiskWord> = risk_hits.iter().map(|&r| &self.risk_words[r as usize]).collect();
        risk_list.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.word.cmp(&b.word)));
        let score = 1.0 - risk_list.iter().fold(1.0f32, |acc, r| acc * (1.0 - r.weight / 10.0).max(0.0));
        let mut categories: Vec<&str> = Vec::new();
        for r in &risk_list {
            if !r.category.is_empty() && !categories.contains(&r.category.as_str()) {
                categories.push(r.category.as_str());
            }
        }
        let risk = Risk {
            score: (score * 10_000.0).round() / 10_000.0,
            words: risk_list.iter().map(|r| r.word.as_str()).collect(),
            categories,
        };

        let evidence_out =
            |ev: &rules::Evidence| evidence_at(&norm, self.rules.term_text(ev.term), ev.hit, ev.count);
        let place_evidence = |t: usize| -> Vec<EvidenceOut<'_>> {
            let ev = place_hits
                .iter()
                .filter(|(p, _)| self.places[*p as usize].township == Some(t))
                .map(|&(p, h)| evidence_at(&norm, self.places[p as usize].name.as_str(), h, 1))
                .collect::<Vec<_>>();
            first_per_word(ev)
        };
        let conduct_evidence = || -> Vec<EvidenceOut<'_>> {
            let gov = gov.iter().map(|&(w, h)| evidence_at(&norm, &self.government_words[w as usize], h, 1));
            let act = conduct.iter().map(|&(w, h)| evidence_at(&norm, &self.conduct_words[w as usize], h, 1));
            first_per_word(gov.chain(act).collect())
        };

        // Router words: the same keyword-eligible words, in order (built only when needed).
        let words_owned: Vec<String> = if model.is_some() || want_words {
            words
                .iter()
                .filter(|w| {
                    !self.stopwords.contains(w)
                        && w.chars().nth(1).is_some()
                        && w.chars().any(char::is_alphanumeric)
                })
                .map(|w| (*w).to_owned())
                .collect()
        } else {
            Vec::new()
        };
        let input = assign::Input {
            analyzer: self,
            fired: &fired,
            townships_named: &townships_named,
            conduct: !gov.is_empty() && !conduct.is_empty(),
            evidence_out: &evidence_out,
            territory_evidence: &place_evidence,
            conduct_evidence: &conduct_evidence,
        };
        let departments = assign::assign(&input, model, &words_owned);
        let analysis = Analysis {
            id: doc.id.clone(),
            lang,
            keywords,
            departments,
            sentiment,
            risk,
            places: places_out,
            local,
            simhash: format!("{simhash:016x}"),
        };
        (analysis, Intermediate { words: words_owned, fired })
    }

    /// The router features of an analysed post: its words and the rule share of each unit.
    pub fn router_features(&self, inter: &Intermediate) -> router::Features {
        let shares = assign::rule_shares(self, &inter.fired);
        router::Features {
            words: inter.words.clone(),
            rules: shares.into_iter().map(|(u, s)| (self.units[u].id.to_string(), s)).collect(),
        }
    }

    fn is_functional(&self, unit: usize) -> bool {
        self.units[unit].kind != UnitKind::Township
    }
}

/// Keeps the first occurrence of each word in each field, counting the others.
fn first_per_word(ev: Vec<EvidenceOut<'_>>) -> Vec<EvidenceOut<'_>> {
    let mut out: Vec<EvidenceOut<'_>> = Vec::with_capacity(ev.len().min(16));
    for e in ev {
        match out.iter_mut().find(|o| o.word == e.word && o.field == e.field) {
            Some(o) => o.count += 1,
            None => out.push(e),
        }
    }
    out
}

/// The evidence record of a hit: `word` as configured, offsets into the original field.
fn evidence_at<'w>(norm: &[Normalized; 2], word: &'w str, h: Hit, count: u32) -> EvidenceOut<'w> {
    let (start, end) = norm[h.field as usize].original_span(h.start as usize, h.end as usize);
    EvidenceOut { word, field: h.field, start, end, count }
}

#[cfg(test)]
mod tests;

/// Whether the name at `text[start..end]` is part of a company's trade name: directly after a Han
/// character that does not end a phrase (丰新源…, not 在新源… or 、新源…) and followed within four
/// characters by a company word (投资, 有限, 公司, 集团, 实业, 置业, 地产, 房地产, 商贸, 贸易, 物业,
/// 科技). `新源县…有限公司` is not affected: the longer name 新源县 is matched there.
fn in_trade_name(text: &str, start: usize, end: usize) -> bool {
    const COMPANY: [&str; 12] =
        ["投资", "有限", "公司", "集团", "实业", "置业", "地产", "房地产", "商贸", "贸易", "物业", "科技"];
    const PHRASE_END: &str = "在到去从于的和与及是往回来住向对给把被由自为、，。；：“”（）《》 \t\n";
    let (Some(before), Some(after)) = (text.get(..start), text.get(end..)) else { return false };
    let Some(prev) = before.chars().next_back() else { return false };
    let han = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
    if !han(prev) || PHRASE_END.contains(prev) {
        return false;
    }
    let window: String = after.chars().take(6).collect();
    COMPANY.iter().any(|w| window.find(w).is_some_and(|i| window[..i].chars().count() <= 4))
}
