//! The worker pool: takes due tasks from the catalog's queue, at most `workers` at a time
//! and one per key (so a key's versions arrive in order), and records each outcome: done,
//! failed for good, or retried after an exponential, jittered delay. Everything it knows
//! is in the catalog, so a restart (or kill -9) resumes where it stopped.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::backoff;
use super::replicate::{Outcome, Replication};
use crate::catalog::{ReplicationTask, TaskEnd};
use crate::config::ReplicationSettings;

pub struct Worker {
    replication: Arc<Replication>,
    workers: usize,
    retry_base_ms: u64,
    retry_max_ms: u64,
    poll: Duration,
    busy: Arc<Mutex<HashSet<i64>>>,
    done: Arc<Notify>,
}

impl Worker {
    pub fn new(replication: Replication, settings: &ReplicationSettings) -> Worker {
        Worker {
            replication: Arc::new(replication),
            workers: settings.workers,
            retry_base_ms: settings.retry_base_ms,
            retry_max_ms: settings.retry_max_secs.saturating_mul(1000),
            poll: Duration::from_millis(settings.poll_interval_ms.max(10)),
            busy: Arc::new(Mutex::new(HashSet::new())),
            done: Arc::new(Notify::new()),
        }
    }

    fn busy_ids(&self) -> Vec<i64> {
        self.busy
            .lock()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Runs until the task is aborted.
    pub async fn run(self) {
        if self.workers == 0 {
            return;
        }
        let this = Arc::new(self);
        loop {
            let busy = this.busy_ids();
            let free = this.workers.saturating_sub(busy.len());
            let mut started = 0;
            if free > 0 {
                let now = this.replication.svc.now_ms();
                match this
                    .replication
                    .svc
                    .catalog()
                    .claim_replication_tasks(now, free, busy)
                    .await
                {
                    Ok(tasks) => {
                        for task in tasks {
                            if let Ok(mut b) = this.busy.lock() {
                                b.insert(task.id);
                            }
                            started += 1;
                            let this = this.clone();
                            tokio::spawn(async move {
                                let id = task.id;
                                this.process(task).await;
                                if let Ok(mut b) = this.busy.lock() {
                                    b.remove(&id);
                                }
                                this.done.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the replication queue failed"),
                }
            }
            if started == 0 {
                tokio::select! {
                    () = tokio::time::sleep(this.poll) => {}
                    () = this.done.notified() => {}
                }
            }
        }
    }

    async fn process(&self, task: ReplicationTask) {
        let outcome = self.replication.run(&task).await;
        let catalog = self.replication.svc.catalog();
        let now = self.replication.svc.now_ms();
        if matches!(outcome, Outcome::Failed(_) | Outcome::Retry { .. }) {
            crate::metrics::metrics().replication_failures.inc();
        }
        let recorded = match &outcome {
            Outcome::Completed(dest_version) => {
                tracing::info!(bucket = %task.bucket, key = %task.key, version = %task.version_id,
                    destination = %task.destination, dest_version = ?dest_version, "replicated");
                let end = TaskEnd::Completed {
                    dest_version_id: dest_version.clone(),
                };
                catalog.finish_replication(task.id, end, now).await
            }
            Outcome::Failed(reason) => {
                tracing::error!(bucket = %task.bucket, key = %task.key, version = %task.version_id,
                    destination = %task.destination, %reason, "replication FAILED");
                let end = TaskEnd::Failed {
                    reason: reason.clone(),
                };
                catalog.finish_replication(task.id, end, now).await
            }
            Outcome::Retry { error, in_doubt } => {
                let delay = backoff::delay_ms(
                    task.attempts,
                    self.retry_base_ms,
                    self.retry_max_ms,
                    backoff::random_jitter(),
                );
                tracing::warn!(bucket = %task.bucket, key = %task.key, version = %task.version_id,
                    attempt = task.attempts + 1, retry_in_ms = delay, %error, "replication attempt failed");
                catalog
                    .replication_retry(task.id, error, *in_doubt, now.saturating_add(delay as i64))
                    .await
            }
            Outcome::Gone => {
                tracing::info!(bucket = %task.bucket, key = %task.key, version = %task.version_id,
                    "source version deleted before it replicated; dropping the task");
                catalog.replication_drop(task.id).await
            }
        };
        if let Err(e) = recorded {
            // The task stays as it was (in doubt if an attempt went out): it is taken again.
            tracing::warn!(task = task.id, error = %e, "recording a replication outcome failed");
        }
    }
}
