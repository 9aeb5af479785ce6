//! Two IAM services on one database, as two nodes of a fleet: access keys deactivated or
//! deleted and policies changed through one are enforced by the other within the change
//! bound (also when its notifications do not arrive); a node cut off from the database
//! looks up nobody rather than trust its copy; changes made at once through both nodes are
//! all kept.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::service::{IamService, Target};
use super::store::IamStore;
use super::tests::lookup;
use crate::crypto::RootKey;
use crate::identity::UserDirectory as _;
use crate::postgres::Database;
use crate::postgres::changes::Feed;
use crate::postgres::testing::{self, Aborting, Link, eventually};

const ACCT: &str = "000000000000";
const BOUND: Duration = Duration::from_millis(1000);
const PATIENCE: Duration = Duration::from_millis(2 * BOUND.as_millis() as u64);

const DENY_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;

struct Node {
    iam: IamService,
    _feed: Aborting,
}

async fn node(db: Database, root: &RootKey, listen: bool) -> Node {
    let store = IamStore::postgres(db.clone(), root.iam_sealer(), BOUND);
    let iam = IamService::open(store, crate::clock::system(), HashSet::new())
        .await
        .unwrap();
    let mut feed = Feed::new(db, iam.watch());
    if !listen {
        feed = feed.without_listener();
    }
    Node {
        iam,
        _feed: Aborting(feed.spawn()),
    }
}

/// Nodes A and B; B reaches the database through a link that can be cut.
async fn nodes(b_listens: bool) -> Option<(Node, Node, Link)> {
    let (db, url) = testing::database_with_url().await?;
    let root = RootKey::generate();
    let a = node(db, &root, true).await;
    let (b_db, link) = Link::to(&url).await;
    let b = node(b_db, &root, b_listens).await;
    Some((a, b, link))
}

/// Whether B's copy shows the key active, asking nothing of the database.
fn active_in_copy(node: &Node, user: &str, key: &str) -> Option<bool> {
    node.iam.read(ACCT, |a| {
        a.users
            .get(user)
            .and_then(|u| u.keys.iter().find(|k| k.id == key))
            .map(|k| k.active)
    })
}

async fn enforced_by_b(b_listens: bool) {
    let Some((a, b, _link)) = nodes(b_listens).await else {
        return;
    };
    a.iam.create_user(ACCT, "alice", "/").await.unwrap();
    let key = a.iam.create_access_key(ACCT, "alice").await.unwrap().key;
    let took = eventually(PATIENCE, || async {
        lookup(&b.iam, &key.id).await.is_some()
    })
    .await;
    assert!(
        took.is_some(),
        "a key made through A authenticates through B"
    );

    a.iam
        .update_access_key(ACCT, "alice", &key.id, false)
        .await
        .unwrap();
    // B's copy follows without being asked (notified, or polled a few times per bound)...
    let took = eventually(PATIENCE, || async {
        active_in_copy(&b, "alice", &key.id) == Some(false)
    })
    .await;
    assert!(
        took.is_some_and(|t| t <= BOUND),
        "B's copy shows the key inactive within the bound: {took:?}"
    );
    // ...and B authenticates nobody by it.
    assert!(lookup(&b.iam, &key.id).await.is_none());

    a.iam
        .update_access_key(ACCT, "alice", &key.id, true)
        .await
        .unwrap();
    a.iam
        .put_inline_policy(ACCT, Target::User("alice"), "deny", DENY_ALL)
        .await
        .unwrap();
    let took = eventually(PATIENCE, || async {
        lookup(&b.iam, &key.id)
            .await
            .is_some_and(|id| id.policies.len() == 1)
    })
    .await;
    assert!(took.is_some(), "B decides by the policy A put");

    a.iam
        .delete_access_key(ACCT, "alice", &key.id)
        .await
        .unwrap();
    let took = eventually(PATIENCE, || async {
        lookup(&b.iam, &key.id).await.is_none()
    })
    .await;
    assert!(took.is_some(), "a key deleted through A is refused by B");
}

#[tokio::test]
async fn what_one_node_changes_the_other_enforces() {
    enforced_by_b(true).await;
}

#[tokio::test]
async fn without_notifications_the_poll_enforces_changes_within_the_bound() {
    enforced_by_b(false).await;
}

#[tokio::test]
async fn a_node_cut_off_from_the_database_looks_up_nobody_rather_than_trust_its_copy() {
    let Some((a, b, link)) = nodes(true).await else {
        return;
    };
    a.iam.create_user(ACCT, "bob", "/").await.unwrap();
    let key = a.iam.create_access_key(ACCT, "bob").await.unwrap().key;
    let took = eventually(PATIENCE, || async {
        lookup(&b.iam, &key.id).await.is_some()
    })
    .await;
    assert!(took.is_some());

    link.cut();
    a.iam.delete_access_key(ACCT, "bob", &key.id).await.unwrap();
    let deleted = std::time::Instant::now();
    let took = eventually(PATIENCE, || async {
        let asked = std::time::Instant::now();
        match b.iam.lookup(&key.id).await {
            // B may not know yet, but only for as long as the bound allows.
            Ok(Some(_)) => {
                assert!(
                    asked.duration_since(deleted) < BOUND,
                    "B authenticated by a key deleted more than a bound ago"
                );
                false
            }
            Ok(None) => panic!("B cannot have learnt of the deletion"),
            Err(_) => true,
        }
    })
    .await;
    assert!(
        took.is_some(),
        "B fails closed once its copy is older than the bound"
    );

    link.restore();
    let took = eventually(PATIENCE * 3, || async {
        matches!(b.iam.lookup(&key.id).await, Ok(None))
    })
    .await;
    assert!(
        took.is_some(),
        "B looks up again, current, once it reaches the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_at_once_through_both_nodes_are_all_kept() {
    let Some((a, b, _link)) = nodes(true).await else {
        return;
    };
    let (a, b) = (Arc::new(a), Arc::new(b));
    a.iam.create_user(ACCT, "carol", "/").await.unwrap();
    let mut work = tokio::task::JoinSet::new();
    for i in 0..4 {
        let (a, b) = (a.clone(), b.clone());
        work.spawn(async move {
            let (na, nb) = (format!("a{i}"), format!("b{i}"));
            let (ra, rb) = tokio::join!(
                a.iam.create_user(ACCT, &na, "/"),
                b.iam.create_user(ACCT, &nb, "/")
            );
            ra.unwrap();
            rb.unwrap();
        });
    }
    // On one user at once: A gives it a key while B gives it a policy.
    let (key, policy) = tokio::join!(
        a.iam.create_access_key(ACCT, "carol"),
        b.iam
            .put_inline_policy(ACCT, Target::User("carol"), "p", DENY_ALL),
    );
    let key = key.unwrap().key;
    policy.unwrap();
    while let Some(done) = work.join_next().await {
        done.unwrap();
    }
    for node in [&a, &b] {
        let took = eventually(PATIENCE, || async {
            let users = node.iam.read(ACCT, |s| s.users.len());
            let carol = lookup(&node.iam, &key.id).await;
            users == 9 && carol.is_some_and(|id| id.policies.len() == 1)
        })
        .await;
        assert!(
            took.is_some(),
            "every user, carol's key and her policy survived"
        );
    }
}

#[tokio::test]
async fn a_node_whose_copy_is_behind_changes_the_stored_state() {
    let Some((db, _)) = testing::database_with_url().await else {
        return;
    };
    let root = RootKey::generate();
    let a = node(db.clone(), &root, true).await;
    // No feed: C learns of A's changes only when it changes something itself.
    let store = || IamStore::postgres(db.clone(), root.iam_sealer(), BOUND);
    let c = IamService::open(store(), crate::clock::system(), HashSet::new())
        .await
        .unwrap();
    a.iam.create_user(ACCT, "dana", "/").await.unwrap();
    assert!(c.read(ACCT, |s| s.users.is_empty()), "C is behind");
    let key = c.create_access_key(ACCT, "dana").await.unwrap().key;
    a.iam
        .put_inline_policy(ACCT, Target::User("dana"), "p", DENY_ALL)
        .await
        .unwrap();
    c.update_access_key(ACCT, "dana", &key.id, false)
        .await
        .unwrap();
    let (state, _) = store().load().await.unwrap();
    let dana = &state.accounts[ACCT].users["dana"];
    assert!(!dana.keys[0].active, "C's change is stored");
    assert!(dana.inline.contains_key("p"), "on top of A's");
}
