//! Who is calling: the identities' credentials for SigV4, and the region scope S3 checks
//! of every request before it is authorized.

use std::sync::Arc;

use http::HeaderMap;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::identity::Identities;

/// SigV4 secrets of every identity the gateway knows (the root user and IAM users).
pub struct IdentityAuth {
    identities: Arc<Identities>,
}

impl IdentityAuth {
    pub fn new(identities: Arc<Identities>) -> IdentityAuth {
        IdentityAuth { identities }
    }
}

#[async_trait::async_trait]
impl S3Auth for IdentityAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.identities.lookup(access_key).await? {
            Some(id) => Ok(SecretKey::from(id.secret_key.clone())),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// The region named in a SigV4 credential scope (`AK/DATE/REGION/SERVICE/aws4_request`),
/// from the Authorization header or a presigned URL's `X-Amz-Credential`.
fn signed_region(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let from_header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or_default().to_owned());
    let from_query = || {
        form_urlencoded::parse(query?.as_bytes())
            .find_map(|(k, v)| (k == "X-Amz-Credential").then(|| v.into_owned()))
    };
    let scope = from_header.or_else(from_query)?;
    scope.split('/').nth(2).map(str::to_owned)
}

/// Refuses requests signed for another region, with S3's error and message.
pub(super) fn check_region(
    expected: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> S3Result<()> {
    match signed_region(headers, query) {
        Some(region) if region != expected => Err(s3_error!(
            AuthorizationHeaderMalformed,
            "The authorization header is malformed; the region '{region}' is wrong; expecting '{expected}'"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_header_or_presigned_query() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AK/20261123/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        assert_eq!(signed_region(&h, None).as_deref(), Some("eu-west-1"));
        assert!(check_region("us-east-1", &h, None).is_err());
        assert!(check_region("eu-west-1", &h, None).is_ok());
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261123%2Fus-east-1%2Fs3%2Faws4_request";
        assert_eq!(
            signed_region(&HeaderMap::new(), Some(q)).as_deref(),
            Some("us-east-1")
        );
        assert!(check_region("us-east-1", &HeaderMap::new(), None).is_ok());
    }
}
