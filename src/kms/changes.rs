//! How the key service changes its store, and how its copy in memory follows the store.
//!
//! A change is computed and written under a lock: this node's, and with a store shared by
//! a fleet the store's own, taken before the copy is brought up to the store's revision and
//! held until the change commits, so no change of another node is overwritten. What a
//! change writes reaches memory only once it has committed, so no request is answered from
//! a change that may yet fail. The copy follows other nodes' changes by reading what was
//! written after the revision it reflects: records that did not change are kept as they are
//! (their material is not unwrapped again), and keys that are gone take their material with
//! them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::future::BoxFuture;
use zeroize::Zeroizing;

use super::errors::{KmsError, KmsResult};
use super::material::Secret;
use super::model::{AliasRecord, GrantRecord, KeyRecord, KeySpec};
use super::service::{Inner, KeyEntry, KmsService, State, material_aad, next_event};
use super::store::{Backend, Loaded, PgTx, Table, Write};
use crate::postgres::changes::{CatchUpError, Replica};

/// One change in progress: the locks it holds and what it will write.
pub(super) struct Change<'a> {
    _serial: tokio::sync::MutexGuard<'a, ()>,
    /// The shared store's transaction, holding its lock.
    tx: Option<PgTx>,
    /// The revision the change was computed on.
    base: i64,
    writes: Vec<Write>,
    /// The entries `Write::Key`s publish, by key id.
    entries: HashMap<String, Arc<KeyEntry>>,
}

impl Change<'_> {
    pub(super) fn put_key(
        &mut self,
        entry: Arc<KeyEntry>,
        new_material: Option<(u32, Vec<u8>)>,
        removed: Vec<u32>,
    ) {
        self.writes.push(Write::Key {
            record: entry.record.clone(),
            new_material,
            removed,
        });
        self.entries.insert(entry.record.id.clone(), entry);
    }

    pub(super) fn destroy_key(&mut self, id: &str) {
        self.writes.push(Write::DestroyKey(id.to_owned()));
    }

    pub(super) fn put_alias(&mut self, alias: AliasRecord) {
        self.writes.push(Write::Alias(alias));
    }

    pub(super) fn delete_alias(&mut self, name: &str) {
        self.writes.push(Write::DeleteAlias(name.to_owned()));
    }

    pub(super) fn put_grant(&mut self, grant: GrantRecord) {
        self.writes.push(Write::Grant(grant));
    }

    pub(super) fn delete_grant(&mut self, id: &str) {
        self.writes.push(Write::DeleteGrant(id.to_owned()));
    }
}

/// What a copy takes in to follow its store: the records written after its revision.
pub(super) struct Delta {
    pub revision: i64,
    pub keys: Vec<KeyRecord>,
    pub aliases: Vec<AliasRecord>,
    pub grants: Vec<GrantRecord>,
    /// Every id of a table, where rows the copy holds are gone from it.
    pub key_ids: Option<HashSet<String>>,
    pub alias_names: Option<HashSet<String>>,
    pub grant_ids: Option<HashSet<String>>,
    /// (key id, seq, sealed) of material the copy lacks.
    pub materials: Vec<(String, u32, Vec<u8>)>,
}

impl From<Loaded> for Delta {
    fn from(loaded: Loaded) -> Delta {
        Delta {
            revision: 0,
            keys: loaded.keys,
            aliases: loaded.aliases,
            grants: loaded.grants,
            key_ids: None,
            alias_names: None,
            grant_ids: None,
            materials: loaded.materials,
        }
    }
}

/// A delta made ready to install: material unwrapped, entries built.
pub(super) struct Prepared {
    delta: Delta,
    entries: Vec<Arc<KeyEntry>>,
}

impl KmsService {
    /// Begins a change. With a shared store, this waits for the store's lock and brings the
    /// copy up to the store's revision first, so the change is computed on what other
    /// nodes changed before it.
    pub(super) async fn begin(&self) -> KmsResult<Change<'_>> {
        let serial = self.inner.write.lock().await;
        let (tx, base) = match &self.inner.store {
            Backend::Sqlite(_) => (None, 0),
            Backend::Postgres { keys, .. } => {
                let (mut tx, revision) = keys.lock().await?;
                self.inner.catch_up_in(&mut tx, revision, true).await?;
                (Some(tx), revision)
            }
        };
        Ok(Change {
            _serial: serial,
            tx,
            base,
            writes: Vec::new(),
            entries: HashMap::new(),
        })
    }

    /// Writes a change and, once it is stored, publishes it in memory.
    pub(super) async fn commit(&self, change: Change<'_>) -> KmsResult<()> {
        let Change {
            _serial,
            tx,
            base,
            writes,
            entries,
        } = change;
        if writes.is_empty() {
            return Ok(());
        }
        match (tx, &self.inner.store) {
            (Some(tx), _) => {
                tx.commit(&writes, base + 1).await?;
                self.inner.publish(base, base + 1, &writes, &entries);
                Ok(())
            }
            (None, Backend::Sqlite(store)) => {
                // Each write is its own SQLite transaction: those stored before a failure
                // are published, as they are in the store.
                let store = store.clone();
                let (writes, stored, result) = tokio::task::spawn_blocking(move || {
                    let mut stored = 0;
                    for w in &writes {
                        if let Err(e) = store.apply(w) {
                            return (writes, stored, Err(e));
                        }
                        stored += 1;
                    }
                    (writes, stored, Ok(()))
                })
                .await
                .map_err(|e| KmsError::internal(format!("key store task: {e}")))?;
                self.inner.publish(base, base, &writes[..stored], &entries);
                result
            }
            (None, Backend::Postgres { .. }) => Err(KmsError::internal(
                "a change of a shared store without its lock",
            )),
        }
    }
}

impl Inner {
    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock means a panic mid-update of plain maps; the data is still whole.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn recompute_next_event(&self) {
        let next = self
            .read()
            .keys
            .values()
            .filter_map(|k| next_event(&k.record))
            .min()
            .unwrap_or(i64::MAX);
        self.next_event_ms.store(next, Ordering::Release);
    }

    /// Applies committed writes to the copy, unless the copy has moved past `base` (then it
    /// already holds them).
    fn publish(
        &self,
        base: i64,
        revision: i64,
        writes: &[Write],
        entries: &HashMap<String, Arc<KeyEntry>>,
    ) {
        {
            let mut st = self.write_state();
            if st.revision != base {
                return;
            }
            for write in writes {
                match write {
                    Write::Key { record, .. } => {
                        if let Some(entry) = entries.get(&record.id) {
                            st.keys.insert(record.id.clone(), entry.clone());
                        }
                    }
                    Write::DestroyKey(id) => {
                        st.keys.remove(id);
                        st.aliases.retain(|_, a| a.target_key_id != *id);
                        st.grants.retain(|_, g| g.key_id != *id);
                    }
                    Write::Alias(a) => {
                        st.aliases.insert(a.name.clone(), a.clone());
                    }
                    Write::DeleteAlias(name) => {
                        st.aliases.remove(name);
                    }
                    Write::Grant(g) => {
                        st.grants.insert(g.grant_id.clone(), g.clone());
                    }
                    Write::DeleteGrant(id) => {
                        st.grants.remove(id);
                    }
                }
            }
            st.revision = revision;
        }
        self.recompute_next_event();
    }

    /// Unwraps a delta's material and builds its entries, keeping the material the copy
    /// already holds.
    pub(super) fn prepare(&self, delta: Delta) -> KmsResult<Prepared> {
        let specs: HashMap<&str, KeySpec> =
            delta.keys.iter().map(|k| (k.id.as_str(), k.spec)).collect();
        let mut fresh: HashMap<String, BTreeMap<u32, Arc<Secret>>> = HashMap::new();
        for (key_id, seq, sealed) in &delta.materials {
            let Some(spec) = specs.get(key_id.as_str()) else {
                continue;
            };
            let plain = self
                .sealer
                .open(&material_aad(key_id, *seq), sealed)
                .map_err(|e| KmsError::internal(format!("key {key_id} material {seq}: {e}")))?;
            let plain = Zeroizing::new(plain);
            fresh
                .entry(key_id.clone())
                .or_default()
                .insert(*seq, Arc::new(Secret::decode(*spec, &plain)?));
        }
        let st = self.read();
        let entries = delta
            .keys
            .iter()
            .map(|record| {
                let mut secrets = fresh.remove(&record.id).unwrap_or_default();
                if let Some(old) = st.keys.get(&record.id) {
                    for m in &record.materials {
                        if let Some(s) = old.secrets.get(&m.seq) {
                            secrets.entry(m.seq).or_insert_with(|| s.clone());
                        }
                    }
                }
                KeyEntry::new(record.clone(), secrets).map(Arc::new)
            })
            .collect::<KmsResult<Vec<_>>>()?;
        Ok(Prepared { delta, entries })
    }

    /// Installs a prepared delta read against `base`; false if the copy has moved since.
    pub(super) fn install(&self, base: i64, prepared: Prepared) -> bool {
        let Prepared { delta, entries } = prepared;
        {
            let mut st = self.write_state();
            if st.revision != base {
                return false;
            }
            for entry in entries {
                st.keys.insert(entry.record.id.clone(), entry);
            }
            if let Some(ids) = &delta.key_ids {
                st.keys.retain(|id, _| ids.contains(id));
            }
            for a in delta.aliases {
                st.aliases.insert(a.name.clone(), a);
            }
            if let Some(names) = &delta.alias_names {
                st.aliases.retain(|name, _| names.contains(name));
            }
            for g in delta.grants {
                st.grants.insert(g.grant_id.clone(), g);
            }
            if let Some(ids) = &delta.grant_ids {
                st.grants.retain(|id, _| ids.contains(id));
            }
            st.revision = delta.revision;
        }
        self.recompute_next_event();
        true
    }

    /// Brings the copy up to the shared store's revision (nothing for a store of one's own).
    pub(super) async fn catch_up_now(&self) -> KmsResult<()> {
        let Backend::Postgres { keys, .. } = &self.store else {
            return Ok(());
        };
        if keys.revision().await? == self.read().revision {
            return Ok(());
        }
        let (mut tx, revision) = keys.snapshot().await?;
        self.catch_up_in(&mut tx, revision, false).await?;
        tx.close().await
    }

    /// Brings the copy to `revision`, reading in `tx` (a snapshot, or a change holding the
    /// lock). A copy ahead of the store: under the lock, the store went back (a restored
    /// backup) and is read whole; in a snapshot, this node committed since, which is fine.
    async fn catch_up_in(&self, tx: &mut PgTx, revision: i64, locked: bool) -> KmsResult<()> {
        // The copy moves under this only by other catch-ups, which read no further than
        // `revision` while the store is locked or in the snapshot: a few rounds settle it.
        for _ in 0..4 {
            let base = self.read().revision;
            if base == revision || (base > revision && !locked) {
                return Ok(());
            }
            let since = if base < revision { base } else { 0 };
            let delta = self.read_delta(tx, since, revision).await?;
            if self.install(base, self.prepare(delta)?) {
                return Ok(());
            }
        }
        Err(KmsError::internal(
            "the key copy kept moving while catching up",
        ))
    }

    /// What changed after `since`, up to `revision`; ids are read only for tables that lost
    /// rows, material only where the copy lacks it.
    async fn read_delta(&self, tx: &mut PgTx, since: i64, revision: i64) -> KmsResult<Delta> {
        let changed = tx.changed_since(since).await?;
        let (lost, wanted) = {
            let st = self.read();
            let new_keys = changed
                .keys
                .iter()
                .filter(|k| !st.keys.contains_key(&k.id))
                .count();
            let new_aliases = changed
                .aliases
                .iter()
                .filter(|a| !st.aliases.contains_key(&a.name))
                .count();
            let new_grants = changed
                .grants
                .iter()
                .filter(|g| !st.grants.contains_key(&g.grant_id))
                .count();
            // Every row written since is in `changed`, so the copy lost rows exactly when
            // it would hold more than the table does.
            let lost = [
                st.keys.len() + new_keys != changed.counts[0],
                st.aliases.len() + new_aliases != changed.counts[1],
                st.grants.len() + new_grants != changed.counts[2],
            ];
            let wanted: Vec<(String, u32)> = changed
                .keys
                .iter()
                .flat_map(|k| {
                    let held = st.keys.get(&k.id);
                    k.materials
                        .iter()
                        .filter(move |m| held.is_none_or(|e| !e.secrets.contains_key(&m.seq)))
                        .map(|m| (k.id.clone(), m.seq))
                })
                .collect();
            (lost, wanted)
        };
        let mut ids = [None, None, None];
        for (i, table) in [Table::Keys, Table::Aliases, Table::Grants]
            .into_iter()
            .enumerate()
        {
            if lost[i] {
                ids[i] = Some(tx.ids(table).await?);
            }
        }
        let [key_ids, alias_names, grant_ids] = ids;
        Ok(Delta {
            revision,
            keys: changed.keys,
            aliases: changed.aliases,
            grants: changed.grants,
            key_ids,
            alias_names,
            grant_ids,
            materials: tx.materials(&wanted).await?,
        })
    }
}

impl Replica for Inner {
    fn catch_up(&self) -> BoxFuture<'_, Result<(), CatchUpError>> {
        Box::pin(async move { self.catch_up_now().await.map_err(CatchUpError::from) })
    }
}
