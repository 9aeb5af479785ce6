//! The lifecycle worker: applies each bucket's lifecycle rules on the injected clock.
//!
//! Which rule applies to what, and when, is decided in [`crate::bucket_settings::lifecycle`]
//! (the `x-amz-expiration` header asks the same functions). The catalog finds only what is
//! due, by index and in pages after a cursor; every action goes through the object
//! service's ordinary delete and abort, so blob collection, replication of delete markers
//! and Object Lock apply as they do to a client's request.
//!
//! A pass is resumable because what it does changes what it finds: an expired version is
//! no longer current, a deleted one no longer exists. A pass cut short (kill -9) is done
//! over by the next, which finds only what is left. A version the catalog refuses to delete
//! (Object Lock) is skipped and found again by the next pass.
//!
//! One node at a time runs a bucket's pass: it holds the bucket's lease in the catalog,
//! renewed page by page, and keeps it until its next pass is due. A node that dies lets
//! its lease run out ([`LEASE_MS`]), and another node takes over.

use std::time::Duration;

use crate::audit::{AuditLog, AuditRecord};
use crate::bucket_settings::LifecycleConfig;
use crate::bucket_settings::lifecycle::{Expiration, LifecycleRule, Subject, due_before};
use crate::catalog::{
    CatalogError, Condition, LifecycleCandidate, LifecycleScan, Precondition, Seen, Upload,
};
use crate::objects::{Deleter, ObjectError, ObjectService};

/// Rows read per page, and actions between two renewals of the lease.
const BATCH: usize = 100;
/// How long a lease outlives its holder's last renewal.
pub const LEASE_MS: i64 = 60_000;
/// The node name of a gateway on SQLite (one process, no fleet).
pub const LOCAL_NODE: &str = "local";
/// The principal lifecycle actions are recorded under in the audit trail.
pub const PRINCIPAL: &str = "sealgate:lifecycle";

/// What the worker did to a version or an upload: its name in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A current version expired (deleted, or hidden behind a delete marker).
    Expiration,
    /// A delete marker that was its key's only entry was removed.
    DeleteMarkerExpiration,
    /// A noncurrent version was deleted for good.
    NoncurrentVersionExpiration,
    AbortIncompleteMultipartUpload,
}

impl Action {
    pub fn operation(self) -> &'static str {
        match self {
            Action::Expiration => "LifecycleExpiration",
            Action::DeleteMarkerExpiration => "LifecycleDeleteMarkerExpiration",
            Action::NoncurrentVersionExpiration => "LifecycleNoncurrentVersionExpiration",
            Action::AbortIncompleteMultipartUpload => "LifecycleAbortIncompleteMultipartUpload",
        }
    }
}

/// What a pass did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub buckets: u64,
    pub done: u64,
    /// Actions the catalog refused (Object Lock); the next pass tries again.
    pub skipped: u64,
}

/// An action decided for one version.
struct Planned {
    action: Action,
    key: String,
    /// The version to delete for good; None expires the current version as DeleteObject
    /// without a version id does.
    version_id: Option<String>,
    precondition: Precondition,
    rule_id: String,
    /// The version (or marker) the action is about, for the audit record.
    subject_version: String,
}

pub struct Lifecycle {
    svc: ObjectService,
    audit: Option<AuditLog>,
    node: String,
    interval: Duration,
}

impl Lifecycle {
    /// The worker of node `node` (its name in leases), passing every `interval`.
    pub fn new(
        svc: ObjectService,
        audit: Option<AuditLog>,
        node: &str,
        interval: Duration,
    ) -> Lifecycle {
        Lifecycle {
            svc,
            audit,
            node: node.to_owned(),
            interval,
        }
    }

    fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX)
    }

    /// Passes over every bucket every interval, starting at once.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.pass().await {
                Ok(r) if r.done > 0 || r.skipped > 0 => {
                    tracing::info!(
                        buckets = r.buckets,
                        done = r.done,
                        skipped = r.skipped,
                        "lifecycle pass"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lifecycle pass failed; the next one retries"),
            }
        }
    }

    /// One pass over every bucket with a lifecycle configuration whose lease this node
    /// gets. A bucket whose pass fails is left for the next pass; the others go on.
    pub async fn pass(&self) -> Result<PassReport, ObjectError> {
        let mut report = PassReport::default();
        for entry in self.svc.list_buckets().await? {
            let config = match self.svc.bucket(&entry.name).await {
                Ok(b) => match b.lifecycle() {
                    Ok(Some(c)) => c.clone(),
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(bucket = %entry.name, error = %e, "lifecycle configuration unreadable; bucket skipped");
                        continue;
                    }
                },
                Err(ObjectError::Catalog(CatalogError::NoSuchBucket)) => continue,
                Err(e) => return Err(e),
            };
            if !self.lease(&entry.name, LEASE_MS).await? {
                tracing::debug!(bucket = %entry.name, "another node runs this bucket's lifecycle");
                continue;
            }
            report.buckets += 1;
            let result = self.bucket_pass(&entry.name, &config, &mut report).await;
            // Kept until the next pass is due: the fleet passes each bucket once an interval.
            self.lease(&entry.name, self.interval_ms()).await?;
            if let Err(e) = result {
                tracing::warn!(bucket = %entry.name, error = %e, "lifecycle pass of a bucket failed; the next one retries");
            }
        }
        Ok(report)
    }

    /// Takes or renews the bucket's lease for `for_ms` from now.
    async fn lease(&self, bucket: &str, for_ms: i64) -> Result<bool, ObjectError> {
        let now = self.svc.now_ms();
        Ok(self
            .svc
            .catalog()
            .take_lifecycle_lease(bucket, &self.node, now, now.saturating_add(for_ms))
            .await?)
    }

    async fn bucket_pass(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        report: &mut PassReport,
    ) -> Result<(), ObjectError> {
        let mut pass = BucketPass {
            worker: self,
            bucket,
            config,
            now: self.svc.now_ms(),
            report,
        };
        for rule in config.rules.iter().filter(|r| r.enabled) {
            pass.rule(rule).await?;
        }
        Ok(())
    }

    /// The cursor after a full page, once the lease is renewed for the next; None after
    /// the last page.
    async fn next_page<T, C>(
        &self,
        bucket: &str,
        page: &[T],
        cursor: impl FnOnce(&T) -> C,
    ) -> Result<Option<C>, ObjectError> {
        match page.last() {
            Some(last) if page.len() == BATCH => {
                self.renew(bucket).await?;
                Ok(Some(cursor(last)))
            }
            _ => Ok(None),
        }
    }

    /// Renews the lease between pages; a node that lost it (stalled past [`LEASE_MS`])
    /// stops, as another node may run the bucket now.
    async fn renew(&self, bucket: &str) -> Result<(), ObjectError> {
        if self.lease(bucket, LEASE_MS).await? {
            Ok(())
        } else {
            Err(ObjectError::Catalog(CatalogError::Task(format!(
                "the lifecycle lease of bucket {bucket} went to another node"
            ))))
        }
    }

    async fn apply(
        &self,
        bucket: &str,
        p: Planned,
        report: &mut PassReport,
    ) -> Result<(), ObjectError> {
        let outcome = self
            .svc
            .delete_object(
                bucket,
                &p.key,
                p.version_id.as_deref(),
                // Never a replica, and never past a retention: the worker has no bypass.
                Deleter::default(),
                &p.precondition,
            )
            .await;
        match outcome {
            Ok(_) => {
                self.record(
                    p.action,
                    bucket,
                    &p.key,
                    &p.subject_version,
                    &p.rule_id,
                    report,
                )
                .await;
                Ok(())
            }
            // Object Lock keeps the version for now: the next pass tries again.
            Err(ObjectError::Catalog(CatalogError::ObjectLocked)) => {
                tracing::info!(%bucket, key = %p.key, version = %p.subject_version, "lifecycle action refused by Object Lock; retried next pass");
                self.count(p.action, "skipped");
                report.skipped += 1;
                Ok(())
            }
            // Gone already, or changed since the scan: nothing to do now.
            Err(ObjectError::Catalog(
                CatalogError::NoSuchKey
                | CatalogError::NoSuchVersion
                | CatalogError::PreconditionFailed
                | CatalogError::ConditionalConflict,
            )) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn count(&self, action: Action, outcome: &'static str) {
        crate::metrics::metrics()
            .lifecycle_actions
            .get_or_create(&crate::metrics::LifecycleLabels {
                action: action.operation(),
                outcome,
            })
            .inc();
    }

    /// Counts an action and appends its audit record. The action has happened: a record
    /// that cannot be written is logged, not undone.
    async fn record(
        &self,
        action: Action,
        bucket: &str,
        key: &str,
        version: &str,
        rule_id: &str,
        report: &mut PassReport,
    ) {
        report.done += 1;
        self.count(action, "done");
        tracing::debug!(%bucket, %key, %version, rule = %rule_id, action = action.operation(), "lifecycle action");
        let Some(audit) = &self.audit else {
            return;
        };
        if let Err(e) = audit
            .append(audit_record(
                &self.svc, &self.node, action, bucket, key, version, rule_id,
            ))
            .await
        {
            tracing::error!(error = %e, %bucket, %key, "the audit record of a lifecycle action could not be written");
        }
    }
}

/// One bucket's pass: its rules applied at one moment, `now`.
struct BucketPass<'a> {
    worker: &'a Lifecycle,
    bucket: &'a str,
    config: &'a LifecycleConfig,
    now: i64,
    report: &'a mut PassReport,
}

impl BucketPass<'_> {
    async fn rule(&mut self, rule: &LifecycleRule) -> Result<(), ObjectError> {
        let now = self.now;
        let current = match rule.expiration {
            Some(Expiration::Days(d)) => Some(due_before(now, d)),
            // A Date applies to every matching object, however new, once it has come.
            Some(Expiration::Date(at)) if at <= now => Some(i64::MAX),
            _ => None,
        };
        if let Some(before) = current {
            self.versions(rule, LifecycleScan::CurrentModifiedBefore(before))
                .await?;
        }
        if rule.expiration == Some(Expiration::ExpiredObjectDeleteMarker(true)) {
            self.versions(rule, LifecycleScan::LoneMarkers).await?;
        }
        if let Some(n) = rule.noncurrent {
            self.versions(
                rule,
                LifecycleScan::NoncurrentBefore(due_before(now, n.days)),
            )
            .await?;
        }
        if let Some(days) = rule.abort_upload_days {
            self.uploads(rule, due_before(now, days)).await?;
        }
        Ok(())
    }

    /// Pages through what `scan` finds under the rule's prefix and acts on what is due.
    async fn versions(
        &mut self,
        rule: &LifecycleRule,
        scan: LifecycleScan,
    ) -> Result<(), ObjectError> {
        let (w, bucket, catalog) = (self.worker, self.bucket, self.worker.svc.catalog());
        let mut after = None;
        loop {
            let prefix = rule.filter.prefix();
            let page = catalog
                .lifecycle_versions(bucket, prefix, scan, after, BATCH)
                .await?;
            for c in &page {
                if let Some(planned) = decide(self.config, rule, scan, c, self.now) {
                    w.apply(bucket, planned, self.report).await?;
                }
            }
            after = w
                .next_page(bucket, &page, LifecycleCandidate::cursor)
                .await?;
            if after.is_none() {
                return Ok(());
            }
        }
    }

    async fn uploads(&mut self, rule: &LifecycleRule, before: i64) -> Result<(), ObjectError> {
        let (w, bucket) = (self.worker, self.bucket);
        let mut after: Option<(i64, String)> = None;
        loop {
            let page = (w.svc.catalog())
                .lifecycle_uploads(bucket, rule.filter.prefix(), before, after.take(), BATCH)
                .await?;
            for u in page
                .iter()
                .filter(|u| rule.upload_due(&u.key, u.initiated_ms, self.now))
            {
                match w.svc.abort_upload(u).await {
                    Ok(()) => {
                        let action = Action::AbortIncompleteMultipartUpload;
                        w.record(action, bucket, &u.key, &u.upload_id, &rule.id, self.report)
                            .await;
                    }
                    Err(ObjectError::Catalog(CatalogError::NoSuchUpload)) => {}
                    Err(e) => return Err(e),
                }
            }
            let cursor = |u: &Upload| (u.initiated_ms, u.upload_id.clone());
            match w.next_page(bucket, &page, cursor).await? {
                None => return Ok(()),
                next => after = next,
            }
        }
    }
}

/// The audit record of a lifecycle action: service `s3`, the action as operation, the
/// worker as principal with the node in the request id; `key_arn` names the object (or
/// upload's key) and `key_version` the version or upload id; the rule in the context.
fn audit_record(
    svc: &ObjectService,
    node: &str,
    action: Action,
    bucket: &str,
    key: &str,
    version: &str,
    rule_id: &str,
) -> AuditRecord {
    AuditRecord {
        time: crate::audit::format_time(svc.clock.now()),
        request_id: format!("lifecycle:{node}:{}", crate::crypto::random_id()),
        principal: PRINCIPAL.to_owned(),
        source_ip: None,
        service: "s3".to_owned(),
        operation: action.operation().to_owned(),
        key_arn: Some(format!("arn:aws:s3:::{bucket}/{key}")),
        key_version: Some(version.to_owned()),
        encryption_context: Some([("rule-id".to_owned(), rule_id.to_owned())].into()),
        result: "Success".to_owned(),
    }
}

/// What to do with a version a scan found, if anything is due by `now`.
fn decide(
    config: &LifecycleConfig,
    rule: &LifecycleRule,
    scan: LifecycleScan,
    c: &LifecycleCandidate,
    now: i64,
) -> Option<Planned> {
    let v = &c.version;
    let subject = Subject {
        key: &v.key,
        size: v.size,
        tags: &v.meta.tags,
    };
    let planned = |action, version_id, precondition, rule_id: &str| Planned {
        action,
        key: v.key.clone(),
        version_id,
        precondition,
        rule_id: rule_id.to_owned(),
        subject_version: v.version_id.clone(),
    };
    match scan {
        LifecycleScan::CurrentModifiedBefore(_) => {
            // The same decision as the x-amz-expiration header: the earliest matching rule.
            let (at, rule_id) = config.current_expiry(subject, v.last_modified_ms)?;
            // Only if the version is still the one found: a write since then is not expired.
            let still = Precondition {
                condition: Condition::IfMatch(Some(v.etag.clone())),
                seen: Seen::Latest(v.seal_id.clone()),
            };
            (at <= now).then(|| planned(Action::Expiration, None, still, rule_id))
        }
        LifecycleScan::NoncurrentBefore(_) => rule
            .noncurrent_due(subject, c.since_ms, c.newer_noncurrent, now)
            .then(|| {
                planned(
                    Action::NoncurrentVersionExpiration,
                    Some(v.version_id.clone()),
                    Precondition::NONE,
                    &rule.id,
                )
            }),
        LifecycleScan::LoneMarkers => rule.expires_lone_marker(&v.key).then(|| {
            planned(
                Action::DeleteMarkerExpiration,
                Some(v.version_id.clone()),
                Precondition::NONE,
                &rule.id,
            )
        }),
    }
}

#[cfg(test)]
mod tests;
