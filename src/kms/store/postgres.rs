//! The key store in the fleet's PostgreSQL database (the `kms_*` tables). A change runs in
//! one transaction that holds the `revisions` row named `kms` (FOR UPDATE) from before the
//! change is computed until it commits, so the changes of all nodes are serialized; it bumps
//! that revision, stamps every row it writes with it and notifies the other nodes. A node
//! catches up by reading the rows stamped after the revision its copy reflects.

use std::collections::HashSet;

use sqlx::{PgConnection, Postgres, Row as _, Transaction};

use super::{Write, json, parse};
use crate::kms::errors::KmsError;
use crate::kms::model::{AliasRecord, GrantRecord, KeyRecord};
use crate::postgres::{Database, changes};

/// The store's name in `revisions` and in notifications.
const STORE: &str = "kms";

fn db(e: sqlx::Error) -> KmsError {
    tracing::warn!(error = %e, "key store database");
    KmsError::dependency_timeout("The key store did not answer; retry the request.")
}

fn seq_of(seq: u32) -> Result<i32, KmsError> {
    i32::try_from(seq).map_err(|_| KmsError::internal(format!("material seq {seq} too large")))
}

pub(in crate::kms) struct PgKeys {
    db: Database,
}

/// An open transaction on the store: a change holding the store's lock, or a consistent
/// snapshot to catch up from.
pub(in crate::kms) struct PgTx(Transaction<'static, Postgres>);

/// The tables a copy mirrors row by row.
#[derive(Debug, Clone, Copy)]
pub(in crate::kms) enum Table {
    Keys,
    Aliases,
    Grants,
}

impl Table {
    fn ids_sql(self) -> &'static str {
        match self {
            Table::Keys => "SELECT id FROM kms_keys",
            Table::Aliases => "SELECT name FROM kms_aliases",
            Table::Grants => "SELECT grant_id FROM kms_grants",
        }
    }
}

/// The rows written after some revision, and how many rows each table has now.
pub(in crate::kms) struct Changed {
    pub keys: Vec<KeyRecord>,
    pub aliases: Vec<AliasRecord>,
    pub grants: Vec<GrantRecord>,
    /// Rows of (keys, aliases, grants).
    pub counts: [usize; 3],
}

impl PgKeys {
    pub(in crate::kms) fn new(db: Database) -> PgKeys {
        PgKeys { db }
    }

    /// The revision committed last.
    pub(in crate::kms) async fn revision(&self) -> Result<i64, KmsError> {
        changes::revision(&self.db, STORE).await.map_err(db)
    }

    /// Opens a change: the store's lock, held until commit, and the revision it guards.
    pub(in crate::kms) async fn lock(&self) -> Result<(PgTx, i64), KmsError> {
        let (tx, revision) = changes::lock(&self.db, STORE).await.map_err(db)?;
        Ok((PgTx(tx), revision))
    }

    /// A snapshot of the store as of one revision, to read without locking.
    pub(in crate::kms) async fn snapshot(&self) -> Result<(PgTx, i64), KmsError> {
        let mut tx = self
            .db
            .pool()
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db)?;
        let revision = sqlx::query_scalar("SELECT revision FROM revisions WHERE name = $1")
            .bind(STORE)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        Ok((PgTx(tx), revision))
    }
}

impl PgTx {
    async fn docs<T: serde::de::DeserializeOwned>(
        &mut self,
        sql: &'static str,
        since: i64,
    ) -> Result<Vec<T>, KmsError> {
        let docs: Vec<String> = sqlx::query_scalar(sql)
            .bind(since)
            .fetch_all(&mut *self.0)
            .await
            .map_err(db)?;
        docs.iter().map(|d| parse(d)).collect()
    }

    /// The rows written after revision `since`.
    pub(in crate::kms) async fn changed_since(&mut self, since: i64) -> Result<Changed, KmsError> {
        let keys = self
            .docs("SELECT doc FROM kms_keys WHERE revision > $1", since)
            .await?;
        let aliases = self
            .docs("SELECT doc FROM kms_aliases WHERE revision > $1", since)
            .await?;
        let grants = self
            .docs("SELECT doc FROM kms_grants WHERE revision > $1", since)
            .await?;
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM kms_keys), (SELECT count(*) FROM kms_aliases),
                    (SELECT count(*) FROM kms_grants)",
        )
        .fetch_one(&mut *self.0)
        .await
        .map_err(db)?;
        let mut counts = [0usize; 3];
        for (i, count) in counts.iter_mut().enumerate() {
            *count = usize::try_from(row.try_get::<i64, _>(i).map_err(db)?).unwrap_or(0);
        }
        Ok(Changed {
            keys,
            aliases,
            grants,
            counts,
        })
    }

    /// Every id of a table (read when rows were deleted).
    pub(in crate::kms) async fn ids(&mut self, table: Table) -> Result<HashSet<String>, KmsError> {
        let ids: Vec<String> = sqlx::query_scalar(table.ids_sql())
            .fetch_all(&mut *self.0)
            .await
            .map_err(db)?;
        Ok(ids.into_iter().collect())
    }

    /// The sealed material of these (key id, seq).
    pub(in crate::kms) async fn materials(
        &mut self,
        wanted: &[(String, u32)],
    ) -> Result<Vec<(String, u32, Vec<u8>)>, KmsError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = wanted.iter().map(|(id, _)| id.as_str()).collect();
        let seqs = wanted
            .iter()
            .map(|(_, seq)| seq_of(*seq))
            .collect::<Result<Vec<i32>, _>>()?;
        let rows = sqlx::query(
            "SELECT m.key_id, m.seq, m.sealed FROM kms_materials m
             JOIN unnest($1::text[], $2::int[]) AS w(key_id, seq)
               ON m.key_id = w.key_id AND m.seq = w.seq",
        )
        .bind(ids)
        .bind(seqs)
        .fetch_all(&mut *self.0)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let seq: i32 = r.try_get(1).map_err(db)?;
                Ok((
                    r.try_get(0).map_err(db)?,
                    u32::try_from(seq).unwrap_or_default(),
                    r.try_get(2).map_err(db)?,
                ))
            })
            .collect()
    }

    /// Ends a snapshot.
    pub(in crate::kms) async fn close(self) -> Result<(), KmsError> {
        self.0.commit().await.map_err(db)
    }

    /// Writes a change as `revision`, announces it, and commits.
    pub(in crate::kms) async fn commit(
        mut self,
        writes: &[Write],
        revision: i64,
    ) -> Result<(), KmsError> {
        for write in writes {
            self.write(write, revision).await?;
        }
        changes::announce(&mut self.0, STORE, revision)
            .await
            .map_err(db)?;
        self.0.commit().await.map_err(db)
    }

    async fn write(&mut self, write: &Write, revision: i64) -> Result<(), KmsError> {
        let tx = &mut *self.0;
        match write {
            Write::Key {
                record,
                new_material,
                removed,
            } => {
                sqlx::query(
                    "INSERT INTO kms_keys (id, doc, revision) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, revision = EXCLUDED.revision",
                )
                .bind(&record.id)
                .bind(json(record)?)
                .bind(revision)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                if let Some((seq, sealed)) = new_material {
                    sqlx::query(
                        "INSERT INTO kms_materials (key_id, seq, sealed) VALUES ($1, $2, $3)
                         ON CONFLICT (key_id, seq) DO UPDATE SET sealed = EXCLUDED.sealed",
                    )
                    .bind(&record.id)
                    .bind(seq_of(*seq)?)
                    .bind(sealed)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                }
                if !removed.is_empty() {
                    let seqs = removed
                        .iter()
                        .map(|s| seq_of(*s))
                        .collect::<Result<Vec<i32>, _>>()?;
                    sqlx::query("DELETE FROM kms_materials WHERE key_id = $1 AND seq = ANY($2)")
                        .bind(&record.id)
                        .bind(seqs)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
            }
            Write::DestroyKey(id) => {
                for sql in [
                    "DELETE FROM kms_materials WHERE key_id = $1",
                    "DELETE FROM kms_grants WHERE key_id = $1",
                    "DELETE FROM kms_aliases WHERE target_key_id = $1",
                    "DELETE FROM kms_keys WHERE id = $1",
                ] {
                    delete(tx, sql, id).await?;
                }
            }
            Write::Alias(alias) => {
                sqlx::query(
                    "INSERT INTO kms_aliases (name, target_key_id, doc, revision) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET target_key_id = EXCLUDED.target_key_id,
                         doc = EXCLUDED.doc, revision = EXCLUDED.revision",
                )
                .bind(&alias.name)
                .bind(&alias.target_key_id)
                .bind(json(alias)?)
                .bind(revision)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            Write::Grant(grant) => {
                sqlx::query(
                    "INSERT INTO kms_grants (grant_id, key_id, doc, revision) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (grant_id) DO UPDATE SET key_id = EXCLUDED.key_id,
                         doc = EXCLUDED.doc, revision = EXCLUDED.revision",
                )
                .bind(&grant.grant_id)
                .bind(&grant.key_id)
                .bind(json(grant)?)
                .bind(revision)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            Write::DeleteAlias(name) => {
                delete(tx, "DELETE FROM kms_aliases WHERE name = $1", name).await?;
            }
            Write::DeleteGrant(id) => {
                delete(tx, "DELETE FROM kms_grants WHERE grant_id = $1", id).await?;
            }
        }
        Ok(())
    }
}

async fn delete(tx: &mut PgConnection, sql: &'static str, id: &str) -> Result<(), KmsError> {
    sqlx::query(sql).bind(id).execute(tx).await.map_err(db)?;
    Ok(())
}
