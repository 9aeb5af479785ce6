//! The key service's state machine, driven directly with a manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::caller::Caller;
use super::input::Input;
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

fn input(v: Value) -> Input {
    Input(v.as_object().cloned().unwrap_or_default())
}

impl Fixture {
    async fn create(&self, params: Value) -> String {
        let out = self
            .kms
            .create_key(&self.root, &input(params), &mut Note::default())
            .await
            .unwrap();
        out["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }

    async fn state(&self, key: &str) -> Result<String, String> {
        self.kms
            .describe_key(
                &self.root,
                &input(json!({"KeyId": key})),
                &mut Note::default(),
            )
            .await
            .map(|v| v["KeyMetadata"]["KeyState"].as_str().unwrap().to_owned())
            .map_err(|e| e.code().to_owned())
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

    async fn call(&self, op: &str, key: &str, extra: Value) -> Result<Value, &'static str> {
        let mut params = json!({"KeyId": key});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let i = input(params);
        let n = &mut Note::default();
        let k = &self.kms;
        let r = &self.root;
        match op {
            "enable" => k.enable_key(r, &i, n).await,
            "disable" => k.disable_key(r, &i, n).await,
            "schedule" => k.schedule_key_deletion(r, &i, n).await,
            "cancel" => k.cancel_key_deletion(r, &i, n).await,
            "rotate" => k.rotate_key_on_demand(r, &i, n).await,
            "enable_rotation" => k.enable_key_rotation(r, &i, n).await,
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
    let params = input(json!({"KeyId": key, "GrantId": grant["GrantId"]}));
    let mut note = Note::default();
    let retire = f.kms.retire_grant(&f.root, &params, &mut note);
    tokio::time::timeout(std::time::Duration::from_secs(10), retire)
        .await
        .expect("RetireGrant finished")
        .unwrap();
    assert!(f.kms.by_id(&doomed).is_none());
}
