//! Anchors in a real PostgreSQL: what a node writes there, and each loss or forgery a fleet
//! verification must name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::test_support::record;
use super::*;
use crate::crypto::RootKey;
use crate::postgres::{Database, testing};

fn key() -> AuditKey {
    RootKey::from_bytes([42; 32]).audit_key()
}

fn open(dir: &Path) -> AuditLog {
    let settings = AuditSettings {
        max_file_bytes: 1 << 20,
        fsync: false,
    };
    AuditLog::open(dir, key(), settings).unwrap()
}

async fn append(log: &AuditLog, seqs: std::ops::RangeInclusive<u64>) {
    for i in seqs {
        log.append(record(i)).await.unwrap();
    }
}

fn log_file(dir: &Path) -> PathBuf {
    dir.join(format::log_file_name(1))
}

fn lines(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read(log_file(dir))
        .unwrap()
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// The MAC of the record at `seq` (1-based) in the first log file, hex.
fn record_mac(dir: &Path, seq: usize) -> String {
    let line: serde_json::Value = serde_json::from_slice(&lines(dir)[seq - 1]).unwrap();
    line["mac"].as_str().unwrap().to_owned()
}

async fn row(db: &Database, node: &str) -> AnchorRow {
    load_anchors(db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.node == node)
        .unwrap()
}

/// One run of a node: records `seqs` appended to its log, anchored at a clean shutdown.
async fn node_run(db: &Database, dir: &Path, node: &str, seqs: std::ops::RangeInclusive<u64>) {
    let log = open(dir);
    let anchorer = log.spawn_anchoring(db.clone(), node).await.unwrap();
    let last = *seqs.end();
    append(&log, seqs).await;
    assert_eq!(anchorer.finish().await.unwrap().record_seq, last);
}

/// Copies a one-file log (its HEAD and records) from `from` into `to`, as a backup or a
/// restore would.
fn copy_log(from: &Path, to: &Path) {
    for name in ["HEAD", "audit-000001.log"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

/// Why `node` may not start anchoring the log in `dir`.
async fn refusal(db: &Database, dir: &Path, node: &str) -> String {
    match open(dir).spawn_anchoring(db.clone(), node).await {
        Ok(_) => panic!("{node} anchored the log in {}", dir.display()),
        Err(e) => e.to_string(),
    }
}

async fn fleet(db: &Database, dirs: &[&Path]) -> FleetReport {
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    verify_fleet(&key(), &dirs, &load_anchors(db).await.unwrap())
}

#[tokio::test]
async fn a_node_anchors_its_durable_head_as_its_chain_moves() {
    let Some(db) = testing::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    append(&log, 1..=3).await;
    let anchorer = log
        .spawn_anchoring_every(db.clone(), "gw1", Duration::from_millis(20))
        .await
        .unwrap();
    // Anchored before it returns, and HEAD now names the node.
    let r = row(&db, "gw1").await;
    assert_eq!((r.file_seq, r.record_seq), (1, 3));
    assert_eq!(r.head, record_mac(dir.path(), 3));
    assert!(r.anchored_ms > 0);
    let head = std::fs::read_to_string(dir.path().join("HEAD")).unwrap();
    assert!(head.contains(r#""node":"gw1""#), "{head}");

    // The periodic task follows the chain.
    append(&log, 4..=5).await;
    let mut waited = 0;
    while row(&db, "gw1").await.record_seq != 5 {
        waited += 1;
        assert!(waited < 500, "anchor never reached seq 5");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(row(&db, "gw1").await.head, record_mac(dir.path(), 5));

    // A failed append is no record: the anchor stays on the last one written.
    log.faults()
        .failing_writes
        .store(1, std::sync::atomic::Ordering::SeqCst);
    assert!(log.append(record(6)).await.is_err());
    assert_eq!(anchorer.anchor_now().await.unwrap().record_seq, 5);

    append(&log, 6..=7).await;
    let last = anchorer.finish().await.unwrap();
    assert_eq!((last.node.as_str(), last.record_seq), ("gw1", 7));
    assert_eq!(row(&db, "gw1").await.record_seq, 7);
    drop(log);
    let report = fleet(&db, &[dir.path()]).await;
    assert_eq!(report.problems, vec![], "{report}");
}

#[tokio::test]
async fn an_anchor_taken_during_appends_names_a_record_already_on_disk() {
    let Some(db) = testing::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let anchorer = log.spawn_anchoring(db.clone(), "gw1").await.unwrap();
    let appenders: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move { append(&log, t * 1000 + 1..=t * 1000 + 50).await })
        })
        .collect();
    let mut seen = 0;
    while seen < 400 {
        let anchor = anchorer.anchor_now().await.unwrap();
        let on_disk = lines(dir.path());
        let complete = on_disk.iter().filter(|l| l.ends_with(b"\n")).count() as u64;
        assert!(
            anchor.record_seq <= complete,
            "anchored seq {} with {complete} records on disk",
            anchor.record_seq
        );
        if anchor.record_seq > 0 {
            assert_eq!(
                hex::encode(anchor.record_mac),
                record_mac(dir.path(), anchor.record_seq as usize)
            );
        }
        seen = anchor.record_seq;
        tokio::task::yield_now().await;
    }
    for a in appenders {
        a.await.unwrap();
    }
    anchorer.finish().await.unwrap();
}

#[tokio::test]
async fn two_nodes_verify_and_a_deleted_log_is_missing() {
    let Some(db) = testing::database().await else {
        return;
    };
    let parent = tempfile::tempdir().unwrap();
    let (gw1, gw2) = (parent.path().join("gw1"), parent.path().join("gw2"));
    node_run(&db, &gw1, "gw1", 1..=4).await;
    node_run(&db, &gw2, "gw2", 1..=6).await;

    let report = fleet(&db, &[&gw1, &gw2]).await;
    assert_eq!(report.problems, vec![], "{report}");
    assert_eq!(report.logs[0].node.as_deref(), Some("gw1"));
    assert_eq!(report.logs[1].anchored, Some((1, 6)));
    let text = report.to_string();
    assert!(text.contains("node gw2 ("), "{text}");
    assert!(
        text.contains("6 records in 1 files, chain intact; anchored at seq 6 (audit-000001.log)"),
        "{text}"
    );

    std::fs::remove_dir_all(&gw2).unwrap();
    let report = fleet(&db, &[&gw1]).await;
    assert!(
        matches!(
            &report.problems[..],
            [FleetProblem::MissingLog { node, anchor }] if node == "gw2" && anchor.record_seq == 6
        ),
        "{report}"
    );
    assert!(
        report.to_string().contains("node gw2: missing log"),
        "{report}"
    );

    // Named but gone: unreadable, and still missing.
    let report = fleet(&db, &[&gw1, &gw2]).await;
    assert!(report.problems.iter().any(|p| p.is_error()), "{report}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, FleetProblem::MissingLog { node, .. } if node == "gw2")),
        "{report}"
    );
}

#[tokio::test]
async fn a_tail_cut_with_its_head_is_caught_by_the_anchor() {
    let Some(db) = testing::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    node_run(&db, dir.path(), "gw1", 1..=5).await;
    let old_head = std::fs::read(dir.path().join("HEAD")).unwrap();
    node_run(&db, dir.path(), "gw1", 6..=10).await;

    // The last five records cut off and the HEAD of that time put back: the log alone
    // cannot tell.
    let kept = lines(dir.path())[..5].to_vec();
    std::fs::write(log_file(dir.path()), kept.concat()).unwrap();
    std::fs::write(dir.path().join("HEAD"), &old_head).unwrap();
    let alone = verify(dir.path(), &key()).unwrap();
    assert_eq!((alone.records, alone.first_break), (5, None));

    let report = fleet(&db, &[dir.path()]).await;
    match &report.problems[..] {
        [
            FleetProblem::Truncated {
                node,
                last_seq,
                anchor,
                ..
            },
        ] => {
            assert_eq!(
                (node.as_str(), *last_seq, anchor.record_seq),
                ("gw1", 5, 10)
            );
        }
        other => panic!("{other:?}"),
    }
    let text = report.to_string();
    assert!(
        text.contains("node gw1: log")
            && text.contains("ends at seq 5, before its anchor at seq 10 (audit-000001.log)"),
        "{text}"
    );

    // Nor does the node start anchoring over it.
    let err = refusal(&db, dir.path(), "gw1").await;
    assert!(err.contains("tail was removed"), "{err}");
}

#[tokio::test]
async fn a_log_rolled_back_and_grown_again_is_caught() {
    let Some(db) = testing::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    node_run(&db, dir.path(), "gw1", 1..=5).await;
    copy_log(dir.path(), backup.path());
    node_run(&db, dir.path(), "gw1", 6..=10).await;

    // Restored from the backup, then run without anchoring until it is as long again.
    copy_log(backup.path(), dir.path());
    append(&open(dir.path()), 106..=110).await;
    assert_eq!(verify(dir.path(), &key()).unwrap().first_break, None);
    let report = fleet(&db, &[dir.path()]).await;
    assert!(
        matches!(&report.problems[..], [FleetProblem::Diverged { node, anchor, .. }] if node == "gw1" && anchor.record_seq == 10),
        "{report}"
    );
    let err = refusal(&db, dir.path(), "gw1").await;
    assert!(err.contains("replaced or rewritten"), "{err}");
}

#[tokio::test]
async fn an_anchor_altered_in_the_database_is_reported_as_forged() {
    let Some(db) = testing::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    node_run(&db, dir.path(), "gw1", 1..=8).await;

    // Moved back to an earlier record, as a database hiding a cut tail would.
    sqlx::query("UPDATE audit_anchors SET record_seq = 3, head = $1 WHERE node = 'gw1'")
        .bind(record_mac(dir.path(), 3))
        .execute(db.pool())
        .await
        .unwrap();
    // And one made up for a node that never was.
    sqlx::query(
        "INSERT INTO audit_anchors (node, file_seq, record_seq, head, mac, anchored_ms)
         VALUES ('gw9', 1, 1, $1, $1, 0)",
    )
    .bind("ab".repeat(32))
    .execute(db.pool())
    .await
    .unwrap();
    let report = fleet(&db, &[dir.path()]).await;
    assert_eq!(
        report.problems,
        vec![
            FleetProblem::ForgedAnchor { node: "gw1".into() },
            FleetProblem::ForgedAnchor { node: "gw9".into() },
        ],
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("node gw1: the anchor in the database does not verify"),
        "{report}"
    );
    let err = refusal(&db, dir.path(), "gw1").await;
    assert!(err.contains("does not verify"), "{err}");

    // Deleted outright: the log is left without an anchor.
    sqlx::query("DELETE FROM audit_anchors")
        .execute(db.pool())
        .await
        .unwrap();
    let report = fleet(&db, &[dir.path()]).await;
    assert!(
        matches!(&report.problems[..], [FleetProblem::NoAnchor { node, .. }] if node == "gw1"),
        "{report}"
    );
}

#[tokio::test]
async fn a_log_cannot_pass_for_another_nodes() {
    let Some(db) = testing::database().await else {
        return;
    };
    let parent = tempfile::tempdir().unwrap();
    let (gw1, gw2) = (parent.path().join("gw1"), parent.path().join("gw2"));
    node_run(&db, &gw1, "gw1", 1..=3).await;
    node_run(&db, &gw2, "gw2", 1..=3).await;

    // gw2's log replaced by a copy of gw1's: it still says it is gw1's.
    std::fs::remove_dir_all(&gw2).unwrap();
    std::fs::create_dir(&gw2).unwrap();
    copy_log(&gw1, &gw2);
    let report = fleet(&db, &[&gw1, &gw2]).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, FleetProblem::MissingLog { node, .. } if node == "gw2")),
        "{report}"
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, FleetProblem::Duplicate { node, dirs } if node == "gw1" && dirs.len() == 2)),
        "{report}"
    );

    // gw2 will not take it over, nor swap gw1's HEAD for its own.
    let err = refusal(&db, &gw2, "gw2").await;
    assert!(err.contains("is node gw1's chain"), "{err}");
    assert!(
        load_anchors(&db)
            .await
            .unwrap()
            .iter()
            .any(|r| r.node == "gw2" && r.record_seq == 3)
    );

    // A single gateway's log given as a node's names none.
    let single = parent.path().join("single");
    append(&open(&single), 1..=2).await;
    let report = fleet(&db, &[&gw1, &single]).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, FleetProblem::Unnamed { dir } if *dir == single)),
        "{report}"
    );
}

#[tokio::test]
async fn a_second_process_under_the_same_name_cannot_overwrite_the_anchor() {
    let Some(db) = testing::database().await else {
        return;
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log_a = open(a.path());
    let first = log_a.spawn_anchoring(db.clone(), "gw1").await.unwrap();
    append(&log_a, 1..=2).await;
    first.anchor_now().await.unwrap();

    // Another data dir started as gw1: its empty chain holds gw1's anchor at seq 0 only
    // if the anchor is at 0, which it is not.
    let err = refusal(&db, b.path(), "gw1").await;
    assert!(err.contains("tail was removed"), "{err}");

    // And a row changed behind this process's back is not overwritten.
    sqlx::query("UPDATE audit_anchors SET mac = 'x' WHERE node = 'gw1'")
        .execute(db.pool())
        .await
        .unwrap();
    append(&log_a, 3..=3).await;
    let err = first.anchor_now().await.unwrap_err();
    assert!(err.to_string().contains("another gateway"), "{err}");
    assert_eq!(row(&db, "gw1").await.mac, "x");
}

#[tokio::test]
async fn an_anchor_whose_write_went_unanswered_is_taken_up_again() {
    let Some(db) = testing::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let anchorer = log.spawn_anchoring(db.clone(), "gw1").await.unwrap();
    append(&log, 1..=3).await;
    anchorer.anchor_now().await.unwrap();

    // The database fails a write...
    sqlx::query("ALTER TABLE audit_anchors RENAME TO anchors_away")
        .execute(db.pool())
        .await
        .unwrap();
    append(&log, 4..=4).await;
    let err = anchorer.anchor_now().await.unwrap_err();
    assert!(matches!(err, AuditError::Database(_)), "{err}");
    sqlx::query("ALTER TABLE anchors_away RENAME TO audit_anchors")
        .execute(db.pool())
        .await
        .unwrap();
    // ...that it had committed after all.
    let body = format::AnchorBody {
        node: "gw1",
        file_seq: 1,
        record_seq: 4,
        record_mac: record_mac(dir.path(), 4),
    };
    let mac = format::anchor_mac(&format::Macer::new(&key()), &body).unwrap();
    sqlx::query("UPDATE audit_anchors SET record_seq = 4, head = $1, mac = $2 WHERE node = 'gw1'")
        .bind(&body.record_mac)
        .bind(hex::encode(mac))
        .execute(db.pool())
        .await
        .unwrap();

    append(&log, 5..=5).await;
    assert_eq!(anchorer.anchor_now().await.unwrap().record_seq, 5);
    assert_eq!(row(&db, "gw1").await.record_seq, 5);
    anchorer.finish().await.unwrap();
}
