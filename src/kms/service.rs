//! The key service: keys in memory (material unwrapped once), every change written through
//! to the store, time-driven transitions (rotation, material expiry, deletion) applied as
//! the injected clock passes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

use super::caller::Caller;
use super::errors::{KmsError, KmsResult};
use super::material::Secret;
use super::model::{
    AliasRecord, GrantRecord, KeyManager, KeyRecord, KeySpec, KeyState, KeyUsage, MaterialInfo,
    Origin, RotationType,
};
use super::store::Store;
use crate::audit::{AuditLog, AuditRecord};
use crate::clock::SharedClock;
use crate::crypto::{CatalogSealer, RootKey};
use crate::policy::{Policy, PolicyKind};

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
    fn new(record: KeyRecord, secrets: BTreeMap<u32, Arc<Secret>>) -> KmsResult<KeyEntry> {
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
    pub store: Arc<Store>,
    pub sealer: CatalogSealer,
    pub token_key: Zeroizing<[u8; 32]>,
    pub clock: SharedClock,
    pub region: String,
    pub account: String,
    pub state: RwLock<State>,
    /// One change at a time, so the store and memory never disagree.
    pub write: tokio::sync::Mutex<()>,
    /// The earliest time at which some key has a due transition (i64::MAX: none).
    pub next_event_ms: AtomicI64,
    pub audit: Option<AuditLog>,
}

fn material_aad(key_id: &str, seq: u32) -> Vec<u8> {
    format!("sealgate/kms/material/v1|{key_id}|{seq}").into_bytes()
}

impl KmsService {
    pub fn open(
        path: &std::path::Path,
        root: &RootKey,
        clock: SharedClock,
        settings: KmsSettings,
    ) -> KmsResult<KmsService> {
        let store = Store::open(path, settings.fsync)?;
        let loaded = store.load()?;
        let sealer = root.kms_material_sealer();
        let mut secrets: HashMap<String, BTreeMap<u32, Arc<Secret>>> = HashMap::new();
        let specs: HashMap<&str, KeySpec> = loaded
            .keys
            .iter()
            .map(|k| (k.id.as_str(), k.spec))
            .collect();
        for (key_id, seq, sealed) in &loaded.materials {
            let Some(spec) = specs.get(key_id.as_str()) else {
                continue;
            };
            let plain = sealer
                .open(&material_aad(key_id, *seq), sealed)
                .map_err(|e| KmsError::internal(format!("key {key_id} material {seq}: {e}")))?;
            let plain = Zeroizing::new(plain);
            secrets
                .entry(key_id.clone())
                .or_default()
                .insert(*seq, Arc::new(Secret::decode(*spec, &plain)?));
        }
        let mut state = State::default();
        for record in loaded.keys {
            let secrets = secrets.remove(&record.id).unwrap_or_default();
            state
                .keys
                .insert(record.id.clone(), Arc::new(KeyEntry::new(record, secrets)?));
        }
        state.aliases = loaded
            .aliases
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        state.grants = loaded
            .grants
            .into_iter()
            .map(|g| (g.grant_id.clone(), g))
            .collect();
        let svc = KmsService {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                sealer,
                token_key: root.kms_token_key(),
                clock,
                region: settings.region,
                account: settings.account,
                state: RwLock::new(state),
                write: tokio::sync::Mutex::new(()),
                next_event_ms: AtomicI64::new(i64::MAX),
                audit: settings.audit,
            }),
        };
        svc.recompute_next_event();
        Ok(svc)
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
        // A poisoned lock means a panic mid-update of plain maps; the data is still whole.
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
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

    /// Runs a store write off the async threads.
    pub(super) async fn persist<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> KmsResult<T> + Send + 'static,
    ) -> KmsResult<T> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| KmsError::internal(format!("key store task: {e}")))?
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

    /// Saves a changed key and publishes it. Material the record no longer lists is
    /// destroyed, in the store and in memory; `new_material` is added.
    pub(super) async fn save_key(
        &self,
        record: KeyRecord,
        mut secrets: BTreeMap<u32, Arc<Secret>>,
        new_material: Option<(u32, Arc<Secret>)>,
    ) -> KmsResult<Arc<KeyEntry>> {
        let removed = record_removed(&record, &secrets);
        let sealed = match &new_material {
            Some((seq, secret)) => Some((*seq, self.seal_material(&record.id, *seq, secret)?)),
            None => None,
        };
        let rec = record.clone();
        let gone = removed.clone();
        self.persist(move |s| {
            s.put_key(
                &rec,
                sealed.as_ref().map(|(seq, b)| (*seq, b.as_slice())),
                &gone,
            )
        })
        .await?;
        for seq in &removed {
            secrets.remove(seq);
        }
        if let Some((seq, secret)) = new_material {
            secrets.insert(seq, secret);
        }
        let entry = Arc::new(KeyEntry::new(record, secrets)?);
        self.write_state()
            .keys
            .insert(entry.record.id.clone(), entry.clone());
        self.recompute_next_event();
        Ok(entry)
    }

    /// Stores an alias (new or retargeted) and publishes it.
    pub(super) async fn save_alias(&self, alias: AliasRecord) -> KmsResult<()> {
        let a = alias.clone();
        self.persist(move |s| s.put_alias(&a)).await?;
        self.write_state().aliases.insert(alias.name.clone(), alias);
        Ok(())
    }

    pub(super) async fn save_grant(&self, grant: GrantRecord) -> KmsResult<()> {
        let g = grant.clone();
        self.persist(move |s| s.put_grant(&g)).await?;
        self.write_state()
            .grants
            .insert(grant.grant_id.clone(), grant);
        Ok(())
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
                Some(("key", id)) => return self.by_id(id).ok_or_else(not_found),
                Some(("alias", _)) => parts[4].to_owned(),
                _ => return Err(KmsError::invalid_arn(format!("Invalid arn {key_ref}"))),
            }
        } else if key_ref.starts_with("alias/") {
            key_ref.to_owned()
        } else {
            return self.by_id(key_ref).ok_or_else(not_found);
        };
        if !allow_alias {
            return Err(not_found());
        }
        let target = self
            .read()
            .aliases
            .get(&alias_name)
            .map(|a| a.target_key_id.clone());
        match target {
            Some(id) => self.by_id(&id).ok_or_else(not_found),
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

    /// The AWS managed key behind `alias/aws/SERVICE`, created on first use as AWS does.
    async fn aws_managed_key(&self, alias: &str) -> KmsResult<Arc<KeyEntry>> {
        let _guard = self.inner.write.lock().await;
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
        let entry = self.insert_new_key(record).await?;
        let alias = AliasRecord {
            name: alias.to_owned(),
            target_key_id: entry.record.id.clone(),
            created_ms: now,
            updated_ms: now,
        };
        self.save_alias(alias).await?;
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

    /// Stores a new key, generating its first material unless it awaits an import.
    pub(super) async fn insert_new_key(&self, mut record: KeyRecord) -> KmsResult<Arc<KeyEntry>> {
        let material = if record.origin == Origin::External {
            None
        } else {
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
            Some((1, Arc::new(secret)))
        };
        self.save_key(record, BTreeMap::new(), material).await
    }

    /// Adds a fresh material version (rotation); older versions stay for decryption.
    pub(super) async fn rotate(
        &self,
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
        self.save_key(record, entry.secrets.clone(), Some((seq, Arc::new(secret))))
            .await
    }

    fn recompute_next_event(&self) {
        let next = self
            .read()
            .keys
            .values()
            .filter_map(|k| next_event(&k.record))
            .min()
            .unwrap_or(i64::MAX);
        self.inner.next_event_ms.store(next, Ordering::Release);
    }

    /// Applies every transition the clock has reached: deletion windows that ended (the
    /// material is destroyed), imported material that expired, automatic rotations.
    pub async fn apply_due(&self) -> KmsResult<()> {
        let now = self.now_ms();
        if now < self.inner.next_event_ms.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.inner.write.lock().await;
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
                let id = r.id.clone();
                self.persist(move |s| s.delete_key(&id)).await?;
                let mut st = self.write_state();
                st.keys.remove(&r.id);
                st.aliases.retain(|_, a| a.target_key_id != r.id);
                st.grants.retain(|_, g| g.key_id != r.id);
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
                self.save_key(record, entry.secrets.clone(), None).await?;
                continue;
            }
            if r.state == KeyState::Enabled && r.next_rotation_ms.is_some_and(|t| t <= now) {
                self.rotate(&entry, RotationType::Automatic).await?;
            }
        }
        self.recompute_next_event();
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

fn record_removed(record: &KeyRecord, secrets: &BTreeMap<u32, Arc<Secret>>) -> Vec<u32> {
    secrets
        .keys()
        .filter(|seq| record.material(**seq).is_none())
        .copied()
        .collect()
}

fn next_event(r: &KeyRecord) -> Option<i64> {
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
