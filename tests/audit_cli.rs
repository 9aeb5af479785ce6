//! `sealgate audit verify` as an operator runs it, against a log the library wrote.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use sealgate::audit::{AuditLog, AuditRecord, AuditSettings};
use sealgate::crypto::RootKey;

const ROOT: [u8; 32] = [9; 32];

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time: format!("2026-03-01T12:00:00.{i:03}Z"),
        request_id: format!("req-{i}"),
        principal: "arn:aws:iam::000000000000:user/alice".into(),
        source_ip: Some("192.0.2.7".into()),
        service: "kms".into(),
        operation: "Decrypt".into(),
        key_arn: Some("arn:aws:kms:us-east-1:000000000000:key/k".into()),
        key_version: Some("m1".into()),
        encryption_context: None,
        result: "Success".into(),
    }
}

fn verify_cli(data_dir: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .env("SEALGATE_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn verify_passes_an_intact_log_and_names_a_tampered_record() {
    let data = tempfile::tempdir().unwrap();
    let key_path = data.path().join("root.key");
    std::fs::write(&key_path, ROOT).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = AuditLog::open(
        &data.path().join("audit"),
        RootKey::from_bytes(ROOT).audit_key(),
        AuditSettings::default(),
    )
    .unwrap();
    for i in 1..=5 {
        log.append(record(i)).await.unwrap();
    }
    drop(log);

    let out = verify_cli(data.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "ok: 5 records in 1 files, chain intact\n");

    // One byte of the fourth record: "Decrypt" becomes "Decrypu".
    let file = data.path().join("audit/audit-000001.log");
    let mut bytes = std::fs::read(&file).unwrap();
    let fourth = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2)
        .map(|(i, _)| i + 1)
        .unwrap();
    let at = fourth
        + String::from_utf8_lossy(&bytes[fourth..])
            .find("Decrypt")
            .unwrap()
        + 6;
    bytes[at] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();

    let out = verify_cli(data.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("audit-000001.log line 4, seq 4: MAC mismatch"),
        "{text}"
    );
    assert!(text.contains("3 records before the break"), "{text}");
}

#[test]
fn verify_without_a_root_key_is_an_error_and_creates_none() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("audit")).unwrap();
    let out = verify_cli(data.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no root key"));
    assert!(!data.path().join("root.key").exists());
}
