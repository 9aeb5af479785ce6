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

/// The ACL parts of a request: its canned ACL, whether any `x-amz-grant-*` header is set,
/// and the policy in its body.
pub(super) struct AclRequest<'a> {
    pub canned: Option<&'a str>,
    pub grants: bool,
    pub policy: Option<&'a AccessControlPolicy>,
}

impl AclRequest<'_> {
    /// Accepted when it only restates what BucketOwnerEnforced gives the owner.
    pub(super) fn check(&self, owner: &Owner) -> S3Result<()> {
        if self.grants || self.canned.is_some_and(|c| !owner_only(c)) {
            return Err(not_supported());
        }
        if let Some(policy) = self.policy {
            let owner_full_control = |g: &Grant| {
                g.permission.as_ref().map(Permission::as_str) == Some(Permission::FULL_CONTROL)
                    && g.grantee.as_ref().is_some_and(|e| {
                        e.type_.as_str() == Type::CANONICAL_USER && e.id == owner.id
                    })
            };
            if !policy.grants.iter().flatten().all(owner_full_control) {
                return Err(not_supported());
            }
        }
        Ok(())
    }
}

/// Checks the ACL headers of a write input (PutObject, CopyObject, CreateMultipartUpload):
/// each has the same four `x-amz-grant-*` fields and a canned `acl`.
macro_rules! check_write_acl {
    ($input:expr) => {
        $crate::s3::acl::check_acl_headers(
            $input.acl.as_ref(),
            [
                $input.grant_full_control.as_ref(),
                $input.grant_read.as_ref(),
                $input.grant_read_acp.as_ref(),
                $input.grant_write_acp.as_ref(),
            ],
        )
    };
}
pub(super) use check_write_acl;

/// What a write's own ACL headers ask for.
pub(super) fn check_acl_headers(
    canned: Option<&ObjectCannedACL>,
    grants: [Option<&String>; 4],
) -> S3Result<()> {
    let request = AclRequest {
        canned: canned.map(ObjectCannedACL::as_str),
        grants: grants.iter().any(Option::is_some),
        policy: None,
    };
    request.check(&Owner::default())
}

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
        let request = AclRequest {
            canned: i.acl.as_ref().map(BucketCannedACL::as_str),
            grants: [
                &i.grant_full_control,
                &i.grant_read,
                &i.grant_read_acp,
                &i.grant_write,
                &i.grant_write_acp,
            ]
            .iter()
            .any(|g| g.is_some()),
            policy: i.access_control_policy.as_ref(),
        };
        request.check(&self.bucket_owner(&req.extensions))?;
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
        let request = AclRequest {
            canned: i.acl.as_ref().map(ObjectCannedACL::as_str),
            grants: [
                &i.grant_full_control,
                &i.grant_read,
                &i.grant_read_acp,
                &i.grant_write_acp,
            ]
            .iter()
            .any(|g| g.is_some()),
            policy: i.access_control_policy.as_ref(),
        };
        request.check(&self.bucket_owner(&req.extensions))?;
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
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
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
        let canned = |c| {
            AclRequest {
                canned: Some(c),
                grants: false,
                policy: None,
            }
            .check(&owner())
        };
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
        let grants = AclRequest {
            canned: None,
            grants: true,
            policy: None,
        };
        assert!(grants.check(&owner()).is_err());
        let own = policy(&"c".repeat(64), "FULL_CONTROL");
        let body = |p| {
            AclRequest {
                canned: None,
                grants: false,
                policy: Some(p),
            }
            .check(&owner())
        };
        let stranger = policy(&"d".repeat(64), "FULL_CONTROL");
        let read_only = policy(&"c".repeat(64), "READ");
        assert!(body(&own).is_ok());
        assert!(body(&stranger).is_err());
        assert!(body(&read_only).is_err());
    }
}
