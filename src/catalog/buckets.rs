use rusqlite::{OptionalExtension, params};

use super::{Bucket, Catalog, CatalogError, Result, Versioning};

const BUCKET_COLUMNS: &str =
    "name, created_ms, region, versioning, encryption, owner_account, policy, replication";

fn bucket_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Bucket, String)> {
    Ok((
        Bucket {
            name: row.get(0)?,
            created_ms: row.get(1)?,
            region: row.get(2)?,
            versioning: Versioning::Unversioned,
            encryption: row.get(4)?,
            owner_account: row.get(5)?,
            policy: row.get(6)?,
            replication: row.get(7)?,
        },
        row.get(3)?,
    ))
}

fn finish(pair: (Bucket, String)) -> Result<Bucket> {
    let (mut bucket, versioning) = pair;
    bucket.versioning = Versioning::parse(&versioning)?;
    Ok(bucket)
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

    pub async fn list_buckets(&self) -> Result<Vec<Bucket>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"
            ))?;
            let rows = stmt
                .query_map([], bucket_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(finish).collect()
        })
        .await
    }

    /// Deletes an empty bucket. Versions and delete markers make it non-empty, as in S3;
    /// unfinished multipart uploads are aborted with it and their blobs collected.
    pub async fn delete_bucket(&self, name: &str, now_ms: i64) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            require_bucket(&tx, &name)?;
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

    pub async fn set_versioning(&self, name: &str, versioning: Versioning) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
                params![name, versioning.as_str()],
            )?;
            if n == 0 {
                return Err(CatalogError::NoSuchBucket);
            }
            Ok(())
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
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE buckets SET policy = ?2 WHERE name = ?1",
                params![name, policy],
            )?;
            if n == 0 {
                return Err(CatalogError::NoSuchBucket);
            }
            Ok(())
        })
        .await
    }

    pub async fn set_replication(&self, name: &str, replication: Option<String>) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE buckets SET replication = ?2 WHERE name = ?1",
                params![name, replication],
            )?;
            if n == 0 {
                return Err(CatalogError::NoSuchBucket);
            }
            Ok(())
        })
        .await
    }

    pub async fn set_encryption(&self, name: &str, encryption: Option<String>) -> Result<()> {
        let name = name.to_owned();
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE buckets SET encryption = ?2 WHERE name = ?1",
                params![name, encryption],
            )?;
            if n == 0 {
                return Err(CatalogError::NoSuchBucket);
            }
            Ok(())
        })
        .await
    }
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
}
