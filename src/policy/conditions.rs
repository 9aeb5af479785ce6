//! The `Condition` element: operators, their typed values, and how a condition meets the
//! request context.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::PolicyError;
use super::document::Json;
use super::fold_key;
use super::matching::{Env, Template, Tok, arn_like, glob_str};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The comparison an operator makes between one request value and one policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// Operator base names (without qualifier or `IfExists`), what they test, and whether they
/// are the negated form.
const OPERATORS: &[(&str, Test, bool)] = &[
    ("StringEquals", Test::StringEquals, false),
    ("StringNotEquals", Test::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Test::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Test::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
    ("NumericEquals", Test::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Test::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Test::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Test::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Test::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Test::Numeric(Cmp::Ge), false),
    ("DateEquals", Test::Date(Cmp::Eq), false),
    ("DateNotEquals", Test::Date(Cmp::Eq), true),
    ("DateLessThan", Test::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Test::Date(Cmp::Le), false),
    ("DateGreaterThan", Test::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Test::Date(Cmp::Ge), false),
    ("Bool", Test::Bool, false),
    ("BinaryEquals", Test::Binary, false),
    ("IpAddress", Test::Ip, false),
    ("NotIpAddress", Test::Ip, true),
    ("ArnEquals", Test::Arn, false),
    ("ArnLike", Test::Arn, false),
    ("ArnNotEquals", Test::Arn, true),
    ("ArnNotLike", Test::Arn, true),
    ("Null", Test::Null, false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    ForAllValues,
    ForAnyValue,
}

/// One key tested by one operator, e.g. `StringEquals: {"kms:CallerAccount": [..]}`.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    test: Test,
    negated: bool,
    if_exists: bool,
    qualifier: Option<Qualifier>,
    /// Folded (lower-case) key name.
    key: String,
    values: Vec<Template>,
}

struct Operator {
    test: Test,
    negated: bool,
    if_exists: bool,
    qualifier: Option<Qualifier>,
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

fn parse_operator(name: &str) -> Result<Operator, PolicyError> {
    let unknown = || PolicyError(format!("unknown condition operator {name}"));
    let (qualifier, rest) = if let Some(rest) = strip_prefix_ignore_case(name, "ForAllValues:") {
        (Some(Qualifier::ForAllValues), rest)
    } else if let Some(rest) = strip_prefix_ignore_case(name, "ForAnyValue:") {
        (Some(Qualifier::ForAnyValue), rest)
    } else {
        (None, name)
    };
    let (if_exists, base) = match strip_suffix_ignore_case(rest, "IfExists") {
        Some(base) => (true, base),
        None => (false, rest),
    };
    let &(_, test, negated) = OPERATORS
        .iter()
        .find(|(op, _, _)| op.eq_ignore_ascii_case(base))
        .ok_or_else(unknown)?;
    if test == Test::Null && if_exists {
        return Err(unknown());
    }
    if test == Test::Null && qualifier.is_some() {
        return Err(PolicyError(format!(
            "condition operator {name}: Null cannot take a ForAllValues:/ForAnyValue: qualifier"
        )));
    }
    Ok(Operator {
        test,
        negated,
        if_exists,
        qualifier,
    })
}

/// A condition value as JSON allows it: AWS accepts numbers and booleans as well as strings.
fn scalar(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.clone()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses a `Condition` element. `variables` is whether policy variables are substituted
/// (Version 2012-10-17).
pub(crate) fn parse_block(
    block: &Json,
    variables: bool,
    field: &str,
) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(operators) = block else {
        return Err(PolicyError(format!("{field} must be an object")));
    };
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let op = parse_operator(name)?;
        let Json::Object(keys) = keys else {
            return Err(PolicyError(format!(
                "{field}.{name} must be an object of condition keys"
            )));
        };
        if keys.is_empty() {
            return Err(PolicyError(format!(
                "{field}.{name} names no condition keys"
            )));
        }
        for (key, values) in keys {
            let where_ = format!("{field}.{name}.{key}");
            if key.is_empty() {
                return Err(PolicyError(format!(
                    "{field}.{name} has an empty condition key"
                )));
            }
            let raw: Vec<String> = match values {
                Json::Array(items) => items.iter().map(scalar).collect::<Option<_>>(),
                single => scalar(single).map(|s| vec![s]),
            }
            .ok_or_else(|| {
                PolicyError(format!(
                    "{where_} must be a string, number, boolean, or an array of them"
                ))
            })?;
            if raw.is_empty() {
                return Err(PolicyError(format!("{where_} has no values")));
            }
            let values: Vec<Template> = raw.iter().map(|v| Template::parse(v, variables)).collect();
            for (text, template) in raw.iter().zip(&values) {
                // Values that need no request data are checked now, so a typo fails the
                // document instead of silently never matching.
                if let Some(literal) = template.literal()
                    && Value::parse(op.test, &literal).is_none()
                {
                    return Err(PolicyError(format!(
                        "{where_}: {text:?} is not a valid value for {name}"
                    )));
                }
                if op.test == Test::Null && template.has_variables() {
                    return Err(PolicyError(format!(
                        "{where_}: Null takes \"true\" or \"false\", not {text:?}"
                    )));
                }
            }
            conditions.push(Condition {
                test: op.test,
                negated: op.negated,
                if_exists: op.if_exists,
                qualifier: op.qualifier,
                key: fold_key(key),
                values,
            });
        }
    }
    Ok(conditions)
}

/// A policy value ready to compare, after variable substitution.
enum Value {
    Text(String),
    Pattern(Vec<Tok>),
    Number(f64),
    Date(i128),
    Bool(bool),
    Bytes(Vec<u8>),
    Net(Net),
}

impl Value {
    /// A policy value of a non-wildcard operator, from its substituted text. Wildcard
    /// operators compare tokens instead (see `Condition::resolve`); for them any text is
    /// valid.
    fn parse(test: Test, text: &str) -> Option<Value> {
        Some(match test {
            Test::StringEquals | Test::StringEqualsIgnoreCase | Test::StringLike | Test::Arn => {
                Value::Text(text.to_string())
            }
            Test::Numeric(_) => Value::Number(parse_number(text)?),
            Test::Date(_) => Value::Date(parse_date(text)?),
            Test::Bool | Test::Null => Value::Bool(parse_bool(text)?),
            Test::Binary => Value::Bytes(B64.decode(text).ok()?),
            Test::Ip => Value::Net(Net::parse(text)?),
        })
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Nanoseconds since the epoch from ISO 8601 (`2026-01-31T12:00:00Z`, with an offset or
/// fraction, without an offset meaning UTC, or a bare date) or epoch seconds.
fn parse_date(s: &str) -> Option<i128> {
    if let Ok(secs) = s.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let naive = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
    ];
    for format in naive {
        if let Ok(t) = PrimitiveDateTime::parse(s, format) {
            return Some(t.assume_utc().unix_timestamp_nanos());
        }
    }
    let date = Date::parse(s, format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp_nanos())
}

/// An address block: a CIDR or a single address.
#[derive(Debug, Clone, Copy)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(s: &str) -> Option<Net> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Net { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        // A client seen over IPv6 with a mapped IPv4 address is that IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Condition {
    /// The key this condition tests, folded to lower case.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The policy values with variables substituted; `None` if one cannot be resolved or no
    /// longer parses, which makes the condition fail.
    fn resolve(&self, env: &Env) -> Option<Vec<Value>> {
        self.values
            .iter()
            .map(|template| match self.test {
                Test::StringLike | Test::Arn => template.resolve(env).map(Value::Pattern),
                test => Value::parse(test, &template.resolve_text(env)?),
            })
            .collect()
    }

    /// Whether one request value matches one policy value under the (un-negated) test.
    fn matches(&self, request: &str, policy: &Value) -> bool {
        match (self.test, policy) {
            (Test::StringEquals, Value::Text(p)) => request == p,
            (Test::StringEqualsIgnoreCase, Value::Text(p)) => {
                request.to_lowercase() == p.to_lowercase()
            }
            (Test::StringLike, Value::Pattern(p)) => glob_str(p, request),
            (Test::Arn, Value::Pattern(p)) => arn_like(p, request),
            (Test::Numeric(cmp), Value::Number(p)) => {
                parse_number(request).is_some_and(|r| cmp.holds(r, *p))
            }
            (Test::Date(cmp), Value::Date(p)) => {
                parse_date(request).is_some_and(|r| cmp.holds(r, *p))
            }
            (Test::Bool, Value::Bool(p)) => parse_bool(request) == Some(*p),
            (Test::Binary, Value::Bytes(p)) => B64.decode(request).is_ok_and(|r| r == *p),
            (Test::Ip, Value::Net(net)) => {
                request.parse::<IpAddr>().is_ok_and(|ip| net.contains(ip))
            }
            _ => false,
        }
    }

    /// Whether one request value satisfies the operator: it matches some policy value, or
    /// for a negated operator, none of them.
    fn satisfied_by(&self, request: &str, policy: &[Value]) -> bool {
        policy.iter().any(|p| self.matches(request, p)) != self.negated
    }

    /// Whether the request meets this condition. An unresolvable policy variable fails it
    /// whatever the operator: AWS treats the statement as not applying.
    pub(crate) fn holds(&self, env: &Env) -> bool {
        let Some(policy) = self.resolve(env) else {
            return false;
        };
        let request = env.lookup(&self.key);
        if self.test == Test::Null {
            let absent = request.is_none();
            return policy
                .iter()
                .any(|p| matches!(p, Value::Bool(want_absent) if *want_absent == absent));
        }
        match (request, self.qualifier) {
            (None, Some(Qualifier::ForAllValues)) => true,
            (None, Some(Qualifier::ForAnyValue)) => self.if_exists,
            // AWS: an absent key fails a positive operator and satisfies a negated one.
            (None, None) => self.if_exists || self.negated,
            // Unqualified, several request values act as one: a positive operator needs any
            // pair to match, a negated one needs no pair to.
            (Some(values), None) => {
                values
                    .iter()
                    .any(|v| policy.iter().any(|p| self.matches(v, p)))
                    != self.negated
            }
            (Some(values), Some(Qualifier::ForAnyValue)) => {
                values.iter().any(|v| self.satisfied_by(v, &policy))
            }
            (Some(values), Some(Qualifier::ForAllValues)) => {
                values.iter().all(|v| self.satisfied_by(v, &policy))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Context, Principal};

    fn parse(block: &str) -> Result<Vec<Condition>, PolicyError> {
        let json: Json = serde_json::from_str(block).expect("test JSON");
        parse_block(&json, true, "Condition")
    }

    fn holds_with(block: &str, ctx: &Context) -> bool {
        let conditions = parse(block).expect("valid condition block");
        let alice = Principal::user("111122223333", "alice");
        let env = Env::new(&alice, ctx);
        conditions.iter().all(|c| c.holds(&env))
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        let mut ctx = Context::new();
        for (k, v) in pairs {
            ctx.set(k, *v);
        }
        ctx
    }

    fn multi(key: &str, values: &[&str]) -> Context {
        let mut ctx = Context::new();
        ctx.set_multi(key, values.iter().map(|v| v.to_string()).collect());
        ctx
    }

    fn holds(block: &str, pairs: &[(&str, &str)]) -> bool {
        holds_with(block, &ctx(pairs))
    }

    fn err(block: &str) -> String {
        parse(block).expect_err("should be rejected").0
    }

    #[test]
    fn string_equals_is_exact_with_or_over_values() {
        let c = r#"{"StringEquals": {"kms:CallerAccount": ["111122223333", "444455556666"]}}"#;
        assert!(holds(c, &[("kms:CallerAccount", "111122223333")]));
        assert!(holds(c, &[("kms:CallerAccount", "444455556666")]));
        assert!(!holds(c, &[("kms:CallerAccount", "999999999999")]));
        assert!(!holds(c, &[]), "a missing key never equals");
        let c = r#"{"StringEquals": {"s3:x-amz-acl": "private"}}"#;
        assert!(
            !holds(c, &[("s3:x-amz-acl", "Private")]),
            "values are case-sensitive"
        );
    }

    #[test]
    fn condition_keys_are_case_insensitive() {
        let c = r#"{"StringEquals": {"kms:EncryptionContext:Dept": "eng"}}"#;
        assert!(holds(c, &[("KMS:encryptioncontext:dept", "eng")]));
        assert!(holds(c, &[("kms:EncryptionContext:DEPT", "eng")]));
        assert!(!holds(c, &[("kms:EncryptionContext:dept", "ENG")]));
    }

    #[test]
    fn string_not_equals_needs_no_value_to_match_and_holds_when_absent() {
        let c = r#"{"StringNotEquals": {"aws:SourceVpc": ["vpc-1", "vpc-2"]}}"#;
        assert!(holds(c, &[("aws:SourceVpc", "vpc-3")]));
        assert!(!holds(c, &[("aws:SourceVpc", "vpc-1")]));
        assert!(!holds(c, &[("aws:SourceVpc", "vpc-2")]));
        assert!(
            holds(c, &[]),
            "AWS: a negated operator holds for a missing key"
        );
    }

    #[test]
    fn ignore_case_operators() {
        let c = r#"{"StringEqualsIgnoreCase": {"k": "Hello"}}"#;
        assert!(holds(c, &[("k", "hELLO")]));
        assert!(!holds(c, &[("k", "hell")]));
        let c = r#"{"StringNotEqualsIgnoreCase": {"k": "Hello"}}"#;
        assert!(!holds(c, &[("k", "HELLO")]));
        assert!(holds(c, &[("k", "bye")]));
        assert!(holds(c, &[]));
    }

    #[test]
    fn string_like_and_not_like() {
        let c = r#"{"StringLike": {"s3:prefix": ["home/*", "pub?/x"]}}"#;
        assert!(holds(c, &[("s3:prefix", "home/alice/a.txt")]));
        assert!(holds(c, &[("s3:prefix", "pub1/x")]));
        assert!(!holds(c, &[("s3:prefix", "pub12/x")]));
        assert!(!holds(c, &[("s3:prefix", "Home/alice")]));
        assert!(!holds(c, &[]));
        let c = r#"{"StringNotLike": {"s3:prefix": "secret/*"}}"#;
        assert!(holds(c, &[("s3:prefix", "public/a")]));
        assert!(!holds(c, &[("s3:prefix", "secret/a")]));
        assert!(holds(c, &[]));
        // StringEquals reads `*` literally.
        let c = r#"{"StringEquals": {"k": "a*"}}"#;
        assert!(holds(c, &[("k", "a*")]));
        assert!(!holds(c, &[("k", "abc")]));
    }

    #[test]
    fn if_exists_holds_for_a_missing_key_and_tests_a_present_one() {
        let c = r#"{"StringEqualsIfExists": {"k": "v"}}"#;
        assert!(holds(c, &[]));
        assert!(holds(c, &[("k", "v")]));
        assert!(!holds(c, &[("k", "w")]));
        let c = r#"{"StringNotEqualsIfExists": {"k": "v"}}"#;
        assert!(holds(c, &[]));
        assert!(!holds(c, &[("k", "v")]));
        let c = r#"{"NumericLessThanIfExists": {"s3:max-keys": "10"}}"#;
        assert!(holds(c, &[]));
        assert!(holds(c, &[("s3:max-keys", "5")]));
        assert!(!holds(c, &[("s3:max-keys", "50")]));
        let c = r#"{"BoolIfExists": {"aws:SecureTransport": "true"}}"#;
        assert!(holds(c, &[]));
        assert!(!holds(c, &[("aws:SecureTransport", "false")]));
        let c = r#"{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}"#;
        assert!(holds(c, &[]));
        assert!(!holds(c, &[("aws:SourceIp", "192.168.0.1")]));
    }

    #[test]
    fn numeric_operators() {
        let cases = [
            ("NumericEquals", [false, true, false]),
            ("NumericNotEquals", [true, false, true]),
            ("NumericLessThan", [true, false, false]),
            ("NumericLessThanEquals", [true, true, false]),
            ("NumericGreaterThan", [false, false, true]),
            ("NumericGreaterThanEquals", [false, true, true]),
        ];
        for (op, expect) in cases {
            let c = format!(r#"{{"{op}": {{"n": "10"}}}}"#);
            for (value, want) in ["9", "10", "10.5"].iter().zip(expect) {
                assert_eq!(holds(&c, &[("n", value)]), want, "{op} {value}");
            }
            // Missing key: positive operators fail, the negated one holds.
            assert_eq!(holds(&c, &[]), op == "NumericNotEquals", "{op} missing");
        }
        // Numbers may be written as JSON numbers, and compare numerically, not as text.
        assert!(holds(r#"{"NumericEquals": {"n": 10}}"#, &[("n", "10.0")]));
        assert!(holds(r#"{"NumericLessThan": {"n": 2.5}}"#, &[("n", "-1")]));
        // A request value that is not a number does not compare.
        assert!(!holds(
            r#"{"NumericLessThan": {"n": "10"}}"#,
            &[("n", "ten")]
        ));
        assert!(err(r#"{"NumericEquals": {"n": "ten"}}"#).contains("not a valid value"));
        assert!(err(r#"{"NumericEquals": {"n": "NaN"}}"#).contains("not a valid value"));
    }

    #[test]
    fn date_operators() {
        let c = r#"{"DateLessThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}}"#;
        assert!(holds(c, &[("aws:CurrentTime", "2026-05-31T23:59:59Z")]));
        assert!(!holds(c, &[("aws:CurrentTime", "2026-06-01T00:00:00Z")]));
        // Offsets and epoch seconds denote the same instants.
        assert!(!holds(
            c,
            &[("aws:CurrentTime", "2026-06-01T02:00:00+02:00")]
        ));
        assert!(holds(
            c,
            &[("aws:CurrentTime", "2026-06-01T01:59:59+02:00")]
        ));
        assert!(holds(c, &[("aws:CurrentTime", "1780271999")]));
        assert!(!holds(c, &[("aws:CurrentTime", "1780272000")]));
        assert!(!holds(c, &[]));
        let c = r#"{"DateGreaterThanEquals": {"aws:EpochTime": "1780272000"}}"#;
        assert!(holds(c, &[("aws:EpochTime", "2026-06-01T00:00:00Z")]));
        assert!(holds(c, &[("aws:EpochTime", "2026-06-01T00:00:00.5Z")]));
        assert!(!holds(c, &[("aws:EpochTime", "2026-05-31")]));
        let c = r#"{"DateEquals": {"d": "2026-06-01"}}"#;
        assert!(holds(c, &[("d", "2026-06-01T00:00:00Z")]));
        assert!(holds(c, &[("d", "2026-06-01T00:00:00")]));
        let c = r#"{"DateNotEquals": {"d": "2026-06-01"}}"#;
        assert!(holds(c, &[("d", "2026-06-02")]));
        assert!(!holds(c, &[("d", "2026-06-01")]));
        assert!(holds(c, &[]));
        let c = r#"{"DateGreaterThan": {"d": "2026-06-01"}}"#;
        assert!(holds(c, &[("d", "2026-06-01T00:00:01Z")]));
        let c = r#"{"DateLessThanEquals": {"d": "2026-06-01"}}"#;
        assert!(holds(c, &[("d", "2026-06-01")]));
        assert!(!holds(c, &[("d", "not a date")]));
        assert!(err(r#"{"DateLessThan": {"d": "yesterday"}}"#).contains("not a valid value"));
    }

    #[test]
    fn bool_operator() {
        let c = r#"{"Bool": {"aws:SecureTransport": "true"}}"#;
        assert!(holds(c, &[("aws:SecureTransport", "true")]));
        assert!(holds(c, &[("aws:SecureTransport", "TRUE")]));
        assert!(!holds(c, &[("aws:SecureTransport", "false")]));
        assert!(!holds(c, &[("aws:SecureTransport", "yes")]));
        assert!(!holds(c, &[]));
        assert!(holds(r#"{"Bool": {"k": false}}"#, &[("k", "False")]));
        assert!(err(r#"{"Bool": {"k": "yes"}}"#).contains("\"yes\" is not a valid value for Bool"));
    }

    #[test]
    fn binary_equals_compares_decoded_bytes() {
        let c = r#"{"BinaryEquals": {"k": "aGVsbG8="}}"#;
        assert!(holds(c, &[("k", "aGVsbG8=")]));
        assert!(!holds(c, &[("k", "aGVsbG9=")]));
        assert!(!holds(c, &[("k", "%%%")]));
        assert!(!holds(c, &[]));
        assert!(err(r#"{"BinaryEquals": {"k": "not base64!"}}"#).contains("not a valid value"));
    }

    #[test]
    fn ip_address_operators() {
        let c = r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]}}"#;
        assert!(holds(c, &[("aws:SourceIp", "203.0.113.200")]));
        assert!(!holds(c, &[("aws:SourceIp", "203.0.114.1")]));
        assert!(holds(c, &[("aws:SourceIp", "198.51.100.7")]));
        assert!(!holds(c, &[("aws:SourceIp", "198.51.100.8")]));
        assert!(holds(c, &[("aws:SourceIp", "2001:db8:1::5")]));
        assert!(!holds(c, &[("aws:SourceIp", "2001:db9::5")]));
        assert!(holds(c, &[("aws:SourceIp", "::ffff:203.0.113.9")]));
        assert!(!holds(c, &[("aws:SourceIp", "not-an-ip")]));
        assert!(!holds(c, &[]));
        let c = r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#;
        assert!(holds(c, &[("aws:SourceIp", "192.0.2.1")]));
        assert!(!holds(c, &[("aws:SourceIp", "10.1.2.3")]));
        assert!(holds(c, &[]));
        assert!(holds(
            r#"{"IpAddress": {"ip": "0.0.0.0/0"}}"#,
            &[("ip", "192.0.2.1")]
        ));
        assert!(!holds(
            r#"{"IpAddress": {"ip": "0.0.0.0/0"}}"#,
            &[("ip", "::1")]
        ));
        for bad in ["10.0.0.0/33", "10.0.0/8", "10.0.0.0/", "::/129", "host"] {
            let c = format!(r#"{{"IpAddress": {{"ip": "{bad}"}}}}"#);
            assert!(err(&c).contains("not a valid value"), "{bad}");
        }
    }

    #[test]
    fn arn_operators() {
        let c = r#"{"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket-*"}}"#;
        assert!(holds(c, &[("aws:SourceArn", "arn:aws:s3:::bucket-1")]));
        assert!(!holds(c, &[("aws:SourceArn", "arn:aws:s3:::other")]));
        assert!(!holds(c, &[]));
        let c = r#"{"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}"#;
        assert!(holds(c, &[]), "aws:PrincipalArn comes from the principal");
        let c = r#"{"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::bucket-*"}}"#;
        assert!(!holds(c, &[("aws:SourceArn", "arn:aws:s3:::bucket-1")]));
        assert!(holds(c, &[("aws:SourceArn", "arn:aws:s3:::other")]));
        assert!(holds(c, &[]));
        let c = r#"{"ArnNotEquals": {"a": "arn:aws:kms:*:111122223333:key/*"}}"#;
        assert!(!holds(
            c,
            &[("a", "arn:aws:kms:eu-west-1:111122223333:key/k1")]
        ));
        assert!(holds(
            c,
            &[("a", "arn:aws:kms:eu-west-1:444455556666:key/k1")]
        ));
    }

    #[test]
    fn null_tests_presence() {
        let absent = r#"{"Null": {"aws:TokenIssueTime": "true"}}"#;
        let present = r#"{"Null": {"aws:TokenIssueTime": "false"}}"#;
        assert!(holds(absent, &[]));
        assert!(!holds(absent, &[("aws:TokenIssueTime", "x")]));
        assert!(!holds(present, &[]));
        assert!(holds(present, &[("aws:TokenIssueTime", "x")]));
        // An empty multi-valued key is absent.
        assert!(holds_with(absent, &multi("aws:TokenIssueTime", &[])));
        assert!(err(r#"{"Null": {"k": "maybe"}}"#).contains("not a valid value"));
        assert_eq!(
            err(r#"{"NullIfExists": {"k": "true"}}"#),
            "unknown condition operator NullIfExists"
        );
        assert!(err(r#"{"ForAnyValue:Null": {"k": "true"}}"#).contains("qualifier"));
    }

    #[test]
    fn keys_and_operators_are_anded() {
        let c = r#"{
            "StringEquals": {"a": "1", "b": "2"},
            "Bool": {"c": "true"}
        }"#;
        assert!(holds(c, &[("a", "1"), ("b", "2"), ("c", "true")]));
        assert!(!holds(c, &[("a", "1"), ("b", "2"), ("c", "false")]));
        assert!(!holds(c, &[("a", "1"), ("c", "true")]));
        assert!(!holds(c, &[("a", "x"), ("b", "2"), ("c", "true")]));
        assert!(holds("{}", &[]), "an empty block holds");
    }

    #[test]
    fn multi_valued_keys_without_a_qualifier() {
        let tags = multi("aws:TagKeys", &["env", "team"]);
        assert!(holds_with(
            r#"{"StringEquals": {"aws:TagKeys": "team"}}"#,
            &tags
        ));
        assert!(!holds_with(
            r#"{"StringEquals": {"aws:TagKeys": "cost"}}"#,
            &tags
        ));
        assert!(!holds_with(
            r#"{"StringNotEquals": {"aws:TagKeys": "team"}}"#,
            &tags
        ));
        assert!(holds_with(
            r#"{"StringNotEquals": {"aws:TagKeys": "cost"}}"#,
            &tags
        ));
    }

    #[test]
    fn for_any_value() {
        let c = r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "owner"]}}"#;
        assert!(holds_with(c, &multi("aws:TagKeys", &["env", "team"])));
        assert!(!holds_with(c, &multi("aws:TagKeys", &["team", "cost"])));
        assert!(!holds_with(c, &Context::new()), "absent key: false");
        assert!(
            !holds_with(c, &multi("aws:TagKeys", &[])),
            "empty set: false"
        );
        // Negated: some request value differs from every policy value.
        let c = r#"{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["env", "owner"]}}"#;
        assert!(holds_with(c, &multi("aws:TagKeys", &["env", "team"])));
        assert!(!holds_with(c, &multi("aws:TagKeys", &["env", "owner"])));
        assert!(!holds_with(c, &Context::new()));
        let c = r#"{"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "e*"}}"#;
        assert!(holds_with(c, &Context::new()));
        assert!(holds_with(c, &multi("aws:TagKeys", &["x", "env"])));
    }

    #[test]
    fn for_all_values() {
        let c = r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}"#;
        assert!(holds_with(c, &multi("aws:TagKeys", &["env"])));
        assert!(holds_with(c, &multi("aws:TagKeys", &["team", "env"])));
        assert!(!holds_with(c, &multi("aws:TagKeys", &["env", "cost"])));
        assert!(holds_with(c, &Context::new()), "absent key: true");
        // Negated: no request value equals any policy value.
        let c = r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#;
        assert!(holds_with(c, &multi("aws:TagKeys", &["env", "team"])));
        assert!(!holds_with(c, &multi("aws:TagKeys", &["env", "secret"])));
        let c = r#"{"ForAllValues:StringLike": {"aws:TagKeys": "t*"}}"#;
        assert!(holds_with(c, &multi("aws:TagKeys", &["team", "tier"])));
        assert!(!holds_with(c, &multi("aws:TagKeys", &["team", "env"])));
        let c = r#"{"forallvalues:stringequals": {"k": "a"}}"#;
        assert!(
            holds_with(c, &multi("k", &["a", "a"])),
            "operator names fold case"
        );
    }

    #[test]
    fn variables_in_condition_values() {
        let c = r#"{"StringLike": {"s3:prefix": "home/${aws:username}/*"}}"#;
        assert!(holds(c, &[("s3:prefix", "home/alice/x")]));
        assert!(!holds(c, &[("s3:prefix", "home/bob/x")]));
        let c = r#"{"StringEquals": {"k": "${custom:team}"}}"#;
        assert!(holds(c, &[("k", "blue"), ("custom:team", "blue")]));
        assert!(!holds(c, &[("k", "blue"), ("custom:team", "red")]));
        // Unresolved: the condition fails, whatever the operator.
        assert!(!holds(c, &[("k", "blue")]));
        let c = r#"{"StringNotEquals": {"k": "${custom:team}"}}"#;
        assert!(!holds(c, &[("k", "blue")]));
        let c = r#"{"StringEquals": {"k": "${custom:team, 'none'}"}}"#;
        assert!(holds(c, &[("k", "none")]));
        // Typed values with variables are checked when substituted.
        let c = r#"{"NumericLessThan": {"n": "${custom:limit}"}}"#;
        assert!(holds(c, &[("n", "1"), ("custom:limit", "2")]));
        assert!(!holds(c, &[("n", "1"), ("custom:limit", "two")]));
    }

    #[test]
    fn malformed_blocks() {
        assert_eq!(
            err(r#"{"StringEqualz": {"k": "v"}}"#),
            "unknown condition operator StringEqualz"
        );
        assert_eq!(
            err(r#"{"ForSomeValues:StringEquals": {"k": "v"}}"#),
            "unknown condition operator ForSomeValues:StringEquals"
        );
        assert!(err(r#"[]"#).contains("Condition must be an object"));
        assert!(
            err(r#"{"StringEquals": "k"}"#).contains("Condition.StringEquals must be an object")
        );
        assert!(err(r#"{"StringEquals": {}}"#).contains("names no condition keys"));
        assert!(
            err(r#"{"StringEquals": {"k": []}}"#)
                .contains("Condition.StringEquals.k has no values")
        );
        assert!(
            err(r#"{"StringEquals": {"k": {"a": "b"}}}"#)
                .contains("Condition.StringEquals.k must be a string")
        );
        assert!(err(r#"{"StringEquals": {"k": [null]}}"#).contains("must be a string"));
    }

    /// Every operator, with a request value it accepts and one it refuses; each
    /// `...IfExists` form also holds for an absent key and tests a present one.
    #[test]
    fn every_operator_has_a_positive_and_a_negative_case() {
        let b64 = "aGVsbG8="; // "hello"
        let cases: &[(&str, &str, &str, &str, &str)] = &[
            // operator, key, policy value, accepted, refused
            ("StringEquals", "k", "abc", "abc", "abd"),
            ("StringNotEquals", "k", "abc", "abd", "abc"),
            ("StringEqualsIgnoreCase", "k", "abc", "ABC", "abd"),
            ("StringNotEqualsIgnoreCase", "k", "abc", "abd", "ABC"),
            ("StringLike", "k", "a*c?", "abbbcd", "abd"),
            ("StringNotLike", "k", "a*c", "abd", "abbc"),
            ("NumericEquals", "k", "10", "10.0", "11"),
            ("NumericNotEquals", "k", "10", "11", "10"),
            ("NumericLessThan", "k", "10", "9", "10"),
            ("NumericLessThanEquals", "k", "10", "10", "11"),
            ("NumericGreaterThan", "k", "10", "11", "10"),
            ("NumericGreaterThanEquals", "k", "10", "10", "9"),
            (
                "DateEquals",
                "k",
                "2026-01-01T00:00:00Z",
                "1767225600",
                "2026-01-02T00:00:00Z",
            ),
            (
                "DateNotEquals",
                "k",
                "2026-01-01T00:00:00Z",
                "2026-01-02T00:00:00Z",
                "2026-01-01T01:00:00+01:00",
            ),
            (
                "DateLessThan",
                "k",
                "2026-01-01T00:00:00Z",
                "2025-12-31T23:59:59Z",
                "2026-01-01T00:00:00Z",
            ),
            (
                "DateLessThanEquals",
                "k",
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:00:01Z",
            ),
            (
                "DateGreaterThan",
                "k",
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:00:01Z",
                "2026-01-01T00:00:00Z",
            ),
            (
                "DateGreaterThanEquals",
                "k",
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:00:00Z",
                "2025-12-31T00:00:00Z",
            ),
            ("Bool", "aws:SecureTransport", "true", "true", "false"),
            ("BinaryEquals", "k", b64, b64, "aGVsbG8h"),
            (
                "IpAddress",
                "aws:SourceIp",
                "192.0.2.0/24",
                "192.0.2.7",
                "198.51.100.7",
            ),
            (
                "NotIpAddress",
                "aws:SourceIp",
                "192.0.2.0/24",
                "198.51.100.7",
                "192.0.2.7",
            ),
            (
                "ArnEquals",
                "aws:SourceArn",
                "arn:aws:s3:::b/*",
                "arn:aws:s3:::b/k",
                "arn:aws:s3:::c/k",
            ),
            (
                "ArnNotEquals",
                "aws:SourceArn",
                "arn:aws:s3:::b/*",
                "arn:aws:s3:::c/k",
                "arn:aws:s3:::b/k",
            ),
            (
                "ArnLike",
                "aws:SourceArn",
                "arn:aws:iam::*:user/a*",
                "arn:aws:iam::111122223333:user/al",
                "arn:aws:iam::111122223333:user/bo",
            ),
            (
                "ArnNotLike",
                "aws:SourceArn",
                "arn:aws:iam::*:user/a*",
                "arn:aws:iam::111122223333:user/bo",
                "arn:aws:iam::111122223333:user/al",
            ),
        ];
        for (op, key, value, yes, no) in cases {
            let block = format!(r#"{{"{op}": {{"{key}": "{value}"}}}}"#);
            assert!(holds(&block, &[(key, yes)]), "{op} should accept {yes}");
            assert!(!holds(&block, &[(key, no)]), "{op} should refuse {no}");
            let if_exists = format!(r#"{{"{op}IfExists": {{"{key}": "{value}"}}}}"#);
            assert!(
                holds(&if_exists, &[]),
                "{op}IfExists holds for an absent key"
            );
            assert!(
                holds(&if_exists, &[(key, yes)]),
                "{op}IfExists accepts {yes}"
            );
            assert!(
                !holds(&if_exists, &[(key, no)]),
                "{op}IfExists refuses {no}"
            );
            // The set qualifiers over a two-valued key: one good value is enough for
            // ForAnyValue, all must be good for ForAllValues.
            let mixed = multi(key, &[yes, no]);
            let any = format!(r#"{{"ForAnyValue:{op}": {{"{key}": "{value}"}}}}"#);
            let all = format!(r#"{{"ForAllValues:{op}": {{"{key}": "{value}"}}}}"#);
            if *op != "Bool" {
                assert!(holds_with(&any, &mixed), "ForAnyValue:{op}");
                assert!(!holds_with(&all, &mixed), "ForAllValues:{op}");
                assert!(
                    holds_with(&all, &multi(key, &[yes, yes])),
                    "ForAllValues:{op} all good"
                );
                assert!(
                    !holds_with(&any, &multi(key, &[no, no])),
                    "ForAnyValue:{op} none good"
                );
            }
        }
        let null = r#"{"Null": {"k": "true"}}"#;
        assert!(holds(null, &[]));
        assert!(!holds(null, &[("k", "x")]));
        let not_null = r#"{"Null": {"k": "false"}}"#;
        assert!(holds(not_null, &[("k", "x")]));
        assert!(!holds(not_null, &[]));
    }

    #[test]
    fn unknown_or_misspelt_operators_fail_closed_at_parse() {
        for op in [
            "StringEqualz",
            "ForSomeValues:StringEquals",
            "NullIfExists",
            "IpAddressIfExist",
        ] {
            let block = format!(r#"{{"{op}": {{"k": "v"}}}}"#);
            assert!(parse(&block).is_err(), "{op} must be rejected");
        }
    }
}
