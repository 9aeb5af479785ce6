//! The SSE decision: which encryption a write gets, decided once from what its headers ask
//! for and the bucket's default, and handed unchanged to authorization (the
//! `sealgate:Effective*` policy keys) and to the write itself, so a policy can never
//! authorize one encryption while another is applied.

use std::collections::BTreeMap;

use super::kms_keys::{AWS_S3_ALIAS, KmsRequest};
use super::{CustomerKey, ObjectError, ObjectService, Result, SseRequest};
use crate::bucket_settings::BucketEncryption;
use crate::catalog::Sse;

/// What a write's SSE headers ask for, already checked by the edge (SSE-C key and MD5,
/// TLS, no mixing of SSE types).
#[derive(Clone)]
pub enum SseAsked {
    /// No SSE header: the bucket's default applies.
    BucketDefault,
    S3,
    Kms {
        /// Key id, key ARN, alias or alias ARN; `None`: the account's `alias/aws/s3`.
        key_id: Option<String>,
        /// The caller's encryption context (no `aws:` keys).
        context: BTreeMap<String, String>,
    },
    C(CustomerKey),
}

/// The encryption a write will actually get, in the terms of the `sealgate:Effective*`
/// policy keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveEncryption {
    /// `AES256`, `aws:kms` or `SSE-C`.
    pub algorithm: &'static str,
    /// The key ARN for SSE-KMS. Before the account's AWS managed key exists, the ARN of
    /// `alias/aws/s3` stands in for it.
    pub kms_key_arn: Option<String>,
}

impl EffectiveEncryption {
    /// The encryption of a stored version or multipart upload.
    pub fn of(sse: &Sse) -> EffectiveEncryption {
        match sse {
            Sse::S3 => EffectiveEncryption {
                algorithm: "AES256",
                kms_key_arn: None,
            },
            Sse::C => EffectiveEncryption {
                algorithm: "SSE-C",
                kms_key_arn: None,
            },
            Sse::Kms { key_arn, .. } => EffectiveEncryption {
                algorithm: "aws:kms",
                kms_key_arn: Some(key_arn.clone()),
            },
        }
    }
}

/// A decided write encryption: what the write applies and what authorization saw.
#[derive(Clone)]
pub struct WriteEncryption {
    pub sse: SseRequest,
    pub effective: EffectiveEncryption,
}

impl WriteEncryption {
    pub fn customer_key(&self) -> Option<&CustomerKey> {
        self.sse.customer_key()
    }
}

impl ObjectService {
    /// Decides a write's encryption: its headers, else the bucket's default. A KMS key is
    /// resolved to its ARN here, once, and the write uses that ARN, so an alias moved
    /// between authorization and write cannot change the key. A key that cannot be
    /// resolved stays as named and fails the write as the KMS answers (not before
    /// authorization has had its say). `bucket_key` is the request's
    /// `x-amz-server-side-encryption-bucket-key-enabled`.
    pub async fn decide_encryption(
        &self,
        asked: SseAsked,
        bucket_key: Option<bool>,
        default: &BucketEncryption,
    ) -> Result<WriteEncryption> {
        let kms = |key_id: Option<String>, context| KmsRequest {
            key_id,
            context,
            bucket_key: bucket_key.unwrap_or(default.is_kms() && default.bucket_key_enabled),
        };
        let sse = match asked {
            SseAsked::C(key) => {
                if default.blocks_sse_c() {
                    return Err(ObjectError::SseCBlocked);
                }
                SseRequest::C(key)
            }
            SseAsked::S3 => SseRequest::S3,
            SseAsked::Kms { key_id, context } => SseRequest::Kms(kms(key_id, context)),
            SseAsked::BucketDefault if default.is_kms() => {
                SseRequest::Kms(kms(default.kms_master_key_id.clone(), BTreeMap::new()))
            }
            SseAsked::BucketDefault => SseRequest::S3,
        };
        let (sse, effective) = match sse {
            SseRequest::Kms(mut req) => {
                let (resolved, arn) = self.resolve_kms_key(req.key_id.as_deref()).await;
                req.key_id = resolved;
                (
                    SseRequest::Kms(req),
                    EffectiveEncryption {
                        algorithm: "aws:kms",
                        kms_key_arn: Some(arn),
                    },
                )
            }
            SseRequest::S3 => (SseRequest::S3, EffectiveEncryption::of(&Sse::S3)),
            c @ SseRequest::C(_) => (c, EffectiveEncryption::of(&Sse::C)),
        };
        Ok(WriteEncryption { sse, effective })
    }

    /// (what the write names, the ARN policies see) for a key reference. The account's
    /// AWS managed key is created by the write that first needs it, never by a decision
    /// (which may yet be refused): until then the write names the alias and policies see
    /// the alias ARN.
    async fn resolve_kms_key(&self, key_ref: Option<&str>) -> (Option<String>, String) {
        let Ok(link) = self.kms_link() else {
            let named = key_ref.unwrap_or(AWS_S3_ALIAS).to_owned();
            return (key_ref.map(str::to_owned), named);
        };
        let kms = &link.kms;
        let alias_arn = kms.alias_arn(AWS_S3_ALIAS);
        let key_ref = key_ref.unwrap_or(AWS_S3_ALIAS);
        if key_ref == AWS_S3_ALIAS || key_ref == alias_arn {
            return match kms.alias_key(AWS_S3_ALIAS) {
                Some(entry) => {
                    let arn = entry.record.arn();
                    (Some(arn.clone()), arn)
                }
                None => (None, alias_arn),
            };
        }
        match kms.resolve(key_ref, true).await {
            Ok(entry) => {
                let arn = entry.record.arn();
                (Some(arn.clone()), arn)
            }
            Err(_) => (Some(key_ref.to_owned()), key_ref.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms_default(key: Option<&str>, bucket_key: bool) -> BucketEncryption {
        BucketEncryption {
            sse_algorithm: "aws:kms".into(),
            kms_master_key_id: key.map(str::to_owned),
            bucket_key_enabled: bucket_key,
            blocked_encryption_types: vec![],
        }
    }

    fn customer_key() -> CustomerKey {
        CustomerKey {
            key: zeroize::Zeroizing::new([7; 32]),
            key_md5: String::new(),
        }
    }

    #[tokio::test]
    async fn headers_win_else_the_bucket_default_and_both_see_the_same_key() {
        let (svc, _dir) = super::super::test_service();
        let asked = SseAsked::Kms {
            key_id: Some("alias/k".into()),
            context: BTreeMap::from([("team".into(), "blue".into())]),
        };
        let bucket_default = kms_default(Some("alias/default"), true);
        let d = svc
            .decide_encryption(asked, None, &bucket_default)
            .await
            .unwrap();
        let SseRequest::Kms(req) = &d.sse else {
            panic!("aws:kms header")
        };
        assert_eq!(req.key_id.as_deref(), Some("alias/k"));
        assert!(req.bucket_key, "the bucket's BucketKeyEnabled applies");
        assert_eq!(req.context.get("team").map(String::as_str), Some("blue"));
        assert_eq!(d.effective.algorithm, "aws:kms");
        assert_eq!(d.effective.kms_key_arn.as_deref(), Some("alias/k"));

        let d = svc
            .decide_encryption(SseAsked::BucketDefault, Some(false), &bucket_default)
            .await
            .unwrap();
        let SseRequest::Kms(req) = &d.sse else {
            panic!("bucket default")
        };
        assert_eq!(req.key_id.as_deref(), Some("alias/default"));
        assert!(!req.bucket_key, "the request's header overrides the bucket");
        assert_eq!(d.effective.kms_key_arn.as_deref(), Some("alias/default"));

        let d = svc
            .decide_encryption(SseAsked::BucketDefault, None, &BucketEncryption::default())
            .await
            .unwrap();
        assert!(matches!(d.sse, SseRequest::S3));
        assert_eq!(d.effective, EffectiveEncryption::of(&Sse::S3));
    }

    #[tokio::test]
    async fn sse_c_is_refused_where_the_bucket_blocks_it() {
        let (svc, _dir) = super::super::test_service();
        let blocking = BucketEncryption {
            blocked_encryption_types: vec!["SSE-C".into()],
            ..BucketEncryption::default()
        };
        let refused = svc
            .decide_encryption(SseAsked::C(customer_key()), None, &blocking)
            .await;
        assert!(matches!(refused, Err(ObjectError::SseCBlocked)));
        let allowed = svc
            .decide_encryption(
                SseAsked::C(customer_key()),
                None,
                &BucketEncryption::default(),
            )
            .await
            .unwrap();
        assert_eq!(allowed.effective.algorithm, "SSE-C");
        assert!(allowed.customer_key().is_some());
    }
}
