//! The replication queue in PostgreSQL, worked by every node. A node claims tasks with a
//! lease that holds while it lives and has not restarted since: a task is worked by one
//! node at a time, and a node killed mid-task leaves it to another, whose first attempt
//! checks the destination (the task is in doubt) so the replica is not written twice.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

use super::buckets::require_bucket;
use super::{PgCatalog, limit, lock_bucket_shared, to_i64};
use crate::catalog::codec::{RawTask, layout_from_column, layout_to_column, opt_from_json};
use crate::catalog::semantics::{self, QueuedTask};
use crate::catalog::store::{
    BatchProgress, ReplicaUpload, ReplicationQueue, ReplicationStats, ReplicationTask, SentPart,
    TaskEnd, TaskStatus,
};
use crate::catalog::{Result, Sse};
use crate::fleet::{DB_NOW_MS, NODE_TIMEOUT_MS};

const TASK_COLUMNS: &str = "id, bucket, key, version_id, delete_marker, rule_id, destination, size, \
     status, attempts, next_attempt_ms, enqueued_ms, finished_ms, last_error, dest_version_id, in_doubt";

/// Keeps two batch steps of one bucket from running at once.
const BATCH_LOCK_SEED: i64 = 0x5ed;

fn task_from_row(r: &PgRow) -> Result<ReplicationTask> {
    Ok(RawTask {
        id: r.try_get(0)?,
        bucket: r.try_get(1)?,
        key: r.try_get(2)?,
        version_id: r.try_get(3)?,
        delete_marker: r.try_get(4)?,
        rule_id: r.try_get(5)?,
        destination: r.try_get(6)?,
        size: r.try_get(7)?,
        status: r.try_get(8)?,
        attempts: r.try_get::<i32, _>(9)?.into(),
        next_attempt_ms: r.try_get(10)?,
        enqueued_ms: r.try_get(11)?,
        finished_ms: r.try_get(12)?,
        last_error: r.try_get(13)?,
        dest_version_id: r.try_get(14)?,
        in_doubt: r.try_get(15)?,
    }
    .decode())
}

#[allow(
    clippy::too_many_arguments,
    reason = "a task row's columns, written in one place"
)]
pub(super) async fn insert_task(
    tx: &mut PgConnection,
    bucket: &str,
    key: &str,
    version_id: &str,
    delete_marker: bool,
    task: &QueuedTask,
    size: u64,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO replication_tasks (bucket, key, version_id, delete_marker, rule_id, destination,
             size, status, next_attempt_ms, enqueued_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8, $8)",
    )
    .bind(bucket)
    .bind(key)
    .bind(version_id)
    .bind(delete_marker)
    .bind(&task.rule_id)
    .bind(&task.destination)
    .bind(to_i64(size))
    .bind(now_ms)
    .execute(tx)
    .await?;
    Ok(())
}

/// The rule and destination of the latest task of a version.
pub(super) async fn latest_task(
    tx: &mut PgConnection,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<QueuedTask>> {
    let found = sqlx::query(
        "SELECT rule_id, destination FROM replication_tasks
         WHERE bucket = $1 AND key = $2 AND version_id = $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(bucket)
    .bind(key)
    .bind(version_id)
    .fetch_optional(tx)
    .await?;
    found
        .map(|r| {
            Ok(QueuedTask {
                rule_id: r.try_get(0)?,
                destination: r.try_get(1)?,
            })
        })
        .transpose()
}

async fn forget_upload(tx: &mut PgConnection, task: i64) -> Result<()> {
    sqlx::query("DELETE FROM replica_parts WHERE task_id = $1")
        .bind(task)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM replica_uploads WHERE task_id = $1")
        .bind(task)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn read_progress(conn: &mut PgConnection, bucket: &str) -> Result<BatchProgress> {
    let row =
        sqlx::query("SELECT after_row, enqueued, done FROM replication_batches WHERE bucket = $1")
            .bind(bucket)
            .fetch_optional(conn)
            .await?;
    let Some(row) = row else {
        return Ok(BatchProgress::default());
    };
    Ok(BatchProgress {
        after_row: row.try_get(0)?,
        enqueued: row.try_get::<i64, _>(1)?.max(0) as u64,
        done: row.try_get(2)?,
    })
}

#[async_trait]
impl ReplicationQueue for PgCatalog {
    async fn finish_replication(&self, id: i64, end: TaskEnd, now_ms: i64) -> Result<()> {
        let (status, reason, dest_version_id) = end.columns();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE replication_tasks SET status = $2, last_error = COALESCE($3, last_error),
                 dest_version_id = $4, finished_ms = $5, in_doubt = FALSE,
                 attempts = attempts + 1, leased_by = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(reason)
        .bind(dest_version_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        // The version's row first: a tag change queueing another task of it commits before
        // the status is set (and is seen by it), or after.
        sqlx::query(
            "SELECT 1 FROM versions v JOIN replication_tasks t
                 ON v.bucket = t.bucket AND v.key = t.key AND v.version_id = t.version_id
             WHERE t.id = $1 FOR UPDATE OF v",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        // The version's status is the task's, unless another task of it is still pending.
        sqlx::query(
            "UPDATE versions v SET replication_status = $2 FROM replication_tasks t
             WHERE t.id = $1 AND v.bucket = t.bucket AND v.key = t.key AND v.version_id = t.version_id
             AND NOT EXISTS (SELECT 1 FROM replication_tasks p
                 WHERE p.bucket = v.bucket AND p.key = v.key AND p.version_id = v.version_id
                 AND p.status = 'PENDING' AND p.id <> $1)",
        )
        .bind(id)
        .bind(status.as_str())
        .execute(&mut *tx)
        .await?;
        forget_upload(&mut tx, id).await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn claim_replication_tasks(
        &self,
        now_ms: i64,
        max: usize,
        busy: Vec<i64>,
    ) -> Result<Vec<ReplicationTask>> {
        // A lease holds while its node beats and has not restarted since taking it; this
        // node's own leases hold only for the tasks it is working on (`busy`).
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE replication_tasks SET leased_by = $1, leased_ms = {DB_NOW_MS}
             WHERE id IN (
                 SELECT t.id FROM replication_tasks t
                 WHERE t.status = 'PENDING' AND t.next_attempt_ms <= $2 AND t.id <> ALL($3)
                 AND NOT EXISTS (SELECT 1 FROM replication_tasks e
                     WHERE e.bucket = t.bucket AND e.key = t.key AND e.status = 'PENDING'
                     AND e.id < t.id)
                 AND (t.leased_by IS NULL OR t.leased_by = $1 OR NOT EXISTS (
                     SELECT 1 FROM nodes n WHERE n.node = t.leased_by
                     AND n.heartbeat_ms > {DB_NOW_MS} - $4 AND n.started_ms <= t.leased_ms))
                 ORDER BY t.next_attempt_ms, t.id LIMIT $5
                 FOR UPDATE OF t SKIP LOCKED)
             RETURNING {TASK_COLUMNS}"
        )))
        .bind(&self.node)
        .bind(now_ms)
        .bind(&busy)
        .bind(NODE_TIMEOUT_MS)
        .bind(limit(max))
        .fetch_all(self.pool())
        .await?;
        let mut tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        tasks.sort_by_key(|t| (t.next_attempt_ms, t.id));
        Ok(tasks)
    }

    async fn replication_in_doubt(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE replication_tasks SET in_doubt = TRUE WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn replication_retry(
        &self,
        id: i64,
        error: &str,
        in_doubt: bool,
        next_attempt_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE replication_tasks SET attempts = attempts + 1, last_error = $2,
                 in_doubt = $3, next_attempt_ms = $4, leased_by = NULL
             WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(error)
        .bind(in_doubt)
        .bind(next_attempt_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn replication_drop(&self, id: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM replication_tasks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        forget_upload(&mut tx, id).await?;
        super::commit(tx).await
    }

    async fn replica_upload(&self, task: i64) -> Result<Option<ReplicaUpload>> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query(
            "SELECT upload_id, part_size, parts_total FROM replica_uploads WHERE task_id = $1",
        )
        .bind(task)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let parts = sqlx::query(
            "SELECT part_number, size, etag, sha256 FROM replica_parts
             WHERE task_id = $1 ORDER BY part_number",
        )
        .bind(task)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| -> Result<SentPart> {
            Ok(SentPart {
                number: u32::try_from(r.try_get::<i32, _>(0)?).unwrap_or(0),
                size: r.try_get::<i64, _>(1)?.max(0) as u64,
                etag: r.try_get(2)?,
                sha256: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(ReplicaUpload {
            upload_id: row.try_get(0)?,
            layout: layout_from_column(row.try_get(1)?)?,
            parts_total: u32::try_from(row.try_get::<i32, _>(2)?).unwrap_or(0),
            parts,
        }))
    }

    async fn start_replica_upload(&self, task: i64, upload: &ReplicaUpload) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        forget_upload(&mut tx, task).await?;
        sqlx::query(
            "INSERT INTO replica_uploads (task_id, upload_id, part_size, parts_total)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(task)
        .bind(&upload.upload_id)
        .bind(layout_to_column(upload.layout))
        .bind(i32::try_from(upload.parts_total).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
        super::commit(tx).await
    }

    async fn replica_part_sent(&self, task: i64, part: &SentPart) -> Result<()> {
        sqlx::query(
            "INSERT INTO replica_parts (task_id, part_number, size, etag, sha256)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (task_id, part_number)
             DO UPDATE SET size = $3, etag = $4, sha256 = $5",
        )
        .bind(task)
        .bind(i32::try_from(part.number).unwrap_or(i32::MAX))
        .bind(to_i64(part.size))
        .bind(&part.etag)
        .bind(&part.sha256)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn forget_replica_upload(&self, task: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        forget_upload(&mut tx, task).await?;
        super::commit(tx).await
    }

    async fn previous_replica(
        &self,
        bucket: &str,
        key: &str,
        before_id: i64,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT dest_version_id FROM replication_tasks
             WHERE bucket = $1 AND key = $2 AND id < $3 AND status = 'COMPLETED'
                 AND dest_version_id IS NOT NULL
             ORDER BY id DESC LIMIT 1",
        )
        .bind(bucket)
        .bind(key)
        .bind(before_id)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn replica_of(&self, task: &ReplicationTask) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT dest_version_id FROM replication_tasks
             WHERE bucket = $1 AND key = $2 AND version_id = $3 AND destination = $4
                 AND id < $5 AND NOT delete_marker AND status = 'COMPLETED'
                 AND dest_version_id IS NOT NULL
             ORDER BY id DESC LIMIT 1",
        )
        .bind(&task.bucket)
        .bind(&task.key)
        .bind(&task.version_id)
        .bind(&task.destination)
        .bind(task.id)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn replication_tasks(
        &self,
        bucket: Option<&str>,
        statuses: &[TaskStatus],
        max: usize,
    ) -> Result<Vec<ReplicationTask>> {
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM replication_tasks
             WHERE ($1::text IS NULL OR bucket = $1) AND status = ANY($2)
             ORDER BY id LIMIT $3"
        )))
        .bind(bucket)
        .bind(&statuses)
        .bind(limit(max))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn replication_stats(&self, bucket: Option<&str>) -> Result<ReplicationStats> {
        let r = sqlx::query(
            "SELECT
                COUNT(*) FILTER (WHERE status = 'PENDING'),
                COALESCE(SUM(size) FILTER (WHERE status = 'PENDING'), 0)::bigint,
                COUNT(*) FILTER (WHERE status = 'COMPLETED'),
                COALESCE(SUM(size) FILTER (WHERE status = 'COMPLETED'), 0)::bigint,
                COUNT(*) FILTER (WHERE status = 'FAILED'),
                COUNT(*) FILTER (WHERE status = 'PENDING' AND attempts > 0),
                MIN(enqueued_ms) FILTER (WHERE status = 'PENDING'),
                MAX(finished_ms - enqueued_ms) FILTER (WHERE status = 'COMPLETED')
             FROM replication_tasks
             WHERE ($1::text IS NULL OR bucket = $1)",
        )
        .bind(bucket)
        .fetch_one(self.pool())
        .await?;
        let u = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(t.size), 0)::bigint,
                 COALESCE(SUM(up.parts_total), 0)::bigint,
                 COALESCE(SUM((SELECT COUNT(*) FROM replica_parts p WHERE p.task_id = up.task_id)), 0)::bigint,
                 COALESCE(SUM((SELECT SUM(size) FROM replica_parts p WHERE p.task_id = up.task_id)), 0)::bigint
             FROM replica_uploads up JOIN replication_tasks t ON t.id = up.task_id
             WHERE t.status = 'PENDING' AND ($1::text IS NULL OR t.bucket = $1)",
        )
        .bind(bucket)
        .fetch_one(self.pool())
        .await?;
        let count = |i: usize| -> Result<u64> { Ok(r.try_get::<i64, _>(i)?.max(0) as u64) };
        let uploads = |i: usize| -> Result<u64> { Ok(u.try_get::<i64, _>(i)?.max(0) as u64) };
        Ok(ReplicationStats {
            pending: count(0)?,
            pending_bytes: count(1)?,
            completed: count(2)?,
            completed_bytes: count(3)?,
            failed: count(4)?,
            retrying: count(5)?,
            oldest_pending_ms: r.try_get(6)?,
            max_lag_ms: r.try_get(7)?,
            uploading: uploads(0)?,
            upload_bytes: uploads(1)?,
            upload_parts: uploads(2)?,
            upload_parts_sent: uploads(3)?,
            upload_bytes_sent: uploads(4)?,
        })
    }

    async fn batch_progress(&self, bucket: &str) -> Result<BatchProgress> {
        let mut conn = self.pool().acquire().await?;
        read_progress(&mut conn, bucket).await
    }

    async fn reset_batch(&self, bucket: &str) -> Result<()> {
        sqlx::query("DELETE FROM replication_batches WHERE bucket = $1")
            .bind(bucket)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn batch_enqueue(&self, bucket: &str, max: usize, now_ms: i64) -> Result<BatchProgress> {
        let mut tx = self.pool().begin().await?;
        lock_bucket_shared(&mut tx, bucket).await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
            .bind(bucket)
            .bind(BATCH_LOCK_SEED)
            .execute(&mut *tx)
            .await?;
        let record = require_bucket(&mut tx, bucket).await?;
        let mut progress = read_progress(&mut tx, bucket).await?;
        let rows = sqlx::query(
            "SELECT row, key, version_id, delete_marker, size, sse, replication_status,
                 seal_id, meta
             FROM versions WHERE bucket = $1 AND row > $2 ORDER BY row LIMIT $3",
        )
        .bind(bucket)
        .bind(progress.after_row)
        .bind(limit(max))
        .fetch_all(&mut *tx)
        .await?;
        if rows.len() < max {
            progress.done = true;
        }
        for r in &rows {
            let row: i64 = r.try_get(0)?;
            progress.after_row = row;
            let key: String = r.try_get(1)?;
            let version_id: String = r.try_get(2)?;
            let delete_marker: bool = r.try_get(3)?;
            let size: i64 = r.try_get(4)?;
            let sse = opt_from_json::<Sse>(r.try_get(5)?)?;
            let status: Option<String> = r.try_get(6)?;
            let seal_id: String = r.try_get(7)?;
            let meta: Vec<u8> = r.try_get(8)?;
            let tags = self.codec.open(bucket, &key, &seal_id, &meta)?.tags;
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
                &mut tx,
                bucket,
                &key,
                &version_id,
                delete_marker,
                &task,
                size.max(0) as u64,
                now_ms,
            )
            .await?;
            sqlx::query("UPDATE versions SET replication_status = 'PENDING' WHERE row = $1")
                .bind(row)
                .execute(&mut *tx)
                .await?;
            progress.enqueued += 1;
        }
        sqlx::query(
            "INSERT INTO replication_batches (bucket, after_row, enqueued, done)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (bucket) DO UPDATE SET after_row = EXCLUDED.after_row,
                 enqueued = EXCLUDED.enqueued, done = EXCLUDED.done",
        )
        .bind(bucket)
        .bind(progress.after_row)
        .bind(to_i64(progress.enqueued))
        .bind(progress.done)
        .execute(&mut *tx)
        .await?;
        super::commit(tx).await?;
        Ok(progress)
    }
}
