//! The durable replication queue. A task is written in the same transaction as the version
//! it replicates (see `insert_version`), so a version a rule matched is never forgotten,
//! whatever crashes; the worker then moves it to COMPLETED or FAILED, or schedules a retry.

use rusqlite::{Connection, OptionalExtension, params};

use super::Bucket;
use super::{Catalog, Result};
use crate::bucket_settings::replication::Candidate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Pending,
    Completed,
    Failed,
    /// Not a task state: how a version written by replication shows.
    Replica,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Replica => "REPLICA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationTask {
    pub id: i64,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
    pub rule_id: String,
    /// The destination bucket ARN of the rule when the task was queued.
    pub destination: String,
    pub size: u64,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub enqueued_ms: i64,
    pub finished_ms: Option<i64>,
    pub last_error: Option<String>,
    pub dest_version_id: Option<String>,
    /// An attempt was sent whose outcome is unknown (the process died or the connection
    /// broke): the next attempt first checks whether the replica already exists.
    pub in_doubt: bool,
}

const TASK_COLUMNS: &str = "id, bucket, key, version_id, delete_marker, rule_id, destination, size, \
     status, attempts, next_attempt_ms, enqueued_ms, finished_ms, last_error, dest_version_id, in_doubt";

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReplicationTask> {
    Ok(ReplicationTask {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        version_id: r.get(3)?,
        delete_marker: r.get(4)?,
        rule_id: r.get(5)?,
        destination: r.get(6)?,
        size: r.get::<_, i64>(7)?.max(0) as u64,
        status: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_ms: r.get(10)?,
        enqueued_ms: r.get(11)?,
        finished_ms: r.get(12)?,
        last_error: r.get(13)?,
        dest_version_id: r.get(14)?,
        in_doubt: r.get(15)?,
    })
}

/// Figures for operators: the backlog, what was replicated, what failed, and the lag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    pub pending: u64,
    pub pending_bytes: u64,
    pub completed: u64,
    pub completed_bytes: u64,
    pub failed: u64,
    /// Attempts that failed and will be retried.
    pub retrying: u64,
    /// When the oldest pending task was queued.
    pub oldest_pending_ms: Option<i64>,
    /// Longest time from queueing to completion among completed tasks.
    pub max_lag_ms: Option<i64>,
}

/// Where `sealgate replicate` stands for one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchProgress {
    pub after_row: i64,
    pub enqueued: u64,
    pub done: bool,
}

/// row, key, version id, delete marker, size, sse, replication status.
type BatchRow = (
    i64,
    String,
    String,
    bool,
    i64,
    Option<String>,
    Option<String>,
);

/// Queues a new version when one of its bucket's rules matches it; answers the replication
/// status the version gets (PENDING), or None.
pub(super) fn enqueue_if_matched(
    tx: &Connection,
    bucket: &Bucket,
    version_id: &str,
    candidate: &Candidate<'_>,
    size: u64,
    now_ms: i64,
) -> Result<Option<&'static str>> {
    let Some(rule) = bucket
        .replication()?
        .and_then(|cfg| cfg.rule_for(candidate))
    else {
        return Ok(None);
    };
    insert_task(
        tx,
        &bucket.name,
        candidate,
        version_id,
        &rule.id,
        &rule.destination.bucket_arn,
        size,
        now_ms,
    )?;
    Ok(Some(TaskStatus::Pending.as_str()))
}

#[allow(
    clippy::too_many_arguments,
    reason = "a task row's columns, written in one place"
)]
fn insert_task(
    tx: &Connection,
    bucket: &str,
    candidate: &Candidate<'_>,
    version_id: &str,
    rule_id: &str,
    destination: &str,
    size: u64,
    now_ms: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO replication_tasks (bucket, key, version_id, delete_marker, rule_id, destination,
             size, status, next_attempt_ms, enqueued_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'PENDING', ?8, ?8)",
        params![
            bucket,
            candidate.key,
            version_id,
            candidate.delete_marker,
            rule_id,
            destination,
            size as i64,
            now_ms
        ],
    )?;
    Ok(())
}

fn set_version_status(tx: &Connection, task: i64, status: TaskStatus) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE versions SET replication_status = ?2 WHERE (bucket, key, version_id) =
             (SELECT bucket, key, version_id FROM replication_tasks WHERE id = ?1)",
        params![task, status.as_str()],
    )
}

fn read_progress(conn: &rusqlite::Connection, bucket: &str) -> Result<BatchProgress> {
    Ok(conn
        .query_row(
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

impl Catalog {
    /// Pending tasks due by `now_ms`, oldest first, at most one per key (the oldest), so
    /// the versions of a key reach the destination in the order they were written.
    /// `busy` are tasks already being worked on.
    pub async fn due_replication_tasks(
        &self,
        now_ms: i64,
        limit: usize,
        busy: Vec<i64>,
    ) -> Result<Vec<ReplicationTask>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
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

    /// Records that an attempt is about to be sent: if the process dies before its outcome
    /// is recorded, the next attempt checks the destination first.
    pub async fn replication_in_doubt(&self, id: i64) -> Result<()> {
        self.call(move |conn| {
            conn.execute(
                "UPDATE replication_tasks SET in_doubt = 1 WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
        .await
    }

    /// A failed attempt to be retried at `next_attempt_ms`.
    pub async fn replication_retry(
        &self,
        id: i64,
        error: &str,
        in_doubt: bool,
        next_attempt_ms: i64,
    ) -> Result<()> {
        let error = error.to_owned();
        self.call(move |conn| {
            conn.execute(
                "UPDATE replication_tasks SET attempts = attempts + 1, last_error = ?2,
                     in_doubt = ?3, next_attempt_ms = ?4 WHERE id = ?1 AND status = 'PENDING'",
                params![id, error, in_doubt, next_attempt_ms],
            )?;
            Ok(())
        })
        .await
    }

    /// The replica exists on the destination as `dest_version_id`.
    pub async fn replication_completed(
        &self,
        id: i64,
        dest_version_id: Option<String>,
        now_ms: i64,
    ) -> Result<()> {
        self.finish_task(id, TaskStatus::Completed, None, dest_version_id, now_ms)
            .await
    }

    /// The version will not replicate without an operator's help (SSE-C, a refusal by the
    /// destination that a retry cannot change).
    pub async fn replication_failed(&self, id: i64, reason: &str, now_ms: i64) -> Result<()> {
        self.finish_task(
            id,
            TaskStatus::Failed,
            Some(reason.to_owned()),
            None,
            now_ms,
        )
        .await
    }

    async fn finish_task(
        &self,
        id: i64,
        status: TaskStatus,
        reason: Option<String>,
        dest_version_id: Option<String>,
        now_ms: i64,
    ) -> Result<()> {
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            tx.execute(
                "UPDATE replication_tasks SET status = ?2, last_error = COALESCE(?3, last_error),
                     dest_version_id = ?4, finished_ms = ?5, in_doubt = 0,
                     attempts = attempts + 1 WHERE id = ?1",
                params![id, status.as_str(), reason, dest_version_id, now_ms],
            )?;
            set_version_status(&tx, id, status)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Forgets a task whose source version no longer exists (deleted for good by version id
    /// before it replicated; S3 does not replicate such deletions).
    pub async fn replication_drop(&self, id: i64) -> Result<()> {
        self.call(move |conn| {
            conn.execute("DELETE FROM replication_tasks WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    /// The destination version id of the newest completed task of the same key before
    /// `before_id`: a replica found on retry with that id is an older version's, not ours.
    pub async fn previous_replica(
        &self,
        bucket: &str,
        key: &str,
        before_id: i64,
    ) -> Result<Option<String>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT dest_version_id FROM replication_tasks
                     WHERE bucket = ?1 AND key = ?2 AND id < ?3 AND status = 'COMPLETED'
                     ORDER BY id DESC LIMIT 1",
                    params![bucket, key, before_id],
                    |r| r.get::<_, Option<String>>(0),
                )
                .optional()?
                .flatten())
        })
        .await
    }

    /// Tasks of a bucket (all buckets when None) in `statuses`, oldest first.
    pub async fn replication_tasks(
        &self,
        bucket: Option<&str>,
        statuses: &[TaskStatus],
        limit: usize,
    ) -> Result<Vec<ReplicationTask>> {
        let bucket = bucket.map(str::to_owned);
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
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

    pub async fn replication_stats(&self, bucket: Option<&str>) -> Result<ReplicationStats> {
        let bucket = bucket.map(str::to_owned);
        self.read(move |conn| {
            Ok(conn.query_row(
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
                [bucket],
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
                    })
                },
            )?)
        })
        .await
    }

    pub async fn batch_progress(&self, bucket: &str) -> Result<BatchProgress> {
        let bucket = bucket.to_owned();
        self.read(move |conn| read_progress(conn, &bucket)).await
    }

    /// Forgets a finished batch so that `sealgate replicate` can run again from the start.
    pub async fn reset_batch(&self, bucket: &str) -> Result<()> {
        let bucket = bucket.to_owned();
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM replication_batches WHERE bucket = ?1",
                [bucket],
            )?;
            Ok(())
        })
        .await
    }

    /// One step of batch replication: queues the versions after the checkpoint (up to
    /// `limit` rows) that a rule matches and that never replicated or failed, and moves the
    /// checkpoint, in one transaction, so an interrupted batch resumes where it stopped
    /// without queueing anything twice.
    pub async fn batch_enqueue(
        &self,
        bucket: &str,
        limit: usize,
        now_ms: i64,
    ) -> Result<BatchProgress> {
        let bucket = bucket.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let record = super::buckets::require_bucket(&tx, &bucket)?;
            let cfg = record.replication()?;
            let mut progress = read_progress(&tx, &bucket)?;
            let rows: Vec<BatchRow> = {
                let mut stmt = tx.prepare(
                    "SELECT row, key, version_id, delete_marker, size, sse, replication_status
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
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
            };
            if rows.len() < limit {
                progress.done = true;
            }
            for (row, key, version_id, delete_marker, size, sse, status) in rows {
                progress.after_row = row;
                if !matches!(status.as_deref(), None | Some("FAILED")) {
                    continue;
                }
                let Some(cfg) = cfg else { continue };
                let candidate = Candidate {
                    key: &key,
                    delete_marker,
                    sse_kms: matches!(
                        super::opt_from_json::<super::Sse>(sse)?,
                        Some(super::Sse::Kms { .. })
                    ),
                };
                let Some(rule) = cfg.rule_for(&candidate) else {
                    continue;
                };
                insert_task(
                    &tx,
                    &bucket,
                    &candidate,
                    &version_id,
                    &rule.id,
                    &rule.destination.bucket_arn,
                    size.max(0) as u64,
                    now_ms,
                )?;
                tx.execute(
                    "UPDATE versions SET replication_status = 'PENDING' WHERE row = ?1",
                    [row],
                )?;
                progress.enqueued += 1;
            }
            tx.execute(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_settings::ReplicationConfig;
    use crate::bucket_settings::replication::{Rule, test_rule};
    use crate::catalog::{NewVersion, Precondition, Versioning};

    fn version(key: &str, seal: &str) -> NewVersion {
        crate::catalog::versions::test_version("src", key, seal, &format!("blob-{seal}"))
    }

    fn config(prefix: &str) -> ReplicationConfig {
        ReplicationConfig {
            role: "r".into(),
            rules: vec![Rule {
                delete_markers: true,
                ..test_rule("rule1", 1, prefix)
            }],
        }
    }

    async fn catalog() -> Catalog {
        let c = Catalog::in_memory();
        c.create_bucket("src", "r", 0).await.unwrap();
        c.set_versioning("src", Versioning::Enabled).await.unwrap();
        c
    }

    #[tokio::test]
    async fn matched_writes_are_queued_with_the_version_and_finish_with_a_status() {
        let c = catalog().await;
        c.commit_version(version("before", "s0"), Precondition::None, 1)
            .await
            .unwrap();
        c.set_setting("src", Some(&config("logs/"))).await.unwrap();
        let v1 = c
            .commit_version(version("logs/a", "s1"), Precondition::None, 2)
            .await
            .unwrap();
        c.commit_version(version("data/a", "s2"), Precondition::None, 3)
            .await
            .unwrap();
        let mut replica = version("logs/r", "s3");
        replica.replica = true;
        c.commit_version(replica, Precondition::None, 4)
            .await
            .unwrap();
        let marker = c
            .delete_object("src", "logs/a", None, "m1", false, 5)
            .await
            .unwrap();

        let status = |key: &'static str, id: Option<String>| {
            let c = c.clone();
            async move {
                c.version("src", key, id.as_deref())
                    .await
                    .unwrap()
                    .replication_status
            }
        };
        assert_eq!(
            status("logs/a", Some(v1.version_id.clone()))
                .await
                .as_deref(),
            Some("PENDING")
        );
        assert_eq!(status("data/a", None).await, None);
        assert_eq!(status("before", None).await, None);
        assert_eq!(status("logs/r", None).await.as_deref(), Some("REPLICA"));

        // One task per key at a time, oldest first: the marker waits for the object.
        let due = c.due_replication_tasks(10, 10, vec![]).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].version_id, v1.version_id);
        c.replication_retry(due[0].id, "down", true, 100)
            .await
            .unwrap();
        assert!(
            c.due_replication_tasks(10, 10, vec![])
                .await
                .unwrap()
                .is_empty()
        );
        let due = c.due_replication_tasks(100, 10, vec![]).await.unwrap();
        assert!(due[0].in_doubt && due[0].attempts == 1);
        c.replication_completed(due[0].id, Some("d1".into()), 120)
            .await
            .unwrap();
        assert_eq!(
            status("logs/a", Some(v1.version_id)).await.as_deref(),
            Some("COMPLETED")
        );
        let due = c.due_replication_tasks(200, 10, vec![]).await.unwrap();
        assert!(due[0].delete_marker);
        assert_eq!(due[0].version_id, marker.version_id.clone().unwrap());
        assert_eq!(
            c.previous_replica("src", "logs/a", due[0].id)
                .await
                .unwrap()
                .as_deref(),
            Some("d1")
        );
        c.replication_failed(due[0].id, "refused", 210)
            .await
            .unwrap();
        let failed = c
            .replication_tasks(Some("src"), &[TaskStatus::Failed], 10)
            .await
            .unwrap();
        assert_eq!(failed[0].last_error.as_deref(), Some("refused"));
        let stats = c.replication_stats(Some("src")).await.unwrap();
        assert_eq!((stats.pending, stats.completed, stats.failed), (0, 1, 1));
        assert_eq!((stats.completed_bytes, stats.max_lag_ms), (3, Some(119)));
    }

    #[tokio::test]
    async fn batches_queue_existing_versions_once_and_resume_from_their_checkpoint() {
        let c = catalog().await;
        for i in 0..5 {
            c.commit_version(
                version(&format!("k{i}"), &format!("s{i}")),
                Precondition::None,
                1,
            )
            .await
            .unwrap();
        }
        c.set_setting("src", Some(&config(""))).await.unwrap();
        let p = c.batch_enqueue("src", 2, 10).await.unwrap();
        assert_eq!((p.enqueued, p.done), (2, false));
        // An interruption here loses nothing: the next step starts after the checkpoint.
        let p = c.batch_enqueue("src", 2, 10).await.unwrap();
        assert_eq!((p.enqueued, p.done), (4, false));
        let p = c.batch_enqueue("src", 2, 10).await.unwrap();
        assert_eq!((p.enqueued, p.done), (5, true));
        assert_eq!(c.batch_progress("src").await.unwrap(), p);
        c.reset_batch("src").await.unwrap();
        // Versions already queued are not queued again.
        let p = c.batch_enqueue("src", 100, 10).await.unwrap();
        assert_eq!((p.enqueued, p.done), (0, true));
        assert_eq!(c.replication_stats(None).await.unwrap().pending, 5);
    }
}
