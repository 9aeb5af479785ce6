//! ACLs in authorization: what a bucket's ACL and an object's ACL grant the caller, in a
//! bucket whose Object Ownership enables them. The grants join the bucket policy's as
//! [`ResourceGrants`]; Block Public Access's IgnorePublicAcls drops the public ones.

use crate::bucket_settings::acl::{
    Acl, AclCaller, BucketAccessControl, bucket_permission, object_permission,
};
use crate::catalog::{Bucket, ObjectMeta};
use crate::policy::{Principal, PrincipalKind, ResourceGrants};
use s3s::S3Result;

/// A bucket's Object Ownership, ACL and the Block Public Access settings about ACLs, as
/// authorization found them; handed to the operation (request extension), which checks a
/// write's ACL against the same record.
#[derive(Debug, Clone)]
pub struct BucketAcls {
    pub control: BucketAccessControl,
    /// The bucket owner's account.
    pub owner: String,
    /// BlockPublicAcls: a request carrying a public ACL is refused.
    pub block_public: bool,
    /// IgnorePublicAcls: public grants in place count for nothing.
    pub ignore_public: bool,
}

impl BucketAcls {
    /// A bucket that does not exist grants nothing by ACL.
    pub(super) fn disabled(owner: &str) -> BucketAcls {
        BucketAcls {
            control: BucketAccessControl::default(),
            owner: owner.to_owned(),
            block_public: true,
            ignore_public: true,
        }
    }

    pub(super) fn of(bucket: &Bucket, owner: &str) -> S3Result<BucketAcls> {
        let block = bucket.public_access_block()?;
        Ok(BucketAcls {
            control: bucket.access_control()?,
            owner: owner.to_owned(),
            block_public: block.is_some_and(|b| b.block_public_acls),
            ignore_public: block.is_some_and(|b| b.ignore_public_acls),
        })
    }

    pub fn enabled(&self) -> bool {
        self.control.acls_enabled()
    }

    /// Whether an object's ACL may grant `action`: worth looking the version up for.
    pub(super) fn object_acl_counts(&self, action: &str) -> bool {
        self.enabled() && object_permission(action).is_some()
    }

    /// The ACL of the version with metadata `meta`, when it counts; none is the bucket
    /// owner's FULL_CONTROL.
    pub(super) fn object_acl(&self, meta: Option<&ObjectMeta>) -> Option<Acl> {
        meta.and_then(|m| m.acl.clone()).filter(|_| self.enabled())
    }

    /// What the bucket's ACL and `object_acl` grant `principal` for `action`.
    pub(super) fn grants(
        &self,
        principal: &Principal,
        action: &str,
        object_acl: Option<&Acl>,
    ) -> ResourceGrants {
        if !self.enabled() {
            return ResourceGrants::default();
        }
        let canonical = match principal.kind {
            PrincipalKind::Anonymous => None,
            _ => Some(super::canonical_id(&principal.account)),
        };
        let caller = AclCaller {
            canonical_id: canonical.as_deref(),
        };
        let bucket_acl = self
            .control
            .acl
            .clone()
            .unwrap_or_else(|| Acl::private(&self.owner, &super::canonical_id(&self.owner)));
        let mut grants = ResourceGrants::default();
        let pairs = [
            (bucket_permission(action), Some(&bucket_acl)),
            (object_permission(action), object_acl),
        ];
        for (permission, acl) in pairs {
            if let (Some(p), Some(acl)) = (permission, acl) {
                let reach = acl.reach(caller, p, self.ignore_public);
                grants.account |= reach.account;
                grants.anyone |= reach.anyone;
            }
        }
        grants
    }
}

/// The account owning the object an object-ACL action acts on, when that is not the bucket
/// owner (an object written under ObjectWriter by another account).
pub(super) fn foreign_owner<'a>(
    bucket_owner: &str,
    action: &str,
    object_acl: Option<&'a Acl>,
) -> Option<&'a str> {
    let owner = object_acl?.owner.as_str();
    (object_permission(action).is_some() && owner != bucket_owner).then_some(owner)
}
