//! The key service's state machine, driven directly with a manual clock, on each store (the
//! SQLite file of one gateway, a fleet's database): every change as it persists and
//! reloads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::caller::Caller;
use super::errors::KmsResult;
use super::service::{DAY_MS, KmsService, KmsSettings, Note};
use super::store::KeyStore;
use crate::clock::ManualClock;
use crate::crypto::RootKey;
use crate::policy::Principal;
use crate::postgres::Database;
use crate::postgres::testing::{self, Backings, conformance};

pub(super) const ACCOUNT: &str = "111122223333";
pub(super) const BOUND: Duration = Duration::from_millis(1000);

fn settings() -> KmsSettings {
    KmsSettings {
        region: "us-east-1".into(),
        account: ACCOUNT.into(),
        fsync: false,
        audit: None,
    }
}

pub(super) enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres(Database),
}

impl Backings for Backing {
    fn local() -> Backing {
        Backing::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn shared() -> Option<Backing> {
        Some(Backing::Postgres(testing::database().await?))
    }
}

impl Backing {
    /// A key service on the store (another node's, for a shared store).
    pub(super) async fn open(
        &self,
        root: &RootKey,
        clock: Arc<ManualClock>,
    ) -> KmsResult<KmsService> {
        match self {
            Backing::Sqlite(dir) => {
                KmsService::open(&dir.path().join("kms.sqlite"), root, clock, settings())
            }
            Backing::Postgres(db) => on(db.clone(), root, clock).await,
        }
    }

    /// How many materials of a key rest in the store.
    async fn materials_at_rest(&self, key_id: &str) -> i64 {
        match self {
            Backing::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("kms.sqlite"))
                .unwrap()
                .query_row(
                    "SELECT count(*) FROM kms_materials WHERE key_id = ?1",
                    [key_id],
                    |r| r.get(0),
                )
                .unwrap(),
            Backing::Postgres(db) => {
                sqlx::query_scalar("SELECT count(*) FROM kms_materials WHERE key_id = $1")
                    .bind(key_id)
                    .fetch_one(db.pool())
                    .await
                    .unwrap()
            }
        }
    }
}

/// A key service on a shared database (one node of a fleet).
pub(super) async fn on(
    db: Database,
    root: &RootKey,
    clock: Arc<ManualClock>,
) -> KmsResult<KmsService> {
    KmsService::open_with(KeyStore::postgres(db, BOUND), root, clock, settings()).await
}

pub(super) fn root_key() -> RootKey {
    RootKey::from_bytes([7; 32])
}

pub(super) fn caller(principal: Principal) -> Caller {
    Caller {
        principal,
        identity_policies: Vec::new(),
        source_ip: None,
        secure_transport: true,
        via_service: None,
        request_id: None,
    }
}

pub(super) struct Fixture {
    pub kms: KmsService,
    pub clock: Arc<ManualClock>,
    pub root: Caller,
}

impl Fixture {
    pub(super) fn of(kms: KmsService, clock: Arc<ManualClock>) -> Fixture {
        Fixture {
            kms,
            clock,
            root: caller(Principal::root(ACCOUNT)),
        }
    }
}

async fn fixture_on(b: &Backing) -> Fixture {
    let clock = ManualClock::new();
    Fixture::of(b.open(&root_key(), clock.clone()).await.unwrap(), clock)
}

/// A typed request from its JSON.
pub(super) fn input<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

impl Fixture {
    pub(super) async fn create(&self, params: Value) -> String {
        let out = self
            .kms
            .create_key(&self.root, &input(params), &mut Note::default())
            .await
            .unwrap();
        out.key_metadata.key_id
    }

    pub(super) async fn state(&self, key: &str) -> Result<String, String> {
        self.kms
            .describe_key(
                &self.root,
                &input(json!({"KeyId": key})),
                &mut Note::default(),
            )
            .await
            .map(|v| v.key_metadata.key_state.to_owned())
            .map_err(|e| e.code().to_owned())
    }

    /// DescribeKey's refusal of a request: (code, message).
    async fn state_of(&self, request: Value) -> (&'static str, String) {
        let e = self
            .kms
            .describe_key(&self.root, &input(request), &mut Note::default())
            .await
            .unwrap_err();
        (e.code(), e.message().to_owned())
    }

    pub(super) async fn data_key(&self, key: &str) -> Result<Vec<u8>, &'static str> {
        self.kms
            .generate_data_key(&self.root, key, &BTreeMap::new(), 32, &mut Note::default())
            .await
            .map(|d| d.ciphertext_blob)
            .map_err(|e| e.code())
    }

    pub(super) async fn decrypt(&self, blob: &[u8]) -> Result<(), &'static str> {
        self.decrypt_as(&self.root, blob).await
    }

    pub(super) async fn decrypt_as(
        &self,
        caller: &Caller,
        blob: &[u8],
    ) -> Result<(), &'static str> {
        self.kms
            .decrypt_blob(
                caller,
                blob,
                None,
                &BTreeMap::new(),
                ("kms:Decrypt", "Decrypt"),
                &mut Note::default(),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.code())
    }

    /// A grant of `operations` on `key` to `grantee`: (grant id, grant token).
    pub(super) async fn grant(
        &self,
        key: &str,
        grantee: &str,
        operations: &[&str],
        extra: Value,
    ) -> (String, String) {
        let mut params =
            json!({"KeyId": key, "GranteePrincipal": grantee, "Operations": operations});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let out = self
            .kms
            .create_grant(&self.root, &input(params), &mut Note::default())
            .await
            .unwrap();
        (out.grant_id, out.grant_token)
    }

    pub(super) async fn grants(&self, key: &str) -> usize {
        self.kms
            .list_grants(
                &self.root,
                &input(json!({"KeyId": key})),
                &mut Note::default(),
            )
            .await
            .unwrap()
            .grants
            .len()
    }

    /// Another service on the same store, as after a restart (or another node's).
    async fn reopen(&self, b: &Backing) -> Fixture {
        Fixture::of(
            b.open(&root_key(), self.clock.clone()).await.unwrap(),
            self.clock.clone(),
        )
    }

    pub(super) async fn call(&self, op: &str, key: &str, extra: Value) -> Result<(), &'static str> {
        let mut params = json!({"KeyId": key});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let n = &mut Note::default();
        let k = &self.kms;
        let r = &self.root;
        match op {
            "enable" => k.enable_key(r, &input(params), n).await.map(drop),
            "disable" => k.disable_key(r, &input(params), n).await.map(drop),
            "schedule" => k
                .schedule_key_deletion(r, &input(params), n)
                .await
                .map(drop),
            "cancel" => k.cancel_key_deletion(r, &input(params), n).await.map(drop),
            "rotate" => k.rotate_key_on_demand(r, &input(params), n).await.map(drop),
            "enable_rotation" => k.enable_key_rotation(r, &input(params), n).await.map(drop),
            "describe" => k
                .update_key_description(r, &input(params), n)
                .await
                .map(drop),
            "revoke" => k.revoke_grant(r, &input(params), n).await.map(drop),
            "retire" => k.retire_grant(r, &input(params), n).await.map(drop),
            _ => panic!("unknown op {op}"),
        }
        .map_err(|e| e.code())
    }
}

conformance!(super::Backing:
    enabled_disabled_and_back,
    deletion_window_ends_in_destroyed_material,
    rotation_adds_material_and_old_blobs_still_open,
    keys_and_material_survive_reopening_the_store,
    aliases_are_created_retargeted_and_deleted,
    grants_are_created_revoked_and_retired,
    retiring_a_grant_by_key_while_a_transition_is_due_does_not_deadlock,
);

async fn enabled_disabled_and_back(b: Backing) {
    let f = fixture_on(&b).await;
    let key = f.create(json!({})).await;
    let blob = f.data_key(&key).await.unwrap();
    f.call("disable", &key, json!({})).await.unwrap();
    assert_eq!(f.state(&key).await.unwrap(), "Disabled");
    assert_eq!(f.data_key(&key).await.unwrap_err(), "DisabledException");
    assert_eq!(f.decrypt(&blob).await.unwrap_err(), "DisabledException");
    let again = f.reopen(&b).await;
    assert_eq!(again.state(&key).await.unwrap(), "Disabled");
    assert_eq!(again.decrypt(&blob).await.unwrap_err(), "DisabledException");
    f.call("enable", &key, json!({})).await.unwrap();
    f.decrypt(&blob).await.unwrap();
    f.reopen(&b).await.decrypt(&blob).await.unwrap();
}

async fn deletion_window_ends_in_destroyed_material(b: Backing) {
    let f = fixture_on(&b).await;
    let key = f.create(json!({})).await;
    let blob = f.data_key(&key).await.unwrap();
    f.call("schedule", &key, json!({"PendingWindowInDays": 7}))
        .await
        .unwrap();
    assert_eq!(f.state(&key).await.unwrap(), "PendingDeletion");
    assert_eq!(
        f.decrypt(&blob).await.unwrap_err(),
        "KMSInvalidStateException"
    );
    assert_eq!(
        f.call("disable", &key, json!({})).await.unwrap_err(),
        "KMSInvalidStateException"
    );
    assert_eq!(
        f.call("schedule", &key, json!({})).await.unwrap_err(),
        "KMSInvalidStateException"
    );
    assert_eq!(
        f.reopen(&b).await.state(&key).await.unwrap(),
        "PendingDeletion"
    );
    f.call("cancel", &key, json!({})).await.unwrap();
    assert_eq!(f.state(&key).await.unwrap(), "Disabled");
    assert_eq!(f.reopen(&b).await.state(&key).await.unwrap(), "Disabled");
    f.call("schedule", &key, json!({"PendingWindowInDays": 30}))
        .await
        .unwrap();
    f.clock.advance(time::Duration::days(29));
    assert_eq!(f.state(&key).await.unwrap(), "PendingDeletion");
    assert_eq!(b.materials_at_rest(&key).await, 1);
    f.clock
        .advance(time::Duration::days(1) + time::Duration::seconds(1));
    assert_eq!(f.state(&key).await.unwrap_err(), "NotFoundException");
    assert_eq!(f.decrypt(&blob).await.unwrap_err(), "NotFoundException");
    assert!(f.kms.by_id(&key).is_none());
    assert_eq!(b.materials_at_rest(&key).await, 0, "the material is gone");
    let again = f.reopen(&b).await;
    assert!(again.kms.by_id(&key).is_none());
    assert_eq!(again.decrypt(&blob).await.unwrap_err(), "NotFoundException");
}

async fn rotation_adds_material_and_old_blobs_still_open(b: Backing) {
    let f = fixture_on(&b).await;
    let key = f.create(json!({})).await;
    let first = f.data_key(&key).await.unwrap();
    f.call("enable_rotation", &key, json!({"RotationPeriodInDays": 90}))
        .await
        .unwrap();
    f.call("rotate", &key, json!({})).await.unwrap();
    let second = f.data_key(&key).await.unwrap();
    assert_ne!(
        first[17..21],
        second[17..21],
        "blobs name their material version"
    );
    f.clock
        .advance(time::Duration::milliseconds(90 * DAY_MS + 1));
    let third = f.data_key(&key).await.unwrap();
    assert_ne!(second[17..21], third[17..21]);
    for blob in [&first, &second, &third] {
        f.decrypt(blob).await.unwrap();
    }
    assert_eq!(f.kms.by_id(&key).unwrap().record.materials.len(), 3);
    assert_eq!(b.materials_at_rest(&key).await, 3);
    let again = f.reopen(&b).await;
    for blob in [&first, &second, &third] {
        again.decrypt(blob).await.unwrap();
    }
}

async fn keys_and_material_survive_reopening_the_store(b: Backing) {
    let f = fixture_on(&b).await;
    let key = f
        .create(json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}))
        .await;
    let sym = f.create(json!({})).await;
    let blob = f.data_key(&sym).await.unwrap();
    let g = f.reopen(&b).await;
    assert!(g.kms.by_id(&key).is_some());
    g.decrypt(&blob).await.unwrap();
    // Another root key cannot open the material.
    let wrong = b.open(&RootKey::from_bytes([8; 32]), g.clock.clone()).await;
    assert!(wrong.is_err());
}

async fn aliases_are_created_retargeted_and_deleted(b: Backing) {
    let f = fixture_on(&b).await;
    let first = f.create(json!({})).await;
    let second = f.create(json!({})).await;
    let alias = |target: &str| input(json!({"AliasName": "alias/app", "TargetKeyId": target}));
    let n = &mut Note::default();
    f.kms
        .create_alias(&f.root, &alias(&first), n)
        .await
        .unwrap();
    let target = |f: &Fixture| f.kms.alias_key("alias/app").map(|k| k.record.id.clone());
    assert_eq!(target(&f.reopen(&b).await), Some(first.clone()));
    f.kms
        .update_alias(&f.root, &alias(&second), n)
        .await
        .unwrap();
    let again = f.reopen(&b).await;
    assert_eq!(target(&again), Some(second.clone()));
    let blob = again.data_key("alias/app").await.unwrap();
    f.kms
        .delete_alias(&f.root, &input(json!({"AliasName": "alias/app"})), n)
        .await
        .unwrap();
    let again = f.reopen(&b).await;
    assert_eq!(target(&again), None);
    assert_eq!(
        again.data_key("alias/app").await.unwrap_err(),
        "NotFoundException"
    );
    again.decrypt(&blob).await.unwrap();
}

async fn grants_are_created_revoked_and_retired(b: Backing) {
    let f = fixture_on(&b).await;
    let key = f.create(json!({})).await;
    let blob = f.data_key(&key).await.unwrap();
    let user = caller(Principal::user(ACCOUNT, "app"));
    let arn = user.principal.arn.clone();
    assert_eq!(
        f.decrypt_as(&user, &blob).await.unwrap_err(),
        "AccessDeniedException",
        "nothing allows the user yet"
    );
    let (revoked, _) = f.grant(&key, &arn, &["Decrypt"], json!({})).await;
    f.decrypt_as(&user, &blob).await.unwrap();
    f.reopen(&b).await.decrypt_as(&user, &blob).await.unwrap();
    f.call("revoke", &key, json!({"GrantId": revoked}))
        .await
        .unwrap();
    assert_eq!(
        f.decrypt_as(&user, &blob).await.unwrap_err(),
        "AccessDeniedException"
    );
    let again = f.reopen(&b).await;
    assert_eq!(
        again.decrypt_as(&user, &blob).await.unwrap_err(),
        "AccessDeniedException"
    );
    assert_eq!(again.grants(&key).await, 0);
    let (_, token) = f
        .grant(&key, &arn, &["Decrypt"], json!({"RetiringPrincipal": arn}))
        .await;
    assert_eq!(f.reopen(&b).await.grants(&key).await, 1);
    let n = &mut Note::default();
    f.kms
        .retire_grant(&user, &input(json!({"GrantToken": token})), n)
        .await
        .unwrap();
    let again = f.reopen(&b).await;
    assert_eq!(again.grants(&key).await, 0);
    assert_eq!(
        again.decrypt_as(&user, &blob).await.unwrap_err(),
        "AccessDeniedException"
    );
}

async fn retiring_a_grant_by_key_while_a_transition_is_due_does_not_deadlock(b: Backing) {
    let f = fixture_on(&b).await;
    let key = f.create(json!({})).await;
    let doomed = f.create(json!({})).await;
    let (grant, _) = f
        .grant(
            &key,
            "arn:aws:iam::111122223333:user/u",
            &["Decrypt"],
            json!({}),
        )
        .await;
    f.call("schedule", &doomed, json!({"PendingWindowInDays": 7}))
        .await
        .unwrap();
    f.clock.advance(time::Duration::days(8));
    let retire = f.call("retire", &key, json!({"GrantId": grant}));
    tokio::time::timeout(std::time::Duration::from_secs(10), retire)
        .await
        .expect("RetireGrant finished")
        .unwrap();
    assert!(f.kms.by_id(&doomed).is_none());
}

#[tokio::test]
async fn missing_members_lengths_and_ranges_are_validation_exceptions() {
    let b = Backing::local();
    let f = fixture_on(&b).await;
    let e = f.state_of(json!({})).await;
    assert_eq!(
        e,
        (
            "ValidationException",
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null".to_owned()
        )
    );
    let e = f.state_of(json!({"KeyId": ""})).await;
    assert_eq!(
        e.1,
        "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048"
    );
    let key = f.create(json!({})).await;
    let e = f
        .call("schedule", &key, json!({"PendingWindowInDays": 6}))
        .await
        .unwrap_err();
    assert_eq!(e, "ValidationException");
    let e = f
        .kms
        .list_keys(&f.root, &input(json!({"Limit": 1001})))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
    );
    let e = f
        .kms
        .create_key(
            &f.root,
            &input(json!({"Tags": [{"TagKey": "k"}]})),
            &mut Note::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "TagException");
}
