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
use sealgate::config::CatalogConfig;
use sealgate::crypto::RootKey;
use sealgate::postgres::Database;

#[path = "../src/postgres/scratch.rs"]
mod scratch;

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
    sealgate_cli(&[&"audit", &"verify", &"--data-dir", &data_dir])
}

fn sealgate_cli(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(args.iter().map(|a| a.as_ref()))
        .env("SEALGATE_LOG", "warn")
        .output()
        .unwrap()
}

/// A data directory holding only the root key, as every node of the fleet has it.
fn data_dir_with_root_key() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let key_path = data.path().join("root.key");
    std::fs::write(&key_path, ROOT).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    data
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn verify_passes_an_intact_log_and_names_a_tampered_record() {
    let data = data_dir_with_root_key();
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

#[tokio::test]
async fn fleet_verify_checks_every_nodes_log_against_its_anchor() {
    let name = format!("audit_cli_{}", std::process::id());
    let Some(url) = scratch::new_database(&name).await else {
        return;
    };
    let catalog = CatalogConfig {
        url: Some(url.clone()),
        ..CatalogConfig::default()
    };
    let db = Database::open(&catalog).await.unwrap();
    let data = data_dir_with_root_key();
    let logs = data.path().join("logs");
    for (node, records) in [("gw1", 3), ("gw2", 5)] {
        let log = AuditLog::open(
            &logs.join(node),
            RootKey::from_bytes(ROOT).audit_key(),
            AuditSettings::default(),
        )
        .unwrap();
        let anchorer = log.spawn_anchoring(db.clone(), node).await.unwrap();
        for i in 1..=records {
            log.append(record(i)).await.unwrap();
        }
        anchorer.finish().await.unwrap();
    }
    let config = data.path().join("sealgate.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[catalog]\nurl = {url:?}\n",
            data.path().display().to_string()
        ),
    )
    .unwrap();

    let out = sealgate_cli(&[&"audit", &"verify", &"--config", &config, &"--logs", &logs]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("node gw2 (")
            && text.contains(
                "5 records in 1 files, chain intact; anchored at seq 5 (audit-000001.log)"
            ),
        "{text}"
    );
    assert!(
        text.ends_with(
            "ok: 2 logs intact, every anchored node's log present and reaching its anchor\n"
        ),
        "{text}"
    );

    // gw2's log not given (or deleted): named, exit 1. The database from the flag.
    let gw1 = logs.join("gw1");
    let out = sealgate_cli(&[
        &"audit",
        &"verify",
        &"--catalog-url",
        &url,
        &"--data-dir",
        &data.path(),
        &"--dir",
        &gw1,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("1 problem:"), "{text}");
    assert!(
        text.contains("node gw2: missing log: anchored at seq 5 (audit-000001.log) but no log given names this node"),
        "{text}"
    );

    // Without a database there is nothing to compare with.
    let out = sealgate_cli(&[
        &"audit",
        &"verify",
        &"--data-dir",
        &data.path(),
        &"--dir",
        &gw1,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs its database"));
}
