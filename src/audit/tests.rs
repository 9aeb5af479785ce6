//! The log proves itself: what it must accept, and each tampering it must name.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::test_support::record;
use super::*;
use crate::crypto::RootKey;

fn key() -> AuditKey {
    RootKey::from_bytes([42; 32]).audit_key()
}

fn settings(max_file_bytes: u64) -> AuditSettings {
    AuditSettings {
        max_file_bytes,
        fsync: false,
    }
}

async fn append_n(log: &AuditLog, from: u64, n: u64) {
    for i in from..from + n {
        log.append(record(i)).await.unwrap();
    }
}

/// A log of `n` records in `dir`, closed.
async fn write_log(dir: &Path, n: u64, max_file_bytes: u64) {
    let log = AuditLog::open(dir, key(), settings(max_file_bytes)).unwrap();
    append_n(&log, 1, n).await;
}

fn file(dir: &Path, n: u64) -> PathBuf {
    dir.join(format::log_file_name(n))
}

fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    std::fs::write(path, lines.concat()).unwrap();
}

fn check(dir: &Path) -> VerifyReport {
    verify(dir, &key()).unwrap()
}

fn the_break(dir: &Path) -> Break {
    check(dir).first_break.expect("a break")
}

fn assert_intact(dir: &Path, records: u64) -> VerifyReport {
    let report = check(dir);
    assert_eq!(report.first_break, None);
    assert_eq!(report.records, records);
    report
}

#[tokio::test]
async fn appends_verify_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), AuditSettings::default()).unwrap();
    append_n(&log, 1, 5).await;
    drop(log);
    let report = assert_intact(dir.path(), 5);
    assert_eq!((report.files, report.torn_tail), (1, None));

    let log = AuditLog::open(dir.path(), key(), AuditSettings::default()).unwrap();
    append_n(&log, 6, 5).await;
    drop(log);
    assert_intact(dir.path(), 10);
    let lines = read_lines(&file(dir.path(), 1));
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["seq"], i as u64 + 1);
        assert_eq!(v["request_id"], format!("req-{}", i + 1));
    }
}

#[tokio::test]
async fn an_empty_log_verifies_and_a_missing_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(AuditLog::open(dir.path(), key(), settings(4096)).unwrap());
    assert_intact(dir.path(), 0);
    assert!(matches!(
        verify(&dir.path().join("nope"), &key()),
        Err(AuditError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_share_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), settings(64 * 1024)).unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move { append_n(&log, t * 1000, 20).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    drop(log);
    let report = assert_intact(dir.path(), 64 * 20);
    assert!(report.files > 1, "rotated: {report:?}");
    let mut ids = std::collections::BTreeSet::new();
    for n in 1..=report.files as u64 {
        for line in read_lines(&file(dir.path(), n)) {
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            assert!(ids.insert(v["request_id"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(ids.len(), 64 * 20);
}

#[tokio::test]
async fn rotation_keeps_one_chain_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let line_len = {
        write_log(dir.path(), 1, 1 << 20).await;
        std::fs::read(file(dir.path(), 1)).unwrap().len() as u64
    };
    let dir = tempfile::tempdir().unwrap();
    // Three records fit a file, a fourth would not.
    let max = line_len * 3 + line_len / 2;
    write_log(dir.path(), 10, max).await;
    let log = AuditLog::open(dir.path(), key(), settings(max)).unwrap();
    append_n(&log, 11, 3).await;
    drop(log);
    let report = assert_intact(dir.path(), 13);
    assert_eq!(report.files, 5);
    for n in 1..=4 {
        assert_eq!(read_lines(&file(dir.path(), n)).len(), 3, "file {n}");
    }
    let last_of_first: serde_json::Value =
        serde_json::from_slice(&read_lines(&file(dir.path(), 1))[2]).unwrap();
    let first_of_second: serde_json::Value =
        serde_json::from_slice(&read_lines(&file(dir.path(), 2))[0]).unwrap();
    assert_eq!(first_of_second["prev"], last_of_first["mac"]);
    assert_eq!(first_of_second["seq"], 4);

    // A record larger than a whole file still goes in, alone.
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), settings(4096)).unwrap();
    let mut big = record(1);
    big.encryption_context = Some([("k".to_owned(), "v".repeat(10_000))].into());
    log.append(record(0)).await.unwrap();
    log.append(big).await.unwrap();
    log.append(record(2)).await.unwrap();
    drop(log);
    assert_eq!(assert_intact(dir.path(), 3).files, 3);
}

#[tokio::test]
async fn a_flipped_byte_anywhere_in_a_record_names_that_record() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 5, 1 << 20).await;
    let path = file(dir.path(), 1);
    let lines = read_lines(&path);
    let target = &lines[2];
    // Every byte but the newline, so every field, its name, and the mac.
    for i in 0..target.len() - 1 {
        let mut bad = lines.clone();
        bad[2][i] ^= 0x01;
        write_lines(&path, &bad);
        let b = the_break(dir.path());
        assert_eq!(
            (b.file.as_str(), b.line, b.seq),
            ("audit-000001.log", Some(3), 3),
            "byte {i} ({:?}): {b}",
            target[i] as char
        );
        assert!(
            matches!(b.reason, BreakReason::BadMac | BreakReason::Malformed(_)),
            "{b}"
        );
    }
    write_lines(&path, &lines);
    assert_intact(dir.path(), 5);
}

#[tokio::test]
async fn deleted_and_swapped_lines_are_caught_where_they_happen() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 6, 1 << 20).await;
    let path = file(dir.path(), 1);
    let lines = read_lines(&path);

    let mut deleted = lines.clone();
    deleted.remove(2);
    write_lines(&path, &deleted);
    let b = the_break(dir.path());
    assert_eq!((b.line, b.seq), (Some(3), 3), "{b}");
    assert_eq!(b.reason, BreakReason::SeqMismatch { found: 4 });
    assert!(
        b.to_string().contains("audit-000001.log line 3, seq 3"),
        "{b}"
    );

    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    write_lines(&path, &swapped);
    let b = the_break(dir.path());
    assert_eq!((b.line, b.seq), (Some(4), 4), "{b}");
    assert_eq!(b.reason, BreakReason::SeqMismatch { found: 5 });

    // The very first record removed: the log must start at seq 1.
    let mut first = lines.clone();
    first.remove(0);
    write_lines(&path, &first);
    let b = the_break(dir.path());
    assert_eq!((b.line, b.seq), (Some(1), 1), "{b}");
}

#[tokio::test]
async fn a_deleted_file_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 12, 1500).await;
    let report = assert_intact(dir.path(), 12);
    assert!(report.files >= 4, "{report:?}");
    let first_of_2 = read_lines(&file(dir.path(), 1)).len() as u64 + 1;

    let moved = dir.path().join("aside");
    std::fs::rename(file(dir.path(), 2), &moved).unwrap();
    let b = the_break(dir.path());
    assert_eq!(b.file, "audit-000002.log");
    assert_eq!((b.line, b.seq), (None, first_of_2));
    assert_eq!(b.reason, BreakReason::MissingFile);

    // Renumbering the files to close the gap leaves a gap in seq instead.
    let files = report.files as u64;
    for n in 3..=files {
        std::fs::rename(file(dir.path(), n), file(dir.path(), n - 1)).unwrap();
    }
    let b = the_break(dir.path());
    assert_eq!((b.file.as_str(), b.line), ("audit-000002.log", Some(1)));
    assert!(matches!(b.reason, BreakReason::SeqMismatch { .. }), "{b}");
}

#[tokio::test]
async fn a_cut_tail_is_caught_by_head() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 6, 1 << 20).await;
    let path = file(dir.path(), 1);
    let lines = read_lines(&path);
    write_lines(&path, &lines[..4]);
    let b = the_break(dir.path());
    assert_eq!(b.seq, 5);
    assert_eq!(b.reason, BreakReason::RecordsMissing { head_seq: 6 });
    assert!(matches!(
        AuditLog::open(dir.path(), key(), settings(1 << 20)),
        Err(AuditError::Broken { .. })
    ));

    // The newest file deleted whole.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 12, 1500).await;
    let files = check(dir.path()).files as u64;
    std::fs::remove_file(file(dir.path(), files)).unwrap();
    let b = the_break(dir.path());
    assert!(
        matches!(b.reason, BreakReason::RecordsMissing { head_seq: 12 }),
        "{b}"
    );

    // HEAD deleted so that the cut would go unnoticed.
    std::fs::remove_file(dir.path().join("HEAD")).unwrap();
    assert_eq!(the_break(dir.path()).reason, BreakReason::HeadMissing);
    assert!(AuditLog::open(dir.path(), key(), settings(1500)).is_err());
}

#[tokio::test]
async fn head_from_another_chain_is_caught() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_log(a.path(), 3, 1 << 20).await;
    let log = AuditLog::open(b.path(), key(), settings(1 << 20)).unwrap();
    append_n(&log, 100, 3).await;
    drop(log);
    std::fs::copy(a.path().join("HEAD"), b.path().join("HEAD")).unwrap();
    let brk = the_break(b.path());
    assert_eq!((brk.file.as_str(), brk.seq), ("HEAD", 3));
    assert_eq!(brk.reason, BreakReason::HeadMismatch);

    std::fs::write(b.path().join("HEAD"), b"{\"seq\":3}\n").unwrap();
    assert!(matches!(
        the_break(b.path()).reason,
        BreakReason::HeadInvalid(_)
    ));
}

#[tokio::test]
async fn another_key_verifies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 3, 1 << 20).await;
    let report = verify(dir.path(), &RootKey::from_bytes([43; 32]).audit_key()).unwrap();
    let b = report.first_break.unwrap();
    assert_eq!((b.line, b.seq, b.reason), (Some(1), 1, BreakReason::BadMac));
    assert_eq!(report.records, 0);
    assert!(
        AuditLog::open(
            dir.path(),
            RootKey::generate().audit_key(),
            settings(1 << 20)
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_torn_final_line_is_a_crash_not_tampering() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 4, 1 << 20).await;
    let path = file(dir.path(), 1);
    let lines = read_lines(&path);
    // As a crash mid-write leaves it: a fifth record never acknowledged, half written.
    let mut torn = lines.clone();
    torn.push(lines[3][..100].to_vec());
    write_lines(&path, &torn);
    let report = assert_intact(dir.path(), 4);
    assert_eq!(
        report.torn_tail,
        Some(TornTail {
            file: "audit-000001.log".into(),
            bytes: 100,
            after_seq: 4
        })
    );

    // Reopening cuts it off and the chain goes on from the last whole record.
    let log = AuditLog::open(dir.path(), key(), settings(1 << 20)).unwrap();
    append_n(&log, 5, 1).await;
    drop(log);
    let report = assert_intact(dir.path(), 5);
    assert_eq!(report.torn_tail, None);

    // A record HEAD vouches for cannot be a torn append: that is a cut.
    let lines = read_lines(&path);
    let mut cut = lines[..4].to_vec();
    cut.push(lines[4][..50].to_vec());
    write_lines(&path, &cut);
    let report = check(dir.path());
    assert_eq!(
        report.first_break.unwrap().reason,
        BreakReason::RecordsMissing { head_seq: 5 }
    );
    assert!(AuditLog::open(dir.path(), key(), settings(1 << 20)).is_err());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        cut.concat(),
        "evidence left alone"
    );

    // Anywhere but the end of the log, a missing newline is a break.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 12, 1500).await;
    let lines = read_lines(&file(dir.path(), 1));
    let mut torn = lines.clone();
    let last = torn.last_mut().unwrap();
    last.pop();
    write_lines(&file(dir.path(), 1), &torn);
    let b = the_break(dir.path());
    assert_eq!(b.reason, BreakReason::TornLine);
    assert_eq!(b.line, Some(lines.len() as u64));
}

#[tokio::test]
async fn open_refuses_a_tampered_tail() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 4, 1 << 20).await;
    let path = file(dir.path(), 1);
    let mut lines = read_lines(&path);
    lines[3][40] ^= 1;
    write_lines(&path, &lines);
    match AuditLog::open(dir.path(), key(), settings(1 << 20)) {
        Err(AuditError::Broken { brk, .. }) => assert_eq!((brk.line, brk.seq), (Some(4), 4)),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), settings(1 << 20)).unwrap();
    assert!(matches!(
        AuditLog::open(dir.path(), key(), settings(1 << 20)),
        Err(AuditError::Locked(_))
    ));
    drop(log);
    AuditLog::open(dir.path(), key(), settings(1 << 20)).unwrap();
}

#[tokio::test]
async fn a_failed_append_is_reported_and_leaves_the_log_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), settings(1 << 20)).unwrap();
    append_n(&log, 1, 3).await;
    log.faults().failing_writes.store(1, Ordering::SeqCst);
    let err = log.append(record(99)).await.unwrap_err();
    assert!(matches!(err, AuditError::Write { .. }), "{err}");
    assert!(err.to_string().contains("no space left"), "{err}");
    assert_intact(dir.path(), 3);
    // The disk has room again: appending goes on where the chain left off.
    append_n(&log, 4, 2).await;
    drop(log);
    let report = assert_intact(dir.path(), 5);
    assert_eq!(report.torn_tail, None);
    let text = std::fs::read_to_string(file(dir.path(), 1)).unwrap();
    assert!(!text.contains("req-99"));
}

#[tokio::test]
async fn a_failure_that_cannot_be_undone_stops_appends_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), settings(1 << 20)).unwrap();
    append_n(&log, 1, 3).await;
    log.faults().failing_writes.store(1, Ordering::SeqCst);
    log.faults().failing_undo.store(true, Ordering::SeqCst);
    assert!(log.append(record(4)).await.is_err());
    assert!(matches!(
        log.append(record(5)).await,
        Err(AuditError::Poisoned(_))
    ));
    drop(log);
    // The half-written line is a torn tail; the chain before it is whole.
    let report = assert_intact(dir.path(), 3);
    assert!(report.torn_tail.is_some());
    let log = AuditLog::open(dir.path(), key(), settings(1 << 20)).unwrap();
    append_n(&log, 6, 1).await;
    drop(log);
    assert_eq!(assert_intact(dir.path(), 4).torn_tail, None);
}

#[tokio::test]
async fn a_crash_before_head_or_after_rotation_is_no_break() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), settings(1500)).unwrap();
    append_n(&log, 1, 3).await;
    let old_head = std::fs::read(dir.path().join("HEAD")).unwrap();
    append_n(&log, 4, 3).await;
    drop(log);
    // As if the process died after writing records 4..=6 but before HEAD caught up.
    std::fs::write(dir.path().join("HEAD"), &old_head).unwrap();
    let files = assert_intact(dir.path(), 6).files as u64;
    // ... and after creating the next file, before writing to it.
    std::fs::write(file(dir.path(), files + 1), b"").unwrap();
    assert_intact(dir.path(), 6);

    let log = AuditLog::open(dir.path(), key(), settings(1500)).unwrap();
    append_n(&log, 7, 1).await;
    drop(log);
    assert_intact(dir.path(), 7);
    assert_eq!(read_lines(&file(dir.path(), files + 1)).len(), 1);
}

#[tokio::test]
async fn readers_page_through_the_newest_records_across_files() {
    let dir = tempfile::tempdir().unwrap();
    // Small files: the pages cross file boundaries.
    let log = AuditLog::open(dir.path(), key(), settings(2_000)).unwrap();
    append_n(&log, 1, 30).await;
    let reader = log.reader();
    assert!(std::fs::read_dir(dir.path()).unwrap().count() > 4);
    let all = |_: &AuditRecord| true;
    let page = reader.newest(None, all, 4, usize::MAX).unwrap();
    let seqs: Vec<u64> = page.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [30, 29, 28, 27]);
    assert_eq!(page.records[0].record, record(30));
    let next = reader.newest(page.next_before, all, 4, usize::MAX).unwrap();
    assert_eq!(next.records[0].seq, 26);
    // A filter, and the bound on the records read for one page.
    let even = |r: &AuditRecord| r.request_id.ends_with(['0', '2', '4', '6', '8']);
    let page = reader.newest(None, even, 100, 10).unwrap();
    let seqs: Vec<u64> = page.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [30, 28, 26, 24, 22]);
    assert_eq!(page.next_before, Some(21));
    let rest = reader.newest(Some(21), even, 100, usize::MAX).unwrap();
    assert_eq!(rest.records.len(), 10);
    assert_eq!(rest.next_before, None);
    assert_eq!(reader.verify().unwrap().records, 30);
}

#[tokio::test]
async fn readers_leave_out_records_that_do_not_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 5, 1 << 20).await;
    let path = file(dir.path(), 1);
    let mut lines = read_lines(&path);
    lines[2] = String::from_utf8(lines[2].clone())
        .unwrap()
        .replace("req-3", "req-X")
        .into_bytes();
    write_lines(&path, &lines);
    let reader = AuditReader::new(dir.path().to_owned(), &key());
    let page = reader.newest(None, |_| true, 10, usize::MAX).unwrap();
    let seqs: Vec<u64> = page.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [5, 4, 2, 1]);
    assert_eq!(page.unreadable, 1);
    assert!(reader.verify().unwrap().first_break.is_some());
}
