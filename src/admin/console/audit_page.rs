//! The audit trail page: this node's records, newest first, filtered by key, principal,
//! operation and time, with the chain's verification state.
//!
//! Reading the trail is AWS's `cloudtrail:LookupEvents`: allowed to the gateway account's
//! root user and to its IAM users whose policies allow that action. Principals of other
//! accounts are refused: the trail holds every account's records.

use std::sync::{Arc, Mutex};

use askama::Template as _;
use http::StatusCode;

use super::views::{AuditFilter, AuditPage, AuditRow};
use super::{Console, Failure, Req, Resp, Who, enc, html};
use crate::audit::{AuditRecord, VerifyReport};
use crate::policy::{self, Context, Decision, Mode};

const ACTION: &str = "cloudtrail:LookupEvents";
const PAGE_SIZE: usize = 50;
/// Records read for one page at most, matching or not: a filter that matches nothing
/// still answers quickly, with a link to look further back.
const MAX_SCANNED: usize = 100_000;
/// A verification is reused for this long: it reads the whole chain.
const VERIFY_REUSE_MS: i64 = 10_000;

/// The last verification of the chain: when, whether intact, and what it said.
#[derive(Default)]
pub(super) struct VerifiedCache(Mutex<Option<(i64, bool, String)>>);

fn describe(report: &VerifyReport) -> (bool, String) {
    let mut text = match &report.first_break {
        None => format!(
            "Chain intact: {} records in {} files verified.",
            report.records, report.files
        ),
        Some(b) => format!(
            "Chain BROKEN at {b}; {} records before the break verified.",
            report.records
        ),
    };
    if let Some(torn) = &report.torn_tail {
        text.push_str(&format!(
            " {} ends with a torn line after seq {} (an append cut short by a crash, never acknowledged).",
            torn.file, torn.after_seq
        ));
    }
    (report.first_break.is_none(), text)
}

/// A time bound as a form gives it (`2026-03-01T12:00` or longer), compared with the
/// records' RFC 3339 UTC times as text.
fn time_bound(v: Option<String>) -> String {
    v.filter(|t| {
        t.len() <= 24
            && t.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b'T' | b'.' | b'Z'))
    })
    .unwrap_or_default()
}

impl AuditFilter {
    fn matches(&self, r: &AuditRecord) -> bool {
        let key_ok = self.key.is_empty()
            || r.key_arn.as_deref().is_some_and(|k| {
                k == self.key || k.rsplit_once('/').is_some_and(|(_, id)| id == self.key)
            });
        let principal_ok = self.principal.is_empty() || r.principal.contains(&self.principal);
        let operation_ok = self.operation.is_empty()
            || r.operation.eq_ignore_ascii_case(&self.operation)
            || r.operation
                .strip_prefix("iam:")
                .is_some_and(|op| op.eq_ignore_ascii_case(&self.operation));
        // `to` is inclusive at its own precision: 12:00 takes every record of that minute.
        let from_ok = self.from.is_empty() || r.time.as_str() >= self.from.as_str();
        let to_ok = self.to.is_empty()
            || r.time.get(..self.to.len()).unwrap_or(&r.time) <= self.to.as_str();
        key_ok && principal_ok && operation_ok && from_ok && to_ok
    }

    fn query(&self) -> String {
        [
            ("key", &self.key),
            ("principal", &self.principal),
            ("operation", &self.operation),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}&", enc(v)))
        .collect()
    }
}

fn row(seq: u64, r: AuditRecord) -> AuditRow {
    AuditRow {
        seq,
        ok: r.result == "Success",
        time: r.time,
        principal: r.principal,
        source_ip: r.source_ip.unwrap_or_default(),
        service: r.service,
        operation: r.operation,
        key: r.key_arn.unwrap_or_default(),
        context: r
            .encryption_context
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        result: r.result,
    }
}

impl Console {
    /// Whether the user may read the trail, decided by the IAM policy evaluation every
    /// API uses.
    fn may_read_trail(&self, who: &Who) -> Result<(), Failure> {
        let p = &who.identity.principal;
        let mut cx = Context::new();
        if let Some(ip) = who.peer.ip {
            cx.set("aws:SourceIp", ip.to_string());
        }
        cx.set("aws:SecureTransport", who.peer.tls.to_string());
        let req = policy::Request {
            principal: p,
            action: ACTION,
            resource: "*",
            context: &cx,
        };
        let identity: Vec<&policy::Policy> =
            who.identity.policies.iter().map(Arc::as_ref).collect();
        match policy::authorize(&req, &identity, None, &self.account, Mode::Bucket) {
            Decision::Allow => Ok(()),
            decision => {
                let why = if decision == Decision::ExplicitDeny {
                    "with an explicit deny in an identity-based policy".to_owned()
                } else if p.account != self.account {
                    "because this gateway's audit trail belongs to another account".to_owned()
                } else {
                    format!("because no identity-based policy allows the {ACTION} action")
                };
                Err(Failure::new(
                    StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    format!(
                        "User: {} is not authorized to perform: {ACTION} {why}",
                        p.arn
                    ),
                ))
            }
        }
    }

    /// The chain's state, verified again when the last verification is old.
    async fn chain_state(&self) -> (bool, String) {
        let now = self.clock.now_ms();
        if let Ok(cache) = self.verified.0.lock()
            && let Some((at, ok, text)) = cache.as_ref()
            && now - at < VERIFY_REUSE_MS
        {
            return (*ok, text.clone());
        }
        let reader = self.audit.clone();
        let (ok, text) = match tokio::task::spawn_blocking(move || reader.verify()).await {
            Ok(Ok(report)) => describe(&report),
            Ok(Err(e)) => (false, format!("The chain could not be verified: {e}")),
            Err(e) => (false, format!("The verification did not finish: {e}")),
        };
        let checked = super::millis_text(now).unwrap_or_default();
        let text = format!("{text} (checked {checked})");
        if let Ok(mut cache) = self.verified.0.lock() {
            *cache = Some((now, ok, text.clone()));
        }
        (ok, text)
    }

    pub(super) async fn audit_page(&self, who: &Who, r: &Req) -> Result<Resp, Failure> {
        self.may_read_trail(who)?;
        let filter = AuditFilter {
            key: r.param("key").unwrap_or_default(),
            principal: r.param("principal").unwrap_or_default(),
            operation: r.param("operation").unwrap_or_default(),
            from: time_bound(r.param("from")),
            to: time_bound(r.param("to")),
        };
        let before = r.param("before").and_then(|b| b.parse::<u64>().ok());
        let reader = self.audit.clone();
        let (page, filter) = tokio::task::spawn_blocking(move || {
            let page = reader.newest(before, |rec| filter.matches(rec), PAGE_SIZE, MAX_SCANNED);
            (page, filter)
        })
        .await
        .map_err(|e| Failure::internal(format!("reading the audit trail: {e}")))?;
        let page = page.map_err(|e| Failure::internal(format!("reading the audit trail: {e}")))?;
        let (chain_ok, chain) = self.chain_state().await;
        let older = page
            .next_before
            .map(|seq| format!("/console/audit?{}before={seq}", filter.query()));
        let view = AuditPage {
            head: who.head("Audit trail", "audit"),
            chain_ok,
            chain,
            rows: page
                .records
                .into_iter()
                .map(|n| row(n.seq, n.record))
                .collect(),
            unreadable: page.unreadable,
            older,
            filter,
        };
        Ok(html(StatusCode::OK, view.render()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time: &str, op: &str, key: Option<&str>) -> AuditRecord {
        AuditRecord {
            time: time.into(),
            request_id: "r".into(),
            principal: "arn:aws:iam::000000000000:user/alice".into(),
            source_ip: None,
            service: "kms".into(),
            operation: op.into(),
            key_arn: key.map(Into::into),
            key_version: None,
            encryption_context: None,
            result: "Success".into(),
        }
    }

    fn filter() -> AuditFilter {
        AuditFilter {
            key: String::new(),
            principal: String::new(),
            operation: String::new(),
            from: String::new(),
            to: String::new(),
        }
    }

    #[test]
    fn filters_match_key_ids_or_arns_operations_and_times() {
        let arn = "arn:aws:kms:us-east-1:000000000000:key/1234";
        let r = record("2026-03-01T12:00:30.000Z", "DisableKey", Some(arn));
        let by_id = AuditFilter {
            key: "1234".into(),
            ..filter()
        };
        assert!(by_id.matches(&r));
        assert!(
            AuditFilter {
                key: arn.into(),
                ..filter()
            }
            .matches(&r)
        );
        assert!(
            !AuditFilter {
                key: "123".into(),
                ..filter()
            }
            .matches(&r)
        );
        assert!(!by_id.matches(&record("2026-03-01T12:00:30.000Z", "ListKeys", None)));
        assert!(
            AuditFilter {
                operation: "disablekey".into(),
                ..filter()
            }
            .matches(&r)
        );
        assert!(
            AuditFilter {
                principal: "user/alice".into(),
                ..filter()
            }
            .matches(&r)
        );
        assert!(
            !AuditFilter {
                principal: "user/bob".into(),
                ..filter()
            }
            .matches(&r)
        );
        let within = AuditFilter {
            from: "2026-03-01T12:00".into(),
            to: "2026-03-01T12:00".into(),
            ..filter()
        };
        assert!(within.matches(&r), "to is inclusive at its precision");
        assert!(
            !AuditFilter {
                from: "2026-03-01T12:01".into(),
                ..filter()
            }
            .matches(&r)
        );
        assert!(
            !AuditFilter {
                to: "2026-03-01T11:59".into(),
                ..filter()
            }
            .matches(&r)
        );
        assert!(
            AuditFilter {
                operation: "CreateUser".into(),
                ..filter()
            }
            .matches(&record("2026-03-01T12:00:30.000Z", "iam:CreateUser", None))
        );
    }

    #[test]
    fn time_bounds_are_only_taken_as_times() {
        assert_eq!(
            time_bound(Some("2026-03-01T12:00".into())),
            "2026-03-01T12:00"
        );
        assert_eq!(time_bound(Some("<script>".into())), "");
        assert_eq!(time_bound(None), "");
    }
}
