//! AWS IAM policy language: parsing and evaluation of identity policies, KMS key policies
//! and S3 bucket policies.
//!
//! The module is pure: a document and a request come in, a [`Decision`] comes out. There is
//! no I/O, no clock (the current time, when a condition needs it, is a context key such as
//! `aws:CurrentTime` set by the caller) and no global state.
//!
//! # Grammar
//!
//! [`Policy::parse`] accepts the AWS JSON policy grammar (`Version`, `Id`, `Statement` with
//! `Sid`, `Effect`, `Action`/`NotAction`, `Resource`/`NotResource`,
//! `Principal`/`NotPrincipal`, `Condition`) and rejects anything it cannot evaluate
//! faithfully, so a policy never means less (or more) than its author wrote:
//!
//! - unknown fields, duplicate JSON keys, duplicate `Sid`s, wrong types, documents over
//!   32 KiB, unknown condition operators and malformed typed condition values (numbers,
//!   dates, booleans, base64, CIDRs) are errors;
//! - `Principal` may be `"*"`, or an object with `AWS` (`"*"`, a 12-digit account id, an
//!   account root ARN, or an IAM/STS principal ARN, matched exactly) and `Service` entries.
//!   `Federated` and `CanonicalUser` are rejected: sealgate has no federation or canonical
//!   ids, and silently ignoring an entry would widen a `NotPrincipal`.
//!
//! # Evaluation
//!
//! Within one policy an applicable `Deny` wins over an applicable `Allow`. [`authorize`]
//! combines the caller's identity policies with the resource's policy; an explicit deny in
//! any of them wins, and what nothing allows is [`Decision::ImplicitDeny`]. How the allows
//! combine depends on [`Mode`]:
//!
//! - [`Mode::KeyPolicy`]: the key policy is the authority. A statement naming the caller
//!   (its ARN, a service it is, `"*"`, or a `NotPrincipal` that leaves it out) allows on its
//!   own for a caller of the key's account. A statement naming only the account (account id
//!   or `arn:aws:iam::ACCT:root`) delegates to IAM: an identity policy of the caller must
//!   allow too. A caller from another account always needs both the key policy and its own
//!   identity policy, as in AWS KMS. Anonymous callers are never allowed (KMS only takes
//!   signed requests). Without a key policy nothing is allowed.
//! - [`Mode::Bucket`]: same account, an identity policy or a bucket policy statement naming
//!   the caller allows (a statement naming the account root needs the identity policy);
//!   another account, both must allow; anonymous callers only through a bucket policy
//!   statement whose principal is `"*"` or `{"AWS": "*"}` (an `Allow` with `NotPrincipal`
//!   does not admit anonymous callers).
//!
//! Service principals have no identity policies: they are allowed exactly when the resource
//! policy names them (or names `"*"`). A `NotPrincipal` entry naming an account (id or root
//! ARN) spares every principal of that account, not only its root user.
//!
//! ## The account root user
//!
//! The root user's identity side allows everything, as if it had an identity policy
//! allowing `*` on `*`; explicit denies in identity policies passed for it, and in the
//! resource policy, still apply. So in bucket mode it may do anything in its own account
//! unless the bucket policy denies it, and in another account whatever that account's
//! resource policy grants to its account. In key-policy mode it is still bound by the key
//! policy: a key policy that names neither the account nor the root user denies even root.
//!
//! # Conditions
//!
//! Operators within a block, and keys within an operator, are AND-ed; values of one key are
//! OR-ed. Negated operators (`StringNotEquals`, `NotIpAddress`, ...) hold when no value
//! matches, and hold when the key is absent, as AWS documents. `...IfExists` holds when the
//! key is absent. `ForAnyValue:` needs one request value to satisfy the operator (false for
//! an absent key); `ForAllValues:` needs every request value to (true for an absent key).
//! `ArnEquals` and `ArnLike` both take wildcards and compare the six ARN components
//! separately, as in AWS. Dates are ISO 8601 (with or without an offset, or a bare date;
//! no offset means UTC) or epoch seconds. A request value that does not parse as the
//! operator's type matches no policy value, so a negated operator holds for it.
//!
//! Condition keys are case-insensitive. Besides the [`Context`], the evaluator knows a few
//! keys from the principal unless the context sets them: `aws:PrincipalArn`,
//! `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username` (IAM users) and `aws:userid`
//! (the account id for the root user; set it in the context for users).
//!
//! # Policy variables
//!
//! With `Version` `2012-10-17`, `${key}` in `Resource`/`NotResource` and condition values
//! is replaced by the value of that key (`${key, 'default'}` supplies a default; `${*}`,
//! `${?}`, `${$}` are a literal `*`, `?`, `$`). Substituted text never acts as a wildcard.
//! A variable whose key is absent or multi-valued cannot be resolved: a `Resource` entry
//! holding it matches nothing, and a `NotResource` entry or condition holding it makes the
//! statement not apply (AWS: the statement is invalid for that request). Without a
//! `Version` (or with `2008-10-17`) `${...}` is literal text.

mod conditions;
mod document;
mod evaluate;
mod matching;

pub use document::{Policy, PolicyKind};
pub use evaluate::{Decision, Mode, ResourceGrants, authorize, authorize_with_grants};

use std::collections::BTreeMap;

/// What kind of caller a [`Principal`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root user.
    Root,
    /// An IAM user of the account.
    User { name: String },
    /// An unsigned request.
    Anonymous,
    /// An AWS service acting on its own behalf, e.g. `s3.amazonaws.com`.
    Service(String),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub arn: String,
    pub account: String,
    pub kind: PrincipalKind,
}

impl Principal {
    /// The root user of `account`: `arn:aws:iam::ACCOUNT:root`.
    pub fn root(account: &str) -> Principal {
        Principal {
            arn: crate::arn::iam_root(account),
            account: account.to_string(),
            kind: PrincipalKind::Root,
        }
    }

    /// The IAM user `name` of `account`: `arn:aws:iam::ACCOUNT:user/NAME`.
    pub fn user(account: &str, name: &str) -> Principal {
        Principal {
            arn: crate::arn::iam_user(account, "/", name),
            account: account.to_string(),
            kind: PrincipalKind::User {
                name: name.to_string(),
            },
        }
    }

    /// An unsigned caller: ARN `*`, no account.
    pub fn anonymous() -> Principal {
        Principal {
            arn: "*".to_string(),
            account: String::new(),
            kind: PrincipalKind::Anonymous,
        }
    }

    /// An AWS service principal such as `s3.amazonaws.com` (no account, the ARN is the name).
    pub fn service(name: &str) -> Principal {
        Principal {
            arn: name.to_string(),
            account: String::new(),
            kind: PrincipalKind::Service(name.to_string()),
        }
    }
}

/// A policy document that cannot be accepted. The message names the offending element and
/// is meant for `MalformedPolicyDocumentException` (KMS) or `MalformedPolicy` (S3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// Everything a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    /// e.g. `kms:Decrypt`, `s3:GetObject`.
    pub action: &'a str,
    /// The ARN of the resource acted on.
    pub resource: &'a str,
    pub context: &'a Context,
}

/// Condition keys of a request. Keys are case-insensitive; a key may hold several values.
#[derive(Debug, Default, Clone)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets `key` to the single `value`, replacing what it held.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(fold_key(key), vec![value.into()]);
    }

    /// Sets `key` to `values`, replacing what it held. An empty list counts as absent.
    pub fn set_multi(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(fold_key(key), values);
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&fold_key(key)).map(Vec::as_slice)
    }

    pub(crate) fn get_folded(&self, folded_key: &str) -> Option<&[String]> {
        self.values.get(folded_key).map(Vec::as_slice)
    }
}

/// The one spelling under which a condition key is stored and looked up.
pub(crate) fn fold_key(key: &str) -> String {
    key.to_lowercase()
}
