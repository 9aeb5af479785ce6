//! Object Ownership and ACLs as S3 has them today. New buckets are `BucketOwnerEnforced`:
//! ACLs are disabled, the bucket owner owns every object and holds FULL_CONTROL (what
//! Get{Bucket,Object}Acl show), an ACL that only restates that is accepted and changes
//! nothing, any other is `400 AccessControlListNotSupported`, and policies alone decide.
//! With `ObjectWriter` or `BucketOwnerPreferred` (PutBucketOwnershipControls, or
//! `x-amz-object-ownership` at CreateBucket) canned ACLs, `x-amz-grant-*` headers and ACL
//! documents are stored (the bucket's as a bucket setting, an object's sealed with its
//! metadata) and evaluated with the policies (`access`); Block Public Access's
//! BlockPublicAcls refuses public ones.

use s3s::dto::{self, *};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use super::access::{BucketAcls, canonical_id};
use crate::bucket_settings::acl::{
    self, Acl, AclError, BucketAccessControl, Grantee, ObjectOwnership as Ownership, Permission,
};
use crate::catalog::{CatalogError, MetaChange, ObjectVersion};

fn not_supported() -> s3s::S3Error {
    s3_error!(
        AccessControlListNotSupported,
        "The bucket does not allow ACLs"
    )
}

fn acl_error(e: AclError) -> s3s::S3Error {
    match e {
        AclError::CannedAndGrants => s3_error!(InvalidRequest, "{e}"),
        AclError::ByEmail => s3_error!(UnresolvableGrantByEmailAddress, "{e}"),
        AclError::UnknownCanned(_) | AclError::BadGrant(_) => s3_error!(InvalidArgument, "{e}"),
    }
}

fn public_acl_blocked() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The ACL a request carries in headers: a canned `x-amz-acl` or `x-amz-grant-*` lists.
pub(super) struct AskedAcl<'a> {
    canned: Option<&'a str>,
    grants: Vec<(Permission, &'a str)>,
}

impl<'a> AskedAcl<'a> {
    pub(super) fn new(
        canned: Option<&'a str>,
        grants: impl IntoIterator<Item = (Permission, Option<&'a str>)>,
    ) -> AskedAcl<'a> {
        AskedAcl {
            canned,
            grants: grants
                .into_iter()
                .filter_map(|(p, v)| Some((p, v?)))
                .collect(),
        }
    }

    /// The ACL asked for, owned by `owner`; `bucket_owner` names whom the bucket-owner-*
    /// canned ACLs grant (an object's; none for a bucket).
    fn build(&self, owner: &str, bucket_owner: Option<&str>) -> S3Result<Option<Acl>> {
        let built = match (self.canned, self.grants.is_empty()) {
            (Some(_), false) => Err(AclError::CannedAndGrants),
            (Some(name), true) => Acl::canned(
                name,
                owner,
                &canonical_id(owner),
                bucket_owner.map(canonical_id).as_deref(),
            )
            .map(Some),
            (None, false) => Acl::from_grant_headers(owner, &self.grants).map(Some),
            (None, true) => Ok(None),
        };
        built.map_err(acl_error)
    }

    /// A bucket ACL's one grant header more than an object's: `x-amz-grant-write`.
    fn push_write(&mut self, value: Option<&'a str>) {
        if let Some(v) = value {
            self.grants.push((Permission::Write, v));
        }
    }

    /// With ACLs disabled, only what restates the owner's FULL_CONTROL is accepted.
    fn check_disabled(&self) -> S3Result<()> {
        let owner_only = matches!(
            self.canned,
            None | Some("private" | "bucket-owner-full-control")
        );
        if !self.grants.is_empty() || !owner_only {
            return Err(not_supported());
        }
        Ok(())
    }
}

/// The ACL headers of an object request (PutObject, CopyObject, CreateMultipartUpload,
/// PutObjectAcl): a canned `acl` and four `x-amz-grant-*` fields.
macro_rules! asked_acl {
    ($input:expr) => {
        $crate::s3::acl::AskedAcl::new(
            $input.acl.as_ref().map(|a| a.as_str()),
            [
                (
                    $crate::bucket_settings::acl::Permission::FullControl,
                    $input.grant_full_control.as_deref(),
                ),
                (
                    $crate::bucket_settings::acl::Permission::Read,
                    $input.grant_read.as_deref(),
                ),
                (
                    $crate::bucket_settings::acl::Permission::ReadAcp,
                    $input.grant_read_acp.as_deref(),
                ),
                (
                    $crate::bucket_settings::acl::Permission::WriteAcp,
                    $input.grant_write_acp.as_deref(),
                ),
            ],
        )
    };
}
pub(super) use asked_acl;

/// A bucket ACL's headers: an object's and `x-amz-grant-write`.
macro_rules! asked_bucket_acl {
    ($input:expr) => {{
        let mut asked = asked_acl!($input);
        asked.push_write($input.grant_write.as_deref());
        asked
    }};
}

/// The ACL an object write gets, decided from the bucket's ownership (found by
/// authorization) and the request's headers; `None` is the bucket owner's FULL_CONTROL.
pub(super) fn acl_for_write(
    ext: &http::Extensions,
    asked: &AskedAcl<'_>,
    writer: &str,
) -> S3Result<Option<Acl>> {
    let Some(bucket) = ext.get::<BucketAcls>().filter(|b| b.enabled()) else {
        asked.check_disabled()?;
        return Ok(None);
    };
    let owner = bucket
        .control
        .object_owner(writer, &bucket.owner, asked.canned);
    let acl = asked
        .build(owner, Some(&bucket.owner))?
        .unwrap_or_else(|| Acl::private(owner, &canonical_id(owner)));
    if bucket.block_public && acl.is_public() {
        return Err(public_acl_blocked());
    }
    Ok(stored(acl, &bucket.owner))
}

/// What is stored for `acl`: nothing when it is the bucket owner's FULL_CONTROL alone.
fn stored(acl: Acl, bucket_owner: &str) -> Option<Acl> {
    (acl != Acl::private(bucket_owner, &canonical_id(bucket_owner))).then_some(acl)
}

/// The ACL an AccessControlPolicy document sets, owned by `owner`.
fn from_document(policy: &AccessControlPolicy, owner: &str) -> S3Result<Acl> {
    let malformed = || {
        s3_error!(
            MalformedACLError,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    };
    let mut grants = Vec::new();
    for g in policy.grants.iter().flatten() {
        let e = g.grantee.as_ref().ok_or_else(malformed)?;
        let grantee = match e.type_.as_str() {
            Type::CANONICAL_USER => {
                acl::canonical_user(e.id.as_deref().unwrap_or_default()).map_err(acl_error)?
            }
            Type::GROUP => Grantee::group(e.uri.as_deref().unwrap_or_default())
                .ok_or_else(|| s3_error!(InvalidArgument, "Invalid group uri"))?,
            Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(acl_error(AclError::ByEmail)),
            _ => return Err(malformed()),
        };
        let permission = g
            .permission
            .as_ref()
            .and_then(|p| Permission::parse(p.as_str()))
            .ok_or_else(malformed)?;
        grants.push(acl::Grant {
            grantee,
            permission,
        });
    }
    Ok(Acl {
        owner: owner.to_owned(),
        grants,
    })
}

/// The ACL a Put{Bucket,Object}Acl sets: from its headers or its document, not both.
fn asked_or_document(
    asked: &AskedAcl<'_>,
    document: Option<&AccessControlPolicy>,
    owner: &str,
    bucket_owner: Option<&str>,
) -> S3Result<Acl> {
    match (asked.build(owner, bucket_owner)?, document) {
        (Some(_), Some(_)) => Err(s3_error!(
            UnexpectedContent,
            "This request does not support content"
        )),
        (Some(acl), None) => Ok(acl),
        (None, Some(doc)) => from_document(doc, owner),
        (None, None) => Err(s3_error!(
            MissingSecurityHeader,
            "Your request was missing a required header"
        )),
    }
}

fn grants_dto(acl: &Acl) -> Grants {
    acl.grants
        .iter()
        .map(|g| {
            let (type_, id, uri) = match &g.grantee {
                Grantee::CanonicalUser(id) => (Type::CANONICAL_USER, Some(id.clone()), None),
                group => (Type::GROUP, None, group.group_uri().map(str::to_owned)),
            };
            let display_name = id
                .as_deref()
                .filter(|id| *id == canonical_id(&acl.owner))
                .map(|_| acl.owner.clone());
            dto::Grant {
                grantee: Some(dto::Grantee {
                    display_name,
                    email_address: None,
                    id,
                    type_: Type::from_static(type_),
                    uri,
                }),
                permission: Some(dto::Permission::from(g.permission.as_str().to_owned())),
            }
        })
        .collect()
}

fn ownership_controls(o: Ownership) -> OwnershipControls {
    OwnershipControls {
        rules: vec![OwnershipControlsRule {
            object_ownership: ObjectOwnership::from(o.as_str().to_owned()),
        }],
    }
}

/// The access control a CreateBucket asks for (`x-amz-object-ownership`, an ACL), or none
/// for S3's default (BucketOwnerEnforced, private).
pub(super) fn for_new_bucket(
    input: &CreateBucketInput,
    owner: &str,
) -> S3Result<Option<BucketAccessControl>> {
    let mut control = BucketAccessControl::default();
    if let Some(o) = &input.object_ownership {
        control.ownership = Some(Ownership::parse(o.as_str()).ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Invalid x-amz-object-ownership header: {}",
                o.as_str()
            )
        })?);
    }
    if let Some(acl) = asked_bucket_acl!(input).build(owner, None)? {
        if !control.acls_enabled() && !acl.owner_only(&canonical_id(owner)) {
            return Err(ownership_refuses_acl());
        }
        // New buckets block public access; a public ACL would be refused right away.
        if acl.is_public() {
            return Err(super::errors::with_status(
                s3s::S3ErrorCode::Custom("InvalidBucketAclWithBlockPublicAccessError".into()),
                http::StatusCode::BAD_REQUEST,
                "Bucket cannot have public ACLs set with BlockPublicAccess enabled",
            ));
        }
        control.acl = stored(acl, owner);
    }
    Ok((control != BucketAccessControl::default()).then_some(control))
}

fn ownership_refuses_acl() -> s3s::S3Error {
    s3_error!(
        InvalidBucketAclWithObjectOwnership,
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
    )
}

/// A version's stored ACL where its bucket's ACLs count (authorization's record says).
fn acl_in_force<'a>(ext: &http::Extensions, stored: Option<&'a Acl>) -> Option<&'a Acl> {
    ext.get::<BucketAcls>().and_then(|b| b.in_force(stored))
}

/// The bucket's ownership, ACL and owner, as its authorization found them; a request
/// authorized without them addressed a bucket that does not exist.
fn bucket_acls(ext: &http::Extensions) -> S3Result<BucketAcls> {
    ext.get::<BucketAcls>()
        .cloned()
        .ok_or_else(|| CatalogError::NoSuchBucket.into())
}

impl SealgateS3 {
    async fn store_access_control(&self, bucket: &str, c: &BucketAccessControl) -> S3Result<()> {
        Ok(self.svc.set_bucket_setting(bucket, Some(c)).await?)
    }

    pub(super) async fn get_bucket_acl_op(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let BucketAcls { control, owner, .. } = bucket_acls(&req.extensions)?;
        let enabled = control.acls_enabled();
        let acl = control
            .acl
            .filter(|_| enabled)
            .unwrap_or_else(|| Acl::private(&owner, &canonical_id(&owner)));
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(grants_dto(&acl)),
            owner: Some(Self::owner_of(&owner)),
        }))
    }

    pub(super) async fn put_bucket_acl_op(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let i = &req.input;
        let BucketAcls {
            mut control,
            owner,
            block_public,
            ..
        } = bucket_acls(&req.extensions)?;
        let acl = asked_or_document(
            &asked_bucket_acl!(i),
            i.access_control_policy.as_ref(),
            &owner,
            None,
        )?;
        if !control.acls_enabled() {
            return match acl.owner_only(&canonical_id(&owner)) {
                true => Ok(S3Response::new(PutBucketAclOutput::default())),
                false => Err(not_supported()),
            };
        }
        if block_public && acl.is_public() {
            return Err(public_acl_blocked());
        }
        control.acl = stored(acl, &owner);
        self.store_access_control(&i.bucket, &control).await?;
        Ok(S3Response::new(PutBucketAclOutput::default()))
    }

    pub(super) async fn get_object_acl_op(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let i = &req.input;
        let v = self
            .live_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        let acl = self.object_acl_of(&req.extensions, v.meta.acl.as_ref());
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(grants_dto(&acl)),
            owner: Some(Self::owner_of(&acl.owner)),
            request_charged: None,
        }))
    }

    /// The ACL in force for a version whose stored ACL is `stored`: none (or ACLs
    /// disabled) is the bucket owner's FULL_CONTROL.
    fn object_acl_of(&self, ext: &http::Extensions, stored: Option<&Acl>) -> Acl {
        match acl_in_force(ext, stored) {
            Some(acl) => acl.clone(),
            None => {
                let owner = self.bucket_owner_account(ext);
                Acl::private(&owner, &canonical_id(&owner))
            }
        }
    }

    /// The owner listings show for version `v`: its ACL's owner where the bucket's ACLs
    /// count (an object another account wrote under ObjectWriter), else the bucket owner.
    pub(super) fn version_owner(&self, ext: &http::Extensions, v: &ObjectVersion) -> Owner {
        match acl_in_force(ext, v.meta.acl.as_ref()) {
            Some(acl) => Self::owner_of(&acl.owner),
            None => self.bucket_owner(ext),
        }
    }

    pub(super) async fn put_object_acl_op(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let i = &req.input;
        let v = self
            .live_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        let asked = asked_acl!(i);
        let Some(bucket) = req.extensions.get::<BucketAcls>().filter(|b| b.enabled()) else {
            let owner = self.bucket_owner_account(&req.extensions);
            let acl = asked_or_document(&asked, i.access_control_policy.as_ref(), &owner, None)?;
            return match acl.owner_only(&canonical_id(&owner)) {
                true => Ok(S3Response::new(PutObjectAclOutput::default())),
                false => Err(not_supported()),
            };
        };
        let current = self.object_acl_of(&req.extensions, v.meta.acl.as_ref());
        let acl = asked_or_document(
            &asked,
            i.access_control_policy.as_ref(),
            &current.owner,
            Some(&bucket.owner),
        )?;
        if bucket.block_public && acl.is_public() {
            return Err(public_acl_blocked());
        }
        self.svc
            .set_meta(&v, MetaChange::Acl(stored(acl, &bucket.owner)))
            .await?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    pub(super) async fn get_bucket_ownership_controls_op(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let ownership = bucket_acls(&req.extensions)?
            .control
            .ownership
            .ok_or_else(|| {
                s3_error!(
                    OwnershipControlsNotFoundError,
                    "The bucket ownership controls were not found"
                )
            })?;
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(ownership_controls(ownership)),
        }))
    }

    pub(super) async fn put_bucket_ownership_controls_op(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let i = &req.input;
        let BucketAcls {
            mut control, owner, ..
        } = bucket_acls(&req.extensions)?;
        let [rule] = i.ownership_controls.rules.as_slice() else {
            return Err(super::errors::malformed_xml());
        };
        let ownership = Ownership::parse(rule.object_ownership.as_str())
            .ok_or_else(super::errors::malformed_xml)?;
        let acl_grants_others = control
            .acl
            .as_ref()
            .is_some_and(|a| !a.owner_only(&canonical_id(&owner)));
        if ownership == Ownership::BucketOwnerEnforced && acl_grants_others {
            return Err(ownership_refuses_acl());
        }
        control.ownership = Some(ownership);
        self.store_access_control(&i.bucket, &control).await?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
    }

    pub(super) async fn delete_bucket_ownership_controls_op(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let mut control = bucket_acls(&req.extensions)?.control;
        control.ownership = None;
        self.store_access_control(&req.input.bucket, &control)
            .await?;
        Ok(S3Response::new(
            DeleteBucketOwnershipControlsOutput::default(),
        ))
    }
}
