#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use yuqing_domain::WarningLevel;

use crate::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap()
}

fn post(id: i64, minutes: i64, hash: u64, kws: &[(&str, f32)]) -> PostSignal {
    PostSignal {
        post_id: id,
        time: t0() + Duration::minutes(minutes),
        source_id: format!("s{}", id % 3),
        tier: SourceTier::Forum,
        title: format!("post {id}"),
        simhash: hash,
        keywords: kws.iter().map(|(k, w)| (k.to_string(), *w)).collect(),
        duplicate_of: None,
        reposts: 0,
        engagement: 0,
        departments: vec!["住房和城乡建设局".into()],
        topics: vec![],
        townships: vec![],
        local: true,
        negativity: 0.5,
        risk: 0.0,
        risk_words: vec![],
        rumour: false,
    }
}

const HEATING: &[(&str, f32)] = &[("供暖", 3.0), ("暖气", 2.5), ("小区", 1.0), ("温度", 1.0)];
const LOAN: &[(&str, f32)] = &[("车贷", 3.0), ("58", 2.0), ("诈骗", 2.0), ("退款", 1.0)];

#[test]
fn simhash_neighbours_keywords_and_duplicates_join_one_event() {
    let mut c = Clusterer::default();
    let a = c.place(&post(1, 0, 0xFFFF_0000_FFFF_0000, HEATING));
    assert_eq!(a.via, JoinVia::New);
    // 5 bits away: same text, lightly edited
    let b = c.place(&post(2, 5, 0xFFFF_0000_FFFF_001F, &[("小区", 1.0)]));
    assert_eq!((b.event, b.via), (a.event, JoinVia::Simhash));
    // different wording, same words
    let k = c.place(&post(3, 30, 0x0F0F_0F0F_0F0F_0F0F, &[("暖气", 2.0), ("供暖", 2.0), ("投诉", 1.0)]));
    assert_eq!((k.event, k.via), (a.event, JoinVia::Keywords));
    // a repost linked by the store joins its original's event whatever its text
    let mut d = post(4, 40, 0x1234_5678_9ABC_DEF0, &[]);
    d.duplicate_of = Some(3);
    assert_eq!(c.place(&d).via, JoinVia::Duplicate);
    assert_eq!(c.place(&d).event, a.event);
    // another story is another event
    let e = c.place(&post(5, 50, 0x0000_FFFF_0000_FFFF, LOAN));
    assert_eq!(e.via, JoinVia::New);
    assert_ne!(e.event, a.event);
    assert_eq!(c.open_events(), 2);
}

#[test]
fn weak_overlap_needs_shared_context_and_the_window_is_kept() {
    let mut c = Clusterer::default();
    let a = c.place(&post(1, 0, 0, HEATING));
    // cosine ~0.39 with two shared words — not enough when nothing else is shared …
    let mut p =
        post(2, 10, u64::MAX, &[("学校", 1.5), ("食堂", 1.5), ("供暖", 1.0), ("老师", 1.0), ("暖气", 0.5)]);
    p.departments = vec!["教育局".into()];
    let mut other = c.clone();
    assert_ne!(other.place(&p).event, a.event);
    // … but joins with the same department
    p.departments = vec!["住房和城乡建设局".into()];
    assert_eq!(c.place(&p).event, a.event);
    // the same words ten days later join only because they overlap strongly; a weak overlap
    // that late is a new event, and after the long window everything is
    let mut weak =
        post(4, 60 * 24 * 10, 0x5555_5555_5555_5555, &[("供暖", 1.0), ("图书馆", 1.0), ("停车", 1.0)]);
    weak.departments = vec!["住房和城乡建设局".into()];
    assert_eq!(c.clone().place(&weak).via, JoinVia::New);
    let strong = post(5, 60 * 24 * 10, 0x5555_5555_5555_5555, HEATING);
    assert_eq!(c.clone().place(&strong).event, a.event);
    let late = post(6, 60 * 24 * 45, 0, HEATING);
    assert_eq!(c.place(&late).via, JoinVia::New);
}

#[test]
fn one_shared_generic_word_does_not_join() {
    let mut c = Clusterer::default();
    let a = c.place(&post(1, 0, 0, &[("小区", 3.0), ("垃圾", 2.0), ("清运", 1.0)]));
    // the same department and a strong weight on 小区, but nothing else in common
    let b = c.place(&post(2, 5, u64::MAX, &[("小区", 3.0), ("信号", 2.0), ("移动", 1.0)]));
    assert_ne!(a.event, b.event);
}

#[test]
fn provisional_ids_are_replaced_and_restore_resumes() {
    let mut c = Clusterer::default();
    let a = c.place(&post(1, 0, 42, HEATING));
    assert!(a.event < 0);
    c.assign_id(a.event, 7);
    let snaps = c.take_changed();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].id, 7);
    assert!(c.take_changed().is_empty());
    let b = c.place(&post(2, 1, 43, HEATING));
    assert_eq!(b.event, 7);
    // a new clusterer restored from the snapshot places the next post the same way
    let s = c.snapshot(7).unwrap();
    let mut fresh = Clusterer::default();
    fresh.restore(RestoredEvent {
        id: 7,
        first_at: s.first_at,
        last_at: s.last_at,
        title: s.title.clone(),
        title_post: s.title_post,
        title_score: s.title_score,
        stats: s.stats.clone(),
        keywords: s.keywords.clone(),
        departments: s.departments.clone(),
        topics: s.topics.clone(),
        townships: s.townships.clone(),
        posts: vec![(1, 42), (2, 43)],
    });
    let mut d = post(3, 2, 0xAAAA_AAAA_AAAA_AAAA, LOAN);
    d.duplicate_of = Some(2);
    assert_eq!(fresh.place(&d).event, 7);
    assert_eq!(fresh.place(&post(4, 3, 44, HEATING)).event, 7);
    assert_eq!(fresh.snapshot(7).unwrap().stats.posts, 4);
}

#[test]
fn heat_grows_with_volume_sources_and_weight_and_halves_when_not_local() {
    let mut s = EventStats { posts: 1, sources: vec!["a".into()], local: true, ..Default::default() };
    s.recent = vec![t0()];
    let one = heat(&s);
    let mut many = s.clone();
    many.posts = 50;
    many.sources = (0..8).map(|i| i.to_string()).collect();
    many.recent = (0..50).map(|i| t0() + Duration::minutes(i)).collect();
    assert!(heat(&many) > one + 20.0, "{} vs {one}", heat(&many));
    let mut central = s.clone();
    central.max_tier = SourceTier::Central;
    assert!(heat(&central) > one);
    let mut far = s.clone();
    far.local = false;
    assert!((heat(&far) - one / 2.0).abs() < 1e-3);
    assert!(heat(&many) < 100.0);
}

#[test]
fn levels_from_score_spikes_and_topic_floor() {
    let p = LevelPolicy::default();
    let s = EventStats { posts: 1, local: true, negativity_sum: 0.0, ..Default::default() };
    assert_eq!(level(&s, 20.0, &[], &p), None);
    let neg = EventStats { negativity_sum: 1.0, ..s.clone() };
    assert_eq!(level(&neg, 20.0, &[], &p), Some(WarningLevel::Blue));
    let risky = EventStats { max_risk: 0.8, ..neg.clone() };
    // 50 + 15 + 24 = 89: orange; 65 + 15 + 24 = 104: red; one very negative post with strong
    // risk words (heat ~31): yellow; with weak ones: blue
    assert_eq!(level(&risky, 50.0, &[], &p), Some(WarningLevel::Orange));
    assert_eq!(level(&risky, 65.0, &[], &p), Some(WarningLevel::Red));
    assert_eq!(level(&risky, 31.0, &[], &p), Some(WarningLevel::Yellow));
    let mild = EventStats { max_risk: 0.3, ..risky.clone() };
    assert_eq!(level(&mild, 31.0, &[], &p), Some(WarningLevel::Blue));
    let spiking = EventStats { spikes: vec!["town:坎苏镇".into()], ..s.clone() };
    assert_eq!(level(&spiking, 20.0, &[], &p), Some(WarningLevel::Blue));
    assert_eq!(
        level(&EventStats { spikes: vec!["x".into()], ..neg }, 20.0, &[], &p),
        Some(WarningLevel::Yellow)
    );
    let mut floor = p.clone();
    floor.topic_floor.insert("food-safety".into(), WarningLevel::Yellow);
    assert_eq!(level(&s, 10.0, &["food-safety".into()], &floor), Some(WarningLevel::Yellow));
}

#[test]
fn spikes_are_relative_to_the_keys_own_baseline() {
    let mut b = Baselines::new();
    // a busy department: ~10 posts every hour for a week
    for h in 0..(7 * 24) {
        for i in 0..10 {
            b.record("dept:busy", t0() + Duration::hours(h) + Duration::minutes(i));
        }
    }
    // a quiet township: one post a day
    for d in 0..7 {
        b.record("town:quiet", t0() + Duration::days(d));
    }
    let now = t0() + Duration::hours(7 * 24 + 1);
    // 8 posts in an hour: nothing for the busy department, a spike for the quiet township
    let mut busy = false;
    let mut quiet = false;
    for i in 0..8 {
        busy |= b.record("dept:busy", now + Duration::minutes(i)).2;
        quiet |= b.record("town:quiet", now + Duration::minutes(i)).2;
    }
    assert!(!busy);
    assert!(quiet);
    // a key first seen an hour ago has no baseline yet: no spike however busy
    let mut fresh = false;
    for i in 0..50 {
        fresh |= b.record("town:new", now + Duration::minutes(i % 60)).2;
    }
    assert!(!fresh);
}

#[test]
fn rumour_signals() {
    assert!(rumour_signal("县公安局辟谣：网传那拉提景区封闭系谣传"));
    assert!(rumour_signal("经核实，网传内容与事实不符"));
    assert!(!rumour_signal("供暖不热，希望尽快解决"));
    assert!(!rumour_signal("网传一张照片"));
}

#[test]
fn eviction_drops_old_events_and_their_index_entries() {
    let mut c = Clusterer::default();
    let a = c.place(&post(1, 0, 1, HEATING));
    c.assign_id(a.event, 1);
    c.place(&post(2, 60 * 24 * 40, 2, LOAN));
    c.evict();
    assert!(c.snapshot(1).is_none());
    assert_eq!(c.open_events(), 1);
    let mut d = post(3, 60 * 24 * 40 + 1, 0xF0F0_F0F0_F0F0_F0F0, HEATING);
    d.duplicate_of = Some(1);
    assert_eq!(c.place(&d).via, JoinVia::New, "the original's event is closed");
}
