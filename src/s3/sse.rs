//! Server-side-encryption request headers: what a request asks for, checked the way S3
//! checks it (SSE-C only over TLS, key and MD5 together, no mixing with other SSE types).

use s3s::dto::{SSECustomerAlgorithm, SSECustomerKey, SSECustomerKeyMD5, ServerSideEncryption};
use s3s::{S3Error, S3Result, s3_error};
use zeroize::Zeroizing;

use std::collections::BTreeMap;

use crate::objects::{CustomerKey, SseAsked};

/// The three SSE-C headers of one role (the object itself, or a copy source).
#[derive(Clone, Copy)]
pub struct CustomerHeaders<'a> {
    pub algorithm: Option<&'a SSECustomerAlgorithm>,
    pub key: Option<&'a SSECustomerKey>,
    pub key_md5: Option<&'a SSECustomerKeyMD5>,
}

/// The SSE-C headers of an operation's input: `customer_headers!(input)` for the object
/// itself, `customer_headers!(copy_source input)` for a copy source.
macro_rules! customer_headers {
    (copy_source $input:expr) => {
        $crate::s3::sse::CustomerHeaders {
            algorithm: $input.copy_source_sse_customer_algorithm.as_ref(),
            key: $input.copy_source_sse_customer_key.as_ref(),
            key_md5: $input.copy_source_sse_customer_key_md5.as_ref(),
        }
    };
    ($input:expr) => {
        $crate::s3::sse::CustomerHeaders {
            algorithm: $input.sse_customer_algorithm.as_ref(),
            key: $input.sse_customer_key.as_ref(),
            key_md5: $input.sse_customer_key_md5.as_ref(),
        }
    };
}
pub(crate) use customer_headers;

/// Whether the connection is TLS, as the listener saw it (inserted into request extensions).
#[derive(Clone, Copy, Debug)]
pub struct Transport {
    pub tls: bool,
}

pub struct SsePolicy {
    pub allow_sse_c_over_http: bool,
}

impl SsePolicy {
    /// Parses an SSE-C key for reading (GET/HEAD/copy source); `None` when none is sent.
    pub fn customer_key(
        &self,
        h: CustomerHeaders<'_>,
        transport: Transport,
    ) -> S3Result<Option<CustomerKey>> {
        if h.algorithm.is_none() && h.key.is_none() && h.key_md5.is_none() {
            return Ok(None);
        }
        if !transport.tls && !self.allow_sse_c_over_http {
            return Err(s3_error!(
                InvalidRequest,
                "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
            ));
        }
        let Some(algorithm) = h.algorithm else {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
            ));
        };
        if algorithm.as_str() != "AES256" {
            return Err(s3_error!(
                InvalidEncryptionAlgorithmError,
                "The encryption request you specified is not valid. The valid value is AES256."
            ));
        }
        let Some(key_b64) = h.key else {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
            ));
        };
        let key = crate::objects::digest::b64_decode(key_b64)
            .map(Zeroizing::new)
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "The secret key was invalid for the specified algorithm."
                )
            })?;
        let computed_md5 = {
            use s3s::crypto::{Checksum as _, Md5};
            crate::objects::digest::b64(&Md5::checksum(&key))
        };
        let Some(stated_md5) = h.key_md5 else {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
            ));
        };
        if stated_md5.trim() != computed_md5 {
            return Err(s3_error!(
                InvalidArgument,
                "The calculated MD5 hash of the key did not match the hash that was provided."
            ));
        }
        let mut fixed = Zeroizing::new([0u8; 32]);
        fixed.copy_from_slice(&key);
        Ok(Some(CustomerKey {
            key: fixed,
            key_md5: computed_md5,
        }))
    }

    /// What a write's SSE headers ask for, checked as S3 checks them; the object service
    /// decides what the write gets from this and the bucket's default.
    pub fn asked_for_write(
        &self,
        sse: Option<&ServerSideEncryption>,
        customer: CustomerHeaders<'_>,
        kms: KmsHeaders<'_>,
        transport: Transport,
    ) -> S3Result<SseAsked> {
        let customer = self.customer_key(customer, transport)?;
        let requested = sse.map(ServerSideEncryption::as_str);
        if requested != Some(ServerSideEncryption::AWS_KMS) {
            if kms.key_id.is_some() {
                return Err(s3_error!(
                    InvalidArgument,
                    "x-amz-server-side-encryption-aws-kms-key-id is only valid with x-amz-server-side-encryption: aws:kms"
                ));
            }
            if kms.context.is_some() {
                return Err(s3_error!(
                    InvalidArgument,
                    "x-amz-server-side-encryption-context is only valid with x-amz-server-side-encryption: aws:kms"
                ));
            }
        }
        match (requested, customer) {
            (Some(_), Some(_)) => Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
            )),
            (None, Some(k)) => Ok(SseAsked::C(k)),
            (Some(ServerSideEncryption::AES256), None) => Ok(SseAsked::S3),
            (Some(ServerSideEncryption::AWS_KMS), None) => Ok(SseAsked::Kms {
                key_id: kms.key_id.map(str::to_owned),
                context: parse_context(kms.context)?,
            }),
            (Some(ServerSideEncryption::AWS_KMS_DSSE), None) => Err(dsse_refused()),
            (Some(other), None) => Err(s3_error!(
                InvalidArgument,
                "The encryption method specified is not supported: {other}"
            )),
            (None, None) => Ok(SseAsked::BucketDefault),
        }
    }
}

/// The SSE-KMS headers of a write.
#[derive(Default, Clone, Copy)]
pub struct KmsHeaders<'a> {
    pub key_id: Option<&'a str>,
    /// `x-amz-server-side-encryption-context`: base64 of a JSON string map.
    pub context: Option<&'a str>,
    pub bucket_key: Option<bool>,
}

macro_rules! kms_headers {
    ($input:expr) => {
        $crate::s3::sse::KmsHeaders {
            key_id: $input.ssekms_key_id.as_deref(),
            context: $input.ssekms_encryption_context.as_deref(),
            bucket_key: $input.bucket_key_enabled,
        }
    };
}
pub(crate) use kms_headers;

/// Dual-layer SSE-KMS would need two independent layers of encryption with separate keys;
/// sealgate does not offer it rather than label single-layer objects as dual-layer.
pub fn dsse_refused() -> S3Error {
    s3_error!(
        NotImplemented,
        "aws:kms:dsse (dual-layer SSE-KMS) is not supported by this gateway; use aws:kms"
    )
}

/// The caller's encryption context: base64 JSON of string keys and values. `aws:` keys
/// are S3's own (`aws:s3:arn`) and cannot be set by a caller.
pub fn parse_context(header: Option<&str>) -> S3Result<BTreeMap<String, String>> {
    let Some(text) = header else {
        return Ok(BTreeMap::new());
    };
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map"
        )
    };
    let json = crate::objects::digest::b64_decode(text.trim()).ok_or_else(invalid)?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if let Some(k) = map
        .keys()
        .find(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(s3_error!(
            InvalidArgument,
            "Encryption context key {k} uses the reserved prefix aws:"
        ));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef0123456789abcdef"
    const KEY_MD5: &str = "hRasmdxgYDKV3nvbahU1MA==";

    fn headers<'a>(
        alg: Option<&'a str>,
        key: Option<&'a str>,
        md5: Option<&'a str>,
    ) -> CustomerHeaders<'a> {
        // The DTO types are plain strings or string newtypes; leak is fine in tests.
        CustomerHeaders {
            algorithm: alg.map(|a| &*Box::leak(Box::new(SSECustomerAlgorithm::from(a.to_owned())))),
            key: key.map(|k| &*Box::leak(Box::new(k.to_owned()))),
            key_md5: md5.map(|m| &*Box::leak(Box::new(m.to_owned()))),
        }
    }

    fn code(e: S3Error) -> String {
        e.code().as_str().to_owned()
    }

    #[test]
    fn customer_keys_are_checked_like_s3() {
        let p = SsePolicy {
            allow_sse_c_over_http: false,
        };
        let tls = Transport { tls: true };
        let k = p
            .customer_key(headers(Some("AES256"), Some(KEY_B64), Some(KEY_MD5)), tls)
            .unwrap()
            .unwrap();
        assert_eq!(&k.key[..], b"0123456789abcdef0123456789abcdef");
        let plain = Transport { tls: false };
        assert_eq!(
            code(
                p.customer_key(headers(Some("AES256"), Some(KEY_B64), Some(KEY_MD5)), plain)
                    .err()
                    .unwrap()
            ),
            "InvalidRequest"
        );
        assert_eq!(
            code(
                p.customer_key(headers(None, Some(KEY_B64), Some(KEY_MD5)), tls)
                    .err()
                    .unwrap()
            ),
            "InvalidArgument"
        );
        assert_eq!(
            code(
                p.customer_key(headers(Some("AES256"), Some(KEY_B64), Some("AAAA")), tls)
                    .err()
                    .unwrap()
            ),
            "InvalidArgument"
        );
        assert_eq!(
            code(
                p.customer_key(headers(Some("AES256"), Some("c2hvcnQ="), None), tls)
                    .err()
                    .unwrap()
            ),
            "InvalidArgument"
        );
        assert!(
            p.customer_key(headers(None, None, None), plain)
                .unwrap()
                .is_none()
        );
        let open = SsePolicy {
            allow_sse_c_over_http: true,
        };
        assert!(
            open.customer_key(headers(Some("AES256"), Some(KEY_B64), Some(KEY_MD5)), plain)
                .is_ok()
        );
    }

    #[test]
    fn sse_c_cannot_be_mixed_with_another_sse() {
        let p = SsePolicy {
            allow_sse_c_over_http: true,
        };
        let t = Transport { tls: false };
        let aes = ServerSideEncryption::from_static(ServerSideEncryption::AES256);
        let err = p
            .asked_for_write(
                Some(&aes),
                headers(Some("AES256"), Some(KEY_B64), Some(KEY_MD5)),
                KmsHeaders::default(),
                t,
            )
            .err()
            .unwrap();
        assert_eq!(code(err), "InvalidArgument");
        assert!(matches!(
            p.asked_for_write(None, headers(None, None, None), KmsHeaders::default(), t)
                .unwrap(),
            SseAsked::BucketDefault
        ));
        let bogus = ServerSideEncryption::from("rot13".to_owned());
        assert_eq!(
            code(
                p.asked_for_write(
                    Some(&bogus),
                    headers(None, None, None),
                    KmsHeaders::default(),
                    t
                )
                .err()
                .unwrap()
            ),
            "InvalidArgument"
        );
    }

    #[test]
    fn sse_kms_headers_are_read_and_checked() {
        let p = SsePolicy {
            allow_sse_c_over_http: true,
        };
        let t = Transport { tls: false };
        let none = || headers(None, None, None);
        let kms = ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS);
        let ctx = crate::objects::digest::b64(br#"{"team":"blue"}"#);
        let h = KmsHeaders {
            key_id: Some("alias/k"),
            context: Some(&ctx),
            bucket_key: None,
        };
        let Ok(SseAsked::Kms { key_id, context }) = p.asked_for_write(Some(&kms), none(), h, t)
        else {
            panic!("aws:kms header")
        };
        assert_eq!(key_id.as_deref(), Some("alias/k"));
        assert_eq!(context.get("team").map(String::as_str), Some("blue"));
        let aes = ServerSideEncryption::from_static(ServerSideEncryption::AES256);
        let err = p.asked_for_write(Some(&aes), none(), h, t).err().unwrap();
        assert_eq!(code(err), "InvalidArgument");
        let dsse = ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS_DSSE);
        let err = p
            .asked_for_write(Some(&dsse), none(), KmsHeaders::default(), t)
            .err()
            .unwrap();
        assert_eq!(code(err), "NotImplemented");
    }

    #[test]
    fn encryption_context_must_be_a_base64_string_map_without_aws_keys() {
        let b = |s: &str| crate::objects::digest::b64(s.as_bytes());
        assert!(parse_context(None).unwrap().is_empty());
        assert_eq!(parse_context(Some(&b(r#"{"a":"1"}"#))).unwrap().len(), 1);
        for bad in [r#"{"a":1}"#, "[]", "not json", r#"{"aws:s3:arn":"x"}"#] {
            assert!(parse_context(Some(&b(bad))).is_err(), "{bad}");
        }
        assert!(parse_context(Some("***")).is_err());
    }
}
