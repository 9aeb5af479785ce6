//! Buckets and their settings in SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::Cached as _;
use super::SqliteCatalog;
use crate::catalog::codec::RawBucket;
use crate::catalog::store::{BucketStore, created_versioning};
use crate::catalog::{Bucket, BucketEntry, CatalogError, Result, SettingColumn, Versioning};

const BUCKET_COLUMNS: &str =
    "name, created_ms, region, versioning, encryption, owner_account, policy, replication, cors,
     public_access_block, tagging, object_lock, lifecycle, access_control";

fn bucket_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawBucket> {
    Ok(RawBucket {
        name: row.get(0)?,
        created_ms: row.get(1)?,
        region: row.get(2)?,
        versioning: row.get(3)?,
        encryption: row.get(4)?,
        owner_account: row.get(5)?,
        policy: row.get(6)?,
        replication: row.get(7)?,
        cors: row.get(8)?,
        public_access_block: row.get(9)?,
        tagging: row.get(10)?,
        object_lock: row.get(11)?,
        lifecycle: row.get(12)?,
        access_control: row.get(13)?,
    })
}

/// Fails with NoSuchBucket unless the bucket exists; reads none of its settings.
pub(super) fn bucket_exists(conn: &rusqlite::Connection, name: &str) -> Result<()> {
    let found: bool = conn.row(
        "SELECT EXISTS(SELECT 1 FROM buckets WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if found {
        Ok(())
    } else {
        Err(CatalogError::NoSuchBucket)
    }
}

pub(super) fn require_bucket(conn: &rusqlite::Connection, name: &str) -> Result<Bucket> {
    conn.row(
        &format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?1"),
        [name],
        bucket_from_row,
    )
    .optional()?
    .map(RawBucket::decode)
    .transpose()?
    .ok_or(CatalogError::NoSuchBucket)
}

#[async_trait]
impl BucketStore for SqliteCatalog {
    async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner_account: Option<&str>,
        settings: &[(SettingColumn, String)],
        now_ms: i64,
    ) -> Result<()> {
        let (name, region) = (name.to_owned(), region.to_owned());
        let owner = owner_account.map(str::to_owned);
        let settings = settings.to_vec();
        let versioning = created_versioning(&settings);
        self.call(move |conn| {
            let inserted = conn.exec(
                "INSERT OR IGNORE INTO buckets (name, created_ms, region, owner_account, versioning)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, now_ms, region, owner, versioning.as_str()],
            )?;
            if inserted == 0 {
                return Err(CatalogError::BucketExists);
            }
            for (column, record) in settings {
                set_column(conn, &name, column.name(), Some(record))?;
            }
            Ok(())
        })
        .await
    }

    async fn bucket(&self, name: &str) -> Result<Bucket> {
        let name = name.to_owned();
        self.read(move |conn| require_bucket(conn, &name)).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketEntry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, created_ms, region, owner_account FROM buckets ORDER BY name",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(BucketEntry {
                    name: row.get(0)?,
                    created_ms: row.get(1)?,
                    region: row.get(2)?,
                    owner_account: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn delete_bucket(&self, name: &str, now_ms: i64) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            bucket_exists(&tx, &name)?;
            let has_versions: bool = tx.row(
                "SELECT EXISTS(SELECT 1 FROM versions WHERE bucket = ?1)",
                [&name],
                |r| r.get(0),
            )?;
            if has_versions {
                return Err(CatalogError::BucketNotEmpty);
            }
            tx.exec(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms)
                 SELECT p.blob, ?2 FROM upload_parts p JOIN uploads u ON u.upload_id = p.upload_id
                 WHERE u.bucket = ?1",
                params![name, now_ms],
            )?;
            tx.exec("DELETE FROM uploads WHERE bucket = ?1", [&name])?;
            tx.exec("DELETE FROM buckets WHERE name = ?1", [&name])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn set_versioning(&self, name: &str, versioning: Versioning) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            if versioning == Versioning::Suspended {
                for column in SettingColumn::NEED_VERSIONING {
                    if bucket_column_set(conn, &name, column.name())? {
                        return Err(CatalogError::VersioningLocked(column));
                    }
                }
            }
            set_column(
                conn,
                &name,
                "versioning",
                Some(versioning.as_str().to_owned()),
            )
        })
        .await
    }

    async fn adopt_unowned_buckets(&self, account: &str) -> Result<usize> {
        let account = account.to_owned();
        self.call(move |conn| {
            Ok(conn.exec(
                "UPDATE buckets SET owner_account = ?1 WHERE owner_account IS NULL",
                [account],
            )?)
        })
        .await
    }

    async fn set_policy(&self, name: &str, policy: Option<String>) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| set_column(conn, &name, "policy", policy))
            .await
    }

    async fn put_setting(
        &self,
        name: &str,
        column: SettingColumn,
        record: Option<String>,
    ) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            if column.needs_versioning() && record.is_some() {
                let versioning: String = conn
                    .row(
                        "SELECT versioning FROM buckets WHERE name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .optional()?
                    .ok_or(CatalogError::NoSuchBucket)?;
                if Versioning::parse(&versioning)? != Versioning::Enabled {
                    return Err(CatalogError::VersioningNotEnabled(column));
                }
            }
            set_column(conn, &name, column.name(), record)
        })
        .await
    }
}

/// Whether a settings column of a bucket holds a record (raw: a record that cannot be read
/// still counts, and can still be replaced).
fn bucket_column_set(conn: &rusqlite::Connection, name: &str, column: &str) -> Result<bool> {
    conn.row(
        &format!("SELECT {column} IS NOT NULL FROM buckets WHERE name = ?1"),
        [name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or(CatalogError::NoSuchBucket)
}

/// Replaces one column of a bucket row; settings are replaced whole, so a record that can
/// no longer be read can always be put anew or deleted.
fn set_column(
    conn: &rusqlite::Connection,
    name: &str,
    column: &str,
    value: Option<String>,
) -> Result<()> {
    let n = conn.exec(
        &format!("UPDATE buckets SET {column} = ?2 WHERE name = ?1"),
        params![name, value],
    )?;
    if n == 0 {
        return Err(CatalogError::NoSuchBucket);
    }
    Ok(())
}
