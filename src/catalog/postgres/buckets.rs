//! Buckets and their settings in PostgreSQL. A setting or versioning change holds the
//! bucket's lock exclusively, so no write is halfway through under the old value.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

use super::{PgCatalog, lock_bucket};
use crate::catalog::codec::RawBucket;
use crate::catalog::store::{BucketStore, created_versioning};
use crate::catalog::{Bucket, BucketEntry, CatalogError, Result, SettingColumn, Versioning};

const BUCKET_COLUMNS: &str =
    "name, created_ms, region, versioning, encryption, owner_account, policy, replication, cors,
     public_access_block, tagging, object_lock, lifecycle, access_control";

fn bucket_from_row(row: &PgRow) -> Result<RawBucket> {
    Ok(RawBucket {
        name: row.try_get(0)?,
        created_ms: row.try_get(1)?,
        region: row.try_get(2)?,
        versioning: row.try_get(3)?,
        encryption: row.try_get(4)?,
        owner_account: row.try_get(5)?,
        policy: row.try_get(6)?,
        replication: row.try_get(7)?,
        cors: row.try_get(8)?,
        public_access_block: row.try_get(9)?,
        tagging: row.try_get(10)?,
        object_lock: row.try_get(11)?,
        lifecycle: row.try_get(12)?,
        access_control: row.try_get(13)?,
    })
}

/// Fails with NoSuchBucket unless the bucket exists; reads none of its settings.
pub(super) async fn bucket_exists(conn: &mut PgConnection, name: &str) -> Result<()> {
    let found: bool = sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM buckets WHERE name = $1)")
        .bind(name)
        .fetch_one(conn)
        .await?;
    if found {
        Ok(())
    } else {
        Err(CatalogError::NoSuchBucket)
    }
}

pub(super) async fn require_bucket(conn: &mut PgConnection, name: &str) -> Result<Bucket> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(conn)
    .await?
    .ok_or(CatalogError::NoSuchBucket)?;
    bucket_from_row(&row)?.decode()
}

/// Replaces one column of a bucket row; settings are replaced whole, so a record that can
/// no longer be read can always be put anew or deleted.
async fn set_column(
    conn: &mut PgConnection,
    name: &str,
    column: &str,
    value: Option<String>,
) -> Result<()> {
    let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE buckets SET {column} = $2 WHERE name = $1"
    )))
    .bind(name)
    .bind(value)
    .execute(conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(CatalogError::NoSuchBucket);
    }
    Ok(())
}

#[async_trait]
impl BucketStore for PgCatalog {
    async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner_account: Option<&str>,
        settings: &[(SettingColumn, String)],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO buckets (name, created_ms, region, owner_account, versioning)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now_ms)
        .bind(region)
        .bind(owner_account)
        .bind(created_versioning(settings).as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(CatalogError::BucketExists);
        }
        for (column, record) in settings {
            set_column(&mut tx, name, column.name(), Some(record.clone())).await?;
        }
        super::commit(tx).await?;
        Ok(())
    }

    async fn bucket(&self, name: &str) -> Result<Bucket> {
        let mut conn = self.pool().acquire().await?;
        require_bucket(&mut conn, name).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketEntry>> {
        let rows = sqlx::query(
            "SELECT name, created_ms, region, owner_account FROM buckets ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BucketEntry {
                    name: row.try_get(0)?,
                    created_ms: row.try_get(1)?,
                    region: row.try_get(2)?,
                    owner_account: row.try_get(3)?,
                })
            })
            .collect()
    }

    async fn delete_bucket(&self, name: &str, now_ms: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_bucket(&mut tx, name).await?;
        bucket_exists(&mut tx, name).await?;
        let has_versions: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM versions WHERE bucket = $1)")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
        if has_versions {
            return Err(CatalogError::BucketNotEmpty);
        }
        sqlx::query(
            "INSERT INTO blob_gc (blob, due_ms)
             SELECT p.blob, $2 FROM upload_parts p JOIN uploads u ON u.upload_id = p.upload_id
             WHERE u.bucket = $1
             ON CONFLICT (blob) DO UPDATE SET due_ms = EXCLUDED.due_ms, node = NULL",
        )
        .bind(name)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM uploads WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM replication_batches WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn set_versioning(&self, name: &str, versioning: Versioning) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_bucket(&mut tx, name).await?;
        if versioning == Versioning::Suspended {
            for column in SettingColumn::NEED_VERSIONING {
                let set: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT {} IS NOT NULL FROM buckets WHERE name = $1",
                    column.name()
                )))
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(CatalogError::NoSuchBucket)?;
                if set {
                    return Err(CatalogError::VersioningLocked(column));
                }
            }
        }
        set_column(
            &mut tx,
            name,
            "versioning",
            Some(versioning.as_str().to_owned()),
        )
        .await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn adopt_unowned_buckets(&self, account: &str) -> Result<usize> {
        let n = sqlx::query("UPDATE buckets SET owner_account = $1 WHERE owner_account IS NULL")
            .bind(account)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn set_policy(&self, name: &str, policy: Option<String>) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        set_column(&mut conn, name, "policy", policy).await
    }

    async fn put_setting(
        &self,
        name: &str,
        column: SettingColumn,
        record: Option<String>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_bucket(&mut tx, name).await?;
        if column.needs_versioning() && record.is_some() {
            let versioning: String =
                sqlx::query_scalar("SELECT versioning FROM buckets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(CatalogError::NoSuchBucket)?;
            if Versioning::parse(&versioning)? != Versioning::Enabled {
                return Err(CatalogError::VersioningNotEnabled(column));
            }
        }
        set_column(&mut tx, name, column.name(), record).await?;
        super::commit(tx).await?;
        Ok(())
    }
}
