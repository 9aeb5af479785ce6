//! Condition operators, with AWS's semantics for missing keys, `...IfExists`, negation and
//! the `ForAllValues:` / `ForAnyValue:` set qualifiers. An unknown operator is a parse
//! error: a condition that cannot be evaluated must not be skipped.

use std::net::IpAddr;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::matching::glob;
use super::{Policy, PolicyError, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    None,
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone)]
pub struct Condition {
    op: Op,
    /// The `Not` form: true when no value matches.
    negated: bool,
    if_exists: bool,
    qualifier: Qualifier,
    key: String,
    values: Vec<String>,
}

fn parse_operator(name: &str) -> Option<(Op, bool)> {
    Some(match name {
        "StringEquals" => (Op::StringEquals, false),
        "StringNotEquals" => (Op::StringEquals, true),
        "StringEqualsIgnoreCase" => (Op::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Op::StringEqualsIgnoreCase, true),
        "StringLike" => (Op::StringLike, false),
        "StringNotLike" => (Op::StringLike, true),
        "NumericEquals" => (Op::NumericEquals, false),
        "NumericNotEquals" => (Op::NumericEquals, true),
        "NumericLessThan" => (Op::NumericLessThan, false),
        "NumericLessThanEquals" => (Op::NumericLessThanEquals, false),
        "NumericGreaterThan" => (Op::NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (Op::NumericGreaterThanEquals, false),
        "DateEquals" => (Op::DateEquals, false),
        "DateNotEquals" => (Op::DateEquals, true),
        "DateLessThan" => (Op::DateLessThan, false),
        "DateLessThanEquals" => (Op::DateLessThanEquals, false),
        "DateGreaterThan" => (Op::DateGreaterThan, false),
        "DateGreaterThanEquals" => (Op::DateGreaterThanEquals, false),
        "Bool" => (Op::Bool, false),
        "BinaryEquals" => (Op::BinaryEquals, false),
        "IpAddress" => (Op::IpAddress, false),
        "NotIpAddress" => (Op::IpAddress, true),
        "ArnEquals" | "ArnLike" => (Op::ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (Op::ArnLike, true),
        "Null" => (Op::Null, false),
        _ => return None,
    })
}

fn value_strings(v: &Value, op: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(PolicyError(format!(
            "Condition values of {op} must be strings"
        ))),
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn date(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    if let Ok(secs) = s.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(secs).ok();
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, fmt)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    let (a, b, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(width).min(width);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

fn numeric(op: Op, have: &str, want: &str) -> bool {
    let (Ok(h), Ok(w)) = (have.parse::<f64>(), want.parse::<f64>()) else {
        return false;
    };
    match op {
        Op::NumericEquals => h == w,
        Op::NumericLessThan => h < w,
        Op::NumericLessThanEquals => h <= w,
        Op::NumericGreaterThan => h > w,
        _ => h >= w,
    }
}

fn dates(op: Op, have: &str, want: &str) -> bool {
    let (Some(h), Some(w)) = (date(have), date(want)) else {
        return false;
    };
    match op {
        Op::DateEquals => h == w,
        Op::DateLessThan => h < w,
        Op::DateLessThanEquals => h <= w,
        Op::DateGreaterThan => h > w,
        _ => h >= w,
    }
}

impl Condition {
    pub fn parse_block(block: &Map<String, Value>) -> Result<Vec<Condition>, PolicyError> {
        let mut out = Vec::new();
        for (name, keys) in block {
            let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
                (Qualifier::ForAllValues, r)
            } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
                (Qualifier::ForAnyValue, r)
            } else {
                (Qualifier::None, name.as_str())
            };
            let (base, if_exists) = match rest.strip_suffix("IfExists") {
                Some(b) if b != "Null" => (b, true),
                _ => (rest, false),
            };
            let (op, negated) = parse_operator(base)
                .ok_or_else(|| PolicyError(format!("unknown condition operator {name}")))?;
            let keys = keys
                .as_object()
                .ok_or_else(|| PolicyError(format!("Condition {name} must map keys to values")))?;
            for (key, values) in keys {
                let values = value_strings(values, name)?;
                if op == Op::Null
                    && values
                        .iter()
                        .any(|v| !matches!(v.as_str(), "true" | "false"))
                {
                    return Err(PolicyError(
                        "Null conditions take \"true\" or \"false\"".into(),
                    ));
                }
                out.push(Condition {
                    op,
                    negated,
                    if_exists,
                    qualifier,
                    key: key.to_ascii_lowercase(),
                    values,
                });
            }
        }
        Ok(out)
    }

    fn matches_one(&self, policy: &Policy, req: &Request, have: &str) -> bool {
        self.values.iter().any(|want| {
            let Some(want) = policy.resolve(want, req) else {
                return false;
            };
            match self.op {
                Op::StringEquals | Op::BinaryEquals => have == want,
                Op::StringEqualsIgnoreCase => have.eq_ignore_ascii_case(&want),
                Op::StringLike | Op::ArnLike => glob(&want, have, false),
                Op::Bool => have.eq_ignore_ascii_case(&want),
                Op::IpAddress => cidr_contains(&want, have),
                Op::NumericEquals
                | Op::NumericLessThan
                | Op::NumericLessThanEquals
                | Op::NumericGreaterThan
                | Op::NumericGreaterThanEquals => numeric(self.op, have, &want),
                Op::Null => false,
                _ => dates(self.op, have, &want),
            }
        })
    }

    pub fn holds(&self, policy: &Policy, req: &Request) -> bool {
        let present = req.context.get(&self.key).filter(|v| !v.is_empty());
        if self.op == Op::Null {
            let want_absent = self.values.iter().any(|v| v == "true");
            return want_absent != present.is_some();
        }
        let Some(have) = present else {
            return self.if_exists
                || match self.qualifier {
                    Qualifier::ForAllValues => true,
                    Qualifier::ForAnyValue => false,
                    Qualifier::None => self.negated,
                };
        };
        let hit = |v: &String| self.matches_one(policy, req, v) != self.negated;
        match self.qualifier {
            Qualifier::ForAllValues => have.iter().all(hit),
            Qualifier::ForAnyValue => have.iter().any(hit),
            Qualifier::None if self.negated => have.iter().all(hit),
            Qualifier::None => have.iter().any(hit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_v4_and_v6() {
        assert!(cidr_contains("10.0.0.0/8", "10.1.2.3"));
        assert!(!cidr_contains("10.0.0.0/8", "11.0.0.1"));
        assert!(cidr_contains("192.0.2.7", "192.0.2.7"));
        assert!(cidr_contains("2001:db8::/32", "2001:db8::1"));
        assert!(!cidr_contains("2001:db8::/32", "10.0.0.1"));
        assert!(cidr_contains("0.0.0.0/0", "8.8.8.8"));
    }

    #[test]
    fn dates_parse_in_three_forms() {
        assert!(dates(
            Op::DateLessThan,
            "2026-01-01T00:00:00Z",
            "2026-06-01"
        ));
        assert!(dates(
            Op::DateGreaterThan,
            "1800000000",
            "2026-01-01T00:00:00Z"
        ));
        assert!(!dates(Op::DateEquals, "garbage", "2026-01-01"));
    }
}
