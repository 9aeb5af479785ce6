//! Buckets and their settings. Settings rest as versioned records
//! ([`crate::bucket_settings`]); one that cannot be read makes the bucket's reads fail
//! with [`CatalogError::Corrupt`] naming the bucket and the setting, never a default.

use rusqlite::{OptionalExtension, params};

use super::{Bucket, BucketEntry, Catalog, CatalogError, Result, Versioning};
use crate::bucket_settings::{self, BucketEncryption, ReplicationConfig, StoredSetting};

const BUCKET_COLUMNS: &str =
    "name, created_ms, region, versioning, encryption, owner_account, policy, replication";

/// A bucket row before its settings are decoded (decoding errors are not SQLite errors).
pub(super) struct RawBucket {
    name: String,
    created_ms: i64,
    region: String,
    versioning: String,
    encryption: Option<String>,
    owner_account: Option<String>,
    policy: Option<String>,
    replication: Option<String>,
}

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
    })
}

fn setting<T: StoredSetting>(bucket: &str, stored: Option<String>) -> super::Setting<T> {
    stored
        .map(|text| bucket_settings::decode(&text))
        .transpose()
        .inspect_err(|e| tracing::error!(%bucket, error = %e, "a bucket setting cannot be read"))
}

fn finish(raw: RawBucket) -> Result<Bucket> {
    Ok(Bucket {
        versioning: Versioning::parse(&raw.versioning)?,
        encryption: setting(&raw.name, raw.encryption),
        replication: setting(&raw.name, raw.replication),
        name: raw.name,
        created_ms: raw.created_ms,
        region: raw.region,
        owner_account: raw.owner_account,
        policy: raw.policy,
    })
}

/// Fails with NoSuchBucket unless the bucket exists; reads none of its settings.
pub(super) fn bucket_exists(conn: &rusqlite::Connection, name: &str) -> Result<()> {
    let found: bool = conn.query_row(
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
    conn.query_row(
        &format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?1"),
        [name],
        bucket_from_row,
    )
    .optional()?
    .map(finish)
    .transpose()?
    .ok_or(CatalogError::NoSuchBucket)
}

impl Catalog {
    /// Creates a bucket without a recorded owner (it belongs to the gateway's account once
    /// adopted); the S3 edge uses [`Catalog::create_owned_bucket`].
    pub async fn create_bucket(&self, name: &str, region: &str, now_ms: i64) -> Result<()> {
        self.insert_bucket(name, region, None, now_ms).await
    }

    pub async fn create_owned_bucket(
        &self,
        name: &str,
        region: &str,
        owner_account: &str,
        now_ms: i64,
    ) -> Result<()> {
        self.insert_bucket(name, region, Some(owner_account.to_owned()), now_ms)
            .await
    }

    async fn insert_bucket(
        &self,
        name: &str,
        region: &str,
        owner: Option<String>,
        now_ms: i64,
    ) -> Result<()> {
        let (name, region) = (name.to_owned(), region.to_owned());
        self.call(move |conn| {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO buckets (name, created_ms, region, owner_account)
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, now_ms, region, owner],
            )?;
            if inserted == 0 {
                return Err(CatalogError::BucketExists);
            }
            Ok(())
        })
        .await
    }

    pub async fn bucket(&self, name: &str) -> Result<Bucket> {
        let name = name.to_owned();
        self.read(move |conn| require_bucket(conn, &name)).await
    }

    /// Every bucket, by name; settings are not read (a listing needs none of them, and one
    /// bucket's unreadable setting must not hide the others).
    pub async fn list_buckets(&self) -> Result<Vec<BucketEntry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
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

    /// Deletes an empty bucket. Versions and delete markers make it non-empty, as in S3;
    /// unfinished multipart uploads are aborted with it and their blobs collected.
    pub async fn delete_bucket(&self, name: &str, now_ms: i64) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            bucket_exists(&tx, &name)?;
            let has_versions: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM versions WHERE bucket = ?1)",
                [&name],
                |r| r.get(0),
            )?;
            if has_versions {
                return Err(CatalogError::BucketNotEmpty);
            }
            tx.execute(
                "INSERT OR REPLACE INTO blob_gc (blob, due_ms)
                 SELECT p.blob, ?2 FROM upload_parts p JOIN uploads u ON u.upload_id = p.upload_id
                 WHERE u.bucket = ?1",
                params![name, now_ms],
            )?;
            tx.execute("DELETE FROM uploads WHERE bucket = ?1", [&name])?;
            tx.execute("DELETE FROM buckets WHERE name = ?1", [&name])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Versioning cannot be suspended while a replication configuration is in place, as
    /// on S3; checked in the transaction that changes it.
    pub async fn set_versioning(&self, name: &str, versioning: Versioning) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            let replicating = bucket_column_set(conn, &name, "replication")?;
            if versioning == Versioning::Suspended && replicating {
                return Err(CatalogError::ReplicationNeedsVersioning);
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

    /// Gives buckets created before owners were recorded to `account` (the gateway's own
    /// account, which was the only one then).
    pub async fn adopt_unowned_buckets(&self, account: &str) -> Result<usize> {
        let account = account.to_owned();
        self.call(move |conn| {
            Ok(conn.execute(
                "UPDATE buckets SET owner_account = ?1 WHERE owner_account IS NULL",
                [account],
            )?)
        })
        .await
    }

    pub async fn set_policy(&self, name: &str, policy: Option<String>) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| set_column(conn, &name, "policy", policy))
            .await
    }

    /// Puts (or, with `None`, deletes) one setting of a bucket. A replication
    /// configuration needs versioning Enabled, as on S3; that is checked in the
    /// transaction that stores it.
    pub(crate) async fn set_setting<T: BucketSetting>(
        &self,
        name: &str,
        value: Option<&T>,
    ) -> Result<()> {
        let name = name.to_owned();
        let value = value.map(bucket_settings::encode);
        self.call(move |conn| {
            if T::NEEDS_VERSIONING && value.is_some() {
                let versioning: String = conn
                    .query_row(
                        "SELECT versioning FROM buckets WHERE name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .optional()?
                    .ok_or(CatalogError::NoSuchBucket)?;
                if Versioning::parse(&versioning)? != Versioning::Enabled {
                    return Err(CatalogError::VersioningNotEnabled);
                }
            }
            set_column(conn, &name, T::COLUMN, value)
        })
        .await
    }
}

/// A bucket setting and the column it rests in.
pub(crate) trait BucketSetting: StoredSetting + Send + Sync + 'static {
    const COLUMN: &'static str;
    /// Whether the bucket must have versioning Enabled to hold it.
    const NEEDS_VERSIONING: bool = false;
}

impl BucketSetting for BucketEncryption {
    const COLUMN: &'static str = "encryption";
}

impl BucketSetting for ReplicationConfig {
    const COLUMN: &'static str = "replication";
    const NEEDS_VERSIONING: bool = true;
}

/// Whether a settings column of a bucket holds a record (raw: a record that cannot be read
/// still counts, and can still be replaced).
fn bucket_column_set(conn: &rusqlite::Connection, name: &str, column: &str) -> Result<bool> {
    conn.query_row(
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
    let n = conn.execute(
        &format!("UPDATE buckets SET {column} = ?2 WHERE name = ?1"),
        params![name, value],
    )?;
    if n == 0 {
        return Err(CatalogError::NoSuchBucket);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bucket_lifecycle() {
        let c = Catalog::in_memory();
        c.create_bucket("b1", "us-east-1", 1).await.unwrap();
        assert!(matches!(
            c.create_bucket("b1", "us-east-1", 2).await,
            Err(CatalogError::BucketExists)
        ));
        c.set_versioning("b1", Versioning::Enabled).await.unwrap();
        assert_eq!(
            c.bucket("b1").await.unwrap().versioning,
            Versioning::Enabled
        );
        assert!(matches!(
            c.set_versioning("nope", Versioning::Enabled).await,
            Err(CatalogError::NoSuchBucket)
        ));
        assert_eq!(c.list_buckets().await.unwrap().len(), 1);
        assert_eq!(c.bucket("b1").await.unwrap().owner_account, None);
        assert_eq!(c.adopt_unowned_buckets("111122223333").await.unwrap(), 1);
        c.create_owned_bucket("b2", "us-east-1", "444455556666", 2)
            .await
            .unwrap();
        assert_eq!(c.adopt_unowned_buckets("111122223333").await.unwrap(), 0);
        let owners: Vec<_> = c
            .list_buckets()
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.owner_account.unwrap())
            .collect();
        assert_eq!(owners, ["111122223333", "444455556666"]);
        c.set_policy("b2", Some("{}".into())).await.unwrap();
        assert_eq!(c.bucket("b2").await.unwrap().policy.as_deref(), Some("{}"));
        c.delete_bucket("b2", 3).await.unwrap();
        c.delete_bucket("b1", 3).await.unwrap();
        assert!(matches!(
            c.bucket("b1").await,
            Err(CatalogError::NoSuchBucket)
        ));
    }

    #[tokio::test]
    async fn settings_are_typed_and_an_unreadable_one_fails_closed() {
        let c = Catalog::in_memory();
        c.create_bucket("b", "us-east-1", 1).await.unwrap();
        assert_eq!(c.bucket("b").await.unwrap().encryption().unwrap(), None);
        let kms = BucketEncryption {
            sse_algorithm: "aws:kms".into(),
            kms_master_key_id: Some("alias/k".into()),
            bucket_key_enabled: false,
            blocked_encryption_types: vec!["SSE-C".into()],
        };
        c.set_setting("b", Some(&kms)).await.unwrap();
        assert_eq!(
            c.bucket("b").await.unwrap().encryption().unwrap(),
            Some(&kms)
        );
        // A record this build cannot read (damaged, or from a newer version) is an error
        // for the bucket, never the SSE-S3 default that would drop its KMS key and blocks.
        c.call(|conn| {
            conn.execute(
                "UPDATE buckets SET encryption = '{\"version\":9,\"value\":{}}'",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let b = c.bucket("b").await.unwrap();
        let err = b.default_encryption().unwrap_err();
        assert!(
            matches!(&err, CatalogError::Corrupt(m) if m.contains("bucket b")),
            "{err}"
        );
        assert_eq!(
            b.replication().unwrap(),
            None,
            "other settings stay readable"
        );
        assert_eq!(c.list_buckets().await.unwrap()[0].name, "b");
        // The owner can still replace the record.
        c.set_setting::<BucketEncryption>("b", None).await.unwrap();
        assert!(c.bucket("b").await.unwrap().default_encryption().is_ok());
    }
}
