//! The catalog's conformance suite: each test runs against SQLite and against PostgreSQL
//! (skipped where none is available, required in CI). A store that passes keeps S3's
//! versioning semantics, conditional writes, listing order and pagination, multipart, the
//! GC queue and the replication queue as the rest of the gateway expects them.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::sync::Arc;

use super::postgres::PgCatalog;
use super::sqlite::SqliteCatalog;
use super::*;
use crate::bucket_settings::object_lock::{
    DefaultRetention, LockChange, LockMode, Retention, RetentionPeriod, VersionLock,
};
use crate::bucket_settings::replication::{Rule, test_rule};
use crate::fleet::Membership;
use crate::postgres::{Database, testing};

/// A catalog under test, with a way to write a raw record behind its back.
struct Subject {
    catalog: Catalog,
    raw: Raw,
}

enum Raw {
    Sqlite,
    Postgres(Database),
}

impl Subject {
    fn sqlite() -> Subject {
        Subject {
            catalog: Catalog {
                store: Arc::new(SqliteCatalog::in_memory()),
            },
            raw: Raw::Sqlite,
        }
    }

    /// A catalog on a fresh PostgreSQL database, as node `node-a` (a live member).
    async fn postgres() -> Option<Subject> {
        let db = testing::database().await?;
        Some(Subject {
            catalog: pg_node(&db, "node-a").await,
            raw: Raw::Postgres(db),
        })
    }

    /// Overwrites a bucket's setting column with `text`, as damage or a newer binary would.
    async fn write_raw_setting(&self, bucket: &str, text: &str) {
        match &self.raw {
            Raw::Sqlite => {
                let (bucket, text) = (bucket.to_owned(), text.to_owned());
                self.catalog
                    .put_setting(&bucket, SettingColumn::Encryption, Some(text))
                    .await
                    .unwrap();
            }
            Raw::Postgres(db) => {
                sqlx::query("UPDATE buckets SET encryption = $2 WHERE name = $1")
                    .bind(bucket)
                    .bind(text)
                    .execute(db.pool())
                    .await
                    .unwrap();
            }
        }
    }
}

/// A live node `name` of the fleet on `db`.
async fn pg_node(db: &Database, name: &str) -> Catalog {
    Membership::join(db.clone(), name).await.unwrap();
    let codec = MetaCodec::new(crate::crypto::RootKey::generate().catalog_sealer());
    Catalog {
        store: Arc::new(PgCatalog::new(db.clone(), name, codec, 0)),
    }
}

/// Runs each named test against both stores.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Subject::sqlite()).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(subject) = super::Subject::postgres().await {
                        super::$name(subject).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    bucket_lifecycle,
    settings_are_typed_and_an_unreadable_one_fails_closed,
    unversioned_overwrite_queues_the_old_blob,
    versioned_keys_keep_history_and_delete_markers,
    preconditions_are_checked_inside_the_commit,
    a_conditional_write_that_finds_its_key_changed_conflicts,
    conditional_deletes_check_the_latest_version,
    listing_pages_by_key_and_prefix,
    listings_follow_the_byte_order_of_keys,
    listings_seek_to_their_start_and_stop_at_the_prefix_end,
    concurrent_writes_to_one_key_serialize,
    of_concurrent_create_only_writes_one_wins,
    parts_replace_complete_and_collect,
    a_completed_upload_is_remembered_while_its_version_lives,
    abort_collects_every_part_and_unknown_uploads_are_refused,
    pending_blobs_expire_at_restart,
    a_blob_taken_by_the_collector_cannot_be_committed,
    matched_writes_are_queued_with_the_version_and_finish_with_a_status,
    batches_queue_existing_versions_once_and_resume_from_their_checkpoint,
    a_replica_upload_keeps_its_parts_until_the_task_ends,
    a_tag_change_of_a_replicated_version_is_queued_for_its_replica,
    tags_of_a_version_are_replaced_in_its_sealed_metadata,
    bucket_tags_rest_with_the_bucket,
    object_lock_keeps_locked_versions_and_its_bucket_versioned,
    a_lock_changes_only_as_its_mode_allows,
    the_guard_finds_the_last_compliance_hold_of_a_key,
    lifecycle_scans_find_what_is_due_in_time_order,
    noncurrent_versions_know_since_when_and_how_many_are_newer,
    lone_delete_markers_and_old_uploads_are_found,
    one_node_at_a_time_holds_a_buckets_lifecycle_lease,
);

/// A far deadline for blobs registered as written by tests.
const PENDING_UNTIL: i64 = i64::MAX / 2;

/// Registers the version's blobs as written (as the object service does), then commits.
async fn commit(
    c: &Catalog,
    v: NewVersion,
    pre: Precondition,
    now_ms: i64,
) -> Result<CommitOutcome> {
    for p in &v.parts {
        c.register_pending_blob(&p.blob, PENDING_UNTIL)
            .await
            .unwrap();
    }
    c.commit_version(v, pre, now_ms).await
}

fn version(bucket: &str, key: &str, seal: &str) -> NewVersion {
    sqlite::test_version(bucket, key, seal, &format!("blob-{seal}"))
}

async fn due(c: &Catalog) -> Vec<String> {
    let mut due = c.due_blobs(i64::MAX, 100).await.unwrap();
    due.sort();
    due
}

async fn bucket_lifecycle(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b1", "us-east-1", None, &[], 1)
        .await
        .unwrap();
    assert!(matches!(
        c.create_bucket("b1", "us-east-1", None, &[], 2).await,
        Err(CatalogError::BucketExists)
    ));
    c.set_versioning("b1", Versioning::Enabled).await.unwrap();
    assert_eq!(
        c.bucket("b1").await.unwrap().versioning,
        Versioning::Enabled
    );
    assert!(matches!(
        c.set_versioning("nope", Versioning::Enabled).await,
        Err(CatalogError::NoSuchBucket)
    ));
    assert_eq!(c.list_buckets().await.unwrap().len(), 1);
    assert_eq!(c.bucket("b1").await.unwrap().owner_account, None);
    assert_eq!(c.adopt_unowned_buckets("111122223333").await.unwrap(), 1);
    c.create_bucket("b2", "us-east-1", Some("444455556666"), &[], 2)
        .await
        .unwrap();
    assert_eq!(c.adopt_unowned_buckets("111122223333").await.unwrap(), 0);
    let owners: Vec<_> = c
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.owner_account.unwrap())
        .collect();
    assert_eq!(owners, ["111122223333", "444455556666"]);
    c.set_policy("b2", Some("{}".into())).await.unwrap();
    assert_eq!(c.bucket("b2").await.unwrap().policy.as_deref(), Some("{}"));
    commit(&c, version("b2", "k", "s1"), Precondition::NONE, 3)
        .await
        .unwrap();
    assert!(matches!(
        c.delete_bucket("b2", 3).await,
        Err(CatalogError::BucketNotEmpty)
    ));
    c.delete_object("b2", "k", None, "m", false, false, &Precondition::NONE, 4)
        .await
        .unwrap();
    c.delete_bucket("b2", 5).await.unwrap();
    c.delete_bucket("b1", 5).await.unwrap();
    assert!(matches!(
        c.bucket("b1").await,
        Err(CatalogError::NoSuchBucket)
    ));
}

async fn settings_are_typed_and_an_unreadable_one_fails_closed(s: Subject) {
    let c = &s.catalog;
    c.create_bucket("b", "us-east-1", None, &[], 1)
        .await
        .unwrap();
    assert_eq!(c.bucket("b").await.unwrap().encryption().unwrap(), None);
    assert_eq!(
        c.bucket("b").await.unwrap().public_access_block().unwrap(),
        None
    );
    // A bucket can be created with settings in place from its first moment.
    let blocked = (
        PublicAccessBlock::COLUMN,
        bucket_settings::encode(&PublicAccessBlock::NEW_BUCKET),
    );
    c.create_bucket("blocked", "us-east-1", None, &[blocked], 1)
        .await
        .unwrap();
    let created = c.bucket("blocked").await.unwrap();
    assert_eq!(
        created.public_access_block().unwrap(),
        Some(PublicAccessBlock::NEW_BUCKET)
    );
    c.set_setting::<PublicAccessBlock>("blocked", None)
        .await
        .unwrap();
    let lifted = c.bucket("blocked").await.unwrap();
    assert_eq!(lifted.public_access_block().unwrap(), None);
    c.delete_bucket("blocked", 2).await.unwrap();
    let kms = BucketEncryption {
        sse_algorithm: "aws:kms".into(),
        kms_master_key_id: Some("alias/k".into()),
        bucket_key_enabled: false,
        blocked_encryption_types: vec!["SSE-C".into()],
    };
    c.set_setting("b", Some(&kms)).await.unwrap();
    assert_eq!(
        c.bucket("b").await.unwrap().encryption().unwrap(),
        Some(&kms)
    );
    // A replication configuration needs versioning Enabled, checked where it is stored.
    let replication = ReplicationConfig {
        role: "r".into(),
        rules: vec![test_rule("r1", 1, "")],
    };
    assert!(matches!(
        c.set_setting("b", Some(&replication)).await,
        Err(CatalogError::VersioningNotEnabled(
            SettingColumn::Replication
        ))
    ));
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    c.set_setting("b", Some(&replication)).await.unwrap();
    assert!(matches!(
        c.set_versioning("b", Versioning::Suspended).await,
        Err(CatalogError::VersioningLocked(SettingColumn::Replication))
    ));
    // A record this build cannot read (damaged, or from a newer version) is an error for
    // the bucket, never the SSE-S3 default that would drop its KMS key and blocks.
    s.write_raw_setting("b", r#"{"version":9,"value":{}}"#)
        .await;
    let b = c.bucket("b").await.unwrap();
    let err = b.default_encryption().unwrap_err();
    assert!(
        matches!(&err, CatalogError::Corrupt(m) if m.contains("bucket b")),
        "{err}"
    );
    assert_eq!(
        b.replication().unwrap(),
        Some(&replication),
        "other settings stay readable"
    );
    assert_eq!(c.list_buckets().await.unwrap()[0].name, "b");
    // The owner can still replace the record.
    c.set_setting::<BucketEncryption>("b", None).await.unwrap();
    assert!(c.bucket("b").await.unwrap().default_encryption().is_ok());
}

fn tags(pairs: &[(&str, &str)]) -> crate::tagging::TagSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn tags_of_a_version_are_replaced_in_its_sealed_metadata(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    let mut first = version("b", "k", "s1");
    first.meta.user = [("owner".to_owned(), "alice".to_owned())].into();
    first.meta.tags = tags(&[("project", "blue")]);
    let v1 = commit(&c, first, Precondition::NONE, 1).await.unwrap();
    let v2 = commit(&c, version("b", "k", "s2"), Precondition::NONE, 2)
        .await
        .unwrap();
    let read = |id: String| {
        let c = c.clone();
        async move { c.version("b", "k", Some(&id)).await.unwrap().meta }
    };
    assert_eq!(
        read(v1.version_id.clone()).await.tags,
        tags(&[("project", "blue")])
    );
    assert!(read(v2.version_id.clone()).await.tags.is_empty());

    let replaced = tags(&[("project", "red"), ("team", "ops")]);
    c.set_meta("b", "k", "s1", MetaChange::Tags(replaced.clone()), 3)
        .await
        .unwrap();
    let meta = read(v1.version_id.clone()).await;
    assert_eq!(meta.tags, replaced);
    assert_eq!(
        meta.user["owner"], "alice",
        "the rest of the metadata stays"
    );
    assert!(
        read(v2.version_id.clone()).await.tags.is_empty(),
        "one version only"
    );
    c.set_meta("b", "k", "s1", MetaChange::Tags(Default::default()), 3)
        .await
        .unwrap();
    assert!(read(v1.version_id.clone()).await.tags.is_empty());

    // A delete marker has no tags to set, and a version gone is gone.
    c.delete_object("b", "k", None, "m1", false, false, &Precondition::NONE, 3)
        .await
        .unwrap();
    assert!(matches!(
        c.set_meta("b", "k", "m1", MetaChange::Tags(replaced.clone()), 4)
            .await,
        Err(CatalogError::NoSuchKey)
    ));
    c.delete_object(
        "b",
        "k",
        Some(&v2.version_id),
        "",
        false,
        false,
        &Precondition::NONE,
        4,
    )
    .await
    .unwrap();
    assert!(matches!(
        c.set_meta("b", "k", "s2", MetaChange::Tags(replaced.clone()), 5)
            .await,
        Err(CatalogError::NoSuchKey)
    ));

    // An upload keeps the tags its completion will write.
    let mut up = upload("u1");
    up.meta.tags = replaced.clone();
    c.create_upload(up).await.unwrap();
    assert_eq!(c.upload("u1").await.unwrap().meta.tags, replaced);
}

async fn bucket_tags_rest_with_the_bucket(s: Subject) {
    use crate::bucket_settings::BucketTagging;
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    assert_eq!(c.bucket("b").await.unwrap().tagging().unwrap(), None);
    let tagging = BucketTagging {
        tags: tags(&[("cost-center", "42"), ("env", "prod")]),
    };
    c.set_setting("b", Some(&tagging)).await.unwrap();
    assert_eq!(
        c.bucket("b").await.unwrap().tagging().unwrap(),
        Some(&tagging)
    );
    assert!(
        c.bucket("b").await.unwrap().cors().unwrap().is_none(),
        "a setting of its own"
    );
    c.set_setting::<BucketTagging>("b", None).await.unwrap();
    assert_eq!(c.bucket("b").await.unwrap().tagging().unwrap(), None);
    assert!(matches!(
        c.set_setting("nope", Some(&tagging)).await,
        Err(CatalogError::NoSuchBucket)
    ));
}

async fn unversioned_overwrite_queues_the_old_blob(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    let out = commit(&c, version("b", "k", "s1"), Precondition::NONE, 1)
        .await
        .unwrap();
    assert_eq!(out.version_id, "null");
    assert!(due(&c).await.is_empty(), "a committed blob is not garbage");
    commit(&c, version("b", "k", "s2"), Precondition::NONE, 2)
        .await
        .unwrap();
    assert_eq!(due(&c).await, ["blob-s1"]);
    let v = c.version("b", "k", None).await.unwrap();
    assert_eq!(v.seal_id, "s2");
    assert_eq!(c.parts(v.row).await.unwrap()[0].blob, "blob-s2");
    // Without a version id, an unversioned bucket loses the object.
    let del = c
        .delete_object("b", "k", None, "m", false, false, &Precondition::NONE, 3)
        .await
        .unwrap();
    assert_eq!((del.version_id, del.delete_marker), (None, false));
    assert!(matches!(
        c.version("b", "k", None).await,
        Err(CatalogError::NoSuchKey)
    ));
    assert_eq!(due(&c).await, ["blob-s1", "blob-s2"]);
}

async fn versioned_keys_keep_history_and_delete_markers(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    let v1 = commit(&c, version("b", "k", "s1"), Precondition::NONE, 1)
        .await
        .unwrap()
        .version_id;
    let v2 = commit(&c, version("b", "k", "s2"), Precondition::NONE, 2)
        .await
        .unwrap()
        .version_id;
    assert_ne!(v1, v2);
    let del = c
        .delete_object("b", "k", None, "m1", false, false, &Precondition::NONE, 3)
        .await
        .unwrap();
    assert!(del.delete_marker);
    assert!(c.version("b", "k", None).await.unwrap().delete_marker);
    assert!(
        c.list_latest("b", "", "", &after(""), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = c
        .list_versions("b", "", "", &after(""), None, 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|v| v.seal_id.as_str()).collect::<Vec<_>>(),
        ["m1", "s2", "s1"],
        "newest first"
    );
    // Paging through versions of one key with a version marker.
    let page = c
        .list_versions("b", "", "", &after("k"), Some(&v2), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].version_id, v1);
    // Removing the marker brings v2 back.
    c.delete_object(
        "b",
        "k",
        del.version_id.as_deref(),
        "x",
        false,
        false,
        &Precondition::NONE,
        4,
    )
    .await
    .unwrap();
    assert_eq!(c.version("b", "k", None).await.unwrap().version_id, v2);
    // Removing v2 for good makes v1 latest and queues its blob.
    c.delete_object(
        "b",
        "k",
        Some(&v2),
        "x",
        false,
        false,
        &Precondition::NONE,
        5,
    )
    .await
    .unwrap();
    assert_eq!(c.version("b", "k", None).await.unwrap().version_id, v1);
    assert_eq!(due(&c).await, ["blob-s2"]);
    assert!(matches!(
        c.version("b", "k", Some("nope")).await,
        Err(CatalogError::NoSuchVersion)
    ));
    // Suspended: writes replace the null version only.
    c.set_versioning("b", Versioning::Suspended).await.unwrap();
    let n1 = commit(&c, version("b", "k", "s3"), Precondition::NONE, 6)
        .await
        .unwrap();
    assert_eq!(n1.version_id, "null");
    commit(&c, version("b", "k", "s4"), Precondition::NONE, 7)
        .await
        .unwrap();
    let all = c
        .list_versions("b", "", "", &after(""), None, 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .map(|v| v.version_id.as_str())
            .collect::<Vec<_>>(),
        ["null", v1.as_str()]
    );
    assert!(due(&c).await.contains(&"blob-s3".to_string()));
    // A delete marker in a suspended bucket is the null version too.
    let marker = c
        .delete_object("b", "k", None, "m2", false, false, &Precondition::NONE, 8)
        .await
        .unwrap();
    assert_eq!(marker.version_id.as_deref(), Some("null"));
    assert!(due(&c).await.contains(&"blob-s4".to_string()));
}

async fn preconditions_are_checked_inside_the_commit(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    let create_only = Precondition::new(Condition::IfNoneMatchAny);
    commit(&c, version("b", "k", "s1"), create_only.clone(), 1)
        .await
        .unwrap();
    assert!(matches!(
        commit(&c, version("b", "k", "s2"), create_only, 2).await,
        Err(CatalogError::PreconditionFailed)
    ));
    assert!(matches!(
        commit(
            &c,
            version("b", "k", "s2"),
            Precondition::new(Condition::IfMatch(Some("x".into()))),
            2
        )
        .await,
        Err(CatalogError::PreconditionFailed)
    ));
    commit(
        &c,
        version("b", "k", "s2"),
        Precondition::new(Condition::IfMatch(Some("etag-s1".into()))),
        2,
    )
    .await
    .unwrap();
    assert!(matches!(
        commit(
            &c,
            version("b", "other", "s3"),
            Precondition::new(Condition::IfMatch(None)),
            3
        )
        .await,
        Err(CatalogError::NoSuchKey)
    ));
    assert!(matches!(
        commit(&c, version("nope", "k", "s4"), Precondition::NONE, 4).await,
        Err(CatalogError::NoSuchBucket)
    ));
}

async fn a_conditional_write_that_finds_its_key_changed_conflicts(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    let seen = |seen: Seen, condition: Condition| Precondition { condition, seen };
    commit(&c, version("b", "k", "s1"), Precondition::NONE, 1)
        .await
        .unwrap();
    // Began when s1 was latest; s1 was deleted meanwhile: the create-only write would now
    // succeed, but it raced the delete.
    c.delete_object("b", "k", None, "m", false, false, &Precondition::NONE, 2)
        .await
        .unwrap();
    let began_at_s1 = seen(Seen::Latest("s1".into()), Condition::IfNoneMatchAny);
    assert!(matches!(
        commit(&c, version("b", "k", "s2"), began_at_s1, 3).await,
        Err(CatalogError::ConditionalConflict)
    ));
    // Began when the key was absent, another write created it first: the condition fails.
    let began_absent = seen(Seen::Absent, Condition::IfNoneMatchAny);
    commit(&c, version("b", "new", "s3"), Precondition::NONE, 4)
        .await
        .unwrap();
    assert!(matches!(
        commit(&c, version("b", "new", "s4"), began_absent.clone(), 5).await,
        Err(CatalogError::PreconditionFailed)
    ));
    // Unchanged since it began: the write goes ahead.
    commit(&c, version("b", "fresh", "s5"), began_absent, 6)
        .await
        .unwrap();
    let same = seen(
        Seen::Latest("s5".into()),
        Condition::IfMatch(Some("etag-s5".into())),
    );
    commit(&c, version("b", "fresh", "s6"), same.clone(), 7)
        .await
        .unwrap();
    // A second write that expected s5 finds s6: its condition fails first.
    assert!(matches!(
        commit(&c, version("b", "fresh", "s7"), same, 8).await,
        Err(CatalogError::PreconditionFailed)
    ));
}

async fn conditional_deletes_check_the_latest_version(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    commit(&c, version("b", "k", "s1"), Precondition::NONE, 1)
        .await
        .unwrap();
    let if_match = |etag: &str| Precondition::new(Condition::IfMatch(Some(etag.into())));
    assert!(matches!(
        c.delete_object("b", "k", None, "m", false, false, &if_match("other"), 2)
            .await,
        Err(CatalogError::PreconditionFailed)
    ));
    assert_eq!(c.version("b", "k", None).await.unwrap().seal_id, "s1");
    assert!(matches!(
        c.delete_object(
            "b",
            "absent",
            None,
            "m",
            false,
            false,
            &if_match("etag-s1"),
            2
        )
        .await,
        Err(CatalogError::NoSuchKey)
    ));
    c.delete_object("b", "k", None, "m", false, false, &if_match("etag-s1"), 3)
        .await
        .unwrap();
    assert!(matches!(
        c.version("b", "k", None).await,
        Err(CatalogError::NoSuchKey)
    ));
    let exists = Precondition::new(Condition::IfMatch(None));
    assert!(matches!(
        c.delete_object("b", "k", None, "m", false, false, &exists, 4)
            .await,
        Err(CatalogError::NoSuchKey)
    ));
}

async fn listing_pages_by_key_and_prefix(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    for (i, k) in ["a/1", "a/2", "b/1", "c"].iter().enumerate() {
        commit(&c, version("b", k, &format!("s{i}")), Precondition::NONE, 1)
            .await
            .unwrap();
    }
    let keys = |v: Vec<ObjectVersion>| v.into_iter().map(|v| v.key).collect::<Vec<_>>();
    assert_eq!(
        keys(c.list_latest("b", "a/", "", &after(""), 10).await.unwrap()),
        ["a/1", "a/2"]
    );
    assert_eq!(
        keys(c.list_latest("b", "", "", &after("a/2"), 2).await.unwrap()),
        ["b/1", "c"]
    );
    assert!(matches!(
        c.list_latest("nope", "", "", &after(""), 1).await,
        Err(CatalogError::NoSuchBucket)
    ));
    assert!(matches!(
        c.delete_bucket("b", 1).await,
        Err(CatalogError::BucketNotEmpty)
    ));
}

/// S3 lists keys in UTF-8 byte order, whatever the database's collation would say.
async fn listings_follow_the_byte_order_of_keys(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    let keys = [
        "a-b", "a.b", "aB", "ab", "A", "_", "é", "z", "Z", "a b", "~",
    ];
    for (i, k) in keys.iter().enumerate() {
        commit(&c, version("b", k, &format!("s{i}")), Precondition::NONE, 1)
            .await
            .unwrap();
    }
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let listed: Vec<String> = c
        .list_latest("b", "", "", &after(""), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert_eq!(listed, expected);
    // Pages resume after the byte-wise next key.
    let page = c.list_latest("b", "", "", &after("a.b"), 2).await.unwrap();
    assert_eq!(
        page[0].key,
        expected[expected.iter().position(|k| *k == "a.b").unwrap() + 1]
    );
}

fn after(key: &str) -> KeyStart {
    KeyStart::After(key.to_owned())
}

fn at(key: &str) -> KeyStart {
    KeyStart::AtOrAfter(key.to_owned())
}

/// What a delimiter listing asks when it steps past a common prefix: everything from a key
/// on, and never a row beyond the prefix, however large the limit.
async fn listings_seek_to_their_start_and_stop_at_the_prefix_end(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    let keys = ["a/1", "a/2", "a0", "é/1", "é/2", "é0", "\u{10ffff}/x"];
    for (i, k) in keys.iter().chain(&["a/1"]).enumerate() {
        commit(&c, version("b", k, &format!("s{i}")), Precondition::NONE, 1)
            .await
            .unwrap();
    }
    let names = |v: Vec<ObjectVersion>| v.into_iter().map(|v| v.key).collect::<Vec<_>>();
    let past_a = prefix_end("a/").unwrap();
    assert_eq!(
        names(c.list_latest("b", "", "", &at(&past_a), 2).await.unwrap()),
        ["a0", "é/1"]
    );
    assert_eq!(
        names(c.list_latest("b", "", "", &at("a0"), 1).await.unwrap()),
        ["a0"],
        "the start key itself is included"
    );
    assert_eq!(
        names(c.list_latest("b", "é/", "", &after(""), 100).await.unwrap()),
        ["é/1", "é/2"]
    );
    assert_eq!(
        names(
            c.list_latest("b", "é/", "", &at(&prefix_end("é/").unwrap()), 100)
                .await
                .unwrap()
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            c.list_latest("b", "\u{10ffff}", "", &after(""), 100)
                .await
                .unwrap()
        ),
        ["\u{10ffff}/x"],
        "a prefix with no end reads to the last key"
    );
    // Versions: a start at a key lists all of its versions; after a key, none of them.
    let versions = c
        .list_versions("b", "", "", &at("a/1"), None, 100)
        .await
        .unwrap();
    assert_eq!(versions.len(), keys.len() + 1);
    assert_eq!(versions[0].key, "a/1");
    assert_eq!(versions[1].key, "a/1");
    let versions = c
        .list_versions("b", "a/", "", &after("a/1"), None, 100)
        .await
        .unwrap();
    assert_eq!(names(versions), ["a/2"]);
    let newest = c.version("b", "a/1", None).await.unwrap().version_id;
    let versions = c
        .list_versions("b", "a/", "", &after("a/1"), Some(&newest), 100)
        .await
        .unwrap();
    assert_eq!(
        names(versions),
        ["a/1", "a/2"],
        "the older version of a/1, then a/2"
    );
    // Uploads: the same starts, and an upload id marker resumes inside a key.
    for (id, key) in [("u1", "a/1"), ("u2", "a/1"), ("u3", "a0")] {
        let mut u = upload(id);
        u.key = key.into();
        c.create_upload(u).await.unwrap();
    }
    let ids = |v: Vec<Upload>| v.into_iter().map(|u| u.upload_id).collect::<Vec<_>>();
    assert_eq!(
        ids(c
            .list_uploads("b", "", "", &at("a/1"), None, 10)
            .await
            .unwrap()),
        ["u1", "u2", "u3"]
    );
    assert_eq!(
        ids(c
            .list_uploads("b", "", "", &after("a/1"), None, 10)
            .await
            .unwrap()),
        ["u3"]
    );
    assert_eq!(
        ids(c
            .list_uploads("b", "", "", &after("a/1"), Some("u1"), 10)
            .await
            .unwrap()),
        ["u2", "u3"]
    );
    assert_eq!(
        ids(c
            .list_uploads("b", "a/", "", &at(&past_a), None, 10)
            .await
            .unwrap()),
        Vec::<String>::new()
    );
    // With a delimiter each common prefix gives its first row, and the limit counts rows
    // given, not rows read.
    let start = after("");
    assert_eq!(
        names(c.list_latest("b", "", "/", &start, 3).await.unwrap()),
        ["a/1", "a0", "é/1"]
    );
    assert_eq!(
        names(
            c.list_latest("b", "", "/", &after("a/1"), 10)
                .await
                .unwrap()
        ),
        ["a/2", "a0", "é/1", "é0", "\u{10ffff}/x"],
        "a start inside a prefix lists from there (the caller skips what it listed)"
    );
    let versions = c
        .list_versions("b", "", "/", &start, None, 100)
        .await
        .unwrap();
    assert_eq!(names(versions), ["a/1", "a0", "é/1", "é0", "\u{10ffff}/x"]);
    let uploads = c
        .list_uploads("b", "", "/", &start, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(uploads), ["u1", "u3"]);
}

async fn concurrent_writes_to_one_key_serialize(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                commit(
                    &c,
                    version("b", "k", &format!("s{i:02}")),
                    Precondition::NONE,
                    i,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let all = c
        .list_versions("b", "", "", &after(""), None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 16);
    assert_eq!(all.iter().filter(|v| v.is_latest).count(), 1);
    assert!(all[0].is_latest, "the newest version is the latest");
    let latest = c.version("b", "k", None).await.unwrap();
    assert_eq!(latest.version_id, all[0].version_id);
}

async fn of_concurrent_create_only_writes_one_wins(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                commit(
                    &c,
                    version("b", "k", &format!("s{i}")),
                    Precondition::new(Condition::IfNoneMatchAny),
                    1,
                )
                .await
            })
        })
        .collect();
    let mut won = 0;
    for w in writers {
        match w.await.unwrap() {
            Ok(_) => won += 1,
            Err(CatalogError::PreconditionFailed) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
}

fn part(n: u32, blob: &str) -> PartRecord {
    PartRecord {
        part_number: n,
        blob: blob.into(),
        size: 5,
        etag: format!("e{n}"),
        header: vec![n as u8],
        checksum: None,
        last_modified_ms: 1,
    }
}

fn upload(id: &str) -> Upload {
    Upload {
        upload_id: id.into(),
        bucket: "b".into(),
        key: "k".into(),
        seal_id: "seal".into(),
        initiated_ms: 1,
        meta: ObjectMeta {
            content_type: Some("text/plain".into()),
            ..ObjectMeta::default()
        },
        sse: Sse::S3,
        wrapped_key: vec![9],
        checksum_algorithm: None,
        checksum_type: None,
        seen: Seen::Unknown,
        lock: Default::default(),
    }
}

async fn parts_replace_complete_and_collect(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.create_upload(upload("u1")).await.unwrap();
    assert_eq!(
        c.upload("u1").await.unwrap().meta.content_type.as_deref(),
        Some("text/plain")
    );
    for (n, blob) in [(1, "p1a"), (1, "p1b"), (2, "p2"), (3, "p3")] {
        c.register_pending_blob(blob, 1_000).await.unwrap();
        c.put_part("u1", part(n, blob), 5).await.unwrap();
    }
    assert_eq!(c.due_blobs(10, 10).await.unwrap(), ["p1a"]);
    let parts = c.list_parts("u1", 0, 100).await.unwrap();
    assert_eq!(
        parts.iter().map(|p| p.blob.as_str()).collect::<Vec<_>>(),
        ["p1b", "p2", "p3"]
    );
    assert_eq!(c.list_parts("u1", 1, 1).await.unwrap()[0].part_number, 2);
    assert_eq!(
        c.list_uploads("b", "", "", &after(""), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Complete with parts 1 and 2 only: part 3's blob becomes garbage.
    let v = NewVersion {
        bucket: "b".into(),
        key: "k".into(),
        seal_id: "seal".into(),
        size: 10,
        etag: "x-2".into(),
        last_modified_ms: 6,
        meta: ObjectMeta::default(),
        sse: Sse::S3,
        checksum: None,
        parts_count: Some(2),
        replica: false,
        lock: Default::default(),
        parts: parts[..2].to_vec(),
    };
    c.complete_upload("u1", v, Precondition::NONE, 6)
        .await
        .unwrap();
    assert_eq!(due(&c).await, ["p1a", "p3"]);
    assert!(matches!(
        c.upload("u1").await,
        Err(CatalogError::NoSuchUpload)
    ));
    let ver = c.version("b", "k", None).await.unwrap();
    assert_eq!(ver.parts_count, Some(2));
    assert_eq!(c.parts(ver.row).await.unwrap().len(), 2);
}

async fn a_completed_upload_is_remembered_while_its_version_lives(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    let mut u = upload("u1");
    u.seen = Seen::Absent;
    c.create_upload(u).await.unwrap();
    assert_eq!(c.upload("u1").await.unwrap().seen, Seen::Absent);
    assert!(c.completed_upload("u1").await.unwrap().is_none());
    c.register_pending_blob("p1", PENDING_UNTIL).await.unwrap();
    c.put_part("u1", part(1, "p1"), 2).await.unwrap();
    let mut v = version("b", "k", "seal");
    v.parts = c.list_parts("u1", 0, 10).await.unwrap();
    c.complete_upload("u1", v, Precondition::NONE, 3)
        .await
        .unwrap();
    let done = c.completed_upload("u1").await.unwrap().unwrap();
    assert_eq!((done.key.as_str(), done.seal_id.as_str()), ("k", "seal"));
    assert!(c.completed_upload("u2").await.unwrap().is_none());
    // Once its version is gone, the upload is unknown again.
    c.delete_object("b", "k", None, "m", false, false, &Precondition::NONE, 4)
        .await
        .unwrap();
    assert!(c.completed_upload("u1").await.unwrap().is_none());
}

async fn abort_collects_every_part_and_unknown_uploads_are_refused(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.create_upload(upload("u1")).await.unwrap();
    c.register_pending_blob("a", 1_000).await.unwrap();
    c.put_part("u1", part(1, "a"), 1).await.unwrap();
    c.abort_upload("u1", 2).await.unwrap();
    assert_eq!(c.due_blobs(2, 10).await.unwrap(), ["a"]);
    c.register_pending_blob("b", 1_000).await.unwrap();
    assert!(matches!(
        c.put_part("u1", part(2, "b"), 3).await,
        Err(CatalogError::NoSuchUpload)
    ));
    assert!(matches!(
        c.abort_upload("u1", 3).await,
        Err(CatalogError::NoSuchUpload)
    ));
    assert!(matches!(
        c.list_parts("u1", 0, 10).await,
        Err(CatalogError::NoSuchUpload)
    ));
}

async fn pending_blobs_expire_at_restart(s: Subject) {
    let c = s.catalog;
    c.register_pending_blob("orphan", 10_000).await.unwrap();
    assert_eq!(c.queued_blob_count().await.unwrap(), 1);
    assert!(c.due_blobs(5, 10).await.unwrap().is_empty());
    assert_eq!(
        c.blobs_in_flight(vec!["orphan".into(), "other".into()], 5)
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["orphan"]
    );
    assert_eq!(c.expire_pending_blobs(5).await.unwrap(), 1);
    assert_eq!(c.due_blobs(5, 10).await.unwrap(), ["orphan"]);
    c.forget_blobs(vec!["orphan".into()]).await.unwrap();
    assert!(c.due_blobs(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(c.queued_blob_count().await.unwrap(), 0);
}

/// A write that outlived its blob's deadline does not commit: the collector may be
/// deleting the blob.
async fn a_blob_taken_by_the_collector_cannot_be_committed(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.register_pending_blob("blob-s1", 100).await.unwrap();
    assert_eq!(c.due_blobs(100, 10).await.unwrap(), ["blob-s1"]);
    assert!(matches!(
        c.commit_version(version("b", "k", "s1"), Precondition::NONE, 50)
            .await,
        Err(CatalogError::BlobNotPending)
    ));
    assert!(matches!(
        c.version("b", "k", None).await,
        Err(CatalogError::NoSuchKey)
    ));
    // Past its deadline, even untaken.
    c.register_pending_blob("blob-s2", 100).await.unwrap();
    assert!(matches!(
        c.commit_version(version("b", "k", "s2"), Precondition::NONE, 100)
            .await,
        Err(CatalogError::BlobNotPending)
    ));
}

fn replication_config(prefix: &str) -> ReplicationConfig {
    ReplicationConfig {
        role: "r".into(),
        rules: vec![Rule {
            delete_markers: true,
            ..test_rule("rule1", 1, prefix)
        }],
    }
}

async fn replicated_source(c: &Catalog) {
    c.create_bucket("src", "r", None, &[], 0).await.unwrap();
    c.set_versioning("src", Versioning::Enabled).await.unwrap();
}

async fn matched_writes_are_queued_with_the_version_and_finish_with_a_status(s: Subject) {
    let c = s.catalog;
    replicated_source(&c).await;
    commit(&c, version("src", "before", "s0"), Precondition::NONE, 1)
        .await
        .unwrap();
    c.set_setting("src", Some(&replication_config("logs/")))
        .await
        .unwrap();
    let v1 = commit(&c, version("src", "logs/a", "s1"), Precondition::NONE, 2)
        .await
        .unwrap();
    commit(&c, version("src", "data/a", "s2"), Precondition::NONE, 3)
        .await
        .unwrap();
    let mut replica = version("src", "logs/r", "s3");
    replica.replica = true;
    commit(&c, replica, Precondition::NONE, 4).await.unwrap();
    let marker = c
        .delete_object(
            "src",
            "logs/a",
            None,
            "m1",
            false,
            false,
            &Precondition::NONE,
            5,
        )
        .await
        .unwrap();

    let status = |key: &'static str, id: Option<String>| {
        let c = c.clone();
        async move {
            c.version("src", key, id.as_deref())
                .await
                .unwrap()
                .replication_status
        }
    };
    assert_eq!(
        status("logs/a", Some(v1.version_id.clone()))
            .await
            .as_deref(),
        Some("PENDING")
    );
    assert_eq!(status("data/a", None).await, None);
    assert_eq!(status("before", None).await, None);
    assert_eq!(status("logs/r", None).await.as_deref(), Some("REPLICA"));

    // One task per key at a time, oldest first: the marker waits for the object.
    let due = c.claim_replication_tasks(10, 10, vec![]).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].version_id, v1.version_id);
    c.replication_retry(due[0].id, "down", true, 100)
        .await
        .unwrap();
    assert!(
        c.claim_replication_tasks(10, 10, vec![])
            .await
            .unwrap()
            .is_empty()
    );
    let due = c.claim_replication_tasks(100, 10, vec![]).await.unwrap();
    assert!(due[0].in_doubt && due[0].attempts == 1);
    assert!(
        c.claim_replication_tasks(100, 10, vec![due[0].id])
            .await
            .unwrap()
            .is_empty(),
        "a task being worked on is not handed out again"
    );
    let end = TaskEnd::Completed {
        dest_version_id: Some("d1".into()),
    };
    c.finish_replication(due[0].id, end, 120).await.unwrap();
    assert_eq!(
        status("logs/a", Some(v1.version_id)).await.as_deref(),
        Some("COMPLETED")
    );
    let due = c.claim_replication_tasks(200, 10, vec![]).await.unwrap();
    assert!(due[0].delete_marker);
    assert_eq!(due[0].version_id, marker.version_id.clone().unwrap());
    assert_eq!(
        c.previous_replica("src", "logs/a", due[0].id)
            .await
            .unwrap()
            .as_deref(),
        Some("d1")
    );
    let end = TaskEnd::Failed {
        reason: "refused".into(),
    };
    c.finish_replication(due[0].id, end, 210).await.unwrap();
    let failed = c
        .replication_tasks(Some("src"), &[TaskStatus::Failed], 10)
        .await
        .unwrap();
    assert_eq!(failed[0].last_error.as_deref(), Some("refused"));
    let stats = c.replication_stats(Some("src")).await.unwrap();
    assert_eq!((stats.pending, stats.completed, stats.failed), (0, 1, 1));
    assert_eq!((stats.completed_bytes, stats.max_lag_ms), (3, Some(119)));
    assert_eq!(c.replication_stats(None).await.unwrap(), stats);
}

/// Writes a version of `key` in bucket `src` at `t` (a replica's when `replica`).
async fn put_src(c: &Catalog, key: &str, seal: &str, replica: bool, t: i64) -> CommitOutcome {
    let mut v = version("src", key, seal);
    v.replica = replica;
    commit(c, v, Precondition::NONE, t).await.unwrap()
}

async fn a_tag_change_of_a_replicated_version_is_queued_for_its_replica(s: Subject) {
    let c = s.catalog;
    replicated_source(&c).await;
    let rules = replication_config("logs/");
    c.set_setting("src", Some(&rules)).await.unwrap();
    let v1 = put_src(&c, "logs/a", "s1", false, 1).await;
    put_src(&c, "data/a", "s2", false, 2).await;
    put_src(&c, "logs/r", "s3", true, 3).await;
    let status = || {
        let c = c.clone();
        let id = v1.version_id.clone();
        async move {
            let v = c.version("src", "logs/a", Some(&id)).await.unwrap();
            v.replication_status
        }
    };
    let first = c.claim_replication_tasks(10, 10, vec![]).await.unwrap();
    assert_eq!(c.replica_of(&first[0]).await.unwrap(), None);
    let made = TaskEnd::Completed {
        dest_version_id: Some("d1".into()),
    };
    c.finish_replication(first[0].id, made, 20).await.unwrap();
    assert_eq!(status().await.as_deref(), Some("COMPLETED"));

    // No rule took these when they were written: a tag change leaves them home.
    for (key, seal) in [("data/a", "s2"), ("logs/r", "s3")] {
        c.set_meta("src", key, seal, MetaChange::Tags(tags(&[("t", "1")])), 30)
            .await
            .unwrap();
    }
    c.set_meta(
        "src",
        "logs/a",
        "s1",
        MetaChange::Tags(tags(&[("team", "ops")])),
        30,
    )
    .await
    .unwrap();
    assert_eq!(status().await.as_deref(), Some("PENDING"));
    let due = c.claim_replication_tasks(40, 10, vec![]).await.unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    let retag = &due[0];
    assert_eq!(
        (retag.version_id.as_str(), retag.delete_marker, retag.size),
        (v1.version_id.as_str(), false, 0)
    );
    assert_eq!(
        (retag.rule_id.as_str(), retag.destination.as_str()),
        (first[0].rule_id.as_str(), first[0].destination.as_str())
    );
    assert_eq!(c.replica_of(retag).await.unwrap().as_deref(), Some("d1"));

    // Changed again while the change is on its way: the version stays PENDING until the
    // last task of it ends.
    c.set_meta("src", "logs/a", "s1", MetaChange::Tags(tags(&[])), 45)
        .await
        .unwrap();
    let tags_sent = TaskEnd::Completed {
        dest_version_id: None,
    };
    c.finish_replication(retag.id, tags_sent, 50).await.unwrap();
    assert_eq!(status().await.as_deref(), Some("PENDING"));
    let due = c.claim_replication_tasks(60, 10, vec![]).await.unwrap();
    assert_eq!(c.replica_of(&due[0]).await.unwrap().as_deref(), Some("d1"));
    let refused = TaskEnd::Failed {
        reason: "refused".into(),
    };
    c.finish_replication(due[0].id, refused, 70).await.unwrap();
    assert_eq!(status().await.as_deref(), Some("FAILED"));
    // A failed version's tag change is sent too: the replica still follows.
    c.set_meta(
        "src",
        "logs/a",
        "s1",
        MetaChange::Tags(tags(&[("team", "dev")])),
        80,
    )
    .await
    .unwrap();
    let due = c.claim_replication_tasks(90, 10, vec![]).await.unwrap();
    assert_eq!(due[0].version_id, v1.version_id);
    let tags_sent = TaskEnd::Completed {
        dest_version_id: None,
    };
    c.finish_replication(due[0].id, tags_sent, 95)
        .await
        .unwrap();
    assert_eq!(status().await.as_deref(), Some("COMPLETED"));

    // An ACL change stays home, as ACLs do.
    c.set_meta("src", "logs/a", "s1", MetaChange::Acl(None), 96)
        .await
        .unwrap();
    assert_eq!(status().await.as_deref(), Some("COMPLETED"));

    // A later version's replica check still finds the last replica made, not a tag change.
    put_src(&c, "logs/a", "s4", false, 100).await;
    let next = c.claim_replication_tasks(110, 10, vec![]).await.unwrap();
    assert_eq!(
        c.previous_replica("src", "logs/a", next[0].id)
            .await
            .unwrap()
            .as_deref(),
        Some("d1")
    );
    let stats = c.replication_stats(Some("src")).await.unwrap();
    assert_eq!((stats.pending, stats.pending_bytes), (1, 3));
}

async fn a_replica_upload_keeps_its_parts_until_the_task_ends(s: Subject) {
    let c = s.catalog;
    replicated_source(&c).await;
    c.set_setting("src", Some(&replication_config("")))
        .await
        .unwrap();
    for (i, key) in ["big", "other"].into_iter().enumerate() {
        commit(
            &c,
            version("src", key, &format!("s{i}")),
            Precondition::NONE,
            1,
        )
        .await
        .unwrap();
    }
    let tasks = c.claim_replication_tasks(10, 10, vec![]).await.unwrap();
    let (task, other) = (tasks[0].id, tasks[1].id);
    assert_eq!(c.replica_upload(task).await.unwrap(), None);
    let upload = ReplicaUpload {
        upload_id: "u1".into(),
        layout: PartLayout::Fixed(5 << 20),
        parts_total: 3,
        parts: Vec::new(),
    };
    c.start_replica_upload(task, &upload).await.unwrap();
    let part = |n: u32| SentPart {
        number: n,
        size: 5 << 20,
        etag: format!("\"e{n}\""),
        sha256: format!("h{n}"),
    };
    c.replica_part_sent(task, &part(2)).await.unwrap();
    c.replica_part_sent(task, &part(1)).await.unwrap();
    // A part sent again (its acknowledgement was lost) replaces the record.
    c.replica_part_sent(task, &part(1)).await.unwrap();
    let found = c.replica_upload(task).await.unwrap().unwrap();
    assert_eq!(found.parts, vec![part(1), part(2)]);
    assert_eq!(
        (found.upload_id.as_str(), found.layout, found.parts_total),
        ("u1", PartLayout::Fixed(5 << 20), 3)
    );
    let stats = c.replication_stats(None).await.unwrap();
    assert_eq!(
        (
            stats.uploading,
            stats.upload_parts,
            stats.upload_parts_sent,
            stats.upload_bytes_sent
        ),
        (1, 3, 2, 10 << 20)
    );

    // A new upload of the same task starts with no parts.
    let source = ReplicaUpload {
        upload_id: "u2".into(),
        layout: PartLayout::Source,
        ..upload
    };
    c.start_replica_upload(task, &source).await.unwrap();
    let found = c.replica_upload(task).await.unwrap().unwrap();
    assert_eq!(
        (found.upload_id.as_str(), found.layout, found.parts.len()),
        ("u2", PartLayout::Source, 0)
    );

    c.start_replica_upload(other, &source).await.unwrap();
    c.replica_part_sent(other, &part(1)).await.unwrap();
    c.forget_replica_upload(other).await.unwrap();
    assert_eq!(c.replica_upload(other).await.unwrap(), None);
    c.replica_part_sent(task, &part(1)).await.unwrap();
    let end = TaskEnd::Completed {
        dest_version_id: None,
    };
    c.finish_replication(task, end, 5).await.unwrap();
    assert_eq!(c.replica_upload(task).await.unwrap(), None);
    assert_eq!(
        c.replication_stats(None).await.unwrap().upload_parts_sent,
        0
    );
}

async fn batches_queue_existing_versions_once_and_resume_from_their_checkpoint(s: Subject) {
    let c = s.catalog;
    replicated_source(&c).await;
    for i in 0..5 {
        commit(
            &c,
            version("src", &format!("k{i}"), &format!("s{i}")),
            Precondition::NONE,
            1,
        )
        .await
        .unwrap();
    }
    c.set_setting("src", Some(&replication_config("")))
        .await
        .unwrap();
    let p = c.batch_enqueue("src", 2, 10).await.unwrap();
    assert_eq!((p.enqueued, p.done), (2, false));
    // An interruption here loses nothing: the next step starts after the checkpoint.
    let p = c.batch_enqueue("src", 2, 10).await.unwrap();
    assert_eq!((p.enqueued, p.done), (4, false));
    let p = c.batch_enqueue("src", 2, 10).await.unwrap();
    assert_eq!((p.enqueued, p.done), (5, true));
    assert_eq!(c.batch_progress("src").await.unwrap(), p);
    c.reset_batch("src").await.unwrap();
    // Versions already queued are not queued again.
    let p = c.batch_enqueue("src", 100, 10).await.unwrap();
    assert_eq!((p.enqueued, p.done), (0, true));
    assert_eq!(c.replication_stats(None).await.unwrap().pending, 5);
}

// What only a fleet has: several nodes on one database.

#[tokio::test]
async fn a_node_restart_expires_its_own_pending_blobs_not_another_live_nodes() {
    let Some(db) = testing::database().await else {
        return;
    };
    let a = pg_node(&db, "node-a").await;
    let b = pg_node(&db, "node-b").await;
    a.register_pending_blob("written-by-a", 10_000)
        .await
        .unwrap();
    b.register_pending_blob("written-by-b", 10_000)
        .await
        .unwrap();
    // A replaced version's blob, kept for readers until 10 000.
    sqlx::query("INSERT INTO blob_gc (blob, due_ms) VALUES ('kept-for-readers', 10000)")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(
        b.expire_pending_blobs(5).await.unwrap(),
        1,
        "node a is alive and may be reading"
    );
    assert_eq!(a.due_blobs(5, 10).await.unwrap(), ["written-by-b"]);
    assert!(
        a.blobs_in_flight(vec!["written-by-a".into()], 5)
            .await
            .unwrap()
            .contains("written-by-a"),
        "node a is alive and still writing"
    );
    // Node a stops beating: its writes died with it.
    sqlx::query("UPDATE nodes SET heartbeat_ms = 0 WHERE node = 'node-a'")
        .execute(db.pool())
        .await
        .unwrap();
    let mut due = b.due_blobs(5, 10).await.unwrap();
    due.sort();
    assert_eq!(due, ["written-by-a", "written-by-b"]);
    // Alone in the fleet, a restarting node knows no read is in flight.
    assert_eq!(b.expire_pending_blobs(5).await.unwrap(), 1);
    assert!(
        b.due_blobs(5, 10)
            .await
            .unwrap()
            .contains(&"kept-for-readers".to_owned())
    );
    // Node a comes back and tries to commit: the blob was given up, so the write fails.
    a.create_bucket("b", "r", None, &[], 0).await.unwrap();
    let mut v = version("b", "k", "s1");
    v.parts[0].blob = "written-by-a".into();
    assert!(matches!(
        a.commit_version(v, Precondition::NONE, 6).await,
        Err(CatalogError::BlobNotPending)
    ));
}

#[tokio::test]
async fn a_replication_task_is_held_by_one_live_node_and_taken_over_from_a_dead_one() {
    let Some(db) = testing::database().await else {
        return;
    };
    let a = pg_node(&db, "node-a").await;
    let b = pg_node(&db, "node-b").await;
    replicated_source(&a).await;
    a.set_setting("src", Some(&replication_config("")))
        .await
        .unwrap();
    for i in 0..4 {
        commit(
            &a,
            version("src", &format!("k{i}"), &format!("s{i}")),
            Precondition::NONE,
            1,
        )
        .await
        .unwrap();
    }
    let (ta, tb) = tokio::join!(
        a.claim_replication_tasks(10, 10, vec![]),
        b.claim_replication_tasks(10, 10, vec![])
    );
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    assert_eq!(ta.len() + tb.len(), 4, "every task claimed once");
    let mut ids: Vec<i64> = ta.iter().chain(&tb).map(|t| t.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "no task claimed by both nodes");
    assert!(
        b.claim_replication_tasks(10, 10, vec![])
            .await
            .unwrap()
            .iter()
            .all(|t| tb.iter().any(|own| own.id == t.id)),
        "a live node's tasks are not taken"
    );
    // Node a is killed mid-task: once its heartbeat is stale, b takes its tasks.
    for t in &ta {
        a.replication_in_doubt(t.id).await.unwrap();
    }
    sqlx::query("UPDATE nodes SET heartbeat_ms = 0 WHERE node = 'node-a'")
        .execute(db.pool())
        .await
        .unwrap();
    let own: Vec<i64> = tb.iter().map(|t| t.id).collect();
    let taken = b.claim_replication_tasks(10, 10, own).await.unwrap();
    assert_eq!(taken.len(), ta.len());
    assert!(
        taken.iter().all(|t| t.in_doubt),
        "the destination is checked first"
    );
}

const DAY: i64 = 24 * 3600 * 1000;

/// A bucket `b` created with Object Lock and `default` retention (if any).
async fn locked_bucket(c: &Catalog, default: Option<DefaultRetention>) {
    let cfg = ObjectLockConfig {
        default_retention: default,
    };
    let setting = (SettingColumn::ObjectLock, bucket_settings::encode(&cfg));
    c.create_bucket("b", "r", None, &[setting], 0)
        .await
        .unwrap();
}

fn retention(mode: LockMode, until_ms: i64) -> VersionLock {
    VersionLock {
        retention: Some(Retention { mode, until_ms }),
        legal_hold: None,
    }
}

async fn remove(c: &Catalog, id: &str, bypass: bool, now_ms: i64) -> Result<DeleteOutcome> {
    c.delete_object(
        "b",
        "k",
        Some(id),
        "m",
        false,
        bypass,
        &Precondition::NONE,
        now_ms,
    )
    .await
}

async fn object_lock_keeps_locked_versions_and_its_bucket_versioned(s: Subject) {
    let c = s.catalog;
    let governance = DefaultRetention {
        mode: LockMode::Governance,
        period: RetentionPeriod::Days(1),
    };
    locked_bucket(&c, Some(governance)).await;
    let b = c.bucket("b").await.unwrap();
    assert_eq!(b.versioning, Versioning::Enabled);
    assert!(matches!(
        c.set_versioning("b", Versioning::Suspended).await,
        Err(CatalogError::VersioningLocked(SettingColumn::ObjectLock))
    ));
    // The default retention counts from the version's creation.
    let v1 = commit(&c, version("b", "k", "s1"), Precondition::NONE, 1)
        .await
        .unwrap();
    let stored = c.version("b", "k", Some(&v1.version_id)).await.unwrap();
    assert_eq!(stored.lock, retention(LockMode::Governance, 1 + DAY));
    // A writer's own retention wins over the default.
    let mut asked = version("b", "k", "s2");
    asked.lock = retention(LockMode::Compliance, 10 * DAY);
    let v2 = commit(&c, asked, Precondition::NONE, 2).await.unwrap();
    // A delete marker is always allowed; removing a locked version is not.
    let marker = c
        .delete_object("b", "k", None, "m1", false, false, &Precondition::NONE, 3)
        .await
        .unwrap();
    assert!(marker.delete_marker);
    assert!(matches!(
        remove(&c, &v1.version_id, false, 3).await,
        Err(CatalogError::ObjectLocked)
    ));
    assert!(matches!(
        remove(&c, &v2.version_id, true, 3).await,
        Err(CatalogError::ObjectLocked)
    ));
    // Nothing of theirs was queued for collection.
    assert!(due(&c).await.is_empty());
    // GOVERNANCE yields to the bypass; COMPLIANCE only to its date.
    remove(&c, &v1.version_id, true, 4).await.unwrap();
    remove(&c, &v2.version_id, false, 10 * DAY).await.unwrap();
    assert_eq!(due(&c).await, ["blob-s1", "blob-s2"]);
    // A bucket with versions cannot go, locked or not; nor can a lock go on unversioned.
    c.create_bucket("plain", "r", None, &[], 0).await.unwrap();
    assert!(matches!(
        c.set_setting("plain", Some(&ObjectLockConfig::default()))
            .await,
        Err(CatalogError::VersioningNotEnabled(
            SettingColumn::ObjectLock
        ))
    ));
    let mut unasked = version("plain", "k", "s3");
    unasked.lock = retention(LockMode::Governance, DAY);
    assert!(matches!(
        commit(&c, unasked, Precondition::NONE, 1).await,
        Err(CatalogError::ObjectLockNotEnabled)
    ));
    // Enabling the lock on a versioned bucket keeps it versioned for good.
    c.set_versioning("plain", Versioning::Enabled)
        .await
        .unwrap();
    c.set_setting("plain", Some(&ObjectLockConfig::default()))
        .await
        .unwrap();
    assert!(matches!(
        c.set_versioning("plain", Versioning::Suspended).await,
        Err(CatalogError::VersioningLocked(SettingColumn::ObjectLock))
    ));
}

async fn a_lock_changes_only_as_its_mode_allows(s: Subject) {
    let c = s.catalog;
    locked_bucket(&c, None).await;
    let v = commit(&c, version("b", "k", "s1"), Precondition::NONE, 1)
        .await
        .unwrap();
    assert!(c.version("b", "k", None).await.unwrap().lock.is_none());
    let set = |retention: Option<Retention>, bypass: bool, now: i64| {
        let c = c.clone();
        async move {
            let change = LockChange::Retention {
                retention,
                bypass_governance: bypass,
            };
            c.set_lock("b", "k", "s1", change, now).await
        }
    };
    let compliance = |until_ms| Retention {
        mode: LockMode::Compliance,
        until_ms,
    };
    set(Some(compliance(5 * DAY)), false, 2).await.unwrap();
    // Extended: yes. Shortened, removed or weakened: never, bypass or not.
    set(Some(compliance(6 * DAY)), false, 3).await.unwrap();
    for bypass in [false, true] {
        assert!(matches!(
            set(Some(compliance(4 * DAY)), bypass, 3).await,
            Err(CatalogError::ObjectLocked)
        ));
        assert!(matches!(
            set(None, bypass, 3).await,
            Err(CatalogError::ObjectLocked)
        ));
    }
    let stored = c.version("b", "k", None).await.unwrap().lock;
    assert_eq!(stored, retention(LockMode::Compliance, 6 * DAY));
    // A legal hold outlives the retention date until it is put OFF.
    c.set_lock("b", "k", "s1", LockChange::LegalHold(true), 4)
        .await
        .unwrap();
    assert!(matches!(
        remove(&c, &v.version_id, true, 7 * DAY).await,
        Err(CatalogError::ObjectLocked)
    ));
    let lock = c
        .set_lock("b", "k", "s1", LockChange::LegalHold(false), 7 * DAY)
        .await
        .unwrap();
    assert_eq!(lock.legal_hold, Some(false));
    remove(&c, &v.version_id, false, 7 * DAY).await.unwrap();
    assert!(matches!(
        c.set_lock("b", "k", "s1", LockChange::LegalHold(true), 8 * DAY)
            .await,
        Err(CatalogError::NoSuchKey)
    ));
    // An upload's lock becomes its version's.
    let mut u = upload("u1");
    u.lock = VersionLock::default().with_legal_hold(true);
    c.create_upload(u).await.unwrap();
    assert_eq!(c.upload("u1").await.unwrap().lock.legal_hold, Some(true));
    c.register_pending_blob("p1", PENDING_UNTIL).await.unwrap();
    c.put_part("u1", part(1, "p1"), 2).await.unwrap();
    let mut done = version("b", "k", "seal");
    done.parts = c.list_parts("u1", 0, 10).await.unwrap();
    done.lock = c.upload("u1").await.unwrap().lock;
    c.complete_upload("u1", done, Precondition::NONE, 8 * DAY)
        .await
        .unwrap();
    let latest = c.version("b", "k", None).await.unwrap();
    assert!(matches!(
        remove(&c, &latest.version_id, true, 9 * DAY).await,
        Err(CatalogError::ObjectLocked)
    ));
    // Without Object Lock there is no lock to change.
    c.create_bucket("plain", "r", None, &[], 0).await.unwrap();
    assert!(matches!(
        c.set_lock("plain", "k", "s", LockChange::LegalHold(true), 1)
            .await,
        Err(CatalogError::ObjectLockNotEnabled)
    ));
}

async fn the_guard_finds_the_last_compliance_hold_of_a_key(s: Subject) {
    let c = s.catalog;
    locked_bucket(&c, None).await;
    let kms = |arn: &str| Sse::Kms {
        key_arn: arn.into(),
        context: Default::default(),
        bucket_key: false,
    };
    let writes = [
        ("a1", "key/A", LockMode::Compliance, 5 * DAY),
        ("a2", "key/A", LockMode::Compliance, 9 * DAY),
        ("a3", "key/A", LockMode::Governance, 20 * DAY),
        ("b1", "key/B", LockMode::Compliance, 30 * DAY),
        ("b2", "key/AB", LockMode::Compliance, 40 * DAY),
    ];
    for (seal, arn, mode, until) in writes {
        let mut v = version("b", seal, seal);
        v.sse = kms(arn);
        v.lock = retention(mode, until);
        commit(&c, v, Precondition::NONE, 1).await.unwrap();
    }
    let held = c
        .compliance_locked_under("key/A", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((held.bucket.as_str(), held.key.as_str()), ("b", "a2"));
    assert_eq!(held.until_ms, 9 * DAY);
    let b = c
        .compliance_locked_under("key/B", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.until_ms, 30 * DAY);
    // GOVERNANCE does not hold a key, nor does a date that passed.
    assert_eq!(
        c.compliance_locked_under("key/A", 9 * DAY).await.unwrap(),
        None
    );
    assert_eq!(c.compliance_locked_under("key/C", 2).await.unwrap(), None);
}

/// A version of `key` last modified at `t`.
fn version_at(key: &str, seal: &str, t: i64) -> NewVersion {
    let mut v = version("b", key, seal);
    v.last_modified_ms = t;
    v
}

async fn scan(c: &Catalog, prefix: &str, scan: LifecycleScan) -> Vec<(String, i64, u64)> {
    c.lifecycle_versions("b", prefix, scan, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|x| (x.version.seal_id, x.since_ms, x.newer_noncurrent))
        .collect()
}

async fn lifecycle_scans_find_what_is_due_in_time_order(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    for (key, seal, t) in [
        ("logs/b", "b1", 200),
        ("data/c", "c1", 300),
        ("logs/a", "a1", 100),
    ] {
        commit(&c, version_at(key, seal, t), Precondition::NONE, t)
            .await
            .unwrap();
    }
    commit(&c, version_at("logs/a", "a2", 400), Precondition::NONE, 400)
        .await
        .unwrap();
    let current = |before| LifecycleScan::CurrentModifiedBefore(before);
    assert_eq!(
        scan(&c, "", current(350)).await,
        [("b1".to_string(), 200, 0), ("c1".to_string(), 300, 0)],
        "current versions only (a1 is noncurrent, a2 too young), oldest first"
    );
    assert_eq!(scan(&c, "logs/", current(350)).await.len(), 1);
    assert_eq!(
        scan(&c, "", current(200)).await.len(),
        0,
        "the bound is strict"
    );
    // Paged by cursor: each page starts after the last one's end.
    let first = c
        .lifecycle_versions("b", "", current(i64::MAX), None, 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    let rest = c
        .lifecycle_versions("b", "", current(i64::MAX), Some(first[1].cursor()), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|x| x.version.seal_id.as_str())
            .collect::<Vec<_>>(),
        ["a2"]
    );
    // A delete marker is not a current version to expire.
    c.delete_object(
        "b",
        "data/c",
        None,
        "m",
        false,
        false,
        &Precondition::NONE,
        500,
    )
    .await
    .unwrap();
    assert_eq!(scan(&c, "data/", current(i64::MAX)).await.len(), 0);
    assert!(matches!(
        c.lifecycle_versions("nope", "", current(1), None, 1).await,
        Err(CatalogError::NoSuchBucket)
    ));
}

async fn noncurrent_versions_know_since_when_and_how_many_are_newer(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    for (seal, t) in [("k1", 100), ("k2", 200), ("k3", 300)] {
        commit(&c, version_at("k", seal, t), Precondition::NONE, t)
            .await
            .unwrap();
    }
    let noncurrent = |before| LifecycleScan::NoncurrentBefore(before);
    // Noncurrent since the next version was written; newer noncurrent ones counted.
    assert_eq!(
        scan(&c, "", noncurrent(i64::MAX)).await,
        [("k1".to_string(), 200, 1), ("k2".to_string(), 300, 0)]
    );
    assert_eq!(scan(&c, "", noncurrent(300)).await.len(), 1);
    // A delete marker makes the latest noncurrent from its own time.
    c.delete_object("b", "k", None, "m", false, false, &Precondition::NONE, 400)
        .await
        .unwrap();
    assert_eq!(
        scan(&c, "", noncurrent(i64::MAX)).await,
        [
            ("k1".to_string(), 200, 2),
            ("k2".to_string(), 300, 1),
            ("k3".to_string(), 400, 0)
        ]
    );
    // Removing the marker makes k3 latest again: no longer noncurrent.
    let marker = c.version("b", "k", None).await.unwrap().version_id;
    c.delete_object(
        "b",
        "k",
        Some(&marker),
        "",
        false,
        false,
        &Precondition::NONE,
        500,
    )
    .await
    .unwrap();
    assert_eq!(
        scan(&c, "", noncurrent(i64::MAX)).await,
        [("k1".to_string(), 200, 1), ("k2".to_string(), 300, 0)]
    );
    // Suspended versioning: the null version written over a versioned one makes it noncurrent.
    c.set_versioning("b", Versioning::Suspended).await.unwrap();
    commit(&c, version_at("k", "k4", 600), Precondition::NONE, 600)
        .await
        .unwrap();
    assert_eq!(
        scan(&c, "", noncurrent(i64::MAX))
            .await
            .last()
            .map(|x| (x.0.as_str(), x.1)),
        Some(("k3", 600))
    );
}

async fn lone_delete_markers_and_old_uploads_are_found(s: Subject) {
    let c = s.catalog;
    c.create_bucket("b", "r", None, &[], 0).await.unwrap();
    c.set_versioning("b", Versioning::Enabled).await.unwrap();
    commit(&c, version_at("gone", "g1", 100), Precondition::NONE, 100)
        .await
        .unwrap();
    commit(&c, version_at("kept", "k1", 100), Precondition::NONE, 100)
        .await
        .unwrap();
    for key in ["gone", "kept", "never"] {
        c.delete_object(
            "b",
            key,
            None,
            &format!("m-{key}"),
            false,
            false,
            &Precondition::NONE,
            200,
        )
        .await
        .unwrap();
    }
    let lone = || scan(&c, "", LifecycleScan::LoneMarkers);
    assert_eq!(lone().await, [("m-never".to_string(), 200, 0)]);
    let g1 = c
        .list_versions(
            "b",
            "gone",
            "",
            &KeyStart::AtOrAfter("gone".into()),
            None,
            10,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.seal_id == "g1")
        .unwrap()
        .version_id;
    c.delete_object(
        "b",
        "gone",
        Some(&g1),
        "",
        false,
        false,
        &Precondition::NONE,
        300,
    )
    .await
    .unwrap();
    let seals: Vec<String> = lone().await.into_iter().map(|x| x.0).collect();
    assert_eq!(seals, ["m-gone", "m-never"]);
    assert_eq!(scan(&c, "n", LifecycleScan::LoneMarkers).await.len(), 1);

    for (id, key, t) in [("u3", "x/a", 30), ("u1", "big/a", 10), ("u2", "big/b", 20)] {
        let mut u = upload(id);
        u.key = key.into();
        u.initiated_ms = t;
        c.create_upload(u).await.unwrap();
    }
    let ids = |us: Vec<Upload>| us.into_iter().map(|u| u.upload_id).collect::<Vec<_>>();
    assert_eq!(
        ids(c.lifecycle_uploads("b", "", 25, None, 10).await.unwrap()),
        ["u1", "u2"]
    );
    assert_eq!(
        ids(c.lifecycle_uploads("b", "x/", 100, None, 10).await.unwrap()),
        ["u3"]
    );
    assert_eq!(
        ids(c
            .lifecycle_uploads("b", "", 100, Some((10, "u1".into())), 10)
            .await
            .unwrap()),
        ["u2", "u3"]
    );
}

async fn one_node_at_a_time_holds_a_buckets_lifecycle_lease(s: Subject) {
    let c = s.catalog;
    assert!(c.take_lifecycle_lease("b", "n1", 0, 100).await.unwrap());
    assert!(!c.take_lifecycle_lease("b", "n2", 50, 150).await.unwrap());
    assert!(
        c.take_lifecycle_lease("other", "n2", 50, 150)
            .await
            .unwrap()
    );
    // Its holder renews it; a restarted holder takes it back at once.
    assert!(c.take_lifecycle_lease("b", "n1", 60, 200).await.unwrap());
    assert!(!c.take_lifecycle_lease("b", "n2", 199, 300).await.unwrap());
    // Expired, it goes to whoever asks first.
    assert!(c.take_lifecycle_lease("b", "n2", 200, 300).await.unwrap());
    assert!(!c.take_lifecycle_lease("b", "n1", 250, 400).await.unwrap());
}
