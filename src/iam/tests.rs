//! The IAM service on each store (the file of one gateway, a fleet's database): every
//! change as it persists and reloads, and who authenticates by it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::model::IamState;
use super::service::{IamService, OpenError, Target};
use super::store::{IAM_FILE, IamStore, StoreError};
use crate::crypto::RootKey;
use crate::identity::{Identity, UserDirectory as _};
use crate::postgres::Database;
use crate::postgres::testing::{self, Backings, conformance};

const ACCT: &str = "000000000000";
const BOUND: Duration = Duration::from_millis(1000);

const LIST_KEYS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]}"#;

pub(super) enum Backing {
    File(tempfile::TempDir),
    Postgres(Database),
}

impl Backings for Backing {
    fn local() -> Backing {
        Backing::File(tempfile::tempdir().unwrap())
    }

    async fn shared() -> Option<Backing> {
        Some(Backing::Postgres(testing::database().await?))
    }
}

impl Backing {
    pub(super) fn store(&self, root: &RootKey) -> IamStore {
        match self {
            Backing::File(dir) => IamStore::new(dir.path(), root.iam_sealer(), false),
            Backing::Postgres(db) => IamStore::postgres(db.clone(), root.iam_sealer(), BOUND),
        }
    }

    /// A service on the store, with one config user (`fromconfig`).
    pub(super) async fn open(&self, root: &RootKey) -> IamService {
        let config_users = HashSet::from([(ACCT.to_owned(), "fromconfig".to_owned())]);
        IamService::open(self.store(root), crate::clock::system(), config_users)
            .await
            .unwrap()
    }

    /// The state as it rests.
    async fn raw(&self) -> Vec<u8> {
        match self {
            Backing::File(dir) => std::fs::read(dir.path().join(IAM_FILE)).unwrap(),
            Backing::Postgres(db) => sqlx::query_scalar("SELECT sealed FROM iam_state")
                .fetch_one(db.pool())
                .await
                .unwrap(),
        }
    }
}

pub(super) async fn lookup(iam: &IamService, key: &str) -> Option<Arc<Identity>> {
    iam.lookup(key).await.unwrap()
}

async fn save(store: &IamStore, state: &IamState) {
    let change = store.begin().await.unwrap();
    store.commit(change, state).await.unwrap();
}

conformance!(super::Backing:
    identities_follow_every_change_and_survive_a_reopen,
    access_keys_deactivated_or_deleted_stay_so_after_a_reopen,
    policies_put_attached_detached_and_deleted_stay_so_after_a_reopen,
    state_rests_sealed_and_refuses_another_root_key,
    config_users_are_shown_read_only_and_their_names_stay_theirs,
    a_stored_policy_that_no_longer_parses_locks_its_user_out,
    refused_changes_leave_the_state_as_it_was,
);

async fn identities_follow_every_change_and_survive_a_reopen(b: Backing) {
    let root = RootKey::generate();
    let iam = b.open(&root).await;
    iam.create_user(ACCT, "alice", "/").await.unwrap();
    let key = iam.create_access_key(ACCT, "alice").await.unwrap().key;
    assert!(lookup(&iam, &key.id).await.unwrap().policies.is_empty());
    // Policies reach a user inline, attached, and through a group.
    iam.put_inline_policy(ACCT, Target::User("alice"), "inline", LIST_KEYS)
        .await
        .unwrap();
    let (name, p) = iam
        .create_policy(ACCT, "managed", "/", "", LIST_KEYS)
        .await
        .unwrap();
    let arn = crate::iam::model::policy_arn(ACCT, &p.path, &name);
    iam.set_attachment(ACCT, Target::User("alice"), &arn, true)
        .await
        .unwrap();
    iam.create_group(ACCT, "team", "/").await.unwrap();
    iam.set_membership(ACCT, "team", "alice", true)
        .await
        .unwrap();
    iam.put_inline_policy(ACCT, Target::Group("team"), "g", LIST_KEYS)
        .await
        .unwrap();
    assert_eq!(lookup(&iam, &key.id).await.unwrap().policies.len(), 3);
    assert_eq!(
        lookup(&iam, &key.id).await.unwrap().principal.arn,
        "arn:aws:iam::000000000000:user/alice"
    );
    iam.update_access_key(ACCT, "alice", &key.id, false)
        .await
        .unwrap();
    assert!(
        lookup(&iam, &key.id).await.is_none(),
        "inactive keys do not authenticate"
    );
    iam.update_access_key(ACCT, "alice", &key.id, true)
        .await
        .unwrap();
    iam.create_user(ACCT, "dave", "/team/a/").await.unwrap();
    let dave = iam.create_access_key(ACCT, "dave").await.unwrap().key;
    let principal = lookup(&iam, &dave.id).await.unwrap().principal.clone();
    assert_eq!(principal.arn, "arn:aws:iam::000000000000:user/team/a/dave");
    assert_eq!(
        principal.kind,
        crate::policy::PrincipalKind::User {
            name: "dave".into()
        }
    );
    drop(iam);
    let again = b.open(&root).await;
    let identity = lookup(&again, &key.id).await.unwrap();
    assert_eq!(identity.secret_key, key.secret);
    assert_eq!(identity.policies.len(), 3);
}

async fn access_keys_deactivated_or_deleted_stay_so_after_a_reopen(b: Backing) {
    let root = RootKey::generate();
    let iam = b.open(&root).await;
    iam.create_user(ACCT, "erin", "/").await.unwrap();
    let first = iam.create_access_key(ACCT, "erin").await.unwrap().key;
    let second = iam.create_access_key(ACCT, "erin").await.unwrap().key;
    iam.update_access_key(ACCT, "erin", &first.id, false)
        .await
        .unwrap();
    iam.delete_access_key(ACCT, "erin", &second.id)
        .await
        .unwrap();
    drop(iam);
    let iam = b.open(&root).await;
    assert!(lookup(&iam, &first.id).await.is_none(), "still inactive");
    assert!(lookup(&iam, &second.id).await.is_none(), "still deleted");
    let keys = iam.read(ACCT, |a| a.users["erin"].keys.clone());
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].active);
    assert_eq!(
        iam.delete_access_key(ACCT, "erin", &second.id)
            .await
            .unwrap_err()
            .code(),
        "NoSuchEntity"
    );
    iam.update_access_key(ACCT, "erin", &first.id, true)
        .await
        .unwrap();
    drop(iam);
    let iam = b.open(&root).await;
    assert_eq!(
        lookup(&iam, &first.id).await.unwrap().secret_key,
        first.secret
    );
}

async fn policies_put_attached_detached_and_deleted_stay_so_after_a_reopen(b: Backing) {
    let root = RootKey::generate();
    let iam = b.open(&root).await;
    iam.create_user(ACCT, "frank", "/").await.unwrap();
    let key = iam.create_access_key(ACCT, "frank").await.unwrap().key;
    iam.put_inline_policy(ACCT, Target::User("frank"), "a", LIST_KEYS)
        .await
        .unwrap();
    iam.put_inline_policy(ACCT, Target::User("frank"), "b", LIST_KEYS)
        .await
        .unwrap();
    let (name, p) = iam
        .create_policy(ACCT, "m", "/", "d", LIST_KEYS)
        .await
        .unwrap();
    let arn = crate::iam::model::policy_arn(ACCT, &p.path, &name);
    iam.set_attachment(ACCT, Target::User("frank"), &arn, true)
        .await
        .unwrap();
    drop(iam);
    let iam = b.open(&root).await;
    assert_eq!(lookup(&iam, &key.id).await.unwrap().policies.len(), 3);
    iam.delete_inline_policy(ACCT, Target::User("frank"), "a")
        .await
        .unwrap();
    assert_eq!(
        iam.delete_policy(ACCT, &arn).await.unwrap_err().code(),
        "DeleteConflict",
        "an attached policy stays"
    );
    iam.set_attachment(ACCT, Target::User("frank"), &arn, false)
        .await
        .unwrap();
    iam.delete_policy(ACCT, &arn).await.unwrap();
    drop(iam);
    let iam = b.open(&root).await;
    assert_eq!(lookup(&iam, &key.id).await.unwrap().policies.len(), 1);
    iam.read(ACCT, |a| {
        assert!(a.policies.is_empty());
        let frank = &a.users["frank"];
        assert_eq!(frank.inline.keys().collect::<Vec<_>>(), ["b"]);
        assert!(frank.attached.is_empty());
    });
}

async fn state_rests_sealed_and_refuses_another_root_key(b: Backing) {
    let root = RootKey::generate();
    let iam = b.open(&root).await;
    iam.create_user(ACCT, "alice", "/").await.unwrap();
    let key = iam.create_access_key(ACCT, "alice").await.unwrap().key;
    let raw = b.raw().await;
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(key.secret.as_bytes()),
        "secrets never rest in the clear"
    );
    assert!(!contains(b"alice"));
    let other = b.store(&RootKey::generate());
    assert!(matches!(other.load().await, Err(StoreError::Sealed(_))));
}

async fn config_users_are_shown_read_only_and_their_names_stay_theirs(b: Backing) {
    let root = RootKey::generate();
    let iam = b.open(&root).await;
    // Names are compared without case, as IAM does.
    assert_eq!(
        iam.create_user(ACCT, "FromConfig", "/")
            .await
            .unwrap_err()
            .code(),
        "EntityAlreadyExists"
    );
    let (name, user) = iam.config_user(ACCT, "FROMCONFIG").unwrap();
    assert_eq!(name, "fromconfig");
    assert!(user.user_id.starts_with("AIDA") && user.user_id.len() == 21);
    assert_eq!(
        user.user_id,
        b.open(&root)
            .await
            .config_user(ACCT, "fromconfig")
            .unwrap()
            .1
            .user_id,
        "a config user's id is the same after a restart"
    );
    assert!(iam.config_user("111111111111", "fromconfig").is_none());
    assert_eq!(iam.config_user_names(ACCT), ["fromconfig"]);

    // A user made through the API before the config gained that name stops start-up.
    iam.create_user(ACCT, "Later", "/").await.unwrap();
    drop(iam);
    let taken = HashSet::from([(ACCT.to_owned(), "later".to_owned())]);
    let err = IamService::open(b.store(&root), crate::clock::system(), taken)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, OpenError::ConfigUserTaken { stored, .. } if stored == "Later"),
        "{err}"
    );
}

async fn a_stored_policy_that_no_longer_parses_locks_its_user_out(b: Backing) {
    let root = RootKey::generate();
    let iam = b.open(&root).await;
    iam.create_user(ACCT, "carol", "/").await.unwrap();
    let key = iam.create_access_key(ACCT, "carol").await.unwrap().key;
    iam.put_inline_policy(ACCT, Target::User("carol"), "p", LIST_KEYS)
        .await
        .unwrap();
    drop(iam);
    // As if a later grammar refused what an earlier one stored.
    let store = b.store(&root);
    let (mut state, _) = store.load().await.unwrap();
    let carol = state
        .accounts
        .get_mut(ACCT)
        .unwrap()
        .users
        .get_mut("carol")
        .unwrap();
    carol.inline.insert(
        "deny".into(),
        r#"{"Statement":[{"Effect":"Maybe"}]}"#.into(),
    );
    save(&store, &state).await;
    let again = b.open(&root).await;
    assert!(
        lookup(&again, &key.id).await.is_none(),
        "without its (possibly denying) policy the user would be allowed more"
    );
}

async fn refused_changes_leave_the_state_as_it_was(b: Backing) {
    let root = RootKey::generate();
    let iam = b.open(&root).await;
    assert_eq!(
        iam.create_user(ACCT, "fromconfig", "/")
            .await
            .unwrap_err()
            .code(),
        "EntityAlreadyExists"
    );
    for bad in ["team/", "/team", "/a team/", "/équipe/"] {
        assert_eq!(
            iam.create_user(ACCT, "bob", bad).await.unwrap_err().code(),
            "ValidationError",
            "{bad}"
        );
    }
    iam.create_user(ACCT, "bob", "/").await.unwrap();
    let err = iam
        .put_inline_policy(
            ACCT,
            Target::User("bob"),
            "p",
            r#"{"Statement":[{"Effect":"Maybe"}]}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocument");
    iam.create_access_key(ACCT, "bob").await.unwrap();
    iam.create_access_key(ACCT, "bob").await.unwrap();
    assert_eq!(
        iam.create_access_key(ACCT, "bob").await.unwrap_err().code(),
        "LimitExceeded"
    );
    assert_eq!(
        iam.delete_user(ACCT, "bob").await.unwrap_err().code(),
        "DeleteConflict"
    );
    drop(iam);
    let iam = b.open(&root).await;
    iam.read(ACCT, |a| {
        let bob = &a.users["bob"];
        assert!(bob.inline.is_empty());
        assert_eq!(bob.keys.len(), 2);
    });
    assert_eq!(
        iam.read("111111111111", |a| a.users.len()),
        0,
        "accounts do not see each other's users"
    );
}
