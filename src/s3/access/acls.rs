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

    /// A version's stored ACL, when it counts (ACLs enabled); none is the bucket owner's
    /// FULL_CONTROL.
    pub fn in_force<'a>(&self, stored: Option<&'a Acl>) -> Option<&'a Acl> {
        stored.filter(|_| self.enabled())
    }

    /// The ACL of the version with metadata `meta`, when it counts.
    pub(super) fn object_acl(&self, meta: Option<&ObjectMeta>) -> Option<Acl> {
        self.in_force(meta.and_then(|m| m.acl.as_ref())).cloned()
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
        let private;
        let bucket_acl = match &self.control.acl {
            Some(acl) => acl,
            None => {
                private = Acl::private(&self.owner, &super::canonical_id(&self.owner));
                &private
            }
        };
        let mut grants = ResourceGrants::default();
        let pairs = [
            (bucket_permission(action), Some(bucket_acl)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_settings::acl::ObjectOwnership;
    use crate::s3::access::canonical_id;

    const OWNER: &str = "111122223333";
    const OTHER: &str = "444455556666";

    fn acls(
        ownership: ObjectOwnership,
        bucket_acl: Option<Acl>,
        ignore_public: bool,
    ) -> BucketAcls {
        BucketAcls {
            control: BucketAccessControl {
                ownership: Some(ownership),
                acl: bucket_acl,
            },
            owner: OWNER.to_owned(),
            block_public: false,
            ignore_public,
        }
    }

    fn canned(name: &str, owner: &str) -> Acl {
        Acl::canned(
            name,
            owner,
            &canonical_id(owner),
            Some(&canonical_id(OWNER)),
        )
        .unwrap()
    }

    #[test]
    fn disabled_acls_grant_nothing_even_when_stored() {
        let public = canned("public-read", OWNER);
        let b = acls(
            ObjectOwnership::BucketOwnerEnforced,
            Some(public.clone()),
            false,
        );
        let anon = Principal::anonymous();
        assert_eq!(
            b.grants(&anon, "s3:GetObject", Some(&public)),
            ResourceGrants::default()
        );
        assert!(
            b.object_acl(Some(&ObjectMeta {
                acl: Some(public),
                ..Default::default()
            }))
            .is_none()
        );
        assert!(!b.object_acl_counts("s3:GetObject"));
    }

    #[test]
    fn bucket_and_object_grants_map_to_their_actions() {
        let bucket_acl = Acl::from_grant_headers(
            OWNER,
            &[(
                crate::bucket_settings::acl::Permission::Write,
                &format!("id=\"{}\"", canonical_id(OTHER)),
            )],
        )
        .unwrap();
        let b = acls(ObjectOwnership::ObjectWriter, Some(bucket_acl), false);
        let other = Principal::root(OTHER);
        assert!(b.grants(&other, "s3:PutObject", None).account);
        assert!(!b.grants(&other, "s3:ListBucket", None).account);
        assert!(!b.grants(&other, "s3:GetObject", None).account);
        let public = canned("public-read", OWNER);
        let anon = Principal::anonymous();
        assert!(b.grants(&anon, "s3:GetObjectVersion", Some(&public)).anyone);
        assert!(!b.grants(&anon, "s3:GetObjectAcl", Some(&public)).anyone);
        let ignoring = acls(ObjectOwnership::ObjectWriter, None, true);
        assert!(!ignoring.grants(&anon, "s3:GetObject", Some(&public)).anyone);
    }

    #[test]
    fn objects_of_other_accounts_have_their_own_resource_account() {
        let theirs = canned("bucket-owner-read", OTHER);
        assert_eq!(
            foreign_owner(OWNER, "s3:GetObject", Some(&theirs)),
            Some(OTHER)
        );
        assert_eq!(foreign_owner(OWNER, "s3:DeleteObject", Some(&theirs)), None);
        assert_eq!(
            foreign_owner(OWNER, "s3:GetObject", Some(&canned("private", OWNER))),
            None
        );
        assert_eq!(foreign_owner(OWNER, "s3:GetObject", None), None);
    }
}
