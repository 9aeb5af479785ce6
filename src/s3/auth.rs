//! Who is calling: the account's credentials for SigV4, and the checks S3 makes of every
//! signed request before it is authorized (a known access key, the right region scope).

use http::HeaderMap;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

/// The account's root user; IAM users arrive with the policy work.
pub struct RootAuth {
    access_key: String,
    secret_key: SecretKey,
}

impl RootAuth {
    pub fn new(access_key: String, secret_key: String) -> RootAuth {
        RootAuth {
            access_key,
            secret_key: SecretKey::from(secret_key),
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for RootAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            Ok(self.secret_key.clone())
        } else {
            Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ))
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
        query?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == "X-Amz-Credential").then(|| v.replace("%2F", "/").replace("%2f", "/"))
        })
    };
    let scope = from_header.or_else(from_query)?;
    scope.split('/').nth(2).map(str::to_owned)
}

/// Refuses requests signed for another region, with S3's error and message.
pub fn check_region(expected: &str, headers: &HeaderMap, query: Option<&str>) -> S3Result<()> {
    match signed_region(headers, query) {
        Some(region) if region != expected => Err(s3_error!(
            AuthorizationHeaderMalformed,
            "The authorization header is malformed; the region '{region}' is wrong; expecting '{expected}'"
        )),
        _ => Ok(()),
    }
}

pub struct RequestChecks {
    pub region: String,
}

#[async_trait::async_trait]
impl S3Access for RequestChecks {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(
                AccessDenied,
                "Anonymous access is not allowed; sign the request"
            ));
        }
        check_region(&self.region, cx.headers(), cx.uri().query())
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
