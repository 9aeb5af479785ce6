//! A bucket's Block Public Access settings (`PutPublicAccessBlock`): which public grants,
//! by policy or by ACL, are refused when put and ignored when evaluated.

use serde::{Deserialize, Serialize};

use super::StoredSetting;

/// The four settings; a setting left out of a request is off, as on S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PublicAccessBlock {
    /// A request that carries a public ACL is refused.
    pub(crate) block_public_acls: bool,
    /// Public ACLs already in place are ignored.
    pub(crate) ignore_public_acls: bool,
    /// PutBucketPolicy with a public policy is refused.
    pub(crate) block_public_policy: bool,
    /// A public policy reaches only the bucket owner's account (and no one anonymous).
    pub(crate) restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// What S3 gives every new bucket since April 2023: everything blocked.
    pub(crate) const NEW_BUCKET: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
}

impl StoredSetting for PublicAccessBlock {
    const NAME: &'static str = "public access block";
    const VERSION: u32 = 1;
}
