//! SigV4 verification for KMS requests. s3s checks S3 signatures only (it rejects service
//! `kms` and wants `x-amz-content-sha256`, which KMS clients don't send), so the KMS edge
//! checks its own: the canonical request over the method, path, query, signed headers and
//! the SHA-256 of the body.

use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use time::macros::format_description;

use super::errors::KmsError;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const MAX_SKEW_SECS: i64 = 15 * 60;

/// The parts of an Authorization header.
#[derive(Debug)]
pub struct Authorization<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

fn incomplete(msg: &str) -> KmsError {
    KmsError::incomplete_signature(msg.to_owned())
}

pub fn parse_authorization(header: &str) -> Result<Authorization<'_>, KmsError> {
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
    // Infallible: HMAC takes keys of any length.
    let mut m = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC key");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding of a path or query component, as SigV4 wants it.
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
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
pub fn verify(
    auth: &Authorization<'_>,
    secret_key: &str,
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), KmsError> {
    if !auth.signed_headers.contains(&"host") {
        return Err(KmsError::invalid_signature(
            "'Host' must be a signed header",
        ));
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
        return Err(KmsError::invalid_signature(
            "Credential date does not match the date of X-Amz-Date",
        ));
    }
    let skew = (now - signed_at).whole_seconds();
    if skew.abs() > MAX_SKEW_SECS {
        return Err(KmsError::invalid_signature(format!(
            "Signature expired: {amz_date} is now earlier or later than 15 minutes from the server's time."
        )));
    }
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        method.as_str(),
        uri_encode(&percent_decode(uri.path()), true),
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
        return Err(KmsError::invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    if payload_hash != "UNSIGNED-PAYLOAD" && payload_hash != hex::encode(Sha256::digest(body)) {
        return Err(KmsError::invalid_signature(
            "The body does not match x-amz-content-sha256",
        ));
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
        assert_eq!(
            verify(&auth, "wrong", &http::Method::GET, &uri, &headers, b"", now)
                .unwrap_err()
                .code(),
            "InvalidSignatureException"
        );
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
            assert_eq!(
                parse_authorization(bad).unwrap_err().code(),
                "IncompleteSignatureException"
            );
        }
    }
}
