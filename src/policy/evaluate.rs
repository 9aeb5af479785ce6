//! Deciding a request: statements, one policy, and identity and resource policies together.

use super::document::{Effect, Listed, Policy, Statement};
use super::matching::{Env, PrincipalMatch, Tok, glob_str, glob_str_ignore_case};
use super::{PrincipalKind, Request};

/// The outcome of [`authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A `Deny` statement applies; nothing can override it.
    ExplicitDeny,
    /// Nothing allows the request.
    ImplicitDeny,
}

/// How a resource policy combines with identity policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// KMS key policy: the key policy is the authority. A statement naming the principal
    /// itself allows on its own; one naming the account (account id or
    /// `arn:aws:iam::ACCT:root`) delegates to IAM: then an identity policy of the caller must
    /// allow too. Identity policies alone never suffice. A caller from another account needs
    /// its identity policy as well as the key policy.
    KeyPolicy,
    /// S3 bucket policy: same account — identity policy OR resource policy allows (a
    /// statement naming the account root still needs the identity policy, as in AWS);
    /// cross-account — both must; anonymous — only a resource policy statement with
    /// Principal `"*"` (or `{"AWS":"*"}`).
    Bucket,
}

/// How the allowing statements of a policy reached the caller.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    denied: bool,
    /// By an identity policy statement (no principal element: it is about the caller).
    caller: bool,
    named: bool,
    anyone: bool,
    /// Through `NotPrincipal` not excluding the caller.
    not_principal: bool,
    account: bool,
}

impl Outcome {
    fn allows(&self) -> bool {
        self.caller || self.named || self.anyone || self.not_principal || self.account
    }

    fn merge(self, other: Outcome) -> Outcome {
        Outcome {
            denied: self.denied || other.denied,
            caller: self.caller || other.caller,
            named: self.named || other.named,
            anyone: self.anyone || other.anyone,
            not_principal: self.not_principal || other.not_principal,
            account: self.account || other.account,
        }
    }
}

/// How a statement reaches the caller, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Caller,
    Principal(PrincipalMatch),
    NotPrincipal,
}

fn reach(statement: &Statement, req: &Request) -> Option<Reach> {
    match &statement.principals {
        None => Some(Reach::Caller),
        Some(Listed::Only(specs)) => specs
            .iter()
            .filter_map(|spec| spec.matches(req.principal))
            .max()
            .map(Reach::Principal),
        Some(Listed::AllBut(specs)) => {
            let excluded = specs.iter().any(|s| s.matches(req.principal).is_some());
            (!excluded).then_some(Reach::NotPrincipal)
        }
    }
}

fn action_matches(statement: &Statement, action: &str) -> bool {
    let any = |patterns: &[Vec<Tok>]| patterns.iter().any(|p| glob_str_ignore_case(p, action));
    match &statement.actions {
        Listed::Only(patterns) => any(patterns),
        Listed::AllBut(patterns) => !any(patterns),
    }
}

/// A `NotResource` entry that cannot be resolved makes the statement not apply.
fn resource_matches(statement: &Statement, resource: &str, env: &Env) -> bool {
    match &statement.resources {
        Listed::Only(patterns) => patterns.iter().any(|p| {
            p.is_star()
                || p.resolve(env)
                    .is_some_and(|tokens| glob_str(&tokens, resource))
        }),
        Listed::AllBut(patterns) => {
            let mut matched = false;
            for p in patterns {
                match p.resolve(env) {
                    Some(tokens) => matched |= glob_str(&tokens, resource),
                    None => return false,
                }
            }
            !matched
        }
    }
}

fn statement_reach(statement: &Statement, req: &Request, env: &Env) -> Option<Reach> {
    let reach = reach(statement, req)?;
    (action_matches(statement, req.action)
        && resource_matches(statement, req.resource, env)
        && statement.conditions.iter().all(|c| c.holds(env)))
    .then_some(reach)
}

fn evaluate(policy: &Policy, req: &Request, env: &Env) -> Outcome {
    let mut outcome = Outcome::default();
    for statement in &policy.statements {
        let Some(reach) = statement_reach(statement, req, env) else {
            continue;
        };
        match statement.effect {
            Effect::Deny => outcome.denied = true,
            Effect::Allow => match reach {
                Reach::Caller => outcome.caller = true,
                Reach::Principal(PrincipalMatch::Named) => outcome.named = true,
                Reach::Principal(PrincipalMatch::Anyone) => outcome.anyone = true,
                Reach::Principal(PrincipalMatch::Account) => outcome.account = true,
                Reach::NotPrincipal => outcome.not_principal = true,
            },
        }
    }
    outcome
}

/// Grants a resource has besides its policy (an S3 ACL), as they reach the caller: they
/// count as an allowing statement of the resource policy naming the caller's account, or
/// everyone, would.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResourceGrants {
    pub account: bool,
    pub anyone: bool,
}

/// Decides `req` against the caller's identity policies and the resource's policy (owned by
/// `resource_account`), combined as `mode` says. An explicit deny in any policy wins; what
/// nothing allows is [`Decision::ImplicitDeny`]. See the module documentation for the
/// account root user, anonymous callers and service principals.
pub fn authorize(
    req: &Request,
    identity: &[&Policy],
    resource: Option<&Policy>,
    resource_account: &str,
    mode: Mode,
) -> Decision {
    authorize_with_grants(
        req,
        identity,
        resource,
        ResourceGrants::default(),
        resource_account,
        mode,
    )
}

/// [`authorize`], with the resource's `grants` beside its policy.
pub fn authorize_with_grants(
    req: &Request,
    identity: &[&Policy],
    resource: Option<&Policy>,
    grants: ResourceGrants,
    resource_account: &str,
    mode: Mode,
) -> Decision {
    let env = Env::new(req.principal, req.context);
    let id = identity
        .iter()
        .map(|p| evaluate(p, req, &env))
        .fold(Outcome::default(), Outcome::merge);
    let mut res = resource.map(|p| evaluate(p, req, &env)).unwrap_or_default();
    res.account |= grants.account;
    res.anyone |= grants.anyone;
    if id.denied || res.denied {
        return Decision::ExplicitDeny;
    }

    let allowed = match &req.principal.kind {
        PrincipalKind::Anonymous => mode == Mode::Bucket && res.anyone,
        // Services have no identity policies: the resource policy must name them.
        PrincipalKind::Service(_) => res.named || res.anyone,
        PrincipalKind::Root | PrincipalKind::User { .. } => {
            let identity_allows = req.principal.kind == PrincipalKind::Root || id.allows();
            let same_account = req.principal.account == resource_account;
            let direct = res.named || res.anyone || res.not_principal;
            match (mode, same_account) {
                (Mode::KeyPolicy, true) => direct || (res.account && identity_allows),
                (Mode::Bucket, true) => direct || identity_allows,
                (_, false) => (direct || res.account) && identity_allows,
            }
        }
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Context, Policy, PolicyKind, Principal};

    const ACCT: &str = "111122223333";
    const OTHER: &str = "444455556666";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const DEFAULT_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    fn resource_policy(json: &str) -> Policy {
        Policy::parse(json, PolicyKind::Resource).expect("valid resource policy")
    }

    fn identity_policy(json: &str) -> Policy {
        Policy::parse(json, PolicyKind::Identity).expect("valid identity policy")
    }

    /// An identity policy with one statement.
    fn allow(action: &str, resource: &str) -> Policy {
        identity_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}}}"#
        ))
    }

    fn deny(action: &str, resource: &str) -> Policy {
        identity_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"{action}","Resource":"{resource}"}}}}"#
        ))
    }

    /// A resource policy with one statement for `principal` (JSON).
    fn grant(effect: &str, principal: &str, action: &str, resource: &str) -> Policy {
        resource_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Principal":{principal},"Action":"{action}","Resource":"{resource}"}}}}"#
        ))
    }

    struct Case<'a> {
        principal: Principal,
        action: &'a str,
        resource: &'a str,
        context: Context,
    }

    fn case<'a>(principal: Principal, action: &'a str, resource: &'a str) -> Case<'a> {
        Case {
            principal,
            action,
            resource,
            context: Context::new(),
        }
    }

    impl Case<'_> {
        fn decide(
            &self,
            identity: &[&Policy],
            resource: Option<&Policy>,
            resource_account: &str,
            mode: Mode,
        ) -> Decision {
            let req = Request {
                principal: &self.principal,
                action: self.action,
                resource: self.resource,
                context: &self.context,
            };
            authorize(&req, identity, resource, resource_account, mode)
        }

        fn key(&self, identity: &[&Policy], key_policy: &Policy) -> Decision {
            self.decide(identity, Some(key_policy), ACCT, Mode::KeyPolicy)
        }

        fn bucket(&self, identity: &[&Policy], bucket_policy: Option<&Policy>) -> Decision {
            self.decide(identity, bucket_policy, ACCT, Mode::Bucket)
        }
    }

    fn alice() -> Principal {
        Principal::user(ACCT, "alice")
    }

    use Decision::{Allow, ExplicitDeny, ImplicitDeny};

    #[test]
    fn default_key_policy_delegates_to_iam() {
        let key_policy = resource_policy(DEFAULT_KEY_POLICY);
        let decrypt = allow("kms:Decrypt", "*");
        let c = case(alice(), "kms:Decrypt", KEY);
        assert_eq!(c.key(&[&decrypt], &key_policy), Allow);
        assert_eq!(c.key(&[], &key_policy), ImplicitDeny);
        // The identity policy allows only what it names.
        let c = case(alice(), "kms:ScheduleKeyDeletion", KEY);
        assert_eq!(c.key(&[&decrypt], &key_policy), ImplicitDeny);
        // The account root user needs no identity policy.
        let c = case(Principal::root(ACCT), "kms:ScheduleKeyDeletion", KEY);
        assert_eq!(c.key(&[], &key_policy), Allow);
        // A user of another account is not covered by this key's account delegation.
        let c = case(Principal::user(OTHER, "mallory"), "kms:Decrypt", KEY);
        assert_eq!(c.key(&[&decrypt], &key_policy), ImplicitDeny);
        assert_eq!(
            case(Principal::anonymous(), "kms:Decrypt", KEY).key(&[], &key_policy),
            ImplicitDeny
        );
    }

    #[test]
    fn key_policy_naming_the_user_allows_on_its_own() {
        let key_policy = grant(
            "Allow",
            r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
            "kms:Decrypt",
            "*",
        );
        assert_eq!(
            case(alice(), "kms:Decrypt", KEY).key(&[], &key_policy),
            Allow
        );
        assert_eq!(
            case(alice(), "kms:Encrypt", KEY).key(&[], &key_policy),
            ImplicitDeny
        );
        assert_eq!(
            case(Principal::user(ACCT, "bob"), "kms:Decrypt", KEY)
                .key(&[&allow("kms:*", "*")], &key_policy),
            ImplicitDeny
        );
        // Root is bound by the key policy: it names neither the account nor root here.
        assert_eq!(
            case(Principal::root(ACCT), "kms:Decrypt", KEY).key(&[], &key_policy),
            ImplicitDeny
        );
    }

    #[test]
    fn identity_policies_alone_never_open_a_key() {
        let admin = allow("*", "*");
        let c = case(alice(), "kms:Decrypt", KEY);
        assert_eq!(
            c.decide(&[&admin], None, ACCT, Mode::KeyPolicy),
            ImplicitDeny
        );
        let unrelated = grant(
            "Allow",
            r#"{"AWS":"arn:aws:iam::111122223333:user/bob"}"#,
            "kms:*",
            "*",
        );
        assert_eq!(c.key(&[&admin], &unrelated), ImplicitDeny);
        let root = case(Principal::root(ACCT), "kms:Decrypt", KEY);
        assert_eq!(root.decide(&[], None, ACCT, Mode::KeyPolicy), ImplicitDeny);
    }

    #[test]
    fn key_policy_cross_account_needs_both_sides() {
        let mallory = Principal::user(OTHER, "mallory");
        let theirs = allow("kms:Decrypt", KEY);
        let to_account = grant("Allow", r#"{"AWS":"444455556666"}"#, "kms:Decrypt", "*");
        let to_user = grant(
            "Allow",
            r#"{"AWS":"arn:aws:iam::444455556666:user/mallory"}"#,
            "kms:Decrypt",
            "*",
        );
        let c = case(mallory, "kms:Decrypt", KEY);
        assert_eq!(c.key(&[&theirs], &to_account), Allow);
        assert_eq!(c.key(&[], &to_account), ImplicitDeny);
        assert_eq!(c.key(&[&theirs], &to_user), Allow);
        assert_eq!(
            c.key(&[], &to_user),
            ImplicitDeny,
            "the caller's own account must agree"
        );
        // The other account's root user has its account's permissions.
        let c = case(Principal::root(OTHER), "kms:Decrypt", KEY);
        assert_eq!(c.key(&[], &to_account), Allow);
        assert_eq!(
            c.key(&[], &resource_policy(DEFAULT_KEY_POLICY)),
            ImplicitDeny
        );
    }

    #[test]
    fn key_policy_wildcard_principal() {
        let everyone = grant("Allow", r#""*""#, "kms:Encrypt", "*");
        assert_eq!(case(alice(), "kms:Encrypt", KEY).key(&[], &everyone), Allow);
        assert_eq!(
            case(Principal::anonymous(), "kms:Encrypt", KEY).key(&[], &everyone),
            ImplicitDeny
        );
        let c = case(Principal::user(OTHER, "m"), "kms:Encrypt", KEY);
        assert_eq!(c.key(&[], &everyone), ImplicitDeny);
        assert_eq!(c.key(&[&allow("kms:Encrypt", "*")], &everyone), Allow);
    }

    #[test]
    fn explicit_deny_wins_everywhere() {
        let key_policy = resource_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":[
                {{"Sid":"all","Effect":"Allow","Principal":{{"AWS":"{ACCT}"}},"Action":"kms:*","Resource":"*"}},
                {{"Sid":"alice","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/alice"}},"Action":"kms:*","Resource":"*"}},
                {{"Sid":"nodelete","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}}
            ]}}"#
        ));
        let admin = allow("*", "*");
        for who in [alice(), Principal::root(ACCT)] {
            let c = case(who, "kms:ScheduleKeyDeletion", KEY);
            assert_eq!(c.key(&[&admin], &key_policy), ExplicitDeny);
            let c = case(c.principal, "kms:Decrypt", KEY);
            assert_eq!(c.key(&[&admin], &key_policy), Allow);
        }
        // A deny in an identity policy beats a key policy naming the user.
        let c = case(alice(), "kms:Decrypt", KEY);
        assert_eq!(
            c.key(&[&admin, &deny("kms:Decrypt", "*")], &key_policy),
            ExplicitDeny
        );
        // And in bucket mode, either side's deny beats the other's allow.
        let obj = "arn:aws:s3:::b/k";
        let c = case(alice(), "s3:GetObject", obj);
        let open = grant("Allow", r#""*""#, "s3:*", "arn:aws:s3:::b/*");
        let closed = grant(
            "Deny",
            r#"{"AWS":"111122223333"}"#,
            "s3:GetObject",
            "arn:aws:s3:::b/*",
        );
        assert_eq!(
            c.bucket(&[&admin, &deny("s3:Get*", "*")], Some(&open)),
            ExplicitDeny
        );
        assert_eq!(c.bucket(&[&admin], Some(&closed)), ExplicitDeny);
        let root = case(Principal::root(ACCT), "s3:GetObject", obj);
        assert_eq!(
            root.bucket(&[], Some(&closed)),
            ExplicitDeny,
            "a bucket policy deny binds root"
        );
        assert_eq!(root.bucket(&[], None), Allow);
    }

    #[test]
    fn bucket_same_account() {
        let obj = "arn:aws:s3:::b/k";
        let c = case(alice(), "s3:GetObject", obj);
        let read = allow("s3:GetObject", "arn:aws:s3:::b/*");
        // Identity alone, bucket policy alone.
        assert_eq!(c.bucket(&[&read], None), Allow);
        assert_eq!(c.bucket(&[], None), ImplicitDeny);
        let to_alice = grant(
            "Allow",
            r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
            "s3:GetObject",
            "arn:aws:s3:::b/*",
        );
        assert_eq!(c.bucket(&[], Some(&to_alice)), Allow);
        // Naming the account root is a delegation: the identity policy must allow.
        let to_account = grant(
            "Allow",
            r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
            "s3:GetObject",
            "arn:aws:s3:::b/*",
        );
        assert_eq!(c.bucket(&[], Some(&to_account)), ImplicitDeny);
        assert_eq!(c.bucket(&[&read], Some(&to_account)), Allow);
        // The root user is allowed in its own account.
        assert_eq!(
            case(Principal::root(ACCT), "s3:DeleteBucket", "arn:aws:s3:::b").bucket(&[], None),
            Allow
        );
    }

    #[test]
    fn bucket_cross_account_needs_both() {
        let obj = "arn:aws:s3:::b/k";
        let c = case(Principal::user(OTHER, "m"), "s3:GetObject", obj);
        let read = allow("s3:GetObject", "*");
        let to_account = grant(
            "Allow",
            r#"{"AWS":"444455556666"}"#,
            "s3:GetObject",
            "arn:aws:s3:::b/*",
        );
        let to_user = grant(
            "Allow",
            r#"{"AWS":"arn:aws:iam::444455556666:user/m"}"#,
            "s3:GetObject",
            "arn:aws:s3:::b/*",
        );
        assert_eq!(c.bucket(&[&read], None), ImplicitDeny);
        assert_eq!(c.bucket(&[], Some(&to_account)), ImplicitDeny);
        assert_eq!(c.bucket(&[], Some(&to_user)), ImplicitDeny);
        assert_eq!(c.bucket(&[&read], Some(&to_account)), Allow);
        assert_eq!(c.bucket(&[&read], Some(&to_user)), Allow);
        let root = case(Principal::root(OTHER), "s3:GetObject", obj);
        assert_eq!(root.bucket(&[], Some(&to_account)), Allow);
        assert_eq!(
            root.bucket(&[], None),
            ImplicitDeny,
            "root of another account has no say here"
        );
    }

    #[test]
    fn bucket_anonymous() {
        let obj = "arn:aws:s3:::b/k";
        let c = case(Principal::anonymous(), "s3:GetObject", obj);
        for principal in [r#""*""#, r#"{"AWS":"*"}"#, r#"{"AWS":["*"]}"#] {
            let public = grant("Allow", principal, "s3:GetObject", "arn:aws:s3:::b/*");
            assert_eq!(c.bucket(&[], Some(&public)), Allow, "{principal}");
        }
        assert_eq!(c.bucket(&[], None), ImplicitDeny);
        let to_account = grant("Allow", r#"{"AWS":"111122223333"}"#, "s3:GetObject", "*");
        assert_eq!(c.bucket(&[], Some(&to_account)), ImplicitDeny);
        // An Allow with NotPrincipal does not open the bucket to anonymous callers...
        let not_bob = resource_policy(
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"s3:GetObject","Resource":"*"}}"#,
        );
        assert_eq!(c.bucket(&[], Some(&not_bob)), ImplicitDeny);
        // ...though it allows the signed callers it does not exclude.
        assert_eq!(
            case(alice(), "s3:GetObject", obj).bucket(&[], Some(&not_bob)),
            Allow
        );
        assert_eq!(
            case(Principal::user(ACCT, "bob"), "s3:GetObject", obj).bucket(&[], Some(&not_bob)),
            ImplicitDeny
        );
        // An identity policy cannot make an anonymous request allowed.
        assert_eq!(c.bucket(&[&allow("*", "*")], None), ImplicitDeny);
        // A public-read bucket still refuses writes it does not name.
        let public = grant("Allow", r#""*""#, "s3:GetObject", "arn:aws:s3:::b/*");
        assert_eq!(
            case(Principal::anonymous(), "s3:PutObject", obj).bucket(&[], Some(&public)),
            ImplicitDeny
        );
    }

    #[test]
    fn not_principal_deny_spares_only_those_listed() {
        let obj = "arn:aws:s3:::b/k";
        let policy = resource_policy(
            r#"{"Statement":[
            {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/admin","111122223333"]},"Action":"s3:*","Resource":"*"},
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}
        ]}"#,
        );
        let read = allow("s3:*", "*");
        assert_eq!(
            case(Principal::user(ACCT, "admin"), "s3:GetObject", obj)
                .bucket(&[&read], Some(&policy)),
            Allow
        );
        assert_eq!(
            case(alice(), "s3:GetObject", obj).bucket(&[&read], Some(&policy)),
            Allow
        );
        assert_eq!(
            case(Principal::user(OTHER, "m"), "s3:GetObject", obj).bucket(&[&read], Some(&policy)),
            ExplicitDeny
        );
        assert_eq!(
            case(Principal::anonymous(), "s3:GetObject", obj).bucket(&[], Some(&policy)),
            ExplicitDeny
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let everything_but_delete = identity_policy(
            r#"{"Statement":{"Effect":"Allow","NotAction":["s3:Delete*"],"Resource":"*"}}"#,
        );
        let c = |action| case(alice(), action, "arn:aws:s3:::b/k");
        assert_eq!(
            c("s3:GetObject").bucket(&[&everything_but_delete], None),
            Allow
        );
        assert_eq!(
            c("s3:DeleteObject").bucket(&[&everything_but_delete], None),
            ImplicitDeny
        );
        let outside_b = identity_policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}"#,
        );
        assert_eq!(
            case(alice(), "s3:GetObject", "arn:aws:s3:::b/k").bucket(&[&outside_b], None),
            Allow
        );
        assert_eq!(
            case(alice(), "s3:GetObject", "arn:aws:s3:::c/k").bucket(&[&outside_b], None),
            ExplicitDeny
        );
    }

    #[test]
    fn action_and_resource_matching() {
        let gen_any = allow("KMS:Generate*", "arn:aws:kms:*:111122223333:key/*");
        let c = |action, resource| case(alice(), action, resource);
        assert_eq!(
            c("kms:GenerateDataKey", KEY).bucket(&[&gen_any], None),
            Allow
        );
        assert_eq!(
            c("kms:generatedatakeywithoutplaintext", KEY).bucket(&[&gen_any], None),
            Allow
        );
        assert_eq!(
            c("kms:Decrypt", KEY).bucket(&[&gen_any], None),
            ImplicitDeny
        );
        assert_eq!(
            c(
                "kms:GenerateDataKey",
                "arn:aws:kms:us-east-1:444455556666:key/x"
            )
            .bucket(&[&gen_any], None),
            ImplicitDeny
        );
        // Resources are case-sensitive; `?` is one character; `*` crosses `/`.
        let r = allow("s3:GetObject", "arn:aws:s3:::b/logs/2026-0?/*");
        assert_eq!(
            c("s3:GetObject", "arn:aws:s3:::b/logs/2026-01/a/b.gz").bucket(&[&r], None),
            Allow
        );
        assert_eq!(
            c("s3:GetObject", "arn:aws:s3:::b/logs/2026-10/a").bucket(&[&r], None),
            ImplicitDeny
        );
        assert_eq!(
            c("s3:GetObject", "arn:aws:s3:::b/LOGS/2026-01/a").bucket(&[&r], None),
            ImplicitDeny
        );
        let star = allow("*", "*");
        assert_eq!(
            c("anything:AtAll", "arn:aws:x:::y").bucket(&[&star], None),
            Allow
        );
        let service_star = allow("*:Get*", "*");
        assert_eq!(
            c("s3:GetObject", "arn:aws:s3:::b/k").bucket(&[&service_star], None),
            Allow
        );
    }

    #[test]
    fn policy_variables_in_resources() {
        let home = identity_policy(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"},
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::literal/${*}"}
        ]}"#,
        );
        let c = |who: Principal, resource| case(who, "s3:GetObject", resource);
        assert_eq!(
            c(alice(), "arn:aws:s3:::home/alice/f").bucket(&[&home], None),
            Allow
        );
        assert_eq!(
            c(alice(), "arn:aws:s3:::home/bob/f").bucket(&[&home], None),
            ImplicitDeny
        );
        // The escape is a literal star, not a wildcard.
        assert_eq!(
            c(alice(), "arn:aws:s3:::literal/*").bucket(&[&home], None),
            Allow
        );
        assert_eq!(
            c(alice(), "arn:aws:s3:::literal/x").bucket(&[&home], None),
            ImplicitDeny
        );
        // A caller without a user name cannot resolve the variable: nothing matches.
        let public_homes = grant(
            "Allow",
            r#""*""#,
            "s3:GetObject",
            "arn:aws:s3:::home/${aws:username}/*",
        );
        for resource in [
            "arn:aws:s3:::home//f",
            "arn:aws:s3:::home/${aws:username}/f",
        ] {
            let anon = c(Principal::anonymous(), resource);
            assert_eq!(
                anon.bucket(&[], Some(&public_homes)),
                ImplicitDeny,
                "{resource}"
            );
        }
        assert_eq!(
            c(alice(), "arn:aws:s3:::home/alice/f").bucket(&[], Some(&public_homes)),
            Allow
        );
        // Version 2008 (or none) keeps `${...}` literal.
        let old = identity_policy(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}"#,
        );
        assert_eq!(
            c(alice(), "arn:aws:s3:::home/alice/f").bucket(&[&old], None),
            ImplicitDeny
        );
        assert_eq!(
            c(alice(), "arn:aws:s3:::home/${aws:username}/f").bucket(&[&old], None),
            Allow
        );
        // An unresolvable NotResource entry makes the statement not apply.
        let deny_outside = identity_policy(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::${custom:bucket}/*"}
        ]}"#,
        );
        let mut in_bucket = c(alice(), "arn:aws:s3:::mine/k");
        in_bucket.context.set("custom:bucket", "mine");
        assert_eq!(in_bucket.bucket(&[&deny_outside], None), Allow);
        let mut elsewhere = c(alice(), "arn:aws:s3:::theirs/k");
        elsewhere.context.set("custom:bucket", "mine");
        assert_eq!(elsewhere.bucket(&[&deny_outside], None), ExplicitDeny);
        assert_eq!(
            c(alice(), "arn:aws:s3:::theirs/k").bucket(&[&deny_outside], None),
            Allow
        );
    }

    #[test]
    fn conditions_gate_statements() {
        let key_policy = resource_policy(
            r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"ViaS3","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*",
             "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"s3.us-east-1.amazonaws.com"}}},
            {"Sid":"TLS","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
             "Condition":{"Bool":{"aws:SecureTransport":"false"}}},
            {"Sid":"Dept","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*",
             "Condition":{"StringEquals":{"kms:EncryptionContext:Dept":"eng"}}}
        ]}"#,
        );
        let mut c = case(alice(), "kms:Decrypt", KEY);
        assert_eq!(c.key(&[], &key_policy), ImplicitDeny);
        c.context.set("kms:CallerAccount", ACCT);
        c.context
            .set("kms:ViaService", "s3.us-east-1.amazonaws.com");
        assert_eq!(c.key(&[], &key_policy), Allow);
        c.context.set("aws:SecureTransport", "false");
        assert_eq!(c.key(&[], &key_policy), ExplicitDeny);
        c.context.set("aws:SecureTransport", "true");
        assert_eq!(c.key(&[], &key_policy), Allow);

        let mut enc = case(alice(), "kms:Encrypt", KEY);
        enc.context.set("kms:encryptioncontext:dept", "eng");
        assert_eq!(enc.key(&[], &key_policy), Allow);
        enc.context.set("kms:EncryptionContext:Dept", "ops");
        assert_eq!(enc.key(&[], &key_policy), ImplicitDeny);
    }

    #[test]
    fn service_principals() {
        let obj = "arn:aws:s3:::b/k";
        let s3 = Principal::service("s3.amazonaws.com");
        let to_s3 = grant(
            "Allow",
            r#"{"Service":["s3.amazonaws.com"]}"#,
            "s3:PutObject",
            "arn:aws:s3:::b/*",
        );
        assert_eq!(
            case(s3.clone(), "s3:PutObject", obj).bucket(&[], Some(&to_s3)),
            Allow
        );
        assert_eq!(
            case(s3.clone(), "s3:GetObject", obj).bucket(&[&allow("*", "*")], Some(&to_s3)),
            ImplicitDeny
        );
        let to_account = grant("Allow", r#"{"AWS":"111122223333"}"#, "s3:*", "*");
        assert_eq!(
            case(s3.clone(), "s3:PutObject", obj).bucket(&[], Some(&to_account)),
            ImplicitDeny
        );
        let other = Principal::service("logs.amazonaws.com");
        assert_eq!(
            case(other, "s3:PutObject", obj).bucket(&[], Some(&to_s3)),
            ImplicitDeny
        );
        // A user is not the service.
        assert_eq!(
            case(alice(), "s3:PutObject", obj).bucket(&[], Some(&to_s3)),
            ImplicitDeny
        );
    }

    #[test]
    fn principal_derived_condition_keys() {
        let only_mine = resource_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}}}"#,
        );
        let obj = "arn:aws:s3:::b/k";
        assert_eq!(
            case(alice(), "s3:GetObject", obj).bucket(&[], Some(&only_mine)),
            Allow
        );
        assert_eq!(
            case(Principal::anonymous(), "s3:GetObject", obj).bucket(&[], Some(&only_mine)),
            ImplicitDeny
        );
        let mut c = case(Principal::user(OTHER, "m"), "s3:GetObject", obj);
        assert_eq!(
            c.bucket(&[&allow("*", "*")], Some(&only_mine)),
            ImplicitDeny
        );
        // A context value for the key takes precedence over the derived one.
        c.context.set("aws:PrincipalAccount", ACCT);
        assert_eq!(c.bucket(&[&allow("*", "*")], Some(&only_mine)), Allow);
    }

    /// The S3 documentation's bucket policy examples, evaluated for the requests they are
    /// written for.
    #[test]
    fn s3_documentation_bucket_policy_examples() {
        let put = |pairs: &[(&str, &str)]| {
            let mut c = case(alice(), "s3:PutObject", "arn:aws:s3:::b/k");
            for (k, v) in pairs {
                c.context.set(k, *v);
            }
            c
        };
        let write = allow("s3:PutObject", "*");
        // "Require SSE-S3": deny a wrong header value, and a missing header.
        let deny_unencrypted = resource_policy(
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"DenyIncorrectEncryptionHeader","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
               "Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"AES256"}}},
              {"Sid":"DenyUnEncryptedObjectUploads","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
               "Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}]}"#,
        );
        assert_eq!(
            put(&[]).bucket(&[&write], Some(&deny_unencrypted)),
            ExplicitDeny
        );
        let kms = [("s3:x-amz-server-side-encryption", "aws:kms")];
        assert_eq!(
            put(&kms).bucket(&[&write], Some(&deny_unencrypted)),
            ExplicitDeny
        );
        let aes = [("s3:x-amz-server-side-encryption", "AES256")];
        assert_eq!(put(&aes).bucket(&[&write], Some(&deny_unencrypted)), Allow);
        // Deny never grants: without the identity policy nothing allows.
        assert_eq!(put(&aes).bucket(&[], Some(&deny_unencrypted)), ImplicitDeny);

        // "Require SSE-KMS with a specific key".
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let require_key = resource_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
               "Condition":{{"StringNotEqualsIfExists":{{"s3:x-amz-server-side-encryption-aws-kms-key-id":"{key}"}}}}}}}}"#
        ));
        let other = "arn:aws:kms:us-east-1:111122223333:key/other";
        let with_key = |k: &str| {
            put(&[
                ("s3:x-amz-server-side-encryption", "aws:kms"),
                ("s3:x-amz-server-side-encryption-aws-kms-key-id", k),
            ])
        };
        assert_eq!(with_key(key).bucket(&[&write], Some(&require_key)), Allow);
        assert_eq!(
            with_key(other).bucket(&[&write], Some(&require_key)),
            ExplicitDeny
        );
        // IfExists holds for an absent key, so the Deny covers uploads without the header.
        assert_eq!(put(&[]).bucket(&[&write], Some(&require_key)), ExplicitDeny);

        // "Deny requests that do not use TLS" binds the root user too.
        let tls_only = resource_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*",
               "Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}}"#,
        );
        let mut root = case(Principal::root(ACCT), "s3:GetObject", "arn:aws:s3:::b/k");
        root.context.set("aws:SecureTransport", "false");
        assert_eq!(root.bucket(&[], Some(&tls_only)), ExplicitDeny);
        root.context.set("aws:SecureTransport", "true");
        assert_eq!(root.bucket(&[], Some(&tls_only)), Allow);

        // "Restrict access to specific IP addresses": public read from one range, with an
        // exception carved out of it.
        let by_ip = resource_policy(
            r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
               "Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"},"NotIpAddress":{"aws:SourceIp":"192.0.2.188/32"}}}]}"#,
        );
        let get_from = |ip: &str| {
            let mut c = case(Principal::anonymous(), "s3:GetObject", "arn:aws:s3:::b/k");
            c.context.set("aws:SourceIp", ip);
            c
        };
        assert_eq!(get_from("192.0.2.1").bucket(&[], Some(&by_ip)), Allow);
        assert_eq!(
            get_from("192.0.2.188").bucket(&[], Some(&by_ip)),
            ImplicitDeny
        );
        assert_eq!(
            get_from("203.0.113.1").bucket(&[], Some(&by_ip)),
            ImplicitDeny
        );
        // The grant is for objects only: listing stays closed to anonymous callers.
        let list = case(Principal::anonymous(), "s3:ListBucket", "arn:aws:s3:::b");
        assert_eq!(list.bucket(&[], Some(&by_ip)), ImplicitDeny);
    }

    /// IAM's evaluation examples across accounts: a bucket policy granting another
    /// account's user needs that user's identity policy too, and a deny in either side wins.
    #[test]
    fn cross_account_bucket_grant_with_denies_on_either_side() {
        let bob = Principal::user(OTHER, "bob");
        let c = case(bob, "s3:GetObject", "arn:aws:s3:::b/k");
        let grant_bob = grant(
            "Allow",
            r#"{"AWS":"arn:aws:iam::444455556666:user/bob"}"#,
            "s3:GetObject",
            "arn:aws:s3:::b/*",
        );
        let read = allow("s3:GetObject", "*");
        assert_eq!(c.bucket(&[&read], Some(&grant_bob)), Allow);
        assert_eq!(c.bucket(&[], Some(&grant_bob)), ImplicitDeny);
        assert_eq!(c.bucket(&[&read], None), ImplicitDeny);
        let no_reads = deny("s3:GetObject", "arn:aws:s3:::b/*");
        assert_eq!(
            c.bucket(&[&read, &no_reads], Some(&grant_bob)),
            ExplicitDeny
        );
        let deny_bob = grant(
            "Deny",
            r#"{"AWS":"444455556666"}"#,
            "s3:*",
            "arn:aws:s3:::b/*",
        );
        assert_eq!(c.bucket(&[&read], Some(&deny_bob)), ExplicitDeny);
        // NotPrincipal with Deny: everyone but bob is refused, bob still needs an allow.
        let only_bob = resource_policy(
            r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::444455556666:user/bob"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        assert_eq!(c.bucket(&[&read], Some(&only_bob)), Allow);
        let alice_get = case(alice(), "s3:GetObject", "arn:aws:s3:::b/k");
        assert_eq!(alice_get.bucket(&[&read], Some(&only_bob)), ExplicitDeny);
        assert_eq!(
            case(Principal::root(ACCT), "s3:GetObject", "arn:aws:s3:::b/k")
                .bucket(&[], Some(&only_bob)),
            ExplicitDeny
        );
    }
}
