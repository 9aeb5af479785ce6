//! Who may do what with a key, as AWS KMS decides: the key policy is the authority (it may
//! delegate to the account's IAM policies), grants add permissions, an explicit deny
//! anywhere wins, and what nothing allows is denied.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::caller::Caller;
use super::errors::{KmsError, KmsResult};
use super::model::KeyRecord;
use super::service::KmsService;
use crate::policy::{self, Context, Decision, Mode, Policy, PolicyKind, Request};

impl KmsService {
    fn context_for(
        &self,
        caller: &Caller,
        encryption_context: Option<&BTreeMap<String, String>>,
        extra: &[(&str, Vec<String>)],
    ) -> Context {
        let mut c = Context::new();
        let p = &caller.principal;
        c.set("aws:PrincipalArn", p.arn.clone());
        c.set("aws:PrincipalAccount", p.account.clone());
        c.set("kms:CallerAccount", p.account.clone());
        if let policy::PrincipalKind::User { name } = &p.kind {
            c.set("aws:username", name.clone());
        }
        if let Some(ip) = &caller.source_ip {
            c.set("aws:SourceIp", ip.clone());
        }
        c.set("aws:SecureTransport", caller.secure_transport.to_string());
        let now = self.inner.clock.now();
        c.set("aws:EpochTime", now.unix_timestamp().to_string());
        if let Ok(t) = now.format(&time::format_description::well_known::Rfc3339) {
            c.set("aws:CurrentTime", t);
        }
        if let Some(via) = &caller.via_service {
            c.set("kms:ViaService", via.clone());
        }
        if let Some(ec) = encryption_context {
            for (k, v) in ec {
                c.set(&format!("kms:EncryptionContext:{k}"), v.clone());
            }
            c.set_multi("kms:EncryptionContextKeys", ec.keys().cloned().collect());
        }
        for (k, v) in extra {
            c.set_multi(k, v.clone());
        }
        c
    }

    /// Decides an operation on a key. `grant_operation` names the operation as grants list
    /// it (None where grants cannot allow it).
    pub(super) fn authorize(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        action: &str,
        grant_operation: Option<&str>,
        encryption_context: Option<&BTreeMap<String, String>>,
        extra: &[(&str, Vec<String>)],
    ) -> KmsResult<()> {
        let arn = key.arn();
        let context = self.context_for(caller, encryption_context, extra);
        // The parsed policy cached with the key; parsed here only for a record not yet stored.
        let key_policy = match self.by_id(&key.id) {
            Some(entry) if entry.record.policy == key.policy => entry.policy.clone(),
            _ => Arc::new(
                Policy::parse(&key.policy, PolicyKind::Resource)
                    .map_err(|e| KmsError::internal(format!("stored key policy: {e}")))?,
            ),
        };
        let identity: Vec<&Policy> = caller.identity_policies.iter().map(Arc::as_ref).collect();
        let req = Request {
            principal: &caller.principal,
            action,
            resource: &arn,
            context: &context,
        };
        match policy::authorize(
            &req,
            &identity,
            Some(&key_policy),
            &key.account,
            Mode::KeyPolicy,
        ) {
            Decision::Allow => return Ok(()),
            Decision::ExplicitDeny => {
                return Err(denied(caller, action, &arn, "with an explicit deny"));
            }
            Decision::ImplicitDeny => {}
        }
        if let Some(op) = grant_operation {
            let empty = BTreeMap::new();
            let ec = encryption_context.unwrap_or(&empty);
            let granted = self.read().grants.values().any(|g| {
                g.key_id == key.id
                    && g.grantee_principal == caller.principal.arn
                    && g.operations.iter().any(|o| o == op)
                    && g.context_allows(ec)
            });
            if granted {
                return Ok(());
            }
        }
        Err(denied(
            caller,
            action,
            &arn,
            "because no key policy, IAM policy or grant allows it",
        ))
    }

    /// Decides an operation that names no key (CreateKey, ListKeys, GenerateRandom, ...):
    /// the caller's IAM policies alone.
    pub(super) fn authorize_account(&self, caller: &Caller, action: &str) -> KmsResult<()> {
        let context = self.context_for(caller, None, &[]);
        let identity: Vec<&Policy> = caller.identity_policies.iter().map(Arc::as_ref).collect();
        let req = Request {
            principal: &caller.principal,
            action,
            resource: "*",
            context: &context,
        };
        match policy::authorize(&req, &identity, None, self.account(), Mode::Bucket) {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => Err(denied(caller, action, "*", "with an explicit deny")),
            Decision::ImplicitDeny => Err(denied(
                caller,
                action,
                "*",
                "because no identity-based policy allows it",
            )),
        }
    }

    /// Whether `principal` could still change the policy after it becomes `policy_text`
    /// (AWS's lockout safety check).
    pub(super) fn policy_keeps_admin(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        policy: &Policy,
    ) -> bool {
        let context = self.context_for(caller, None, &[]);
        let identity: Vec<&Policy> = caller.identity_policies.iter().map(Arc::as_ref).collect();
        let arn = key.arn();
        let req = Request {
            principal: &caller.principal,
            action: "kms:PutKeyPolicy",
            resource: &arn,
            context: &context,
        };
        policy::authorize(&req, &identity, Some(policy), &key.account, Mode::KeyPolicy)
            == Decision::Allow
    }
}

fn denied(caller: &Caller, action: &str, resource: &str, why: &str) -> KmsError {
    KmsError::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
        caller.principal.arn
    ))
}
