//! Object versions in SQLite: the rows S3's versioning rules ([`crate::catalog::semantics`])
//! decide about, and the listings in key order.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::Cached as _;
use super::buckets::{bucket_exists, require_bucket};
use super::gc::claim_pending_blob;
use super::replication::{insert_task, latest_task};
use super::{PART_COLUMNS, SqliteCatalog, part_from_row};
use crate::bucket_settings::object_lock::{LockChange, VersionLock};
use crate::catalog::MetaChange;
use crate::catalog::codec::{
    MetaCodec, RawVersion, lock_from_column, lock_to_column, opt_to_json, to_json,
};
use crate::catalog::listing::{KeyRange, Walk};
use crate::catalog::semantics::{self, DeletePlan, Removal, Write, WritePlan};
use crate::catalog::store::{
    CommitOutcome, DeleteOutcome, ListedVersion, LockedVersion, Precondition, VersionStore,
};
use crate::catalog::{
    Bucket, CatalogError, KeyStart, NewVersion, ObjectVersion, PartRecord, Result,
};

pub(super) const VERSION_COLUMNS: &str = "row, bucket, key, version_id, seal_id, delete_marker, is_latest, size, \
     etag, last_modified_ms, meta, sse, checksum, parts_count, replication_status, object_lock";

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
        object_lock: row.get(15)?,
    })
}

fn latest(
    tx: &Connection,
    codec: &MetaCodec,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectVersion>> {
    tx.row(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ?1 AND key = ?2 AND is_latest = 1"),
        params![bucket, key],
        version_from_row,
    )
    .optional()?
    .map(|r| r.decode(codec))
    .transpose()
}

fn check_precondition(tx: &Connection, bucket: &str, key: &str, pre: &Precondition) -> Result<()> {
    if pre.is_none() {
        return Ok(());
    }
    let latest = tx
        .row(
            "SELECT seal_id, etag, delete_marker FROM versions
             WHERE bucket = ?1 AND key = ?2 AND is_latest = 1",
            params![bucket, key],
            |r| {
                Ok(semantics::Latest {
                    seal_id: r.get(0)?,
                    etag: (!r.get::<_, bool>(2)?).then(|| r.get(1)).transpose()?,
                })
            },
        )
        .optional()?;
    semantics::check_precondition(pre, latest.as_ref())
}

/// Queues every blob of a version for collection at `due_ms` and removes the version.
/// The delay lets reads that already found the version finish streaming it.
fn drop_version(tx: &Connection, row: i64, due_ms: i64) -> Result<()> {
    tx.exec(
        "INSERT OR REPLACE INTO blob_gc (blob, due_ms) SELECT blob, ?2 FROM version_parts WHERE version_row = ?1",
        params![row, due_ms],
    )?;
    tx.exec("DELETE FROM versions WHERE row = ?1", [row])?;
    Ok(())
}

/// Removes the key's "null" version, if it has one.
fn drop_null_version(tx: &Connection, bucket: &str, key: &str, due_ms: i64) -> Result<()> {
    let null_row: Option<i64> = tx
        .row(
            "SELECT row FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = 'null'",
            params![bucket, key],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(row) = null_row {
        drop_version(tx, row, due_ms)?;
    }
    Ok(())
}

/// Applies what a write replaces and queues: the "null" version it replaces goes, the
/// key's latest stops being latest, and a matched rule's task is queued.
fn prepare_write(
    tx: &Connection,
    bucket: &Bucket,
    write: &Write<'_>,
    plan: &WritePlan,
    size: u64,
    now_ms: i64,
    gc_due_ms: i64,
) -> Result<()> {
    if plan.replaces_null {
        drop_null_version(tx, &bucket.name, write.key, gc_due_ms)?;
    }
    // Noncurrent from now: lifecycle's NoncurrentDays count from here.
    tx.exec(
        "UPDATE versions SET is_latest = 0, noncurrent_ms = ?3
         WHERE bucket = ?1 AND key = ?2 AND is_latest = 1",
        params![bucket.name, write.key, now_ms],
    )?;
    if let Some(task) = &plan.task {
        insert_task(
            tx,
            &bucket.name,
            write.key,
            &plan.version_id,
            write.delete_marker,
            task,
            size,
            now_ms,
        )?;
    }
    Ok(())
}

/// A one-part, 3-byte SSE-S3 version of `bucket/key` in `blob`, ETag `etag-SEAL`.
#[cfg(test)]
pub(crate) fn test_version(bucket: &str, key: &str, seal: &str, blob: &str) -> NewVersion {
    NewVersion {
        bucket: bucket.into(),
        key: key.into(),
        seal_id: seal.into(),
        size: 3,
        etag: format!("etag-{seal}"),
        last_modified_ms: 1,
        meta: crate::catalog::ObjectMeta::default(),
        sse: crate::catalog::Sse::S3,
        checksum: None,
        parts_count: None,
        replica: false,
        lock: Default::default(),
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
    let write = Write::version(v);
    let plan = semantics::plan_write(&bucket, &write)?;
    prepare_write(
        tx,
        &bucket,
        &write,
        &plan,
        v.size,
        v.last_modified_ms,
        gc_due_ms,
    )?;
    tx.exec(
        "INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest, size, etag,
             last_modified_ms, meta, sse, checksum, parts_count, replication_status, object_lock)
         VALUES (?1, ?2, ?3, ?4, 0, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            v.bucket,
            v.key,
            plan.version_id,
            v.seal_id,
            v.size as i64,
            v.etag,
            v.last_modified_ms,
            codec.seal(&v.bucket, &v.key, &v.seal_id, &v.meta)?,
            to_json(&v.sse)?,
            opt_to_json(&v.checksum)?,
            v.parts_count,
            plan.replication_status,
            lock_to_column(&plan.lock)?,
        ],
    )?;
    let row = tx.last_insert_rowid();
    for p in &v.parts {
        tx.exec(
            &format!("INSERT INTO version_parts (version_row, {PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![row, p.part_number, p.blob, p.size as i64, p.etag, p.header, opt_to_json(&p.checksum)?, p.last_modified_ms],
        )?;
    }
    Ok(CommitOutcome {
        version_id: plan.version_id,
    })
}

/// After the latest version of a key was removed, the newest remaining one becomes latest.
fn promote_newest(tx: &Connection, bucket: &str, key: &str) -> Result<()> {
    tx.exec(
        "UPDATE versions SET is_latest = 1, noncurrent_ms = NULL WHERE row =
            (SELECT MAX(row) FROM versions WHERE bucket = ?1 AND key = ?2)",
        params![bucket, key],
    )?;
    Ok(())
}

/// DeleteObject with a version id: that version goes for good, if its lock allows.
fn delete_version(
    tx: &Connection,
    bucket: &str,
    key: &str,
    id: &str,
    removal: Removal,
) -> Result<DeleteOutcome> {
    let found: Option<(i64, bool, bool, Option<String>)> = tx
        .row(
            "SELECT row, delete_marker, is_latest, object_lock FROM versions
             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
            params![bucket, key, id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let mut delete_marker = false;
    if let Some((row, is_marker, is_latest, lock)) = found {
        lock_from_column(lock)?.check_removal(removal.now_ms, removal.bypass_governance)?;
        drop_version(tx, row, removal.due_ms)?;
        if is_latest {
            promote_newest(tx, bucket, key)?;
        }
        delete_marker = is_marker;
    }
    Ok(DeleteOutcome {
        version_id: Some(id.to_owned()),
        delete_marker,
    })
}

#[async_trait]
impl VersionStore for SqliteCatalog {
    async fn commit_version(
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
            for part in &v.parts {
                claim_pending_blob(&tx, &part.blob, now_ms)?;
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn version(
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
                    .row(
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

    async fn parts(&self, version_row: i64) -> Result<Vec<PartRecord>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {PART_COLUMNS} FROM version_parts WHERE version_row = ?1 ORDER BY part_number"
            ))?;
            let rows = stmt.query_map([version_row], part_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(|p| p.decode()).collect()
        })
        .await
    }

    async fn set_meta(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        change: MetaChange,
        now_ms: i64,
    ) -> Result<()> {
        let (bucket, key, seal_id) = (bucket.to_owned(), key.to_owned(), seal_id.to_owned());
        let codec = self.codec.clone();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let (row, sealed, version_id, status): (i64, Vec<u8>, String, Option<String>) = tx
                .row(
                    "SELECT row, meta, version_id, replication_status FROM versions
                     WHERE bucket = ?1 AND key = ?2 AND seal_id = ?3 AND delete_marker = 0",
                    params![bucket, key, seal_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?
                .ok_or(CatalogError::NoSuchKey)?;
            let replicates = semantics::meta_change_replicates(&change, status.as_deref());
            let meta = codec.reseal(&bucket, &key, &seal_id, &sealed, change)?;
            tx.exec(
                "UPDATE versions SET meta = ?2 WHERE row = ?1",
                params![row, meta],
            )?;
            if replicates && let Some(task) = latest_task(&tx, &bucket, &key, &version_id)? {
                // Only the tags travel: no bytes to send.
                insert_task(&tx, &bucket, &key, &version_id, false, &task, 0, now_ms)?;
                tx.exec(
                    "UPDATE versions SET replication_status = 'PENDING' WHERE row = ?1",
                    [row],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

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
    ) -> Result<DeleteOutcome> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let precondition = precondition.clone();
        let (version_id, marker_seal_id) =
            (version_id.map(str::to_owned), marker_seal_id.to_owned());
        let grace = self.read_grace_ms;
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let record = require_bucket(&tx, &bucket)?;
            check_precondition(&tx, &bucket, &key, &precondition)?;
            let due_ms = now_ms + grace;
            let outcome = if let Some(id) = version_id {
                let removal = Removal { now_ms, due_ms, bypass_governance };
                delete_version(&tx, &bucket, &key, &id, removal)?
            } else {
                match semantics::plan_delete(&record, &key, &marker_seal_id, replica)? {
                    DeletePlan::RemoveNull => {
                        drop_null_version(&tx, &bucket, &key, due_ms)?;
                        promote_newest(&tx, &bucket, &key)?;
                        DeleteOutcome {
                            version_id: None,
                            delete_marker: false,
                        }
                    }
                    DeletePlan::Marker(plan) => {
                        let marker = Write::marker(&key, &marker_seal_id, replica);
                        prepare_write(&tx, &record, &marker, &plan, 0, now_ms, due_ms)?;
                        tx.exec(
                            "INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest, size, etag,
                                 last_modified_ms, meta, replication_status)
                             VALUES (?1, ?2, ?3, ?4, 1, 1, 0, '', ?5, x'', ?6)",
                            params![bucket, key, plan.version_id, marker_seal_id, now_ms, plan.replication_status],
                        )?;
                        DeleteOutcome {
                            version_id: Some(plan.version_id),
                            delete_marker: true,
                        }
                    }
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn set_lock(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        change: LockChange,
        now_ms: i64,
    ) -> Result<VersionLock> {
        let (bucket, key, seal_id) = (bucket.to_owned(), key.to_owned(), seal_id.to_owned());
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            if require_bucket(&tx, &bucket)?.object_lock()?.is_none() {
                return Err(CatalogError::ObjectLockNotEnabled);
            }
            let (row, lock): (i64, Option<String>) = tx
                .row(
                    "SELECT row, object_lock FROM versions
                     WHERE bucket = ?1 AND key = ?2 AND seal_id = ?3 AND delete_marker = 0",
                    params![bucket, key, seal_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or(CatalogError::NoSuchKey)?;
            let lock = change.apply(lock_from_column(lock)?, now_ms)?;
            tx.exec(
                "UPDATE versions SET object_lock = ?2 WHERE row = ?1",
                params![row, lock_to_column(&lock)?],
            )?;
            tx.commit()?;
            Ok(lock)
        })
        .await
    }

    async fn compliance_locked_under(
        &self,
        key_arn: &str,
        now_ms: i64,
    ) -> Result<Option<LockedVersion>> {
        let key_arn = key_arn.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT bucket, key, version_id, object_lock, sse FROM versions
                 WHERE object_lock IS NOT NULL AND sse LIKE ?1",
            )?;
            let rows = stmt.query_map([semantics::sse_pattern(&key_arn)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            let mut found = None;
            for row in rows {
                let hold = semantics::compliance_hold(row?, &key_arn, now_ms)?;
                found = semantics::later_hold(found, hold);
            }
            Ok(found)
        })
        .await
    }

    async fn list_latest(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>> {
        let (bucket, prefix, delimiter) =
            (bucket.to_owned(), prefix.to_owned(), delimiter.to_owned());
        let start = start.clone();
        let codec = self.codec.clone();
        self.read(move |conn| {
            let tx = conn.savepoint()?;
            bucket_exists(&tx, &bucket)?;
            let mut walk = Walk::new(&prefix, &delimiter, limit);
            let mut out = Vec::new();
            while let Some((read, n)) = walk.next_read() {
                let range = KeyRange::new(&prefix, &read.key_start(&start));
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions
                     WHERE bucket = ?1 AND is_latest = 1 AND delete_marker = 0 AND {}
                     ORDER BY key LIMIT ?4",
                    range.condition("key", '?', 2, 3)
                ))?;
                let rows = stmt
                    .query_map(
                        params![bucket, range.lower, range.upper, n as i64],
                        version_from_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                walk.take(rows, n, |r| &r.key, |r| r.key.clone(), &mut out);
            }
            out.into_iter().map(|r| r.decode(&codec)).collect()
        })
        .await
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        version_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ListedVersion>> {
        let (bucket, prefix, delimiter) =
            (bucket.to_owned(), prefix.to_owned(), delimiter.to_owned());
        let start = start.clone();
        let version_marker = version_marker.map(str::to_owned);
        let codec = self.codec.clone();
        self.read(move |conn| {
            let tx = conn.savepoint()?;
            bucket_exists(&tx, &bucket)?;
            // Rows of the start key older than the marker version come first (none when the
            // marker names no version of it); without a marker the range alone decides.
            let marker_row = match (&start, &version_marker) {
                (KeyStart::After(key), Some(id)) => Some(
                    tx.row(
                        "SELECT row FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                        params![bucket, key, id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(i64::MIN),
                ),
                _ => None,
            };
            let mut walk: Walk<(String, i64)> = Walk::new(&prefix, &delimiter, limit);
            let mut out = Vec::new();
            while let Some((read, n)) = walk.next_read() {
                let (range, key, below_row) = read.bounds(&prefix, &start, marker_row, i64::MAX);
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions
                     WHERE bucket = ?1 AND {} AND (key > ?4 OR row < ?5)
                     ORDER BY key, row DESC LIMIT ?6",
                    range.condition("key", '?', 2, 3)
                ))?;
                let rows = stmt
                    .query_map(
                        params![bucket, range.lower, range.upper, key, below_row, n as i64],
                        version_from_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                walk.take(rows, n, |r| &r.key, |r| (r.key.clone(), r.row), &mut out);
            }
            out.into_iter().map(|r| r.decode(&codec)).collect()
        })
        .await
    }
}
