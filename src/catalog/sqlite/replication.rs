//! The replication queue in SQLite. One process works the queue, so the tasks it is
//! working on (`busy`) are the only ones taken.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::Cached as _;
use super::SqliteCatalog;
use super::buckets::require_bucket;
use crate::catalog::codec::{RawTask, layout_from_column, layout_to_column, opt_from_json};
use crate::catalog::semantics::{self, QueuedTask};
use crate::catalog::store::{
    BatchProgress, ReplicaUpload, ReplicationQueue, ReplicationStats, ReplicationTask, SentPart,
    TaskEnd, TaskStatus,
};
use crate::catalog::{Result, Sse};

/// Multipart replicas in progress: versions, their bytes and parts, and what was sent.
const UPLOAD_STATS: &str =
    "SELECT COUNT(*), COALESCE(SUM(t.size), 0), COALESCE(SUM(u.parts_total), 0),
         COALESCE(SUM((SELECT COUNT(*) FROM replica_parts p WHERE p.task_id = u.task_id)), 0),
         COALESCE(SUM((SELECT SUM(size) FROM replica_parts p WHERE p.task_id = u.task_id)), 0)
     FROM replica_uploads u JOIN replication_tasks t ON t.id = u.task_id
     WHERE t.status = 'PENDING' AND (?1 IS NULL OR t.bucket = ?1)";

const TASK_COLUMNS: &str = "id, bucket, key, version_id, delete_marker, rule_id, destination, size, \
     status, attempts, next_attempt_ms, enqueued_ms, finished_ms, last_error, dest_version_id, in_doubt";

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReplicationTask> {
    Ok(RawTask {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        version_id: r.get(3)?,
        delete_marker: r.get(4)?,
        rule_id: r.get(5)?,
        destination: r.get(6)?,
        size: r.get(7)?,
        status: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_ms: r.get(10)?,
        enqueued_ms: r.get(11)?,
        finished_ms: r.get(12)?,
        last_error: r.get(13)?,
        dest_version_id: r.get(14)?,
        in_doubt: r.get(15)?,
    }
    .decode())
}

/// row, key, version id, delete marker, size, sse, replication status, seal id, sealed
/// metadata (for the tags a rule may filter on).
type BatchRow = (
    i64,
    String,
    String,
    bool,
    i64,
    Option<String>,
    Option<String>,
    String,
    Vec<u8>,
);

#[allow(
    clippy::too_many_arguments,
    reason = "a task row's columns, written in one place"
)]
pub(super) fn insert_task(
    tx: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
    delete_marker: bool,
    task: &QueuedTask,
    size: u64,
    now_ms: i64,
) -> Result<()> {
    tx.exec(
        "INSERT INTO replication_tasks (bucket, key, version_id, delete_marker, rule_id, destination,
             size, status, next_attempt_ms, enqueued_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'PENDING', ?8, ?8)",
        params![
            bucket,
            key,
            version_id,
            delete_marker,
            task.rule_id,
            task.destination,
            size as i64,
            now_ms
        ],
    )?;
    Ok(())
}

/// The rule and destination of the latest task of a version.
pub(super) fn latest_task(
    tx: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<QueuedTask>> {
    Ok(tx
        .row(
            "SELECT rule_id, destination FROM replication_tasks
             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 ORDER BY id DESC LIMIT 1",
            params![bucket, key, version_id],
            |r| {
                Ok(QueuedTask {
                    rule_id: r.get(0)?,
                    destination: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// The version's status is the task's, unless another task of the version is still pending.
fn set_version_status(tx: &Connection, task: i64, status: TaskStatus) -> rusqlite::Result<usize> {
    tx.exec(
        "UPDATE versions SET replication_status = ?2 WHERE (bucket, key, version_id) =
             (SELECT bucket, key, version_id FROM replication_tasks WHERE id = ?1)
         AND NOT EXISTS (SELECT 1 FROM replication_tasks p
             WHERE p.bucket = versions.bucket AND p.key = versions.key
             AND p.version_id = versions.version_id AND p.status = 'PENDING' AND p.id <> ?1)",
        params![task, status.as_str()],
    )
}

fn forget_upload(tx: &Connection, task: i64) -> rusqlite::Result<()> {
    tx.exec("DELETE FROM replica_parts WHERE task_id = ?1", [task])?;
    tx.exec("DELETE FROM replica_uploads WHERE task_id = ?1", [task])?;
    Ok(())
}

fn read_progress(conn: &rusqlite::Connection, bucket: &str) -> Result<BatchProgress> {
    Ok(conn
        .row(
            "SELECT after_row, enqueued, done FROM replication_batches WHERE bucket = ?1",
            [bucket],
            |r| {
                Ok(BatchProgress {
                    after_row: r.get(0)?,
                    enqueued: r.get::<_, i64>(1)? as u64,
                    done: r.get(2)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

#[async_trait]
impl ReplicationQueue for SqliteCatalog {
    async fn finish_replication(&self, id: i64, end: TaskEnd, now_ms: i64) -> Result<()> {
        let (status, reason, dest_version_id) = end.columns();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            tx.exec(
                "UPDATE replication_tasks SET status = ?2, last_error = COALESCE(?3, last_error),
                     dest_version_id = ?4, finished_ms = ?5, in_doubt = 0,
                     attempts = attempts + 1 WHERE id = ?1",
                params![id, status.as_str(), reason, dest_version_id, now_ms],
            )?;
            set_version_status(&tx, id, status)?;
            forget_upload(&tx, id)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn claim_replication_tasks(
        &self,
        now_ms: i64,
        limit: usize,
        busy: Vec<i64>,
    ) -> Result<Vec<ReplicationTask>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM replication_tasks t
                 WHERE status = 'PENDING' AND next_attempt_ms <= ?1
                 AND NOT EXISTS (SELECT 1 FROM replication_tasks e
                     WHERE e.bucket = t.bucket AND e.key = t.key AND e.status = 'PENDING' AND e.id < t.id)
                 ORDER BY next_attempt_ms, id LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![now_ms, (limit + busy.len()) as i64], task_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows
                .into_iter()
                .filter(|t| !busy.contains(&t.id))
                .take(limit)
                .collect())
        })
        .await
    }

    async fn replication_in_doubt(&self, id: i64) -> Result<()> {
        self.call(move |conn| {
            conn.exec(
                "UPDATE replication_tasks SET in_doubt = 1 WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
        .await
    }

    async fn replication_retry(
        &self,
        id: i64,
        error: &str,
        in_doubt: bool,
        next_attempt_ms: i64,
    ) -> Result<()> {
        let error = error.to_owned();
        self.call(move |conn| {
            conn.exec(
                "UPDATE replication_tasks SET attempts = attempts + 1, last_error = ?2,
                     in_doubt = ?3, next_attempt_ms = ?4 WHERE id = ?1 AND status = 'PENDING'",
                params![id, error, in_doubt, next_attempt_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn replication_drop(&self, id: i64) -> Result<()> {
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            tx.exec("DELETE FROM replication_tasks WHERE id = ?1", [id])?;
            forget_upload(&tx, id)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn replica_upload(&self, task: i64) -> Result<Option<ReplicaUpload>> {
        self.read(move |conn| {
            let Some((upload_id, part_size, parts_total)) = conn
                .row(
                    "SELECT upload_id, part_size, parts_total FROM replica_uploads WHERE task_id = ?1",
                    [task],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT part_number, size, etag, sha256 FROM replica_parts
                 WHERE task_id = ?1 ORDER BY part_number",
            )?;
            let parts = stmt
                .query_map([task], |r| {
                    Ok(SentPart {
                        number: r.get(0)?,
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                        etag: r.get(2)?,
                        sha256: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(ReplicaUpload {
                upload_id,
                layout: layout_from_column(part_size)?,
                parts_total: u32::try_from(parts_total).unwrap_or(0),
                parts,
            }))
        })
        .await
    }

    async fn start_replica_upload(&self, task: i64, upload: &ReplicaUpload) -> Result<()> {
        let (upload_id, part_size, total) = (
            upload.upload_id.clone(),
            layout_to_column(upload.layout),
            upload.parts_total,
        );
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            forget_upload(&tx, task)?;
            tx.exec(
                "INSERT INTO replica_uploads (task_id, upload_id, part_size, parts_total)
                 VALUES (?1, ?2, ?3, ?4)",
                params![task, upload_id, part_size, total],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn replica_part_sent(&self, task: i64, part: &SentPart) -> Result<()> {
        let part = part.clone();
        self.call(move |conn| {
            conn.exec(
                "INSERT OR REPLACE INTO replica_parts (task_id, part_number, size, etag, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![task, part.number, part.size as i64, part.etag, part.sha256],
            )?;
            Ok(())
        })
        .await
    }

    async fn forget_replica_upload(&self, task: i64) -> Result<()> {
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            forget_upload(&tx, task)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn previous_replica(
        &self,
        bucket: &str,
        key: &str,
        before_id: i64,
    ) -> Result<Option<String>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.read(move |conn| {
            Ok(conn
                .row(
                    "SELECT dest_version_id FROM replication_tasks
                     WHERE bucket = ?1 AND key = ?2 AND id < ?3 AND status = 'COMPLETED'
                         AND dest_version_id IS NOT NULL
                     ORDER BY id DESC LIMIT 1",
                    params![bucket, key, before_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?)
        })
        .await
    }

    async fn replica_of(&self, task: &ReplicationTask) -> Result<Option<String>> {
        let t = task.clone();
        self.read(move |conn| {
            Ok(conn
                .row(
                    "SELECT dest_version_id FROM replication_tasks
                     WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 AND destination = ?4
                         AND id < ?5 AND NOT delete_marker AND status = 'COMPLETED'
                         AND dest_version_id IS NOT NULL
                     ORDER BY id DESC LIMIT 1",
                    params![t.bucket, t.key, t.version_id, t.destination, t.id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?)
        })
        .await
    }

    async fn replication_tasks(
        &self,
        bucket: Option<&str>,
        statuses: &[TaskStatus],
        limit: usize,
    ) -> Result<Vec<ReplicationTask>> {
        let bucket = bucket.map(str::to_owned);
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM replication_tasks
                 WHERE (?1 IS NULL OR bucket = ?1) AND instr(?2, ',' || status || ',') > 0
                 ORDER BY id LIMIT ?3"
            ))?;
            let wanted = format!(",{},", statuses.join(","));
            let rows = stmt
                .query_map(params![bucket, wanted, limit as i64], task_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn replication_stats(&self, bucket: Option<&str>) -> Result<ReplicationStats> {
        let bucket = bucket.map(str::to_owned);
        self.read(move |conn| {
            let mut stats = conn.row(
                "SELECT
                    COUNT(*) FILTER (WHERE status = 'PENDING'),
                    COALESCE(SUM(size) FILTER (WHERE status = 'PENDING'), 0),
                    COUNT(*) FILTER (WHERE status = 'COMPLETED'),
                    COALESCE(SUM(size) FILTER (WHERE status = 'COMPLETED'), 0),
                    COUNT(*) FILTER (WHERE status = 'FAILED'),
                    COUNT(*) FILTER (WHERE status = 'PENDING' AND attempts > 0),
                    MIN(enqueued_ms) FILTER (WHERE status = 'PENDING'),
                    MAX(finished_ms - enqueued_ms) FILTER (WHERE status = 'COMPLETED')
                 FROM replication_tasks WHERE (?1 IS NULL OR bucket = ?1)",
                [&bucket],
                |r| {
                    Ok(ReplicationStats {
                        pending: r.get::<_, i64>(0)? as u64,
                        pending_bytes: r.get::<_, i64>(1)? as u64,
                        completed: r.get::<_, i64>(2)? as u64,
                        completed_bytes: r.get::<_, i64>(3)? as u64,
                        failed: r.get::<_, i64>(4)? as u64,
                        retrying: r.get::<_, i64>(5)? as u64,
                        oldest_pending_ms: r.get(6)?,
                        max_lag_ms: r.get(7)?,
                        ..ReplicationStats::default()
                    })
                },
            )?;
            let uploads = conn.row(UPLOAD_STATS, [&bucket], |r| {
                let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                Ok((n(0)?, n(1)?, n(2)?, n(3)?, n(4)?))
            })?;
            (
                stats.uploading,
                stats.upload_bytes,
                stats.upload_parts,
                stats.upload_parts_sent,
                stats.upload_bytes_sent,
            ) = uploads;
            Ok(stats)
        })
        .await
    }

    async fn batch_progress(&self, bucket: &str) -> Result<BatchProgress> {
        let bucket = bucket.to_owned();
        self.read(move |conn| read_progress(conn, &bucket)).await
    }

    async fn reset_batch(&self, bucket: &str) -> Result<()> {
        let bucket = bucket.to_owned();
        self.call(move |conn| {
            conn.exec(
                "DELETE FROM replication_batches WHERE bucket = ?1",
                [bucket],
            )?;
            Ok(())
        })
        .await
    }

    async fn batch_enqueue(
        &self,
        bucket: &str,
        limit: usize,
        now_ms: i64,
    ) -> Result<BatchProgress> {
        let bucket = bucket.to_owned();
        let codec = self.codec.clone();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let record = require_bucket(&tx, &bucket)?;
            let mut progress = read_progress(&tx, &bucket)?;
            let rows: Vec<BatchRow> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT row, key, version_id, delete_marker, size, sse, replication_status,
                         seal_id, meta
                     FROM versions WHERE bucket = ?1 AND row > ?2 ORDER BY row LIMIT ?3",
                )?;
                stmt.query_map(params![bucket, progress.after_row, limit as i64], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
            };
            if rows.len() < limit {
                progress.done = true;
            }
            for (row, key, version_id, delete_marker, size, sse, status, seal_id, meta) in rows {
                progress.after_row = row;
                let sse = opt_from_json::<Sse>(sse)?;
                let tags = codec.open(&bucket, &key, &seal_id, &meta)?.tags;
                let Some(task) = semantics::batch_task(
                    &record,
                    &key,
                    delete_marker,
                    sse.as_ref(),
                    &tags,
                    status.as_deref(),
                )?
                else {
                    continue;
                };
                insert_task(
                    &tx,
                    &bucket,
                    &key,
                    &version_id,
                    delete_marker,
                    &task,
                    size.max(0) as u64,
                    now_ms,
                )?;
                tx.exec(
                    "UPDATE versions SET replication_status = 'PENDING' WHERE row = ?1",
                    [row],
                )?;
                progress.enqueued += 1;
            }
            tx.exec(
                "INSERT OR REPLACE INTO replication_batches (bucket, after_row, enqueued, done)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    bucket,
                    progress.after_row,
                    progress.enqueued as i64,
                    progress.done
                ],
            )?;
            tx.commit()?;
            Ok(progress)
        })
        .await
    }
}
