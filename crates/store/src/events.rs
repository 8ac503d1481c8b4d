//! [`EventStore`] for SQLite and PostgreSQL: events, alerts, the delivery outbox, silences and
//! Telegram links. Same conventions as the rest of the store: Unix milliseconds, `$N`
//! placeholders, JSON as TEXT, `sqlx::Error` mapped by `err`.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use yuqing_core::events::{
    AlertRow, DeliveryOutcome, DeliveryRow, EventBatch, EventFilter, EventInput, EventPost, EventRow,
    EventStore, LevelChange, ManualInfo, OpenEvent, SilenceMatch, SilenceRow,
};
use yuqing_core::store::StoreError;
use yuqing_domain::{NoticeKind, WarningLevel};

use crate::{Backend, RETRIES, SqlStore, err, from_ms, ms, retryable};

pub(crate) const EVENT_COLUMNS: &str = "id, title, title_post, title_score, first_at, last_at, posts, heat, level, rumour, \
     local, departments, topics, townships, keywords, stats, manual, status";

const ALERT_COLUMNS: &str = "id, event_id, receiver, department, route, note, level, notified_level, muted, \
     muted_count, group_wait_secs, group_interval_secs, repeat_interval_secs, created_at, first_notified_at, \
     last_notified_at, notices, new_posts, escalation_step, acked_at, acked_by, resolved_at, next_check_at";

const DELIVERY_COLUMNS: &str = "id, alert_id, idempotency_key, kind, official, channel, to_addr, message, attempts, \
     created_at, not_before, sent_at, failed_at, last_error, lease_owner";

pub(crate) fn level_of(s: Option<String>) -> Result<Option<WarningLevel>, StoreError> {
    s.map(|s| WarningLevel::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
}

pub(crate) fn opt_ms(v: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    v.map(from_ms).transpose()
}

fn json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn event_row(r: &AnyRow) -> Result<EventRow, StoreError> {
    let manual: Option<String> = r.try_get(16).map_err(err)?;
    Ok(EventRow {
        id: r.try_get(0).map_err(err)?,
        title: r.try_get(1).map_err(err)?,
        title_post: r.try_get(2).map_err(err)?,
        title_score: r.try_get::<f64, _>(3).map_err(err)? as f32,
        first_at: from_ms(r.try_get(4).map_err(err)?)?,
        last_at: from_ms(r.try_get(5).map_err(err)?)?,
        posts: r.try_get(6).map_err(err)?,
        heat: r.try_get::<f64, _>(7).map_err(err)? as f32,
        level: level_of(r.try_get(8).map_err(err)?)?,
        rumour: r.try_get::<i64, _>(9).map_err(err)? != 0,
        local: r.try_get::<i64, _>(10).map_err(err)? != 0,
        departments: json(&r.try_get::<String, _>(11).map_err(err)?, "events.departments")?,
        topics: json(&r.try_get::<String, _>(12).map_err(err)?, "events.topics")?,
        townships: json(&r.try_get::<String, _>(13).map_err(err)?, "events.townships")?,
        keywords: json(&r.try_get::<String, _>(14).map_err(err)?, "events.keywords")?,
        stats: r.try_get(15).map_err(err)?,
        manual: manual.map(|m| json::<ManualInfo>(&m, "events.manual")).transpose()?,
        status: r.try_get(17).map_err(err)?,
    })
}

fn alert_row(r: &AnyRow) -> Result<AlertRow, StoreError> {
    let level: String = r.try_get(6).map_err(err)?;
    Ok(AlertRow {
        id: r.try_get(0).map_err(err)?,
        event_id: r.try_get(1).map_err(err)?,
        receiver: r.try_get(2).map_err(err)?,
        department: r.try_get(3).map_err(err)?,
        route: r.try_get(4).map_err(err)?,
        note: r.try_get(5).map_err(err)?,
        level: WarningLevel::parse(&level).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        notified_level: level_of(r.try_get(7).map_err(err)?)?,
        muted: r.try_get(8).map_err(err)?,
        muted_count: r.try_get(9).map_err(err)?,
        group_wait_secs: r.try_get(10).map_err(err)?,
        group_interval_secs: r.try_get(11).map_err(err)?,
        repeat_interval_secs: r.try_get(12).map_err(err)?,
        created_at: from_ms(r.try_get(13).map_err(err)?)?,
        first_notified_at: opt_ms(r.try_get(14).map_err(err)?)?,
        last_notified_at: opt_ms(r.try_get(15).map_err(err)?)?,
        notices: r.try_get(16).map_err(err)?,
        new_posts: r.try_get(17).map_err(err)?,
        escalation_step: r.try_get(18).map_err(err)?,
        acked_at: opt_ms(r.try_get(19).map_err(err)?)?,
        acked_by: r.try_get(20).map_err(err)?,
        resolved_at: opt_ms(r.try_get(21).map_err(err)?)?,
        next_check_at: opt_ms(r.try_get(22).map_err(err)?)?,
    })
}

fn delivery_row(r: &AnyRow) -> Result<DeliveryRow, StoreError> {
    let kind: String = r.try_get(3).map_err(err)?;
    Ok(DeliveryRow {
        id: r.try_get(0).map_err(err)?,
        alert_id: r.try_get(1).map_err(err)?,
        idempotency_key: r.try_get(2).map_err(err)?,
        kind: NoticeKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery kind {kind:?}")))?,
        official: r.try_get(4).map_err(err)?,
        channel: r.try_get(5).map_err(err)?,
        to: r.try_get(6).map_err(err)?,
        message: r.try_get(7).map_err(err)?,
        attempts: r.try_get(8).map_err(err)?,
        created_at: from_ms(r.try_get(9).map_err(err)?)?,
        not_before: from_ms(r.try_get(10).map_err(err)?)?,
        sent_at: opt_ms(r.try_get(11).map_err(err)?)?,
        failed_at: opt_ms(r.try_get(12).map_err(err)?)?,
        last_error: r.try_get(13).map_err(err)?,
        lease_owner: r.try_get(14).map_err(err)?,
    })
}

fn silence_row(r: &AnyRow) -> Result<SilenceRow, StoreError> {
    Ok(SilenceRow {
        id: r.try_get(0).map_err(err)?,
        matchers: json::<SilenceMatch>(&r.try_get::<String, _>(1).map_err(err)?, "silences.matchers")?,
        event_id: r.try_get(2).map_err(err)?,
        receiver: r.try_get(3).map_err(err)?,
        creator: r.try_get(4).map_err(err)?,
        reason: r.try_get(5).map_err(err)?,
        starts_at: from_ms(r.try_get(6).map_err(err)?)?,
        ends_at: from_ms(r.try_get(7).map_err(err)?)?,
        created_at: from_ms(r.try_get(8).map_err(err)?)?,
    })
}

fn level_str(l: Option<WarningLevel>) -> Option<&'static str> {
    l.map(WarningLevel::as_str)
}

/// Whether `worker` holds the named lease (inside a transaction).
async fn holds(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT lease_owner, lease_until FROM workers WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(r) => {
            let owner: Option<String> = r.try_get(0)?;
            let until: Option<i64> = r.try_get(1)?;
            owner.as_deref() == Some(worker) && until.is_some_and(|u| u > ms(now))
        }
        None => false,
    })
}

impl EventStore for SqlStore {
    async fn take_lease(
        &self,
        name: &str,
        worker: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        sqlx::query("INSERT INTO workers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let done = sqlx::query(
            "UPDATE workers SET lease_owner = $2, lease_until = $3 WHERE name = $1 \
             AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until IS NULL OR lease_until <= $4)",
        )
        .bind(name)
        .bind(worker)
        .bind(ms(now) + lease_secs.max(1) * 1000)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn events_checkpoint(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query("SELECT checkpoint FROM workers WHERE name = 'events'")
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(err)?;
        Ok(v.unwrap_or(0))
    }

    async fn reserve_event_ids(&self, n: u32) -> Result<Vec<i64>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let n = i64::from(n);
        match self.backend {
            Backend::Postgres => {
                let rows = sqlx::query("SELECT nextval('events_id_seq') FROM generate_series(1, $1)")
                    .bind(n)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(err)?;
                rows.iter().map(|r| r.try_get::<i64, _>(0).map_err(err)).collect()
            }
            Backend::Sqlite => {
                let mut tx = self.begin_write().await.map_err(err)?;
                let last: i64 = sqlx::query(
                    "UPDATE sqlite_sequence SET seq = seq + $1 WHERE name = 'events' RETURNING seq",
                )
                .bind(n)
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(err)?;
                tx.commit().await.map_err(err)?;
                Ok((last - n + 1..=last).collect())
            }
        }
    }

    async fn event_inputs(&self, after_seq: i64, limit: u32) -> Result<Vec<EventInput>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.seq, p.source_id, p.source_type, p.title, p.body, p.url, \
             COALESCE(p.published_at, p.fetched_at), p.simhash, p.duplicate_of, p.reposts, p.engagement, \
             (SELECT a.result FROM analyses a WHERE a.post_id = p.id ORDER BY a.analyzed_at DESC LIMIT 1) \
             FROM posts p WHERE p.seq > $1 ORDER BY p.seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(EventInput {
                    post_id: r.try_get(0).map_err(err)?,
                    seq: r.try_get(1).map_err(err)?,
                    source_id: r.try_get(2).map_err(err)?,
                    source_type: r.try_get(3).map_err(err)?,
                    title: r.try_get(4).map_err(err)?,
                    body: r.try_get(5).map_err(err)?,
                    url: r.try_get(6).map_err(err)?,
                    time: from_ms(r.try_get(7).map_err(err)?)?,
                    simhash: r.try_get::<i64, _>(8).map_err(err)? as u64,
                    duplicate_of: r.try_get(9).map_err(err)?,
                    reposts: r.try_get(10).map_err(err)?,
                    engagement: r.try_get(11).map_err(err)?,
                    analysis: r.try_get(12).map_err(err)?,
                })
            })
            .collect()
    }

    async fn open_events(&self, since: DateTime<Utc>, per_event: u32) -> Result<Vec<OpenEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE status = 'open' AND last_at >= $1 AND manual IS NULL ORDER BY id"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(since)).fetch_all(&self.pool).await.map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let e = event_row(r)?;
            let posts = sqlx::query(
                "SELECT p.id, p.simhash FROM event_posts ep JOIN posts p ON p.id = ep.post_id \
                 WHERE ep.event_id = $1 ORDER BY ep.post_id DESC LIMIT $2",
            )
            .bind(e.id)
            .bind(i64::from(per_event))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
            let mut ps: Vec<(i64, u64)> = posts
                .iter()
                .map(|p| {
                    Ok((p.try_get::<i64, _>(0).map_err(err)?, p.try_get::<i64, _>(1).map_err(err)? as u64))
                })
                .collect::<Result<_, StoreError>>()?;
            ps.reverse();
            out.push(OpenEvent { event: e, posts: ps });
        }
        Ok(out)
    }

    async fn activity_since(&self, hour: i64) -> Result<Vec<(String, i64, u32)>, StoreError> {
        let rows = sqlx::query("SELECT key, hour, count FROM activity WHERE hour >= $1")
            .bind(hour)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(err)?,
                    r.try_get(1).map_err(err)?,
                    r.try_get::<i64, _>(2).map_err(err)?.clamp(0, u32::MAX as i64) as u32,
                ))
            })
            .collect()
    }

    async fn alerts_of(&self, event_ids: &[i64]) -> Result<Vec<AlertRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in event_ids.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE event_id IN ({}) ORDER BY id",
                marks.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await.map_err(err)? {
                out.push(alert_row(&r)?);
            }
        }
        Ok(out)
    }

    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE next_check_at IS NOT NULL AND next_check_at <= $1 \
             ORDER BY next_check_at, id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(alert_row).collect()
    }

    async fn apply_events(
        &self,
        worker: &str,
        batch: &EventBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now_ms = ms(now);
        let lost = self.apply_events_tx(worker, batch, now, now_ms).await.map_err(err)?;
        if lost {
            return Err(StoreError::LeaseLost("events".into()));
        }
        Ok(())
    }

    async fn leveled_events(
        &self,
        min_level: WarningLevel,
        since: DateTime<Utc>,
    ) -> Result<Vec<EventRow>, StoreError> {
        let levels: Vec<&str> =
            WarningLevel::ALL.iter().filter(|l| **l >= min_level).map(|l| l.as_str()).collect();
        let marks: Vec<String> = (0..levels.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE status = 'open' AND last_at >= $1 AND level IN ({}) ORDER BY id",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(since));
        for l in levels {
            q = q.bind(l);
        }
        q.fetch_all(&self.pool).await.map_err(err)?.iter().map(event_row).collect()
    }

    async fn unrouted_manual_events(&self, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE manual IS NOT NULL AND status = 'open' AND level IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.event_id = e.id) ORDER BY id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(event_row).collect()
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRow>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
        let mut n = 0;
        let levels: Vec<&str> = match filter.min_level {
            Some(min) => WarningLevel::ALL.iter().filter(|l| **l >= min).map(|l| l.as_str()).collect(),
            None => Vec::new(),
        };
        if !levels.is_empty() {
            let marks: Vec<String> = (0..levels.len()).map(|i| format!("${}", i + 1)).collect();
            n = levels.len();
            sql.push_str(&format!(" AND level IN ({})", marks.join(", ")));
        }
        if filter.department.is_some() {
            n += 1;
            sql.push_str(&format!(" AND departments LIKE ${n}"));
        }
        sql.push_str(&format!(" ORDER BY heat DESC, id LIMIT ${}", n + 1));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for l in levels {
            q = q.bind(l);
        }
        if let Some(d) = &filter.department {
            q = q.bind(format!("%{}%", to_json(d)));
        }
        q = q.bind(i64::from(filter.limit.max(1)));
        q.fetch_all(&self.pool).await.map_err(err)?.iter().map(event_row).collect()
    }

    async fn event(&self, id: i64) -> Result<Option<EventRow>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await.map_err(err)?;
        row.as_ref().map(event_row).transpose()
    }

    async fn event_posts(&self, id: i64, limit: u32) -> Result<Vec<EventPost>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, ep.via, p.title, p.url, COALESCE(p.published_at, p.fetched_at), p.source_id, \
             (SELECT a.result FROM analyses a WHERE a.post_id = p.id ORDER BY a.analyzed_at DESC LIMIT 1) \
             FROM event_posts ep JOIN posts p ON p.id = ep.post_id WHERE ep.event_id = $1 ORDER BY p.id LIMIT $2",
        )
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(EventPost {
                    post_id: r.try_get(0).map_err(err)?,
                    via: r.try_get(1).map_err(err)?,
                    title: r.try_get(2).map_err(err)?,
                    url: r.try_get(3).map_err(err)?,
                    time: from_ms(r.try_get(4).map_err(err)?)?,
                    source_id: r.try_get(5).map_err(err)?,
                    analysis: r.try_get(6).map_err(err)?,
                })
            })
            .collect()
    }

    async fn level_changes(&self, id: i64) -> Result<Vec<LevelChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, at, from_level, to_level, heat, reason FROM event_levels WHERE event_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(LevelChange {
                    event_id: r.try_get(0).map_err(err)?,
                    at: from_ms(r.try_get(1).map_err(err)?)?,
                    from: level_of(r.try_get(2).map_err(err)?)?,
                    to: level_of(r.try_get(3).map_err(err)?)?,
                    heat: r.try_get::<f64, _>(4).map_err(err)? as f32,
                    reason: r.try_get(5).map_err(err)?,
                })
            })
            .collect()
    }

    async fn open_manual_event(
        &self,
        title: &str,
        manual: &ManualInfo,
        departments: &[String],
        level: Option<WarningLevel>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let id: i64 = sqlx::query(
            "INSERT INTO events (title, first_at, last_at, posts, heat, level, departments, manual, created_at, updated_at) \
             VALUES ($1, $2, $2, 0, 0, $3, $4, $5, $2, $2) RETURNING id",
        )
        .bind(title)
        .bind(ms(now))
        .bind(level_str(level))
        .bind(to_json(&departments))
        .bind(to_json(manual))
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(err)?;
        sqlx::query(
            "INSERT INTO event_levels (event_id, at, from_level, to_level, heat, reason) VALUES ($1, $2, NULL, $3, 0, $4)",
        )
        .bind(id)
        .bind(ms(now))
        .bind(level_str(level))
        .bind(format!("manual: {} ({}) by {}", manual.kind, manual.source, manual.opened_by))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(id)
    }

    async fn list_alerts(&self, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts ORDER BY id DESC LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(alert_row).collect()
    }

    async fn ack_alerts(
        &self,
        event_id: i64,
        receivers: &[String],
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let mut n = 0;
        if receivers.is_empty() {
            n += sqlx::query(
                "UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE event_id = $3 AND acked_at IS NULL",
            )
            .bind(ms(now))
            .bind(by)
            .bind(event_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        }
        for r in receivers {
            n += sqlx::query(
                "UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE event_id = $3 AND receiver = $4 AND acked_at IS NULL",
            )
            .bind(ms(now))
            .bind(by)
            .bind(event_id)
            .bind(r)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        }
        tx.commit().await.map_err(err)?;
        Ok(n)
    }

    async fn ack_alert(&self, alert_id: i64, by: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let n =
            sqlx::query("UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE id = $3 AND acked_at IS NULL")
                .bind(ms(now))
                .bind(by)
                .bind(alert_id)
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(n == 1)
    }

    async fn add_silence(&self, s: &SilenceRow) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let id: i64 = sqlx::query(
            "INSERT INTO silences (matchers, event_id, receiver, creator, reason, starts_at, ends_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(to_json(&s.matchers))
        .bind(s.event_id)
        .bind(&s.receiver)
        .bind(&s.creator)
        .bind(&s.reason)
        .bind(ms(s.starts_at))
        .bind(ms(s.ends_at))
        .bind(ms(s.created_at))
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(id)
    }

    async fn silences(&self, now: DateTime<Utc>, all: bool) -> Result<Vec<SilenceRow>, StoreError> {
        let cond = if all { "ends_at > $1" } else { "starts_at <= $1 AND ends_at > $1" };
        let sql = format!(
            "SELECT id, matchers, event_id, receiver, creator, reason, starts_at, ends_at, created_at FROM silences \
             WHERE {cond} ORDER BY id"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now)).fetch_all(&self.pool).await.map_err(err)?;
        rows.iter().map(silence_row).collect()
    }

    async fn expire_silence(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let n = sqlx::query("UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1")
            .bind(ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(n == 1)
    }

    async fn claim_deliveries(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM deliveries WHERE sent_at IS NULL AND failed_at IS NULL AND not_before <= $3 \
             AND (lease_until IS NULL OR lease_until <= $3) ORDER BY not_before, id LIMIT $4{lock}) \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let mut tx = self.begin_write().await.map_err(err)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(ms(now) + lease_secs.max(1) * 1000)
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let mut out: Vec<DeliveryRow> = rows.iter().map(delivery_row).collect::<Result<_, _>>()?;
        out.sort_by_key(|d| (d.not_before, d.id));
        Ok(out)
    }

    async fn finish_delivery(
        &self,
        worker: &str,
        id: i64,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let held: Option<(Option<String>, Option<i64>)> =
            sqlx::query("SELECT lease_owner, sent_at FROM deliveries WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?
                .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
                .transpose()
                .map_err(err)?;
        let Some((owner, sent)) = held else {
            return Err(StoreError::Other(format!("no delivery {id}")));
        };
        let mine = owner.as_deref() == Some(worker);
        if sent.is_some() {
            tx.commit().await.map_err(err)?;
            return Ok(mine);
        }
        match outcome {
            DeliveryOutcome::Sent { remote_id } => {
                sqlx::query(
                    "UPDATE deliveries SET sent_at = $1, remote_id = $2, lease_owner = NULL, lease_until = NULL, \
                     last_error = NULL WHERE id = $3",
                )
                .bind(ms(now))
                .bind(remote_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
            DeliveryOutcome::Retry { error, at } => {
                if mine {
                    sqlx::query(
                        "UPDATE deliveries SET not_before = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
                         WHERE id = $3",
                    )
                    .bind(ms(*at))
                    .bind(error)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                }
            }
            DeliveryOutcome::Failed { error } => {
                if mine {
                    sqlx::query(
                        "UPDATE deliveries SET failed_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
                         WHERE id = $3",
                    )
                    .bind(ms(now))
                    .bind(error)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                }
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(mine)
    }

    async fn list_deliveries(&self, failed: bool, limit: u32) -> Result<Vec<DeliveryRow>, StoreError> {
        let cond = if failed { "WHERE failed_at IS NOT NULL" } else { "" };
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries {cond} ORDER BY id DESC LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(delivery_row).collect()
    }

    async fn add_link_code(
        &self,
        code: &str,
        official: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        sqlx::query("INSERT INTO link_codes (code, official, expires_at) VALUES ($1, $2, $3)")
            .bind(code)
            .bind(official)
            .bind(ms(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn use_link_code(
        &self,
        code: &str,
        chat_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let official: Option<String> = sqlx::query(
            "UPDATE link_codes SET used_at = $1 WHERE code = $2 AND used_at IS NULL AND expires_at > $1 RETURNING official",
        )
        .bind(ms(now))
        .bind(code)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(err)?;
        if let Some(o) = &official {
            // a chat links one official; re-linking moves it
            sqlx::query("DELETE FROM official_chats WHERE chat_id = $1 OR official = $2")
                .bind(chat_id)
                .bind(o)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            sqlx::query("INSERT INTO official_chats (official, chat_id, linked_at) VALUES ($1, $2, $3)")
                .bind(o)
                .bind(chat_id)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(official)
    }

    async fn official_of_chat(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT official FROM official_chats WHERE chat_id = $1")
            .bind(chat_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(err)
    }

    async fn chat_of_official(&self, official: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT chat_id FROM official_chats WHERE official = $1")
            .bind(official)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(err)
    }
}

impl SqlStore {
    /// The transaction of [`EventStore::apply_events`]; `Ok(true)` when the lease was lost.
    async fn apply_events_tx(
        &self,
        worker: &str,
        batch: &EventBatch,
        now: DateTime<Utc>,
        now_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        write_tx!(self, tx => {
            if !holds(&mut tx, "events", worker, now).await? {
                return Ok(true);
            }
            for e in &batch.events {
                sqlx::query(
                    "INSERT INTO events (id, title, title_post, title_score, first_at, last_at, posts, heat, level, \
                     rumour, local, departments, topics, townships, keywords, stats, manual, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19) \
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title, title_post = excluded.title_post, \
                     title_score = excluded.title_score, first_at = excluded.first_at, last_at = excluded.last_at, \
                     posts = excluded.posts, heat = excluded.heat, level = excluded.level, rumour = excluded.rumour, \
                     local = excluded.local, departments = excluded.departments, topics = excluded.topics, \
                     townships = excluded.townships, keywords = excluded.keywords, stats = excluded.stats, \
                     updated_at = excluded.updated_at",
                )
                .bind(e.id)
                .bind(&e.title)
                .bind(e.title_post)
                .bind(f64::from(e.title_score))
                .bind(ms(e.first_at))
                .bind(ms(e.last_at))
                .bind(e.posts)
                .bind(f64::from(e.heat))
                .bind(level_str(e.level))
                .bind(i64::from(e.rumour))
                .bind(i64::from(e.local))
                .bind(to_json(&e.departments))
                .bind(to_json(&e.topics))
                .bind(to_json(&e.townships))
                .bind(to_json(&e.keywords))
                .bind(&e.stats)
                .bind(e.manual.as_ref().map(to_json))
                .bind(&e.status)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            for p in &batch.placements {
                sqlx::query(
                    "INSERT INTO event_posts (post_id, event_id, via, score, joined_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (post_id) DO NOTHING",
                )
                .bind(p.post_id)
                .bind(p.event_id)
                .bind(&p.via)
                .bind(f64::from(p.score))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            for c in &batch.level_changes {
                sqlx::query(
                    "INSERT INTO event_levels (event_id, at, from_level, to_level, heat, reason) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(c.event_id)
                .bind(ms(c.at))
                .bind(level_str(c.from))
                .bind(level_str(c.to))
                .bind(f64::from(c.heat))
                .bind(&c.reason)
                .execute(&mut *tx)
                .await?;
            }
            for (key, hour, count) in &batch.activity {
                sqlx::query(
                    "INSERT INTO activity (key, hour, count) VALUES ($1, $2, $3) \
                     ON CONFLICT (key, hour) DO UPDATE SET count = excluded.count",
                )
                .bind(key)
                .bind(*hour)
                .bind(i64::from(*count))
                .execute(&mut *tx)
                .await?;
            }
            for a in &batch.alerts {
                sqlx::query(
                    "INSERT INTO alerts (event_id, receiver, department, route, note, level, notified_level, muted, \
                     muted_count, group_wait_secs, group_interval_secs, repeat_interval_secs, created_at, \
                     first_notified_at, last_notified_at, notices, new_posts, escalation_step, resolved_at, next_check_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
                     ON CONFLICT (event_id, receiver) DO UPDATE SET department = excluded.department, \
                     route = excluded.route, note = excluded.note, level = excluded.level, \
                     notified_level = excluded.notified_level, muted = excluded.muted, muted_count = excluded.muted_count, \
                     group_wait_secs = excluded.group_wait_secs, group_interval_secs = excluded.group_interval_secs, \
                     repeat_interval_secs = excluded.repeat_interval_secs, first_notified_at = excluded.first_notified_at, \
                     last_notified_at = excluded.last_notified_at, notices = excluded.notices, \
                     new_posts = excluded.new_posts, escalation_step = excluded.escalation_step, \
                     resolved_at = excluded.resolved_at, next_check_at = excluded.next_check_at",
                )
                .bind(a.event_id)
                .bind(&a.receiver)
                .bind(&a.department)
                .bind(&a.route)
                .bind(&a.note)
                .bind(a.level.as_str())
                .bind(level_str(a.notified_level))
                .bind(&a.muted)
                .bind(a.muted_count)
                .bind(a.group_wait_secs)
                .bind(a.group_interval_secs)
                .bind(a.repeat_interval_secs)
                .bind(ms(a.created_at))
                .bind(a.first_notified_at.map(ms))
                .bind(a.last_notified_at.map(ms))
                .bind(a.notices)
                .bind(a.new_posts)
                .bind(a.escalation_step)
                .bind(a.resolved_at.map(ms))
                .bind(a.next_check_at.map(ms))
                .execute(&mut *tx)
                .await?;
            }
            for d in &batch.deliveries {
                sqlx::query(
                    "INSERT INTO deliveries (alert_id, idempotency_key, kind, official, channel, to_addr, message, \
                     created_at, not_before) \
                     SELECT id, $3, $4, $5, $6, $7, $8, $9, $10 FROM alerts WHERE event_id = $1 AND receiver = $2 \
                     ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(d.event_id)
                .bind(&d.receiver)
                .bind(&d.idempotency_key)
                .bind(d.kind.as_str())
                .bind(&d.official)
                .bind(&d.channel)
                .bind(&d.to)
                .bind(&d.message)
                .bind(now_ms)
                .bind(ms(d.not_before))
                .execute(&mut *tx)
                .await?;
            }
            if let Some(seq) = batch.checkpoint {
                sqlx::query("UPDATE workers SET checkpoint = $1 WHERE name = 'events'")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(false)
        })
    }
}
