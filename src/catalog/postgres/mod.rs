//! The catalog of a fleet: PostgreSQL, shared by every gateway. What one SQLite writer gave
//! for free is made explicit here:
//! - writes to one key serialize on a transaction-scoped advisory lock of (bucket, key);
//! - a bucket's settings and versioning change under an exclusive lock of the bucket that
//!   every write holds shared, so a write sees the settings it commits under;
//! - a unique index keeps at most one latest version per key whatever happens;
//! - work queues are claimed with `FOR UPDATE SKIP LOCKED`, held by a node while it lives.

mod buckets;
mod gc;
mod lifecycle;
mod replication;
mod uploads;
mod versions;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

use super::codec::{MetaCodec, RawPart};
use super::{CatalogError, Result};
use crate::postgres::Database;

pub(super) struct PgCatalog {
    db: Database,
    /// This node's name: pending blobs and replication leases are tagged with it.
    node: String,
    codec: MetaCodec,
    /// How long the blobs of a replaced or deleted version stay readable.
    read_grace_ms: i64,
    /// Where pending blobs queue to be registered together (started on first use).
    registrations: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<gc::Registration>>,
}

impl PgCatalog {
    pub(super) fn new(db: Database, node: &str, codec: MetaCodec, read_grace_ms: i64) -> PgCatalog {
        PgCatalog {
            db,
            node: node.to_owned(),
            codec,
            read_grace_ms,
            registrations: std::sync::OnceLock::new(),
        }
    }

    fn pool(&self) -> &sqlx::PgPool {
        self.db.pool()
    }
}

/// Seeds keep the lock spaces of buckets and keys apart.
const BUCKET_LOCK_SEED: i64 = 0x5eb;
const KEY_LOCK_SEED: i64 = 0x5ec;

/// Holds the bucket's lock in shared mode until the transaction ends: its settings do not
/// change meanwhile. Every write to the bucket's keys takes it.
async fn lock_bucket_shared(tx: &mut PgConnection, bucket: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, $2))")
        .bind(bucket)
        .bind(BUCKET_LOCK_SEED)
        .execute(tx)
        .await?;
    Ok(())
}

/// Holds the bucket's lock exclusively until the transaction ends: no write to its keys is
/// in progress, and none starts, while its settings change.
async fn lock_bucket(tx: &mut PgConnection, bucket: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
        .bind(bucket)
        .bind(BUCKET_LOCK_SEED)
        .execute(tx)
        .await?;
    Ok(())
}

/// What every write to a key holds until its transaction ends: the bucket's lock shared
/// (its settings do not change meanwhile), then the key's lock, which serializes the
/// writes to one key whichever node they come through. One round trip: PostgreSQL
/// evaluates a select list in order.
async fn lock_for_write(tx: &mut PgConnection, bucket: &str, key: &str) -> Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, $3)),
                pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, $4))",
    )
    .bind(bucket)
    .bind(key)
    .bind(BUCKET_LOCK_SEED)
    .bind(KEY_LOCK_SEED)
    .execute(tx)
    .await?;
    Ok(())
}

/// Columns of `version_parts` and `upload_parts` alike.
const PART_COLUMNS: &str = "part_number, blob, size, etag, header, checksum, last_modified_ms";

/// Commits a write transaction, timed as the SQLite catalog's group commits are (each
/// PostgreSQL write commits alone: a batch of one).
async fn commit(tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<()> {
    let m = crate::metrics::metrics();
    let started = std::time::Instant::now();
    tx.commit().await?;
    m.catalog_commit_batch_size.observe(1.0);
    crate::metrics::observe_since(&m.catalog_commit_duration, started);
    Ok(())
}

fn part_from_row(r: &PgRow) -> Result<RawPart> {
    Ok(RawPart {
        part_number: r.try_get::<i32, _>(0)?.into(),
        blob: r.try_get(1)?,
        size: r.try_get(2)?,
        etag: r.try_get(3)?,
        header: r.try_get(4)?,
        checksum: r.try_get(5)?,
        last_modified_ms: r.try_get(6)?,
    })
}

fn part_number(n: u32) -> Result<i32> {
    i32::try_from(n).map_err(|_| CatalogError::Corrupt(format!("part number {n}")))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
