//! The key store of one gateway: one SQLite database beside the catalog. Deleted material is
//! overwritten on disk (`secure_delete`) and flushed out of the WAL, so a destroyed key
//! cannot be recovered from free pages.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{json, parse};
use crate::kms::errors::KmsError;
use crate::kms::model::{AliasRecord, GrantRecord, KeyRecord};

pub(in crate::kms) struct Store {
    conn: Mutex<Connection>,
}

/// Everything read at start-up.
pub(in crate::kms) struct Loaded {
    pub keys: Vec<KeyRecord>,
    /// (key id, material seq, sealed material)
    pub materials: Vec<(String, u32, Vec<u8>)>,
    pub aliases: Vec<AliasRecord>,
    pub grants: Vec<GrantRecord>,
}

fn db(e: rusqlite::Error) -> KmsError {
    KmsError::internal(format!("key store: {e}"))
}

impl Store {
    pub(super) fn open(path: &Path, fsync: bool) -> Result<Store, KmsError> {
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={}; PRAGMA secure_delete=ON;
             CREATE TABLE IF NOT EXISTS kms_keys (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS kms_materials (
                key_id TEXT NOT NULL, seq INTEGER NOT NULL, sealed BLOB NOT NULL,
                PRIMARY KEY (key_id, seq));
             CREATE TABLE IF NOT EXISTS kms_aliases (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS kms_grants (grant_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, doc TEXT NOT NULL);",
            if fsync { "FULL" } else { "NORMAL" }
        ))
        .map_err(db)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, KmsError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| KmsError::internal("key store lock poisoned"))?;
        f(&mut conn).map_err(db)
    }

    pub(in crate::kms) fn load(&self) -> Result<Loaded, KmsError> {
        let (keys, materials, aliases, grants) = self.with(|c| {
            let docs = |sql: &str| -> rusqlite::Result<Vec<String>> {
                c.prepare(sql)?.query_map([], |r| r.get(0))?.collect()
            };
            let keys = docs("SELECT doc FROM kms_keys")?;
            let aliases = docs("SELECT doc FROM kms_aliases")?;
            let grants = docs("SELECT doc FROM kms_grants")?;
            let materials = c
                .prepare("SELECT key_id, seq, sealed FROM kms_materials")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((keys, materials, aliases, grants))
        })?;
        Ok(Loaded {
            keys: keys.iter().map(|d| parse(d)).collect::<Result<_, _>>()?,
            materials,
            aliases: aliases.iter().map(|d| parse(d)).collect::<Result<_, _>>()?,
            grants: grants.iter().map(|d| parse(d)).collect::<Result<_, _>>()?,
        })
    }

    /// Writes a key record, with any new material and the removal of destroyed material, in
    /// one transaction.
    pub(super) fn put_key(
        &self,
        key: &KeyRecord,
        new_material: Option<(u32, &[u8])>,
        removed_material: &[u32],
    ) -> Result<(), KmsError> {
        let doc = json(key)?;
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO kms_keys (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = ?2",
                params![key.id, doc],
            )?;
            if let Some((seq, sealed)) = new_material {
                tx.execute(
                    "INSERT OR REPLACE INTO kms_materials (key_id, seq, sealed) VALUES (?1, ?2, ?3)",
                    params![key.id, seq, sealed],
                )?;
            }
            for seq in removed_material {
                tx.execute(
                    "DELETE FROM kms_materials WHERE key_id = ?1 AND seq = ?2",
                    params![key.id, seq],
                )?;
            }
            tx.commit()
        })?;
        if !removed_material.is_empty() {
            self.flush_wal()?;
        }
        Ok(())
    }

    /// Crypto-shredding: the key, all its material, aliases and grants are gone.
    pub(super) fn delete_key(&self, key_id: &str) -> Result<(), KmsError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM kms_materials WHERE key_id = ?1", [key_id])?;
            tx.execute("DELETE FROM kms_grants WHERE key_id = ?1", [key_id])?;
            tx.execute("DELETE FROM kms_keys WHERE id = ?1", [key_id])?;
            tx.execute(
                "DELETE FROM kms_aliases WHERE json_extract(doc, '$.target_key_id') = ?1",
                [key_id],
            )?;
            tx.commit()
        })?;
        self.flush_wal()
    }

    /// Copies the WAL into the database and truncates it, so deleted pages (already zeroed
    /// by secure_delete in the main file) leave no copy in the log.
    fn flush_wal(&self) -> Result<(), KmsError> {
        self.with(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .optional()
                .map(|_| ())
        })
    }

    pub(super) fn put_alias(&self, alias: &AliasRecord) -> Result<(), KmsError> {
        let doc = json(alias)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO kms_aliases (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = ?2",
                params![alias.name, doc],
            )
            .map(|_| ())
        })
    }

    pub(super) fn delete_alias(&self, name: &str) -> Result<(), KmsError> {
        self.with(|c| {
            c.execute("DELETE FROM kms_aliases WHERE name = ?1", [name])
                .map(|_| ())
        })
    }

    pub(super) fn put_grant(&self, grant: &GrantRecord) -> Result<(), KmsError> {
        let doc = json(grant)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO kms_grants (grant_id, key_id, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT(grant_id) DO UPDATE SET doc = ?3",
                params![grant.grant_id, grant.key_id, doc],
            )
            .map(|_| ())
        })
    }

    pub(super) fn delete_grant(&self, grant_id: &str) -> Result<(), KmsError> {
        self.with(|c| {
            c.execute("DELETE FROM kms_grants WHERE grant_id = ?1", [grant_id])
                .map(|_| ())
        })
    }
}
