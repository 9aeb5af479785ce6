//! S3's versioning rules, decided once for every store: which version id a write gets,
//! what it replaces, whether a precondition holds, and whether replication takes it. A
//! store reads the state these functions need inside its transaction, asks, and applies
//! the answer.

use crate::bucket_settings::object_lock::VersionLock;
use crate::bucket_settings::replication::{Candidate, NO_TAGS};
use crate::tagging::TagSet;

use super::store::{Condition, Precondition, Seen, TaskStatus};
use super::{Bucket, CatalogError, MetaChange, NewVersion, Result, Sse, Versioning};

/// How long the catalog remembers what a completed upload became. S3 answers a repeated
/// CompleteMultipartUpload with the first answer; it names no limit, and a retry comes
/// within seconds.
pub(super) const COMPLETED_UPLOAD_MEMORY_MS: i64 = 24 * 3600 * 1000;

/// The task a matched replication rule queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QueuedTask {
    pub rule_id: String,
    pub destination: String,
}

/// What writing a new version or delete marker of a key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WritePlan {
    pub version_id: String,
    /// The key's "null" version, if it has one, is replaced (its blobs collected).
    pub replaces_null: bool,
    /// `x-amz-replication-status` of the new version.
    pub replication_status: Option<&'static str>,
    pub task: Option<QueuedTask>,
    /// The Object Lock the new version gets: its writer's, with the bucket's default
    /// retention where the writer asked for none.
    pub lock: VersionLock,
}

/// What a write is: an object version or a delete marker, replicated here or not.
#[derive(Debug, Clone, Copy)]
pub(super) struct Write<'a> {
    pub key: &'a str,
    pub seal_id: &'a str,
    pub delete_marker: bool,
    pub sse_kms: bool,
    /// Written by another region's replication: shown as REPLICA, never replicated again.
    pub replica: bool,
    /// The lock its writer asked for (none for a delete marker).
    pub lock: VersionLock,
    pub created_ms: i64,
    pub tags: &'a TagSet,
}

impl<'a> Write<'a> {
    pub(super) fn version(v: &'a NewVersion) -> Write<'a> {
        Write {
            key: &v.key,
            seal_id: &v.seal_id,
            delete_marker: false,
            sse_kms: matches!(v.sse, Sse::Kms { .. }),
            replica: v.replica,
            lock: v.lock,
            created_ms: v.last_modified_ms,
            tags: &v.meta.tags,
        }
    }

    pub(super) fn marker(key: &'a str, seal_id: &'a str, replica: bool) -> Write<'a> {
        Write {
            key,
            seal_id,
            delete_marker: true,
            sse_kms: false,
            replica,
            lock: VersionLock::default(),
            created_ms: 0,
            tags: &NO_TAGS,
        }
    }
}

pub(super) fn plan_write(bucket: &Bucket, write: &Write<'_>) -> Result<WritePlan> {
    check_lock_keeps_versions(bucket)?;
    let (version_id, replaces_null) = match bucket.versioning {
        Versioning::Enabled => (write.seal_id.to_owned(), false),
        Versioning::Unversioned | Versioning::Suspended => ("null".to_owned(), true),
    };
    let (replication_status, task) = if write.replica {
        (Some(TaskStatus::Replica.as_str()), None)
    } else {
        let candidate = Candidate {
            key: write.key,
            delete_marker: write.delete_marker,
            sse_kms: write.sse_kms,
            tags: write.tags,
        };
        match bucket
            .replication()?
            .and_then(|cfg| cfg.rule_for(&candidate))
        {
            Some(rule) => (
                Some(TaskStatus::Pending.as_str()),
                Some(QueuedTask {
                    rule_id: rule.id.clone(),
                    destination: rule.destination.bucket_arn.clone(),
                }),
            ),
            None => (None, None),
        }
    };
    Ok(WritePlan {
        version_id,
        replaces_null,
        replication_status,
        task,
        lock: new_version_lock(bucket, write)?,
    })
}

/// A bucket with Object Lock stays versioned, so no write or delete ever replaces or
/// removes a version in passing; a row that says otherwise is refused, not obeyed.
fn check_lock_keeps_versions(bucket: &Bucket) -> Result<()> {
    if bucket.versioning != Versioning::Enabled && bucket.object_lock()?.is_some() {
        return Err(CatalogError::Corrupt(format!(
            "bucket {} has Object Lock but versioning {:?}",
            bucket.name, bucket.versioning
        )));
    }
    Ok(())
}

/// A delete marker has no lock; a version gets what its writer asked for, which a bucket
/// without Object Lock refuses, and the bucket's default retention.
fn new_version_lock(bucket: &Bucket, write: &Write<'_>) -> Result<VersionLock> {
    if write.delete_marker {
        return Ok(VersionLock::default());
    }
    match bucket.object_lock()? {
        Some(cfg) => Ok(cfg.lock_for_new(write.lock, write.created_ms)),
        None if write.lock.is_none() => Ok(VersionLock::default()),
        None => Err(CatalogError::ObjectLockNotEnabled),
    }
}

/// The key's latest entry as a conditional request finds it inside its transaction.
#[derive(Debug, Clone)]
pub(super) struct Latest {
    pub seal_id: String,
    /// None for a delete marker.
    pub etag: Option<String>,
}

/// Checks a request's precondition against the key's latest entry: the condition against
/// its live version (none when the latest is a delete marker), then whether the key changed
/// since the request began.
pub(super) fn check_precondition(pre: &Precondition, latest: Option<&Latest>) -> Result<()> {
    let live = latest.and_then(|l| l.etag.as_deref());
    match (&pre.condition, live) {
        (Condition::None, _) => return Ok(()),
        (Condition::IfNoneMatchAny, Some(_)) => return Err(CatalogError::PreconditionFailed),
        (Condition::IfMatch(_), None) => return Err(CatalogError::NoSuchKey),
        (Condition::IfMatch(Some(etag)), Some(current)) if current != etag => {
            return Err(CatalogError::PreconditionFailed);
        }
        _ => {}
    }
    let now = latest.map(|l| l.seal_id.as_str());
    let changed = match &pre.seen {
        Seen::Unknown => false,
        Seen::Absent => now.is_some(),
        Seen::Latest(seal) => now != Some(seal.as_str()),
    };
    if changed {
        return Err(CatalogError::ConditionalConflict);
    }
    Ok(())
}

/// When a version is removed for good, and by whom as far as its lock cares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Removal {
    pub now_ms: i64,
    /// When its blobs are collected (after the read grace).
    pub due_ms: i64,
    pub bypass_governance: bool,
}

/// The key deletion guard's reading of a locked version's row: whether it is SSE-KMS under
/// `key_arn` with a COMPLIANCE retention in force at `now_ms`, as a candidate.
pub(super) fn compliance_hold(
    row: (String, String, String, Option<String>, Option<String>),
    key_arn: &str,
    now_ms: i64,
) -> Result<Option<super::LockedVersion>> {
    use crate::bucket_settings::object_lock::LockMode;
    let (bucket, key, version_id, lock, sse) = row;
    let under_key = matches!(
        super::codec::opt_from_json::<Sse>(sse)?,
        Some(Sse::Kms { key_arn: k, .. }) if k == key_arn
    );
    let retention = super::codec::lock_from_column(lock)?.active_retention(now_ms);
    Ok(match retention {
        Some(r) if under_key && r.mode == LockMode::Compliance => Some(super::LockedVersion {
            bucket,
            key,
            version_id,
            until_ms: r.until_ms,
        }),
        _ => None,
    })
}

/// Keeps the candidate whose retention ends last.
pub(super) fn later_hold(
    a: Option<super::LockedVersion>,
    b: Option<super::LockedVersion>,
) -> Option<super::LockedVersion> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.until_ms > a.until_ms { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// What the guard's query narrows rows by (the JSON of an SSE-KMS record names its key);
/// [`compliance_hold`] decides on each row it finds.
pub(super) fn sse_pattern(key_arn: &str) -> String {
    format!("%{key_arn}%")
}

/// A DeleteObject without a version id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DeletePlan {
    /// Unversioned bucket: the "null" version goes; the newest remaining one becomes latest.
    RemoveNull,
    /// Versioned or suspended: a delete marker becomes latest.
    Marker(WritePlan),
}

pub(super) fn plan_delete(
    bucket: &Bucket,
    key: &str,
    marker_seal_id: &str,
    replica: bool,
) -> Result<DeletePlan> {
    check_lock_keeps_versions(bucket)?;
    if bucket.versioning == Versioning::Unversioned {
        return Ok(DeletePlan::RemoveNull);
    }
    let marker = Write::marker(key, marker_seal_id, replica);
    Ok(DeletePlan::Marker(plan_write(bucket, &marker)?))
}

/// Whether a change of a version's metadata is replicated: a tag change is, for a version a
/// rule queued (`PENDING`, `COMPLETED` or `FAILED`), to the destination of its latest task,
/// whatever its new tags, so the replica's tags follow the source's. A version no rule
/// matched when it was written stays home, whatever its new tags: S3 replicates versions as
/// they are written, and `sealgate replicate` finds those tagged afterwards. ACL changes
/// are not replicated (nor are ACLs with their version).
pub(super) fn meta_change_replicates(
    change: &MetaChange,
    replication_status: Option<&str>,
) -> bool {
    matches!(change, MetaChange::Tags(_))
        && [
            TaskStatus::Pending,
            TaskStatus::Completed,
            TaskStatus::Failed,
        ]
        .iter()
        .any(|s| replication_status == Some(s.as_str()))
}

/// Whether `sealgate replicate` queues an existing version: a rule matches it and it
/// never replicated, or failed.
pub(super) fn batch_task(
    bucket: &Bucket,
    key: &str,
    delete_marker: bool,
    sse: Option<&Sse>,
    tags: &TagSet,
    replication_status: Option<&str>,
) -> Result<Option<QueuedTask>> {
    if !matches!(replication_status, None | Some("FAILED")) {
        return Ok(None);
    }
    let candidate = Candidate {
        key,
        delete_marker,
        sse_kms: matches!(sse, Some(Sse::Kms { .. })),
        tags,
    };
    Ok(bucket
        .replication()?
        .and_then(|cfg| cfg.rule_for(&candidate))
        .map(|rule| QueuedTask {
            rule_id: rule.id.clone(),
            destination: rule.destination.bucket_arn.clone(),
        }))
}
