//! Multipart uploads and their parts: created, listed, completed into a version in one
//! transaction (the parts not chosen are queued for collection), or aborted.

use rusqlite::{OptionalExtension, params};

use super::buckets::require_bucket;
use super::versions::insert_version;
use super::{
    Catalog, CatalogError, CommitOutcome, MetaCodec, NewVersion, PART_COLUMNS, PartRecord,
    Precondition, Result, Upload, decode_part, from_json, opt_to_json, part_from_row, to_json,
};

const UPLOAD_COLUMNS: &str = "upload_id, bucket, key, seal_id, initiated_ms, meta, sse, wrapped_key, checksum_algorithm, checksum_type";

type RawUpload = (
    String,
    String,
    String,
    String,
    i64,
    Vec<u8>,
    String,
    Vec<u8>,
    Option<String>,
    Option<String>,
);

fn upload_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawUpload> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn decode_upload(raw: RawUpload, codec: &MetaCodec) -> Result<Upload> {
    let (
        upload_id,
        bucket,
        key,
        seal_id,
        initiated_ms,
        meta,
        sse,
        wrapped_key,
        checksum_algorithm,
        checksum_type,
    ) = raw;
    Ok(Upload {
        meta: codec.open(&bucket, &key, &seal_id, &meta)?,
        sse: from_json(&sse)?,
        upload_id,
        bucket,
        key,
        seal_id,
        initiated_ms,
        wrapped_key,
        checksum_algorithm,
        checksum_type,
    })
}

/// The upload's row, undecoded: callers that only check existence skip the unsealing.
fn require_upload(conn: &rusqlite::Connection, upload_id: &str) -> Result<RawUpload> {
    conn.query_row(
        &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?1"),
        [upload_id],
        upload_from_row,
    )
    .optional()?
    .ok_or(CatalogError::NoSuchUpload)
}

fn queue_upload_parts(tx: &rusqlite::Connection, upload_id: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO blob_gc (blob, due_ms) SELECT blob, ?2 FROM upload_parts WHERE upload_id = ?1",
        params![upload_id, now_ms],
    )?;
    Ok(())
}

impl Catalog {
    pub async fn create_upload(&self, upload: Upload) -> Result<()> {
        let meta = self
            .codec
            .seal(&upload.bucket, &upload.key, &upload.seal_id, &upload.meta)?;
        self.call(move |conn| {
            require_bucket(conn, &upload.bucket)?;
            conn.execute(
                &format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
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
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn upload(&self, upload_id: &str) -> Result<Upload> {
        let upload_id = upload_id.to_owned();
        let raw = self
            .read(move |conn| require_upload(conn, &upload_id))
            .await?;
        decode_upload(raw, &self.codec)
    }

    /// Records an uploaded part; a part uploaded again under the same number replaces the
    /// earlier one, whose blob is queued for collection.
    pub async fn put_part(&self, upload_id: &str, part: PartRecord, now_ms: i64) -> Result<()> {
        let upload_id = upload_id.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            require_upload(&tx, &upload_id)?;
            tx.execute(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms)
                 SELECT blob, ?3 FROM upload_parts WHERE upload_id = ?1 AND part_number = ?2",
                params![upload_id, part.part_number, now_ms],
            )?;
            tx.execute(
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
            tx.execute("DELETE FROM blob_gc WHERE blob = ?1", [&part.blob])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Parts with a number above `after`, ascending.
    pub async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let upload_id = upload_id.to_owned();
        self.read(move |conn| {
            require_upload(conn, &upload_id)?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = ?1 AND part_number > ?2
                 ORDER BY part_number LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(params![upload_id, after, limit as i64], part_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(decode_part).collect()
        })
        .await
    }

    /// Unfinished uploads of a bucket ordered by (key, upload id), after the markers.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<Upload>> {
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        let (key_marker, upload_id_marker) = (key_marker.to_owned(), upload_id_marker.to_owned());
        let codec = self.codec.clone();
        self.read(move |conn| {
            require_bucket(conn, &bucket)?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads
                 WHERE bucket = ?1 AND (key > ?2 OR (key = ?2 AND upload_id > ?3)) AND key >= ?4
                 ORDER BY key, upload_id LIMIT ?5"
            ))?;
            let rows = stmt
                .query_map(
                    params![bucket, key_marker, upload_id_marker, prefix, limit as i64],
                    upload_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .filter(|r| r.2.starts_with(&prefix))
                .map(|r| decode_upload(r, &codec))
                .collect()
        })
        .await
    }

    /// Turns an upload into a version in one transaction: the chosen parts become the
    /// version's, the others are queued for collection, and the upload disappears.
    pub async fn complete_upload(
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
            tx.execute(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms)
                 SELECT blob, ?2 FROM upload_parts
                 WHERE upload_id = ?1 AND blob NOT IN (SELECT blob FROM version_parts WHERE version_row =
                     (SELECT row FROM versions WHERE bucket = ?3 AND key = ?4 AND is_latest = 1))",
                params![upload_id, now_ms, version.bucket, version.key],
            )?;
            tx.execute("DELETE FROM uploads WHERE upload_id = ?1", [&upload_id])?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub async fn abort_upload(&self, upload_id: &str, now_ms: i64) -> Result<()> {
        let upload_id = upload_id.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            require_upload(&tx, &upload_id)?;
            queue_upload_parts(&tx, &upload_id, now_ms)?;
            tx.execute("DELETE FROM uploads WHERE upload_id = ?1", [&upload_id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ObjectMeta, Sse};

    fn part(n: u32, blob: &str) -> PartRecord {
        PartRecord {
            part_number: n,
            blob: blob.into(),
            size: 5,
            etag: format!("e{n}"),
            header: vec![n as u8],
            checksum: None,
            last_modified_ms: 1,
        }
    }

    fn upload(id: &str) -> Upload {
        Upload {
            upload_id: id.into(),
            bucket: "b".into(),
            key: "k".into(),
            seal_id: "seal".into(),
            initiated_ms: 1,
            meta: ObjectMeta::default(),
            sse: Sse::S3,
            wrapped_key: vec![9],
            checksum_algorithm: None,
            checksum_type: None,
        }
    }

    #[tokio::test]
    async fn parts_replace_complete_and_collect() {
        let c = Catalog::in_memory();
        c.create_bucket("b", "r", 0).await.unwrap();
        c.create_upload(upload("u1")).await.unwrap();
        for (n, blob) in [(1, "p1a"), (1, "p1b"), (2, "p2"), (3, "p3")] {
            c.register_pending_blob(blob, 1_000).await.unwrap();
            c.put_part("u1", part(n, blob), 5).await.unwrap();
        }
        assert_eq!(c.due_blobs(10, 10).await.unwrap(), vec!["p1a".to_string()]);
        let parts = c.list_parts("u1", 0, 100).await.unwrap();
        assert_eq!(
            parts.iter().map(|p| p.blob.as_str()).collect::<Vec<_>>(),
            vec!["p1b", "p2", "p3"]
        );
        assert_eq!(c.list_parts("u1", 1, 1).await.unwrap()[0].part_number, 2);
        assert_eq!(c.list_uploads("b", "", "", "", 10).await.unwrap().len(), 1);
        // Complete with parts 1 and 2 only: part 3's blob becomes garbage.
        let v = NewVersion {
            bucket: "b".into(),
            key: "k".into(),
            seal_id: "seal".into(),
            size: 10,
            etag: "x-2".into(),
            last_modified_ms: 6,
            meta: ObjectMeta::default(),
            sse: Sse::S3,
            checksum: None,
            parts_count: Some(2),
            replica: false,
            parts: parts[..2].to_vec(),
        };
        c.complete_upload("u1", v, Precondition::None, 6)
            .await
            .unwrap();
        let mut due = c.due_blobs(10, 10).await.unwrap();
        due.sort();
        assert_eq!(due, vec!["p1a".to_string(), "p3".to_string()]);
        assert!(matches!(
            c.upload("u1").await,
            Err(CatalogError::NoSuchUpload)
        ));
        let ver = c.version("b", "k", None).await.unwrap();
        assert_eq!(c.parts(ver.row).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn abort_collects_every_part_and_unknown_uploads_are_refused() {
        let c = Catalog::in_memory();
        c.create_bucket("b", "r", 0).await.unwrap();
        c.create_upload(upload("u1")).await.unwrap();
        c.put_part("u1", part(1, "a"), 1).await.unwrap();
        c.abort_upload("u1", 2).await.unwrap();
        assert_eq!(c.due_blobs(2, 10).await.unwrap(), vec!["a".to_string()]);
        assert!(matches!(
            c.put_part("u1", part(2, "b"), 3).await,
            Err(CatalogError::NoSuchUpload)
        ));
        assert!(matches!(
            c.abort_upload("u1", 3).await,
            Err(CatalogError::NoSuchUpload)
        ));
    }

    #[tokio::test]
    async fn pending_blobs_expire_at_restart() {
        let c = Catalog::in_memory();
        c.register_pending_blob("orphan", 10_000).await.unwrap();
        assert!(c.due_blobs(5, 10).await.unwrap().is_empty());
        c.expire_pending_blobs(5).await.unwrap();
        assert_eq!(
            c.due_blobs(5, 10).await.unwrap(),
            vec!["orphan".to_string()]
        );
        c.forget_blobs(vec!["orphan".into()]).await.unwrap();
        assert!(c.due_blobs(i64::MAX, 10).await.unwrap().is_empty());
    }
}
