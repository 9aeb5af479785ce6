//! The buckets pages: the user's buckets with their default encryption, versioning,
//! policy and replication, each shown only when S3 would answer the matching Get request,
//! decided by the S3 edge's own authorizer.

use askama::Template as _;
use http::StatusCode;

use super::views::{BucketPage, BucketRow, BucketsPage, ReplicationView, RuleRow, TaskRow};
use super::{Console, Failure, Resp, Who, html, millis_text, pretty_json, shown};
use crate::bucket_settings::BucketEncryption;
use crate::catalog::{Bucket, TaskStatus, Versioning};

/// The most failed or retrying replication tasks a bucket page lists.
const MAX_TASKS: usize = 100;

fn encryption_text(e: &BucketEncryption) -> String {
    let mut out = match (e.sse_algorithm.as_str(), &e.kms_master_key_id) {
        ("aws:kms", Some(key)) => format!("SSE-KMS with {key}"),
        ("aws:kms", None) => "SSE-KMS with aws/s3".to_owned(),
        ("AES256", _) => "SSE-S3".to_owned(),
        (other, _) => other.to_owned(),
    };
    if e.bucket_key_enabled {
        out.push_str(", S3 Bucket Key");
    }
    if !e.blocked_encryption_types.is_empty() {
        out.push_str(&format!(
            "; blocked: {}",
            e.blocked_encryption_types.join(", ")
        ));
    }
    out
}

fn versioning_text(v: Versioning) -> String {
    match v {
        Versioning::Unversioned => "never enabled".to_owned(),
        other => other.as_str().to_owned(),
    }
}

fn task_row(t: &crate::catalog::ReplicationTask) -> TaskRow {
    TaskRow {
        object: format!("{}/{}", t.bucket, t.key),
        version: t.version_id.clone(),
        destination: t.destination.clone(),
        rule: t.rule_id.clone(),
        attempts: t.attempts,
        reason: t.last_error.clone().unwrap_or_default(),
    }
}

impl Console {
    /// The bucket, if `action` on it is allowed to the user.
    async fn bucket_for(&self, who: &Who, name: &str, action: &str) -> Result<Bucket, Failure> {
        match self
            .authorizer
            .decide_for(&who.s3_caller(), Some(name), action)
            .await?
        {
            Some(b) => Ok(b),
            None => Err(Failure::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist",
            )),
        }
    }

    async fn bucket_row(&self, who: &Who, name: &str) -> BucketRow {
        let corrupt = |e: crate::catalog::CatalogError| Failure::internal(e.to_string());
        let mut created = None;
        let mut seen = |b: &Bucket| created = Some(b.created_ms);
        let encryption = self
            .bucket_for(who, name, "s3:GetEncryptionConfiguration")
            .await
            .and_then(|b| {
                seen(&b);
                b.default_encryption().map_err(corrupt)
            })
            .map(|e| encryption_text(&e));
        let versioning = self
            .bucket_for(who, name, "s3:GetBucketVersioning")
            .await
            .map(|b| {
                seen(&b);
                versioning_text(b.versioning)
            });
        let policy = self
            .bucket_for(who, name, "s3:GetBucketPolicy")
            .await
            .map(|b| {
                seen(&b);
                if b.policy.is_some() { "set" } else { "none" }.to_owned()
            });
        let replication = self.replication(who, name).await.map(|r| match r {
            None => "not configured".to_owned(),
            Some(r) => format!(
                "{} rule(s); backlog {}, failed {}, retrying {}",
                r.rules.len(),
                r.pending,
                r.failed,
                r.retrying
            ),
        });
        BucketRow {
            name: name.to_owned(),
            created: created.and_then(millis_text).unwrap_or_default(),
            encryption: shown(encryption),
            versioning: shown(versioning),
            policy: shown(policy),
            replication: shown(replication),
        }
    }

    /// The bucket's replication rules, backlog and failures, for a user allowed to read
    /// its replication configuration.
    async fn replication(&self, who: &Who, name: &str) -> Result<Option<ReplicationView>, Failure> {
        let bucket = self
            .bucket_for(who, name, "s3:GetReplicationConfiguration")
            .await?;
        let catalog_failure = |e: crate::catalog::CatalogError| Failure::internal(e.to_string());
        let Some(config) = bucket.replication().map_err(catalog_failure)? else {
            return Ok(None);
        };
        let catalog = self.objects.catalog();
        let stats = catalog
            .replication_stats(Some(name))
            .await
            .map_err(catalog_failure)?;
        let failures = catalog
            .replication_tasks(Some(name), &[TaskStatus::Failed], MAX_TASKS)
            .await
            .map_err(catalog_failure)?;
        let pending = catalog
            .replication_tasks(Some(name), &[TaskStatus::Pending], MAX_TASKS)
            .await
            .map_err(catalog_failure)?;
        Ok(Some(ReplicationView {
            rules: config
                .rules
                .iter()
                .map(|r| RuleRow {
                    id: r.id.clone(),
                    enabled: r.enabled,
                    prefix: r.filter.prefix.clone(),
                    destination: r.destination.bucket_arn.clone(),
                    replica_key: r.destination.replica_kms_key_id.clone().unwrap_or_default(),
                })
                .collect(),
            pending: stats.pending,
            pending_bytes: stats.pending_bytes,
            completed: stats.completed,
            failed: stats.failed,
            retrying: stats.retrying,
            oldest_pending: stats
                .oldest_pending_ms
                .and_then(millis_text)
                .unwrap_or_default(),
            failures: failures.iter().map(task_row).collect(),
            retries: pending
                .iter()
                .filter(|t| t.attempts > 0)
                .map(task_row)
                .collect(),
        }))
    }

    pub(super) async fn buckets_page(&self, who: &Who) -> Result<Resp, Failure> {
        let caller = who.s3_caller();
        self.authorizer
            .decide_for(&caller, None, "s3:ListAllMyBuckets")
            .await?;
        let account = &caller.principal.account;
        let entries = self
            .objects
            .list_buckets()
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let mut buckets = Vec::new();
        // As ListBuckets answers: the buckets the caller's account owns.
        for b in entries
            .iter()
            .filter(|b| b.owner_account.as_deref().unwrap_or(&self.account) == account)
        {
            buckets.push(self.bucket_row(who, &b.name).await);
        }
        let page = BucketsPage {
            head: who.head("Buckets", "buckets"),
            buckets,
        };
        Ok(html(StatusCode::OK, page.render()?))
    }

    pub(super) async fn bucket_page(&self, who: &Who, name: &str) -> Result<Resp, Failure> {
        let row = self.bucket_row(who, name).await;
        let policy_text = self
            .bucket_for(who, name, "s3:GetBucketPolicy")
            .await
            .map(|b| match b.policy {
                None => "No bucket policy.".to_owned(),
                Some(p) => pretty_json(p),
            });
        let page = BucketPage {
            head: who.head(&format!("Bucket {name}"), "buckets"),
            row,
            policy_text: shown(policy_text),
            replication: shown(self.replication(who, name).await),
        };
        Ok(html(StatusCode::OK, page.render()?))
    }
}
