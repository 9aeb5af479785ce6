//! Bucket policies (`?policy`, `?policyStatus`): validated as S3 validates them before they
//! are stored, and judged public or not as S3's policy status does.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use serde_json::Value;

use super::SealgateS3;
use crate::catalog::{Bucket, CatalogError};
use crate::policy::{Policy as ParsedPolicy, PolicyKind};

/// S3's limit on a bucket policy document.
const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Condition keys that, pinned to fixed values by a positive operator, keep an `Allow` to
/// everyone from being public (S3's definition of a non-public policy).
const PINNING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:userid",
];

fn malformed(message: &str) -> s3s::S3Error {
    s3_error!(MalformedPolicy, "{message}")
}

/// A string or an array of strings, as policy elements are written.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &Value) -> Vec<&serde_json::Map<String, Value>> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(one)) => vec![one],
        _ => Vec::new(),
    }
}

/// Checks a policy for `bucket` as S3 does: valid grammar with principals, S3 actions only,
/// resources of this bucket only, at most 20 KiB.
pub(crate) fn validate(bucket: &str, text: &str) -> S3Result<()> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(malformed("Policies cannot exceed 20 KiB"));
    }
    if !text.trim_start().starts_with('{') {
        return Err(malformed(
            "Policies must be valid JSON and the first byte must be '{'",
        ));
    }
    let doc: Value = serde_json::from_str(text)
        .map_err(|_| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
    ParsedPolicy::parse(text, PolicyKind::Resource).map_err(|e| malformed(&e.to_string()))?;
    let own = crate::arn::s3_bucket(bucket);
    let own_objects = format!("{own}/");
    for st in statements(&doc) {
        for key in ["Action", "NotAction"] {
            if let Some(v) = st.get(key) {
                let ok = strings(v)
                    .iter()
                    .all(|a| *a == "*" || a.to_ascii_lowercase().starts_with("s3:"));
                if !ok {
                    return Err(malformed("Policy has invalid action"));
                }
            }
        }
        let mut has_resource = false;
        for key in ["Resource", "NotResource"] {
            if let Some(v) = st.get(key) {
                has_resource = true;
                let ok = strings(v)
                    .iter()
                    .all(|r| *r == own || r.starts_with(&own_objects));
                if !ok {
                    return Err(malformed("Policy has invalid resource"));
                }
            }
        }
        if !has_resource {
            return Err(malformed("Missing required field Resource"));
        }
    }
    Ok(())
}

fn public_principal(st: &serde_json::Map<String, Value>) -> bool {
    if st.contains_key("NotPrincipal") {
        return true;
    }
    match st.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(m)) => m.get("AWS").is_some_and(|v| strings(v).contains(&"*")),
        _ => false,
    }
}

/// Whether a condition block pins the statement to known callers: a positive operator on
/// one of [`PINNING_KEYS`] with values free of wildcards (and not "any address").
fn pinned(conditions: Option<&Value>) -> bool {
    let Some(Value::Object(ops)) = conditions else {
        return false;
    };
    ops.iter().any(|(op, keys)| {
        let base = op
            .trim_start_matches("ForAnyValue:")
            .trim_start_matches("ForAllValues:");
        let positive = !base.contains("Not") && !base.ends_with("IfExists") && base != "Null";
        let Value::Object(keys) = keys else {
            return false;
        };
        positive
            && keys.iter().any(|(key, values)| {
                let values = strings(values);
                PINNING_KEYS.contains(&key.to_ascii_lowercase().as_str())
                    && !values.is_empty()
                    && values.iter().all(|v| {
                        !v.contains('*') && !v.contains('?') && *v != "0.0.0.0/0" && *v != "::/0"
                    })
            })
    })
}

/// S3's policy status: public when an `Allow` reaches anyone without a pinning condition.
pub(crate) fn is_public(text: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    statements(&doc).into_iter().any(|st| {
        st.get("Effect").and_then(Value::as_str) == Some("Allow")
            && public_principal(st)
            && !pinned(st.get("Condition"))
    })
}

/// Whether a bucket policy (`public` or not) reaches callers outside the owner's account:
/// a public one does unless Block Public Access's RestrictPublicBuckets keeps it inside.
pub(crate) fn reaches_outside(public: bool, bucket: &Bucket) -> Result<bool, CatalogError> {
    Ok(public
        && !bucket
            .public_access_block()?
            .is_some_and(|b| b.restrict_public_buckets))
}

fn no_such_policy() -> s3s::S3Error {
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
}

impl SealgateS3 {
    pub(super) async fn put_bucket_policy_op(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        let bucket = self.svc.bucket(&input.bucket).await?;
        validate(&input.bucket, &input.policy)?;
        let blocked = bucket
            .public_access_block()?
            .is_some_and(|b| b.block_public_policy);
        if blocked && is_public(&input.policy) {
            let caller = req
                .extensions
                .get::<super::CallerIdentity>()
                .map_or("anonymous", |c| c.principal.arn.as_str());
            return Err(s3_error!(
                AccessDenied,
                "User: {caller} is not authorized to perform: s3:PutBucketPolicy on resource: \"{}\" because public policies are prevented by the BlockPublicPolicy setting in S3 Block Public Access.",
                crate::arn::s3_bucket(&input.bucket)
            ));
        }
        self.svc
            .set_bucket_policy(&input.bucket, Some(input.policy))
            .await?;
        Ok(S3Response::new(PutBucketPolicyOutput::default()))
    }

    pub(super) async fn get_bucket_policy_op(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let policy = bucket.policy.ok_or_else(no_such_policy)?;
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(policy),
        }))
    }

    pub(super) async fn delete_bucket_policy_op(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.svc.set_bucket_policy(&req.input.bucket, None).await?;
        Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
    }

    pub(super) async fn get_bucket_policy_status_op(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let policy = bucket.policy.as_deref().ok_or_else(no_such_policy)?;
        // A public policy kept to the owner's account makes no bucket public.
        let public = reaches_outside(is_public(policy), &bucket)?;
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(public),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statement: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#)
    }

    #[test]
    fn validation_follows_s3() {
        let ok = doc(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/*"}"#,
        );
        validate("b1", &ok).unwrap();
        let code = |text: &str| {
            let e = validate("b1", text).unwrap_err();
            (
                e.code().as_str().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        };
        assert_eq!(
            code("not json").1,
            "Policies must be valid JSON and the first byte must be '{'"
        );
        assert_eq!(
            code(&ok.replace("b1/*", "b2/*")).1,
            "Policy has invalid resource"
        );
        assert_eq!(
            code(&ok.replace("b1/*", "b1x")).1,
            "Policy has invalid resource"
        );
        assert_eq!(
            code(&ok.replace("s3:GetObject", "kms:Decrypt")).1,
            "Policy has invalid action"
        );
        let no_principal =
            doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b1"}"#);
        assert_eq!(code(&no_principal).0, "MalformedPolicy");
        let big = doc(&format!(
            r#"{{"Sid":"{}","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b1"}}"#,
            "x".repeat(21 * 1024)
        ));
        assert_eq!(code(&big).1, "Policies cannot exceed 20 KiB");
    }

    #[test]
    fn public_unless_pinned() {
        let public = doc(
            r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/*"}"#,
        );
        assert!(is_public(&public));
        let pinned_ip = doc(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}"#,
        );
        assert!(!is_public(&pinned_ip));
        let any_ip = pinned_ip.replace("192.0.2.0/24", "0.0.0.0/0");
        assert!(is_public(&any_ip));
        let negated = pinned_ip.replace("IpAddress", "NotIpAddress");
        assert!(is_public(&negated));
        let other_key = doc(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#,
        );
        assert!(is_public(&other_key));
        let named = doc(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/a"},"Action":"s3:*","Resource":"arn:aws:s3:::b1"}"#,
        );
        assert!(!is_public(&named));
        let deny = public.replace("Allow", "Deny");
        assert!(!is_public(&deny));
    }
}
