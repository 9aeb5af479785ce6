//! IAM policy grammar and evaluation, shared by KMS key policies, S3 bucket policies and
//! identity policies. Pure: documents and a request context in, a decision out.
//!
//! Evaluation follows AWS: an explicit Deny in any applicable policy wins; otherwise the
//! request needs an Allow, and which Allows suffice depends on the resource ([`Mode`]).
//! The account's root user is allowed by identity for its own account's resources (it
//! carries no identity policies), but stays subject to explicit denies, and for KMS keys to
//! the key policy: a key policy that does not name the account locks even root out.

mod conditions;
mod document;
mod matching;

pub use document::{Policy, PolicyKind};

use document::{Effect, PrincipalMatch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    Root,
    User { name: String },
    Anonymous,
    Service(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub arn: String,
    pub account: String,
    pub kind: PrincipalKind,
}

impl Principal {
    pub fn root(account: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_owned(),
            kind: PrincipalKind::Root,
        }
    }

    pub fn user(account: &str, name: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            account: account.to_owned(),
            kind: PrincipalKind::User {
                name: name.to_owned(),
            },
        }
    }

    pub fn anonymous() -> Principal {
        Principal {
            arn: "*".into(),
            account: String::new(),
            kind: PrincipalKind::Anonymous,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// Condition keys of a request; keys are case-insensitive, values may be multi-valued.
#[derive(Debug, Default, Clone)]
pub struct Context {
    values: std::collections::HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
    }

    pub fn set_multi(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_ascii_lowercase(), values);
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
    }
}

pub struct Request<'a> {
    pub principal: &'a Principal,
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// How a resource policy combines with identity policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// KMS key policy: the key policy is the authority. Naming the principal allows on its
    /// own; naming the account delegates to IAM, so an identity policy must allow as well.
    KeyPolicy,
    /// S3 bucket policy: in the same account an identity or a resource policy allowing is
    /// enough; across accounts both must; anonymous callers only through Principal "*".
    Bucket,
}

/// What one policy says about a request.
#[derive(Debug, Default, Clone, Copy)]
struct Verdict {
    deny: bool,
    allow_direct: bool,
    allow_account: bool,
}

fn evaluate(policy: &Policy, req: &Request, as_resource: bool) -> Verdict {
    let mut v = Verdict::default();
    for st in policy.statements() {
        let who = if as_resource {
            match st.principal_match(req.principal) {
                Some(m) => m,
                None => continue,
            }
        } else {
            PrincipalMatch::Direct
        };
        if !st.applies(policy, req) {
            continue;
        }
        match (st.effect, who) {
            (Effect::Deny, _) => v.deny = true,
            (Effect::Allow, PrincipalMatch::Direct) => v.allow_direct = true,
            (Effect::Allow, PrincipalMatch::Account) => v.allow_account = true,
        }
    }
    v
}

pub fn authorize(
    req: &Request,
    identity: &[&Policy],
    resource: Option<&Policy>,
    resource_account: &str,
    mode: Mode,
) -> Decision {
    let identity_verdicts: Vec<Verdict> =
        identity.iter().map(|p| evaluate(p, req, false)).collect();
    let res = resource.map(|p| evaluate(p, req, true)).unwrap_or_default();
    if res.deny || identity_verdicts.iter().any(|v| v.deny) {
        return Decision::ExplicitDeny;
    }
    let p = req.principal;
    let same_account = p.account == resource_account;
    let identity_allows = match p.kind {
        PrincipalKind::Anonymous => false,
        PrincipalKind::Root if same_account => true,
        _ => identity_verdicts.iter().any(|v| v.allow_direct),
    };
    let allowed = match (mode, resource) {
        (_, None) => same_account && identity_allows,
        (_, Some(_)) if p.kind == PrincipalKind::Anonymous => res.allow_direct,
        (_, Some(_)) if !same_account => (res.allow_direct || res.allow_account) && identity_allows,
        (Mode::KeyPolicy, Some(_)) => res.allow_direct || (res.allow_account && identity_allows),
        (Mode::Bucket, Some(_)) => identity_allows || res.allow_direct,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

#[cfg(test)]
mod tests;
