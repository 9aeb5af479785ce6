//! Wildcard patterns, policy variables, and principals.

use super::{Context, PolicyError, Principal, PrincipalKind, fold_key};

/// One unit of a pattern after its variables are substituted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Char(char),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Star,
    One,
    Var {
        key: String,
        default: Option<String>,
    },
    /// A `${` that does not form a variable; like an unknown key it never resolves, so a
    /// typo cannot turn into a literal that happens to match.
    Broken,
}

/// A string from a policy as written: literal text, wildcards and, for documents of
/// Version 2012-10-17, policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub(crate) fn parse(s: &str, variables: bool) -> Template {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if variables && rest.starts_with("${") {
                let (piece, used) = parse_variable(&rest[2..]);
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(piece);
                rest = &rest[2 + used..];
                continue;
            }
            match c {
                '*' | '?' => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(if c == '*' { Piece::Star } else { Piece::One });
                }
                _ => text.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        // Escapes arrive as separate text pieces; join neighbours so `has_variables` and
        // equality stay simple.
        let mut merged: Vec<Piece> = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match (merged.last_mut(), piece) {
                (Some(Piece::Text(prev)), Piece::Text(next)) => prev.push_str(&next),
                (_, piece) => merged.push(piece),
            }
        }
        Template { pieces: merged }
    }

    /// Whether evaluating this template consults the request.
    pub(crate) fn has_variables(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Var { .. } | Piece::Broken))
    }

    /// Whether the template is exactly `*`.
    pub(crate) fn is_star(&self) -> bool {
        self.pieces == [Piece::Star]
    }

    /// The pattern with variables substituted; `None` when a variable cannot be resolved.
    pub(crate) fn resolve(&self, env: &Env) -> Option<Vec<Tok>> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend(t.chars().map(Tok::Char)),
                Piece::Star => out.push(Tok::Star),
                Piece::One => out.push(Tok::One),
                Piece::Var { key, default } => out.extend(
                    substitute(env, key, default.as_deref())?
                        .chars()
                        .map(Tok::Char),
                ),
                Piece::Broken => return None,
            }
        }
        Some(out)
    }

    /// The string with variables substituted and wildcards read as plain characters, for
    /// operators that compare exactly; `None` when a variable cannot be resolved.
    pub(crate) fn resolve_text(&self, env: &Env) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Star => out.push('*'),
                Piece::One => out.push('?'),
                Piece::Var { key, default } => {
                    out.push_str(substitute(env, key, default.as_deref())?)
                }
                Piece::Broken => return None,
            }
        }
        Some(out)
    }

    /// The text of a template without variables (as for typed condition values checked at
    /// parse time).
    pub(crate) fn literal(&self) -> Option<String> {
        if self.has_variables() {
            return None;
        }
        self.resolve_text(&Env::empty())
    }
}

/// A wildcard pattern without variables, such as an action.
pub(crate) fn pattern(s: &str) -> Vec<Tok> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Char(c),
        });
    }
    out
}

fn substitute<'e>(env: &'e Env, key: &str, default: Option<&'e str>) -> Option<&'e str> {
    match env.lookup(key) {
        Some([one]) => Some(one.as_str()),
        _ => default,
    }
}

/// Parses what follows `${`: `key}`, `key, 'default'}` (a `''` in the default is one quote),
/// or one of the escapes `*}`, `?}`, `$}`. Returns the piece and the bytes consumed.
fn parse_variable(s: &str) -> (Piece, usize) {
    let Some(close) = s.find(['}', ',']) else {
        return (Piece::Broken, s.len());
    };
    let key = s[..close].trim();
    let valid_key = !key.is_empty() && !key.contains(char::is_whitespace) && !key.contains('$');
    if s.as_bytes()[close] == b'}' {
        let piece = match key {
            "*" | "?" | "$" => Piece::Text(key.to_string()),
            _ if valid_key => Piece::Var {
                key: fold_key(key),
                default: None,
            },
            _ => Piece::Broken,
        };
        return (piece, close + 1);
    }
    // A default value follows the comma.
    let after_comma = &s[close + 1..];
    let quoted = after_comma.trim_start();
    let mut consumed = s.len() - quoted.len();
    let Some(body) = quoted.strip_prefix('\'') else {
        return (Piece::Broken, consumed);
    };
    consumed += 1;
    let mut default = String::new();
    let mut chars = body.char_indices().peekable();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                chars.next();
                default.push('\'');
                continue;
            }
            end = Some(i + 1);
            break;
        }
        default.push(c);
    }
    let Some(end) = end else {
        return (Piece::Broken, s.len());
    };
    consumed += end;
    let tail = &s[consumed..];
    let trimmed = tail.trim_start();
    consumed += tail.len() - trimmed.len();
    if !trimmed.starts_with('}') {
        return (Piece::Broken, consumed);
    }
    consumed += 1;
    if !valid_key {
        return (Piece::Broken, consumed);
    }
    (
        Piece::Var {
            key: fold_key(key),
            default: Some(default),
        },
        consumed,
    )
}

/// Whether `text` matches `pattern` (`*` any run, `?` one character), comparing characters
/// exactly. Callers fold case on both sides first when matching is case-insensitive.
pub(crate) fn glob(pattern: &[Tok], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and how much text it has swallowed so far.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Tok::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            _ => match backtrack {
                Some((star, swallowed)) => {
                    backtrack = Some((star, swallowed + 1));
                    p = star + 1;
                    t = swallowed + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|tok| *tok == Tok::Star)
}

/// `glob` on a string.
pub(crate) fn glob_str(pattern: &[Tok], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    glob(pattern, &text)
}

/// `glob` ignoring case.
pub(crate) fn glob_str_ignore_case(pattern: &[Tok], text: &str) -> bool {
    let pattern: Vec<Tok> = pattern
        .iter()
        .flat_map(|tok| -> Vec<Tok> {
            match tok {
                Tok::Char(c) => c.to_lowercase().map(Tok::Char).collect(),
                other => vec![*other],
            }
        })
        .collect();
    glob_str(&pattern, &text.to_lowercase())
}

/// ARN comparison for the `Arn*` condition operators: the six colon-separated components
/// are matched separately, so a wildcard never spans a component boundary (the last
/// component, the resource, may itself hold colons).
pub(crate) fn arn_like(pattern: &[Tok], arn: &str) -> bool {
    let mut pattern_parts: Vec<&[Tok]> = Vec::with_capacity(6);
    let mut rest = pattern;
    while pattern_parts.len() < 5 {
        let Some(colon) = rest.iter().position(|t| *t == Tok::Char(':')) else {
            return false;
        };
        pattern_parts.push(&rest[..colon]);
        rest = &rest[colon + 1..];
    }
    pattern_parts.push(rest);
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    arn_parts.len() == 6
        && pattern_parts
            .iter()
            .zip(&arn_parts)
            .all(|(pattern, part)| glob_str(pattern, part))
}

/// What the evaluator knows about a request beyond its action and resource: the context
/// keys, and keys derived from the principal unless the context sets them.
pub(crate) struct Env<'a> {
    context: Option<&'a Context>,
    derived: Vec<(&'static str, Vec<String>)>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(principal: &Principal, context: &'a Context) -> Env<'a> {
        let mut derived = Vec::new();
        let kind = match &principal.kind {
            PrincipalKind::Root => Some("Account"),
            PrincipalKind::User { .. } => Some("User"),
            PrincipalKind::Anonymous => Some("Anonymous"),
            PrincipalKind::Service(_) => Some("AWSService"),
        };
        if let Some(kind) = kind {
            derived.push(("aws:principaltype", vec![kind.to_string()]));
        }
        if !matches!(principal.kind, PrincipalKind::Anonymous) {
            derived.push(("aws:principalarn", vec![principal.arn.clone()]));
            if !principal.account.is_empty() {
                derived.push(("aws:principalaccount", vec![principal.account.clone()]));
            }
        }
        match &principal.kind {
            PrincipalKind::User { name } => derived.push(("aws:username", vec![name.clone()])),
            PrincipalKind::Root => derived.push(("aws:userid", vec![principal.account.clone()])),
            _ => {}
        }
        Env {
            context: Some(context),
            derived,
        }
    }

    fn empty() -> Env<'static> {
        Env {
            context: None,
            derived: Vec::new(),
        }
    }

    /// The values of a folded key; `None` when absent or empty.
    pub(crate) fn lookup(&self, key: &str) -> Option<&[String]> {
        let from_context = self.context.and_then(|c| c.get_folded(key));
        let values = match from_context {
            Some(values) => values,
            None => self
                .derived
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_slice())?,
        };
        (!values.is_empty()).then_some(values)
    }
}

/// How a statement's `Principal` names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    /// Through the caller's account (account id or account root ARN): a delegation.
    Account,
    /// Through `"*"` / `{"AWS": "*"}`.
    Anyone,
    /// By the caller's own ARN or service name.
    Named,
}

/// One entry of a `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalSpec {
    Anyone,
    Account(String),
    Arn(String),
    Service(String),
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl PrincipalSpec {
    /// An entry of `"AWS"`: `*`, an account id, or an IAM/STS ARN.
    pub(crate) fn parse_aws(s: &str) -> Result<PrincipalSpec, PolicyError> {
        if s == "*" {
            return Ok(PrincipalSpec::Anyone);
        }
        if is_account_id(s) {
            return Ok(PrincipalSpec::Account(s.to_string()));
        }
        let invalid = || {
            PolicyError(format!(
                "invalid AWS principal {s:?}: expected \"*\", a 12-digit account id, or an IAM principal ARN"
            ))
        };
        if s.contains(['*', '?']) {
            return Err(PolicyError(format!(
                "invalid AWS principal {s:?}: wildcards are not allowed in principals except a lone \"*\""
            )));
        }
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(invalid());
        };
        if arn != "arn"
            || partition.is_empty()
            || !matches!(service, "iam" | "sts")
            || !region.is_empty()
            || !is_account_id(account)
            || resource.is_empty()
        {
            return Err(invalid());
        }
        if service == "iam" && resource == "root" {
            return Ok(PrincipalSpec::Account(account.to_string()));
        }
        Ok(PrincipalSpec::Arn(s.to_string()))
    }

    /// An entry of `"Service"`, e.g. `s3.amazonaws.com`.
    pub(crate) fn parse_service(s: &str) -> Result<PrincipalSpec, PolicyError> {
        if s.is_empty() || s.contains(['*', '?']) || s.contains(char::is_whitespace) {
            return Err(PolicyError(format!("invalid service principal {s:?}")));
        }
        Ok(PrincipalSpec::Service(s.to_ascii_lowercase()))
    }

    pub(crate) fn matches(&self, principal: &Principal) -> Option<PrincipalMatch> {
        let signed = !matches!(principal.kind, PrincipalKind::Anonymous);
        match self {
            PrincipalSpec::Anyone => Some(PrincipalMatch::Anyone),
            PrincipalSpec::Account(account) => (signed
                && !matches!(principal.kind, PrincipalKind::Service(_))
                && principal.account == *account)
                .then_some(PrincipalMatch::Account),
            PrincipalSpec::Arn(arn) => {
                (signed && principal.arn == *arn).then_some(PrincipalMatch::Named)
            }
            PrincipalSpec::Service(name) => match &principal.kind {
                PrincipalKind::Service(svc) if svc.eq_ignore_ascii_case(name) => {
                    Some(PrincipalMatch::Named)
                }
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Vec<Tok> {
        Template::parse(s, true).resolve(&Env::empty()).unwrap()
    }

    #[test]
    fn glob_wildcards() {
        assert!(glob_str(&pat("*"), ""));
        assert!(glob_str(&pat("*"), "anything:at/all"));
        assert!(glob_str(&pat("a*c"), "abbbc"));
        assert!(glob_str(&pat("a*c"), "ac"));
        assert!(!glob_str(&pat("a*c"), "acb"));
        assert!(glob_str(&pat("a?c"), "abc"));
        assert!(!glob_str(&pat("a?c"), "ac"));
        assert!(glob_str(&pat("*b*b*"), "abcbd"));
        assert!(!glob_str(&pat("*b*b*"), "abcd"));
        assert!(glob_str(&pat("k?y/*"), "key/x/y:z"));
        assert!(!glob_str(&pat("abc"), "ABC"));
        assert!(glob_str_ignore_case(&pat("kms:Dec*"), "KMS:decrypt"));
        // Many stars against a long non-matching text stays fast and correct.
        let long = "a".repeat(2000);
        assert!(!glob_str(&pat("*a*a*a*a*a*b"), &long));
    }

    #[test]
    fn arn_like_is_component_wise() {
        assert!(arn_like(
            &pat("arn:aws:s3:::bucket/*"),
            "arn:aws:s3:::bucket/a/b:c"
        ));
        assert!(arn_like(
            &pat("arn:aws:iam::*:user/*"),
            "arn:aws:iam::111122223333:user/al"
        ));
        // A star in one component does not swallow the colons of the next.
        assert!(!arn_like(
            &pat("arn:aws:*:user/x"),
            "arn:aws:iam::111122223333:user/x"
        ));
        assert!(!arn_like(
            &pat("arn:aws:iam::*"),
            "arn:aws:iam::111122223333:user/x"
        ));
        assert!(arn_like(
            &pat("arn:aws:iam::*:*"),
            "arn:aws:iam::111122223333:user/x"
        ));
        assert!(!arn_like(&pat("arn:aws:iam::*:*"), "not-an-arn"));
    }

    #[test]
    fn variables_and_escapes() {
        let mut ctx = Context::new();
        ctx.set("aws:username", "alice");
        ctx.set_multi("tags", vec!["a".into(), "b".into()]);
        let p = Principal::user("111122223333", "alice");
        let env = Env::new(&p, &ctx);
        let text = |s: &str| Template::parse(s, true).resolve_text(&env);
        assert_eq!(
            text("home/${aws:username}/*").as_deref(),
            Some("home/alice/*")
        );
        assert_eq!(text("${AWS:UserName}").as_deref(), Some("alice"));
        assert_eq!(text("${*}${?}${$}").as_deref(), Some("*?$"));
        assert_eq!(text("${missing}"), None);
        // Multi-valued keys cannot be substituted.
        assert_eq!(text("${tags}"), None);
        assert_eq!(text("${missing, 'dflt'}").as_deref(), Some("dflt"));
        assert_eq!(text("${ missing , 'it''s' }").as_deref(), Some("it's"));
        assert_eq!(text("${aws:username, 'x'}").as_deref(), Some("alice"));
        assert_eq!(text("${unclosed"), None);
        assert_eq!(text("${}"), None);
        assert_eq!(text("${a b}"), None);
        assert_eq!(text("$notvar").as_deref(), Some("$notvar"));
        // Derived from the principal.
        assert_eq!(
            text("${aws:PrincipalArn}").as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        // Substituted text is literal: a `*` in a value does not act as a wildcard.
        let mut ctx = Context::new();
        ctx.set("k", "*");
        let env = Env::new(&p, &ctx);
        let toks = Template::parse("x/${k}", true).resolve(&env).unwrap();
        assert!(glob_str(&toks, "x/*"));
        assert!(!glob_str(&toks, "x/y"));
        let toks = Template::parse("x/${*}", true).resolve(&env).unwrap();
        assert!(!glob_str(&toks, "x/y"));
    }

    #[test]
    fn variables_off_for_old_versions() {
        let t = Template::parse("${aws:username}", false);
        assert!(!t.has_variables());
        assert_eq!(t.literal().as_deref(), Some("${aws:username}"));
    }

    #[test]
    fn aws_principals() {
        use PrincipalSpec::*;
        assert_eq!(PrincipalSpec::parse_aws("*").unwrap(), Anyone);
        assert_eq!(
            PrincipalSpec::parse_aws("111122223333").unwrap(),
            Account("111122223333".into())
        );
        assert_eq!(
            PrincipalSpec::parse_aws("arn:aws:iam::111122223333:root").unwrap(),
            Account("111122223333".into())
        );
        assert_eq!(
            PrincipalSpec::parse_aws("arn:aws:iam::111122223333:user/bob").unwrap(),
            Arn("arn:aws:iam::111122223333:user/bob".into())
        );
        for bad in [
            "arn:aws:iam::111122223333:user/*",
            "arn:aws:iam::*:root",
            "11112222333",
            "bob",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:111122223333:user/bob",
            "arn:aws:iam::111122223333:",
        ] {
            assert!(PrincipalSpec::parse_aws(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn principal_matching() {
        let alice = Principal::user("111122223333", "alice");
        let root = Principal::root("111122223333");
        let other = Principal::user("444455556666", "alice");
        let anon = Principal::anonymous();
        let svc = Principal::service("s3.amazonaws.com");
        let account = PrincipalSpec::Account("111122223333".into());
        let arn = PrincipalSpec::Arn("arn:aws:iam::111122223333:user/alice".into());
        assert_eq!(account.matches(&alice), Some(PrincipalMatch::Account));
        assert_eq!(account.matches(&root), Some(PrincipalMatch::Account));
        assert_eq!(account.matches(&other), None);
        assert_eq!(account.matches(&anon), None);
        assert_eq!(arn.matches(&alice), Some(PrincipalMatch::Named));
        assert_eq!(arn.matches(&other), None);
        assert_eq!(
            PrincipalSpec::Anyone.matches(&anon),
            Some(PrincipalMatch::Anyone)
        );
        let s3 = PrincipalSpec::parse_service("S3.amazonaws.com").unwrap();
        assert_eq!(s3.matches(&svc), Some(PrincipalMatch::Named));
        assert_eq!(s3.matches(&alice), None);
        assert_eq!(account.matches(&svc), None);
    }
}
