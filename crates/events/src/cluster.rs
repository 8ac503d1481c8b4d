//! Incremental clustering of posts into events.

use chrono::{DateTime, Duration, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::heat::{EventStats, SourceTier};
use crate::spike::Baselines;

/// What clustering needs of one stored post (built from the post row and its analysis).
#[derive(Debug, Clone, PartialEq)]
pub struct PostSignal {
    pub post_id: i64,
    /// Publication time, else fetch time.
    pub time: DateTime<Utc>,
    pub source_id: String,
    pub tier: SourceTier,
    pub title: String,
    pub simhash: u64,
    /// The post's keywords with weights (TF-IDF), best first.
    pub keywords: Vec<(String, f32)>,
    /// The original this post nearly repeats (the store linked them).
    pub duplicate_of: Option<i64>,
    /// Exact copies of this post seen so far.
    pub reposts: u64,
    pub engagement: u64,
    /// Unit names, lead first.
    pub departments: Vec<String>,
    pub topics: Vec<String>,
    pub townships: Vec<String>,
    pub local: bool,
    /// In [0, 1]: 0 neutral or positive, 1 very negative.
    pub negativity: f32,
    pub risk: f32,
    pub risk_words: Vec<String>,
    pub rumour: bool,
}

/// How a post came to its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinVia {
    /// It started the event.
    New,
    /// A near-duplicate or repost of a post of the event.
    Duplicate,
    /// Its SimHash is within the distance of a post of the event.
    Simhash,
    /// Its keywords overlap the event's.
    Keywords,
}

impl JoinVia {
    pub fn as_str(self) -> &'static str {
        match self {
            JoinVia::New => "new",
            JoinVia::Duplicate => "duplicate",
            JoinVia::Simhash => "simhash",
            JoinVia::Keywords => "keywords",
        }
    }
}

/// Where a post went. `event` is a stored id (> 0) or, for an event created in this batch and not
/// yet stored, a provisional id (< 0) until [`Clusterer::assign_id`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub post_id: i64,
    pub event: i64,
    pub via: JoinVia,
    /// Similarity to the event when it joined (1 for new and duplicates).
    pub score: f32,
}

/// Tuning; the defaults are what the tests and the govmsg evaluation use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterParams {
    /// A post joins only events with a post within this time of it…
    pub window: Duration,
    /// …or within this longer time when its keywords overlap strongly (a story people keep
    /// writing about for weeks, as on a message board).
    pub long_window: Duration,
    /// SimHash Hamming distance at or below which texts are the same story.
    pub max_distance: u32,
    /// Keyword overlap that joins on its own.
    pub strong_overlap: f32,
    /// Keyword overlap that joins when the post and the event share a department, township or topic.
    pub overlap: f32,
    /// Keywords kept per event.
    pub event_keywords: usize,
    /// Keywords of a post used (and looked up).
    pub post_keywords: usize,
    /// SimHashes kept per event (the newest).
    pub event_hashes: usize,
}

impl Default for ClusterParams {
    fn default() -> Self {
        ClusterParams {
            window: Duration::days(7),
            long_window: Duration::days(30),
            max_distance: 8,
            strong_overlap: 0.5,
            overlap: 0.35,
            event_keywords: 30,
            post_keywords: 10,
            event_hashes: 64,
        }
    }
}

/// An open event as stored, for [`Clusterer::restore`].
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredEvent {
    pub id: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub title: String,
    pub title_post: i64,
    pub title_score: f32,
    pub stats: EventStats,
    pub keywords: Vec<(String, f32)>,
    pub departments: Vec<String>,
    pub topics: Vec<String>,
    pub townships: Vec<String>,
    /// Its posts' ids and SimHashes (newest last).
    pub posts: Vec<(i64, u64)>,
}

/// An event as the caller persists it after a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSnapshot {
    pub id: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub title: String,
    pub title_post: i64,
    pub title_score: f32,
    pub stats: EventStats,
    /// Normalised weights, best first.
    pub keywords: Vec<(String, f32)>,
    pub departments: Vec<String>,
    pub topics: Vec<String>,
    pub townships: Vec<String>,
}

#[derive(Debug, Clone)]
struct Ev {
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    title: String,
    title_post: i64,
    title_score: f32,
    stats: EventStats,
    /// Un-normalised keyword mass.
    keywords: FxHashMap<String, f32>,
    kw_total: f32,
    /// L2 norm of `keywords`.
    kw_norm: f32,
    departments: Vec<String>,
    topics: Vec<String>,
    townships: Vec<String>,
    hashes: Vec<u64>,
}

/// The open events of the window and their indexes.
#[derive(Debug, Clone)]
pub struct Clusterer {
    pub params: ClusterParams,
    events: FxHashMap<i64, Ev>,
    post_event: FxHashMap<i64, i64>,
    bands: [FxHashMap<u16, Vec<i64>>; 4],
    words: FxHashMap<String, Vec<i64>>,
    next_provisional: i64,
    newest: Option<DateTime<Utc>>,
    placed_since_evict: usize,
    /// Events changed since [`Clusterer::take_changed`].
    changed: FxHashSet<i64>,
    pub baselines: Baselines,
    /// Hour counts changed since the last take: `(key, hour) → count`.
    activity: FxHashMap<(String, i64), u32>,
}

fn band(h: u64, i: usize) -> u16 {
    (h >> (16 * i)) as u16
}

fn normalised(kw: &[(String, f32)], n: usize) -> Vec<(&str, f32)> {
    let top = &kw[..kw.len().min(n)];
    let total: f32 = top.iter().map(|(_, w)| w.max(0.0)).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    top.iter().map(|(k, w)| (k.as_str(), w.max(0.0) / total)).collect()
}

fn union_into(into: &mut Vec<String>, from: &[String]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
}

impl Ev {
    /// Cosine similarity in [0, 1] of the post's keyword weights and the event's keyword mass
    /// (robust to an event that has gathered many words).
    fn overlap(&self, post: &[(&str, f32)]) -> f32 {
        if self.kw_norm <= 0.0 {
            return 0.0;
        }
        let (mut dot, mut pn) = (0f32, 0f32);
        for (k, w) in post {
            pn += w * w;
            if let Some(e) = self.keywords.get(*k) {
                dot += w * e;
            }
        }
        if pn <= 0.0 { 0.0 } else { (dot / (pn.sqrt() * self.kw_norm)).clamp(0.0, 1.0) }
    }

    fn distance(&self, h: u64) -> u32 {
        self.hashes.iter().map(|x| (x ^ h).count_ones()).min().unwrap_or(64)
    }

    fn shares_context(&self, p: &PostSignal) -> bool {
        p.departments.iter().any(|d| self.departments.contains(d))
            || p.townships.iter().any(|t| self.townships.contains(t))
            || p.topics.iter().any(|t| self.topics.contains(t))
    }
}

impl Default for Clusterer {
    fn default() -> Self {
        Clusterer::new(ClusterParams::default())
    }
}

impl Clusterer {
    pub fn new(params: ClusterParams) -> Clusterer {
        Clusterer {
            params,
            events: FxHashMap::default(),
            post_event: FxHashMap::default(),
            bands: Default::default(),
            words: FxHashMap::default(),
            next_provisional: -1,
            newest: None,
            placed_since_evict: 0,
            changed: FxHashSet::default(),
            baselines: Baselines::new(),
            activity: FxHashMap::default(),
        }
    }

    /// Open events in memory.
    pub fn open_events(&self) -> usize {
        self.events.len()
    }

    /// Puts a stored event back (after a restart).
    pub fn restore(&mut self, e: RestoredEvent) {
        let mut ev = Ev {
            first_at: e.first_at,
            last_at: e.last_at,
            title: e.title,
            title_post: e.title_post,
            title_score: e.title_score,
            stats: e.stats,
            keywords: FxHashMap::default(),
            kw_total: 0.0,
            kw_norm: 0.0,
            departments: e.departments,
            topics: e.topics,
            townships: e.townships,
            hashes: Vec::new(),
        };
        for (k, w) in &e.keywords {
            ev.keywords.insert(k.clone(), *w);
            ev.kw_total += *w;
            self.words.entry(k.clone()).or_default().push(e.id);
        }
        ev.kw_norm = ev.keywords.values().map(|w| w * w).sum::<f32>().sqrt();
        let skip = e.posts.len().saturating_sub(self.params.event_hashes);
        for (i, (post, h)) in e.posts.iter().enumerate() {
            self.post_event.insert(*post, e.id);
            if i >= skip {
                ev.hashes.push(*h);
                for b in 0..4 {
                    self.bands[b].entry(band(*h, b)).or_default().push(e.id);
                }
            }
        }
        self.newest = Some(self.newest.map_or(e.last_at, |n| n.max(e.last_at)));
        self.events.insert(e.id, ev);
    }

    /// Places one post. Posts should come in commit order; their times may be out of order.
    pub fn place(&mut self, p: &PostSignal) -> Placement {
        self.newest = Some(self.newest.map_or(p.time, |n| n.max(p.time)));
        let kws = normalised(&p.keywords, self.params.post_keywords);
        let in_window = |ev: &Ev, w: Duration| p.time >= ev.first_at - w && p.time <= ev.last_at + w;

        let mut best: Option<(i64, JoinVia, f32)> = None;
        if let Some(orig) = p.duplicate_of
            && let Some(&e) = self.post_event.get(&orig)
            && self.events.contains_key(&e)
        {
            best = Some((e, JoinVia::Duplicate, 1.0));
        }
        if best.is_none() {
            let mut candidates: FxHashSet<i64> = FxHashSet::default();
            for b in 0..4 {
                if let Some(ids) = self.bands[b].get(&band(p.simhash, b)) {
                    candidates.extend(ids.iter().copied());
                }
            }
            for (k, _) in kws.iter().take(5) {
                if let Some(ids) = self.words.get(*k) {
                    candidates.extend(ids.iter().rev().take(256).copied());
                }
            }
            let mut ids: Vec<i64> = candidates.into_iter().collect();
            ids.sort_unstable();
            for id in ids {
                let Some(ev) = self.events.get(&id) else { continue };
                if !in_window(ev, self.params.long_window) {
                    continue;
                }
                let d = ev.distance(p.simhash);
                let o = ev.overlap(&kws);
                if !in_window(ev, self.params.window) && o < self.params.strong_overlap {
                    continue;
                }
                // Keywords join only with two distinctive words in common: one shared generic word
                // (小区, 物业) would chain unrelated complaints into one event.
                let shared = kws.iter().take(6).filter(|(k, _)| ev.keywords.contains_key(*k)).count();
                let (via, score) = if d <= self.params.max_distance {
                    (JoinVia::Simhash, 1.0 - d as f32 / 64.0)
                } else if shared >= 2
                    && (o >= self.params.strong_overlap || (o >= self.params.overlap && ev.shares_context(p)))
                {
                    (JoinVia::Keywords, o)
                } else {
                    continue;
                };
                if best.is_none_or(|(_, _, s)| score > s) {
                    best = Some((id, via, score));
                }
            }
        }
        let (id, via, score) = match best {
            Some(b) => b,
            None => {
                let id = self.next_provisional;
                self.next_provisional -= 1;
                self.events.insert(
                    id,
                    Ev {
                        first_at: p.time,
                        last_at: p.time,
                        title: p.title.clone(),
                        title_post: p.post_id,
                        title_score: f32::MIN,
                        stats: EventStats::default(),
                        keywords: FxHashMap::default(),
                        kw_total: 0.0,
                        kw_norm: 0.0,
                        departments: Vec::new(),
                        topics: Vec::new(),
                        townships: Vec::new(),
                        hashes: Vec::new(),
                    },
                );
                (id, JoinVia::New, 1.0)
            }
        };
        self.join(id, p, &kws);
        self.placed_since_evict += 1;
        if self.placed_since_evict >= 4096 {
            self.evict();
        }
        Placement { post_id: p.post_id, event: id, via, score }
    }

    fn join(&mut self, id: i64, p: &PostSignal, kws: &[(&str, f32)]) {
        let params = self.params;
        let mut spikes = Vec::new();
        for key in p
            .departments
            .iter()
            .map(|d| format!("dept:{d}"))
            .chain(p.townships.iter().map(|t| format!("town:{t}")))
        {
            let (hour, count, spike) = self.baselines.record(&key, p.time);
            if spike {
                spikes.push(key.clone());
            }
            self.activity.insert((key, hour), count);
        }
        let Some(ev) = self.events.get_mut(&id) else { return };
        let fit = ev.overlap(kws);
        ev.first_at = ev.first_at.min(p.time);
        ev.last_at = ev.last_at.max(p.time);
        for (k, w) in kws {
            match ev.keywords.get_mut(*k) {
                Some(x) => *x += w,
                None => {
                    ev.keywords.insert((*k).to_owned(), *w);
                    self.words.entry((*k).to_owned()).or_default().push(id);
                }
            }
            ev.kw_total += w;
        }
        if ev.keywords.len() > params.event_keywords * 2 {
            let mut all: Vec<(String, f32)> = ev.keywords.drain().collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            all.truncate(params.event_keywords);
            ev.kw_total = all.iter().map(|(_, w)| w).sum();
            ev.keywords = all.into_iter().collect();
        }
        ev.kw_norm = ev.keywords.values().map(|w| w * w).sum::<f32>().sqrt();
        ev.hashes.push(p.simhash);
        if ev.hashes.len() > params.event_hashes {
            ev.hashes.remove(0);
        }
        for b in 0..4 {
            let v = self.bands[b].entry(band(p.simhash, b)).or_default();
            if v.last() != Some(&id) {
                v.push(id);
            }
        }
        self.post_event.insert(p.post_id, id);
        union_into(&mut ev.departments, &p.departments);
        union_into(&mut ev.topics, &p.topics);
        union_into(&mut ev.townships, &p.townships);
        for (kind, values) in [('d', &p.departments), ('t', &p.topics), ('w', &p.townships)] {
            for v in values {
                *ev.stats.tally.entry(format!("{kind}:{v}")).or_default() += 1;
            }
        }
        // the most representative post: fits the event's words, from a weighty source, copied often
        let score = fit
            + 0.3 * p.tier.weight()
            + 0.1 * (p.reposts as f32).ln_1p()
            + 0.05 * (p.engagement as f32).ln_1p();
        if score > ev.title_score && !p.title.trim().is_empty() {
            ev.title = p.title.clone();
            ev.title_post = p.post_id;
            ev.title_score = score;
        }
        let s = &mut ev.stats;
        s.posts += 1;
        s.reposts += p.reposts;
        s.engagement += p.engagement;
        if let Err(at) = s.sources.binary_search(&p.source_id) {
            s.sources.insert(at, p.source_id.clone());
        }
        s.max_tier = s.max_tier.max(p.tier);
        s.local |= p.local;
        s.negativity_sum += p.negativity.clamp(0.0, 1.0);
        s.max_risk = s.max_risk.max(p.risk);
        for w in &p.risk_words {
            if !s.risk_words.contains(w) && s.risk_words.len() < 32 {
                s.risk_words.push(w.clone());
            }
        }
        s.rumour |= p.rumour;
        for k in spikes {
            if !s.spikes.contains(&k) {
                s.spikes.push(k);
            }
        }
        s.add_time(p.time);
        self.changed.insert(id);
    }

    /// Records that an existing post was copied again (an exact duplicate arrived): its event's
    /// volume grows.
    pub fn add_reposts(&mut self, post_id: i64, n: u64) -> Option<i64> {
        let id = *self.post_event.get(&post_id)?;
        let ev = self.events.get_mut(&id)?;
        ev.stats.reposts += n;
        self.changed.insert(id);
        Some(id)
    }

    /// Replaces a provisional id by the stored one.
    pub fn assign_id(&mut self, provisional: i64, id: i64) {
        let Some(ev) = self.events.remove(&provisional) else { return };
        for (b, v) in self.bands.iter_mut().enumerate() {
            for h in &ev.hashes {
                if let Some(ids) = v.get_mut(&band(*h, b)) {
                    ids.iter_mut().filter(|x| **x == provisional).for_each(|x| *x = id);
                }
            }
        }
        for k in ev.keywords.keys() {
            if let Some(ids) = self.words.get_mut(k) {
                ids.iter_mut().filter(|x| **x == provisional).for_each(|x| *x = id);
            }
        }
        for e in self.post_event.values_mut() {
            if *e == provisional {
                *e = id;
            }
        }
        if self.changed.remove(&provisional) {
            self.changed.insert(id);
        }
        self.events.insert(id, ev);
    }

    /// The events changed since the last call, as the caller stores them.
    pub fn take_changed(&mut self) -> Vec<EventSnapshot> {
        let mut ids: Vec<i64> = self.changed.drain().collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.snapshot(id)).collect()
    }

    /// Hour counts changed since the last call: `(key, hour, count)`.
    pub fn take_activity(&mut self) -> Vec<(String, i64, u32)> {
        let mut v: Vec<(String, i64, u32)> = self.activity.drain().map(|((k, h), c)| (k, h, c)).collect();
        v.sort();
        v
    }

    pub fn snapshot(&self, id: i64) -> Option<EventSnapshot> {
        let ev = self.events.get(&id)?;
        let mut keywords: Vec<(String, f32)> = ev
            .keywords
            .iter()
            .map(|(k, w)| (k.clone(), if ev.kw_total > 0.0 { w / ev.kw_total } else { 0.0 }))
            .collect();
        keywords.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        keywords.truncate(self.params.event_keywords);
        Some(EventSnapshot {
            id,
            first_at: ev.first_at,
            last_at: ev.last_at,
            title: ev.title.clone(),
            title_post: ev.title_post,
            title_score: ev.title_score,
            stats: ev.stats.clone(),
            keywords,
            departments: ev.stats.main('d', &ev.departments),
            topics: ev.stats.main('t', &ev.topics),
            townships: ev.stats.main('w', &ev.townships),
        })
    }

    /// Drops events whose newest post is older than the window before the newest post seen, and
    /// rebuilds the indexes without them.
    pub fn evict(&mut self) {
        self.placed_since_evict = 0;
        let Some(newest) = self.newest else { return };
        let cutoff = newest - self.params.long_window;
        let before = self.events.len();
        self.events.retain(|id, ev| ev.last_at >= cutoff || *id < 0);
        if self.events.len() == before {
            return;
        }
        let live = &self.events;
        self.post_event.retain(|_, e| live.contains_key(e));
        for v in self.bands.iter_mut() {
            v.retain(|_, ids| {
                ids.retain(|i| live.contains_key(i));
                !ids.is_empty()
            });
        }
        self.words.retain(|_, ids| {
            ids.retain(|i| live.contains_key(i));
            !ids.is_empty()
        });
    }
}
