//! Storing a batch of posts in a handful of multi-row statements instead of several statements
//! per post: what the batch already has in the store is read in bulk (item keys, content hashes,
//! near-duplicate candidates), every decision is then made in memory in batch order, and the
//! rows are written with multi-row `INSERT`s. The result equals storing the posts one by one in
//! batch order: a post may be the copy or the near-duplicate of an earlier post of the same
//! batch. On PostgreSQL this is what lets several workers share one database without the round
//! trips (about seven per post before) taking the CPU.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};
use yuqing_core::store::{IngestReport, NEAR_DUPLICATE_DISTANCE, NEAR_DUPLICATE_WINDOW_DAYS, NewPost};

use crate::{Backend, bands, ms};

/// Rows per multi-row statement: far below both dialects' limits on bound parameters (SQLite
/// 32,766; PostgreSQL 65,535) at 22 columns.
const ROWS: usize = 200;
/// Posts per near-duplicate candidate query (a power of two): four `UNION ALL` parts each,
/// below SQLite's 500 compound-select terms.
const CANDIDATE_POSTS: usize = 64;
/// Raw evidence bytes per `INSERT`: pages are large, a statement should not be.
const EVIDENCE_BYTES: usize = 4 << 20;

/// `$a, $b, …` for `n` parameters numbered from `first`.
fn params(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `($1, …, $k), ($k+1, …), …`: `rows` tuples of `cols` parameters.
fn tuples(rows: usize, cols: usize) -> String {
    (0..rows).map(|r| format!("({})", params(r * cols + 1, cols))).collect::<Vec<_>>().join(", ")
}

/// What becomes of one post of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The same (source, item) is stored already, or came earlier in this batch.
    Known,
    /// Same text as a stored post.
    CopyOfStored(i64),
    /// Same text as an earlier post of this batch (by index).
    CopyOfBatch(usize),
    /// A new row; its original when it is a near-duplicate.
    New(Option<Original>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Original {
    Stored(i64),
    Batch(usize),
}

/// Stores `posts` inside `tx` (one transaction the caller commits).
///
/// New posts are numbered in commit order (`seq`, which readers that follow the store go by):
/// - PostgreSQL: after every lookup, the transaction takes an advisory lock held until commit
///   and then inserts its posts with `nextval`, so a transaction that numbers later commits
///   later; everything before the lock runs side by side with other writers.
/// - SQLite: the single writer (`BEGIN IMMEDIATE`) numbers from the highest `seq` stored.
pub(crate) async fn store(
    tx: &mut AnyConnection,
    backend: Backend,
    posts: &[&NewPost],
    now: DateTime<Utc>,
) -> Result<Vec<IngestReport>, sqlx::Error> {
    // One report per post: exactly one of its counts is 1.
    let mut report = vec![IngestReport::default(); posts.len()];
    if posts.is_empty() {
        return Ok(report);
    }
    let known_owned = known_items(tx, posts).await?;
    let known: HashSet<(&str, &str)> = known_owned.iter().map(|(s, i)| (s.as_str(), i.as_str())).collect();
    let stored_hashes = stored_hashes(tx, posts).await?;
    let since = ms(now) - NEAR_DUPLICATE_WINDOW_DAYS * 86_400_000;

    // Decisions in batch order, each seeing what came before it.
    let mut fates = Vec::with_capacity(posts.len());
    let mut seen_items: HashSet<(&str, &str)> = HashSet::new();
    let mut batch_hashes: HashMap<&str, usize> = HashMap::new();
    let mut needs_candidates = Vec::new();
    for (i, p) in posts.iter().enumerate() {
        let key = (p.item.source.as_str(), p.item.id.as_str());
        if known.contains(&key) || !seen_items.insert(key) {
            fates.push(Fate::Known);
        } else if let Some(&id) = stored_hashes.get(p.content_hash.as_str()) {
            fates.push(Fate::CopyOfStored(id));
        } else if let Some(&j) = batch_hashes.get(p.content_hash.as_str()) {
            fates.push(Fate::CopyOfBatch(j));
        } else {
            batch_hashes.insert(&p.content_hash, i);
            // A SimHash of 0 is a text with no words: it says nothing about likeness.
            if p.simhash != 0 {
                needs_candidates.push(i);
            }
            fates.push(Fate::New(None));
        }
    }
    let candidates = candidates(tx, posts, &needs_candidates, since).await?;
    for &i in &needs_candidates {
        let h = posts[i].simhash;
        let close = |s: u64| (s ^ h).count_ones() <= NEAR_DUPLICATE_DISTANCE;
        // An earlier original of this batch is newer than anything stored: it wins.
        let in_batch = (0..i).rev().find(|&j| {
            matches!(fates[j], Fate::New(None))
                && posts[j].simhash != 0
                && ms(posts[j].item.fetched_at) >= since
                && close(posts[j].simhash)
        });
        fates[i] = Fate::New(match in_batch {
            Some(j) => Some(Original::Batch(j)),
            None => {
                candidates.iter().filter(|&&(_, s)| close(s)).map(|&(id, _)| id).max().map(Original::Stored)
            }
        });
    }

    // New rows, in batch order. A text another transaction stored meanwhile is skipped by the
    // unique content hash and becomes a copy of that post.
    let new: Vec<usize> = (0..posts.len()).filter(|&i| matches!(fates[i], Fate::New(_))).collect();
    let mut ids: HashMap<usize, i64> = HashMap::with_capacity(new.len());
    let mut next_seq = match (backend, new.is_empty()) {
        (_, true) => 0,
        (Backend::Postgres, false) => {
            sqlx::query("SELECT pg_advisory_xact_lock(7243)").execute(&mut *tx).await?;
            0
        }
        (Backend::Sqlite, false) => {
            let max: Option<i64> =
                sqlx::query("SELECT MAX(seq) FROM posts").fetch_one(&mut *tx).await?.try_get(0)?;
            max.unwrap_or(0) + 1
        }
    };
    for chunk in new.chunks(ROWS) {
        insert_posts(tx, backend, posts, chunk, &fates, now, &mut next_seq, &mut ids).await?;
    }
    let lost: Vec<usize> = new.iter().copied().filter(|i| !ids.contains_key(i)).collect();
    let mut copies_of: HashMap<usize, i64> = HashMap::new();
    if !lost.is_empty() {
        let found = stored_hashes_of(tx, lost.iter().map(|&i| posts[i].content_hash.as_str())).await?;
        for i in lost {
            let Some(&id) = found.get(posts[i].content_hash.as_str()) else {
                return Err(sqlx::Error::Protocol(format!(
                    "post {i} of the batch was neither inserted nor found by its content hash"
                )));
            };
            copies_of.insert(i, id);
        }
    }
    // Where each batch post's text lives now.
    let home = |i: usize| ids.get(&i).or_else(|| copies_of.get(&i)).copied();

    let mut items: Vec<(usize, i64)> = Vec::new();
    let mut copies: Vec<(usize, i64)> = Vec::new();
    let mut reposts: BTreeMap<i64, i64> = BTreeMap::new();
    let mut links: Vec<(i64, i64)> = Vec::new();
    for (i, fate) in fates.iter().enumerate() {
        let copy_of = match *fate {
            Fate::Known => {
                report[i].already_stored = 1;
                continue;
            }
            Fate::CopyOfStored(id) => Some(id),
            Fate::CopyOfBatch(j) => home(j),
            Fate::New(_) if copies_of.contains_key(&i) => copies_of.get(&i).copied(),
            Fate::New(original) => {
                let id = ids[&i];
                items.push((i, id));
                let original = match original {
                    Some(Original::Stored(o)) => Some(o),
                    Some(Original::Batch(j)) => {
                        let o = home(j);
                        if let Some(o) = o {
                            links.push((id, o));
                        }
                        o
                    }
                    None => None,
                };
                match original {
                    Some(o) => {
                        *reposts.entry(o).or_default() += 1;
                        report[i].near_duplicates = 1;
                    }
                    None => report[i].inserted = 1,
                }
                continue;
            }
        };
        let Some(original) = copy_of else {
            return Err(sqlx::Error::Protocol(format!("post {i} of the batch has no home")));
        };
        *reposts.entry(original).or_default() += 1;
        copies.push((i, original));
        report[i].duplicates = 1;
    }

    for &(id, o) in &links {
        sqlx::query("UPDATE posts SET duplicate_of = $1 WHERE id = $2")
            .bind(o)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    // Counters in id order: two writers bumping the same originals take their row locks in the
    // same order.
    for (&id, &n) in &reposts {
        sqlx::query("UPDATE posts SET reposts = reposts + $1 WHERE id = $2")
            .bind(n)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    for chunk in items.chunks(ROWS) {
        insert_items(tx, posts, chunk, false).await?;
    }
    for chunk in copies.chunks(ROWS) {
        insert_items(tx, posts, chunk, true).await?;
    }
    insert_evidence(tx, posts, &items).await?;
    let analysed: Vec<(usize, i64)> =
        items.iter().copied().filter(|&(i, _)| posts[i].analysis.is_some()).collect();
    for chunk in analysed.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO analyses (post_id, version, result, analyzed_at) VALUES {}",
            tuples(chunk.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &(i, id) in chunk {
            let (version, result) = posts[i].analysis.as_ref().expect("filtered above");
            q = q.bind(id).bind(version).bind(result).bind(ms(now));
        }
        q.execute(&mut *tx).await?;
    }
    Ok(report)
}

/// The batch's `(source, item)` keys the store holds already. Each key is its own pair of
/// parameters: with one shared source parameter PostgreSQL's generic plan reads the whole
/// source's keys through the primary key's first column and filters (measured: 0.7 s per
/// lookup once an import source held 94,000 items), while separate pairs make it probe the
/// primary key per pair.
async fn known_items(
    tx: &mut AnyConnection,
    posts: &[&NewPost],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let mut known = HashSet::new();
    for chunk in posts.chunks(ROWS) {
        let sql = format!(
            "SELECT source_id, item_id FROM post_items WHERE (source_id, item_id) IN ({})",
            tuples(chunk.len(), 2)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in chunk {
            q = q.bind(&p.item.source).bind(&p.item.id);
        }
        for row in q.fetch_all(&mut *tx).await? {
            known.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
        }
    }
    Ok(known)
}

async fn stored_hashes(
    tx: &mut AnyConnection,
    posts: &[&NewPost],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    stored_hashes_of(tx, posts.iter().map(|p| p.content_hash.as_str())).await
}

/// Content hash → id of the stored posts with one of `hashes`.
async fn stored_hashes_of<'h>(
    tx: &mut AnyConnection,
    hashes: impl Iterator<Item = &'h str>,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let hashes: Vec<&str> = hashes.collect::<HashSet<_>>().into_iter().collect();
    let mut out = HashMap::new();
    for chunk in hashes.chunks(ROWS) {
        let sql =
            format!("SELECT content_hash, id FROM posts WHERE content_hash IN ({})", params(1, chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for h in chunk {
            q = q.bind(*h);
        }
        for row in q.fetch_all(&mut *tx).await? {
            out.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    Ok(out)
}

/// `(id, simhash)` of stored originals within the window sharing a band with one of the posts
/// `which`: for each post and band the newest 64, read backwards from the partial `(bandK, id)`
/// index of originals. A row found for one post is tested against every post: two hashes
/// within the distance share a band, so this finds nothing the per-post queries would not.
async fn candidates(
    tx: &mut AnyConnection,
    posts: &[&NewPost],
    which: &[usize],
    since: i64,
) -> Result<Vec<(i64, u64)>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in which.chunks(CANDIDATE_POSTS) {
        // Padded to a power of two (repeating the last post): a handful of statement shapes that
        // stay prepared (parsed once per connection) instead of one per batch size.
        let shape = chunk.len().next_power_of_two();
        let mut parts = Vec::with_capacity(shape * 4);
        for n in 0..shape {
            for k in 0..4 {
                parts.push(format!(
                    "SELECT id, simhash FROM (SELECT id, simhash FROM posts WHERE band{k} = ${} \
                     AND duplicate_of IS NULL AND fetched_at >= $1 ORDER BY id DESC LIMIT 64) c{n}_{k}",
                    2 + n * 4 + k
                ));
            }
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(parts.join(" UNION ALL "))).bind(since);
        for n in 0..shape {
            for b in bands(posts[chunk[n.min(chunk.len() - 1)]].simhash) {
                q = q.bind(b);
            }
        }
        for row in q.fetch_all(&mut *tx).await? {
            out.push((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)? as u64));
        }
    }
    Ok(out)
}

/// Inserts the posts `chunk` (indexes into `posts`) with their commit-order numbers; records
/// the ids of the rows inserted (a text another transaction stored meanwhile is skipped).
#[allow(clippy::too_many_arguments)]
async fn insert_posts(
    tx: &mut AnyConnection,
    backend: Backend,
    posts: &[&NewPost],
    chunk: &[usize],
    fates: &[Fate],
    now: DateTime<Utc>,
    next_seq: &mut i64,
    ids: &mut HashMap<usize, i64>,
) -> Result<(), sqlx::Error> {
    // SQLite binds the number as a 23rd parameter; PostgreSQL draws it from the sequence.
    let cols = if backend == Backend::Sqlite { 23 } else { 22 };
    let rows = (0..chunk.len())
        .map(|r| match backend {
            Backend::Postgres => format!("({}, nextval('post_commit_seq'))", params(r * cols + 1, cols)),
            Backend::Sqlite => format!("({})", params(r * cols + 1, cols)),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO posts (source_id, item_id, source_type, url, title, body, author, author_verified_type, lang, \
         published_at, fetched_at, stored_at, content_hash, simhash, band0, band1, band2, band3, raw_sha256, \
         engagement, duplicate_of, policy_document, seq) VALUES {rows} \
         ON CONFLICT (content_hash) DO NOTHING RETURNING id, content_hash"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for &i in chunk {
        let (p, it) = (&posts[i], &posts[i].item);
        let b = bands(p.simhash);
        let original = match fates[i] {
            Fate::New(Some(Original::Stored(o))) => Some(o),
            _ => None,
        };
        q = q
            .bind(&it.source)
            .bind(&it.id)
            .bind(&it.source_type)
            .bind(it.url.as_deref())
            .bind(&it.title)
            .bind(&it.body)
            .bind(it.author.as_deref())
            .bind(it.author_verified_type)
            .bind(p.lang.as_deref())
            .bind(it.published_at.map(ms))
            .bind(ms(it.fetched_at))
            .bind(ms(now))
            .bind(&p.content_hash)
            .bind(p.simhash as i64)
            .bind(b[0])
            .bind(b[1])
            .bind(b[2])
            .bind(b[3])
            .bind(&it.raw_sha256)
            .bind(serde_json::to_string(&it.engagement).unwrap_or_else(|_| "{}".into()))
            .bind(original)
            .bind(i64::from(it.policy_document));
        if backend == Backend::Sqlite {
            q = q.bind(*next_seq);
            *next_seq += 1;
        }
    }
    let by_hash: HashMap<&str, usize> = chunk.iter().map(|&i| (posts[i].content_hash.as_str(), i)).collect();
    for row in q.fetch_all(&mut *tx).await? {
        let (id, hash): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(&i) = by_hash.get(hash.as_str()) {
            ids.insert(i, id);
        }
    }
    Ok(())
}

/// Item keys pointing at their post; for copies, `ON CONFLICT DO NOTHING` (the same item may
/// be recorded by a concurrent writer of the same text).
async fn insert_items(
    tx: &mut AnyConnection,
    posts: &[&NewPost],
    chunk: &[(usize, i64)],
    copies: bool,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO post_items (source_id, item_id, post_id) VALUES {}{}",
        tuples(chunk.len(), 3),
        if copies { " ON CONFLICT DO NOTHING" } else { "" }
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for &(i, id) in chunk {
        q = q.bind(&posts[i].item.source).bind(&posts[i].item.id).bind(id);
    }
    q.execute(&mut *tx).await?;
    Ok(())
}

/// The raw bytes of new posts, in statements of at most [`EVIDENCE_BYTES`] (or one row).
async fn insert_evidence(
    tx: &mut AnyConnection,
    posts: &[&NewPost],
    items: &[(usize, i64)],
) -> Result<(), sqlx::Error> {
    let with_raw: Vec<(usize, i64)> =
        items.iter().copied().filter(|&(i, _)| posts[i].item.raw.is_some()).collect();
    let mut start = 0;
    while start < with_raw.len() {
        let (mut end, mut bytes) = (start, 0);
        while end < with_raw.len() && end - start < ROWS && (end == start || bytes < EVIDENCE_BYTES) {
            bytes += posts[with_raw[end].0].item.raw.as_ref().map_or(0, |r| r.len());
            end += 1;
        }
        let chunk = &with_raw[start..end];
        let sql = format!(
            "INSERT INTO evidence (post_id, raw, sha256, fetched_at) VALUES {}",
            tuples(chunk.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &(i, id) in chunk {
            let it = &posts[i].item;
            q = q
                .bind(id)
                .bind(it.raw.as_ref().map(|r| r.to_vec()))
                .bind(&it.raw_sha256)
                .bind(ms(it.fetched_at));
        }
        q.execute(&mut *tx).await?;
        start = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(params(2, 3), "$2, $3, $4");
        assert_eq!(tuples(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
