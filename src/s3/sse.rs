//! Server-side-encryption request headers: what a request asks for, checked the way S3
//! checks it (SSE-C only over TLS, key and MD5 together, no mixing with other SSE types).

use s3s::dto::{SSECustomerAlgorithm, SSECustomerKey, SSECustomerKeyMD5, ServerSideEncryption};
use s3s::{S3Error, S3Result, s3_error};
use zeroize::Zeroizing;

use crate::objects::{CustomerKey, SseRequest};

/// The three SSE-C headers of one role (the object itself, or a copy source).
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

    /// What a write asks for: SSE-C, SSE-S3 (explicitly or by default).
    pub fn for_write(
        &self,
        sse: Option<&ServerSideEncryption>,
        customer: CustomerHeaders<'_>,
        kms_key_id: Option<&str>,
        transport: Transport,
    ) -> S3Result<SseRequest> {
        let customer = self.customer_key(customer, transport)?;
        match (sse.map(ServerSideEncryption::as_str), customer) {
            (Some(_), Some(_)) => Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
            )),
            (None, Some(k)) => Ok(SseRequest::C(k)),
            (Some(ServerSideEncryption::AES256) | None, None) => {
                if kms_key_id.is_some() {
                    return Err(s3_error!(
                        InvalidArgument,
                        "x-amz-server-side-encryption-aws-kms-key-id is only valid with x-amz-server-side-encryption: aws:kms"
                    ));
                }
                Ok(SseRequest::S3)
            }
            (Some(ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE), None) => {
                Err(kms_unavailable())
            }
            (Some(other), None) => Err(s3_error!(
                InvalidArgument,
                "The encryption method specified is not supported: {other}"
            )),
        }
    }
}

pub fn kms_unavailable() -> S3Error {
    s3_error!(
        NotImplemented,
        "SSE-KMS is not available on this gateway yet; use SSE-S3 (AES256) or SSE-C"
    )
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
            .for_write(
                Some(&aes),
                headers(Some("AES256"), Some(KEY_B64), Some(KEY_MD5)),
                None,
                t,
            )
            .err()
            .unwrap();
        assert_eq!(code(err), "InvalidArgument");
        assert!(matches!(
            p.for_write(None, headers(None, None, None), None, t)
                .unwrap(),
            SseRequest::S3
        ));
        let bogus = ServerSideEncryption::from("rot13".to_owned());
        assert_eq!(
            code(
                p.for_write(Some(&bogus), headers(None, None, None), None, t)
                    .err()
                    .unwrap()
            ),
            "InvalidArgument"
        );
    }
}
