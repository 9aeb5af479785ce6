//! Where keys live: one interface, two stores. SQLite (`kms.sqlite` beside the catalog) for
//! one gateway; the fleet's PostgreSQL database for gateways that share keys. Key records,
//! aliases and grants are JSON documents; key material is stored only sealed under the root
//! of trust. A change is a list of [`Write`]s, applied together.

mod postgres;
mod sqlite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::errors::KmsError;
use super::model::{AliasRecord, GrantRecord, KeyRecord};
use crate::postgres::Database;

pub(super) use postgres::{PgKeys, PgTx, Table};
pub(super) use sqlite::Loaded;

/// One change to the store.
pub(super) enum Write {
    /// A key record, with its new sealed material, and the material it no longer lists
    /// destroyed.
    Key {
        record: KeyRecord,
        new_material: Option<(u32, Vec<u8>)>,
        removed: Vec<u32>,
    },
    /// Crypto-shredding: the key, all its material, its aliases and grants.
    DestroyKey(String),
    Alias(AliasRecord),
    DeleteAlias(String),
    Grant(GrantRecord),
    DeleteGrant(String),
}

/// Where a key service keeps its keys.
pub struct KeyStore(pub(super) Backend);

pub(super) enum Backend {
    Sqlite(Arc<sqlite::Store>),
    /// Shared with other nodes, whose changes this node must see within `bound`.
    Postgres {
        keys: PgKeys,
        bound: Duration,
    },
}

impl KeyStore {
    /// The SQLite file of one gateway.
    pub fn sqlite(path: &Path, fsync: bool) -> Result<KeyStore, KmsError> {
        Ok(KeyStore(Backend::Sqlite(Arc::new(sqlite::Store::open(
            path, fsync,
        )?))))
    }

    /// The fleet's database (migrated). A change made through another node is enforced
    /// here within `change_bound`; past it, without news from the database, the key
    /// service refuses requests rather than answer from a copy that may be stale.
    pub fn postgres(db: Database, change_bound: Duration) -> KeyStore {
        KeyStore(Backend::Postgres {
            keys: PgKeys::new(db),
            bound: change_bound,
        })
    }
}

impl sqlite::Store {
    /// Applies one write in its own transaction, as the store always has.
    pub(super) fn apply(&self, write: &Write) -> Result<(), KmsError> {
        match write {
            Write::Key {
                record,
                new_material,
                removed,
            } => self.put_key(
                record,
                new_material.as_ref().map(|(seq, b)| (*seq, b.as_slice())),
                removed,
            ),
            Write::DestroyKey(id) => self.delete_key(id),
            Write::Alias(alias) => self.put_alias(alias),
            Write::DeleteAlias(name) => self.delete_alias(name),
            Write::Grant(grant) => self.put_grant(grant),
            Write::DeleteGrant(id) => self.delete_grant(id),
        }
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, KmsError> {
    serde_json::to_string(v).map_err(|e| KmsError::internal(format!("key store: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, KmsError> {
    serde_json::from_str(s)
        .map_err(|e| KmsError::internal(format!("key store: corrupt record: {e}")))
}
