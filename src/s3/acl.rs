//! Object Ownership and ACLs as S3 creates buckets today: `BucketOwnerEnforced`. ACLs are
//! disabled: the bucket owner owns every object and holds FULL_CONTROL, which is what
//! Get{Bucket,Object}Acl show; an ACL that only restates that (`private`,
//! `bucket-owner-full-control`, or a policy granting the owner FULL_CONTROL) is accepted
//! and changes nothing; any other is `400 AccessControlListNotSupported`. Access is decided
//! by IAM and bucket policies alone.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;

fn not_supported() -> s3s::S3Error {
    s3_error!(
        AccessControlListNotSupported,
        "The bucket does not allow ACLs"
    )
}

/// The canned ACLs that grant nothing beyond the owner's FULL_CONTROL.
fn owner_only(canned: &str) -> bool {
    matches!(canned, "private" | "bucket-owner-full-control")
}

/// Accepts a canned ACL and `x-amz-grant-*` headers (`grants`: whether any is set) only
/// when they restate what BucketOwnerEnforced gives the owner.
pub(super) fn check_acl_headers(canned: Option<&str>, grants: bool) -> S3Result<()> {
    if grants || canned.is_some_and(|c| !owner_only(c)) {
        return Err(not_supported());
    }
    Ok(())
}

/// Accepts an ACL document only when every grant in it is the owner's FULL_CONTROL.
fn check_acl_policy(policy: Option<&AccessControlPolicy>, owner: &Owner) -> S3Result<()> {
    let owner_full_control = |g: &Grant| {
        g.permission.as_ref().map(Permission::as_str) == Some(Permission::FULL_CONTROL)
            && g.grantee
                .as_ref()
                .is_some_and(|e| e.type_.as_str() == Type::CANONICAL_USER && e.id == owner.id)
    };
    match policy {
        Some(p) if !p.grants.iter().flatten().all(owner_full_control) => Err(not_supported()),
        _ => Ok(()),
    }
}

/// Checks the ACL headers of an object request (PutObject, CopyObject,
/// CreateMultipartUpload, PutObjectAcl): each has a canned `acl` and the same four
/// `x-amz-grant-*` fields.
macro_rules! check_write_acl {
    ($input:expr) => {
        $crate::s3::acl::check_acl_headers(
            $input.acl.as_ref().map(|a| a.as_str()),
            $input.grant_full_control.is_some()
                || $input.grant_read.is_some()
                || $input.grant_read_acp.is_some()
                || $input.grant_write_acp.is_some(),
        )
    };
}
pub(super) use check_write_acl;

fn owner_grants(owner: &Owner) -> Grants {
    vec![Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name.clone(),
            email_address: None,
            id: owner.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

fn enforced() -> OwnershipControls {
    OwnershipControls {
        rules: vec![OwnershipControlsRule {
            object_ownership: ObjectOwnership::from_static(ObjectOwnership::BUCKET_OWNER_ENFORCED),
        }],
    }
}

impl SealgateS3 {
    pub(super) async fn get_bucket_acl_op(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.svc.bucket(&req.input.bucket).await?;
        let owner = self.bucket_owner(&req.extensions);
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(owner_grants(&owner)),
            owner: Some(owner),
        }))
    }

    pub(super) async fn put_bucket_acl_op(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let i = &req.input;
        self.svc.bucket(&i.bucket).await?;
        // A bucket ACL has one grant header more than an object's: x-amz-grant-write.
        check_acl_headers(
            i.acl.as_ref().map(BucketCannedACL::as_str),
            i.grant_full_control.is_some()
                || i.grant_read.is_some()
                || i.grant_read_acp.is_some()
                || i.grant_write.is_some()
                || i.grant_write_acp.is_some(),
        )?;
        check_acl_policy(
            i.access_control_policy.as_ref(),
            &self.bucket_owner(&req.extensions),
        )?;
        Ok(S3Response::new(PutBucketAclOutput::default()))
    }

    pub(super) async fn get_object_acl_op(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let i = &req.input;
        self.live_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        let owner = self.bucket_owner(&req.extensions);
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(owner_grants(&owner)),
            owner: Some(owner),
            request_charged: None,
        }))
    }

    pub(super) async fn put_object_acl_op(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let i = &req.input;
        self.live_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        check_write_acl!(i)?;
        check_acl_policy(
            i.access_control_policy.as_ref(),
            &self.bucket_owner(&req.extensions),
        )?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    pub(super) async fn get_bucket_ownership_controls_op(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.svc.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(enforced()),
        }))
    }

    pub(super) async fn put_bucket_ownership_controls_op(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        self.svc.bucket(&req.input.bucket).await?;
        let rules = &req.input.ownership_controls.rules;
        if rules.len() != 1 {
            return Err(super::errors::malformed_xml());
        }
        if rules[0].object_ownership.as_str() != ObjectOwnership::BUCKET_OWNER_ENFORCED {
            return Err(acls_not_offered(rules[0].object_ownership.as_str()));
        }
        Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
    }

    pub(super) async fn delete_bucket_ownership_controls_op(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.svc.bucket(&req.input.bucket).await?;
        // Without controls a bucket's ACLs would be enabled (ObjectWriter).
        Err(acls_not_offered("ObjectWriter"))
    }
}

fn acls_not_offered(ownership: &str) -> s3s::S3Error {
    s3_error!(
        NotImplemented,
        "Object Ownership {ownership} enables ACLs, which sealgate does not offer: buckets are BucketOwnerEnforced and access is decided by IAM and bucket policies"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            display_name: Some("000000000000".into()),
            id: Some("c".repeat(64)),
        }
    }

    fn policy(id: &str, permission: &str) -> AccessControlPolicy {
        AccessControlPolicy {
            grants: Some(vec![Grant {
                grantee: Some(Grantee {
                    display_name: None,
                    email_address: None,
                    id: Some(id.to_owned()),
                    type_: Type::from_static(Type::CANONICAL_USER),
                    uri: None,
                }),
                permission: Some(Permission::from(permission.to_owned())),
            }]),
            owner: Some(owner()),
        }
    }

    #[test]
    fn only_what_the_owner_already_has_is_accepted() {
        let canned = |c| check_acl_headers(Some(c), false);
        assert!(canned("private").is_ok());
        assert!(canned("bucket-owner-full-control").is_ok());
        for c in [
            "public-read",
            "public-read-write",
            "authenticated-read",
            "bucket-owner-read",
        ] {
            let e = canned(c).unwrap_err();
            assert_eq!(e.code().as_str(), "AccessControlListNotSupported", "{c}");
        }
        assert!(check_acl_headers(None, true).is_err());
        let own = policy(&"c".repeat(64), "FULL_CONTROL");
        let body = |p| check_acl_policy(Some(p), &owner());
        let stranger = policy(&"d".repeat(64), "FULL_CONTROL");
        let read_only = policy(&"c".repeat(64), "READ");
        assert!(body(&own).is_ok());
        assert!(body(&stranger).is_err());
        assert!(body(&read_only).is_err());
    }
}
