//! The collector's queue in PostgreSQL. A pending blob names the node writing it: only that
//! node's restart, or its heartbeat stopping, makes it garbage before it is due. The
//! collector takes rows before deleting their blobs, and a commit claims its blobs only if
//! they were not taken, so a blob is never both collected and referenced.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::PgConnection;
use tokio::sync::{mpsc, oneshot};

use super::PgCatalog;
use crate::catalog::store::BlobQueue;
use crate::catalog::{CatalogError, Result};
use crate::fleet::{DB_NOW_MS, NODE_TIMEOUT_MS};

/// Removes the pending rows of blobs a commit makes live. Fails unless every one was still
/// pending: a blob whose row is due, or was taken by the collector, may be gone already.
pub(super) async fn claim_pending_blobs(
    tx: &mut PgConnection,
    blobs: &[String],
    now_ms: i64,
) -> Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    let claimed = sqlx::query("DELETE FROM blob_gc WHERE blob = ANY($1) AND due_ms > $2")
        .bind(blobs)
        .bind(now_ms)
        .execute(tx)
        .await?
        .rows_affected();
    if claimed != blobs.len() as u64 {
        return Err(CatalogError::BlobNotPending);
    }
    Ok(())
}

/// A blob about to be written, waiting to be registered.
pub(super) struct Registration {
    blob: String,
    due_ms: i64,
    done: oneshot::Sender<Result<()>>,
}

/// At most this many registrations share one statement.
const MAX_REGISTRATIONS: usize = 256;

/// Registers pending blobs as they come, those that queued meanwhile together: under load
/// one transaction (one WAL flush) registers the blobs of many writes, each of which waits
/// for its own to be committed before writing its blob.
async fn register_in_batches(
    pool: sqlx::PgPool,
    node: String,
    mut pending: mpsc::UnboundedReceiver<Registration>,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_REGISTRATIONS {
            match pending.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let blobs: Vec<String> = batch.iter().map(|r| r.blob.clone()).collect();
        let dues: Vec<i64> = batch.iter().map(|r| r.due_ms).collect();
        match insert_pending(&pool, &node, &blobs, &dues).await {
            Ok(()) => {
                for r in batch {
                    let _ = r.done.send(Ok(()));
                }
            }
            // Each gets its own answer (one of them may have been the cause).
            Err(e) if batch.len() == 1 => {
                let _ = batch.remove(0).done.send(Err(e));
            }
            Err(_) => {
                for r in batch {
                    let result = insert_pending(&pool, &node, &[r.blob], &[r.due_ms]).await;
                    let _ = r.done.send(result);
                }
            }
        }
    }
}

async fn insert_pending(
    pool: &sqlx::PgPool,
    node: &str,
    blobs: &[String],
    dues: &[i64],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO blob_gc (blob, due_ms, node)
         SELECT blob, due_ms, $3 FROM unnest($1::text[], $2::bigint[]) AS t(blob, due_ms)
         ON CONFLICT (blob) DO UPDATE SET due_ms = EXCLUDED.due_ms, node = EXCLUDED.node",
    )
    .bind(blobs)
    .bind(dues)
    .bind(node)
    .execute(pool)
    .await?;
    Ok(())
}

#[async_trait]
impl BlobQueue for PgCatalog {
    async fn register_pending_blob(&self, blob: &str, due_ms: i64) -> Result<()> {
        let queue = self.registrations.get_or_init(|| {
            let (queue, pending) = mpsc::unbounded_channel();
            tokio::spawn(register_in_batches(
                self.pool().clone(),
                self.node.clone(),
                pending,
            ));
            queue
        });
        let (done, answer) = oneshot::channel();
        let registration = Registration {
            blob: blob.to_owned(),
            due_ms,
            done,
        };
        if queue.send(registration).is_ok()
            && let Ok(result) = answer.await
        {
            return result;
        }
        // The batching task is gone (its runtime stopped): register alone.
        insert_pending(self.pool(), &self.node, &[blob.to_owned()], &[due_ms]).await
    }

    async fn discard_blob(&self, blob: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO blob_gc (blob, due_ms) VALUES ($1, $2)
             ON CONFLICT (blob) DO UPDATE SET due_ms = EXCLUDED.due_ms, node = NULL",
        )
        .bind(blob)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn due_blobs(&self, now_ms: i64, limit: usize) -> Result<Vec<String>> {
        // Writes in flight on a node that stopped beating died with it.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE blob_gc SET due_ms = LEAST(due_ms, $1), node = NULL
             WHERE node IS NOT NULL AND node NOT IN
                 (SELECT node FROM nodes WHERE heartbeat_ms > {DB_NOW_MS} - $2)"
        )))
        .bind(now_ms)
        .bind(NODE_TIMEOUT_MS)
        .execute(self.pool())
        .await?;
        // Taken rows (due -1) can no longer be claimed by a commit; they stay until forgotten,
        // so a deletion that fails is tried again.
        let taken = sqlx::query_scalar(
            "UPDATE blob_gc SET due_ms = -1, node = NULL WHERE blob IN
                 (SELECT blob FROM blob_gc WHERE due_ms <= $1 ORDER BY due_ms LIMIT $2
                  FOR UPDATE SKIP LOCKED)
             RETURNING blob",
        )
        .bind(now_ms)
        .bind(super::limit(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(taken)
    }

    async fn forget_blobs(&self, blobs: Vec<String>) -> Result<()> {
        sqlx::query("DELETE FROM blob_gc WHERE blob = ANY($1) AND due_ms = -1")
            .bind(&blobs)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn blobs_in_flight(&self, blobs: Vec<String>, now_ms: i64) -> Result<HashSet<String>> {
        let live: Vec<String> =
            sqlx::query_scalar("SELECT blob FROM blob_gc WHERE blob = ANY($1) AND due_ms > $2")
                .bind(&blobs)
                .bind(now_ms)
                .fetch_all(self.pool())
                .await?;
        Ok(live.into_iter().collect())
    }

    async fn expire_pending_blobs(&self, now_ms: i64) -> Result<usize> {
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE blob_gc SET due_ms = $1, node = NULL WHERE due_ms > $1 AND (node = $2
                 OR (node IS NULL AND NOT EXISTS (SELECT 1 FROM nodes WHERE node <> $2
                     AND heartbeat_ms > {DB_NOW_MS} - $3)))"
        )))
        .bind(now_ms)
        .bind(&self.node)
        .bind(NODE_TIMEOUT_MS)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn queued_blob_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM blob_gc")
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
