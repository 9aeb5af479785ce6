//! Object versions as S3 keeps them: the latest flag, "null" versions of unversioned and
//! suspended buckets, delete markers, preconditions checked inside the commit, and the
//! listings in key order.

use rusqlite::{Connection, OptionalExtension, params};

use crate::bucket_settings::replication::Candidate;

use super::buckets::{bucket_exists, require_bucket};
use super::replication::{TaskStatus, enqueue_if_matched};
use super::{
    Bucket, Catalog, CatalogError, MetaCodec, NewVersion, ObjectVersion, PART_COLUMNS, PartRecord,
    Result, Sse, Versioning, decode_part, opt_from_json, opt_to_json, part_from_row, to_json,
};

/// Condition a PUT or copy states about the current object, checked inside the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    None,
    /// `If-None-Match: *`: only create.
    IfNoneMatchAny,
    /// `If-Match: "etag"` (or `*`: the object must exist).
    IfMatch(Option<String>),
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

/// A delete marker about to be written.
#[derive(Clone, Copy)]
struct NewMarker<'a> {
    key: &'a str,
    seal_id: &'a str,
    replica: bool,
}

pub(super) const VERSION_COLUMNS: &str = "row, bucket, key, version_id, seal_id, delete_marker, is_latest, size, \
     etag, last_modified_ms, meta, sse, checksum, parts_count, replication_status";

pub(super) fn version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok(RawVersion {
        row: row.get(0)?,
        bucket: row.get(1)?,
        key: row.get(2)?,
        version_id: row.get(3)?,
        seal_id: row.get(4)?,
        delete_marker: row.get(5)?,
        is_latest: row.get(6)?,
        size: row.get(7)?,
        etag: row.get(8)?,
        last_modified_ms: row.get(9)?,
        meta: row.get(10)?,
        sse: row.get(11)?,
        checksum: row.get(12)?,
        parts_count: row.get(13)?,
        replication_status: row.get(14)?,
    })
}

/// A row before its JSON columns are decoded (decoding errors are not SQLite errors).
pub(super) struct RawVersion {
    row: i64,
    bucket: String,
    key: String,
    version_id: String,
    seal_id: String,
    delete_marker: bool,
    is_latest: bool,
    size: i64,
    etag: String,
    last_modified_ms: i64,
    meta: Vec<u8>,
    sse: Option<String>,
    checksum: Option<String>,
    parts_count: Option<u32>,
    replication_status: Option<String>,
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
            size: u64::try_from(self.size)
                .map_err(|_| CatalogError::Corrupt("negative size".into()))?,
            etag: self.etag,
            last_modified_ms: self.last_modified_ms,
            meta,
            sse: opt_from_json(self.sse)?,
            checksum: opt_from_json(self.checksum)?,
            parts_count: self.parts_count,
            replication_status: self.replication_status,
        })
    }
}

fn latest(
    tx: &Connection,
    codec: &MetaCodec,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectVersion>> {
    tx.query_row(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 AND is_latest = 1"),
        params![bucket, key],
        version_from_row,
    )
    .optional()?
    .map(|r| r.decode(codec))
    .transpose()
}

fn check_precondition(tx: &Connection, bucket: &str, key: &str, pre: &Precondition) -> Result<()> {
    if *pre == Precondition::None {
        return Ok(());
    }
    let current: Option<String> = tx
        .query_row(
            "SELECT etag FROM versions
             WHERE bucket = ?1 AND key = ?2 AND is_latest = 1 AND delete_marker = 0",
            params![bucket, key],
            |r| r.get(0),
        )
        .optional()?;
    match (pre, current) {
        (Precondition::IfNoneMatchAny, Some(_)) => Err(CatalogError::PreconditionFailed),
        (Precondition::IfMatch(_), None) => Err(CatalogError::NoSuchKey),
        (Precondition::IfMatch(Some(etag)), Some(current)) if current != *etag => {
            Err(CatalogError::PreconditionFailed)
        }
        _ => Ok(()),
    }
}

/// Queues every blob of a version for collection at `due_ms` and removes the version.
/// The delay lets reads that already found the version finish streaming it.
fn drop_version(tx: &Connection, row: i64, due_ms: i64) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO blob_gc (blob, due_ms) SELECT blob, ?2 FROM version_parts WHERE version_row = ?1",
        params![row, due_ms],
    )?;
    tx.execute("DELETE FROM versions WHERE row = ?1", [row])?;
    Ok(())
}

/// The version id a new write gets, after removing the "null" version it replaces.
fn claim_version_id(
    tx: &Connection,
    bucket: &Bucket,
    key: &str,
    seal_id: &str,
    gc_due_ms: i64,
) -> Result<String> {
    let bucket_name = &bucket.name;
    match bucket.versioning {
        Versioning::Enabled => Ok(seal_id.to_owned()),
        Versioning::Unversioned | Versioning::Suspended => {
            let null_row: Option<i64> = tx
                .query_row(
                    "SELECT row FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = 'null'",
                    params![bucket_name, key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(row) = null_row {
                drop_version(tx, row, gc_due_ms)?;
            }
            Ok("null".to_owned())
        }
    }
}

/// A one-part, 3-byte SSE-S3 version of `bucket/key` in `blob`, ETag `etag-SEAL`.
#[cfg(test)]
pub(super) fn test_version(bucket: &str, key: &str, seal: &str, blob: &str) -> NewVersion {
    NewVersion {
        bucket: bucket.into(),
        key: key.into(),
        seal_id: seal.into(),
        size: 3,
        etag: format!("etag-{seal}"),
        last_modified_ms: 1,
        meta: super::ObjectMeta::default(),
        sse: Sse::S3,
        checksum: None,
        parts_count: None,
        replica: false,
        parts: vec![PartRecord {
            part_number: 0,
            blob: blob.into(),
            size: 3,
            etag: String::new(),
            header: vec![1, 2, 3],
            checksum: None,
            last_modified_ms: 1,
        }],
    }
}

/// Inserts a version as the latest of its key; its blobs stop being collectable.
pub(super) fn insert_version(
    tx: &Connection,
    codec: &MetaCodec,
    v: &NewVersion,
    precondition: &Precondition,
    gc_due_ms: i64,
) -> Result<CommitOutcome> {
    check_precondition(tx, &v.bucket, &v.key, precondition)?;
    let bucket = require_bucket(tx, &v.bucket)?;
    let version_id = claim_version_id(tx, &bucket, &v.key, &v.seal_id, gc_due_ms)?;
    tx.execute(
        "UPDATE versions SET is_latest = 0 WHERE bucket = ?1 AND key = ?2 AND is_latest = 1",
        params![v.bucket, v.key],
    )?;
    let replication_status = if v.replica {
        Some(TaskStatus::Replica.as_str())
    } else {
        let candidate = Candidate {
            key: &v.key,
            delete_marker: false,
            sse_kms: matches!(v.sse, Sse::Kms { .. }),
        };
        enqueue_if_matched(
            tx,
            &bucket,
            &version_id,
            &candidate,
            v.size,
            v.last_modified_ms,
        )?
    };
    tx.execute(
        "INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest, size, etag,
             last_modified_ms, meta, sse, checksum, parts_count, replication_status)
         VALUES (?1, ?2, ?3, ?4, 0, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            v.bucket,
            v.key,
            version_id,
            v.seal_id,
            v.size as i64,
            v.etag,
            v.last_modified_ms,
            codec.seal(&v.bucket, &v.key, &v.seal_id, &v.meta)?,
            to_json(&v.sse)?,
            opt_to_json(&v.checksum)?,
            v.parts_count,
            replication_status,
        ],
    )?;
    let row = tx.last_insert_rowid();
    for p in &v.parts {
        tx.execute(
            "INSERT INTO version_parts (version_row, part_number, blob, size, etag, header, checksum, last_modified_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![row, p.part_number, p.blob, p.size as i64, p.etag, p.header, opt_to_json(&p.checksum)?, p.last_modified_ms],
        )?;
        tx.execute("DELETE FROM blob_gc WHERE blob = ?1", [&p.blob])?;
    }
    Ok(CommitOutcome { version_id })
}

fn insert_delete_marker(
    tx: &Connection,
    bucket: &Bucket,
    marker: &NewMarker<'_>,
    now_ms: i64,
    gc_due_ms: i64,
) -> Result<String> {
    let NewMarker {
        key,
        seal_id,
        replica,
    } = *marker;
    let version_id = claim_version_id(tx, bucket, key, seal_id, gc_due_ms)?;
    let replication_status = if replica {
        Some(TaskStatus::Replica.as_str())
    } else {
        let candidate = Candidate {
            key,
            delete_marker: true,
            sse_kms: false,
        };
        enqueue_if_matched(tx, bucket, &version_id, &candidate, 0, now_ms)?
    };
    let bucket = &bucket.name;
    tx.execute(
        "UPDATE versions SET is_latest = 0 WHERE bucket = ?1 AND key = ?2 AND is_latest = 1",
        params![bucket, key],
    )?;
    tx.execute(
        "INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest, size, etag,
             last_modified_ms, meta, replication_status)
         VALUES (?1, ?2, ?3, ?4, 1, 1, 0, '', ?5, x'', ?6)",
        params![bucket, key, version_id, seal_id, now_ms, replication_status],
    )?;
    Ok(version_id)
}

/// After the latest version of a key was removed, the newest remaining one becomes latest.
fn promote_newest(tx: &Connection, bucket: &str, key: &str) -> Result<()> {
    tx.execute(
        "UPDATE versions SET is_latest = 1 WHERE row =
            (SELECT MAX(row) FROM versions WHERE bucket = ?1 AND key = ?2)",
        params![bucket, key],
    )?;
    Ok(())
}

impl Catalog {
    /// Makes a fully written version visible, in one transaction, following the bucket's
    /// versioning state. Blobs of a replaced "null" version are queued for collection.
    pub async fn commit_version(
        &self,
        v: NewVersion,
        precondition: Precondition,
        now_ms: i64,
    ) -> Result<CommitOutcome> {
        let codec = self.codec.clone();
        let grace = self.read_grace_ms;
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let out = insert_version(&tx, &codec, &v, &precondition, now_ms + grace)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// The latest version (which may be a delete marker) or the named version of a key.
    pub async fn version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion> {
        let (bucket, key, version_id) = (
            bucket.to_owned(),
            key.to_owned(),
            version_id.map(str::to_owned),
        );
        let codec = self.codec.clone();
        self.read(move |conn| {
            let tx = conn.savepoint()?;
            bucket_exists(&tx, &bucket)?;
            let found = match &version_id {
                None => latest(&tx, &codec, &bucket, &key)?,
                Some(id) => tx
                    .query_row(
                        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"),
                        params![bucket, key, id],
                        version_from_row,
                    )
                    .optional()?
                    .map(|r| r.decode(&codec))
                    .transpose()?,
            };
            found.ok_or(if version_id.is_some() { CatalogError::NoSuchVersion } else { CatalogError::NoSuchKey })
        })
        .await
    }

    pub async fn parts(&self, version_row: i64) -> Result<Vec<PartRecord>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {PART_COLUMNS} FROM version_parts WHERE version_row = ?1 ORDER BY part_number"
            ))?;
            let rows = stmt.query_map([version_row], part_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(decode_part).collect()
        })
        .await
    }

    /// DeleteObject semantics: a version id removes that version for good; without one,
    /// a versioned bucket gets a delete marker and an unversioned one loses the object.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        marker_seal_id: &str,
        replica: bool,
        now_ms: i64,
    ) -> Result<DeleteOutcome> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let (version_id, marker_seal_id) =
            (version_id.map(str::to_owned), marker_seal_id.to_owned());
        let grace = self.read_grace_ms;
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let record = require_bucket(&tx, &bucket)?;
            let outcome = match (version_id, record.versioning) {
                (Some(id), _) => {
                    let found: Option<(i64, bool, bool)> = tx
                        .query_row(
                            "SELECT row, delete_marker, is_latest FROM versions
                             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                            params![bucket, key, id],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                        )
                        .optional()?;
                    let mut delete_marker = false;
                    if let Some((row, is_marker, is_latest)) = found {
                        drop_version(&tx, row, now_ms + grace)?;
                        if is_latest {
                            promote_newest(&tx, &bucket, &key)?;
                        }
                        delete_marker = is_marker;
                    }
                    DeleteOutcome {
                        version_id: Some(id),
                        delete_marker,
                    }
                }
                (None, Versioning::Unversioned) => {
                    claim_version_id(&tx, &record, &key, &marker_seal_id, now_ms + grace)?;
                    promote_newest(&tx, &bucket, &key)?;
                    DeleteOutcome {
                        version_id: None,
                        delete_marker: false,
                    }
                }
                (None, Versioning::Enabled | Versioning::Suspended) => {
                    let marker = NewMarker {
                        key: &key,
                        seal_id: &marker_seal_id,
                        replica,
                    };
                    let id = insert_delete_marker(&tx, &record, &marker, now_ms, now_ms + grace)?;
                    DeleteOutcome {
                        version_id: Some(id),
                        delete_marker: true,
                    }
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    /// Latest live versions with key > `after` and the given prefix, in key order.
    pub async fn list_latest(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>> {
        let (bucket, prefix, after) = (bucket.to_owned(), prefix.to_owned(), after.to_owned());
        let codec = self.codec.clone();
        self.read(move |conn| {
            let tx = conn.savepoint()?;
            bucket_exists(&tx, &bucket)?;
            let mut stmt = tx.prepare(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions
                 WHERE bucket = ?1 AND is_latest = 1 AND delete_marker = 0 AND key > ?2 AND key >= ?3
                 ORDER BY key LIMIT ?4"
            ))?;
            let rows = stmt
                .query_map(params![bucket, after, prefix, limit as i64], version_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().take_while(|r| r.key.starts_with(&prefix)).map(|r| r.decode(&codec)).collect()
        })
        .await
    }

    /// All versions and delete markers, key ascending then newest first, resuming after
    /// (`key_marker`, `version_marker`) as ListObjectVersions does.
    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        version_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ListedVersion>> {
        let (bucket, prefix, key_marker) =
            (bucket.to_owned(), prefix.to_owned(), key_marker.to_owned());
        let version_marker = version_marker.map(str::to_owned);
        let codec = self.codec.clone();
        self.read(move |conn| {
            let tx = conn.savepoint()?;
            bucket_exists(&tx, &bucket)?;
            // Rows of key_marker older than the marker version come first; without a marker
            // version the listing starts at the next key.
            let marker_row: i64 = match &version_marker {
                Some(id) => tx
                    .query_row(
                        "SELECT row FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                        params![bucket, key_marker, id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(i64::MIN),
                None => i64::MIN,
            };
            let mut stmt = tx.prepare(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions
                 WHERE bucket = ?1 AND (key > ?2 OR (key = ?2 AND row < ?3)) AND key >= ?4
                 ORDER BY key, row DESC LIMIT ?5"
            ))?;
            let rows = stmt
                .query_map(params![bucket, key_marker, marker_row, prefix, limit as i64], version_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().take_while(|r| r.key.starts_with(&prefix)).map(|r| r.decode(&codec)).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_version(key: &str, seal: &str, blob: &str) -> NewVersion {
        test_version("b", key, seal, blob)
    }

    async fn due(c: &Catalog) -> Vec<String> {
        c.due_blobs(i64::MAX, 100).await.unwrap()
    }

    #[tokio::test]
    async fn unversioned_overwrite_queues_the_old_blob() {
        let c = Catalog::in_memory();
        c.create_bucket("b", "r", 0).await.unwrap();
        c.register_pending_blob("blob1", 100).await.unwrap();
        let out = c
            .commit_version(new_version("k", "s1", "blob1"), Precondition::None, 1)
            .await
            .unwrap();
        assert_eq!(out.version_id, "null");
        assert!(due(&c).await.is_empty(), "a committed blob is not garbage");
        c.commit_version(new_version("k", "s2", "blob2"), Precondition::None, 2)
            .await
            .unwrap();
        assert_eq!(due(&c).await, vec!["blob1".to_string()]);
        let v = c.version("b", "k", None).await.unwrap();
        assert_eq!(v.seal_id, "s2");
        assert_eq!(c.parts(v.row).await.unwrap()[0].blob, "blob2");
    }

    #[tokio::test]
    async fn versioned_keys_keep_history_and_delete_markers() {
        let c = Catalog::in_memory();
        c.create_bucket("b", "r", 0).await.unwrap();
        c.set_versioning("b", Versioning::Enabled).await.unwrap();
        let v1 = c
            .commit_version(new_version("k", "s1", "b1"), Precondition::None, 1)
            .await
            .unwrap()
            .version_id;
        let v2 = c
            .commit_version(new_version("k", "s2", "b2"), Precondition::None, 2)
            .await
            .unwrap()
            .version_id;
        assert_ne!(v1, v2);
        let del = c
            .delete_object("b", "k", None, "m1", false, 3)
            .await
            .unwrap();
        assert!(del.delete_marker);
        assert!(c.version("b", "k", None).await.unwrap().delete_marker);
        assert!(c.list_latest("b", "", "", 10).await.unwrap().is_empty());
        assert_eq!(
            c.list_versions("b", "", "", None, 10).await.unwrap().len(),
            3
        );
        // Removing the marker brings v2 back.
        c.delete_object("b", "k", del.version_id.as_deref(), "x", false, 4)
            .await
            .unwrap();
        assert_eq!(c.version("b", "k", None).await.unwrap().version_id, v2);
        // Removing v2 for good makes v1 latest and queues b2.
        c.delete_object("b", "k", Some(&v2), "x", false, 5)
            .await
            .unwrap();
        assert_eq!(c.version("b", "k", None).await.unwrap().version_id, v1);
        assert_eq!(due(&c).await, vec!["b2".to_string()]);
        assert!(matches!(
            c.version("b", "k", Some("nope")).await,
            Err(CatalogError::NoSuchVersion)
        ));
        // Suspended: writes replace the null version only.
        c.set_versioning("b", Versioning::Suspended).await.unwrap();
        let n1 = c
            .commit_version(new_version("k", "s3", "b3"), Precondition::None, 6)
            .await
            .unwrap();
        assert_eq!(n1.version_id, "null");
        c.commit_version(new_version("k", "s4", "b4"), Precondition::None, 7)
            .await
            .unwrap();
        let all = c.list_versions("b", "", "", None, 10).await.unwrap();
        assert_eq!(
            all.iter()
                .map(|v| v.version_id.as_str())
                .collect::<Vec<_>>(),
            vec!["null", v1.as_str()]
        );
        assert!(due(&c).await.contains(&"b3".to_string()));
    }

    #[tokio::test]
    async fn preconditions_are_checked_inside_the_commit() {
        let c = Catalog::in_memory();
        c.create_bucket("b", "r", 0).await.unwrap();
        let create_only = Precondition::IfNoneMatchAny;
        c.commit_version(new_version("k", "s1", "b1"), create_only.clone(), 1)
            .await
            .unwrap();
        assert!(matches!(
            c.commit_version(new_version("k", "s2", "b2"), create_only, 2)
                .await,
            Err(CatalogError::PreconditionFailed)
        ));
        assert!(matches!(
            c.commit_version(
                new_version("k", "s2", "b2"),
                Precondition::IfMatch(Some("x".into())),
                2
            )
            .await,
            Err(CatalogError::PreconditionFailed)
        ));
        c.commit_version(
            new_version("k", "s2", "b2"),
            Precondition::IfMatch(Some("etag-s1".into())),
            2,
        )
        .await
        .unwrap();
        assert!(matches!(
            c.commit_version(
                new_version("other", "s3", "b3"),
                Precondition::IfMatch(None),
                3
            )
            .await,
            Err(CatalogError::NoSuchKey)
        ));
    }

    #[tokio::test]
    async fn listing_pages_by_key_and_prefix() {
        let c = Catalog::in_memory();
        c.create_bucket("b", "r", 0).await.unwrap();
        for (i, k) in ["a/1", "a/2", "b/1", "c"].iter().enumerate() {
            c.commit_version(
                new_version(k, &format!("s{i}"), &format!("bl{i}")),
                Precondition::None,
                1,
            )
            .await
            .unwrap();
        }
        let keys = |v: Vec<ObjectVersion>| v.into_iter().map(|v| v.key).collect::<Vec<_>>();
        assert_eq!(
            keys(c.list_latest("b", "a/", "", 10).await.unwrap()),
            vec!["a/1", "a/2"]
        );
        assert_eq!(
            keys(c.list_latest("b", "", "a/2", 2).await.unwrap()),
            vec!["b/1", "c"]
        );
        assert!(matches!(
            c.list_latest("nope", "", "", 1).await,
            Err(CatalogError::NoSuchBucket)
        ));
        assert!(matches!(
            c.delete_bucket("b", 1).await,
            Err(CatalogError::BucketNotEmpty)
        ));
    }
}
