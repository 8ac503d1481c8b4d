//! One conformance suite, run against every backend: SQLite in a temporary folder, and PostgreSQL
//! in a fresh database per case when `YUQING_TEST_PG_URL` is set. Without it the PostgreSQL half
//! prints a visible `SKIPPED: PostgreSQL` line — unless `CI=true`, where a missing or unreachable
//! PostgreSQL fails the run. (A custom harness, so those lines are never captured.)

// Test code with its own harness: clippy's allowance for unwrap in `#[test]`s does not reach it.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::Row;
use yuqing_cases::case::{
    Actor, CaseKind, CaseState, Publication, PublicationKind, ReviewResult, ReviewSignOff, Role, Transition,
};
use yuqing_cases::{Case as DomainCase, PublicationPolicy};
use yuqing_core::cases::{AuditEntry, CaseFilter, CaseMeta, CaseStore, ClockOp, NewClock, verify_chain};
use yuqing_core::events::{
    AlertRow, DeliveryOutcome, EventBatch, EventFilter, EventRow, EventStore, LevelChange, ManualInfo,
    NewDelivery, SilenceMatch, SilenceRow,
};
use yuqing_core::store::{NewPost, PollCommit, Store, StoreError};
use yuqing_core::{Cursor, Engagement, Item};
use yuqing_domain::{NoticeKind, WarningLevel};
use yuqing_store::{Backend, SqlStore};

type Case = fn(SqlStore, String) -> Pin<Box<dyn Future<Output = ()>>>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
}

fn post(source: &str, id: &str, body: &str, simhash: u64) -> NewPost {
    NewPost {
        item: Item {
            id: id.into(),
            title: format!("标题 {id}"),
            body: body.into(),
            url: Some(format!("http://news.example/{id}")),
            source: source.into(),
            published_at: Some(t0()),
            fetched_at: t0(),
            author: Some("新源发布".into()),
            author_verified_type: Some(1),
            engagement: Engagement { likes: Some(3), ..Engagement::default() },
            raw_sha256: "ab".repeat(32),
            encoding: None,
            policy_document: false,
            source_type: "feed".into(),
            raw: Some(bytes::Bytes::from_static("<html>原文</html>".as_bytes())),
        },
        content_hash: format!("hash-of-{body}"),
        simhash,
        lang: Some("zh".into()),
        analysis: Some(("test-1".into(), "{\"departments\":[]}".into())),
    }
}

async fn scalar(url: &str, sql: &'static str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let v: i64 = sqlx::query(sql).fetch_one(&pool).await.unwrap().try_get(0).unwrap();
    pool.close().await;
    v
}

fn migrations_have_the_same_versions(_: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let names = |d: &str| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(d);
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().split('_').next().unwrap().to_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("sqlite"), names("postgres"));
        assert!(!names("sqlite").is_empty());
    })
}

fn idempotent_ingestion(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        s.migrate().await.unwrap(); // twice is fine
        let batch: Vec<NewPost> = (0..5)
            .map(|i| post("push", &format!("p{i}"), &format!("正文{i}"), i * 0x1111_0000_0000_0000))
            .collect();
        let r1 = s.ingest(&batch, t0()).await.unwrap();
        assert_eq!(r1.inserted, 5, "{r1:?}");
        let r2 = s.ingest(&batch, t0()).await.unwrap();
        assert_eq!((r2.inserted, r2.already_stored, r2.duplicates), (0, 5, 0), "{r2:?}");
        assert_eq!(s.count_posts().await.unwrap(), 5);
        assert_eq!(s.item_keys().await.unwrap().len(), 5);
        // Read back in id order, in pages.
        let first = s.scan_posts(0, 3).await.unwrap();
        assert_eq!(first.len(), 3);
        let rest = s.scan_posts(first[2].id, 10).await.unwrap();
        assert_eq!(rest.len(), 2);
        assert_eq!(first[0].body, "正文0");
        assert_eq!(first[0].analysis.as_deref(), Some("{\"departments\":[]}"));
        assert_eq!(first[0].lang.as_deref(), Some("zh"));
    })
}

fn cursor_commits_with_its_posts(s: SqlStore, url: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        s.register_sources(&[("feed-a".into(), "feed".into())], t0()).await.unwrap();
        let claims = s.claim_due("w1", t0(), 60, 10).await.unwrap();
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].cursor, Cursor::default());
        let mut cursor = Cursor::default();
        cursor.mark_seen("http://news.example/a1");
        let posts = vec![post("feed-a", "a1", "供暖不热", 1), post("feed-a", "a2", "道路结冰", !1)];
        let r = s
            .commit_poll("w1", "feed-a", &posts, &cursor, "{\"ok\":1}", t0() + Duration::minutes(10), t0())
            .await
            .unwrap();
        assert_eq!(r.inserted, 2);
        assert_eq!(s.cursor("feed-a").await.unwrap(), Some(cursor.clone()));
        // Not due again until its next time; then claimable with the new cursor.
        assert!(s.claim_due("w1", t0() + Duration::minutes(5), 60, 10).await.unwrap().is_empty());
        let again = s.claim_due("w2", t0() + Duration::minutes(11), 60, 10).await.unwrap();
        assert_eq!(again[0].cursor, cursor);
        assert_eq!(again[0].health, "{\"ok\":1}");

        // A worker whose lease expired commits nothing: neither posts nor cursor.
        let late = t0() + Duration::minutes(13);
        let mut other = cursor.clone();
        other.mark_seen("http://news.example/a3");
        let e = s
            .commit_poll(
                "w2",
                "feed-a",
                &[post("feed-a", "a3", "新消息", 0x00FF_00FF_00FF_00FF)],
                &other,
                "{}",
                late,
                late,
            )
            .await
            .unwrap_err();
        assert_eq!(e, StoreError::LeaseLost("feed-a".into()));
        assert_eq!(s.count_posts().await.unwrap(), 2);
        assert_eq!(s.cursor("feed-a").await.unwrap(), Some(cursor));
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM evidence").await, 2);
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM analyses").await, 2);
    })
}

fn duplicates_and_near_duplicates(s: SqlStore, url: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let original = post("site-a", "x1", "那拉提镇停水三天无人管", 0xF0F0_F0F0_0F0F_0F0F);
        s.ingest(&[original], t0()).await.unwrap();
        // The same text from another source: a copy.
        let copy = post("site-b", "y1", "那拉提镇停水三天无人管", 0xF0F0_F0F0_0F0F_0F0F);
        // Almost the same text (two bits of SimHash apart): a near-duplicate, stored and linked.
        let near = post("site-c", "z1", "那拉提镇停水三天无人管！！", 0xF0F0_F0F0_0F0F_0F0F ^ 0b101);
        // Far away: a new post.
        let other = post("site-c", "z2", "县医院挂号难", !0xF0F0_F0F0_0F0F_0F0Fu64);
        let r = s.ingest(&[copy, near, other], t0()).await.unwrap();
        assert_eq!((r.inserted, r.duplicates, r.near_duplicates), (1, 1, 1), "{r:?}");
        assert_eq!(s.count_posts().await.unwrap(), 3, "the copy is not a post");
        assert_eq!(scalar(&url, "SELECT reposts FROM posts WHERE item_id = 'x1'").await, 2);
        assert_eq!(
            scalar(&url, "SELECT COUNT(*) FROM posts p JOIN posts o ON p.duplicate_of = o.id WHERE p.item_id = 'z1' AND o.item_id = 'x1'").await,
            1
        );
        // Ingesting the copy again does not count it twice.
        let r = s
            .ingest(&[post("site-b", "y1", "那拉提镇停水三天无人管", 0xF0F0_F0F0_0F0F_0F0F)], t0())
            .await
            .unwrap();
        assert_eq!(r.already_stored, 1);
        assert_eq!(scalar(&url, "SELECT reposts FROM posts WHERE item_id = 'x1'").await, 2);
    })
}

/// One batch decides in batch order: a later post may copy or repeat an earlier one of the same
/// batch, and the same item twice in it is stored once.
fn a_batch_sees_its_own_earlier_posts(s: SqlStore, url: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let h = 0x1234_5678_9ABC_DEF0u64;
        let batch = [
            post("site-a", "a1", "吐尔根乡牧道被冲毁", h),
            post("site-b", "b1", "吐尔根乡牧道被冲毁", h),
            post("site-c", "c1", "吐尔根乡牧道被冲毁了", h ^ 0b11),
            post("site-a", "a1", "吐尔根乡牧道被冲毁", h),
            post("site-d", "d1", "别斯托别乡卫生院缺医生", !h),
            // A repeat of the repeat: its original is the first post, not the near-duplicate.
            post("site-e", "e1", "吐尔根乡牧道被冲毁了吗", h ^ 0b111),
        ];
        let r = s.ingest(&batch, t0()).await.unwrap();
        assert_eq!((r.inserted, r.duplicates, r.near_duplicates, r.already_stored), (2, 1, 2, 1), "{r:?}");
        assert_eq!(s.count_posts().await.unwrap(), 4);
        assert_eq!(scalar(&url, "SELECT reposts FROM posts WHERE item_id = 'a1'").await, 3);
        assert_eq!(
            scalar(
                &url,
                "SELECT COUNT(*) FROM posts p JOIN posts o ON p.duplicate_of = o.id WHERE o.item_id = 'a1'"
            )
            .await,
            2
        );
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM post_items").await, 5);
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM analyses").await, 4);
        // Every new row is numbered in commit order.
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM posts WHERE seq IS NULL").await, 0);
        // The same batch again changes nothing.
        let r = s.ingest(&batch, t0()).await.unwrap();
        assert_eq!(r.already_stored, 6, "{r:?}");
        assert_eq!(scalar(&url, "SELECT reposts FROM posts WHERE item_id = 'a1'").await, 3);
    })
}

/// Several polls commit in one transaction; a poll whose lease was lost is refused alone, and a
/// later poll of the group sees the earlier ones' posts (a copy across sources).
fn polls_commit_together(s: SqlStore, url: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let ids: Vec<(String, String)> = (0..3).map(|i| (format!("g-{i}"), "feed".to_string())).collect();
        s.register_sources(&ids, t0()).await.unwrap();
        // g-0 and g-1 for ten minutes, g-2 for one; after it ran out, w2 takes g-2.
        assert_eq!(s.claim_due("w1", t0(), 600, 2).await.unwrap().len(), 2);
        assert_eq!(s.claim_due("w1", t0(), 60, 2).await.unwrap().len(), 1);
        let later = t0() + Duration::seconds(61);
        assert_eq!(s.claim_due("w2", later, 60, 10).await.unwrap()[0].source_id, "g-2");
        let mut cursor = Cursor::default();
        cursor.mark_seen("http://news.example/g");
        let poll = |i: usize, texts: &[&str]| PollCommit {
            source_id: format!("g-{i}"),
            posts: texts
                .iter()
                .enumerate()
                .map(|(k, t)| post(&format!("g-{i}"), &format!("g{i}-{k}"), t, 0x0101_0101u64 << (i * 8 + k)))
                .collect(),
            cursor: cursor.clone(),
            health: "{\"ok\":1}".into(),
            next_due_at: t0() + Duration::hours(1),
        };
        let polls = [poll(0, &["牧区道路", "草场纠纷"]), poll(1, &["牧区道路"]), poll(2, &["学校食堂"])];
        let out = s.commit_polls("w1", &polls, later).await.unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].clone().map(|r| r.inserted), Ok(2), "{out:?}");
        assert_eq!(out[1].clone().map(|r| r.duplicates), Ok(1), "{out:?}");
        assert_eq!(out[2], Err(StoreError::LeaseLost("g-2".into())));
        assert_eq!(s.count_posts().await.unwrap(), 2);
        assert_eq!(s.cursor("g-0").await.unwrap(), Some(cursor.clone()));
        assert_eq!(s.cursor("g-1").await.unwrap(), Some(cursor));
        assert_eq!(s.cursor("g-2").await.unwrap(), Some(Cursor::default()));
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM sources WHERE lease_owner = 'w1'").await, 0);
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM sources WHERE lease_owner = 'w2'").await, 1);
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM post_items").await, 3);
    })
}

fn leases_split_the_work(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let ids: Vec<(String, String)> = (0..10).map(|i| (format!("src-{i}"), "html".to_string())).collect();
        s.register_sources(&ids, t0()).await.unwrap();
        let (a, b) = tokio::join!(s.claim_due("w1", t0(), 30, 6), s.claim_due("w2", t0(), 30, 6));
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut all: Vec<&str> = a.iter().chain(b.iter()).map(|c| c.source_id.as_str()).collect();
        all.sort();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "no source held by two workers");
        assert_eq!(n, 10);
        assert!(
            s.claim_due("w3", t0() + Duration::seconds(10), 30, 10).await.unwrap().is_empty(),
            "leases hold"
        );
        // A worker still busy renews its lease; someone else's, or an expired one, cannot be renewed.
        let held = a[0].source_id.clone();
        assert!(s.renew_lease("w1", &held, t0() + Duration::seconds(20), 30).await.unwrap());
        assert!(!s.renew_lease("w2", &held, t0() + Duration::seconds(20), 30).await.unwrap());
        // A crashed worker's leases expire: its sources come back — but not the renewed one.
        let back = s.claim_due("w3", t0() + Duration::seconds(31), 30, 10).await.unwrap();
        assert_eq!(back.len(), 9);
        assert!(back.iter().all(|c| c.source_id != held));
        assert!(!s.renew_lease("w1", &held, t0() + Duration::seconds(51), 30).await.unwrap(), "expired");
    })
}

fn retention_purges_text_and_evidence(s: SqlStore, url: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        s.ingest(&[post("push", "old", "旧帖子正文", 7), post("push", "new", "新帖子正文", 7 << 50)], t0())
            .await
            .unwrap();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query("UPDATE posts SET fetched_at = $1 WHERE item_id = 'old'")
            .bind((t0() - Duration::days(200)).timestamp_millis())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let n = s.purge_before(t0() - Duration::days(180), t0()).await.unwrap().len();
        assert_eq!(n, 1);
        assert_eq!(
            scalar(&url, "SELECT COUNT(*) FROM posts WHERE item_id = 'old' AND body = '' AND author IS NULL")
                .await,
            1
        );
        assert_eq!(scalar(&url, "SELECT COUNT(*) FROM evidence").await, 1);
        assert!(s.purge_before(t0() - Duration::days(180), t0()).await.unwrap().is_empty(), "purged once");
        assert_eq!(s.count_posts().await.unwrap(), 2, "the rows stay for statistics and dedupe");
    })
}

fn status_and_reanalysis(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        s.ping().await.unwrap();
        s.register_sources(&[("news".into(), "html".into()), ("quiet".into(), "feed".into())], t0())
            .await
            .unwrap();
        let claims = s.claim_due("w1", t0(), 60, 1).await.unwrap();
        assert_eq!(claims.len(), 1);
        let held = claims[0].source_id.clone();
        s.ingest(&[post(&held, "a", "供暖不热", 1), post(&held, "b", "欠薪", 1 << 40)], t0()).await.unwrap();
        let status = s.sources_status(t0()).await.unwrap();
        assert_eq!(status.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["news", "quiet"]);
        let mine = status.iter().find(|x| x.id == held).unwrap();
        assert_eq!((mine.posts, mine.lease_owner.as_deref()), (2, Some("w1")));
        let other = status.iter().find(|x| x.id != held).unwrap();
        assert_eq!((other.posts, other.lease_owner.as_deref()), (0, None));
        // An expired lease is not shown as held.
        let later = s.sources_status(t0() + Duration::seconds(61)).await.unwrap();
        assert!(later.iter().all(|x| x.lease_owner.is_none()));

        let recent = s.recent_posts(10).await.unwrap();
        assert_eq!(recent.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(), ["标题 b", "标题 a"]);
        assert_eq!(recent[0].analysis.as_deref(), Some("{\"departments\":[]}"));
        assert_eq!(s.recent_posts(1).await.unwrap().len(), 1);

        // A new analysis version becomes the one read back; saving it again replaces it.
        let id = recent[0].id;
        let later = t0() + Duration::minutes(1);
        s.save_analyses("test-2", &[(id, "{\"v\":2}".into())], later).await.unwrap();
        s.save_analyses("test-2", &[(id, "{\"v\":3}".into())], later + Duration::minutes(1)).await.unwrap();
        let scanned = s.scan_posts(0, 10).await.unwrap();
        let got = scanned.iter().find(|p| p.id == id).unwrap();
        assert_eq!(got.analysis.as_deref(), Some("{\"v\":3}"));
    })
}

fn backup_copies_sqlite_online(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        s.ingest(&[post("push", "a", "供暖不热", 1), post("push", "b", "欠薪", 1 << 40)], t0())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("copy.db");
        match s.backend() {
            Backend::Sqlite => {
                assert_eq!(s.backup_to(&file).await.unwrap(), 2);
                let copy = SqlStore::connect(&format!("sqlite://{}", file.display())).await.unwrap();
                assert_eq!(copy.count_posts().await.unwrap(), 2);
                assert_eq!(copy.item_keys().await.unwrap(), s.item_keys().await.unwrap());
                // Never over an existing file.
                assert!(s.backup_to(&file).await.is_err());
            }
            Backend::Postgres => {
                let e = s.backup_to(&file).await.unwrap_err();
                assert!(e.to_string().contains("pg_dump"), "{e}");
                assert!(!file.exists());
            }
        }
    })
}

/// Four writers commit concurrently while a reader follows the store by commit order: the reader
/// sees every post exactly once (following by id would skip a post whose transaction took its id
/// early and committed late).
fn a_follower_sees_every_commit(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let done = std::cell::Cell::new(0);
        let writers = futures_util::future::join_all((0..4u64).map(|w| {
            let (s, done) = (s.clone(), &done);
            async move {
                for b in 0..5u64 {
                    let posts: Vec<NewPost> = (0..4u64)
                        .map(|i| {
                            let n = w * 100 + b * 10 + i;
                            let hash = (n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                            post(&format!("w{w}"), &format!("{b}-{i}"), &format!("第{n}条正文"), hash)
                        })
                        .collect();
                    s.ingest(&posts, t0()).await.unwrap();
                    tokio::task::yield_now().await;
                }
                done.set(done.get() + 1);
            }
        }));
        let follower = async {
            let (mut after, mut seen) = (0i64, Vec::new());
            loop {
                let finished = done.get() == 4;
                let batch = s.scan_committed(after, 7).await.unwrap();
                for p in &batch {
                    assert!(p.seq > after, "commit order only grows");
                    after = p.seq;
                    seen.push(p.id);
                }
                if batch.is_empty() && finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        };
        let (_, mut seen) = tokio::join!(writers, follower);
        let total = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!((total, seen.len()), (80, 80), "every post once");
        let all: Vec<i64> = s.scan_posts(0, 1000).await.unwrap().iter().map(|p| p.id).collect();
        assert_eq!(seen, all);
    })
}

fn event_row(id: i64, title: &str, level: Option<WarningLevel>) -> EventRow {
    EventRow {
        id,
        title: title.into(),
        title_post: None,
        title_score: 0.5,
        first_at: t0(),
        last_at: t0(),
        posts: 1,
        heat: 30.0,
        level,
        rumour: false,
        local: true,
        departments: vec!["住房和城乡建设局".into()],
        topics: vec!["housing.heating".into()],
        townships: vec!["新源镇".into()],
        keywords: vec![("供暖".into(), 0.5)],
        stats: "{}".into(),
        manual: None,
        status: "open".into(),
    }
}

fn alert_row(event: i64, receiver: &str) -> AlertRow {
    AlertRow {
        id: 0,
        event_id: event,
        receiver: receiver.into(),
        department: Some("住房和城乡建设局".into()),
        route: "departments/住房和城乡建设局".into(),
        note: None,
        level: WarningLevel::Blue,
        notified_level: Some(WarningLevel::Blue),
        muted: None,
        muted_count: 0,
        group_wait_secs: 0,
        group_interval_secs: 1800,
        repeat_interval_secs: 14400,
        created_at: t0(),
        first_notified_at: Some(t0()),
        last_notified_at: Some(t0()),
        notices: 1,
        new_posts: 0,
        escalation_step: 0,
        acked_at: None,
        acked_by: None,
        resolved_at: None,
        next_check_at: Some(t0() + Duration::hours(4)),
    }
}

fn delivery(event: i64, receiver: &str, key: &str) -> NewDelivery {
    NewDelivery {
        event_id: event,
        receiver: receiver.into(),
        idempotency_key: key.into(),
        kind: NoticeKind::New,
        official: Some("housing-officer".into()),
        channel: "log".into(),
        to: None,
        message: "{}".into(),
        not_before: t0(),
    }
}

fn events_alerts_and_the_outbox(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        // the event builder's lease: one holder at a time, taken over once it runs out
        assert!(s.take_lease("events", "w1", t0(), 60).await.unwrap());
        assert!(!s.take_lease("events", "w2", t0() + Duration::seconds(30), 60).await.unwrap());
        assert!(s.take_lease("events", "w1", t0() + Duration::seconds(30), 60).await.unwrap());
        // reserved ids are never handed out again, also not to a manual event
        let ids = s.reserve_event_ids(3).await.unwrap();
        assert_eq!(ids.len(), 3);
        let manual = ManualInfo {
            kind: "phone".into(),
            source: "12345".into(),
            text: "电话反映".into(),
            opened_by: "press-duty".into(),
        };
        let m = s
            .open_manual_event(
                "电话反映停暖",
                &manual,
                &["住房和城乡建设局".into()],
                Some(WarningLevel::Yellow),
                t0(),
            )
            .await
            .unwrap();
        assert!(!ids.contains(&m));
        let more = s.reserve_event_ids(2).await.unwrap();
        assert!(more.iter().all(|i| !ids.contains(i) && *i != m));
        // a batch from someone without the lease writes nothing
        let mut batch = EventBatch {
            checkpoint: Some(7),
            events: vec![event_row(ids[0], "供暖不热", Some(WarningLevel::Blue))],
            alerts: vec![alert_row(ids[0], "住房和城乡建设局")],
            deliveries: vec![delivery(ids[0], "住房和城乡建设局", "k-1")],
            level_changes: vec![LevelChange {
                event_id: ids[0],
                at: t0(),
                from: None,
                to: Some(WarningLevel::Blue),
                heat: 30.0,
                reason: "r".into(),
            }],
            activity: vec![("dept:住房和城乡建设局".into(), 493_000, 3)],
            ..EventBatch::default()
        };
        let lost = s.apply_events("w2", &batch, t0() + Duration::seconds(31)).await;
        assert!(matches!(lost, Err(StoreError::LeaseLost(_))), "{lost:?}");
        assert_eq!(s.events_checkpoint().await.unwrap(), 0);
        s.apply_events("w1", &batch, t0() + Duration::seconds(31)).await.unwrap();
        assert_eq!(s.events_checkpoint().await.unwrap(), 7);
        let e = s.event(ids[0]).await.unwrap().unwrap();
        assert_eq!(
            (e.title.as_str(), e.level, e.townships.clone()),
            ("供暖不热", Some(WarningLevel::Blue), vec!["新源镇".to_string()])
        );
        assert_eq!(s.level_changes(ids[0]).await.unwrap().len(), 1);
        assert_eq!(
            s.activity_since(0).await.unwrap(),
            vec![("dept:住房和城乡建设局".to_string(), 493_000, 3)]
        );
        let manual_row = s.event(m).await.unwrap().unwrap();
        assert_eq!(manual_row.manual.as_ref().map(|x| x.source.as_str()), Some("12345"));
        assert_eq!(manual_row.level, Some(WarningLevel::Yellow));
        // an acknowledgement made while a batch is built survives the batch's upsert
        assert_eq!(
            s.ack_alerts(
                ids[0],
                &["住房和城乡建设局".into()],
                "housing-officer",
                t0() + Duration::minutes(1)
            )
            .await
            .unwrap(),
            1
        );
        batch.deliveries.clear();
        batch.checkpoint = Some(9);
        batch.alerts[0].notices = 2;
        s.apply_events("w1", &batch, t0() + Duration::seconds(40)).await.unwrap();
        let a = s.alerts_of(&[ids[0]]).await.unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].notices, a[0].acked_by.as_deref()), (2, Some("housing-officer")));
        // the same delivery twice (same key) is queued once
        batch.deliveries =
            vec![delivery(ids[0], "住房和城乡建设局", "k-1"), delivery(ids[0], "住房和城乡建设局", "k-2")];
        s.apply_events("w1", &batch, t0() + Duration::seconds(45)).await.unwrap();
        assert_eq!(s.list_deliveries(false, 10).await.unwrap().len(), 2);
        // due alerts, leveled events, lists
        assert_eq!(s.due_alerts(t0() + Duration::hours(5), 10).await.unwrap().len(), 1);
        assert!(s.due_alerts(t0() + Duration::hours(1), 10).await.unwrap().is_empty());
        assert_eq!(s.leveled_events(WarningLevel::Yellow, t0() - Duration::hours(1)).await.unwrap().len(), 1);
        let yellow = s
            .list_events(&EventFilter { min_level: Some(WarningLevel::Yellow), department: None, limit: 10 })
            .await
            .unwrap();
        assert_eq!(yellow.iter().map(|e| e.id).collect::<Vec<_>>(), vec![m]);
        let housing = s
            .list_events(&EventFilter {
                min_level: None,
                department: Some("住房和城乡建设局".into()),
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(housing.len(), 2);
        // open events for restoring the clusterer: manual events are not clustered into
        let open = s.open_events(t0() - Duration::days(1), 8).await.unwrap();
        assert_eq!(open.iter().map(|o| o.event.id).collect::<Vec<_>>(), vec![ids[0]]);
    })
}

fn deliveries_are_claimed_once_and_recorded(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        assert!(s.take_lease("events", "w1", t0(), 600).await.unwrap());
        let id = s.reserve_event_ids(1).await.unwrap()[0];
        let batch = EventBatch {
            events: vec![event_row(id, "事件", Some(WarningLevel::Blue))],
            alerts: vec![alert_row(id, "住房和城乡建设局")],
            deliveries: (0..5).map(|i| delivery(id, "住房和城乡建设局", &format!("key-{i}"))).collect(),
            ..EventBatch::default()
        };
        s.apply_events("w1", &batch, t0()).await.unwrap();
        let now = t0() + Duration::seconds(1);
        let a = s.claim_deliveries("a", now, 60, 3).await.unwrap();
        let b = s.claim_deliveries("b", now, 60, 3).await.unwrap();
        assert_eq!((a.len(), b.len()), (3, 2));
        assert!(a.iter().all(|d| b.iter().all(|e| e.id != d.id)), "two workers hold the same delivery");
        assert!(s.claim_deliveries("c", now, 60, 3).await.unwrap().is_empty());
        assert_eq!(a[0].attempts, 1);
        // outcomes
        assert!(
            s.finish_delivery("a", a[0].id, &DeliveryOutcome::Sent { remote_id: Some("m1".into()) }, now)
                .await
                .unwrap()
        );
        assert!(
            s.finish_delivery(
                "a",
                a[1].id,
                &DeliveryOutcome::Retry { error: "HTTP 500".into(), at: now + Duration::seconds(30) },
                now
            )
            .await
            .unwrap()
        );
        assert!(
            s.finish_delivery("a", a[2].id, &DeliveryOutcome::Failed { error: "errcode 93000".into() }, now)
                .await
                .unwrap()
        );
        // the retry comes back when due, with its attempt counted
        assert!(s.claim_deliveries("c", now + Duration::seconds(10), 60, 10).await.unwrap().is_empty());
        let again = s.claim_deliveries("c", now + Duration::seconds(31), 60, 10).await.unwrap();
        assert_eq!(again.iter().map(|d| (d.id, d.attempts)).collect::<Vec<_>>(), vec![(a[1].id, 2)]);
        // a worker that lost its lease still records a send (the message went out) …
        let expired = now + Duration::seconds(100);
        let c = s.claim_deliveries("c2", expired, 60, 10).await.unwrap();
        assert_eq!(c.len(), 3, "b's two and c's one: their leases ran out");
        assert!(
            !s.finish_delivery("b", b[0].id, &DeliveryOutcome::Sent { remote_id: None }, expired)
                .await
                .unwrap()
        );
        // … but not a retry or failure of a delivery someone else now holds
        assert!(
            !s.finish_delivery("b", b[1].id, &DeliveryOutcome::Failed { error: "x".into() }, expired)
                .await
                .unwrap()
        );
        let all = s.list_deliveries(false, 10).await.unwrap();
        let by_id = |i: i64| all.iter().find(|d| d.id == i).unwrap().clone();
        assert!(by_id(a[0].id).sent_at.is_some());
        assert!(by_id(b[0].id).sent_at.is_some());
        assert!(by_id(b[1].id).failed_at.is_none());
        assert_eq!(
            s.list_deliveries(true, 10).await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![a[2].id]
        );
        // a sent delivery is never claimed again
        assert!(
            s.claim_deliveries("z", expired + Duration::hours(1), 60, 10)
                .await
                .unwrap()
                .iter()
                .all(|d| d.id != a[0].id && d.id != b[0].id)
        );
    })
}

fn silences_and_telegram_links(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let row = SilenceRow {
            id: 0,
            matchers: SilenceMatch { department: vec!["教育局".into()], ..SilenceMatch::default() },
            event_id: None,
            receiver: None,
            creator: "press-duty".into(),
            reason: "统一答复中".into(),
            starts_at: t0(),
            ends_at: t0() + Duration::hours(2),
            created_at: t0(),
        };
        let id = s.add_silence(&row).await.unwrap();
        assert_eq!(s.silences(t0() + Duration::hours(1), false).await.unwrap().len(), 1);
        assert!(s.silences(t0() + Duration::hours(3), false).await.unwrap().is_empty());
        assert!(s.expire_silence(id, t0() + Duration::minutes(5)).await.unwrap());
        assert!(!s.expire_silence(id, t0() + Duration::minutes(6)).await.unwrap());
        assert!(s.silences(t0() + Duration::minutes(10), true).await.unwrap().is_empty());
        // link codes work once, before they expire
        s.add_link_code("abc123", "housing-officer", t0() + Duration::hours(1)).await.unwrap();
        s.add_link_code("old", "press-duty", t0()).await.unwrap();
        assert_eq!(s.use_link_code("old", "42", t0() + Duration::minutes(1)).await.unwrap(), None);
        assert_eq!(
            s.use_link_code("abc123", "42", t0() + Duration::minutes(1)).await.unwrap().as_deref(),
            Some("housing-officer")
        );
        assert_eq!(s.use_link_code("abc123", "43", t0() + Duration::minutes(2)).await.unwrap(), None);
        assert_eq!(s.official_of_chat("42").await.unwrap().as_deref(), Some("housing-officer"));
        assert_eq!(s.official_of_chat("43").await.unwrap(), None);
        assert_eq!(s.chat_of_official("housing-officer").await.unwrap().as_deref(), Some("42"));
    })
}

const CASES: &[(&str, Case)] = &[
    ("migrations_have_the_same_versions", migrations_have_the_same_versions),
    ("idempotent_ingestion", idempotent_ingestion),
    ("cursor_commits_with_its_posts", cursor_commits_with_its_posts),
    ("duplicates_and_near_duplicates", duplicates_and_near_duplicates),
    ("a_batch_sees_its_own_earlier_posts", a_batch_sees_its_own_earlier_posts),
    ("polls_commit_together", polls_commit_together),
    ("leases_split_the_work", leases_split_the_work),
    ("retention_purges_text_and_evidence", retention_purges_text_and_evidence),
    ("status_and_reanalysis", status_and_reanalysis),
    ("backup_copies_sqlite_online", backup_copies_sqlite_online),
    ("a_follower_sees_every_commit", a_follower_sees_every_commit),
    ("events_alerts_and_the_outbox", events_alerts_and_the_outbox),
    ("deliveries_are_claimed_once_and_recorded", deliveries_are_claimed_once_and_recorded),
    ("silences_and_telegram_links", silences_and_telegram_links),
    ("cases_clocks_and_firings", cases_clocks_and_firings),
    ("the_review_gate_and_the_audit_chain", the_review_gate_and_the_audit_chain),
];

fn bj(t: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
}

fn new_clock(name: &str, start: DateTime<Utc>, hours: i64) -> NewClock {
    let due = start + Duration::hours(hours);
    NewClock {
        clock: name.into(),
        name: name.into(),
        limit_text: format!("{hours} h"),
        started_at: start,
        due_at: due,
        warnings: vec![start + Duration::minutes(hours * 30), start + Duration::minutes(hours * 48)],
        escalate: true,
        count: true,
    }
}

fn entry(action: &str, detail: serde_json::Value) -> AuditEntry {
    AuditEntry {
        at: t0(),
        actor: "user:1 王芳 (press_officer)".into(),
        action: action.into(),
        case_id: None,
        detail,
    }
}

async fn manual_event(s: &SqlStore) -> i64 {
    let info = ManualInfo {
        kind: "phone".into(),
        source: "12345".into(),
        text: "电话反映".into(),
        opened_by: "desk".into(),
    };
    s.open_manual_event("电话反映停暖", &info, &["住房和城乡建设局".into()], Some(WarningLevel::Orange), t0())
        .await
        .unwrap()
}

fn cases_clocks_and_firings(s: SqlStore, _: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let event = manual_event(&s).await;
        let mut case = DomainCase::open(0, CaseKind::Response, "housing", "停暖回应", bj(t0()));
        case.event_id = Some(event);
        let meta =
            CaseMeta { level: Some(WarningLevel::Orange), opened_by: "user:1".into(), ..CaseMeta::default() };
        let clocks = [new_clock("ack", t0(), 1), new_clock("response", t0(), 48)];
        let id = s
            .open_case(&case, &meta, &clocks, &[entry("case.open", serde_json::json!({}))], t0())
            .await
            .unwrap();
        let view = s.case(id).await.unwrap().unwrap();
        assert_eq!(view.stored.case.id, id);
        assert_eq!(view.stored.version, 1);
        assert_eq!(view.clocks.len(), 2);
        assert_eq!(view.clocks[0].next_fire.as_deref(), Some("warning:1"));

        // Nothing is due before the first warning; at the ack deadline, both ack warnings and
        // the breach are due one after another.
        assert!(s.due_firings(t0() + Duration::minutes(29), 10).await.unwrap().is_empty());
        let due = s.due_firings(t0() + Duration::minutes(30), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].clock.clock.as_str(), due[0].firing.as_str()), ("ack", "warning:1"));
        assert_eq!(due[0].lead_department, "housing");
        assert_eq!(due[0].event_id, Some(event));
        let a = entry("clock.warning", serde_json::json!({"clock": "ack"}));
        let d = NewDelivery {
            event_id: event,
            receiver: "housing".into(),
            idempotency_key: "yq-c1-ack-warning1".into(),
            kind: NoticeKind::Reminder,
            official: Some("li".into()),
            channel: "log".into(),
            to: None,
            message: "{}".into(),
            not_before: t0(),
        };
        // Two tickers race for the same firing: exactly one wins, one delivery is queued.
        let (x, y) = tokio::join!(
            s.fire(&due[0], "w1", &a, std::slice::from_ref(&d), t0() + Duration::minutes(30)),
            s.fire(&due[0], "w2", &a, std::slice::from_ref(&d), t0() + Duration::minutes(30)),
        );
        assert_eq!(u8::from(x.unwrap()) + u8::from(y.unwrap()), 1);
        // A ticker restarted with the stale row fires nothing again.
        assert!(!s.fire(&due[0], "w3", &a, &[], t0() + Duration::minutes(31)).await.unwrap());
        let queued = s.list_deliveries(false, 10).await.unwrap();
        assert_eq!(queued.iter().filter(|q| q.idempotency_key == "yq-c1-ack-warning1").count(), 1);
        // The rest of the ack clock: warning 2, then the breach; then nothing.
        let mut fired = vec![];
        for _ in 0..4 {
            let due = s.due_firings(t0() + Duration::hours(2), 10).await.unwrap();
            let Some(f) = due.into_iter().find(|f| f.clock.clock == "ack") else { break };
            assert!(s.fire(&f, "w1", &a, &[], t0() + Duration::hours(2)).await.unwrap());
            fired.push(f.firing);
        }
        assert_eq!(fired, ["warning:2", "breach"]);
        let view = s.case(id).await.unwrap().unwrap();
        let ack = view.clocks.iter().find(|k| k.clock == "ack").unwrap();
        assert!(ack.breached_at.is_some() && ack.next_fire.is_none());

        // Overdue and department filters.
        let overdue = s
            .list_cases(&CaseFilter { overdue_at: Some(t0() + Duration::hours(2)), ..CaseFilter::default() })
            .await
            .unwrap();
        assert_eq!(overdue.len(), 1);
        let none = s
            .list_cases(&CaseFilter { department: Some("education".into()), ..CaseFilter::default() })
            .await
            .unwrap();
        assert!(none.is_empty());

        // Acknowledge: the ack clock stops; a stale version is a conflict.
        let mut stored = view.stored.clone();
        stored.case.apply(Transition::Acknowledge, &Actor::System, bj(t0())).unwrap_err();
        let officer = Actor::User { id: 1, name: "王芳".into(), role: Role::PressOfficer };
        stored.case.apply(Transition::Acknowledge, &officer, bj(t0() + Duration::hours(2))).unwrap();
        stored.acked_at = Some(t0() + Duration::hours(2));
        let stop = ClockOp::Stop {
            clock: "response".into(),
            reason: "acknowledged".into(),
            at: t0() + Duration::hours(2),
        };
        let v = s
            .save_case(
                &stored,
                1,
                None,
                std::slice::from_ref(&stop),
                &[entry("case.transition", serde_json::json!({"to": "acknowledged"}))],
                &[],
                t0() + Duration::hours(2),
            )
            .await
            .unwrap();
        assert_eq!(v, 2);
        let err = s.save_case(&stored, 1, None, &[], &[], &[], t0()).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let view = s.case(id).await.unwrap().unwrap();
        assert_eq!(view.stored.case.state(), CaseState::Acknowledged);
        assert!(view.clocks.iter().all(|k| k.next_fire.is_none()));
        assert!(s.due_firings(t0() + Duration::days(30), 10).await.unwrap().is_empty());
    })
}

fn the_review_gate_and_the_audit_chain(s: SqlStore, url: String) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let event = manual_event(&s).await;
        let mut case = DomainCase::open(0, CaseKind::Response, "housing", "停暖回应", bj(t0()));
        case.event_id = Some(event);
        let meta = CaseMeta { opened_by: "user:1".into(), ..CaseMeta::default() };
        let id = s
            .open_case(
                &case,
                &meta,
                &[],
                &[entry("case.open", serde_json::json!({"title": "停暖回应"}))],
                t0(),
            )
            .await
            .unwrap();
        // Straight into the table: a published case without review and check is refused.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let raw =
            sqlx::query("UPDATE cases SET state = 'published' WHERE id = $1").bind(id).execute(&pool).await;
        let e = raw.unwrap_err().to_string();
        assert!(e.contains("cases_review_gate") || e.contains("CHECK constraint failed"), "{e}");

        // Through the domain: a case published with both proofs, saved without the check's
        // revision, is refused by the store too.
        let officer = Actor::User { id: 1, name: "王芳".into(), role: Role::PressOfficer };
        let reviewer = Actor::User { id: 2, name: "李审".into(), role: Role::Reviewer };
        let mut stored = s.case(id).await.unwrap().unwrap().stored;
        let c = &mut stored.case;
        let at = |m: i64| bj(t0() + Duration::minutes(m));
        c.apply(Transition::Acknowledge, &officer, at(1)).unwrap();
        c.apply(Transition::Assess, &officer, at(2)).unwrap();
        let text = "经核查，供热管网已于今日抢修完毕，全部恢复供暖。";
        c.apply(Transition::Draft { text: text.into() }, &officer, at(3)).unwrap();
        c.apply(Transition::Submit, &officer, at(4)).unwrap();
        let sign = ReviewSignOff::new("李审", "《保密审查办法》", ReviewResult::Approved, at(5)).unwrap();
        c.apply(Transition::Review(sign), &reviewer, at(5)).unwrap();
        let policy =
            PublicationPolicy::parse("publication.toml", include_str!("../../../config/publication.toml"))
                .unwrap();
        let check = policy.check(text).unwrap();
        let publication =
            Publication::new(PublicationKind::Response, "https://www.xinyuan.gov.cn/info/1.html", at(6))
                .unwrap();
        c.apply(Transition::Publish { check, publication }, &officer, at(6)).unwrap();
        assert_eq!(c.state(), CaseState::Published);
        let revision = c.draft().unwrap().revision();
        let err = s.save_case(&stored, 1, None, &[], &[], &[], t0()).await.unwrap_err();
        assert!(matches!(err, StoreError::Refused(_)), "{err}");
        let err = s.save_case(&stored, 1, Some(revision + 1), &[], &[], &[], t0()).await.unwrap_err();
        assert!(matches!(err, StoreError::Refused(_)), "{err}");
        s.save_case(
            &stored,
            1,
            Some(revision),
            &[],
            &[entry("case.publish", serde_json::json!({"revision": revision}))],
            &[],
            t0(),
        )
        .await
        .unwrap();
        assert_eq!(s.case(id).await.unwrap().unwrap().stored.case.state(), CaseState::Published);

        // The queries of the openers and the watch, on this backend.
        let mut watched = s.case(id).await.unwrap().unwrap().stored;
        watched.watch_until = Some(t0() + Duration::hours(72));
        watched.watch_heat = Some(-10.0);
        s.save_case(&watched, 2, Some(revision), &[], &[], &[], t0()).await.unwrap();
        let waves = s.second_waves(t0(), 0.5, 1.0).await.unwrap();
        assert_eq!(waves.len(), 1);
        assert_eq!((waves[0].0, waves[0].1), (id, -10.0));
        assert!(
            s.second_waves(t0() + Duration::hours(73), 0.5, 1.0).await.unwrap().is_empty(),
            "the watch is over"
        );
        let lonely = manual_event(&s).await;
        let without = s.events_without_case(&[WarningLevel::Orange, WarningLevel::Red], 10).await.unwrap();
        assert_eq!(without.iter().map(|e| e.id).collect::<Vec<_>>(), [lonely]);
        assert!(s.events_without_case(&[WarningLevel::Red], 10).await.unwrap().is_empty());
        assert!(s.untracked_policy_documents(10).await.unwrap().is_empty());
        assert!(s.interpretations_found(10).await.unwrap().is_empty());

        // The audit chain: intact, append-only, and a tampered row is found.
        s.append_audit(&[entry("manual.note", serde_json::json!({"text": "领导批示：尽快回应"}))])
            .await
            .unwrap();
        let rows = s.audit_rows(0, 100).await.unwrap();
        // The refused saves wrote nothing: open, publish, the note.
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].prev_hash, yuqing_core::cases::AUDIT_GENESIS);
        assert!(rows.iter().take(2).all(|r| r.case_id == Some(id)) && rows[2].case_id.is_none());
        assert_eq!(rows[1].action, "case.publish");
        assert_eq!(verify_chain(&rows), Ok(3));
        let upd = sqlx::query("UPDATE audit_log SET detail = '{}' WHERE seq = $1")
            .bind(rows[1].seq)
            .execute(&pool)
            .await;
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        let del = sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(rows[1].seq).execute(&pool).await;
        assert!(del.unwrap_err().to_string().contains("append-only"));
        // Someone with the database owner's rights switches the guard off and edits a row.
        let disable = if url.starts_with("sqlite") {
            "DROP TRIGGER audit_log_no_update"
        } else {
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"
        };
        sqlx::query(disable).execute(&pool).await.unwrap();
        sqlx::query("UPDATE audit_log SET detail = '{\"title\":\"改过\"}' WHERE seq = $1")
            .bind(rows[0].seq)
            .execute(&pool)
            .await
            .unwrap();
        let rows = s.audit_rows(0, 100).await.unwrap();
        let broken = verify_chain(&rows).unwrap_err();
        assert_eq!(broken.seq, rows[0].seq);
        pool.close().await;
    })
}

/// A fresh PostgreSQL database for one case; dropped afterwards.
async fn fresh_pg(admin: &str, case: &str) -> Result<(String, String), String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(admin)
        .await
        .map_err(|e| e.to_string())?;
    let name = format!(
        "yuqing_t_{}_{}_{}",
        case.chars().take(20).collect::<String>(),
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    Ok((format!("{base}/{name}"), name))
}

async fn drop_pg(admin: &str, name: &str) {
    if let Ok(pool) = sqlx::AnyPool::connect(admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

fn main() {
    // Test runners that list tests first (cargo nextest) see this suite as one test.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("conformance: test");
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let pg = std::env::var("YUQING_TEST_PG_URL").ok().filter(|v| !v.is_empty());
    let mut failed = 0;
    let mut pg_unreachable = false;
    for (name, case) in CASES {
        // SQLite
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/yuqing.db", dir.path().display());
        let ok = rt.block_on(async {
            let s = SqlStore::connect(&url).await.expect("open sqlite");
            s.migrate().await.expect("migrate sqlite");
            tokio::task::LocalSet::new()
                .run_until(async { tokio::task::spawn_local(case(s, url.clone())).await.is_ok() })
                .await
        });
        println!("test sqlite::{name} ... {}", if ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
        // PostgreSQL
        match &pg {
            None if ci => {
                println!("test postgres::{name} ... FAILED (CI=true but YUQING_TEST_PG_URL is not set)");
                failed += 1;
            }
            None => println!("SKIPPED: PostgreSQL half of {name} (set YUQING_TEST_PG_URL to run it)"),
            Some(_) if pg_unreachable => {
                println!("test postgres::{name} ... FAILED (PostgreSQL unreachable)");
                failed += 1;
            }
            Some(admin) => {
                let ok = rt.block_on(async {
                    let (url, db) = match fresh_pg(admin, name).await {
                        Ok(x) => x,
                        Err(e) => {
                            println!("PostgreSQL at YUQING_TEST_PG_URL is unreachable: {e}");
                            pg_unreachable = true;
                            return false;
                        }
                    };
                    let s = SqlStore::connect(&url).await.expect("open postgres");
                    s.migrate().await.expect("migrate postgres");
                    let ok = tokio::task::LocalSet::new()
                        .run_until(async { tokio::task::spawn_local(case(s, url.clone())).await.is_ok() })
                        .await;
                    drop_pg(admin, &db).await;
                    ok
                });
                println!("test postgres::{name} ... {}", if ok { "ok" } else { "FAILED" });
                failed += usize::from(!ok);
            }
        }
    }
    println!("conformance: {} cases x 2 backends, {failed} failed", CASES.len());
    if failed > 0 {
        std::process::exit(1);
    }
}
