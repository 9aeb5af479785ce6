//! Rows as every store reads them, before their encoded columns are decoded: sealed
//! metadata, JSON columns and setting records. A store maps its database's row into one of
//! these; decoding, and its failures, are the same whichever store read it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    Bucket, CatalogError, MetaChange, ObjectMeta, ObjectVersion, PartRecord, Result, Setting,
    Upload, Versioning,
};
use crate::bucket_settings::object_lock::VersionLock;
use crate::bucket_settings::{self, StoredSetting};
use crate::crypto::CatalogSealer;

/// Object metadata rests sealed: user metadata and content headers are the user's data too.
/// Each value is bound to its record (bucket, key, seal id), so rows cannot be swapped.
#[derive(Clone)]
pub(crate) struct MetaCodec(Arc<CatalogSealer>);

impl MetaCodec {
    pub(crate) fn new(sealer: CatalogSealer) -> MetaCodec {
        MetaCodec(Arc::new(sealer))
    }

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

    /// The sealed metadata `sealed` with `change` made to it.
    pub(crate) fn reseal(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        sealed: &[u8],
        change: MetaChange,
    ) -> Result<Vec<u8>> {
        let mut meta = self.open(bucket, key, seal_id, sealed)?;
        change.apply(&mut meta);
        self.seal(bucket, key, seal_id, &meta)
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

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

pub(super) fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

pub(super) fn opt_from_json<T: for<'de> Deserialize<'de>>(s: Option<String>) -> Result<Option<T>> {
    s.as_deref().map(from_json).transpose()
}

pub(super) fn opt_to_json<T: Serialize>(v: &Option<T>) -> Result<Option<String>> {
    v.as_ref().map(to_json).transpose()
}

pub(super) fn size_of(size: i64) -> Result<u64> {
    u64::try_from(size).map_err(|_| CatalogError::Corrupt("negative size".into()))
}

/// A bucket row.
pub(super) struct RawBucket {
    pub name: String,
    pub created_ms: i64,
    pub region: String,
    pub versioning: String,
    pub encryption: Option<String>,
    pub owner_account: Option<String>,
    pub policy: Option<String>,
    pub replication: Option<String>,
    pub cors: Option<String>,
    pub public_access_block: Option<String>,
    pub tagging: Option<String>,
    pub object_lock: Option<String>,
    pub lifecycle: Option<String>,
    pub access_control: Option<String>,
}

fn setting<T: StoredSetting>(bucket: &str, stored: Option<String>) -> Setting<T> {
    stored
        .map(|text| bucket_settings::decode(&text))
        .transpose()
        .inspect_err(|e| tracing::error!(%bucket, error = %e, "a bucket setting cannot be read"))
}

impl RawBucket {
    pub(super) fn decode(self) -> Result<Bucket> {
        Ok(Bucket {
            versioning: Versioning::parse(&self.versioning)?,
            encryption: setting(&self.name, self.encryption),
            replication: setting(&self.name, self.replication),
            cors: setting(&self.name, self.cors),
            public_access_block: setting(&self.name, self.public_access_block),
            tagging: setting(&self.name, self.tagging),
            object_lock: setting(&self.name, self.object_lock),
            lifecycle: setting(&self.name, self.lifecycle),
            access_control: setting(&self.name, self.access_control),
            name: self.name,
            created_ms: self.created_ms,
            region: self.region,
            owner_account: self.owner_account,
            policy: self.policy,
        })
    }
}

/// A `versions` row.
pub(super) struct RawVersion {
    pub row: i64,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub seal_id: String,
    pub delete_marker: bool,
    pub is_latest: bool,
    pub size: i64,
    pub etag: String,
    pub last_modified_ms: i64,
    pub meta: Vec<u8>,
    pub sse: Option<String>,
    pub checksum: Option<String>,
    pub parts_count: Option<i64>,
    pub replication_status: Option<String>,
    pub object_lock: Option<String>,
}

impl RawVersion {
    pub(super) fn decode(self, codec: &MetaCodec) -> Result<ObjectVersion> {
        let meta = codec.open(&self.bucket, &self.key, &self.seal_id, &self.meta)?;
        Ok(ObjectVersion {
            row: self.row,
            bucket: self.bucket,
            key: self.key,
            version_id: self.version_id,
            seal_id: self.seal_id,
            delete_marker: self.delete_marker,
            is_latest: self.is_latest,
            size: size_of(self.size)?,
            etag: self.etag,
            last_modified_ms: self.last_modified_ms,
            meta,
            sse: opt_from_json(self.sse)?,
            checksum: opt_from_json(self.checksum)?,
            parts_count: self
                .parts_count
                .map(u32::try_from)
                .transpose()
                .map_err(|_| CatalogError::Corrupt("parts count".into()))?,
            replication_status: self.replication_status,
            lock: lock_from_column(self.object_lock)?,
        })
    }
}

/// A version's (or upload's) lock as stored: NULL when it has none.
pub(super) fn lock_to_column(lock: &VersionLock) -> Result<Option<String>> {
    (!lock.is_none()).then(|| to_json(lock)).transpose()
}

pub(super) fn lock_from_column(column: Option<String>) -> Result<VersionLock> {
    Ok(opt_from_json(column)?.unwrap_or_default())
}

/// A `version_parts` or `upload_parts` row.
pub(super) struct RawPart {
    pub part_number: i64,
    pub blob: String,
    pub size: i64,
    pub etag: String,
    pub header: Vec<u8>,
    pub checksum: Option<String>,
    pub last_modified_ms: i64,
}

impl RawPart {
    pub(super) fn decode(self) -> Result<PartRecord> {
        Ok(PartRecord {
            part_number: u32::try_from(self.part_number)
                .map_err(|_| CatalogError::Corrupt("part number".into()))?,
            blob: self.blob,
            size: size_of(self.size)?,
            etag: self.etag,
            header: self.header,
            checksum: opt_from_json(self.checksum)?,
            last_modified_ms: self.last_modified_ms,
        })
    }
}

/// An `uploads` row.
pub(super) struct RawUpload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub seal_id: String,
    pub initiated_ms: i64,
    pub meta: Vec<u8>,
    pub sse: String,
    pub wrapped_key: Vec<u8>,
    pub checksum_algorithm: Option<String>,
    pub checksum_type: Option<String>,
    pub seen: Option<String>,
    pub object_lock: Option<String>,
}

impl RawUpload {
    pub(super) fn decode(self, codec: &MetaCodec) -> Result<Upload> {
        Ok(Upload {
            meta: codec.open(&self.bucket, &self.key, &self.seal_id, &self.meta)?,
            sse: from_json(&self.sse)?,
            upload_id: self.upload_id,
            bucket: self.bucket,
            key: self.key,
            seal_id: self.seal_id,
            initiated_ms: self.initiated_ms,
            wrapped_key: self.wrapped_key,
            checksum_algorithm: self.checksum_algorithm,
            checksum_type: self.checksum_type,
            seen: super::Seen::from_column(self.seen),
            lock: lock_from_column(self.object_lock)?,
        })
    }
}

/// A replication task row.
pub(super) struct RawTask {
    pub id: i64,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
    pub rule_id: String,
    pub destination: String,
    pub size: i64,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub enqueued_ms: i64,
    pub finished_ms: Option<i64>,
    pub last_error: Option<String>,
    pub dest_version_id: Option<String>,
    pub in_doubt: bool,
}

impl RawTask {
    pub(super) fn decode(self) -> super::store::ReplicationTask {
        super::store::ReplicationTask {
            id: self.id,
            bucket: self.bucket,
            key: self.key,
            version_id: self.version_id,
            delete_marker: self.delete_marker,
            rule_id: self.rule_id,
            destination: self.destination,
            size: self.size.max(0) as u64,
            status: self.status,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            next_attempt_ms: self.next_attempt_ms,
            enqueued_ms: self.enqueued_ms,
            finished_ms: self.finished_ms,
            last_error: self.last_error,
            dest_version_id: self.dest_version_id,
            in_doubt: self.in_doubt,
        }
    }
}

/// A part layout as stored: 0 for the source's own parts, else the fixed part size.
pub(super) fn layout_to_column(layout: super::store::PartLayout) -> i64 {
    match layout {
        super::store::PartLayout::Source => 0,
        super::store::PartLayout::Fixed(n) => i64::try_from(n).unwrap_or(i64::MAX),
    }
}

pub(super) fn layout_from_column(v: i64) -> super::Result<super::store::PartLayout> {
    match v {
        0 => Ok(super::store::PartLayout::Source),
        n if n > 0 => Ok(super::store::PartLayout::Fixed(n as u64)),
        n => Err(super::CatalogError::Corrupt(format!(
            "replica upload part size {n}"
        ))),
    }
}
