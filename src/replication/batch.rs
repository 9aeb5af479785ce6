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
    if catalog.bucket(bucket).await?.replication()?.is_none() {
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
    if s.uploading > 0 {
        let _ = writeln!(
            out,
            "multipart: {} versions, {} of {} parts ({} of {} bytes) acknowledged",
            s.uploading, s.upload_parts_sent, s.upload_parts, s.upload_bytes_sent, s.upload_bytes
        );
    }
    if let Some(lag) = s.max_lag_ms {
        let _ = writeln!(out, "max lag of completed: {:.1}s", lag as f64 / 1000.0);
    }
    out
}

/// The same figures in Prometheus' text format (`--status --prometheus`), per bucket if
/// asked, for a textfile collector (the gateway's `/metrics` has the totals).
pub fn render_prometheus(s: &ReplicationStats, bucket: Option<&str>, now_ms: i64) -> String {
    let labels = match bucket {
        Some(b) => format!(
            "{{bucket=\"{}\"}}",
            b.replace('\\', "\\\\").replace('"', "\\\"")
        ),
        None => String::new(),
    };
    let seconds = |ms: i64| ms.max(0) as f64 / 1000.0;
    let metrics: [(&str, &str, &str, f64); 13] = [
        (
            "pending_versions",
            "gauge",
            "Versions queued and not yet replicated",
            s.pending as f64,
        ),
        (
            "pending_bytes",
            "gauge",
            "Bytes of the versions queued",
            s.pending_bytes as f64,
        ),
        (
            "retrying_versions",
            "gauge",
            "Queued versions whose last attempt failed",
            s.retrying as f64,
        ),
        (
            "completed_versions_total",
            "counter",
            "Versions replicated",
            s.completed as f64,
        ),
        (
            "completed_bytes_total",
            "counter",
            "Bytes replicated",
            s.completed_bytes as f64,
        ),
        (
            "failed_versions_total",
            "counter",
            "Versions that failed for good",
            s.failed as f64,
        ),
        (
            "oldest_pending_seconds",
            "gauge",
            "Age of the oldest queued version",
            s.oldest_pending_ms.map_or(0.0, |t| seconds(now_ms - t)),
        ),
        (
            "max_lag_seconds",
            "gauge",
            "Longest time from queueing to completion",
            s.max_lag_ms.map_or(0.0, seconds),
        ),
        (
            "multipart_versions",
            "gauge",
            "Versions being replicated as multipart uploads",
            s.uploading as f64,
        ),
        (
            "multipart_parts",
            "gauge",
            "Parts of those uploads, sent or not",
            s.upload_parts as f64,
        ),
        (
            "multipart_parts_sent",
            "gauge",
            "Parts of those uploads the destinations acknowledged",
            s.upload_parts_sent as f64,
        ),
        (
            "multipart_bytes",
            "gauge",
            "Bytes of the versions being replicated as multipart uploads",
            s.upload_bytes as f64,
        ),
        (
            "multipart_bytes_sent",
            "gauge",
            "Bytes of the acknowledged parts",
            s.upload_bytes_sent as f64,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        let _ = writeln!(out, "# HELP sealgate_replication_{name} {help}");
        let _ = writeln!(out, "# TYPE sealgate_replication_{name} {kind}");
        let _ = writeln!(out, "sealgate_replication_{name}{labels} {value}");
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
    for t in &pending {
        let Some(upload) = catalog.replica_upload(t.id).await? else {
            continue;
        };
        let sent: u64 = upload.parts.iter().map(|p| p.size).sum();
        let _ = writeln!(
            out,
            "SENDING {}/{} version {} -> {} in parts: {} of {} parts ({} of {} bytes) acknowledged",
            t.bucket,
            t.key,
            t.version_id,
            t.destination,
            upload.parts.len(),
            upload.parts_total,
            sent,
            t.size
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_for_people_and_for_prometheus() {
        let s = ReplicationStats {
            pending: 2,
            pending_bytes: 10,
            completed: 5,
            completed_bytes: 500,
            failed: 1,
            retrying: 1,
            oldest_pending_ms: Some(1_000),
            max_lag_ms: Some(2_500),
            ..ReplicationStats::default()
        };
        let text = render_stats(&s, 4_000);
        assert!(text.contains("pending: 2 (10 bytes)"), "{text}");
        assert!(!text.contains("multipart"), "{text}");
        let sending = ReplicationStats {
            uploading: 1,
            upload_parts: 3,
            upload_parts_sent: 1,
            upload_bytes: 15,
            upload_bytes_sent: 5,
            ..s.clone()
        };
        let text = render_stats(&sending, 4_000);
        assert!(
            text.contains("multipart: 1 versions, 1 of 3 parts (5 of 15 bytes) acknowledged"),
            "{text}"
        );
        assert!(text.contains("failed: 1"), "{text}");
        assert!(text.contains("queued 3.0s ago"), "{text}");
        let prom = render_prometheus(&s, Some("b\"1"), 4_000);
        assert!(
            prom.contains("sealgate_replication_completed_bytes_total{bucket=\"b\\\"1\"} 500\n"),
            "{prom}"
        );
        assert!(
            prom.contains("sealgate_replication_oldest_pending_seconds{bucket=\"b\\\"1\"} 3\n"),
            "{prom}"
        );
        assert!(prom.contains("# TYPE sealgate_replication_failed_versions_total counter"));
        assert!(
            render_prometheus(&s, None, 4_000)
                .contains("sealgate_replication_pending_versions 2\n")
        );
    }
}
