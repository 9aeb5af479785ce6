//! The worker on a manual clock: what a pass does, what it leaves, and how it resumes.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::sync::Arc;

use super::*;
use crate::bucket_settings::lifecycle::{Filter, NoncurrentExpiration};
use crate::catalog::{NewVersion, ObjectMeta, Sse, Versioning};
use crate::clock::ManualClock;

fn rule(expiration: Option<Expiration>, noncurrent: Option<NoncurrentExpiration>) -> LifecycleRule {
    LifecycleRule {
        id: "r".into(),
        enabled: true,
        filter: Filter::default(),
        expiration,
        noncurrent,
        abort_upload_days: None,
    }
}

fn version(key: &str, seal: &str, t: i64) -> NewVersion {
    NewVersion {
        bucket: "b".into(),
        key: key.into(),
        seal_id: seal.into(),
        size: 0,
        etag: format!("etag-{seal}"),
        last_modified_ms: t,
        meta: ObjectMeta::default(),
        sse: Sse::S3,
        checksum: None,
        parts_count: None,
        parts: Vec::new(),
        replica: false,
        lock: Default::default(),
    }
}

struct World {
    svc: ObjectService,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn world(rules: Vec<LifecycleRule>) -> World {
    let clock = ManualClock::new();
    let (svc, dir) = crate::objects::test_service_at(clock.clone());
    svc.catalog()
        .create_bucket("b", "r", None, &[], 0)
        .await
        .unwrap();
    svc.catalog()
        .set_versioning("b", Versioning::Enabled)
        .await
        .unwrap();
    svc.catalog()
        .set_setting("b", Some(&LifecycleConfig { rules }))
        .await
        .unwrap();
    World {
        svc,
        clock,
        _dir: dir,
    }
}

fn worker(w: &World, node: &str) -> Lifecycle {
    Lifecycle::new(w.svc.clone(), None, node, Duration::from_secs(1))
}

async fn put(w: &World, key: &str, seal: &str) {
    let now = w.svc.now_ms();
    w.svc
        .catalog()
        .commit_version(version(key, seal, now), Precondition::NONE, now)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_current_version_expires_once_its_days_have_passed_and_only_once() {
    let w = world(vec![rule(Some(Expiration::Days(1)), None)]).await;
    put(&w, "k", "s1").await;
    let lc = worker(&w, "n1");
    assert_eq!(lc.pass().await.unwrap().done, 0);
    w.clock.advance(time::Duration::days(2));
    assert_eq!(lc.pass().await.unwrap().done, 1);
    assert!(
        w.svc
            .catalog()
            .version("b", "k", None)
            .await
            .unwrap()
            .delete_marker
    );
    // The next pass finds nothing: an expired version is no longer current.
    assert_eq!(lc.pass().await.unwrap().done, 0);
    let all = w
        .svc
        .catalog()
        .list_versions(
            "b",
            "",
            "",
            &crate::catalog::KeyStart::After(String::new()),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "one version, one delete marker");
}

#[tokio::test]
async fn noncurrent_versions_go_after_their_days_since_they_became_noncurrent() {
    let nc = NoncurrentExpiration {
        days: 1,
        newer_versions: None,
    };
    let w = world(vec![rule(None, Some(nc))]).await;
    put(&w, "k", "s1").await;
    w.clock.advance(time::Duration::days(10));
    put(&w, "k", "s2").await;
    let lc = worker(&w, "n1");
    assert_eq!(
        lc.pass().await.unwrap().done,
        0,
        "noncurrent for a moment only"
    );
    w.clock.advance(time::Duration::days(2));
    assert_eq!(lc.pass().await.unwrap().done, 1);
    assert!(matches!(
        w.svc.catalog().list_versions("b", "", "", &crate::catalog::KeyStart::After(String::new()), None, 10).await.unwrap().as_slice(),
        [only] if only.seal_id == "s2"
    ));
}

#[tokio::test]
async fn a_bucket_leased_to_another_node_is_left_to_it() {
    let w = world(vec![rule(Some(Expiration::Days(1)), None)]).await;
    put(&w, "k", "s1").await;
    w.clock.advance(time::Duration::days(2));
    let now = w.svc.now_ms();
    assert!(
        w.svc
            .catalog()
            .take_lifecycle_lease("b", "other", now, now + LEASE_MS)
            .await
            .unwrap()
    );
    let report = worker(&w, "n1").pass().await.unwrap();
    assert_eq!((report.buckets, report.done), (0, 0));
    // Once the other node's lease has run out, this one takes the bucket over.
    w.clock.advance(time::Duration::milliseconds(LEASE_MS));
    assert_eq!(worker(&w, "n1").pass().await.unwrap().done, 1);
}
