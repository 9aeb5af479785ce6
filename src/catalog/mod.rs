//! Metadata store: buckets, object versions, multipart uploads, the replication queue and
//! the blob collector's queue. Every change that makes data visible or invisible is one
//! transaction, and every blob is either referenced by a row or queued for collection, so
//! a crash at any point leaves nothing half-visible and nothing leaked.
//!
//! One interface ([`store`]), two stores: SQLite in the data directory for one gateway,
//! PostgreSQL for a fleet. S3's versioning rules are decided once ([`semantics`]) for both.

mod codec;
#[cfg(test)]
mod conformance;
mod lifecycle;
mod listing;
mod postgres;
mod semantics;
mod sqlite;
pub mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::bucket_settings::object_lock::VersionLock;
use crate::bucket_settings::{
    self, BucketAccessControl, BucketEncryption, BucketTagging, CorsConfig, LifecycleConfig,
    ObjectLockConfig, PublicAccessBlock, ReplicationConfig, SettingError, StoredSetting,
};
use crate::crypto::CatalogSealer;
use serde::{Deserialize, Serialize};

pub(crate) use codec::MetaCodec;
pub use listing::{KeyStart, common_prefix, prefix_end};
pub use store::{
    BatchProgress, BlobQueue, BucketStore, CatalogStore, CommitOutcome, Condition, DeleteOutcome,
    LifecycleCandidate, LifecycleCursor, LifecycleScan, LifecycleStore, ListedVersion,
    LockedVersion, PartLayout, Precondition, ReplicaUpload, ReplicationQueue, ReplicationStats,
    ReplicationTask, Seen, SentPart, TaskEnd, TaskStatus, UploadStore, VersionStore,
};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("catalog: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("catalog: corrupt record: {0}")]
    Corrupt(String),
    #[error("catalog task failed: {0}")]
    Task(String),
    /// The catalog's filesystem has no space for the write.
    #[error("catalog: the disk is full")]
    DiskFull,
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket already exists")]
    BucketExists,
    #[error("bucket not empty")]
    BucketNotEmpty,
    #[error("no such key")]
    NoSuchKey,
    #[error("no such version")]
    NoSuchVersion,
    #[error("no such upload")]
    NoSuchUpload,
    #[error("precondition failed")]
    PreconditionFailed,
    /// A conditional request whose key another request changed while it ran.
    #[error("a concurrent request changed the key")]
    ConditionalConflict,
    /// A blob of the write was due for collection before the write committed (it ran past
    /// storage.orphan_grace_secs, or its node was presumed dead): the write did not happen.
    #[error("the write took too long: its blob was given up for collection")]
    BlobNotPending,
    /// Versioning cannot be suspended while this setting (which needs it) is in place.
    #[error("versioning cannot be suspended while the bucket has its {}", .0.name())]
    VersioningLocked(SettingColumn),
    /// This setting needs versioning Enabled first.
    #[error("the bucket's {} needs versioning Enabled", .0.name())]
    VersioningNotEnabled(SettingColumn),
    /// A retention or legal hold forbids removing the version (or weakening its lock).
    #[error("the version is protected by Object Lock")]
    ObjectLocked,
    /// A lock was asked for a version of a bucket without Object Lock.
    #[error("the bucket has no Object Lock configuration")]
    ObjectLockNotEnabled,
}

impl From<bucket_settings::object_lock::Locked> for CatalogError {
    fn from(_: bucket_settings::object_lock::Locked) -> CatalogError {
        CatalogError::ObjectLocked
    }
}

/// Whether SQLite failed for want of disk space.
fn sqlite_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

impl CatalogError {
    /// Whether the write failed for want of disk space (and may succeed once space is freed).
    pub fn is_disk_full(&self) -> bool {
        match self {
            CatalogError::DiskFull => true,
            CatalogError::Sqlite(e) => sqlite_disk_full(e),
            _ => false,
        }
    }
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Versioning::Unversioned => "",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Versioning> {
        match s {
            "" => Ok(Versioning::Unversioned),
            "Enabled" => Ok(Versioning::Enabled),
            "Suspended" => Ok(Versioning::Suspended),
            other => Err(CatalogError::Corrupt(format!("versioning state {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub created_ms: i64,
    pub region: String,
    pub versioning: Versioning,
    /// The account that owns the bucket. `None` only for rows written before owners were
    /// recorded and not yet adopted (see [`BucketStore::adopt_unowned_buckets`]).
    pub owner_account: Option<String>,
    /// The bucket policy document as the owner sent it (validated by the s3 edge).
    pub policy: Option<String>,
    /// The default encryption the owner put; `None` when never set (SSE-S3 applies).
    encryption: Setting<BucketEncryption>,
    replication: Setting<ReplicationConfig>,
    cors: Setting<CorsConfig>,
    public_access_block: Setting<PublicAccessBlock>,
    tagging: Setting<BucketTagging>,
    object_lock: Setting<ObjectLockConfig>,
    lifecycle: Setting<LifecycleConfig>,
    access_control: Setting<BucketAccessControl>,
}

/// A stored setting: absent, read, or unreadable. An unreadable one fails whatever needs
/// it, and only that: the record can still be replaced or deleted.
type Setting<T> = std::result::Result<Option<T>, SettingError>;

fn setting_of<'a, T>(bucket: &str, s: &'a Setting<T>) -> Result<Option<&'a T>> {
    s.as_ref()
        .map(Option::as_ref)
        .map_err(|e| CatalogError::Corrupt(format!("bucket {bucket}: {e}")))
}

/// A bucket as ListBuckets shows it.
#[derive(Debug, Clone)]
pub struct BucketEntry {
    pub name: String,
    pub created_ms: i64,
    pub region: String,
    pub owner_account: Option<String>,
}

impl Bucket {
    /// The default encryption the owner put, if any.
    pub fn encryption(&self) -> Result<Option<&BucketEncryption>> {
        setting_of(&self.name, &self.encryption)
    }

    /// The encryption a write without SSE headers gets: the owner's default, else SSE-S3.
    pub fn default_encryption(&self) -> Result<BucketEncryption> {
        Ok(self.encryption()?.cloned().unwrap_or_default())
    }

    pub fn replication(&self) -> Result<Option<&ReplicationConfig>> {
        setting_of(&self.name, &self.replication)
    }

    pub(crate) fn cors(&self) -> Result<Option<&CorsConfig>> {
        setting_of(&self.name, &self.cors)
    }

    /// The Block Public Access settings; `None` for a bucket without any (one created
    /// before sealgate had them, or whose owner deleted them).
    pub(crate) fn public_access_block(&self) -> Result<Option<PublicAccessBlock>> {
        Ok(setting_of(&self.name, &self.public_access_block)?.copied())
    }

    pub(crate) fn tagging(&self) -> Result<Option<&BucketTagging>> {
        setting_of(&self.name, &self.tagging)
    }

    /// The Object Lock configuration; `None` when the bucket has no Object Lock.
    pub fn object_lock(&self) -> Result<Option<&ObjectLockConfig>> {
        setting_of(&self.name, &self.object_lock)
    }

    pub(crate) fn lifecycle(&self) -> Result<Option<&LifecycleConfig>> {
        setting_of(&self.name, &self.lifecycle)
    }

    /// Object Ownership and the bucket ACL; a bucket without a record is BucketOwnerEnforced.
    pub(crate) fn access_control(&self) -> Result<BucketAccessControl> {
        Ok(setting_of(&self.name, &self.access_control)?
            .cloned()
            .unwrap_or_default())
    }
}

/// How a version is encrypted; no secrets, only what responses and later requests need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode")]
pub enum Sse {
    S3,
    /// Nothing of the customer key is kept here, not even its MD5: the blob header holds a
    /// salted, keyed fingerprint.
    C,
    /// SSE-KMS: the key that wrapped the data key, the caller's own encryption context
    /// (without `aws:s3:arn`, which derives from the bucket and key), and whether an S3
    /// Bucket Key stands between the KMS key and the data key.
    Kms {
        key_arn: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        context: BTreeMap<String, String>,
        #[serde(default)]
        bucket_key: bool,
    },
}

/// HTTP-visible attributes of a version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
    #[serde(default)]
    pub user: BTreeMap<String, String>,
    /// The version's tags; sealed with the rest, as they are the user's data too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: crate::tagging::TagSet,
    /// The version's ACL, when its bucket's ACLs were enabled and it was given one; none is
    /// the bucket owner's FULL_CONTROL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::bucket_settings::acl::Acl>,
}

/// A change to a version's sealed metadata after it was written.
#[derive(Debug, Clone)]
pub enum MetaChange {
    /// PutObjectTagging / DeleteObjectTagging.
    Tags(crate::tagging::TagSet),
    /// PutObjectAcl.
    Acl(Option<crate::bucket_settings::acl::Acl>),
}

impl MetaChange {
    pub(crate) fn apply(self, meta: &mut ObjectMeta) {
        match self {
            MetaChange::Tags(tags) => meta.tags = tags,
            MetaChange::Acl(acl) => meta.acl = acl,
        }
    }
}

/// Flexible checksum of a whole object (or of a part): algorithm name as S3 spells it
/// (CRC32, CRC32C, SHA1, SHA256, CRC64NVME), base64 value, FULL_OBJECT or COMPOSITE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub algorithm: String,
    pub value: String,
    pub kind: String,
}

/// One sealed blob holding (part of) a version's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    /// 0 for a single-part object, else the multipart part number.
    pub part_number: u32,
    pub blob: String,
    pub size: u64,
    pub etag: String,
    /// The blob's encoded seal header, kept here so reads need no extra round trip.
    pub header: Vec<u8>,
    pub checksum: Option<Checksum>,
    pub last_modified_ms: i64,
}

/// A version as stored (also used for delete markers, which have no parts).
#[derive(Debug, Clone)]
pub struct ObjectVersion {
    pub row: i64,
    pub bucket: String,
    pub key: String,
    /// As S3 reports it: "null" for versions written while versioning was off or suspended.
    pub version_id: String,
    /// Unique per write; bound into every chunk so blobs cannot be swapped between versions.
    pub seal_id: String,
    pub delete_marker: bool,
    pub is_latest: bool,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: i64,
    pub meta: ObjectMeta,
    pub sse: Option<Sse>,
    pub checksum: Option<Checksum>,
    /// Number of multipart parts; None for a single PUT.
    pub parts_count: Option<u32>,
    /// `x-amz-replication-status`: PENDING, COMPLETED or FAILED on a source version that a
    /// replication rule matched, REPLICA on a version written by replication.
    pub replication_status: Option<String>,
    /// Its retention and legal hold (none for delete markers).
    pub lock: VersionLock,
}

/// What a writer hands to `commit_version`.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub bucket: String,
    pub key: String,
    pub seal_id: String,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: i64,
    pub meta: ObjectMeta,
    pub sse: Sse,
    pub checksum: Option<Checksum>,
    pub parts_count: Option<u32>,
    pub parts: Vec<PartRecord>,
    /// Written by another region's replication (trusted by the edge): shown as REPLICA and
    /// never replicated again.
    pub replica: bool,
    /// The lock its writer asked for; the bucket's default retention fills in the rest at
    /// commit.
    pub lock: VersionLock,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub seal_id: String,
    pub initiated_ms: i64,
    pub meta: ObjectMeta,
    pub sse: Sse,
    /// Encoded wrapped upload data key (the same for every part).
    pub wrapped_key: Vec<u8>,
    pub checksum_algorithm: Option<String>,
    pub checksum_type: Option<String>,
    /// The key's latest entry when the upload began: a conditional completion that finds
    /// the key changed since meets a concurrent write.
    pub seen: Seen,
    /// The lock asked for when the upload began, for the version it becomes.
    pub lock: VersionLock,
}

/// The bucket settings that rest as records in a column of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingColumn {
    Encryption,
    Replication,
    Cors,
    PublicAccessBlock,
    Tagging,
    ObjectLock,
    Lifecycle,
    AccessControl,
}

impl SettingColumn {
    pub(crate) fn name(self) -> &'static str {
        match self {
            SettingColumn::Encryption => "encryption",
            SettingColumn::Replication => "replication",
            SettingColumn::Cors => "cors",
            SettingColumn::PublicAccessBlock => "public_access_block",
            SettingColumn::Tagging => "tagging",
            SettingColumn::ObjectLock => "object_lock",
            SettingColumn::Lifecycle => "lifecycle",
            SettingColumn::AccessControl => "access_control",
        }
    }

    /// The settings that need versioning Enabled: a bucket holding one cannot suspend it,
    /// and one created with one is versioned from the start (as on S3).
    pub(crate) const NEED_VERSIONING: [SettingColumn; 2] =
        [SettingColumn::Replication, SettingColumn::ObjectLock];

    pub(crate) fn needs_versioning(self) -> bool {
        Self::NEED_VERSIONING.contains(&self)
    }
}

/// A bucket setting and the column it rests in.
pub(crate) trait BucketSetting: StoredSetting + Send + Sync + 'static {
    const COLUMN: SettingColumn;
}

impl BucketSetting for BucketEncryption {
    const COLUMN: SettingColumn = SettingColumn::Encryption;
}

impl BucketSetting for ReplicationConfig {
    const COLUMN: SettingColumn = SettingColumn::Replication;
}

impl BucketSetting for CorsConfig {
    const COLUMN: SettingColumn = SettingColumn::Cors;
}

impl BucketSetting for PublicAccessBlock {
    const COLUMN: SettingColumn = SettingColumn::PublicAccessBlock;
}

impl BucketSetting for BucketTagging {
    const COLUMN: SettingColumn = SettingColumn::Tagging;
}

impl BucketSetting for ObjectLockConfig {
    const COLUMN: SettingColumn = SettingColumn::ObjectLock;
}

impl BucketSetting for LifecycleConfig {
    const COLUMN: SettingColumn = SettingColumn::Lifecycle;
}

impl BucketSetting for BucketAccessControl {
    const COLUMN: SettingColumn = SettingColumn::AccessControl;
}

/// Handle to the catalog, whichever store holds it; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
}

impl std::ops::Deref for Catalog {
    type Target = dyn CatalogStore;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

/// How long the blobs of a replaced or deleted version stay readable: reads that found the
/// version before the change finish streaming it.
fn grace_ms(read_grace_secs: u64) -> i64 {
    i64::try_from(read_grace_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl Catalog {
    /// The SQLite catalog at `path` (created if absent), for one gateway process.
    pub fn sqlite(
        path: &Path,
        fsync: bool,
        sealer: CatalogSealer,
        read_grace_secs: u64,
    ) -> Result<Catalog> {
        let store = sqlite::SqliteCatalog::open(
            path,
            fsync,
            MetaCodec::new(sealer),
            grace_ms(read_grace_secs),
        )?;
        Ok(Catalog {
            store: Arc::new(store),
        })
    }

    /// The catalog in a fleet's PostgreSQL database, as node `node`.
    pub fn postgres(
        db: &crate::postgres::Database,
        node: &str,
        sealer: CatalogSealer,
        read_grace_secs: u64,
    ) -> Catalog {
        let store = postgres::PgCatalog::new(
            db.clone(),
            node,
            MetaCodec::new(sealer),
            grace_ms(read_grace_secs),
        );
        Catalog {
            store: Arc::new(store),
        }
    }

    #[cfg(test)]
    pub fn in_memory() -> Catalog {
        Catalog {
            store: Arc::new(sqlite::SqliteCatalog::in_memory()),
        }
    }

    /// Puts (or, with `None`, deletes) one setting of a bucket.
    pub(crate) async fn set_setting<T: BucketSetting>(
        &self,
        name: &str,
        value: Option<&T>,
    ) -> Result<()> {
        self.store
            .put_setting(name, T::COLUMN, value.map(bucket_settings::encode))
            .await
    }
}
