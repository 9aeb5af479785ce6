//! SigV4 verification for the KMS and IAM edges. s3s checks S3 signatures only (it rejects
//! other services and wants `x-amz-content-sha256`, which KMS and IAM clients don't send),
//! so those edges check their own: the canonical request over the method, path, query,
//! signed headers and the SHA-256 of the body. Each edge names the failures its own way.

use std::borrow::Cow;

use hmac::Mac as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use time::macros::format_description;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const MAX_SKEW_SECS: i64 = 15 * 60;

/// The parts of an Authorization header.
#[derive(Debug)]
pub(crate) struct Authorization<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

/// Why a request's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The Authorization header or X-Amz-Date is missing or malformed.
    #[error("{0}")]
    Incomplete(String),
    /// Well formed, but the signature, its date or its payload hash does not hold.
    #[error("{0}")]
    Invalid(String),
}

impl SigV4Error {
    pub fn message(&self) -> &str {
        match self {
            SigV4Error::Incomplete(m) | SigV4Error::Invalid(m) => m,
        }
    }
}

fn incomplete(msg: &str) -> SigV4Error {
    SigV4Error::Incomplete(msg.to_owned())
}

fn invalid(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::Invalid(msg.into())
}

pub(crate) fn parse_authorization(header: &str) -> Result<Authorization<'_>, SigV4Error> {
    let rest = header.strip_prefix(ALGORITHM).ok_or_else(|| {
        incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm")
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(incomplete(
            "Credential must have the form AKID/DATE/REGION/SERVICE/aws4_request",
        ));
    }
    Ok(Authorization {
        access_key: scope[0],
        date: scope[1],
        region: scope[2],
        service: scope[3],
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = crate::crypto::hmac_sha256(key);
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// What SigV4 leaves unencoded in a query component: RFC 3986's unreserved characters.
/// Everything else is `%XY` in upper-case hex, a space `%20` (never `+`).
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// In the path, `/` separates segments and stays as it is.
const PATH: &AsciiSet = &QUERY_COMPONENT.remove(b'/');

/// A component as the client sent it, decoded and encoded again the one way SigV4 wants.
/// A `+` is a plus sign here, not a space: the query is not form data.
fn canonical_encoding(sent: &str, set: &'static AsciiSet) -> String {
    let raw: Cow<'_, [u8]> = percent_decode_str(sent).into();
    percent_encode(&raw, set).to_string()
}

fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                canonical_encoding(k, QUERY_COMPONENT),
                canonical_encoding(v, QUERY_COMPONENT),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn header_value(headers: &http::HeaderMap, name: &str) -> String {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    values.join(",")
}

/// Checks a request's signature with the caller's secret; `now` bounds the clock skew.
pub(crate) fn verify(
    auth: &Authorization<'_>,
    secret_key: &str,
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), SigV4Error> {
    if !auth.signed_headers.contains(&"host") {
        return Err(invalid("'Host' must be a signed header"));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete("Authorization requires an X-Amz-Date header"))?;
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed_at = time::PrimitiveDateTime::parse(amz_date, fmt)
        .map_err(|_| incomplete("X-Amz-Date must have the form YYYYMMDDTHHMMSSZ"))?
        .assume_utc();
    if !amz_date.starts_with(auth.date) {
        return Err(invalid(
            "Credential date does not match the date of X-Amz-Date",
        ));
    }
    let skew = (now - signed_at).whole_seconds();
    if skew.abs() > MAX_SKEW_SECS {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier or later than 15 minutes from the server's time."
        )));
    }
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        method.as_str(),
        canonical_encoding(uri.path(), PATH),
        canonical_query(uri.query())
    );
    for name in &auth.signed_headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&header_value(headers, name));
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&auth.signed_headers.join(";"));
    canonical.push('\n');
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => h.to_owned(),
        None => hex::encode(Sha256::digest(body)),
    };
    canonical.push_str(&payload_hash);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret_key}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        return Err(invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    if payload_hash != "UNSIGNED-PAYLOAD" && payload_hash != hex::encode(Sha256::digest(body)) {
        return Err(invalid("The body does not match x-amz-content-sha256"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example: the IAM ListUsers GET request of the SigV4 guide.
    #[test]
    fn matches_the_aws_documentation_example() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let auth = parse_authorization(header).unwrap();
        assert_eq!(
            (auth.access_key, auth.region, auth.service),
            ("AKIDEXAMPLE", "us-east-1", "iam")
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let uri: http::Uri = "/?Action=ListUsers&Version=2010-05-08".parse().unwrap();
        let now = time::macros::datetime!(2015-08-30 12:40 UTC);
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        verify(&auth, secret, &http::Method::GET, &uri, &headers, b"", now).unwrap();
        assert!(matches!(
            verify(&auth, "wrong", &http::Method::GET, &uri, &headers, b"", now).unwrap_err(),
            SigV4Error::Invalid(_)
        ));
        let late = time::macros::datetime!(2015-08-30 13:00 UTC);
        assert!(
            verify(&auth, secret, &http::Method::GET, &uri, &headers, b"", late)
                .unwrap_err()
                .message()
                .starts_with("Signature expired")
        );
    }

    #[test]
    fn malformed_headers_are_incomplete_signatures() {
        for bad in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=a/b/c, Signature=x",
        ] {
            assert!(matches!(
                parse_authorization(bad).unwrap_err(),
                SigV4Error::Incomplete(_)
            ));
        }
    }

    #[test]
    fn components_are_encoded_as_sigv4_wants() {
        // A `+` is a plus sign, sent raw or as %2B (form decoding would make it a space); a
        // space is %20, never `+`; unreserved characters stay, the rest is upper-case hex.
        assert_eq!(
            canonical_query(Some("Marker=a+b%2Bc&Name=x%20y&Path=%2fp~q&b=&a")),
            "Marker=a%2Bb%2Bc&Name=x%20y&Path=%2Fp~q&a=&b="
        );
        assert_eq!(
            canonical_encoding("/a b/%7Ec+/%C3%A9", PATH),
            "/a%20b/~c%2B/%C3%A9"
        );
    }

    /// A query value with a `+` in it, signed by the AWS SDK's signer, verifies.
    #[test]
    fn a_plus_in_a_query_value_signed_by_the_sdk_verifies() {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_smithy_runtime_api::client::identity::Identity;

        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let identity: Identity =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", secret, None, None, "test")
                .into();
        let signed_at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("iam")
            .time(signed_at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let url =
            "https://iam.amazonaws.com/?Action=ListUsers&Marker=a%2Bb%2F%3D&Version=2010-05-08";
        let request = SignableRequest::new(
            "GET",
            url,
            [("host", "iam.amazonaws.com")].into_iter(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        for (name, value) in instructions.headers() {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.insert(name, value.parse().unwrap());
        }
        let header = headers[http::header::AUTHORIZATION].to_str().unwrap();
        let auth = parse_authorization(header).unwrap();
        let uri: http::Uri = url.parse().unwrap();
        let now = time::macros::datetime!(2015-08-30 12:40 UTC);
        verify(&auth, secret, &http::Method::GET, &uri, &headers, b"", now).unwrap();
        let plus_as_space: http::Uri = url.replace("%2B", "%20").parse().unwrap();
        assert!(
            verify(
                &auth,
                secret,
                &http::Method::GET,
                &plus_as_space,
                &headers,
                b"",
                now
            )
            .is_err()
        );
    }
}
