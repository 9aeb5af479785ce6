//! Multipart uploads and their parts in SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::Cached as _;
use super::buckets::require_bucket;
use super::gc::claim_pending_blob;
use super::versions::{VERSION_COLUMNS, insert_version, version_from_row};
use super::{PART_COLUMNS, SqliteCatalog, part_from_row};
use crate::catalog::codec::{RawUpload, lock_to_column, opt_to_json, to_json};
use crate::catalog::listing::Walk;
use crate::catalog::semantics::COMPLETED_UPLOAD_MEMORY_MS;
use crate::catalog::store::{CommitOutcome, Precondition, UploadStore};
use crate::catalog::{
    CatalogError, KeyStart, NewVersion, ObjectVersion, PartRecord, Result, Upload,
};

pub(super) const UPLOAD_COLUMNS: &str = "upload_id, bucket, key, seal_id, initiated_ms, meta, sse, wrapped_key, checksum_algorithm, checksum_type, seen, object_lock";

pub(super) fn upload_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawUpload> {
    Ok(RawUpload {
        upload_id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        seal_id: r.get(3)?,
        initiated_ms: r.get(4)?,
        meta: r.get(5)?,
        sse: r.get(6)?,
        wrapped_key: r.get(7)?,
        checksum_algorithm: r.get(8)?,
        checksum_type: r.get(9)?,
        seen: r.get(10)?,
        object_lock: r.get(11)?,
    })
}

/// The upload's row, undecoded: callers that only check existence skip the unsealing.
fn require_upload(conn: &rusqlite::Connection, upload_id: &str) -> Result<RawUpload> {
    conn.row(
        &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?1"),
        [upload_id],
        upload_from_row,
    )
    .optional()?
    .ok_or(CatalogError::NoSuchUpload)
}

fn queue_upload_parts(tx: &rusqlite::Connection, upload_id: &str, now_ms: i64) -> Result<()> {
    tx.exec(
        "INSERT OR REPLACE INTO blob_gc (blob, due_ms) SELECT blob, ?2 FROM upload_parts WHERE upload_id = ?1",
        params![upload_id, now_ms],
    )?;
    Ok(())
}

#[async_trait]
impl UploadStore for SqliteCatalog {
    async fn create_upload(&self, upload: Upload) -> Result<()> {
        let meta = self
            .codec
            .seal(&upload.bucket, &upload.key, &upload.seal_id, &upload.meta)?;
        self.call(move |conn| {
            require_bucket(conn, &upload.bucket)?;
            conn.exec(
                &format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                params![
                    upload.upload_id,
                    upload.bucket,
                    upload.key,
                    upload.seal_id,
                    upload.initiated_ms,
                    meta,
                    to_json(&upload.sse)?,
                    upload.wrapped_key,
                    upload.checksum_algorithm,
                    upload.checksum_type,
                    upload.seen.to_column(),
                    lock_to_column(&upload.lock)?,
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn upload(&self, upload_id: &str) -> Result<Upload> {
        let upload_id = upload_id.to_owned();
        let raw = self
            .read(move |conn| require_upload(conn, &upload_id))
            .await?;
        raw.decode(&self.codec)
    }

    async fn put_part(&self, upload_id: &str, part: PartRecord, now_ms: i64) -> Result<()> {
        let upload_id = upload_id.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            require_upload(&tx, &upload_id)?;
            tx.exec(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms)
                 SELECT blob, ?3 FROM upload_parts WHERE upload_id = ?1 AND part_number = ?2",
                params![upload_id, part.part_number, now_ms],
            )?;
            tx.exec(
                &format!("INSERT OR REPLACE INTO upload_parts (upload_id, {PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    upload_id,
                    part.part_number,
                    part.blob,
                    part.size as i64,
                    part.etag,
                    part.header,
                    opt_to_json(&part.checksum)?,
                    part.last_modified_ms
                ],
            )?;
            claim_pending_blob(&tx, &part.blob, now_ms)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let upload_id = upload_id.to_owned();
        self.read(move |conn| {
            require_upload(conn, &upload_id)?;
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = ?1 AND part_number > ?2
                 ORDER BY part_number LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(params![upload_id, after, limit as i64], part_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(|p| p.decode()).collect()
        })
        .await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        upload_id_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Upload>> {
        let (bucket, prefix, delimiter) =
            (bucket.to_owned(), prefix.to_owned(), delimiter.to_owned());
        let start = start.clone();
        let id_marker = upload_id_marker.map(str::to_owned);
        let codec = self.codec.clone();
        self.read(move |conn| {
            require_bucket(conn, &bucket)?;
            let mut walk: Walk<(String, String)> = Walk::new(&prefix, &delimiter, limit);
            let mut out = Vec::new();
            while let Some((read, n)) = walk.next_read() {
                // The start key's uploads with an id above `id_after` come first (every id
                // sorts above ""); then the keys after it.
                let (range, key, id_after) =
                    read.bounds(&prefix, &start, id_marker.clone(), String::new());
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads
                     WHERE bucket = ?1 AND {} AND (key > ?4 OR upload_id > ?5)
                     ORDER BY key, upload_id LIMIT ?6",
                    range.condition("key", '?', 2, 3)
                ))?;
                let rows = stmt
                    .query_map(
                        params![bucket, range.lower, range.upper, key, id_after, n as i64],
                        upload_from_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                walk.take(
                    rows,
                    n,
                    |u| &u.key,
                    |u| (u.key.clone(), u.upload_id.clone()),
                    &mut out,
                );
            }
            out.into_iter().map(|r| r.decode(&codec)).collect()
        })
        .await
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        version: NewVersion,
        precondition: Precondition,
        now_ms: i64,
    ) -> Result<CommitOutcome> {
        let upload_id = upload_id.to_owned();
        let codec = self.codec.clone();
        let grace = self.read_grace_ms;
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            require_upload(&tx, &upload_id)?;
            let out = insert_version(&tx, &codec, &version, &precondition, now_ms + grace)?;
            tx.exec(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms)
                 SELECT blob, ?2 FROM upload_parts
                 WHERE upload_id = ?1 AND blob NOT IN (SELECT blob FROM version_parts WHERE version_row =
                     (SELECT row FROM versions WHERE bucket = ?3 AND key = ?4 AND is_latest = 1))",
                params![upload_id, now_ms, version.bucket, version.key],
            )?;
            tx.exec("DELETE FROM uploads WHERE upload_id = ?1", [&upload_id])?;
            tx.exec(
                "DELETE FROM completed_uploads WHERE completed_ms < ?1",
                [now_ms - COMPLETED_UPLOAD_MEMORY_MS],
            )?;
            tx.exec(
                "INSERT INTO completed_uploads (upload_id, bucket, key, seal_id, completed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![upload_id, version.bucket, version.key, version.seal_id, now_ms],
            )?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn abort_upload(&self, upload_id: &str, now_ms: i64) -> Result<()> {
        let upload_id = upload_id.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            require_upload(&tx, &upload_id)?;
            queue_upload_parts(&tx, &upload_id, now_ms)?;
            tx.exec("DELETE FROM uploads WHERE upload_id = ?1", [&upload_id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn completed_upload(&self, upload_id: &str) -> Result<Option<ObjectVersion>> {
        let upload_id = upload_id.to_owned();
        let raw = self
            .read(move |conn| {
                Ok(conn
                    .row(
                        &format!(
                            "SELECT {VERSION_COLUMNS} FROM versions
                             WHERE (bucket, key, seal_id) =
                                 (SELECT bucket, key, seal_id FROM completed_uploads WHERE upload_id = ?1)
                               AND delete_marker = 0"
                        ),
                        [&upload_id],
                        version_from_row,
                    )
                    .optional()?)
            })
            .await?;
        raw.map(|r| r.decode(&self.codec)).transpose()
    }
}
