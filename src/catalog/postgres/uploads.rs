//! Multipart uploads and their parts in PostgreSQL. A change to an upload locks its row,
//! so two nodes storing the same part number, or completing and aborting at once, take
//! turns.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

use super::buckets::bucket_exists;
use super::gc::claim_pending_blobs;
use super::versions::{VERSION_COLUMNS, insert_version, version_from_row};
use super::{PART_COLUMNS, PgCatalog, limit, lock_for_write, part_from_row, part_number, to_i64};
use crate::catalog::codec::{RawUpload, lock_to_column, opt_to_json, to_json};
use crate::catalog::listing::Walk;
use crate::catalog::semantics::COMPLETED_UPLOAD_MEMORY_MS;
use crate::catalog::store::{CommitOutcome, Precondition, UploadStore};
use crate::catalog::{
    CatalogError, KeyStart, NewVersion, ObjectVersion, PartRecord, Result, Upload,
};

pub(super) const UPLOAD_COLUMNS: &str = "upload_id, bucket, key, seal_id, initiated_ms, meta, sse, wrapped_key, checksum_algorithm, checksum_type, seen, object_lock";

pub(super) fn upload_from_row(r: &PgRow) -> Result<RawUpload> {
    Ok(RawUpload {
        upload_id: r.try_get(0)?,
        bucket: r.try_get(1)?,
        key: r.try_get(2)?,
        seal_id: r.try_get(3)?,
        initiated_ms: r.try_get(4)?,
        meta: r.try_get(5)?,
        sse: r.try_get(6)?,
        wrapped_key: r.try_get(7)?,
        checksum_algorithm: r.try_get(8)?,
        checksum_type: r.try_get(9)?,
        seen: r.try_get(10)?,
        object_lock: r.try_get(11)?,
    })
}

/// Locks the upload's row until the transaction ends; fails with NoSuchUpload without it.
async fn lock_upload(tx: &mut PgConnection, upload_id: &str) -> Result<()> {
    sqlx::query("SELECT 1 FROM uploads WHERE upload_id = $1 FOR UPDATE")
        .bind(upload_id)
        .fetch_optional(tx)
        .await?
        .ok_or(CatalogError::NoSuchUpload)?;
    Ok(())
}

/// Queues the blobs of an upload's parts (those `except_row`'s version does not hold).
async fn queue_upload_parts(
    tx: &mut PgConnection,
    upload_id: &str,
    except_version_row: Option<i64>,
    due_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO blob_gc (blob, due_ms)
         SELECT blob, $2 FROM upload_parts WHERE upload_id = $1
             AND blob NOT IN (SELECT blob FROM version_parts WHERE version_row = $3)
         ON CONFLICT (blob) DO UPDATE SET due_ms = EXCLUDED.due_ms, node = NULL",
    )
    .bind(upload_id)
    .bind(due_ms)
    .bind(except_version_row.unwrap_or(-1))
    .execute(tx)
    .await?;
    Ok(())
}

#[async_trait]
impl UploadStore for PgCatalog {
    async fn create_upload(&self, upload: Upload) -> Result<()> {
        let meta = self
            .codec
            .seal(&upload.bucket, &upload.key, &upload.seal_id, &upload.meta)?;
        let mut conn = self.pool().acquire().await?;
        bucket_exists(&mut conn, &upload.bucket).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )))
        .bind(&upload.upload_id)
        .bind(&upload.bucket)
        .bind(&upload.key)
        .bind(&upload.seal_id)
        .bind(upload.initiated_ms)
        .bind(meta)
        .bind(to_json(&upload.sse)?)
        .bind(&upload.wrapped_key)
        .bind(&upload.checksum_algorithm)
        .bind(&upload.checksum_type)
        .bind(upload.seen.to_column())
        .bind(lock_to_column(&upload.lock)?)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn upload(&self, upload_id: &str) -> Result<Upload> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1"
        )))
        .bind(upload_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(CatalogError::NoSuchUpload)?;
        upload_from_row(&row)?.decode(&self.codec)
    }

    async fn put_part(&self, upload_id: &str, part: PartRecord, now_ms: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_upload(&mut tx, upload_id).await?;
        claim_pending_blobs(&mut tx, std::slice::from_ref(&part.blob), now_ms).await?;
        sqlx::query(
            "INSERT INTO blob_gc (blob, due_ms)
             SELECT blob, $3 FROM upload_parts WHERE upload_id = $1 AND part_number = $2
             ON CONFLICT (blob) DO UPDATE SET due_ms = EXCLUDED.due_ms, node = NULL",
        )
        .bind(upload_id)
        .bind(part_number(part.part_number)?)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO upload_parts (upload_id, {PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET blob = EXCLUDED.blob,
                 size = EXCLUDED.size, etag = EXCLUDED.etag, header = EXCLUDED.header,
                 checksum = EXCLUDED.checksum, last_modified_ms = EXCLUDED.last_modified_ms"
        )))
        .bind(upload_id)
        .bind(part_number(part.part_number)?)
        .bind(&part.blob)
        .bind(to_i64(part.size))
        .bind(&part.etag)
        .bind(&part.header)
        .bind(opt_to_json(&part.checksum)?)
        .bind(part.last_modified_ms)
        .execute(&mut *tx)
        .await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<PartRecord>> {
        let mut conn = self.pool().acquire().await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM uploads WHERE upload_id = $1)")
                .bind(upload_id)
                .fetch_one(&mut *conn)
                .await?;
        if !exists {
            return Err(CatalogError::NoSuchUpload);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = $1 AND part_number > $2
             ORDER BY part_number LIMIT $3"
        )))
        .bind(upload_id)
        .bind(i64::from(after))
        .bind(limit(max))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(|r| part_from_row(r)?.decode()).collect()
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> Result<Vec<Upload>> {
        let mut conn = self.pool().acquire().await?;
        bucket_exists(&mut conn, bucket).await?;
        let mut walk: Walk<(String, String)> = Walk::new(prefix, delimiter, max);
        let mut out = Vec::new();
        while let Some((read, n)) = walk.next_read() {
            // The start key's uploads with an id above `id_after` come first (every id sorts
            // above ""); then the keys after it.
            let (range, key, id_after) = read.bounds(
                prefix,
                start,
                upload_id_marker.map(str::to_owned),
                String::new(),
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads
                 WHERE bucket = $1 AND {} AND (key > $4 OR upload_id > $5)
                 ORDER BY key, upload_id LIMIT $6",
                range.condition("key", '$', 2, 3)
            )))
            .bind(bucket)
            .bind(&range.lower)
            .bind(&range.upper)
            .bind(&key)
            .bind(&id_after)
            .bind(limit(n))
            .fetch_all(&mut *conn)
            .await?;
            let rows = rows
                .iter()
                .map(upload_from_row)
                .collect::<Result<Vec<_>>>()?;
            walk.take(
                rows,
                n,
                |u| &u.key,
                |u| (u.key.clone(), u.upload_id.clone()),
                &mut out,
            );
        }
        out.into_iter().map(|u| u.decode(&self.codec)).collect()
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        version: NewVersion,
        precondition: Precondition,
        now_ms: i64,
    ) -> Result<CommitOutcome> {
        let mut tx = self.pool().begin().await?;
        lock_upload(&mut tx, upload_id).await?;
        lock_for_write(&mut tx, &version.bucket, &version.key).await?;
        let (out, row) = insert_version(
            &mut tx,
            &self.codec,
            &version,
            &precondition,
            now_ms + self.read_grace_ms,
        )
        .await?;
        queue_upload_parts(&mut tx, upload_id, Some(row), now_ms).await?;
        sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM completed_uploads WHERE completed_ms < $1")
            .bind(now_ms - COMPLETED_UPLOAD_MEMORY_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO completed_uploads (upload_id, bucket, key, seal_id, completed_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(upload_id)
        .bind(&version.bucket)
        .bind(&version.key)
        .bind(&version.seal_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        super::commit(tx).await?;
        Ok(out)
    }

    async fn abort_upload(&self, upload_id: &str, now_ms: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_upload(&mut tx, upload_id).await?;
        queue_upload_parts(&mut tx, upload_id, None, now_ms).await?;
        sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn completed_upload(&self, upload_id: &str) -> Result<Option<ObjectVersion>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions
             WHERE (bucket, key, seal_id) =
                 (SELECT bucket, key, seal_id FROM completed_uploads WHERE upload_id = $1)
               AND NOT delete_marker"
        )))
        .bind(upload_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| version_from_row(&r)?.decode(&self.codec))
            .transpose()
    }
}
