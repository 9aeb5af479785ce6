//! The policy document grammar: JSON in, a checked [`Policy`] out.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

use super::PolicyError;
use super::conditions::{self, Condition};
use super::matching::{PrincipalSpec, Template, Tok, pattern};

/// The largest document accepted: the KMS key policy limit.
pub(crate) const MAX_POLICY_BYTES: usize = 32 * 1024;

/// Which kind of policy a document is; it decides whether statements name principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a caller (IAM user): statements must not have `Principal`/`NotPrincipal`.
    Identity,
    /// Attached to a resource (KMS key, bucket): every statement has exactly one of
    /// `Principal`/`NotPrincipal`.
    Resource,
}

/// A parsed, checked policy document. It keeps the text it was parsed from, so the document
/// is returned to clients exactly as they gave it.
#[derive(Debug, Clone)]
pub struct Policy {
    text: String,
    pub(crate) statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// An element that is either listed (`Action`) or excluded (`NotAction`).
#[derive(Debug, Clone)]
pub(crate) enum Listed<T> {
    Only(Vec<T>),
    AllBut(Vec<T>),
}

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    /// Actions match case-insensitively and take no variables.
    pub(crate) actions: Listed<Vec<Tok>>,
    pub(crate) resources: Listed<Template>,
    /// `None` in identity policies: the statement is about the caller.
    pub(crate) principals: Option<Listed<PrincipalSpec>>,
    pub(crate) conditions: Vec<Condition>,
}

impl Policy {
    /// Parses and checks `json` as a policy of `kind`. Anything the evaluator could not
    /// honour exactly is an error, so a stored policy never means something else.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(PolicyError(format!(
                "policy document is {} bytes; the limit is {MAX_POLICY_BYTES} bytes (32 KiB)",
                json.len()
            )));
        }
        let doc: Json = serde_json::from_str(json)
            .map_err(|e| PolicyError(format!("policy document is not valid JSON: {e}")))?;
        let Json::Object(fields) = doc else {
            return Err(PolicyError("policy document must be a JSON object".into()));
        };
        let mut version = None;
        let mut statement = None;
        for (name, value) in &fields {
            match name.as_str() {
                "Version" => version = Some(value),
                "Id" => {
                    if !matches!(value, Json::String(_)) {
                        return Err(PolicyError("Id must be a string".into()));
                    }
                }
                "Statement" => statement = Some(value),
                other => {
                    return Err(PolicyError(format!(
                        "unknown policy element {other:?}: expected Version, Id, Statement"
                    )));
                }
            }
        }
        let variables = match version {
            None => false,
            Some(Json::String(v)) if v == "2012-10-17" => true,
            Some(Json::String(v)) if v == "2008-10-17" => false,
            Some(Json::String(v)) => {
                return Err(PolicyError(format!(
                    "Version {v:?} is not supported: use \"2012-10-17\" or \"2008-10-17\""
                )));
            }
            Some(_) => return Err(PolicyError("Version must be a string".into())),
        };
        let items: Vec<&Json> = match statement {
            None => return Err(PolicyError("policy document has no Statement".into())),
            Some(Json::Array(items)) => items.iter().collect(),
            Some(one @ Json::Object(_)) => vec![one],
            Some(_) => {
                return Err(PolicyError(
                    "Statement must be an object or an array of objects".into(),
                ));
            }
        };
        if items.is_empty() {
            return Err(PolicyError("Statement must not be empty".into()));
        }
        let mut sids: Vec<&str> = Vec::new();
        let mut statements = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let (statement, sid) = parse_statement(item, index, kind, variables)?;
            if let Some(sid) = sid {
                if sids.contains(&sid) {
                    return Err(PolicyError(format!(
                        "Sid {sid:?} appears in more than one statement; Sids must be unique"
                    )));
                }
                sids.push(sid);
            }
            statements.push(statement);
        }
        Ok(Policy {
            text: json.to_string(),
            statements,
        })
    }

    /// The document exactly as given to [`Policy::parse`].
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a condition tests a key beginning with `prefix` (given in lower case):
    /// lets a caller skip gathering a costly key no statement reads.
    pub fn tests_key_starting_with(&self, prefix: &str) -> bool {
        self.statements
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.key().starts_with(prefix))
    }
}

/// A string, or a non-empty array of strings.
fn strings<'j>(value: &'j Json, field: &str) -> Result<Vec<&'j str>, PolicyError> {
    let wrong = || PolicyError(format!("{field} must be a string or an array of strings"));
    match value {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) if items.is_empty() => {
            Err(PolicyError(format!("{field} must not be an empty array")))
        }
        Json::Array(items) => items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(s.as_str()),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

/// Exactly one of an element and its `Not` form.
fn one_of<'j>(
    listed: Option<&'j Json>,
    excluded: Option<&'j Json>,
    name: &str,
    field: &str,
) -> Result<Option<(bool, &'j Json)>, PolicyError> {
    match (listed, excluded) {
        (Some(_), Some(_)) => Err(PolicyError(format!(
            "{field} has both {name} and Not{name}; use one"
        ))),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

fn listed<T>(negated: bool, items: Vec<T>) -> Listed<T> {
    if negated {
        Listed::AllBut(items)
    } else {
        Listed::Only(items)
    }
}

fn parse_action(action: &str, field: &str) -> Result<Vec<Tok>, PolicyError> {
    let valid = action == "*"
        || action.split_once(':').is_some_and(|(service, name)| {
            !service.is_empty()
                && !name.is_empty()
                && service
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '*' | '?'))
        });
    if !valid {
        return Err(PolicyError(format!(
            "{field}: {action:?} is not an action: expected \"service:Name\" or \"*\""
        )));
    }
    Ok(pattern(action))
}

fn parse_resource(resource: &str, field: &str, variables: bool) -> Result<Template, PolicyError> {
    if resource != "*" && !resource.starts_with("arn:") {
        return Err(PolicyError(format!(
            "{field}: {resource:?} is not a resource: expected an ARN or \"*\""
        )));
    }
    Ok(Template::parse(resource, variables))
}

fn parse_principal(value: &Json, field: &str) -> Result<Vec<PrincipalSpec>, PolicyError> {
    match value {
        Json::String(s) if s == "*" => Ok(vec![PrincipalSpec::Anyone]),
        Json::String(s) => Err(PolicyError(format!(
            "{field}: {s:?} is not a principal: expected \"*\" or an object such as {{\"AWS\": ...}}"
        ))),
        Json::Object(kinds) if kinds.is_empty() => {
            Err(PolicyError(format!("{field} names no principals")))
        }
        Json::Object(kinds) => {
            let mut specs = Vec::new();
            for (kind, names) in kinds {
                let names = strings(names, &format!("{field}.{kind}"))?;
                for name in names {
                    let spec = match kind.as_str() {
                        "AWS" => PrincipalSpec::parse_aws(name),
                        "Service" => PrincipalSpec::parse_service(name),
                        "Federated" | "CanonicalUser" => {
                            Err(PolicyError(format!("{kind} principals are not supported")))
                        }
                        other => Err(PolicyError(format!(
                            "unknown principal type {other:?}: expected AWS or Service"
                        ))),
                    }
                    .map_err(|e| PolicyError(format!("{field}: {e}")))?;
                    specs.push(spec);
                }
            }
            Ok(specs)
        }
        _ => Err(PolicyError(format!(
            "{field} must be \"*\" or an object such as {{\"AWS\": ...}}"
        ))),
    }
}

fn parse_statement(
    item: &Json,
    index: usize,
    kind: PolicyKind,
    variables: bool,
) -> Result<(Statement, Option<&str>), PolicyError> {
    let at = format!("Statement[{index}]");
    let Json::Object(fields) = item else {
        return Err(PolicyError(format!("{at} must be an object")));
    };
    let mut sid = None;
    let mut effect = None;
    let (mut action, mut not_action) = (None, None);
    let (mut resource, mut not_resource) = (None, None);
    let (mut principal, mut not_principal) = (None, None);
    let mut condition = None;
    for (name, value) in fields {
        let slot = match name.as_str() {
            "Sid" => &mut sid,
            "Effect" => &mut effect,
            "Action" => &mut action,
            "NotAction" => &mut not_action,
            "Resource" => &mut resource,
            "NotResource" => &mut not_resource,
            "Principal" => &mut principal,
            "NotPrincipal" => &mut not_principal,
            "Condition" => &mut condition,
            other => {
                return Err(PolicyError(format!(
                    "{at}: unknown statement element {other:?}"
                )));
            }
        };
        *slot = Some(value);
    }

    let sid = match sid {
        None => None,
        Some(Json::String(s)) => Some(s.as_str()),
        Some(_) => return Err(PolicyError(format!("{at}.Sid must be a string"))),
    };
    let effect = match effect {
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(_) => {
            return Err(PolicyError(format!(
                "{at}.Effect must be \"Allow\" or \"Deny\""
            )));
        }
        None => return Err(PolicyError(format!("{at} has no Effect"))),
    };

    let Some((negated, value)) = one_of(action, not_action, "Action", &at)? else {
        return Err(PolicyError(format!(
            "{at} has neither Action nor NotAction"
        )));
    };
    let field = format!("{at}.{}Action", if negated { "Not" } else { "" });
    let actions = strings(value, &field)?
        .into_iter()
        .map(|a| parse_action(a, &field))
        .collect::<Result<_, _>>()?;
    let actions = listed(negated, actions);

    let Some((negated, value)) = one_of(resource, not_resource, "Resource", &at)? else {
        return Err(PolicyError(format!(
            "{at} has neither Resource nor NotResource"
        )));
    };
    let field = format!("{at}.{}Resource", if negated { "Not" } else { "" });
    let resources = strings(value, &field)?
        .into_iter()
        .map(|r| parse_resource(r, &field, variables))
        .collect::<Result<_, _>>()?;
    let resources = listed(negated, resources);

    let principals = match (one_of(principal, not_principal, "Principal", &at)?, kind) {
        (Some(_), PolicyKind::Identity) => {
            return Err(PolicyError(format!(
                "{at}: Principal and NotPrincipal are not allowed in an identity policy"
            )));
        }
        (None, PolicyKind::Resource) => {
            return Err(PolicyError(format!(
                "{at} has neither Principal nor NotPrincipal; a resource policy must name who it applies to"
            )));
        }
        (None, PolicyKind::Identity) => None,
        (Some((negated, value)), PolicyKind::Resource) => {
            let field = format!("{at}.{}Principal", if negated { "Not" } else { "" });
            Some(listed(negated, parse_principal(value, &field)?))
        }
    };

    let conditions = match condition {
        None => Vec::new(),
        Some(block) => conditions::parse_block(block, variables, &format!("{at}.Condition"))?,
    };

    Ok((
        Statement {
            effect,
            actions,
            resources,
            principals,
            conditions,
        },
        sid,
    ))
}

/// A JSON value that keeps object members in order and refuses duplicate member names:
/// `{"Effect": "Deny", "Effect": "Allow"}` would otherwise silently mean whichever a parser
/// keeps.
#[derive(Debug, Clone)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number as text; only condition values accept numbers.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.iter().any(|(existing, _)| *existing == name) {
                return Err(de::Error::custom(format!("duplicate member {name:?}")));
            }
            let value = map.next_value()?;
            members.push((name, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    fn err(json: &str, kind: PolicyKind) -> String {
        Policy::parse(json, kind).expect_err("should be rejected").0
    }

    fn identity_err(statement: &str) -> String {
        err(
            &format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#),
            PolicyKind::Identity,
        )
    }

    fn resource_err(statement: &str) -> String {
        err(
            &format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#),
            PolicyKind::Resource,
        )
    }

    #[test]
    fn default_key_policy_parses_and_keeps_its_text() {
        let policy = Policy::parse(DEFAULT_KEY_POLICY, PolicyKind::Resource).unwrap();
        assert_eq!(policy.text(), DEFAULT_KEY_POLICY);
        assert_eq!(policy.statements.len(), 1);
        let st = &policy.statements[0];
        assert_eq!(st.effect, Effect::Allow);
        assert!(matches!(
            &st.principals,
            Some(Listed::Only(p)) if p == &[PrincipalSpec::Account("111122223333".into())]
        ));
        // A key policy is not an identity policy.
        assert!(
            err(DEFAULT_KEY_POLICY, PolicyKind::Identity)
                .contains("Principal and NotPrincipal are not allowed in an identity policy")
        );
    }

    #[test]
    fn accepts_the_grammar_variants() {
        // One statement as an object, no Version, arrays everywhere, Not* forms.
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Deny","NotAction":["s3:Get*","s3:List*"],"NotResource":["arn:aws:s3:::b/*"]}}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        assert!(matches!(p.statements[0].actions, Listed::AllBut(ref a) if a.len() == 2));
        Policy::parse(
            r#"{"Version":"2008-10-17","Statement":[{"Sid":"a","Effect":"Allow","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::444455556666:user/x"],"Service":"s3.amazonaws.com"},"Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}},{"Sid":"b","Effect":"Allow","Principal":"*","Action":"*:*","Resource":"arn:aws:s3:::*"}]}"#,
            PolicyKind::Resource,
        )
        .unwrap();
        // Whitespace and unicode in the text are kept as given.
        let text = "{ \"Statement\": [ {\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::bücket\"} ] }\n";
        assert_eq!(
            Policy::parse(text, PolicyKind::Identity).unwrap().text(),
            text
        );
    }

    #[test]
    fn size_limit() {
        let pad = " ".repeat(MAX_POLICY_BYTES);
        let big = format!("{DEFAULT_KEY_POLICY}{pad}");
        let msg = err(&big, PolicyKind::Resource);
        assert!(msg.contains("the limit is 32768 bytes"), "{msg}");
        let exact = format!(
            "{DEFAULT_KEY_POLICY}{}",
            " ".repeat(MAX_POLICY_BYTES - DEFAULT_KEY_POLICY.len())
        );
        assert!(Policy::parse(&exact, PolicyKind::Resource).is_ok());
    }

    #[test]
    fn document_level_errors() {
        let k = PolicyKind::Identity;
        assert!(err("", k).contains("not valid JSON"));
        assert!(err("{", k).contains("not valid JSON"));
        assert!(err("[]", k).contains("must be a JSON object"));
        assert!(err(r#"{"Version":"2012-10-17"}"#, k).contains("has no Statement"));
        assert!(err(r#"{"Statement":[]}"#, k).contains("Statement must not be empty"));
        assert!(err(r#"{"Statement":"x"}"#, k).contains("Statement must be an object or an array"));
        assert!(err(r#"{"Statement":["x"]}"#, k).contains("Statement[0] must be an object"));
        assert!(
            err(r#"{"Version":"2020-01-01","Statement":[]}"#, k)
                .contains("Version \"2020-01-01\" is not supported")
        );
        assert!(err(r#"{"Version":2012,"Statement":[]}"#, k).contains("Version must be a string"));
        assert!(err(r#"{"Id":1,"Statement":[]}"#, k).contains("Id must be a string"));
        assert!(err(r#"{"Statements":[]}"#, k).contains("unknown policy element \"Statements\""));
        // Duplicate members would make the document mean whichever copy a parser keeps.
        let dup =
            r#"{"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        assert!(err(dup, k).contains("duplicate member \"Effect\""));
    }

    #[test]
    fn statement_errors_name_the_field() {
        let ok = r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*""#;
        assert!(
            identity_err(&format!("[{{{ok}}},{{{ok},\"Foo\":1}}]"))
                .contains("Statement[1]: unknown statement element \"Foo\"")
        );
        assert!(
            identity_err(r#"[{"Action":"*","Resource":"*"}]"#)
                .contains("Statement[0] has no Effect")
        );
        assert!(
            identity_err(r#"[{"Effect":"allow","Action":"*","Resource":"*"}]"#)
                .contains("Statement[0].Effect must be \"Allow\" or \"Deny\"")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Resource":"*"}]"#)
                .contains("neither Action nor NotAction")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]"#)
                .contains("both Action and NotAction")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":"*"}]"#)
                .contains("neither Resource nor NotResource")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}]"#)
                .contains("both Resource and NotResource")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":5,"Resource":"*"}]"#)
                .contains("Statement[0].Action must be a string or an array of strings")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":["s3:Get",true],"Resource":"*"}]"#)
                .contains("Statement[0].Action must be a string")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","NotAction":[],"Resource":"*"}]"#)
                .contains("Statement[0].NotAction must not be an empty array")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":"*","Resource":{"a":1}}]"#)
                .contains("Statement[0].Resource must be a string")
        );
        assert!(
            identity_err(r#"[{"Sid":7,"Effect":"Allow","Action":"*","Resource":"*"}]"#)
                .contains("Statement[0].Sid must be a string")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":"GetObject","Resource":"*"}]"#)
                .contains("\"GetObject\" is not an action")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":"s3:","Resource":"*"}]"#)
                .contains("is not an action")
        );
        assert!(
            identity_err(r#"[{"Effect":"Allow","Action":"*","Resource":"bucket/*"}]"#)
                .contains("Statement[0].Resource: \"bucket/*\" is not a resource")
        );
        assert!(identity_err(r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":[]}}}]"#).contains("Statement[0].Condition.StringEquals.k has no values"));
        assert_eq!(
            identity_err(
                r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringMatches":{"k":"v"}}}]"#
            ),
            "unknown condition operator StringMatches"
        );
    }

    #[test]
    fn sids_are_unique() {
        let st = r#"{"Sid":"Same","Effect":"Allow","Action":"*","Resource":"*"}"#;
        assert!(
            identity_err(&format!("[{st},{st}]"))
                .contains("Sid \"Same\" appears in more than one statement")
        );
        let st2 = r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#;
        Policy::parse(
            &format!(r#"{{"Statement":[{st2},{st2}]}}"#),
            PolicyKind::Identity,
        )
        .expect("Sid is optional");
    }

    #[test]
    fn principal_errors() {
        let with = |p: &str| {
            format!(r#"[{{"Effect":"Allow","Principal":{p},"Action":"*","Resource":"*"}}]"#)
        };
        assert!(
            resource_err(r#"[{"Effect":"Allow","Action":"*","Resource":"*"}]"#)
                .contains("neither Principal nor NotPrincipal")
        );
        assert!(resource_err(r#"[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"*","Resource":"*"}]"#).contains("both Principal and NotPrincipal"));
        assert!(resource_err(&with(r#""111122223333""#)).contains("is not a principal"));
        assert!(resource_err(&with("{}")).contains("Statement[0].Principal names no principals"));
        assert!(resource_err(&with("7")).contains("Statement[0].Principal must be"));
        assert!(
            resource_err(&with(r#"{"Federated":"cognito-identity.amazonaws.com"}"#))
                .contains("Federated principals are not supported")
        );
        assert!(
            resource_err(&with(r#"{"CanonicalUser":"abc"}"#))
                .contains("CanonicalUser principals are not supported")
        );
        assert!(
            resource_err(&with(r#"{"Robot":"x"}"#)).contains("unknown principal type \"Robot\"")
        );
        assert!(
            resource_err(&with(r#"{"AWS":"arn:aws:iam::111122223333:user/*"}"#))
                .contains("wildcards are not allowed")
        );
        assert!(
            resource_err(&with(r#"{"AWS":"bob"}"#))
                .contains("Statement[0].Principal: invalid AWS principal \"bob\"")
        );
        assert!(
            resource_err(&with(r#"{"AWS":[]}"#))
                .contains("Statement[0].Principal.AWS must not be an empty array")
        );
        assert!(resource_err(&with(r#"{"Service":"s3.*"}"#)).contains("invalid service principal"));
    }
}
