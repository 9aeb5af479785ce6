//! The catalog's interface, one trait per area. SQLite (one process) and PostgreSQL (a
//! fleet) implement each, and `conformance` runs the same tests against both. What a
//! method promises is written here once; an implementation only says how it keeps it.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::bucket_settings::object_lock::{LockChange, VersionLock};

use super::{
    Bucket, BucketEntry, KeyStart, NewVersion, ObjectVersion, PartRecord, Result, SettingColumn,
    Upload, Versioning,
};

/// What a conditional request states about the key's current object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Condition {
    #[default]
    None,
    /// `If-None-Match: *`: only create.
    IfNoneMatchAny,
    /// `If-Match: "etag"` (or `*`: the object must exist).
    IfMatch(Option<String>),
}

/// The key's latest entry (version or delete marker) when a conditional write began.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seen {
    /// Not observed: only the condition is checked.
    #[default]
    Unknown,
    /// The key had no entry.
    Absent,
    /// The seal id of the key's latest entry.
    Latest(String),
}

impl Seen {
    /// How an upload keeps it: NULL unknown, '' absent, else the seal id.
    pub(crate) fn to_column(&self) -> Option<String> {
        match self {
            Seen::Unknown => None,
            Seen::Absent => Some(String::new()),
            Seen::Latest(seal) => Some(seal.clone()),
        }
    }

    pub(crate) fn from_column(column: Option<String>) -> Seen {
        match column {
            None => Seen::Unknown,
            Some(s) if s.is_empty() => Seen::Absent,
            Some(seal) => Seen::Latest(seal),
        }
    }
}

/// A write's condition, checked inside its commit, and what the write saw when it began:
/// a write whose condition still holds at commit but whose key changed in between met a
/// concurrent write, and S3 answers that with a conflict rather than pick an order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    pub condition: Condition,
    pub seen: Seen,
}

impl Precondition {
    pub const NONE: Precondition = Precondition {
        condition: Condition::None,
        seen: Seen::Unknown,
    };

    pub fn new(condition: Condition) -> Precondition {
        Precondition {
            condition,
            seen: Seen::Unknown,
        }
    }

    pub fn is_none(&self) -> bool {
        self.condition == Condition::None
    }
}

/// A version kept by a COMPLIANCE retention, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedVersion {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub until_ms: i64,
}

#[derive(Debug, Clone)]
pub struct CommitOutcome {
    pub version_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The version id S3 reports (the deleted version, or the new delete marker).
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

pub type ListedVersion = ObjectVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Pending,
    Completed,
    Failed,
    /// Not a task state: how a version written by replication shows.
    Replica,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Replica => "REPLICA",
        }
    }
}

/// How a replication task ended.
pub enum TaskEnd {
    /// The replica exists on the destination as `dest_version_id`.
    Completed { dest_version_id: Option<String> },
    /// The version will not replicate without an operator's help (SSE-C, a refusal by the
    /// destination that a retry cannot change).
    Failed { reason: String },
}

impl TaskEnd {
    /// The task's status, its error and its replica's version id.
    pub(super) fn columns(self) -> (TaskStatus, Option<String>, Option<String>) {
        match self {
            TaskEnd::Completed { dest_version_id } => {
                (TaskStatus::Completed, None, dest_version_id)
            }
            TaskEnd::Failed { reason } => (TaskStatus::Failed, Some(reason), None),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationTask {
    pub id: i64,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
    pub rule_id: String,
    /// The destination bucket ARN of the rule when the task was queued.
    pub destination: String,
    pub size: u64,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub enqueued_ms: i64,
    pub finished_ms: Option<i64>,
    pub last_error: Option<String>,
    pub dest_version_id: Option<String>,
    /// An attempt was sent whose outcome is unknown (the process died or the connection
    /// broke): the next attempt first checks whether the replica already exists.
    pub in_doubt: bool,
}

/// How a replica's multipart upload is cut into parts. Fixed when the upload starts, so
/// an upload resumed after a crash (or by another node) cuts the same parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartLayout {
    /// The source version's own parts, so part-numbered reads agree on both sides.
    Source,
    /// Parts of this many bytes, the last one shorter.
    Fixed(u64),
}

/// A replica's multipart upload in progress at the destination, with the parts the
/// destination acknowledged (in part-number order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaUpload {
    pub upload_id: String,
    pub layout: PartLayout,
    pub parts_total: u32,
    pub parts: Vec<SentPart>,
}

/// One part the destination acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPart {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    /// The part's SHA-256 (base64), verified by the destination.
    pub sha256: String,
}

/// Figures for operators: the backlog, what was replicated, what failed, and the lag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    pub pending: u64,
    pub pending_bytes: u64,
    pub completed: u64,
    pub completed_bytes: u64,
    pub failed: u64,
    /// Attempts that failed and will be retried.
    pub retrying: u64,
    /// When the oldest pending task was queued.
    pub oldest_pending_ms: Option<i64>,
    /// Longest time from queueing to completion among completed tasks.
    pub max_lag_ms: Option<i64>,
    /// Pending versions whose replica is being sent as a multipart upload.
    pub uploading: u64,
    /// Their parts, and how many of them (and how many bytes) the destination has.
    pub upload_parts: u64,
    pub upload_parts_sent: u64,
    pub upload_bytes: u64,
    pub upload_bytes_sent: u64,
}

/// Where `sealgate replicate` stands for one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchProgress {
    pub after_row: i64,
    pub enqueued: u64,
    pub done: bool,
}

/// The versioning state of a bucket created with `settings`.
pub(crate) fn created_versioning(settings: &[(SettingColumn, String)]) -> Versioning {
    if settings.iter().any(|(c, _)| c.needs_versioning()) {
        Versioning::Enabled
    } else {
        Versioning::Unversioned
    }
}

/// Buckets and their settings. Settings rest as versioned records
/// ([`crate::bucket_settings`]); one that cannot be read makes whatever needs it fail with
/// [`super::CatalogError::Corrupt`] naming the bucket, never a default.
#[async_trait]
pub trait BucketStore: Send + Sync {
    /// A bucket with `owner_account` (None only for buckets from before owners were kept).
    /// Creates a bucket with its first settings (records as [`BucketStore::put_setting`]
    /// takes them), all in one transaction: no bucket is ever seen without them. A bucket
    /// created with a setting that needs versioning (Object Lock) is versioned from the
    /// start ([`created_versioning`]).
    async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner_account: Option<&str>,
        settings: &[(SettingColumn, String)],
        now_ms: i64,
    ) -> Result<()>;

    async fn bucket(&self, name: &str) -> Result<Bucket>;

    /// Every bucket, by name; settings are not read (a listing needs none of them, and one
    /// bucket's unreadable setting must not hide the others).
    async fn list_buckets(&self) -> Result<Vec<BucketEntry>>;

    /// Deletes an empty bucket. Versions and delete markers make it non-empty, as in S3;
    /// unfinished multipart uploads are aborted with it and their blobs collected.
    async fn delete_bucket(&self, name: &str, now_ms: i64) -> Result<()>;

    /// Versioning cannot be suspended while a setting that needs it (replication, Object
    /// Lock) is in place, as on S3; checked in the transaction that changes it.
    async fn set_versioning(&self, name: &str, versioning: Versioning) -> Result<()>;

    /// Gives buckets created before owners were recorded to `account` (the gateway's own
    /// account, which was the only one then).
    async fn adopt_unowned_buckets(&self, account: &str) -> Result<usize>;

    async fn set_policy(&self, name: &str, policy: Option<String>) -> Result<()>;

    /// Replaces (or, with None, deletes) one setting record, encoded by
    /// [`crate::bucket_settings::encode`]. A setting that needs versioning Enabled is
    /// refused otherwise, in the transaction that stores it.
    async fn put_setting(
        &self,
        name: &str,
        column: SettingColumn,
        record: Option<String>,
    ) -> Result<()>;
}

/// Object versions as S3 keeps them: the latest flag, "null" versions of unversioned and
/// suspended buckets, delete markers, preconditions checked inside the commit, listings in
/// key order. Writes to one key serialize, whichever node they come through.
#[async_trait]
pub trait VersionStore: Send + Sync {
    /// Makes a fully written version visible, in one transaction, following the bucket's
    /// versioning state; queues it for replication when a rule matches. Its blobs stop
    /// being collectable; those of a replaced "null" version are queued after the read
    /// grace.
    async fn commit_version(
        &self,
        version: NewVersion,
        precondition: Precondition,
        now_ms: i64,
    ) -> Result<CommitOutcome>;

    /// The latest version (which may be a delete marker) or the named version of a key.
    async fn version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion>;

    async fn parts(&self, version_row: i64) -> Result<Vec<PartRecord>>;

    /// Changes the metadata (tags, ACL) of the version written as `seal_id` (a version,
    /// never a delete marker), re-sealing it in one transaction; `NoSuchKey` when it is gone.
    /// A tag change of a version a replication rule queued also queues, in the same
    /// transaction, a task that brings it to the replica (the destination of the version's
    /// latest task), and the version shows `PENDING`.
    async fn set_meta(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        change: crate::catalog::MetaChange,
        now_ms: i64,
    ) -> Result<()>;

    /// DeleteObject: a version id removes that version for good (the newest remaining one
    /// becomes latest) unless its Object Lock forbids it (`ObjectLocked`; a GOVERNANCE
    /// retention yields to `bypass_governance`); without one, a versioned or suspended
    /// bucket gets a delete marker (`marker_seal_id`) and an unversioned one loses its
    /// "null" version. A precondition is checked against the key's latest entry, whichever
    /// version is named.
    #[allow(
        clippy::too_many_arguments,
        reason = "what DeleteObject carries, each its own thing"
    )]
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        marker_seal_id: &str,
        replica: bool,
        bypass_governance: bool,
        precondition: &Precondition,
        now_ms: i64,
    ) -> Result<DeleteOutcome>;

    /// Changes the Object Lock of the version written as `seal_id` (never a delete marker)
    /// under S3's rules, in one transaction, and returns the lock it now has:
    /// `ObjectLocked` when the change would weaken a lock in force, `ObjectLockNotEnabled`
    /// when the bucket has no Object Lock, `NoSuchKey` when the version is gone.
    async fn set_lock(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        change: LockChange,
        now_ms: i64,
    ) -> Result<VersionLock>;

    /// Of the SSE-KMS versions under `key_arn`, the one whose COMPLIANCE retention in
    /// force at `now_ms` ends last, if any: what a key must not be deleted before. Reads
    /// only locked versions.
    async fn compliance_locked_under(
        &self,
        key_arn: &str,
        now_ms: i64,
    ) -> Result<Option<LockedVersion>>;

    /// Latest live versions with the given prefix from `start`, in byte order of keys; fewer
    /// than `limit` only at the end. With a `delimiter`, the keys under one common prefix
    /// (`prefix`, text, `delimiter`) give one row, the first: the store seeks past the rest
    /// instead of reading it, so the cost follows the rows returned, not the bucket.
    async fn list_latest(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>>;

    /// All versions and delete markers, key ascending then newest first, from `start`; with
    /// `KeyStart::After(key)` and a `version_marker`, the listing resumes inside that key
    /// after the marker version, as ListObjectVersions does. A `delimiter` as in
    /// [`VersionStore::list_latest`].
    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        version_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ListedVersion>>;
}

/// Multipart uploads and their parts.
#[async_trait]
pub trait UploadStore: Send + Sync {
    async fn create_upload(&self, upload: Upload) -> Result<()>;

    async fn upload(&self, upload_id: &str) -> Result<Upload>;

    /// Records an uploaded part; a part uploaded again under the same number replaces the
    /// earlier one, whose blob is queued for collection.
    async fn put_part(&self, upload_id: &str, part: PartRecord, now_ms: i64) -> Result<()>;

    /// Parts with a number above `after`, ascending.
    async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>>;

    /// Unfinished uploads of a bucket ordered by (key, upload id), from `start`; with
    /// `KeyStart::After(key)` and an `upload_id_marker`, uploads of that key with a greater
    /// id come first. A `delimiter` as in [`VersionStore::list_latest`].
    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        upload_id_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Upload>>;

    /// Turns an upload into a version in one transaction: the chosen parts become the
    /// version's, the others are queued for collection, and the upload disappears; for a
    /// day the catalog remembers which version it became.
    async fn complete_upload(
        &self,
        upload_id: &str,
        version: NewVersion,
        precondition: Precondition,
        now_ms: i64,
    ) -> Result<CommitOutcome>;

    /// Removes the upload; every part's blob is queued for collection.
    async fn abort_upload(&self, upload_id: &str, now_ms: i64) -> Result<()>;

    /// The version a completed upload became, while the catalog remembers it and the
    /// version exists (not a delete marker): a repeated completion answers with it.
    async fn completed_upload(&self, upload_id: &str) -> Result<Option<ObjectVersion>>;
}

/// The collector's queue: blobs registered before they are written (so a crash leaves them
/// collectable), garbage due at once or after a read grace.
#[async_trait]
pub trait BlobQueue: Send + Sync {
    /// Records a blob this node is about to write. Unless a commit claims it before
    /// `due_ms`, the collector deletes it: this is how blobs of interrupted writes are
    /// found without listing the store.
    async fn register_pending_blob(&self, blob: &str, due_ms: i64) -> Result<()>;

    /// Queues a blob for deletion now (a write that failed before its commit).
    async fn discard_blob(&self, blob: &str, now_ms: i64) -> Result<()>;

    /// Blobs due for deletion by `now_ms`, including the pending blobs of nodes that died.
    async fn due_blobs(&self, now_ms: i64, limit: usize) -> Result<Vec<String>>;

    /// Forgets blobs the collector has deleted.
    async fn forget_blobs(&self, blobs: Vec<String>) -> Result<()>;

    /// Which of `blobs` a write may still be writing (registered, not yet due): an
    /// unfinished backend upload of any other blob is abandoned.
    async fn blobs_in_flight(&self, blobs: Vec<String>, now_ms: i64) -> Result<HashSet<String>>;

    /// At start-up: every write this node had in flight died with its previous run, so
    /// its pending blobs are orphans, due now. Other nodes' writes are left alone. When no
    /// other node is alive, no read is in flight either, so the blobs kept for readers
    /// (the read grace of replaced versions) are due now too.
    async fn expire_pending_blobs(&self, now_ms: i64) -> Result<usize>;

    /// Blobs in the queue: writes in flight and garbage not yet deleted.
    async fn queued_blob_count(&self) -> Result<u64>;
}

/// The durable replication queue. A task is written in the transaction that made its
/// version visible, so a version a rule matched is never forgotten, whatever crashes.
#[async_trait]
pub trait ReplicationQueue: Send + Sync {
    /// Takes pending tasks due by `now_ms` for this node to work on, oldest first and at
    /// most one per key (the oldest), so a key's versions reach the destination in order.
    /// A task another live node holds is not taken; one held by a node that died (or by
    /// this node's previous run) is. `busy` are tasks this node is already working on.
    async fn claim_replication_tasks(
        &self,
        now_ms: i64,
        limit: usize,
        busy: Vec<i64>,
    ) -> Result<Vec<ReplicationTask>>;

    /// Records that an attempt is about to be sent: if the process dies before its outcome
    /// is recorded, the next attempt checks the destination first.
    async fn replication_in_doubt(&self, id: i64) -> Result<()>;

    /// A failed attempt, to be retried at `next_attempt_ms` (by any node).
    async fn replication_retry(
        &self,
        id: i64,
        error: &str,
        in_doubt: bool,
        next_attempt_ms: i64,
    ) -> Result<()>;

    /// Records how a task ended, on the task and on its version's replication status (which
    /// stays `PENDING` while another task of the version is pending).
    async fn finish_replication(&self, id: i64, end: TaskEnd, now_ms: i64) -> Result<()>;

    /// Forgets a task whose source version no longer exists (deleted for good by version id
    /// before it replicated; S3 does not replicate such deletions).
    async fn replication_drop(&self, id: i64) -> Result<()>;

    /// The destination version id of the newest replica a task of the same key made before
    /// `before_id` (a task completed with a destination version id): a replica found on retry
    /// with that id is an older version's, not ours.
    async fn previous_replica(
        &self,
        bucket: &str,
        key: &str,
        before_id: i64,
    ) -> Result<Option<String>>;

    /// The destination version id of the replica an earlier task of `task`'s version made
    /// at `task`'s destination: a later task of the version (a tag change) brings the
    /// version's tags to that replica rather than copying the version again.
    async fn replica_of(&self, task: &ReplicationTask) -> Result<Option<String>>;

    /// The multipart upload a task's replica is being sent in, if one was started.
    async fn replica_upload(&self, task: i64) -> Result<Option<ReplicaUpload>>;

    /// Records an upload started at the destination (its `parts` are not read).
    async fn start_replica_upload(&self, task: i64, upload: &ReplicaUpload) -> Result<()>;

    /// Records a part the destination acknowledged, so a resumed attempt skips it.
    async fn replica_part_sent(&self, task: i64, part: &SentPart) -> Result<()>;

    /// Forgets a task's upload (completed, aborted, or no longer known to the destination).
    /// Finishing or dropping a task forgets it too.
    async fn forget_replica_upload(&self, task: i64) -> Result<()>;

    /// Tasks of a bucket (all buckets when None) in `statuses`, oldest first.
    async fn replication_tasks(
        &self,
        bucket: Option<&str>,
        statuses: &[TaskStatus],
        limit: usize,
    ) -> Result<Vec<ReplicationTask>>;

    async fn replication_stats(&self, bucket: Option<&str>) -> Result<ReplicationStats>;

    async fn batch_progress(&self, bucket: &str) -> Result<BatchProgress>;

    /// Forgets a finished batch so that `sealgate replicate` can run again from the start.
    async fn reset_batch(&self, bucket: &str) -> Result<()>;

    /// One step of batch replication: queues the versions after the checkpoint (up to
    /// `limit` rows) that a rule matches and that never replicated or failed, and moves the
    /// checkpoint, in one transaction, so an interrupted batch resumes where it stopped
    /// without queueing anything twice.
    async fn batch_enqueue(&self, bucket: &str, limit: usize, now_ms: i64)
    -> Result<BatchProgress>;
}

/// What a lifecycle scan of a bucket looks for; each kind is read in the order of an index
/// of its own (time, then row), so a scan reads what is due and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleScan {
    /// Current versions (not delete markers) last modified before this time.
    CurrentModifiedBefore(i64),
    /// Noncurrent versions and delete markers that stopped being latest before this time.
    NoncurrentBefore(i64),
    /// Delete markers that are latest and their key's only entry.
    LoneMarkers,
}

/// Where a lifecycle scan resumes: after this (time, row).
pub type LifecycleCursor = (i64, i64);

#[derive(Debug, Clone)]
pub struct LifecycleCandidate {
    pub version: ObjectVersion,
    /// The time the scan orders by: when the version became noncurrent
    /// ([`LifecycleScan::NoncurrentBefore`]), else when it was last modified.
    pub since_ms: i64,
    /// For [`LifecycleScan::NoncurrentBefore`]: the key's noncurrent versions newer than
    /// this one (0 for the other scans).
    pub newer_noncurrent: u64,
}

impl LifecycleCandidate {
    pub fn cursor(&self) -> LifecycleCursor {
        (self.since_ms, self.version.row)
    }
}

/// What the lifecycle worker reads, and the lease that keeps one node at a time on a
/// bucket's pass.
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// Up to `limit` versions of `bucket` under `prefix` that `scan` finds, ordered by
    /// (time, row), after `after`. The cost follows the rows returned (and, for
    /// [`LifecycleScan::LoneMarkers`], the bucket's latest delete markers), not the bucket.
    async fn lifecycle_versions(
        &self,
        bucket: &str,
        prefix: &str,
        scan: LifecycleScan,
        after: Option<LifecycleCursor>,
        limit: usize,
    ) -> Result<Vec<LifecycleCandidate>>;

    /// Up to `limit` unfinished uploads of `bucket` under `prefix` initiated before
    /// `initiated_before_ms`, ordered by (initiated, upload id), after `after`.
    async fn lifecycle_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        initiated_before_ms: i64,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<Upload>>;

    /// Takes, renews or extends the bucket's lifecycle lease for `node` until `until_ms`;
    /// false while another node holds an unexpired one. A node always gets its own back
    /// (its earlier run died, or it is renewing).
    async fn take_lifecycle_lease(
        &self,
        bucket: &str,
        node: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool>;
}

/// Everything the catalog stores.
pub trait CatalogStore:
    BucketStore + VersionStore + UploadStore + BlobQueue + ReplicationQueue + LifecycleStore
{
}

impl<T: BucketStore + VersionStore + UploadStore + BlobQueue + ReplicationQueue + LifecycleStore>
    CatalogStore for T
{
}
