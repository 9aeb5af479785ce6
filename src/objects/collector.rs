//! Deletes blobs nothing references any more: those of overwritten and deleted versions,
//! aborted uploads, and writes that never committed (orphans of crashes).

use std::time::Duration;

use super::{ObjectService, Result};

const BATCH: usize = 500;

pub struct Collector {
    svc: ObjectService,
}

impl Collector {
    pub fn new(svc: ObjectService) -> Collector {
        Collector { svc }
    }

    /// Start-up recovery for a catalog this process owns alone: files of interrupted
    /// writes are removed and every still-pending blob is an orphan of the last run.
    pub async fn recover(&self) -> Result<usize> {
        let swept = self.svc.blobs.sweep_interrupted_writes()?;
        self.svc
            .catalog
            .expire_pending_blobs(self.svc.now_ms())
            .await?;
        Ok(swept + self.collect_due().await?)
    }

    /// Deletes every blob that is due now; returns how many.
    pub async fn collect_due(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let due = self.svc.catalog.due_blobs(self.svc.now_ms(), BATCH).await?;
            if due.is_empty() {
                return Ok(total);
            }
            let mut done = Vec::with_capacity(due.len());
            for blob in due {
                match self.svc.blobs.delete(&blob).await {
                    Ok(()) => done.push(blob),
                    Err(e) => tracing::warn!(%blob, error = %e, "blob deletion failed; will retry"),
                }
            }
            let progressed = !done.is_empty();
            total += done.len();
            self.svc.catalog.forget_blobs(done).await?;
            if !progressed {
                return Ok(total);
            }
        }
    }

    pub async fn run(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match self.collect_due().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(blobs = n, "collected"),
                Err(e) => tracing::warn!(error = %e, "blob collection failed"),
            }
        }
    }
}
