//! Object versions in PostgreSQL. A write holds its bucket's lock shared and its key's lock
//! exclusively, then reads what S3's rules ([`crate::catalog::semantics`]) need, asks, and
//! applies the answer, all in one transaction.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

use super::buckets::{bucket_exists, require_bucket};
use super::gc::claim_pending_blobs;
use super::replication::{insert_task, latest_task};
use super::{PART_COLUMNS, PgCatalog, limit, lock_for_write, part_from_row, part_number, to_i64};
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

pub(super) fn version_from_row(row: &PgRow) -> Result<RawVersion> {
    Ok(RawVersion {
        row: row.try_get(0)?,
        bucket: row.try_get(1)?,
        key: row.try_get(2)?,
        version_id: row.try_get(3)?,
        seal_id: row.try_get(4)?,
        delete_marker: row.try_get(5)?,
        is_latest: row.try_get(6)?,
        size: row.try_get(7)?,
        etag: row.try_get(8)?,
        last_modified_ms: row.try_get(9)?,
        meta: row.try_get(10)?,
        sse: row.try_get(11)?,
        checksum: row.try_get(12)?,
        parts_count: row.try_get::<Option<i32>, _>(13)?.map(i64::from),
        replication_status: row.try_get(14)?,
        object_lock: row.try_get(15)?,
    })
}

async fn check_precondition(
    tx: &mut PgConnection,
    bucket: &str,
    key: &str,
    pre: &Precondition,
) -> Result<()> {
    if pre.is_none() {
        return Ok(());
    }
    let latest: Option<(String, String, bool)> = sqlx::query_as(
        "SELECT seal_id, etag, delete_marker FROM versions
         WHERE bucket = $1 AND key = $2 AND is_latest",
    )
    .bind(bucket)
    .bind(key)
    .fetch_optional(tx)
    .await?;
    let latest = latest.map(|(seal_id, etag, marker)| semantics::Latest {
        seal_id,
        etag: (!marker).then_some(etag),
    });
    semantics::check_precondition(pre, latest.as_ref())
}

/// Queues every blob of a version for collection at `due_ms` and removes the version.
async fn drop_version(tx: &mut PgConnection, row: i64, due_ms: i64) -> Result<()> {
    sqlx::query(
        "WITH gone AS (DELETE FROM versions WHERE row = $1 RETURNING row)
         INSERT INTO blob_gc (blob, due_ms)
         SELECT p.blob, $2 FROM version_parts p JOIN gone ON p.version_row = gone.row
         ON CONFLICT (blob) DO UPDATE SET due_ms = EXCLUDED.due_ms, node = NULL",
    )
    .bind(row)
    .bind(due_ms)
    .execute(tx)
    .await?;
    Ok(())
}

/// Removes the key's "null" version, if any, queueing its blobs.
async fn drop_null_version(
    tx: &mut PgConnection,
    bucket: &str,
    key: &str,
    due_ms: i64,
) -> Result<()> {
    sqlx::query(
        "WITH gone AS (
             DELETE FROM versions WHERE bucket = $1 AND key = $2 AND version_id = 'null'
             RETURNING row)
         INSERT INTO blob_gc (blob, due_ms)
         SELECT p.blob, $3 FROM version_parts p JOIN gone ON p.version_row = gone.row
         ON CONFLICT (blob) DO UPDATE SET due_ms = EXCLUDED.due_ms, node = NULL",
    )
    .bind(bucket)
    .bind(key)
    .bind(due_ms)
    .execute(tx)
    .await?;
    Ok(())
}

/// The key's latest version stops being latest: noncurrent from `now_ms`, as lifecycle's
/// NoncurrentDays count.
async fn demote_latest(tx: &mut PgConnection, bucket: &str, key: &str, now_ms: i64) -> Result<()> {
    sqlx::query(
        "UPDATE versions SET is_latest = FALSE, noncurrent_ms = $3
         WHERE bucket = $1 AND key = $2 AND is_latest",
    )
    .bind(bucket)
    .bind(key)
    .bind(now_ms)
    .execute(tx)
    .await?;
    Ok(())
}

/// Applies what a write replaces and queues: the "null" version it replaces goes, the
/// key's latest stops being latest, and a matched rule's task is queued.
#[allow(
    clippy::too_many_arguments,
    reason = "the plan and what it is applied to"
)]
async fn prepare_write(
    tx: &mut PgConnection,
    bucket: &Bucket,
    write: &Write<'_>,
    plan: &WritePlan,
    size: u64,
    now_ms: i64,
    gc_due_ms: i64,
) -> Result<()> {
    if plan.replaces_null {
        drop_null_version(tx, &bucket.name, write.key, gc_due_ms).await?;
    }
    demote_latest(tx, &bucket.name, write.key, now_ms).await?;
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
        )
        .await?;
    }
    Ok(())
}

/// Inserts a version as the latest of its key, in a transaction that holds
/// [`lock_for_write`], and answers its row.
pub(super) async fn insert_version(
    tx: &mut PgConnection,
    codec: &MetaCodec,
    v: &NewVersion,
    precondition: &Precondition,
    gc_due_ms: i64,
) -> Result<(CommitOutcome, i64)> {
    check_precondition(tx, &v.bucket, &v.key, precondition).await?;
    let bucket = require_bucket(tx, &v.bucket).await?;
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
    )
    .await?;
    let mut parts = PartColumns::default();
    for p in &v.parts {
        parts.number.push(part_number(p.part_number)?);
        parts.blob.push(p.blob.clone());
        parts.size.push(to_i64(p.size));
        parts.etag.push(p.etag.clone());
        parts.header.push(p.header.clone());
        parts.checksum.push(opt_to_json(&p.checksum)?);
        parts.last_modified_ms.push(p.last_modified_ms);
    }
    // The version and its parts in one round trip.
    let row: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH v AS (
             INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest,
                 size, etag, last_modified_ms, meta, sse, checksum, parts_count,
                 replication_status, object_lock)
             VALUES ($1, $2, $3, $4, FALSE, TRUE, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING row),
         parts AS (
             INSERT INTO version_parts (version_row, {PART_COLUMNS})
             SELECT v.row, p.* FROM v,
                 unnest($14::int[], $15::text[], $16::bigint[], $17::text[], $18::bytea[],
                     $19::text[], $20::bigint[]) AS p)
         SELECT row FROM v"
    )))
    .bind(&v.bucket)
    .bind(&v.key)
    .bind(&plan.version_id)
    .bind(&v.seal_id)
    .bind(to_i64(v.size))
    .bind(&v.etag)
    .bind(v.last_modified_ms)
    .bind(codec.seal(&v.bucket, &v.key, &v.seal_id, &v.meta)?)
    .bind(to_json(&v.sse)?)
    .bind(opt_to_json(&v.checksum)?)
    .bind(v.parts_count.map(part_number).transpose()?)
    .bind(plan.replication_status)
    .bind(lock_to_column(&plan.lock)?)
    .bind(&parts.number)
    .bind(&parts.blob)
    .bind(&parts.size)
    .bind(&parts.etag)
    .bind(&parts.header)
    .bind(&parts.checksum)
    .bind(&parts.last_modified_ms)
    .fetch_one(&mut *tx)
    .await?;
    Ok((
        CommitOutcome {
            version_id: plan.version_id,
        },
        row,
    ))
}

/// The parts of a version as columns, for `unnest`.
#[derive(Default)]
struct PartColumns {
    number: Vec<i32>,
    blob: Vec<String>,
    size: Vec<i64>,
    etag: Vec<String>,
    header: Vec<Vec<u8>>,
    checksum: Vec<Option<String>>,
    last_modified_ms: Vec<i64>,
}

/// After the latest version of a key was removed, the newest remaining one becomes latest.
async fn promote_newest(tx: &mut PgConnection, bucket: &str, key: &str) -> Result<()> {
    sqlx::query(
        "UPDATE versions SET is_latest = TRUE, noncurrent_ms = NULL WHERE row =
            (SELECT MAX(row) FROM versions WHERE bucket = $1 AND key = $2)",
    )
    .bind(bucket)
    .bind(key)
    .execute(tx)
    .await?;
    Ok(())
}

/// DeleteObject with a version id: that version goes for good, if its lock allows.
async fn delete_version(
    tx: &mut PgConnection,
    bucket: &str,
    key: &str,
    id: &str,
    removal: Removal,
) -> Result<DeleteOutcome> {
    let found = sqlx::query(
        "SELECT row, delete_marker, is_latest, object_lock FROM versions
         WHERE bucket = $1 AND key = $2 AND version_id = $3",
    )
    .bind(bucket)
    .bind(key)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let mut delete_marker = false;
    if let Some(found) = found {
        let (row, is_marker, is_latest): (i64, bool, bool) =
            (found.try_get(0)?, found.try_get(1)?, found.try_get(2)?);
        lock_from_column(found.try_get(3)?)?
            .check_removal(removal.now_ms, removal.bypass_governance)?;
        drop_version(tx, row, removal.due_ms).await?;
        if is_latest {
            promote_newest(tx, bucket, key).await?;
        }
        delete_marker = is_marker;
    }
    Ok(DeleteOutcome {
        version_id: Some(id.to_owned()),
        delete_marker,
    })
}

#[async_trait]
impl VersionStore for PgCatalog {
    async fn commit_version(
        &self,
        v: NewVersion,
        precondition: Precondition,
        now_ms: i64,
    ) -> Result<CommitOutcome> {
        let mut tx = self.pool().begin().await?;
        lock_for_write(&mut tx, &v.bucket, &v.key).await?;
        let (out, _) = insert_version(
            &mut tx,
            &self.codec,
            &v,
            &precondition,
            now_ms + self.read_grace_ms,
        )
        .await?;
        let blobs: Vec<String> = v.parts.iter().map(|p| p.blob.clone()).collect();
        claim_pending_blobs(&mut tx, &blobs, now_ms).await?;
        super::commit(tx).await?;
        Ok(out)
    }

    async fn version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion> {
        let mut conn = self.pool().acquire().await?;
        bucket_exists(&mut conn, bucket).await?;
        let found = match version_id {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = $1 AND key = $2 AND is_latest"
                )))
                .bind(bucket)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?
            }
            Some(id) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3"
                )))
                .bind(bucket)
                .bind(key)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
            }
        };
        match found {
            Some(row) => version_from_row(&row)?.decode(&self.codec),
            None if version_id.is_some() => Err(CatalogError::NoSuchVersion),
            None => Err(CatalogError::NoSuchKey),
        }
    }

    async fn parts(&self, version_row: i64) -> Result<Vec<PartRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PART_COLUMNS} FROM version_parts WHERE version_row = $1 ORDER BY part_number"
        )))
        .bind(version_row)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| part_from_row(r)?.decode()).collect()
    }

    async fn set_meta(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        change: MetaChange,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        // The row lock orders concurrent taggings of the version, and a task's end with them.
        let found = sqlx::query(
            "SELECT row, meta, version_id, replication_status FROM versions
             WHERE bucket = $1 AND key = $2 AND seal_id = $3 AND NOT delete_marker FOR UPDATE",
        )
        .bind(bucket)
        .bind(key)
        .bind(seal_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CatalogError::NoSuchKey)?;
        let row: i64 = found.try_get(0)?;
        let sealed: Vec<u8> = found.try_get(1)?;
        let version_id: String = found.try_get(2)?;
        let status: Option<String> = found.try_get(3)?;
        let replicates = semantics::meta_change_replicates(&change, status.as_deref());
        let meta = self.codec.reseal(bucket, key, seal_id, &sealed, change)?;
        sqlx::query("UPDATE versions SET meta = $2 WHERE row = $1")
            .bind(row)
            .bind(meta)
            .execute(&mut *tx)
            .await?;
        if replicates && let Some(task) = latest_task(&mut tx, bucket, key, &version_id).await? {
            // Only the tags travel: no bytes to send.
            insert_task(&mut tx, bucket, key, &version_id, false, &task, 0, now_ms).await?;
            sqlx::query("UPDATE versions SET replication_status = 'PENDING' WHERE row = $1")
                .bind(row)
                .execute(&mut *tx)
                .await?;
        }
        super::commit(tx).await?;
        Ok(())
    }

    async fn set_lock(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        change: LockChange,
        now_ms: i64,
    ) -> Result<VersionLock> {
        let mut tx = self.pool().begin().await?;
        // The key's lock orders the change with deletes of the key's versions.
        lock_for_write(&mut tx, bucket, key).await?;
        if require_bucket(&mut tx, bucket)
            .await?
            .object_lock()?
            .is_none()
        {
            return Err(CatalogError::ObjectLockNotEnabled);
        }
        let found = sqlx::query(
            "SELECT row, object_lock FROM versions
             WHERE bucket = $1 AND key = $2 AND seal_id = $3 AND NOT delete_marker",
        )
        .bind(bucket)
        .bind(key)
        .bind(seal_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CatalogError::NoSuchKey)?;
        let row: i64 = found.try_get(0)?;
        let lock = change.apply(lock_from_column(found.try_get(1)?)?, now_ms)?;
        sqlx::query("UPDATE versions SET object_lock = $2 WHERE row = $1")
            .bind(row)
            .bind(lock_to_column(&lock)?)
            .execute(&mut *tx)
            .await?;
        super::commit(tx).await?;
        Ok(lock)
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
        let mut tx = self.pool().begin().await?;
        lock_for_write(&mut tx, bucket, key).await?;
        let record = require_bucket(&mut tx, bucket).await?;
        check_precondition(&mut tx, bucket, key, precondition).await?;
        let due_ms = now_ms + self.read_grace_ms;
        let outcome = if let Some(id) = version_id {
            let removal = Removal {
                now_ms,
                due_ms,
                bypass_governance,
            };
            delete_version(&mut tx, bucket, key, id, removal).await?
        } else {
            match semantics::plan_delete(&record, key, marker_seal_id, replica)? {
                DeletePlan::RemoveNull => {
                    drop_null_version(&mut tx, bucket, key, due_ms).await?;
                    promote_newest(&mut tx, bucket, key).await?;
                    DeleteOutcome {
                        version_id: None,
                        delete_marker: false,
                    }
                }
                DeletePlan::Marker(plan) => {
                    let marker = Write::marker(key, marker_seal_id, replica);
                    prepare_write(&mut tx, &record, &marker, &plan, 0, now_ms, due_ms).await?;
                    sqlx::query(
                        "INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest,
                             size, etag, last_modified_ms, meta, replication_status)
                         VALUES ($1, $2, $3, $4, TRUE, TRUE, 0, '', $5, '\\x'::bytea, $6)",
                    )
                    .bind(bucket)
                    .bind(key)
                    .bind(&plan.version_id)
                    .bind(marker_seal_id)
                    .bind(now_ms)
                    .bind(plan.replication_status)
                    .execute(&mut *tx)
                    .await?;
                    DeleteOutcome {
                        version_id: Some(plan.version_id),
                        delete_marker: true,
                    }
                }
            }
        };
        super::commit(tx).await?;
        Ok(outcome)
    }

    async fn compliance_locked_under(
        &self,
        key_arn: &str,
        now_ms: i64,
    ) -> Result<Option<LockedVersion>> {
        use futures::TryStreamExt as _;
        let pattern = semantics::sse_pattern(key_arn);
        let mut rows =
            sqlx::query_as::<_, (String, String, String, Option<String>, Option<String>)>(
                "SELECT bucket, key, version_id, object_lock, sse FROM versions
             WHERE object_lock IS NOT NULL AND sse LIKE $1",
            )
            .bind(&pattern)
            .fetch(self.pool());
        let mut found = None;
        while let Some(row) = rows.try_next().await? {
            let hold = semantics::compliance_hold(row, key_arn, now_ms)?;
            found = semantics::later_hold(found, hold);
        }
        Ok(found)
    }

    async fn list_latest(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        max: usize,
    ) -> Result<Vec<ObjectVersion>> {
        let mut conn = self.pool().acquire().await?;
        bucket_exists(&mut conn, bucket).await?;
        let mut walk: Walk<String> = Walk::new(prefix, delimiter, max);
        let mut out = Vec::new();
        while let Some((read, n)) = walk.next_read() {
            let range = KeyRange::new(prefix, &read.key_start(start));
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {VERSION_COLUMNS} FROM versions
                 WHERE bucket = $1 AND is_latest AND NOT delete_marker AND {}
                 ORDER BY key LIMIT $4",
                range.condition("key", '$', 2, 3)
            )))
            .bind(bucket)
            .bind(&range.lower)
            .bind(&range.upper)
            .bind(limit(n))
            .fetch_all(&mut *conn)
            .await?;
            let rows = rows
                .iter()
                .map(version_from_row)
                .collect::<Result<Vec<_>>>()?;
            walk.take(rows, n, |r| &r.key, |r| r.key.clone(), &mut out);
        }
        out.into_iter().map(|r| r.decode(&self.codec)).collect()
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        version_marker: Option<&str>,
        max: usize,
    ) -> Result<Vec<ListedVersion>> {
        let mut conn = self.pool().acquire().await?;
        bucket_exists(&mut conn, bucket).await?;
        // Rows of the start key older than the marker version come first (none when the
        // marker names no version of it); without a marker the range alone decides.
        let marker_row = match (start, version_marker) {
            (KeyStart::After(key), Some(id)) => Some(
                sqlx::query_scalar(
                    "SELECT row FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3",
                )
                .bind(bucket)
                .bind(key)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .unwrap_or(i64::MIN),
            ),
            _ => None,
        };
        let mut walk: Walk<(String, i64)> = Walk::new(prefix, delimiter, max);
        let mut out = Vec::new();
        while let Some((read, n)) = walk.next_read() {
            let (range, key, below_row) = read.bounds(prefix, start, marker_row, i64::MAX);
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {VERSION_COLUMNS} FROM versions
                 WHERE bucket = $1 AND {} AND (key > $4 OR row < $5)
                 ORDER BY key, row DESC LIMIT $6",
                range.condition("key", '$', 2, 3)
            )))
            .bind(bucket)
            .bind(&range.lower)
            .bind(&range.upper)
            .bind(&key)
            .bind(below_row)
            .bind(limit(n))
            .fetch_all(&mut *conn)
            .await?;
            let rows = rows
                .iter()
                .map(version_from_row)
                .collect::<Result<Vec<_>>>()?;
            walk.take(rows, n, |r| &r.key, |r| (r.key.clone(), r.row), &mut out);
        }
        out.into_iter().map(|r| r.decode(&self.codec)).collect()
    }
}
