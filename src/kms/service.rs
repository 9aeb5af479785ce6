//! The key service: keys in memory (material unwrapped once), every change written through
//! to the store, time-driven transitions (rotation, material expiry, deletion) applied as
//! the injected clock passes them. With a store shared by a fleet, the keys in memory are a
//! copy kept current (see `changes`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

use super::caller::Caller;
use super::changes::{Change, Delta};
use super::errors::{KmsError, KmsResult};
use super::material::Secret;
use super::model::{
    AliasRecord, GrantRecord, KeyManager, KeyRecord, KeySpec, KeyState, KeyUsage, MaterialInfo,
    Origin, RotationType,
};
use super::store::{Backend, KeyStore};
use crate::audit::{AuditLog, AuditRecord};
use crate::clock::SharedClock;
use crate::crypto::{CatalogSealer, RootKey};
use crate::policy::{Policy, PolicyKind};
use crate::postgres::changes::{Replica, Watch};

pub const DAY_MS: i64 = 86_400_000;
pub use crate::arn::AWS_S3_ALIAS;

/// A key with its unwrapped material, by material seq.
pub struct KeyEntry {
    pub record: KeyRecord,
    pub secrets: BTreeMap<u32, Arc<Secret>>,
    /// The key policy, parsed once rather than on every request.
    pub policy: Arc<Policy>,
}

impl KeyEntry {
    pub(super) fn new(
        record: KeyRecord,
        secrets: BTreeMap<u32, Arc<Secret>>,
    ) -> KmsResult<KeyEntry> {
        let policy = Policy::parse(&record.policy, PolicyKind::Resource)
            .map_err(|e| KmsError::internal(format!("stored policy of key {}: {e}", record.id)))?;
        Ok(KeyEntry {
            record,
            secrets,
            policy: Arc::new(policy),
        })
    }

    pub fn current_secret(&self) -> Option<(&MaterialInfo, &Arc<Secret>)> {
        let m = self.record.current_material()?;
        Some((m, self.secrets.get(&m.seq)?))
    }
}

/// What an operation tells the audit trail besides its result.
#[derive(Debug, Default)]
pub struct Note {
    pub key_arn: Option<String>,
    pub key_version: Option<String>,
    pub context: Option<BTreeMap<String, String>>,
}

#[derive(Default)]
pub(super) struct State {
    pub keys: HashMap<String, Arc<KeyEntry>>,
    pub aliases: BTreeMap<String, AliasRecord>,
    pub grants: BTreeMap<String, GrantRecord>,
    /// The store revision this copy reflects (always 0 with a store of one gateway).
    pub revision: i64,
}

pub struct KmsSettings {
    pub region: String,
    pub account: String,
    pub fsync: bool,
    /// Where every operation is recorded; None only in tests of the service itself.
    pub audit: Option<AuditLog>,
}

#[derive(Clone)]
pub struct KmsService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub store: Backend,
    /// How current the copy is, when the store is shared with other nodes.
    pub watch: Option<Arc<Watch>>,
    pub sealer: CatalogSealer,
    pub token_key: Zeroizing<[u8; 32]>,
    pub clock: SharedClock,
    pub region: String,
    pub account: String,
    pub state: RwLock<State>,
    /// One change at a time from this node, so the store and memory never disagree.
    pub write: tokio::sync::Mutex<()>,
    /// The earliest time at which some key has a due transition (i64::MAX: none).
    pub next_event_ms: AtomicI64,
    pub audit: Option<AuditLog>,
    /// Consulted before a key is scheduled for deletion; set once, at start-up.
    pub deletion_guard: std::sync::OnceLock<Arc<dyn DeletionGuard>>,
}

/// What may stop a key's deletion from outside the key service: the object service,
/// asked to, refuses keys that still protect versions under COMPLIANCE retention.
#[async_trait::async_trait]
pub trait DeletionGuard: Send + Sync {
    /// Why `key_arn` must not be scheduled for deletion at `now_ms`, if it must not.
    async fn refusal(&self, key_arn: &str, now_ms: i64) -> Result<Option<String>, String>;
}

pub(super) fn material_aad(key_id: &str, seq: u32) -> Vec<u8> {
    format!("sealgate/kms/material/v1|{key_id}|{seq}").into_bytes()
}

impl KmsService {
    /// The key service of one gateway, on its SQLite file.
    pub fn open(
        path: &std::path::Path,
        root: &RootKey,
        clock: SharedClock,
        settings: KmsSettings,
    ) -> KmsResult<KmsService> {
        let store = KeyStore::sqlite(path, settings.fsync)?;
        KmsService::open_sqlite(store.0, root, clock, settings)
    }

    /// The key service on `store`. With a shared store, every key is read now; the copy is
    /// then kept current by [`crate::postgres::changes::Feed`] over [`KmsService::watch`],
    /// and requests fail once it cannot be confirmed current within the bound.
    pub async fn open_with(
        store: KeyStore,
        root: &RootKey,
        clock: SharedClock,
        settings: KmsSettings,
    ) -> KmsResult<KmsService> {
        if matches!(store.0, Backend::Sqlite(_)) {
            return KmsService::open_sqlite(store.0, root, clock, settings);
        }
        let svc = KmsService::new(store.0, root, clock, settings);
        let started = std::time::Instant::now();
        svc.inner.catch_up_now().await?;
        if let Some(watch) = &svc.inner.watch {
            watch.confirm(started);
        }
        Ok(svc)
    }

    fn open_sqlite(
        store: Backend,
        root: &RootKey,
        clock: SharedClock,
        settings: KmsSettings,
    ) -> KmsResult<KmsService> {
        let Backend::Sqlite(sqlite) = &store else {
            return Err(KmsError::internal("not a SQLite key store"));
        };
        let loaded = sqlite.load()?;
        let svc = KmsService::new(store, root, clock, settings);
        svc.inner
            .install(0, svc.inner.prepare(Delta::from(loaded))?);
        Ok(svc)
    }

    fn new(
        store: Backend,
        root: &RootKey,
        clock: SharedClock,
        settings: KmsSettings,
    ) -> KmsService {
        let bound = match &store {
            Backend::Postgres { bound, .. } => Some(*bound),
            Backend::Sqlite(_) => None,
        };
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<Inner>| {
            let replica: std::sync::Weak<dyn Replica> = me.clone();
            Inner {
                store,
                watch: bound.map(|b| Arc::new(Watch::new("kms", b, replica))),
                sealer: root.kms_material_sealer(),
                token_key: root.kms_token_key(),
                clock,
                region: settings.region,
                account: settings.account,
                state: RwLock::new(State::default()),
                write: tokio::sync::Mutex::new(()),
                next_event_ms: AtomicI64::new(i64::MAX),
                audit: settings.audit,
                deletion_guard: std::sync::OnceLock::new(),
            }
        });
        KmsService { inner }
    }

    /// Has ScheduleKeyDeletion ask `guard` first (once; a second guard is ignored).
    pub fn guard_deletion(&self, guard: Arc<dyn DeletionGuard>) {
        if self.inner.deletion_guard.set(guard).is_err() {
            tracing::warn!("a key deletion guard was already in place");
        }
    }

    /// How current this node's copy of a shared store is; None for a store of its own.
    pub fn watch(&self) -> Option<Arc<Watch>> {
        self.inner.watch.clone()
    }

    /// Fails closed when the copy of a shared store cannot be confirmed current: a key
    /// disabled or a grant revoked through another node is never overlooked.
    pub(super) async fn ensure_fresh(&self) -> KmsResult<()> {
        let Some(watch) = &self.inner.watch else {
            return Ok(());
        };
        watch.ensure_fresh().await.map_err(|e| {
            tracing::warn!(error = %e, "refusing a KMS request: the key state may be stale");
            KmsError::dependency_timeout(
                "The key service could not confirm it has the latest key state; retry the request.",
            )
        })
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    pub fn account(&self) -> &str {
        &self.inner.account
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Appends the audit record of one operation; the operation's answer waits for it, and
    /// a record that cannot be written fails the operation (nothing unaudited is answered).
    pub async fn record(
        &self,
        caller: &Caller,
        request_id: &str,
        operation: &str,
        note: &Note,
        result: &str,
    ) -> KmsResult<()> {
        crate::metrics::metrics()
            .kms_operations
            .get_or_create(&crate::metrics::KmsLabels {
                operation: operation.to_owned(),
                caller_service: if caller.via_service.is_some() {
                    "s3"
                } else {
                    "kms"
                },
                result: result.to_owned(),
            })
            .inc();
        let Some(audit) = &self.inner.audit else {
            return Ok(());
        };
        let record = AuditRecord {
            time: crate::audit::format_time(self.inner.clock.now()),
            request_id: request_id.to_owned(),
            principal: caller.principal.arn.clone(),
            source_ip: caller.source_ip.clone(),
            service: caller
                .via_service
                .as_deref()
                .map_or("kms", |via| via.split('.').next().unwrap_or("kms"))
                .to_owned(),
            operation: operation.to_owned(),
            key_arn: note.key_arn.clone(),
            key_version: note.key_version.clone(),
            encryption_context: note.context.clone(),
            result: result.to_owned(),
        };
        audit.append(record).await.map_err(|e| {
            tracing::error!(error = %e, "audit record could not be written; refusing the operation");
            KmsError::internal("The audit trail could not record this operation")
        })
    }

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.read()
    }

    pub fn key_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{id}",
            self.inner.region, self.inner.account
        )
    }

    pub fn alias_arn(&self, name: &str) -> String {
        crate::arn::kms_alias(&self.inner.region, &self.inner.account, name)
    }

    pub(super) fn seal_material(
        &self,
        key_id: &str,
        seq: u32,
        secret: &Secret,
    ) -> KmsResult<Vec<u8>> {
        let plain = secret.encode()?;
        Ok(self.inner.sealer.seal(&material_aad(key_id, seq), &plain))
    }

    /// Adds a changed key to `change`. Material the record no longer lists is destroyed, in
    /// the store and in memory; `new_material` is added. The entry answered is the one the
    /// change publishes once committed.
    pub(super) fn save_key(
        &self,
        change: &mut Change<'_>,
        record: KeyRecord,
        mut secrets: BTreeMap<u32, Arc<Secret>>,
        new_material: Option<(u32, Arc<Secret>)>,
    ) -> KmsResult<Arc<KeyEntry>> {
        let removed = record_removed(&record, &secrets);
        let sealed = match &new_material {
            Some((seq, secret)) => Some((*seq, self.seal_material(&record.id, *seq, secret)?)),
            None => None,
        };
        for seq in &removed {
            secrets.remove(seq);
        }
        if let Some((seq, secret)) = new_material {
            secrets.insert(seq, secret);
        }
        let entry = Arc::new(KeyEntry::new(record, secrets)?);
        change.put_key(entry.clone(), sealed, removed);
        Ok(entry)
    }

    /// Looks a key up by id, key ARN, and (where the operation allows) alias name or ARN.
    pub async fn resolve(&self, key_ref: &str, allow_alias: bool) -> KmsResult<Arc<KeyEntry>> {
        self.apply_due().await?;
        let not_found = || KmsError::not_found(format!("Invalid keyId '{key_ref}'"));
        let alias_name = if let Some(rest) = key_ref.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            if parts.len() != 5 || parts[1] != "kms" {
                return Err(KmsError::invalid_arn(format!("Invalid arn {key_ref}")));
            }
            if parts[2] != self.inner.region || parts[3] != self.inner.account {
                return Err(not_found());
            }
            match parts[4].split_once('/') {
                Some(("key", id)) => return self.key(id, None).await?.ok_or_else(not_found),
                Some(("alias", _)) => parts[4].to_owned(),
                _ => return Err(KmsError::invalid_arn(format!("Invalid arn {key_ref}"))),
            }
        } else if key_ref.starts_with("alias/") {
            key_ref.to_owned()
        } else {
            return self.key(key_ref, None).await?.ok_or_else(not_found);
        };
        if !allow_alias {
            return Err(not_found());
        }
        let target = || {
            self.read()
                .aliases
                .get(&alias_name)
                .map(|a| a.target_key_id.clone())
        };
        let target = match target() {
            None if alias_name != AWS_S3_ALIAS => {
                self.catch_up_on_miss().await?;
                target()
            }
            found => found,
        };
        match target {
            Some(id) => self.key(&id, None).await?.ok_or_else(not_found),
            None if alias_name == AWS_S3_ALIAS => self.aws_managed_key(AWS_S3_ALIAS).await,
            None => Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                self.alias_arn(&alias_name)
            ))),
        }
    }

    /// The key an alias points to, if the alias exists; unlike [`KmsService::resolve`] it
    /// never creates an AWS managed key.
    pub fn alias_key(&self, alias: &str) -> Option<Arc<KeyEntry>> {
        let id = self.read().aliases.get(alias)?.target_key_id.clone();
        self.by_id(&id)
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<KeyEntry>> {
        self.read().keys.get(id).cloned()
    }

    /// A key (with material `seq`, if named) that this copy may not hold yet: with a shared
    /// store, a miss is looked up in the store before it is answered, since another node
    /// may have just made the key or rotated it.
    pub(super) async fn key(&self, id: &str, seq: Option<u32>) -> KmsResult<Option<Arc<KeyEntry>>> {
        let held = |e: &Arc<KeyEntry>| seq.is_none_or(|s| e.record.material(s).is_some());
        if let Some(entry) = self.by_id(id).filter(held) {
            return Ok(Some(entry));
        }
        self.catch_up_on_miss().await?;
        Ok(self.by_id(id))
    }

    async fn catch_up_on_miss(&self) -> KmsResult<()> {
        let Some(watch) = &self.inner.watch else {
            return Ok(());
        };
        watch.catch_up().await.map_err(|e| {
            tracing::warn!(error = %e, "a key missing from this node's copy could not be looked up");
            KmsError::dependency_timeout("The key store did not answer; retry the request.")
        })
    }

    /// The AWS managed key behind `alias/aws/SERVICE`, created on first use as AWS does.
    async fn aws_managed_key(&self, alias: &str) -> KmsResult<Arc<KeyEntry>> {
        let mut change = self.begin().await?;
        if let Some(id) = self
            .read()
            .aliases
            .get(alias)
            .map(|a| a.target_key_id.clone())
            && let Some(k) = self.by_id(&id)
        {
            return Ok(k);
        }
        let service = alias.trim_start_matches("alias/aws/");
        let now = self.now_ms();
        let policy = aws_managed_policy(&self.inner.account, &self.inner.region, service);
        let mut record = self.new_record(
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
            Origin::AwsKms,
            format!(
                "Default key that protects my {} data when no other key is defined",
                service.to_uppercase()
            ),
            policy,
        );
        record.manager = KeyManager::Aws;
        record.rotation_period_days = Some(365);
        record.next_rotation_ms = Some(now + 365 * DAY_MS);
        let material = first_material(&mut record).await?;
        let entry = self.save_key(&mut change, record, BTreeMap::new(), material)?;
        change.put_alias(AliasRecord {
            name: alias.to_owned(),
            target_key_id: entry.record.id.clone(),
            created_ms: now,
            updated_ms: now,
        });
        self.commit(change).await?;
        Ok(entry)
    }

    pub(super) fn new_record(
        &self,
        spec: KeySpec,
        usage: KeyUsage,
        origin: Origin,
        description: String,
        policy: String,
    ) -> KeyRecord {
        KeyRecord {
            id: crate::crypto::random_uuid().to_string(),
            account: self.inner.account.clone(),
            region: self.inner.region.clone(),
            created_ms: self.now_ms(),
            description,
            spec,
            usage,
            origin,
            manager: KeyManager::Customer,
            state: if origin == Origin::External {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            deletion_date_ms: None,
            pending_window_days: None,
            policy,
            tags: BTreeMap::new(),
            rotation_period_days: None,
            next_rotation_ms: None,
            on_demand_rotation_started_ms: None,
            materials: Vec::new(),
            import_parameters: None,
            imported_material_id: None,
        }
    }

    /// Adds a fresh material version (rotation) to `change`; older versions stay for
    /// decryption.
    pub(super) async fn rotate(
        &self,
        change: &mut Change<'_>,
        entry: &KeyEntry,
        kind: RotationType,
    ) -> KmsResult<Arc<KeyEntry>> {
        let mut record = entry.record.clone();
        let now = self.now_ms();
        let seq = record.next_seq();
        let spec = record.spec;
        let secret = tokio::task::spawn_blocking(move || Secret::generate(spec))
            .await
            .map_err(|e| KmsError::internal(format!("key generation: {e}")))??;
        record.materials.push(MaterialInfo {
            seq,
            material_id: hex::encode(super::material::random_bytes(32)),
            created_ms: now,
            rotation_type: Some(kind),
            expiration_model: None,
            valid_to_ms: None,
        });
        if let (Some(days), RotationType::Automatic) = (record.rotation_period_days, kind) {
            record.next_rotation_ms = Some(now + i64::from(days) * DAY_MS);
        }
        self.save_key(
            change,
            record,
            entry.secrets.clone(),
            Some((seq, Arc::new(secret))),
        )
    }

    /// Brings a shared store's copy up to date if it may be stale (or fails), then applies
    /// every transition the clock has reached: deletion windows that ended (the material is
    /// destroyed), imported material that expired, automatic rotations. Every request that
    /// reads keys, aliases or grants goes through here first.
    pub async fn apply_due(&self) -> KmsResult<()> {
        self.ensure_fresh().await?;
        let now = self.now_ms();
        if now < self.inner.next_event_ms.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut change = self.begin().await?;
        let due: Vec<Arc<KeyEntry>> = self
            .read()
            .keys
            .values()
            .filter(|k| next_event(&k.record).is_some_and(|t| t <= now))
            .cloned()
            .collect();
        for entry in due {
            let r = &entry.record;
            if r.state == KeyState::PendingDeletion && r.deletion_date_ms.is_some_and(|d| d <= now)
            {
                change.destroy_key(&r.id);
                tracing::info!(key = %r.id, "deletion window ended; key material destroyed");
                continue;
            }
            let expired: Vec<u32> = r
                .materials
                .iter()
                .filter(|m| m.valid_to_ms.is_some_and(|v| v <= now))
                .map(|m| m.seq)
                .collect();
            if !expired.is_empty() {
                let mut record = r.clone();
                record.materials.retain(|m| !expired.contains(&m.seq));
                if record.materials.is_empty() && record.state != KeyState::PendingDeletion {
                    record.state = KeyState::PendingImport;
                }
                tracing::info!(key = %r.id, "imported key material expired and was deleted");
                self.save_key(&mut change, record, entry.secrets.clone(), None)?;
                continue;
            }
            if r.state == KeyState::Enabled && r.next_rotation_ms.is_some_and(|t| t <= now) {
                self.rotate(&mut change, &entry, RotationType::Automatic)
                    .await?;
            }
        }
        self.commit(change).await?;
        self.inner.recompute_next_event();
        Ok(())
    }

    /// Mints an unforgeable token naming `id` (grant tokens, import tokens).
    pub(super) fn mint_token(&self, kind: &str, id: &str) -> String {
        use base64::Engine as _;
        let mac = self.token_mac(kind, id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode([id.as_bytes(), b".", &mac].concat())
    }

    /// The id inside a token minted by `mint_token`, if the token is genuine.
    pub(super) fn open_token(&self, kind: &str, token: &str) -> Option<String> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .ok()?;
        if raw.len() < 33 {
            return None;
        }
        let (body, mac) = raw.split_at(raw.len() - 32);
        let id = std::str::from_utf8(body.strip_suffix(b".")?).ok()?;
        use subtle::ConstantTimeEq as _;
        bool::from(self.token_mac(kind, id).ct_eq(mac)).then(|| id.to_owned())
    }

    fn token_mac(&self, kind: &str, id: &str) -> [u8; 32] {
        use hmac::Mac as _;
        let mut m = crate::crypto::hmac_sha256(self.inner.token_key.as_ref());
        m.update(kind.as_bytes());
        m.update(b"|");
        m.update(id.as_bytes());
        m.finalize().into_bytes().into()
    }
}

/// Generates a new key's first material, unless it awaits an import. Done before the key's
/// change begins: generating a large RSA key takes seconds, during which no change of the
/// store (on any node of a fleet) should wait.
pub(super) async fn first_material(
    record: &mut KeyRecord,
) -> KmsResult<Option<(u32, Arc<Secret>)>> {
    if record.origin == Origin::External {
        return Ok(None);
    }
    let spec = record.spec;
    let secret = tokio::task::spawn_blocking(move || Secret::generate(spec))
        .await
        .map_err(|e| KmsError::internal(format!("key generation: {e}")))??;
    record.materials.push(MaterialInfo {
        seq: 1,
        material_id: hex::encode(super::material::random_bytes(32)),
        created_ms: record.created_ms,
        rotation_type: None,
        expiration_model: None,
        valid_to_ms: None,
    });
    Ok(Some((1, Arc::new(secret))))
}

fn record_removed(record: &KeyRecord, secrets: &BTreeMap<u32, Arc<Secret>>) -> Vec<u32> {
    secrets
        .keys()
        .filter(|seq| record.material(**seq).is_none())
        .copied()
        .collect()
}

pub(super) fn next_event(r: &KeyRecord) -> Option<i64> {
    let deletion = (r.state == KeyState::PendingDeletion)
        .then_some(r.deletion_date_ms)
        .flatten();
    let expiry = r.materials.iter().filter_map(|m| m.valid_to_ms).min();
    let rotation = (r.state == KeyState::Enabled)
        .then_some(r.next_rotation_ms)
        .flatten();
    [deletion, expiry, rotation].into_iter().flatten().min()
}

/// The policy AWS attaches to its managed keys: any principal of the account may use the
/// key through the service; the account may read the key's metadata.
fn aws_managed_policy(account: &str, region: &str, service: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-2"),
        "Statement": [
            {
                "Sid": format!("Allow access through {} for all principals in the account that are authorized to use {}", service.to_uppercase(), service.to_uppercase()),
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": format!("{service}.{region}.amazonaws.com"),
                }}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": crate::arn::iam_root(account)},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            }
        ]
    })
    .to_string()
}

/// The key policy AWS attaches when CreateKey names none: the account's IAM decides.
pub fn default_key_policy(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": crate::arn::iam_root(account)},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}
