//! The collector's queue in SQLite. One process uses the catalog, so every pending blob
//! is this process's.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::Cached as _;
use super::SqliteCatalog;
use crate::catalog::store::BlobQueue;
use crate::catalog::{CatalogError, Result};

/// Removes the pending row of a blob a change makes live. Fails unless it was still
/// pending: a blob whose row is due, or was taken by the collector, may be gone already.
pub(super) fn claim_pending_blob(tx: &rusqlite::Connection, blob: &str, now_ms: i64) -> Result<()> {
    let claimed = tx.exec(
        "DELETE FROM blob_gc WHERE blob = ?1 AND due_ms > ?2",
        params![blob, now_ms],
    )?;
    if claimed == 0 {
        return Err(CatalogError::BlobNotPending);
    }
    Ok(())
}

#[async_trait]
impl BlobQueue for SqliteCatalog {
    async fn register_pending_blob(&self, blob: &str, due_ms: i64) -> Result<()> {
        let blob = blob.to_owned();
        self.call(move |conn| {
            conn.exec(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms) VALUES (?1, ?2)",
                params![blob, due_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn discard_blob(&self, blob: &str, now_ms: i64) -> Result<()> {
        self.register_pending_blob(blob, now_ms).await
    }

    async fn due_blobs(&self, now_ms: i64, limit: usize) -> Result<Vec<String>> {
        // Taken rows (due -1) can no longer be claimed by a commit; they stay until
        // forgotten, so a deletion that fails is tried again.
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE blob_gc SET due_ms = -1 WHERE blob IN
                     (SELECT blob FROM blob_gc WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2)
                 RETURNING blob",
            )?;
            let rows = stmt.query_map(params![now_ms, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .await
    }

    async fn forget_blobs(&self, blobs: Vec<String>) -> Result<()> {
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            for blob in &blobs {
                tx.exec(
                    "DELETE FROM blob_gc WHERE blob = ?1 AND due_ms = -1",
                    [blob],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn blobs_in_flight(&self, blobs: Vec<String>, now_ms: i64) -> Result<HashSet<String>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT due_ms FROM blob_gc WHERE blob = ?1")?;
            let mut live = HashSet::new();
            for blob in blobs {
                let due: Option<i64> = stmt.query_row([&blob], |r| r.get(0)).optional()?;
                if due.is_some_and(|d| d > now_ms) {
                    live.insert(blob);
                }
            }
            Ok(live)
        })
        .await
    }

    async fn expire_pending_blobs(&self, now_ms: i64) -> Result<usize> {
        self.call(move |conn| {
            Ok(conn.exec("UPDATE blob_gc SET due_ms = ?1 WHERE due_ms > ?1", [now_ms])?)
        })
        .await
    }

    async fn queued_blob_count(&self) -> Result<u64> {
        self.read(|conn| {
            let n: i64 = conn.row("SELECT count(*) FROM blob_gc", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}
