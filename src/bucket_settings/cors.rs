//! A bucket's CORS configuration (PutBucketCors) and which rule answers a cross-origin
//! request, as S3 decides it: the first rule whose origins, methods and (for a preflight)
//! headers all allow the request.

use serde::{Deserialize, Serialize};

use super::StoredSetting;

/// S3's most rules per configuration.
pub(crate) const MAX_RULES: usize = 100;
/// The methods a rule may allow.
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CorsConfig {
    pub rules: Vec<CorsRule>,
}

impl StoredSetting for CorsConfig {
    const NAME: &'static str = "CORS configuration";
    const VERSION: u32 = 1;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CorsRule {
    #[serde(default)]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<i32>,
}

/// Why a configuration is refused: S3's InvalidRequest message, or MalformedXML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    Request(String),
    Malformed,
}

pub(crate) fn validate(config: &CorsConfig) -> Result<(), Invalid> {
    if config.rules.is_empty() || config.rules.len() > MAX_RULES {
        return Err(Invalid::Malformed);
    }
    for rule in &config.rules {
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(Invalid::Malformed);
        }
        if let Some(m) = rule
            .allowed_methods
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(Invalid::Request(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if let Some(o) = rule
            .allowed_origins
            .iter()
            .find(|o| o.matches('*').count() > 1)
        {
            return Err(Invalid::Request(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            )));
        }
        if let Some(h) = rule
            .allowed_headers
            .iter()
            .find(|h| h.matches('*').count() > 1)
        {
            return Err(Invalid::Request(format!(
                "AllowedHeader \"{h}\" can not have more than one wildcard."
            )));
        }
        if rule.id.as_ref().is_some_and(|id| id.len() > 255) {
            return Err(Invalid::Request(
                "The ID of a CORS rule is at most 255 characters".into(),
            ));
        }
    }
    Ok(())
}

/// Whether `value` matches `pattern`, which holds at most one `*` (any run of characters).
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.starts_with(head)
                && value.ends_with(tail)
        }
    }
}

impl CorsRule {
    fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| wildcard(o, origin))
    }

    /// Headers match case-insensitively.
    fn allows_header(&self, header: &str) -> bool {
        let header = header.to_ascii_lowercase();
        self.allowed_headers
            .iter()
            .any(|h| wildcard(&h.to_ascii_lowercase(), &header))
    }

    /// Whether any origin is allowed: then S3 answers `*` and never allows credentials.
    pub(crate) fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|o| o == "*")
    }
}

impl CorsConfig {
    /// The rule that allows a request from `origin` with `method` sending `headers`
    /// (those a preflight names; none for the request itself).
    pub(crate) fn find(&self, origin: &str, method: &str, headers: &[&str]) -> Option<&CorsRule> {
        self.rules.iter().find(|r| {
            r.allows_origin(origin)
                && r.allowed_methods.iter().any(|m| m == method)
                && headers.iter().all(|h| r.allows_header(h))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            expose_headers: Vec::new(),
            max_age_seconds: None,
        }
    }

    #[test]
    fn the_first_rule_allowing_origin_method_and_headers_answers() {
        let config = CorsConfig {
            rules: vec![
                rule(&["https://*.example.com"], &["GET"], &[]),
                rule(
                    &["https://app.example.com"],
                    &["PUT", "GET"],
                    &["Content-*", "x-amz-*"],
                ),
                rule(&["*"], &["GET"], &["*"]),
            ],
        };
        let found = |o, m, h: &[&str]| config.find(o, m, h).map(|r| r.allowed_methods.len());
        assert_eq!(found("https://a.example.com", "GET", &[]), Some(1));
        assert_eq!(
            found("https://app.example.com", "PUT", &["content-type"]),
            Some(2)
        );
        assert_eq!(
            found("https://app.example.com", "PUT", &["authorization"]),
            None
        );
        assert_eq!(found("https://evil.test", "GET", &["anything"]), Some(1));
        assert_eq!(found("https://evil.test", "PUT", &[]), None);
        // The wildcard needs the part around it: ".example.com" alone does not match.
        assert!(!wildcard("https://*.example.com", "https://example.com"));
    }

    #[test]
    fn s3s_limits_and_messages() {
        let ok = CorsConfig {
            rules: vec![rule(&["*"], &["GET"], &[])],
        };
        assert_eq!(validate(&ok), Ok(()));
        let bad_method = CorsConfig {
            rules: vec![rule(&["*"], &["PATCH"], &[])],
        };
        assert_eq!(
            validate(&bad_method),
            Err(Invalid::Request(
                "Found unsupported HTTP method in CORS config. Unsupported method is PATCH".into()
            ))
        );
        let two_wildcards = CorsConfig {
            rules: vec![rule(&["https://*.*.com"], &["GET"], &[])],
        };
        assert!(
            matches!(validate(&two_wildcards), Err(Invalid::Request(m)) if m.contains("more than one wildcard"))
        );
        assert_eq!(
            validate(&CorsConfig { rules: Vec::new() }),
            Err(Invalid::Malformed)
        );
        let many = CorsConfig {
            rules: vec![rule(&["*"], &["GET"], &[]); MAX_RULES + 1],
        };
        assert_eq!(validate(&many), Err(Invalid::Malformed));
    }
}
