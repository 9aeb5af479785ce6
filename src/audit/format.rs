//! The bytes on disk: record lines, the HEAD checkpoint and file names (see the module docs
//! of `audit` for the definition).

use std::collections::BTreeMap;

use hmac::Mac as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::{AuditError, AuditKey, AuditRecord};

pub(super) type Mac = [u8; 32];
pub(super) const ZERO_MAC: Mac = [0; 32];

const MAC_OPEN: &[u8] = br#","mac":""#;
const MAC_CLOSE: &[u8] = br#""}"#;
/// `,"mac":"` + 64 hex digits + `"}`: what follows the canonical bytes (minus their `}`).
const MAC_SUFFIX_LEN: usize = MAC_OPEN.len() + 64 + MAC_CLOSE.len();
const RECORD_DOMAIN: &[u8] = b"";
const HEAD_DOMAIN: &[u8] = b"sealgate/v1/audit HEAD\n";
const ANCHOR_DOMAIN: &[u8] = b"sealgate/v1/audit anchor\n";

pub(super) const HEAD_FILE: &str = "HEAD";
pub(super) const HEAD_TMP_FILE: &str = "HEAD.tmp";
pub(super) const LOCK_FILE: &str = "LOCK";

pub(super) fn log_file_name(number: u64) -> String {
    format!("audit-{number:06}.log")
}

/// The number in `audit-NNNNNN.log`, or None for any other name.
pub(super) fn log_file_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("audit-")?.strip_suffix(".log")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The audit key, keyed once; each MAC starts from a clone of this state.
#[derive(Clone)]
pub(super) struct Macer(hmac::Hmac<sha2::Sha256>);

impl Macer {
    pub(super) fn new(key: &AuditKey) -> Macer {
        Macer(crate::crypto::hmac_sha256(key.as_bytes()))
    }

    fn mac(&self, domain: &[u8], canonical: &[u8]) -> Mac {
        let mut m = self.0.clone();
        m.update(domain);
        m.update(canonical);
        m.finalize().into_bytes().into()
    }
}

/// A record as it sits in the chain. The field order here *is* the canonical order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Entry {
    pub seq: u64,
    pub prev: String,
    pub time: String,
    pub request_id: String,
    pub principal: String,
    pub source_ip: Option<String>,
    pub service: String,
    pub operation: String,
    pub key_arn: Option<String>,
    pub key_version: Option<String>,
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub result: String,
}

impl Entry {
    /// The record as its writer described it, without its place in the chain.
    pub(super) fn into_record(self) -> AuditRecord {
        AuditRecord {
            time: self.time,
            request_id: self.request_id,
            principal: self.principal,
            source_ip: self.source_ip,
            service: self.service,
            operation: self.operation,
            key_arn: self.key_arn,
            key_version: self.key_version,
            encryption_context: self.encryption_context,
            result: self.result,
        }
    }

    pub(super) fn new(seq: u64, prev: &Mac, r: AuditRecord) -> Entry {
        Entry {
            seq,
            prev: hex::encode(prev),
            time: r.time,
            request_id: r.request_id,
            principal: r.principal,
            source_ip: r.source_ip,
            service: r.service,
            operation: r.operation,
            key_arn: r.key_arn,
            key_version: r.key_version,
            encryption_context: r.encryption_context,
            result: r.result,
        }
    }
}

/// Appends `{canonical minus "}"},"mac":"…"}\n` to `out` and returns the MAC.
fn seal_into<T: Serialize>(
    macer: &Macer,
    domain: &[u8],
    value: &T,
    out: &mut Vec<u8>,
) -> Result<Mac, AuditError> {
    let start = out.len();
    serde_json::to_writer(&mut *out, value).map_err(|e| AuditError::Encode(e.to_string()))?;
    let mac = macer.mac(domain, &out[start..]);
    out.pop(); // the closing brace; it comes back after the mac member
    out.extend_from_slice(MAC_OPEN);
    let mut hex = [0u8; 64];
    #[allow(clippy::expect_used, reason = "32 bytes always fit 64 hex digits")]
    hex::encode_to_slice(mac, &mut hex).expect("64 hex digits for 32 bytes");
    out.extend_from_slice(&hex);
    out.extend_from_slice(MAC_CLOSE);
    out.push(b'\n');
    Ok(mac)
}

/// Appends one record line to `out`; returns its MAC, the next record's `prev`.
pub(super) fn encode_record(
    macer: &Macer,
    entry: &Entry,
    out: &mut Vec<u8>,
) -> Result<Mac, AuditError> {
    seal_into(macer, RECORD_DOMAIN, entry, out)
}

/// Why a line is not an authentic record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LineFault {
    /// Not `{…},"mac":"<64 lowercase hex>"}`, or authentic bytes that are not a record.
    Malformed(&'static str),
    /// The MAC does not match the bytes.
    BadMac,
}

/// Checks a line (without its newline) and returns the canonical bytes it carries.
fn open_line(macer: &Macer, domain: &[u8], line: &[u8]) -> Result<(Vec<u8>, Mac), LineFault> {
    let Some(split) = line.len().checked_sub(MAC_SUFFIX_LEN).filter(|&n| n >= 2) else {
        return Err(LineFault::Malformed("too short to carry a mac"));
    };
    let (head, suffix) = line.split_at(split);
    let hex = suffix
        .strip_prefix(MAC_OPEN)
        .and_then(|s| s.strip_suffix(MAC_CLOSE))
        .filter(|h| h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or(LineFault::Malformed("does not end with a mac member"))?;
    let mut claimed = ZERO_MAC;
    hex::decode_to_slice(hex, &mut claimed)
        .map_err(|_| LineFault::Malformed("does not end with a mac member"))?;
    let mut canonical = Vec::with_capacity(head.len() + 1);
    canonical.extend_from_slice(head);
    canonical.push(b'}');
    let computed = macer.mac(domain, &canonical);
    if !mac_eq(&computed, &claimed) {
        return Err(LineFault::BadMac);
    }
    Ok((canonical, claimed))
}

/// Checks one record line (without its newline): MAC first, since nothing in a line whose
/// MAC fails can be trusted, not even its seq.
pub(super) fn decode_record(macer: &Macer, line: &[u8]) -> Result<(Entry, Mac), LineFault> {
    let (canonical, mac) = open_line(macer, RECORD_DOMAIN, line)?;
    let entry = serde_json::from_slice(&canonical)
        .map_err(|_| LineFault::Malformed("authentic but not a record"))?;
    Ok((entry, mac))
}

/// The checkpoint: a record known to be durable, and the node whose chain this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    pub seq: u64,
    pub record_mac: Mac,
    /// Set once the chain is anchored as a fleet node's: it names the node, so that a log
    /// cannot be passed off as another node's. A single gateway's HEAD has none (and its
    /// bytes are what they always were).
    pub node: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadBody {
    seq: u64,
    record_mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<String>,
}

pub(super) fn encode_head(macer: &Macer, head: &Head) -> Result<Vec<u8>, AuditError> {
    let body = HeadBody {
        seq: head.seq,
        record_mac: hex::encode(head.record_mac),
        node: head.node.clone(),
    };
    let mut out = Vec::with_capacity(160);
    seal_into(macer, HEAD_DOMAIN, &body, &mut out)?;
    Ok(out)
}

pub(super) fn decode_head(macer: &Macer, bytes: &[u8]) -> Result<Head, LineFault> {
    let line = bytes
        .strip_suffix(b"\n")
        .ok_or(LineFault::Malformed("HEAD does not end with a newline"))?;
    let (canonical, _) = open_line(macer, HEAD_DOMAIN, line)?;
    let body: HeadBody = serde_json::from_slice(&canonical)
        .map_err(|_| LineFault::Malformed("authentic but not a HEAD"))?;
    let mut record_mac = ZERO_MAC;
    hex::decode_to_slice(&body.record_mac, &mut record_mac)
        .map_err(|_| LineFault::Malformed("authentic but not a HEAD"))?;
    Ok(Head {
        seq: body.seq,
        record_mac,
        node: body.node,
    })
}

/// What a node tells the database about its chain: the newest durable record and the file
/// it is in. `node` first, so an anchor of one node never passes for another's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct AnchorBody<'a> {
    pub node: &'a str,
    pub file_seq: u64,
    pub record_seq: u64,
    pub record_mac: String,
}

/// `HMAC(audit key, "sealgate/v1/audit anchor\n" ‖ the body as compact JSON)`.
pub(super) fn anchor_mac(macer: &Macer, body: &AnchorBody<'_>) -> Result<Mac, AuditError> {
    let canonical = serde_json::to_vec(body).map_err(|e| AuditError::Encode(e.to_string()))?;
    Ok(macer.mac(ANCHOR_DOMAIN, &canonical))
}

/// Constant-time comparison of a MAC with the one claimed.
pub(super) fn mac_eq(a: &Mac, b: &Mac) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::record;
    use super::*;
    use crate::crypto::RootKey;

    #[test]
    fn a_line_is_its_canonical_bytes_plus_the_mac_member() {
        let key = RootKey::from_bytes([7; 32]).audit_key();
        let macer = Macer::new(&key);
        let mut out = Vec::new();
        let mac = encode_record(&macer, &Entry::new(1, &ZERO_MAC, record(1)), &mut out).unwrap();
        let line = std::str::from_utf8(&out).unwrap();
        assert!(line.starts_with(&format!(r#"{{"seq":1,"prev":"{}","time":"#, "0".repeat(64))));
        assert!(
            line.contains(r#""encryption_context":{"a \"quoted\"\nkey":"ünïcode","aws:s3:arn""#)
        );
        assert!(line.ends_with(&format!(
            r#""result":"Success","mac":"{}"}}{}"#,
            hex::encode(mac),
            "\n"
        )));
        assert_eq!(
            line.matches('\n').count(),
            1,
            "escapes keep one record per line"
        );

        // The rule in the docs, applied by hand: drop the last 75 bytes, close the object.
        let canonical = [&out[..out.len() - 75], b"}"].concat();
        let mut m = crate::crypto::hmac_sha256(key.as_bytes());
        m.update(&canonical);
        assert_eq!(<[u8; 32]>::from(m.finalize().into_bytes()), mac);
        let parsed: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
        assert_eq!(parsed["key_version"], "v1");

        let (entry, got) = decode_record(&macer, &out[..out.len() - 1]).unwrap();
        assert_eq!((entry.seq, got), (1, mac));
    }

    #[test]
    fn every_byte_of_a_line_is_covered() {
        let macer = Macer::new(&RootKey::from_bytes([7; 32]).audit_key());
        let mut out = Vec::new();
        encode_record(&macer, &Entry::new(9, &[3; 32], record(9)), &mut out).unwrap();
        let line = &out[..out.len() - 1];
        for i in 0..line.len() {
            for bit in [0x01, 0x20] {
                let mut bad = line.to_vec();
                bad[i] ^= bit;
                assert!(
                    decode_record(&macer, &bad).is_err(),
                    "byte {i} bit {bit:#x}"
                );
            }
        }
        let other = Macer::new(&RootKey::from_bytes([8; 32]).audit_key());
        assert_eq!(decode_record(&other, line).unwrap_err(), LineFault::BadMac);
    }

    #[test]
    fn head_round_trips_and_is_not_a_record() {
        let macer = Macer::new(&RootKey::from_bytes([7; 32]).audit_key());
        let head = Head {
            seq: 42,
            record_mac: [5; 32],
            node: None,
        };
        let bytes = encode_head(&macer, &head).unwrap();
        assert_eq!(decode_head(&macer, &bytes).unwrap(), head);
        assert!(
            bytes.starts_with(br#"{"seq":42,"record_mac":"0505"#)
                && !bytes.windows(6).any(|w| w == b"\"node\""),
            "a single gateway's HEAD is what it always was"
        );
        let named = Head {
            node: Some("gw1".into()),
            ..head.clone()
        };
        let named_bytes = encode_head(&macer, &named).unwrap();
        assert_eq!(decode_head(&macer, &named_bytes).unwrap(), named);
        let renamed = String::from_utf8(named_bytes.clone())
            .unwrap()
            .replace("gw1", "gw2");
        assert_eq!(
            decode_head(&macer, renamed.as_bytes()).unwrap_err(),
            LineFault::BadMac,
            "the node a HEAD names is covered by its MAC"
        );
        assert_eq!(
            decode_record(&macer, &bytes[..bytes.len() - 1]).unwrap_err(),
            LineFault::BadMac
        );
        let mut bad = bytes.clone();
        bad[7] ^= 1;
        assert!(decode_head(&macer, &bad).is_err());
    }

    #[test]
    fn file_names_sort_by_number() {
        assert_eq!(log_file_name(7), "audit-000007.log");
        assert_eq!(log_file_number("audit-000007.log"), Some(7));
        assert_eq!(log_file_number(&log_file_name(1_234_567)), Some(1_234_567));
        for name in [
            "audit-7.log",
            "audit-00000x.log",
            "HEAD",
            "audit-000001.log.tmp",
        ] {
            assert_eq!(log_file_number(name), None, "{name}");
        }
    }
}
