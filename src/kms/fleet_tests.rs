//! Two key services on one database, as two nodes of a fleet: what one changes, the other
//! enforces within the change bound (also when its notifications do not arrive); a node cut
//! off from the database refuses rather than answer from its copy; changes made at once
//! through both nodes are all kept.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::service::Note;
use super::tests::{ACCOUNT, BOUND, Fixture, caller, input, on, root_key};
use crate::clock::ManualClock;
use crate::policy::Principal;
use crate::postgres::Database;
use crate::postgres::changes::Feed;
use crate::postgres::testing::{self, Aborting, Link, eventually};

/// Long enough for any promise of the bound to be kept, with room for a slow machine.
const PATIENCE: Duration = Duration::from_millis(2 * BOUND.as_millis() as u64);

struct Node {
    f: Fixture,
    _feed: Aborting,
}

/// How node B hears of changes.
#[derive(Clone, Copy, PartialEq)]
enum Hearing {
    Notified,
    PollOnly,
}

/// A node on `db`, with its feed running.
async fn node(db: Database, clock: Arc<ManualClock>, hearing: Hearing) -> Node {
    let kms = on(db.clone(), &root_key(), clock.clone()).await.unwrap();
    let mut feed = Feed::new(db, kms.watch());
    if hearing == Hearing::PollOnly {
        feed = feed.without_listener();
    }
    Node {
        f: Fixture::of(kms, clock),
        _feed: Aborting(feed.spawn()),
    }
}

/// Nodes A and B; B reaches the database through a link that can be cut.
async fn nodes(hearing: Hearing) -> Option<(Node, Node, Link, Database)> {
    let (db, url) = testing::database_with_url().await?;
    let clock = ManualClock::new();
    let a = node(db.clone(), clock.clone(), Hearing::Notified).await;
    let (b_db, link) = Link::to(&url).await;
    let b = node(b_db, clock, hearing).await;
    Some((a, b, link, db))
}

/// The state of `key` in a node's copy, asking nothing of the database.
fn copy_state_of(f: &Fixture, key: &str) -> Option<&'static str> {
    f.kms.by_id(key).map(|k| k.record.state.as_str())
}

fn copy_state(node: &Node, key: &str) -> Option<&'static str> {
    copy_state_of(&node.f, key)
}

async fn enforced_by_b(hearing: Hearing, cut_listeners: bool) {
    let Some((a, b, _link, db)) = nodes(hearing).await else {
        return;
    };
    let key = a.f.create(json!({})).await;
    let blob = a.f.data_key(&key).await.unwrap();
    b.f.decrypt(&blob).await.unwrap();
    let user = caller(Principal::user(ACCOUNT, "app"));
    let (grant, _) =
        a.f.grant(&key, &user.principal.arn, &["Decrypt"], json!({}))
            .await;
    let took = eventually(PATIENCE, || async {
        b.f.decrypt_as(&user, &blob).await.is_ok()
    })
    .await;
    assert!(
        took.is_some(),
        "a grant made through A lets the grantee in through B"
    );
    if cut_listeners {
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE query ILIKE 'LISTEN%' AND datname = current_database()",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert!(!cut.is_empty(), "the nodes were listening");
    }

    a.f.call("revoke", &key, json!({"GrantId": grant}))
        .await
        .unwrap();
    let took = eventually(PATIENCE, || async {
        b.f.decrypt_as(&user, &blob).await == Err("AccessDeniedException")
    })
    .await;
    assert!(
        took.is_some(),
        "B refuses the grantee once A revoked the grant"
    );

    a.f.call("disable", &key, json!({})).await.unwrap();
    // B's copy follows without being asked (notified, or polled a few times per bound)...
    let took = eventually(PATIENCE, || async {
        copy_state(&b, &key) == Some("Disabled")
    })
    .await;
    assert!(
        took.is_some_and(|t| t <= BOUND),
        "B's copy shows the key disabled within the bound: {took:?}"
    );
    // ...and B refuses to use the key.
    assert_eq!(b.f.decrypt(&blob).await.unwrap_err(), "DisabledException");
    assert_eq!(b.f.data_key(&key).await.unwrap_err(), "DisabledException");

    a.f.call("enable", &key, json!({})).await.unwrap();
    a.f.call("schedule", &key, json!({"PendingWindowInDays": 7}))
        .await
        .unwrap();
    let took = eventually(PATIENCE, || async {
        b.f.decrypt(&blob).await == Err("KMSInvalidStateException")
    })
    .await;
    assert!(took.is_some(), "B refuses a key pending deletion");
}

#[tokio::test]
async fn what_one_node_changes_the_other_enforces() {
    enforced_by_b(Hearing::Notified, false).await;
}

#[tokio::test]
async fn without_notifications_the_poll_enforces_changes_within_the_bound() {
    enforced_by_b(Hearing::PollOnly, false).await;
}

#[tokio::test]
async fn listening_connections_cut_by_the_server_delay_nothing() {
    enforced_by_b(Hearing::Notified, true).await;
}

#[tokio::test]
async fn a_node_cut_off_from_the_database_refuses_rather_than_trust_its_copy() {
    let Some((a, b, link, _db)) = nodes(Hearing::Notified).await else {
        return;
    };
    let key = a.f.create(json!({})).await;
    let blob = a.f.data_key(&key).await.unwrap();
    b.f.decrypt(&blob).await.unwrap();

    link.cut();
    a.f.call("disable", &key, json!({})).await.unwrap();
    let disabled = std::time::Instant::now();
    let took = eventually(PATIENCE, || async {
        let asked = std::time::Instant::now();
        match b.f.decrypt(&blob).await {
            // B may not know yet, but only for as long as the bound allows.
            Ok(()) => {
                assert!(
                    asked.duration_since(disabled) < BOUND,
                    "B used a key disabled more than a bound ago"
                );
                false
            }
            Err(code) => code == "DependencyTimeoutException",
        }
    })
    .await;
    assert!(
        took.is_some(),
        "B fails closed once its copy is older than the bound"
    );
    assert_eq!(
        b.f.data_key(&key).await.unwrap_err(),
        "DependencyTimeoutException"
    );
    assert_eq!(
        b.f.state(&key).await.unwrap_err(),
        "DependencyTimeoutException"
    );

    link.restore();
    let took = eventually(PATIENCE * 3, || async {
        b.f.decrypt(&blob).await == Err("DisabledException")
    })
    .await;
    assert!(
        took.is_some(),
        "B serves again, current, once it reaches the database"
    );
}

#[tokio::test]
async fn a_node_whose_copy_is_behind_changes_the_stored_state() {
    let Some((db, _)) = testing::database_with_url().await else {
        return;
    };
    let clock = ManualClock::new();
    let a = node(db.clone(), clock.clone(), Hearing::Notified).await;
    let key = a.f.create(json!({})).await;
    // No feed: C learns of A's changes when it misses something or changes something.
    let c = Fixture::of(
        on(db.clone(), &root_key(), clock.clone()).await.unwrap(),
        clock,
    );
    a.f.call("disable", &key, json!({})).await.unwrap();
    assert_eq!(copy_state_of(&c, &key), Some("Enabled"), "C is behind");
    c.call("describe", &key, json!({"Description": "by C"}))
        .await
        .unwrap();
    let d = Fixture::of(
        on(db, &root_key(), c.clock.clone()).await.unwrap(),
        c.clock.clone(),
    );
    let record = d.kms.by_id(&key).unwrap().record.clone();
    assert_eq!(record.description, "by C", "C's change is stored");
    assert_eq!(record.state.as_str(), "Disabled", "on top of A's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_at_once_through_both_nodes_are_all_kept() {
    let Some((a, b, _link, db)) = nodes(Hearing::Notified).await else {
        return;
    };
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(a.f.create(json!({})).await);
    }
    // On every key at once: A disables it, B describes it, both grant on it.
    let mut work = tokio::task::JoinSet::new();
    for key in &keys {
        let (a, b, key) = (a.clone(), b.clone(), key.clone());
        work.spawn(async move {
            let by_a = async {
                a.f.call("disable", &key, json!({})).await.unwrap();
                a.f.grant(
                    &key,
                    "arn:aws:iam::111122223333:user/x",
                    &["Decrypt"],
                    json!({}),
                )
                .await;
            };
            let by_b = async {
                b.f.call("describe", &key, json!({"Description": "by B"}))
                    .await
                    .unwrap();
                b.f.grant(
                    &key,
                    "arn:aws:iam::111122223333:user/y",
                    &["Decrypt"],
                    json!({}),
                )
                .await;
            };
            tokio::join!(by_a, by_b);
        });
    }
    while let Some(done) = work.join_next().await {
        done.unwrap();
    }
    // A third node, reading the database afresh, sees every change.
    let c = on(db, &root_key(), a.f.clock.clone()).await.unwrap();
    let c = Fixture::of(c, a.f.clock.clone());
    for key in &keys {
        let record = c.kms.by_id(key).unwrap().record.clone();
        assert_eq!(record.state.as_str(), "Disabled", "A's change survived");
        assert_eq!(record.description, "by B", "B's change survived");
        assert_eq!(c.grants(key).await, 2, "both grants survived");
    }
    // Both nodes converge on it.
    for node in [&a, &b] {
        let took = eventually(PATIENCE, || async {
            keys.iter().all(|k| {
                node.f.kms.by_id(k).is_some_and(|e| {
                    e.record.state.as_str() == "Disabled" && e.record.description == "by B"
                })
            })
        })
        .await;
        assert!(took.is_some());
    }
    // An alias name is taken once, whichever node asks first.
    let alias = |k: &str| input(json!({"AliasName": "alias/race", "TargetKeyId": k}));
    let (by_a, by_b) = (alias(&keys[0]), alias(&keys[1]));
    let (mut na, mut nb) = (Note::default(), Note::default());
    let (ra, rb) = tokio::join!(
        a.f.kms.create_alias(&a.f.root, &by_a, &mut na),
        b.f.kms.create_alias(&b.f.root, &by_b, &mut nb),
    );
    let codes = [
        ra.map(drop).map_err(|e| e.code()),
        rb.map(drop).map_err(|e| e.code()),
    ];
    assert!(
        codes.contains(&Ok(())) && codes.contains(&Err("AlreadyExistsException")),
        "{codes:?}"
    );
}
