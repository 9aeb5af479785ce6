//! Metadata store: buckets, object versions, multipart uploads and the blob collector's
//! queue. Every change that makes data visible or invisible is one SQLite transaction, and
//! every blob is either referenced by a row or queued for collection, so a crash at any
//! point leaves nothing half-visible and nothing leaked.

mod buckets;
mod gc;
mod replication;
mod uploads;
mod versions;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::bucket_settings::{BucketEncryption, ReplicationConfig, SettingError};
use crate::crypto::CatalogSealer;
use serde::{Deserialize, Serialize};

pub(crate) use buckets::BucketSetting;
pub use replication::{BatchProgress, ReplicationStats, ReplicationTask, TaskStatus};
pub use versions::{CommitOutcome, DeleteOutcome, ListedVersion, Precondition};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("catalog: corrupt record: {0}")]
    Corrupt(String),
    #[error("catalog task failed: {0}")]
    Task(String),
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
    #[error("versioning cannot be suspended while a replication configuration is in place")]
    ReplicationNeedsVersioning,
    #[error("a replication configuration needs versioning Enabled")]
    VersioningNotEnabled,
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    fn as_str(self) -> &'static str {
        match self {
            Versioning::Unversioned => "",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }

    fn parse(s: &str) -> Result<Versioning> {
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
    /// recorded and not yet adopted (see [`Catalog::adopt_unowned_buckets`]).
    pub owner_account: Option<String>,
    /// The bucket policy document as the owner sent it (validated by the s3 edge).
    pub policy: Option<String>,
    /// The default encryption the owner put; `None` when never set (SSE-S3 applies).
    encryption: Setting<BucketEncryption>,
    replication: Setting<ReplicationConfig>,
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
}

/// Handle to the catalog; cheap to clone. SQLite calls run on the blocking pool.
#[derive(Clone)]
pub struct Catalog {
    /// Every write goes to the one writer (SQLite has one writer at a time), which commits
    /// the writes queued together with one fsync.
    writer: Arc<writer::Writer>,
    /// Read-only connections, so reads do not queue behind a commit's fsync (WAL lets
    /// readers see the last committed state while a write is in progress). None for an
    /// in-memory catalog, whose reads go to the writer.
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
    codec: MetaCodec,
    /// How long the blobs of a replaced or deleted version stay readable: reads that found
    /// the version before the change finish streaming it.
    read_grace_ms: i64,
}

/// Object metadata rests sealed: user metadata and content headers are the user's data too.
/// Each value is bound to its record (bucket, key, seal id), so rows cannot be swapped.
#[derive(Clone)]
pub(crate) struct MetaCodec(Arc<CatalogSealer>);

impl MetaCodec {
    fn context(bucket: &str, key: &str, seal_id: &str) -> Vec<u8> {
        [
            bucket.as_bytes(),
            b"\0",
            key.as_bytes(),
            b"\0",
            seal_id.as_bytes(),
        ]
        .concat()
    }

    pub(crate) fn seal(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        meta: &ObjectMeta,
    ) -> Result<Vec<u8>> {
        Ok(self.0.seal(
            &Self::context(bucket, key, seal_id),
            to_json(meta)?.as_bytes(),
        ))
    }

    /// Delete markers have no metadata and store none.
    pub(crate) fn open(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        sealed: &[u8],
    ) -> Result<ObjectMeta> {
        if sealed.is_empty() {
            return Ok(ObjectMeta::default());
        }
        let plain = self
            .0
            .open(&Self::context(bucket, key, seal_id), sealed)
            .map_err(|e| CatalogError::Corrupt(format!("metadata of {bucket}/{key}: {e}")))?;
        serde_json::from_slice(&plain).map_err(|e| CatalogError::Corrupt(e.to_string()))
    }
}

/// Reader connections: enough for the blocking pool to serve reads while one commits.
const READERS: usize = 4;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    region TEXT NOT NULL,
    versioning TEXT NOT NULL DEFAULT '',
    encryption TEXT,
    owner_account TEXT,
    policy TEXT,
    replication TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    seal_id TEXT NOT NULL,
    delete_marker INTEGER NOT NULL,
    is_latest INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    meta BLOB NOT NULL,
    sse TEXT,
    checksum TEXT,
    parts_count INTEGER,
    replication_status TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_id ON versions(bucket, key, version_id);
CREATE INDEX IF NOT EXISTS versions_latest ON versions(bucket, is_latest, key);
CREATE TABLE IF NOT EXISTS version_parts (
    version_row INTEGER NOT NULL REFERENCES versions(row) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    header BLOB NOT NULL,
    checksum TEXT,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (version_row, part_number)
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    seal_id TEXT NOT NULL,
    initiated_ms INTEGER NOT NULL,
    meta BLOB NOT NULL,
    sse TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    header BLOB NOT NULL,
    checksum TEXT,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
-- Blobs to delete once due: garbage (due at once) and blobs of writes in flight (due after
-- a grace period unless the write commits, which removes the row in its transaction).
CREATE TABLE IF NOT EXISTS blob_gc (
    blob TEXT PRIMARY KEY,
    due_ms INTEGER NOT NULL
);
-- Versions a replication rule matched, written in the transaction that made the version
-- visible; the worker completes, retries or fails them. Kept after completion: the
-- destination version id guards retries against duplicates, and operators list failures.
CREATE TABLE IF NOT EXISTS replication_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    delete_marker INTEGER NOT NULL,
    rule_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    last_error TEXT,
    dest_version_id TEXT,
    in_doubt INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS replication_due ON replication_tasks(status, next_attempt_ms);
CREATE INDEX IF NOT EXISTS replication_by_key ON replication_tasks(bucket, key, id);
-- `sealgate replicate` checkpoints: versions up to after_row were considered.
CREATE TABLE IF NOT EXISTS replication_batches (
    bucket TEXT PRIMARY KEY,
    after_row INTEGER NOT NULL,
    enqueued INTEGER NOT NULL,
    done INTEGER NOT NULL
);
"#;

impl Catalog {
    pub fn open(path: &Path, fsync: bool, sealer: CatalogSealer) -> Result<Catalog> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL fsyncs the WAL on every commit: an acknowledged write survives power loss.
        // NORMAL still survives a process crash (kill -9).
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        let readers = (0..READERS)
            .map(|_| {
                let r = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                r.busy_timeout(std::time::Duration::from_secs(10))?;
                Ok(Mutex::new(r))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Catalog {
            writer: Arc::new(writer::Writer::spawn(conn)?),
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
            codec: MetaCodec(Arc::new(sealer)),
            read_grace_ms: 0,
        })
    }

    /// Keeps blobs of replaced versions for `secs` before the collector may delete them.
    pub fn with_read_grace(mut self, secs: u64) -> Catalog {
        self.read_grace_ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self
    }

    #[cfg(test)]
    pub fn in_memory() -> Catalog {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let codec = MetaCodec(Arc::new(
            crate::crypto::RootKey::generate().catalog_sealer(),
        ));
        // An in-memory database is private to its connection: reads share the writer's.
        Catalog {
            writer: Arc::new(writer::Writer::spawn(conn).unwrap()),
            readers: Arc::new(Vec::new()),
            next_reader: Arc::new(AtomicUsize::new(0)),
            codec,
            read_grace_ms: 0,
        }
    }

    /// Runs a read-only `f` on one of the reader connections (the writer's if there are none).
    async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        if self.readers.is_empty() {
            return self.call(f).await;
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let readers = self.readers.clone();
        // SQLite calls block, so they run on the blocking pool.
        tokio::task::spawn_blocking(move || {
            let mut guard = readers[i]
                .lock()
                .map_err(|_| CatalogError::Task("catalog lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| CatalogError::Task(e.to_string()))?
    }

    /// Runs `f` on the writer connection, inside the transaction of its batch. A change
    /// `f` makes must be in a savepoint, so that its failure rolls back only its own work;
    /// the answer comes once the batch is committed.
    async fn call<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        self.writer.run(f).await
    }
}

/// Columns added after the first release: `CREATE TABLE IF NOT EXISTS` leaves an older
/// table as it was, so they are added here when missing.
fn migrate(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('buckets')")?;
    let columns = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (column, ty) in [
        ("owner_account", "TEXT"),
        ("policy", "TEXT"),
        ("replication", "TEXT"),
    ] {
        if !columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE buckets ADD COLUMN {column} {ty}"))?;
        }
    }
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('versions')")?;
    let columns = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !columns.iter().any(|c| c == "replication_status") {
        conn.execute_batch("ALTER TABLE versions ADD COLUMN replication_status TEXT")?;
    }
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

fn opt_from_json<T: for<'de> Deserialize<'de>>(s: Option<String>) -> Result<Option<T>> {
    s.as_deref().map(from_json).transpose()
}

fn opt_to_json<T: Serialize>(v: &Option<T>) -> Result<Option<String>> {
    v.as_ref().map(to_json).transpose()
}

/// Columns of `version_parts` and `upload_parts` alike.
pub(super) const PART_COLUMNS: &str =
    "part_number, blob, size, etag, header, checksum, last_modified_ms";

pub(super) type RawPart = (u32, String, i64, String, Vec<u8>, Option<String>, i64);

pub(super) fn part_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPart> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

pub(super) fn decode_part(raw: RawPart) -> Result<PartRecord> {
    let (part_number, blob, size, etag, header, checksum, last_modified_ms) = raw;
    Ok(PartRecord {
        part_number,
        blob,
        size: size as u64,
        etag,
        header,
        checksum: opt_from_json(checksum)?,
        last_modified_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_catalog_from_before_bucket_owners_gains_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE buckets (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,
                 region TEXT NOT NULL, versioning TEXT NOT NULL DEFAULT '', encryption TEXT);
                 INSERT INTO buckets (name, created_ms, region) VALUES ('old', 1, 'us-east-1');",
            )
            .unwrap();
        }
        let sealer = || crate::crypto::RootKey::generate().catalog_sealer();
        let c = Catalog::open(&path, false, sealer()).unwrap();
        assert_eq!(c.bucket("old").await.unwrap().owner_account, None);
        c.adopt_unowned_buckets("111122223333").await.unwrap();
        drop(c);
        // Opening again finds the columns in place.
        let c = Catalog::open(&path, false, sealer()).unwrap();
        let b = c.bucket("old").await.unwrap();
        assert_eq!(b.owner_account.as_deref(), Some("111122223333"));
        assert_eq!(b.policy, None);
        assert_eq!(b.replication().unwrap(), None);
    }

    #[tokio::test]
    async fn versions_from_before_replication_gain_a_status_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE versions (row INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL,
                 key TEXT NOT NULL, version_id TEXT NOT NULL, seal_id TEXT NOT NULL,
                 delete_marker INTEGER NOT NULL, is_latest INTEGER NOT NULL, size INTEGER NOT NULL,
                 etag TEXT NOT NULL, last_modified_ms INTEGER NOT NULL, meta BLOB NOT NULL, sse TEXT,
                 checksum TEXT, parts_count INTEGER);
                 CREATE TABLE buckets (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,
                 region TEXT NOT NULL, versioning TEXT NOT NULL DEFAULT '', encryption TEXT);
                 INSERT INTO buckets (name, created_ms, region) VALUES ('old', 1, 'us-east-1');
                 INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest,
                 size, etag, last_modified_ms, meta) VALUES ('old', 'k', 'null', 's', 1, 1, 0, '', 1, x'');",
            )
            .unwrap();
        }
        let c = Catalog::open(
            &path,
            false,
            crate::crypto::RootKey::generate().catalog_sealer(),
        )
        .unwrap();
        let v = c.version("old", "k", None).await.unwrap();
        assert!(v.delete_marker);
        assert_eq!(v.replication_status, None);
    }
}
