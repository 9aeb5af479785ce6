//! The key service's state machine, driven directly with a manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::caller::Caller;
use super::service::{DAY_MS, KmsService, KmsSettings, Note};
use crate::clock::ManualClock;
use crate::crypto::RootKey;
use crate::policy::Principal;

fn settings() -> KmsSettings {
    KmsSettings {
        region: "us-east-1".into(),
        account: "111122223333".into(),
        fsync: false,
        audit: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    kms: KmsService,
    clock: Arc<ManualClock>,
    root: Caller,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let kms = KmsService::open(
        &dir.path().join("kms.sqlite"),
        &RootKey::from_bytes([7; 32]),
        clock.clone(),
        settings(),
    )
    .unwrap();
    let root = Caller {
        principal: Principal::root("111122223333"),
        identity_policies: Vec::new(),
        source_ip: None,
        secure_transport: true,
        via_service: None,
    };
    Fixture {
        _dir: dir,
        kms,
        clock,
        root,
    }
}

/// A typed request from its JSON.
fn input<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

impl Fixture {
    async fn create(&self, params: Value) -> String {
        let out = self
            .kms
            .create_key(&self.root, &input(params), &mut Note::default())
            .await
            .unwrap();
        out.key_metadata.key_id
    }

    async fn state(&self, key: &str) -> Result<String, String> {
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

    async fn data_key(&self, key: &str) -> Result<Vec<u8>, &'static str> {
        self.kms
            .generate_data_key(&self.root, key, &BTreeMap::new(), 32, &mut Note::default())
            .await
            .map(|d| d.ciphertext_blob)
            .map_err(|e| e.code())
    }

    async fn decrypt(&self, blob: &[u8]) -> Result<(), &'static str> {
        self.kms
            .decrypt_blob(
                &self.root,
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

    async fn call(&self, op: &str, key: &str, extra: Value) -> Result<(), &'static str> {
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
            _ => panic!("unknown op {op}"),
        }
        .map_err(|e| e.code())
    }
}

#[tokio::test]
async fn enabled_disabled_and_back() {
    let f = fixture();
    let key = f.create(json!({})).await;
    let blob = f.data_key(&key).await.unwrap();
    f.call("disable", &key, json!({})).await.unwrap();
    assert_eq!(f.state(&key).await.unwrap(), "Disabled");
    assert_eq!(f.data_key(&key).await.unwrap_err(), "DisabledException");
    assert_eq!(f.decrypt(&blob).await.unwrap_err(), "DisabledException");
    f.call("enable", &key, json!({})).await.unwrap();
    f.decrypt(&blob).await.unwrap();
}

#[tokio::test]
async fn deletion_window_ends_in_destroyed_material() {
    let f = fixture();
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
    f.call("cancel", &key, json!({})).await.unwrap();
    assert_eq!(f.state(&key).await.unwrap(), "Disabled");
    f.call("schedule", &key, json!({"PendingWindowInDays": 30}))
        .await
        .unwrap();
    f.clock.advance(time::Duration::days(29));
    assert_eq!(f.state(&key).await.unwrap(), "PendingDeletion");
    f.clock
        .advance(time::Duration::days(1) + time::Duration::seconds(1));
    assert_eq!(f.state(&key).await.unwrap_err(), "NotFoundException");
    assert_eq!(f.decrypt(&blob).await.unwrap_err(), "NotFoundException");
    assert!(f.kms.by_id(&key).is_none());
}

#[tokio::test]
async fn rotation_adds_material_and_old_blobs_still_open() {
    let f = fixture();
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
}

#[tokio::test]
async fn keys_and_material_survive_reopening_the_store() {
    let f = fixture();
    let key = f
        .create(json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}))
        .await;
    let sym = f.create(json!({})).await;
    let blob = f.data_key(&sym).await.unwrap();
    let path = f._dir.path().join("kms.sqlite");
    let again = KmsService::open(
        &path,
        &RootKey::from_bytes([7; 32]),
        f.clock.clone(),
        settings(),
    )
    .unwrap();
    assert!(again.by_id(&key).is_some());
    let g = Fixture { kms: again, ..f };
    g.decrypt(&blob).await.unwrap();
    // Another root key cannot open the material.
    let wrong = KmsService::open(
        &path,
        &RootKey::from_bytes([8; 32]),
        g.clock.clone(),
        settings(),
    );
    assert!(wrong.is_err());
}

#[tokio::test]
async fn retiring_a_grant_by_key_while_a_transition_is_due_does_not_deadlock() {
    let f = fixture();
    let key = f.create(json!({})).await;
    let doomed = f.create(json!({})).await;
    let grant = f
        .kms
        .create_grant(
            &f.root,
            &input(
                json!({"KeyId": key, "GranteePrincipal": "arn:aws:iam::111122223333:user/u",
                          "Operations": ["Decrypt"]}),
            ),
            &mut Note::default(),
        )
        .await
        .unwrap();
    f.call("schedule", &doomed, json!({"PendingWindowInDays": 7}))
        .await
        .unwrap();
    f.clock.advance(time::Duration::days(8));
    let params = input(json!({"KeyId": key, "GrantId": grant.grant_id}));
    let mut note = Note::default();
    let retire = f.kms.retire_grant(&f.root, &params, &mut note);
    tokio::time::timeout(std::time::Duration::from_secs(10), retire)
        .await
        .expect("RetireGrant finished")
        .unwrap();
    assert!(f.kms.by_id(&doomed).is_none());
}

#[tokio::test]
async fn missing_members_lengths_and_ranges_are_validation_exceptions() {
    let f = fixture();
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
