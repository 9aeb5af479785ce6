//! `sealgate replicate`: queue the versions that existed before a rule (batch replication)
//! and report where replication stands. Both work on the catalog directly, beside a
//! running gateway (SQLite serialises the writers); the gateway's workers do the copying.

use std::fmt::Write as _;

use crate::catalog::{BatchProgress, Catalog, CatalogError, ReplicationStats, TaskStatus};

/// Versions considered per catalog transaction (one checkpoint each).
pub const BATCH_STEP: usize = 500;
/// Failures and retrying tasks listed by `--status`.
pub const MAX_LISTED: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("bucket {0} has no replication configuration (PutBucketReplication first)")]
    NoConfiguration(String),
}

/// Queues every version of `bucket` a rule matches that has not replicated (never tried,
/// or FAILED), resuming an interrupted run from its checkpoint; a finished run is started
/// over. `progress` sees each step.
pub async fn enqueue_existing(
    catalog: &Catalog,
    bucket: &str,
    now_ms: i64,
    mut progress: impl FnMut(&BatchProgress, bool),
) -> Result<BatchProgress, BatchError> {
    if catalog.bucket(bucket).await?.replication.is_none() {
        return Err(BatchError::NoConfiguration(bucket.to_owned()));
    }
    let previous = catalog.batch_progress(bucket).await?;
    let resumed = previous.after_row > 0 && !previous.done;
    if previous.done {
        catalog.reset_batch(bucket).await?;
    }
    loop {
        let p = catalog.batch_enqueue(bucket, BATCH_STEP, now_ms).await?;
        progress(&p, resumed);
        if p.done {
            return Ok(p);
        }
    }
}

fn ago(now_ms: i64, then_ms: i64) -> String {
    format!("{:.1}s", (now_ms - then_ms).max(0) as f64 / 1000.0)
}

/// The metrics of replication (per bucket, or all): backlog, what was replicated,
/// failures, lag.
pub fn render_stats(s: &ReplicationStats, now_ms: i64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "pending: {} ({} bytes)", s.pending, s.pending_bytes);
    let _ = writeln!(out, "retrying: {}", s.retrying);
    let _ = writeln!(
        out,
        "completed: {} ({} bytes)",
        s.completed, s.completed_bytes
    );
    let _ = writeln!(out, "failed: {}", s.failed);
    if let Some(oldest) = s.oldest_pending_ms {
        let _ = writeln!(out, "oldest pending: queued {} ago", ago(now_ms, oldest));
    }
    if let Some(lag) = s.max_lag_ms {
        let _ = writeln!(out, "max lag of completed: {:.1}s", lag as f64 / 1000.0);
    }
    out
}

/// `--status`: the figures, then every failure with its reason, then the tasks being
/// retried with their last error.
pub async fn status_report(
    catalog: &Catalog,
    bucket: Option<&str>,
    now_ms: i64,
) -> Result<String, BatchError> {
    let stats = catalog.replication_stats(bucket).await?;
    let mut out = render_stats(&stats, now_ms);
    let failed = catalog
        .replication_tasks(bucket, &[TaskStatus::Failed], MAX_LISTED)
        .await?;
    for t in &failed {
        let _ = writeln!(
            out,
            "FAILED {}/{} version {} -> {} (rule {}): {}",
            t.bucket,
            t.key,
            t.version_id,
            t.destination,
            t.rule_id,
            t.last_error.as_deref().unwrap_or("no reason recorded")
        );
    }
    let pending = catalog
        .replication_tasks(bucket, &[TaskStatus::Pending], MAX_LISTED)
        .await?;
    for t in pending.iter().filter(|t| t.attempts > 0) {
        let _ = writeln!(
            out,
            "RETRYING {}/{} version {} -> {} after {} attempts, next in {}: {}",
            t.bucket,
            t.key,
            t.version_id,
            t.destination,
            t.attempts,
            ago(t.next_attempt_ms, now_ms),
            t.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(out)
}
