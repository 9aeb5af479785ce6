//! A bucket's default encryption (`PutBucketEncryption`): the SSE a write without SSE
//! headers gets, whether S3 Bucket Keys apply, and the encryption types the bucket refuses.

use serde::{Deserialize, Serialize};

use super::StoredSetting;

/// `BlockedEncryptionTypes` value that refuses SSE-C writes.
pub(crate) const SSE_C: &str = "SSE-C";
pub(crate) const AES256: &str = "AES256";
pub(crate) const AWS_KMS: &str = "aws:kms";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256` or `aws:kms`.
    pub sse_algorithm: String,
    pub kms_master_key_id: Option<String>,
    pub bucket_key_enabled: bool,
    pub blocked_encryption_types: Vec<String>,
}

/// Every bucket has a default: SSE-S3, as on S3 since 2023.
impl Default for BucketEncryption {
    fn default() -> Self {
        BucketEncryption {
            sse_algorithm: AES256.into(),
            kms_master_key_id: None,
            bucket_key_enabled: false,
            blocked_encryption_types: Vec::new(),
        }
    }
}

impl BucketEncryption {
    pub fn is_kms(&self) -> bool {
        self.sse_algorithm == AWS_KMS
    }

    pub fn blocks_sse_c(&self) -> bool {
        self.blocked_encryption_types.iter().any(|t| t == SSE_C)
    }
}

impl StoredSetting for BucketEncryption {
    const NAME: &'static str = "bucket encryption";
    const VERSION: u32 = 1;
}
