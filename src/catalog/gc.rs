//! The collector's queue: blobs registered before they are written (so a crash leaves them
//! collectable), garbage due at once or after a read grace, and what the collector deleted.

use rusqlite::{OptionalExtension, params};

use super::{Catalog, Result};

impl Catalog {
    /// Records a blob about to be written. Unless a commit claims it before `due_ms`, the
    /// collector deletes it: this is how blobs of interrupted writes are found without
    /// listing the store.
    pub async fn register_pending_blob(&self, blob: &str, due_ms: i64) -> Result<()> {
        let blob = blob.to_owned();
        self.call(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms) VALUES (?1, ?2)",
                params![blob, due_ms],
            )?;
            Ok(())
        })
        .await
    }

    /// Queues a blob for deletion now (a write that failed before its commit).
    pub async fn discard_blob(&self, blob: &str, now_ms: i64) -> Result<()> {
        self.register_pending_blob(blob, now_ms).await
    }

    pub async fn due_blobs(&self, now_ms: i64, limit: usize) -> Result<Vec<String>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare("SELECT blob FROM blob_gc WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2")?;
            let rows = stmt.query_map(params![now_ms, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .await
    }

    /// Forgets blobs the collector has deleted.
    pub async fn forget_blobs(&self, blobs: Vec<String>) -> Result<()> {
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            for blob in &blobs {
                tx.execute("DELETE FROM blob_gc WHERE blob = ?1", [blob])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Which of `blobs` a write may still be writing (registered, not yet due): an
    /// unfinished upload of any other blob is abandoned.
    pub async fn blobs_in_flight(
        &self,
        blobs: Vec<String>,
        now_ms: i64,
    ) -> Result<std::collections::HashSet<String>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare("SELECT due_ms FROM blob_gc WHERE blob = ?1")?;
            let mut live = std::collections::HashSet::new();
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

    /// At start-up of the only process using this catalog, every write in flight died with
    /// the previous process, so all pending blobs are orphans, due now.
    pub async fn expire_pending_blobs(&self, now_ms: i64) -> Result<usize> {
        self.call(move |conn| {
            Ok(conn.execute("UPDATE blob_gc SET due_ms = ?1 WHERE due_ms > ?1", [now_ms])?)
        })
        .await
    }
}
