//! [`CaseStore`] for SQLite and PostgreSQL: cases (the domain record as JSON beside the columns
//! queries need), clocks, firings claimed through a unique key, and the hash-chained audit log
//! (append-only by trigger on both backends).

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use yuqing_cases::{Case, CaseRecord, ReviewResult};
use yuqing_core::cases::{
    AUDIT_GENESIS, AuditEntry, AuditRow, CaseFilter, CaseMeta, CaseStore, CaseView, ClockOp, ClockRow,
    DueFiring, FoundInterpretation, NewClock, PerformanceRows, PolicyDocument, StoredCase, audit_hash,
    next_firing,
};
use yuqing_core::events::NewDelivery;
use yuqing_core::store::StoreError;
use yuqing_domain::WarningLevel;

use crate::events::{level_of, opt_ms};
use crate::{Backend, SqlStore, err, from_ms, ms};

type Tx = sqlx::Transaction<'static, sqlx::Any>;

const CASE_COLUMNS: &str = "id, record, origin, level, incident_at, detected_at, document_at, document_url, \
     superior_due_at, opened_by, version, acked_at, published_at, closed_at, watch_until, merged_into, updated_at, \
     document_post, watch_heat";

const CLOCK_COLUMNS: &str = "k.id, k.case_id, k.clock, k.name, k.limit_text, k.started_at, k.due_at, k.warnings, \
     k.next_fire_at, k.next_fire, k.stopped_at, k.stop_reason, k.breached_at, k.extended, k.escalate, k.count_breach";

fn ms_list(v: &[DateTime<Utc>]) -> String {
    serde_json::to_string(&v.iter().map(|t| ms(*t)).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

fn case_row(r: &AnyRow) -> Result<StoredCase, StoreError> {
    let id: i64 = r.try_get(0).map_err(err)?;
    let record: String = r.try_get(1).map_err(err)?;
    let record: CaseRecord =
        serde_json::from_str(&record).map_err(|e| StoreError::Corrupt(format!("case {id} record: {e}")))?;
    let case = Case::from_record(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(StoredCase {
        case,
        meta: CaseMeta {
            origin: r.try_get(2).map_err(err)?,
            level: level_of(r.try_get(3).map_err(err)?)?,
            incident_at: opt_ms(r.try_get(4).map_err(err)?)?,
            detected_at: opt_ms(r.try_get(5).map_err(err)?)?,
            document_at: opt_ms(r.try_get(6).map_err(err)?)?,
            document_url: r.try_get(7).map_err(err)?,
            superior_due_at: opt_ms(r.try_get(8).map_err(err)?)?,
            opened_by: r.try_get(9).map_err(err)?,
            document_post: r.try_get(17).map_err(err)?,
        },
        version: r.try_get(10).map_err(err)?,
        acked_at: opt_ms(r.try_get(11).map_err(err)?)?,
        published_at: opt_ms(r.try_get(12).map_err(err)?)?,
        closed_at: opt_ms(r.try_get(13).map_err(err)?)?,
        watch_until: opt_ms(r.try_get(14).map_err(err)?)?,
        watch_heat: r.try_get(18).map_err(err)?,
        merged_into: r.try_get(15).map_err(err)?,
        updated_at: from_ms(r.try_get(16).map_err(err)?)?,
    })
}

fn clock_row(r: &AnyRow) -> Result<ClockRow, StoreError> {
    let warnings: String = r.try_get(7).map_err(err)?;
    let warnings: Vec<i64> =
        serde_json::from_str(&warnings).map_err(|e| StoreError::Corrupt(format!("clock warnings: {e}")))?;
    Ok(ClockRow {
        id: r.try_get(0).map_err(err)?,
        case_id: r.try_get(1).map_err(err)?,
        clock: r.try_get(2).map_err(err)?,
        name: r.try_get(3).map_err(err)?,
        limit_text: r.try_get(4).map_err(err)?,
        started_at: from_ms(r.try_get(5).map_err(err)?)?,
        due_at: from_ms(r.try_get(6).map_err(err)?)?,
        warnings: warnings.into_iter().map(from_ms).collect::<Result<_, _>>()?,
        next_fire_at: opt_ms(r.try_get(8).map_err(err)?)?,
        next_fire: r.try_get(9).map_err(err)?,
        stopped_at: opt_ms(r.try_get(10).map_err(err)?)?,
        stop_reason: r.try_get(11).map_err(err)?,
        breached_at: opt_ms(r.try_get(12).map_err(err)?)?,
        extended: r.try_get::<i64, _>(13).map_err(err)? != 0,
        escalate: r.try_get::<i64, _>(14).map_err(err)? != 0,
        count: r.try_get::<i64, _>(15).map_err(err)? != 0,
    })
}

fn audit_row(r: &AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: r.try_get(0).map_err(err)?,
        at: from_ms(r.try_get(1).map_err(err)?)?,
        actor: r.try_get(2).map_err(err)?,
        action: r.try_get(3).map_err(err)?,
        case_id: r.try_get(4).map_err(err)?,
        detail: r.try_get(5).map_err(err)?,
        prev_hash: r.try_get(6).map_err(err)?,
        hash: r.try_get(7).map_err(err)?,
    })
}

fn record_json(case: &Case) -> String {
    serde_json::to_string(&case.to_record()).unwrap_or_else(|_| "{}".into())
}

fn to_utc(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    t.with_timezone(&Utc)
}

/// Appends entries to the chain inside `tx`. PostgreSQL: a table lock keeps two writers from
/// chaining onto the same predecessor; SQLite's write transaction already serialises them.
async fn append(
    backend: Backend,
    tx: &mut Tx,
    entries: &[AuditEntry],
    case_id: Option<i64>,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await
            .map_err(err)?;
    }
    let mut prev: String = sqlx::query("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await
        .map_err(err)?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()
        .map_err(err)?
        .unwrap_or_else(|| AUDIT_GENESIS.to_owned());
    for e in entries {
        let case = e.case_id.or(case_id);
        let detail = serde_json::to_string(&e.detail).unwrap_or_else(|_| "null".into());
        let at = ms(e.at);
        let hash = audit_hash(&prev, at, &e.actor, &e.action, case, &detail);
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, case_id, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(case)
        .bind(&detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        prev = hash;
    }
    Ok(())
}

async fn insert_clock(tx: &mut Tx, case_id: i64, c: &NewClock) -> Result<(), StoreError> {
    let next = next_firing(&c.warnings, c.due_at, None);
    sqlx::query(
        "INSERT INTO case_clocks (case_id, clock, name, limit_text, started_at, due_at, warnings, next_fire_at, \
         next_fire, escalate, count_breach) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (case_id, clock) DO NOTHING",
    )
    .bind(case_id)
    .bind(&c.clock)
    .bind(&c.name)
    .bind(&c.limit_text)
    .bind(ms(c.started_at))
    .bind(ms(c.due_at))
    .bind(ms_list(&c.warnings))
    .bind(next.as_ref().map(|(_, at)| ms(*at)))
    .bind(next.map(|(f, _)| f))
    .bind(i64::from(c.escalate))
    .bind(i64::from(c.count))
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    Ok(())
}

/// Queues outbox rows of a case: each hangs off the alert of its event and receiver, created
/// for the case when routing made none.
async fn queue(
    tx: &mut Tx,
    case_id: i64,
    level: Option<WarningLevel>,
    deliveries: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for d in deliveries {
        sqlx::query(
            "INSERT INTO alerts (event_id, receiver, department, route, level, group_wait_secs, group_interval_secs, \
             repeat_interval_secs, created_at) VALUES ($1, $2, $3, 'case', $4, 0, 0, 0, $5) \
             ON CONFLICT (event_id, receiver) DO NOTHING",
        )
        .bind(d.event_id)
        .bind(&d.receiver)
        .bind(&d.receiver)
        .bind(level.unwrap_or(WarningLevel::Blue).as_str())
        .bind(ms(now))
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        sqlx::query(
            "INSERT INTO deliveries (alert_id, idempotency_key, kind, official, channel, to_addr, message, \
             created_at, not_before, case_id) \
             SELECT id, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM alerts WHERE event_id = $1 AND receiver = $2 \
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
        .bind(ms(now))
        .bind(ms(d.not_before))
        .bind(case_id)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    }
    Ok(())
}

fn revisions(case: &Case) -> (Option<i64>, Option<i64>) {
    let draft = case.draft().map(|d| i64::from(d.revision()));
    let approved = case
        .sign_off()
        .filter(|s| matches!(s.sign_off.result(), ReviewResult::Approved))
        .map(|s| i64::from(s.draft_revision));
    (draft, approved)
}

impl SqlStore {
    async fn clocks_of(&self, ids: &[i64]) -> Result<Vec<ClockRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT {CLOCK_COLUMNS} FROM case_clocks k WHERE k.case_id IN ({list}) ORDER BY k.case_id, k.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(err)?;
        rows.iter().map(clock_row).collect()
    }

    async fn views(&self, rows: Vec<AnyRow>) -> Result<Vec<CaseView>, StoreError> {
        let cases: Vec<StoredCase> = rows.iter().map(case_row).collect::<Result<_, _>>()?;
        let ids: Vec<i64> = cases.iter().map(|c| c.case.id).collect();
        let mut clocks = self.clocks_of(&ids).await?;
        Ok(cases
            .into_iter()
            .map(|stored| {
                let id = stored.case.id;
                let mine: Vec<ClockRow> = clocks.extract_if(.., |k| k.case_id == id).collect();
                CaseView { stored, clocks: mine }
            })
            .collect())
    }
}

/// The name a document is cited by: the text in its first 《》, else its title.
fn document_name(title: &str) -> String {
    match (title.find('《'), title.find('》')) {
        (Some(a), Some(b)) if a < b => title[a + '《'.len_utf8()..b].trim().to_owned(),
        _ => title.trim().to_owned(),
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl CaseStore for SqlStore {
    async fn interpretations_found(&self, limit: u32) -> Result<Vec<FoundInterpretation>, StoreError> {
        let open = sqlx::query(
            "SELECT c.id, p.title, c.document_post FROM cases c JOIN posts p ON p.id = c.document_post \
             JOIN case_clocks k ON k.case_id = c.id AND k.clock = 'interpretation' AND k.stopped_at IS NULL \
             WHERE c.state NOT IN ('closed', 'dismissed', 'merged') ORDER BY c.id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let mut out = Vec::new();
        for r in &open {
            let case: i64 = r.try_get(0).map_err(err)?;
            let title: String = r.try_get(1).map_err(err)?;
            let doc: i64 = r.try_get(2).map_err(err)?;
            let name = document_name(&title);
            if name.chars().count() < 4 {
                continue;
            }
            let found = sqlx::query(
                "SELECT id, url, title FROM posts WHERE id > $1 AND title LIKE '%解读%' AND title LIKE $2 ESCAPE '\\' \
                 AND purged_at IS NULL ORDER BY id LIMIT 1",
            )
            .bind(doc)
            .bind(format!("%{}%", like_escape(&name)))
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
            if let Some(f) = found {
                out.push(FoundInterpretation {
                    case_id: case,
                    post_id: f.try_get(0).map_err(err)?,
                    url: f.try_get(1).map_err(err)?,
                    title: f.try_get(2).map_err(err)?,
                });
            }
        }
        Ok(out)
    }

    async fn events_without_case(
        &self,
        levels: &[WarningLevel],
        limit: u32,
    ) -> Result<Vec<yuqing_core::events::EventRow>, StoreError> {
        if levels.is_empty() {
            return Ok(Vec::new());
        }
        // Level names are fixed ASCII words, not input.
        let list = levels.iter().map(|l| format!("'{}'", l.as_str())).collect::<Vec<_>>().join(", ");
        let cols = crate::events::EVENT_COLUMNS;
        let sql = format!(
            "SELECT {cols} FROM events e WHERE e.status = 'open' AND e.level IN ({list}) \
             AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.event_id = e.id) ORDER BY e.id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(crate::events::event_row).collect()
    }

    async fn second_waves(
        &self,
        now: DateTime<Utc>,
        factor: f64,
        min_rise: f64,
    ) -> Result<Vec<(i64, f64, f64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.watch_heat, e.heat FROM cases c JOIN events e ON e.id = c.event_id \
             WHERE c.state = 'published' AND c.watch_until > $1 AND c.watch_heat IS NOT NULL \
             AND e.heat >= c.watch_heat * $2 AND e.heat >= c.watch_heat + $3 ORDER BY c.id",
        )
        .bind(ms(now))
        .bind(factor)
        .bind(min_rise)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(err)?, r.try_get(1).map_err(err)?, r.try_get(2).map_err(err)?)))
            .collect()
    }

    async fn untracked_policy_documents(&self, limit: u32) -> Result<Vec<PolicyDocument>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.title, p.url, COALESCE(p.published_at, p.fetched_at), ep.event_id, a.result FROM posts p \
             JOIN event_posts ep ON ep.post_id = p.id \
             LEFT JOIN analyses a ON a.post_id = p.id \
             AND a.analyzed_at = (SELECT MAX(x.analyzed_at) FROM analyses x WHERE x.post_id = p.id) \
             WHERE p.policy_document = 1 AND p.duplicate_of IS NULL \
             AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.document_post = p.id) ORDER BY p.id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                let analysis: Option<String> = r.try_get(5).map_err(err)?;
                let departments = analysis
                    .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
                    .and_then(|v| {
                        v.get("departments").and_then(|d| d.as_array()).map(|d| {
                            d.iter()
                                .filter_map(|x| x.get("name").and_then(|n| n.as_str()).map(str::to_owned))
                                .collect()
                        })
                    })
                    .unwrap_or_default();
                Ok(PolicyDocument {
                    post_id: r.try_get(0).map_err(err)?,
                    title: r.try_get(1).map_err(err)?,
                    url: r.try_get(2).map_err(err)?,
                    published_at: from_ms(r.try_get(3).map_err(err)?)?,
                    event_id: r.try_get(4).map_err(err)?,
                    departments,
                })
            })
            .collect()
    }

    async fn open_case(
        &self,
        case: &Case,
        meta: &CaseMeta,
        clocks: &[NewClock],
        audit: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let (draft, approved) = revisions(case);
        let id: i64 = sqlx::query(
            "INSERT INTO cases (kind, state, title, event_id, lead_department, co_departments, origin, level, grade, \
             incident_at, detected_at, document_at, document_url, superior_due_at, opened_at, opened_by, \
             draft_revision, approved_revision, record, updated_at, document_post) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, '{}', $19, $20) \
             RETURNING id",
        )
        .bind(case.kind.as_str())
        .bind(case.state().as_str())
        .bind(&case.title)
        .bind(case.event_id)
        .bind(&case.lead_department)
        .bind(serde_json::to_string(&case.co_departments).unwrap_or_else(|_| "[]".into()))
        .bind(&meta.origin)
        .bind(meta.level.map(|l| l.as_str()))
        .bind(case.grade.map(|g| g.as_str()))
        .bind(meta.incident_at.map(ms))
        .bind(meta.detected_at.map(ms))
        .bind(meta.document_at.map(ms))
        .bind(&meta.document_url)
        .bind(meta.superior_due_at.map(ms))
        .bind(ms(to_utc(case.opened_at)))
        .bind(&meta.opened_by)
        .bind(draft)
        .bind(approved)
        .bind(ms(now))
        .bind(meta.document_post)
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?
        .try_get(0)
        .map_err(err)?;
        let mut with_id = case.clone();
        with_id.id = id;
        sqlx::query("UPDATE cases SET record = $1 WHERE id = $2")
            .bind(record_json(&with_id))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        for c in clocks {
            insert_clock(&mut tx, id, c).await?;
        }
        append(self.backend, &mut tx, audit, Some(id)).await?;
        tx.commit().await.map_err(err)?;
        Ok(id)
    }

    async fn save_case(
        &self,
        stored: &StoredCase,
        expected_version: i64,
        checked_revision: Option<u32>,
        clocks: &[ClockOp],
        audit: &[AuditEntry],
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let case = &stored.case;
        let meta = &stored.meta;
        let (draft, approved) = revisions(case);
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = sqlx::query(
            "UPDATE cases SET state = $1, title = $2, co_departments = $3, grade = $4, incident_at = $5, \
             detected_at = $6, document_at = $7, document_url = $8, superior_due_at = $9, acked_at = $10, \
             published_at = $11, closed_at = $12, watch_until = $13, merged_into = $14, draft_revision = $15, \
             approved_revision = $16, checked_revision = COALESCE($17, checked_revision), record = $18, level = $19, \
             version = version + 1, updated_at = $20, watch_heat = $23 WHERE id = $21 AND version = $22",
        )
        .bind(case.state().as_str())
        .bind(&case.title)
        .bind(serde_json::to_string(&case.co_departments).unwrap_or_else(|_| "[]".into()))
        .bind(case.grade.map(|g| g.as_str()))
        .bind(meta.incident_at.map(ms))
        .bind(meta.detected_at.map(ms))
        .bind(meta.document_at.map(ms))
        .bind(&meta.document_url)
        .bind(meta.superior_due_at.map(ms))
        .bind(stored.acked_at.map(ms))
        .bind(stored.published_at.map(ms))
        .bind(stored.closed_at.map(ms))
        .bind(stored.watch_until.map(ms))
        .bind(stored.merged_into)
        .bind(draft)
        .bind(approved)
        .bind(checked_revision.map(i64::from))
        .bind(record_json(case))
        .bind(meta.level.map(|l| l.as_str()))
        .bind(ms(now))
        .bind(case.id)
        .bind(expected_version)
        .bind(stored.watch_heat)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "case {} changed since it was read (version {expected_version}); read it again",
                case.id
            )));
        }
        for op in clocks {
            match op {
                ClockOp::Start(c) => insert_clock(&mut tx, case.id, c).await?,
                ClockOp::Stop { clock, reason, at } => {
                    sqlx::query(
                        "UPDATE case_clocks SET stopped_at = $1, stop_reason = $2, next_fire_at = NULL, next_fire = NULL \
                         WHERE case_id = $3 AND (clock = $4 OR clock LIKE $5) AND stopped_at IS NULL",
                    )
                    .bind(ms(*at))
                    .bind(reason)
                    .bind(case.id)
                    .bind(clock)
                    .bind(format!("{clock}#%"))
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                }
                ClockOp::Restart { clock, at } => {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {CLOCK_COLUMNS} FROM case_clocks k WHERE k.case_id = $1 AND (k.clock = $2 OR k.clock LIKE $3) ORDER BY k.id"
                    )))
                    .bind(case.id)
                    .bind(clock)
                    .bind(format!("{clock}#%"))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(err)?;
                    let cycles: Vec<ClockRow> = rows.iter().map(clock_row).collect::<Result<_, _>>()?;
                    let Some(first) = cycles.iter().find(|k| &k.clock == clock) else { continue };
                    let span = first.due_at - first.started_at;
                    let warnings = first.warnings.iter().map(|w| *at + (*w - first.started_at)).collect();
                    let n = cycles.len() + 1;
                    // Any cycle still running ends here.
                    sqlx::query(
                        "UPDATE case_clocks SET stopped_at = $1, stop_reason = 'reopened', next_fire_at = NULL, next_fire = NULL \
                         WHERE case_id = $2 AND (clock = $3 OR clock LIKE $4) AND stopped_at IS NULL",
                    )
                    .bind(ms(*at))
                    .bind(case.id)
                    .bind(clock)
                    .bind(format!("{clock}#%"))
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                    let new = NewClock {
                        clock: format!("{clock}#{n}"),
                        name: format!("{}（第{n}轮）", first.name),
                        limit_text: first.limit_text.clone(),
                        started_at: *at,
                        due_at: *at + span,
                        warnings,
                        escalate: first.escalate,
                        count: first.count,
                    };
                    insert_clock(&mut tx, case.id, &new).await?;
                }
                ClockOp::Extend { clock, due_at, warnings } => {
                    // Firings already made stay made: the next one is the first not yet fired.
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {CLOCK_COLUMNS} FROM case_clocks k WHERE k.case_id = $1 AND k.clock = $2"
                    )))
                    .bind(case.id)
                    .bind(clock)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(err)?;
                    let Some(row) = row else { continue };
                    let k = clock_row(&row)?;
                    let fired: Vec<String> =
                        sqlx::query("SELECT firing FROM clock_firings WHERE clock_id = $1")
                            .bind(k.id)
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(err)?
                            .iter()
                            .map(|r| r.try_get(0))
                            .collect::<Result<_, _>>()
                            .map_err(err)?;
                    let mut next = next_firing(warnings, *due_at, None);
                    while let Some((f, _)) = &next {
                        if !fired.contains(f) {
                            break;
                        }
                        next = next_firing(warnings, *due_at, Some(f));
                    }
                    sqlx::query(
                        "UPDATE case_clocks SET due_at = $1, warnings = $2, next_fire_at = $3, next_fire = $4, extended = 1, \
                         breached_at = NULL WHERE id = $5 AND stopped_at IS NULL",
                    )
                    .bind(ms(*due_at))
                    .bind(ms_list(warnings))
                    .bind(next.as_ref().map(|(_, at)| ms(*at)))
                    .bind(next.map(|(f, _)| f))
                    .bind(k.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                }
            }
        }
        append(self.backend, &mut tx, audit, Some(case.id)).await?;
        queue(&mut tx, case.id, meta.level, deliveries, now).await?;
        tx.commit().await.map_err(err)?;
        Ok(expected_version + 1)
    }

    async fn case(&self, id: i64) -> Result<Option<CaseView>, StoreError> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1")))
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(self.views(rows).await?.into_iter().next())
    }

    async fn list_cases(&self, f: &CaseFilter) -> Result<Vec<CaseView>, StoreError> {
        // Every placeholder appears in every variant (SQLite numbers them by first appearance).
        let mut sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases c WHERE ($1 = '' OR c.lead_department = $1 OR c.co_departments LIKE $2) \
             AND ($3 = 0 OR EXISTS (SELECT 1 FROM case_clocks k WHERE k.case_id = c.id AND k.stopped_at IS NULL \
             AND k.due_at <= $3))"
        );
        if !f.all {
            sql.push_str(" AND c.state NOT IN ('closed', 'dismissed', 'merged')");
        }
        sql.push_str(" ORDER BY c.id DESC LIMIT $4");
        let dep = f.department.clone().unwrap_or_default();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&dep)
            .bind(format!("%\"{dep}\"%"))
            .bind(f.overdue_at.map(ms).unwrap_or(0))
            .bind(i64::from(if f.limit == 0 { 100 } else { f.limit }))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        self.views(rows).await
    }

    async fn cases_opened_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<PerformanceRows, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE opened_at >= $1 AND opened_at < $2 ORDER BY id"
        )))
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        self.views(rows).await
    }

    async fn due_firings(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueFiring>, StoreError> {
        let sql = format!(
            "SELECT {CLOCK_COLUMNS}, c.title, c.lead_department, c.event_id, c.level FROM case_clocks k \
             JOIN cases c ON c.id = k.case_id WHERE k.next_fire_at IS NOT NULL AND k.next_fire_at <= $1 \
             ORDER BY k.next_fire_at, k.id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                let clock = clock_row(r)?;
                Ok(DueFiring {
                    firing: clock.next_fire.clone().unwrap_or_else(|| "breach".into()),
                    due_at: clock.next_fire_at.unwrap_or(clock.due_at),
                    clock,
                    case_title: r.try_get(16).map_err(err)?,
                    lead_department: r.try_get(17).map_err(err)?,
                    event_id: r.try_get(18).map_err(err)?,
                    level: level_of(r.try_get(19).map_err(err)?)?,
                })
            })
            .collect()
    }

    async fn fire(
        &self,
        f: &DueFiring,
        worker: &str,
        audit: &AuditEntry,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let claimed = sqlx::query(
            "INSERT INTO clock_firings (clock_id, firing, due_at, fired_at, worker) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (clock_id, firing) DO NOTHING",
        )
        .bind(f.clock.id)
        .bind(&f.firing)
        .bind(ms(f.due_at))
        .bind(ms(now))
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        if claimed == 0 {
            return Ok(false);
        }
        let next = f.clock.after(&f.firing);
        let moved = sqlx::query(
            "UPDATE case_clocks SET next_fire_at = $1, next_fire = $2, \
             breached_at = CASE WHEN $3 = 'breach' THEN $4 ELSE breached_at END \
             WHERE id = $5 AND next_fire = $3 AND next_fire_at = $6 AND due_at = $7 AND stopped_at IS NULL",
        )
        .bind(next.as_ref().map(|(_, at)| ms(*at)))
        .bind(next.map(|(n, _)| n))
        .bind(&f.firing)
        .bind(ms(now))
        .bind(f.clock.id)
        .bind(ms(f.due_at))
        .bind(ms(f.clock.due_at))
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        if moved == 0 {
            // Stopped or moved on since it was read: nothing fires (the claim rolls back).
            return Ok(false);
        }
        append(self.backend, &mut tx, std::slice::from_ref(audit), Some(f.clock.case_id)).await?;
        queue(&mut tx, f.clock.case_id, f.level, deliveries, now).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(err)?;
        append(self.backend, &mut tx, entries, None).await?;
        tx.commit().await.map_err(err)
    }

    async fn audit_rows(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, case_id, detail, prev_hash, hash FROM audit_log WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(audit_row).collect()
    }
}
