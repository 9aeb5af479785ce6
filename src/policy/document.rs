//! The policy document: parsing AWS's JSON grammar strictly (unknown elements, operators
//! and wrong types are errors, so a policy never means less than its author wrote).

use serde_json::{Map, Value};

use super::conditions::Condition;
use super::matching::{glob, substitute};
use super::{PolicyError, Principal, PrincipalKind, Request};

const MAX_POLICY_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user: no Principal element.
    Identity,
    /// Attached to a resource (key, bucket): names its principals.
    Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// How a statement's principal element matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalMatch {
    /// Named the caller itself (or everyone).
    Direct,
    /// Named the caller's account: delegation to that account's IAM policies.
    Account,
}

#[derive(Debug, Clone)]
enum PrincipalPattern {
    Everyone,
    Account(String),
    Arn(String),
    Service(String),
}

#[derive(Debug, Clone)]
struct Negatable<T> {
    items: Vec<T>,
    negated: bool,
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub effect: Effect,
    actions: Negatable<String>,
    resources: Negatable<String>,
    principals: Option<Negatable<PrincipalPattern>>,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    text: String,
    /// "2012-10-17" enables policy variables.
    variables: bool,
    statements: Vec<Statement>,
}

fn err(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(format!("{field} must be a string or a list of strings")))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(err(format!(
                "{field} must be a string or a list of strings"
            )));
        }
    };
    if list.is_empty() {
        return Err(err(format!("{field} must not be empty")));
    }
    Ok(list)
}

fn exactly_one<'a>(
    st: &'a Map<String, Value>,
    a: &str,
    b: &str,
) -> Result<Option<(&'a Value, bool)>, PolicyError> {
    match (st.get(a), st.get(b)) {
        (Some(_), Some(_)) => Err(err(format!("A statement cannot have both {a} and {b}"))),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

fn principal_patterns(v: &Value) -> Result<Vec<PrincipalPattern>, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec![PrincipalPattern::Everyone]),
        Value::Object(m) => {
            let mut out = Vec::new();
            for (kind, value) in m {
                for item in strings(value, "Principal")? {
                    out.push(match kind.as_str() {
                        "AWS" if item == "*" => PrincipalPattern::Everyone,
                        "AWS" => aws_principal(&item)?,
                        "Service" => PrincipalPattern::Service(item),
                        other => {
                            return Err(err(format!("Principal type {other} is not supported")));
                        }
                    });
                }
            }
            if out.is_empty() {
                return Err(err("Principal must name at least one principal"));
            }
            Ok(out)
        }
        _ => Err(err(
            "Principal must be \"*\" or an object such as {\"AWS\": \"arn:...\"}",
        )),
    }
}

fn aws_principal(item: &str) -> Result<PrincipalPattern, PolicyError> {
    if item.len() == 12 && item.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(PrincipalPattern::Account(item.to_owned()));
    }
    let parts: Vec<&str> = item.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || item.contains('*') {
        return Err(err(format!("Invalid principal in policy: {item}")));
    }
    if parts[5] == "root" {
        return Ok(PrincipalPattern::Account(parts[4].to_owned()));
    }
    Ok(PrincipalPattern::Arn(item.to_owned()))
}

fn parse_statement(v: &Value, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let st = v
        .as_object()
        .ok_or_else(|| err("Each statement must be an object"))?;
    for key in st.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(err(format!("Unknown field {key} in a statement")));
        }
    }
    if let Some(sid) = st.get("Sid")
        && !sid.is_string()
    {
        return Err(err("Sid must be a string"));
    }
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(err("Effect must be \"Allow\" or \"Deny\"")),
    };
    let (actions, negated) = exactly_one(st, "Action", "NotAction")?
        .ok_or_else(|| err("A statement needs Action or NotAction"))?;
    let actions = Negatable {
        items: strings(actions, "Action")?,
        negated,
    };
    for a in &actions.items {
        if a != "*" && !a.contains(':') {
            return Err(err(format!("Action {a} must have the form service:Name")));
        }
    }
    let resources = match exactly_one(st, "Resource", "NotResource")? {
        Some((v, negated)) => Negatable {
            items: strings(v, "Resource")?,
            negated,
        },
        None => return Err(err("A statement needs Resource or NotResource")),
    };
    let principals = match (kind, exactly_one(st, "Principal", "NotPrincipal")?) {
        (PolicyKind::Identity, Some(_)) => {
            return Err(err(
                "An identity policy cannot have Principal or NotPrincipal",
            ));
        }
        (PolicyKind::Identity, None) => None,
        (PolicyKind::Resource, None) => {
            return Err(err("A statement needs Principal or NotPrincipal"));
        }
        (PolicyKind::Resource, Some((v, negated))) => Some(Negatable {
            items: principal_patterns(v)?,
            negated,
        }),
    };
    let conditions = match st.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(m)) => Condition::parse_block(m)?,
        Some(_) => return Err(err("Condition must be an object")),
    };
    Ok(Statement {
        effect,
        actions,
        resources,
        principals,
        conditions,
    })
}

impl Policy {
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(err(format!(
                "The policy is {} bytes; the limit is {MAX_POLICY_BYTES}",
                json.len()
            )));
        }
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| err(format!("The policy is not valid JSON: {e}")))?;
        let top = doc
            .as_object()
            .ok_or_else(|| err("The policy must be a JSON object"))?;
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(err(format!("Unknown field {key} in the policy")));
            }
        }
        let variables = match top.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(_) => return Err(err("Version must be \"2012-10-17\" or \"2008-10-17\"")),
        };
        let statements = match top.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|s| parse_statement(s, kind))
                .collect::<Result<Vec<_>, _>>()?,
            Some(v @ Value::Object(_)) => vec![parse_statement(v, kind)?],
            _ => return Err(err("The policy needs a Statement")),
        };
        let mut sids: Vec<&str> = top
            .get("Statement")
            .into_iter()
            .flat_map(|s| match s {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            })
            .filter_map(|s| s.get("Sid").and_then(Value::as_str))
            .collect();
        let count = sids.len();
        sids.sort_unstable();
        sids.dedup();
        if sids.len() != count {
            return Err(err("Statement ids (Sid) must be unique"));
        }
        Ok(Policy {
            text: json.to_owned(),
            variables,
            statements,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub(super) fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// A pattern with its variables resolved, when the policy version has variables.
    pub(super) fn resolve(&self, pattern: &str, req: &Request) -> Option<String> {
        if self.variables {
            substitute(pattern, req.context)
        } else {
            Some(pattern.to_owned())
        }
    }
}

impl Statement {
    pub fn principal_match(&self, who: &Principal) -> Option<PrincipalMatch> {
        let spec = self.principals.as_ref()?;
        let mut best = None;
        for p in &spec.items {
            let m = match p {
                PrincipalPattern::Everyone => Some(PrincipalMatch::Direct),
                PrincipalPattern::Account(a) if *a == who.account => {
                    Some(if who.kind == PrincipalKind::Root {
                        PrincipalMatch::Direct
                    } else {
                        PrincipalMatch::Account
                    })
                }
                PrincipalPattern::Arn(arn) if *arn == who.arn => Some(PrincipalMatch::Direct),
                PrincipalPattern::Service(s) if who.kind == PrincipalKind::Service(s.clone()) => {
                    Some(PrincipalMatch::Direct)
                }
                _ => None,
            };
            if m == Some(PrincipalMatch::Direct) {
                best = m;
                break;
            }
            best = best.or(m);
        }
        match (spec.negated, best) {
            (false, m) => m,
            (true, Some(_)) => None,
            (true, None) => Some(PrincipalMatch::Direct),
        }
    }

    /// Whether action, resource and conditions all apply to the request.
    pub fn applies(&self, policy: &Policy, req: &Request) -> bool {
        let action = self.actions.items.iter().any(|a| glob(a, req.action, true));
        if action == self.actions.negated {
            return false;
        }
        let resource = self.resources.items.iter().any(|r| {
            policy
                .resolve(r, req)
                .is_some_and(|r| glob(&r, req.resource, false))
        });
        if resource == self.resources.negated {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(policy, req))
    }
}
