//! Deletes blobs nothing references any more: those of overwritten and deleted versions,
//! aborted uploads, and writes that never committed (orphans of crashes). It runs in the
//! background, so however large the backlog a crash left, start-up does not wait for it.

use std::time::{Duration, SystemTime};

use super::{ObjectService, Result};

const BATCH: usize = 500;

pub struct Collector {
    svc: ObjectService,
}

impl Collector {
    pub fn new(svc: ObjectService) -> Collector {
        Collector { svc }
    }

    /// Start-up, for a catalog this process owns alone: every blob still pending belongs
    /// to a write that died with the last run, and every read grace ended with it, so all
    /// of them are due now. One catalog statement; the deleting is left to [`Collector::run`].
    pub async fn expire_orphans(&self) -> Result<usize> {
        Ok(self
            .svc
            .catalog
            .expire_pending_blobs(self.svc.now_ms())
            .await?)
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
            // A blob a read of this process still holds waits for the next pass.
            let due: Vec<String> = due
                .into_iter()
                .filter(|b| !self.svc.reading.is_held(b))
                .collect();
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

    /// Aborts the backend's unfinished multipart uploads that no write of this catalog
    /// can still finish (S3 backends). Listed first and checked against the catalog
    /// after, so an upload a write began meanwhile is always seen as that write's.
    pub async fn abort_abandoned_uploads(&self) -> Result<usize> {
        let uploads = self.svc.blobs.unfinished_uploads().await?;
        if uploads.is_empty() {
            return Ok(0);
        }
        let blobs = uploads.iter().map(|u| u.blob.clone()).collect();
        let live = self
            .svc
            .catalog
            .blobs_in_flight(blobs, self.svc.now_ms())
            .await?;
        let mut aborted = 0;
        for u in uploads.iter().filter(|u| !live.contains(&u.blob)) {
            match self.svc.blobs.abort_upload(u).await {
                Ok(()) => aborted += 1,
                Err(e) => {
                    tracing::warn!(blob = %u.blob, error = %e, "could not abort an abandoned upload")
                }
            }
        }
        Ok(aborted)
    }

    /// Collects what is due every `every`, starting at once. The first pass also removes
    /// what writes interrupted before `started` (this process's start) left half-written
    /// in a local store; later writes' own files are never touched.
    pub async fn run(self, every: Duration, started: SystemTime) {
        match self.svc.blobs.sweep_interrupted_writes(started).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "removed files of interrupted writes"),
            Err(e) => tracing::warn!(error = %e, "sweeping files of interrupted writes failed"),
        }
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match self.collect_due().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(blobs = n, "collected"),
                Err(e) => tracing::warn!(error = %e, "blob collection failed"),
            }
            match self.abort_abandoned_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "aborted abandoned multipart uploads"),
                Err(e) => tracing::warn!(error = %e, "aborting abandoned uploads failed"),
            }
        }
    }
}
