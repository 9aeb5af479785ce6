//! Tamper-evident audit trail: one record per KMS operation and per use of a key on behalf
//! of S3, in an HMAC chain that proves itself. docs/AUDIT.md is the operator's version.
//!
//! # Files
//!
//! A directory holds `audit-000001.log`, `audit-000002.log`, … (a new file starts when the
//! current one would grow past `max_file_bytes`), a checkpoint `HEAD`, and `LOCK`, which a
//! writing process holds so that two processes never extend one chain.
//!
//! # Records
//!
//! One JSON object per line, `\n`-terminated, UTF-8, no insignificant whitespace:
//!
//! ```text
//! {"seq":1,"prev":"00…00","time":"…","request_id":"…","principal":"…","source_ip":null,
//!  "service":"kms","operation":"…","key_arn":null,"key_version":null,
//!  "encryption_context":null,"result":"Success","mac":"<64 lowercase hex>"}
//! ```
//!
//! Members appear in exactly that order, every member is present (absent values are
//! `null`), strings are escaped as `serde_json` escapes them, and the encryption context is
//! an object with its keys in byte order. `seq` counts from 1 across all files without
//! gaps; `prev` is the `mac` of the record before (64 zeros for the first ever).
//!
//! The *canonical bytes* of a record are its line without the trailing `,"mac":"…"` member
//! and without the newline: the line minus its last 75 bytes, with `}` appended.
//! `mac = HMAC-SHA256(audit key, canonical bytes)`, the audit key being derived from the
//! root key (`RootKey::audit_key`). A verifier in any language needs only that rule; it
//! never has to re-serialize JSON, and since the MAC covers the bytes as written, any
//! changed byte of a line is caught.
//!
//! # HEAD
//!
//! `HEAD` is `{"seq":N,"record_mac":"…","mac":"…"}\n`: the seq and MAC of a record known to
//! be durable, with `mac = HMAC-SHA256(audit key, "sealgate/v1/audit HEAD\n" ‖ canonical
//! bytes)`. The prefix keeps a HEAD from ever being mistaken for a record. The writer
//! replaces it (temp file, fsync, rename) after each batch is durable, so HEAD may lag
//! the log but never leads it: a log that ends before HEAD's seq has lost records.
//!
//! A fleet node's HEAD also names the node, `{"seq":N,"record_mac":"…","node":"gw1",
//! "mac":"…"}`: bound by the MAC to a record of this chain, it says whose chain it is.
//!
//! # Anchors
//!
//! A fleet node records its chain's newest durable record in the database
//! (`audit_anchors`): node, file number, seq and record MAC, with
//! `mac = HMAC-SHA256(audit key, "sealgate/v1/audit anchor\n" ‖
//! {"node":…,"file_seq":…,"record_seq":…,"record_mac":"…"})`, that JSON compact and in
//! that order. `verify_fleet` checks every node's log against it (see `anchor`).
//!
//! # Crashes
//!
//! A batch is written with one `write` and one fsync. A crash mid-write can leave a final
//! line without its newline: that record was never acknowledged to anyone, so `verify`
//! reports it as a torn tail (not a break) and `AuditLog::open` cuts it off — unless HEAD
//! vouches for it, which makes it a break. A torn line anywhere but the end of the last
//! file is a break.

mod anchor;
mod format;
mod reader;
mod verify;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::crypto::AuditKey;
pub use anchor::{
    ANCHOR_INTERVAL, Anchor, AnchorRow, Anchorer, FleetProblem, FleetReport, LogCheck,
    load_anchors, verify_fleet,
};
pub use reader::{AuditReader, NumberedRecord, Page};
pub use verify::{Break, BreakReason, TornTail, VerifyReport, verify};
pub use writer::AuditLog;

/// One audited operation, as the caller describes it. Never holds key material.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// RFC 3339 UTC with milliseconds, from the caller's clock (`format_time`).
    pub time: String,
    pub request_id: String,
    /// ARN of the caller.
    pub principal: String,
    pub source_ip: Option<String>,
    /// "kms" or "s3".
    pub service: String,
    /// e.g. "GenerateDataKey".
    pub operation: String,
    pub key_arn: Option<String>,
    /// Key material id.
    pub key_version: Option<String>,
    pub encryption_context: Option<BTreeMap<String, String>>,
    /// "Success" or the error code, e.g. "DisabledException".
    pub result: String,
}

/// `time` as records carry it: RFC 3339 in UTC with milliseconds, `2026-03-01T12:00:00.123Z`.
pub fn format_time(t: time::OffsetDateTime) -> String {
    crate::clock::format_utc(t)
}

#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// A file that would grow past this is closed and the next one started. A single
    /// record larger than this still gets written, alone in its file.
    pub max_file_bytes: u64,
    /// fsync each batch before its appends return (survives power loss, not only kill -9).
    pub fsync: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            max_file_bytes: 64 * 1024 * 1024,
            fsync: true,
        }
    }
}

impl From<&crate::config::AuditConfig> for AuditSettings {
    fn from(c: &crate::config::AuditConfig) -> Self {
        AuditSettings {
            max_file_bytes: c.max_file_bytes,
            fsync: c.fsync,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An append failed; the record is not in the log and the log still verifies.
    #[error("cannot write audit log {path}: {source}")]
    Write {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error("no audit log at {0}")]
    NotFound(PathBuf),
    #[error("audit log {dir} does not verify, refusing to append to it: {brk}")]
    Broken { dir: PathBuf, brk: Box<Break> },
    #[error("audit log {0} is open in another process")]
    Locked(PathBuf),
    #[error("cannot encode audit record: {0}")]
    Encode(String),
    /// A failed write could not be undone; appending more could break the chain.
    #[error("audit log {0} stopped after a write it could not undo; restart to recover")]
    Poisoned(PathBuf),
    #[error("the audit log writer has stopped")]
    Closed,
    /// The chain cannot be anchored as this node's, or its anchor cannot be written.
    #[error("audit chain of node {node}: {reason}")]
    Anchor { node: String, reason: String },
    #[error("audit anchors: {0}")]
    Database(#[from] crate::postgres::DbError),
}

impl AuditError {
    fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
        move |source| AuditError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn times_are_utc_with_milliseconds() {
        let t = time::macros::datetime!(2026-03-01 13:00:00.123456 +01:00);
        assert_eq!(super::format_time(t), "2026-03-01T12:00:00.123Z");
        let t = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        assert_eq!(super::format_time(t), "2026-03-01T12:00:00.000Z");
    }
}

#[cfg(test)]
mod test_support {
    use super::*;

    pub(super) fn record(i: u64) -> AuditRecord {
        AuditRecord {
            time: format!("2026-01-01T00:00:{:02}.{:03}Z", i % 60, i % 1000),
            request_id: format!("req-{i}"),
            principal: "arn:aws:iam::000000000000:root".into(),
            source_ip: Some("127.0.0.1".into()),
            service: "kms".into(),
            operation: "GenerateDataKey".into(),
            key_arn: Some(
                "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
            ),
            key_version: Some("v1".into()),
            encryption_context: Some(BTreeMap::from([
                ("aws:s3:arn".into(), format!("arn:aws:s3:::b/k{i}")),
                ("a \"quoted\"\nkey".into(), "ünïcode".into()),
            ])),
            result: "Success".into(),
        }
    }
}

#[cfg(test)]
mod anchor_tests;
#[cfg(test)]
mod tests;
