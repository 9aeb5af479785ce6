use super::*;

const ACCT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";

fn resource(json: &str) -> Policy {
    Policy::parse(json, PolicyKind::Resource).unwrap()
}

fn identity(json: &str) -> Policy {
    Policy::parse(json, PolicyKind::Identity).unwrap()
}

fn decide(
    p: &Principal,
    action: &str,
    ctx: &Context,
    ids: &[&Policy],
    res: Option<&Policy>,
    mode: Mode,
) -> Decision {
    let req = Request {
        principal: p,
        action,
        resource: KEY,
        context: ctx,
    };
    authorize(&req, ids, res, ACCT, mode)
}

const DEFAULT_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
const ALLOW_DECRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;

#[test]
fn the_default_key_policy_delegates_to_iam() {
    let kp = resource(DEFAULT_KEY_POLICY);
    let ctx = Context::new();
    let alice = Principal::user(ACCT, "alice");
    let allow = identity(ALLOW_DECRYPT);
    assert_eq!(
        decide(
            &alice,
            "kms:Decrypt",
            &ctx,
            &[&allow],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &alice,
            "kms:Encrypt",
            &ctx,
            &[&allow],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&alice, "kms:Decrypt", &ctx, &[], Some(&kp), Mode::KeyPolicy),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(
            &Principal::root(ACCT),
            "kms:ScheduleKeyDeletion",
            &ctx,
            &[],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::Allow
    );
    // Another account's user is not in this account, whatever its own policies say.
    let mallory = Principal::user("999999999999", "mallory");
    assert_eq!(
        decide(
            &mallory,
            "kms:Decrypt",
            &ctx,
            &[&allow],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_key_policy_that_omits_the_account_locks_out_iam_and_root() {
    let kp = resource(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]}"#,
    );
    let ctx = Context::new();
    let admin = identity(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
    assert_eq!(
        decide(
            &Principal::user(ACCT, "bob"),
            "kms:Encrypt",
            &ctx,
            &[],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &Principal::user(ACCT, "alice"),
            "kms:Encrypt",
            &ctx,
            &[&admin],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(
            &Principal::root(ACCT),
            "kms:Encrypt",
            &ctx,
            &[],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn explicit_deny_wins_everywhere() {
    let kp = resource(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    );
    let mut ctx = Context::new();
    ctx.set("aws:SecureTransport", "false");
    let root = Principal::root(ACCT);
    assert_eq!(
        decide(&root, "kms:Decrypt", &ctx, &[], Some(&kp), Mode::KeyPolicy),
        Decision::ExplicitDeny
    );
    ctx.set("aws:SecureTransport", "true");
    assert_eq!(
        decide(&root, "kms:Decrypt", &ctx, &[], Some(&kp), Mode::KeyPolicy),
        Decision::Allow
    );
    let deny_id =
        identity(r#"{"Statement":[{"Effect":"Deny","NotAction":"kms:Describe*","Resource":"*"}]}"#);
    let allow_all =
        identity(r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#);
    let alice = Principal::user(ACCT, "alice");
    assert_eq!(
        decide(
            &alice,
            "kms:Encrypt",
            &ctx,
            &[&allow_all, &deny_id],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(
            &alice,
            "kms:DescribeKey",
            &ctx,
            &[&allow_all, &deny_id],
            Some(&kp),
            Mode::KeyPolicy
        ),
        Decision::Allow
    );
}

#[test]
fn bucket_mode_same_account_cross_account_and_anonymous() {
    let bp = resource(
        r#"{"Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
        {"Effect":"Allow","Principal":{"AWS":"999999999999"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
        {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"}]}"#,
    );
    let get = |p: &Principal, res: &str, ids: &[&Policy]| {
        let ctx = Context::new();
        let req = Request {
            principal: p,
            action: "s3:GetObject",
            resource: res,
            context: &ctx,
        };
        authorize(&req, ids, Some(&bp), ACCT, Mode::Bucket)
    };
    assert_eq!(
        get(&Principal::user(ACCT, "bob"), "arn:aws:s3:::b/x", &[]),
        Decision::Allow
    );
    let s3_read =
        identity(r#"{"Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#);
    assert_eq!(
        get(
            &Principal::user(ACCT, "carol"),
            "arn:aws:s3:::b/x",
            &[&s3_read]
        ),
        Decision::Allow
    );
    assert_eq!(
        get(&Principal::user(ACCT, "carol"), "arn:aws:s3:::b/x", &[]),
        Decision::ImplicitDeny
    );
    let other = Principal::user("999999999999", "eve");
    assert_eq!(
        get(&other, "arn:aws:s3:::b/x", &[&s3_read]),
        Decision::Allow
    );
    assert_eq!(get(&other, "arn:aws:s3:::b/x", &[]), Decision::ImplicitDeny);
    assert_eq!(
        get(&Principal::anonymous(), "arn:aws:s3:::b/public/x", &[]),
        Decision::Allow
    );
    assert_eq!(
        get(&Principal::anonymous(), "arn:aws:s3:::b/x", &[]),
        Decision::ImplicitDeny
    );
}

fn holds(condition: &str, ctx: &Context) -> bool {
    let p = identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{condition}}}]}}"#
    ));
    let who = Principal::user(ACCT, "alice");
    let req = Request {
        principal: &who,
        action: "kms:Decrypt",
        resource: KEY,
        context: ctx,
    };
    authorize(&req, &[&p], None, ACCT, Mode::Bucket) == Decision::Allow
}

#[test]
fn string_operators_missing_keys_and_if_exists() {
    let mut ctx = Context::new();
    ctx.set("kms:EncryptionContext:Dept", "sales");
    assert!(holds(
        r#"{"StringEquals":{"kms:encryptioncontext:dept":"sales"}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"StringEquals":{"kms:EncryptionContext:Dept":"SALES"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"StringEqualsIgnoreCase":{"kms:EncryptionContext:Dept":"SALES"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"StringLike":{"kms:EncryptionContext:Dept":["x","s*s"]}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"StringNotEquals":{"kms:EncryptionContext:Dept":"sales"}}"#,
        &ctx
    ));
    // A missing key: positive operators fail, negated ones and IfExists hold.
    assert!(!holds(
        r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"StringNotEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"StringEqualsIfExists":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
        &ctx
    ));
    assert!(holds(r#"{"Null":{"kms:ViaService":"true"}}"#, &ctx));
    assert!(!holds(
        r#"{"Null":{"kms:EncryptionContext:Dept":"true"}}"#,
        &ctx
    ));
}

#[test]
fn set_qualifiers() {
    let mut ctx = Context::new();
    ctx.set_multi("kms:EncryptionContextKeys", vec!["a".into(), "b".into()]);
    assert!(holds(
        r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["a","b","c"]}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["a"]}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["b"]}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Decrypt"]}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt"]}}"#,
        &ctx
    ));
}

#[test]
fn numeric_date_bool_ip_and_arn_operators() {
    let mut ctx = Context::new();
    ctx.set("kms:RecipientCount", "5");
    ctx.set("aws:CurrentTime", "2026-11-23T10:00:00Z");
    ctx.set("aws:SecureTransport", "true");
    ctx.set("aws:SourceIp", "10.1.2.3");
    ctx.set("aws:PrincipalArn", "arn:aws:iam::111122223333:user/alice");
    assert!(holds(
        r#"{"NumericLessThan":{"kms:RecipientCount":"6"}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"NumericGreaterThan":{"kms:RecipientCount":"6"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}"#,
        &ctx
    ));
    assert!(holds(r#"{"Bool":{"aws:SecureTransport":"TRUE"}}"#, &ctx));
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","10.0.0.0/8"]}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/alice"}}"#,
        &ctx
    ));
    // Both conditions of one block must hold.
    assert!(!holds(
        r#"{"Bool":{"aws:SecureTransport":"true"},"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#,
        &ctx
    ));
}

#[test]
fn policy_variables_only_in_2012_policies() {
    let mut ctx = Context::new();
    ctx.set("aws:username", "alice");
    let who = Principal::user(ACCT, "alice");
    let check = |version: &str, res: &str| {
        let p = identity(&format!(
            r#"{{"Version":"{version}","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${{aws:username}}/*"}}]}}"#
        ));
        let req = Request {
            principal: &who,
            action: "s3:GetObject",
            resource: res,
            context: &ctx,
        };
        authorize(&req, &[&p], None, ACCT, Mode::Bucket)
    };
    assert_eq!(
        check("2012-10-17", "arn:aws:s3:::home/alice/x"),
        Decision::Allow
    );
    assert_eq!(
        check("2012-10-17", "arn:aws:s3:::home/bob/x"),
        Decision::ImplicitDeny
    );
    assert_eq!(
        check("2008-10-17", "arn:aws:s3:::home/alice/x"),
        Decision::ImplicitDeny
    );
}

#[test]
fn wildcards_and_not_elements() {
    let p = resource(
        r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/eve"},"NotAction":"kms:Schedule*","NotResource":"arn:aws:kms:*:*:key/secret-?"}]}"#,
    );
    let ctx = Context::new();
    let bob = Principal::user(ACCT, "bob");
    let eve = Principal::user(ACCT, "eve");
    let d = |who: &Principal, action: &str, res: &str| {
        let req = Request {
            principal: who,
            action,
            resource: res,
            context: &ctx,
        };
        authorize(&req, &[], Some(&p), ACCT, Mode::Bucket)
    };
    assert_eq!(d(&bob, "KMS:encrypt", KEY), Decision::Allow);
    assert_eq!(
        d(&bob, "kms:ScheduleKeyDeletion", KEY),
        Decision::ImplicitDeny
    );
    assert_eq!(
        d(&bob, "kms:Encrypt", "arn:aws:kms:us-east-1:1:key/secret-1"),
        Decision::ImplicitDeny
    );
    assert_eq!(d(&eve, "kms:Encrypt", KEY), Decision::ImplicitDeny);
}

#[test]
fn malformed_documents_fail_closed_with_a_reason() {
    for (doc, kind, why) in [
        ("{", PolicyKind::Identity, "not valid JSON"),
        (
            r#"{"Statement":[]}"#,
            PolicyKind::Identity,
            "needs a Statement",
        ),
        (
            r#"{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
            "Effect",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#,
            PolicyKind::Identity,
            "Resource",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            PolicyKind::Resource,
            "Principal",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
            "identity policy",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSorta":{"a":"b"}}}}"#,
            PolicyKind::Identity,
            "unknown condition operator",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Extra":1}}"#,
            PolicyKind::Identity,
            "Unknown field",
        ),
        (
            r#"{"Statement":[{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            PolicyKind::Identity,
            "unique",
        ),
    ] {
        let e = Policy::parse(doc, kind).unwrap_err();
        assert!(e.0.contains(why), "{doc}: {e}");
    }
    assert!(
        Policy::parse(
            &format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"{}"}}}}"#,
                "x".repeat(40_000)
            ),
            PolicyKind::Identity
        )
        .is_err()
    );
}
