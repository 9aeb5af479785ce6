//! The S3 edge: `s3s` parses and authenticates requests; this module turns them into object
//! service calls and maps results and errors back to S3's shapes.

pub mod access;
mod acl;
mod auth;
pub(crate) mod bucket_encryption;
pub(crate) mod bucket_policy;
pub(crate) mod bucket_replication;
pub(crate) mod buckets;
mod caller;
pub mod compat;
pub mod cors;
mod errors;
pub mod host;
pub(crate) mod lifecycle;
mod listing;
pub(crate) mod multipart;
mod object_lock;
pub(crate) mod object_ops;
pub(crate) mod post_form;
mod public_access;
pub(crate) mod request;
pub mod sse;
mod tagging;
mod whole_body;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

pub use access::{Authorizer, CallerIdentity, S3Authorization, SourceIp};
pub use auth::IdentityAuth;
pub use bucket_encryption::BucketEncryptionRoute;
pub use sse::{SsePolicy, Transport};
pub use whole_body::{ContentMd5, WHOLE_BODY_LIMIT};

use crate::objects::ObjectService;
use crate::replication::remote::Remotes;

pub struct EdgeSettings {
    pub region: String,
    pub allow_sse_c_over_http: bool,
    pub max_put_size: u64,
    /// The gateway's own account: owner of buckets created before owners were recorded.
    pub account_id: String,
}

pub struct SealgateS3 {
    svc: ObjectService,
    region: String,
    sse: SsePolicy,
    max_put_size: u64,
    account_id: String,
    /// Other regions, for PutBucketReplication's destination checks.
    remotes: Option<std::sync::Arc<Remotes>>,
}

impl SealgateS3 {
    pub fn new(svc: ObjectService, s: EdgeSettings) -> SealgateS3 {
        SealgateS3 {
            svc,
            region: s.region,
            sse: SsePolicy {
                allow_sse_c_over_http: s.allow_sse_c_over_http,
            },
            max_put_size: s.max_put_size,
            account_id: s.account_id,
            remotes: None,
        }
    }

    /// PutBucketReplication checks destinations on these remotes when they answer.
    pub fn with_remotes(mut self, remotes: std::sync::Arc<Remotes>) -> SealgateS3 {
        self.remotes = Some(remotes);
        self
    }

    /// The Owner shown for `account`: its canonical id, and the account id as display name.
    fn owner_of(account: &str) -> Owner {
        Owner {
            display_name: Some(account.to_owned()),
            id: Some(access::canonical_id(account)),
        }
    }

    /// The owner of the bucket a request addresses (authorization found it), shown as the
    /// Owner of its objects and uploads: writers act for the bucket owner (S3's
    /// BucketOwnerEnforced).
    fn bucket_owner(&self, ext: &http::Extensions) -> Owner {
        Self::owner_of(&self.bucket_owner_account(ext))
    }

    /// The account of the bucket owner [`Self::bucket_owner`] shows.
    fn bucket_owner_account(&self, ext: &http::Extensions) -> String {
        match ext.get::<access::BucketOwner>() {
            Some(o) => o.0.clone(),
            None => self.account_id.clone(),
        }
    }

    /// The account of the calling identity (the gateway's account when none is known).
    fn caller_account(&self, ext: &http::Extensions) -> String {
        ext.get::<CallerIdentity>()
            .map(|c| c.principal.account.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| self.account_id.clone())
    }
}

/// The operations sealgate implements, each refused unless its authorization marked the
/// request ([`access::Authorized`]): a hook missing from the access layer fails closed.
macro_rules! operations {
    ($($name:ident($input:ident) -> $output:ident => $handler:ident;)*) => {
        /// Every operation above, by its method name.
        #[cfg(test)]
        const IMPLEMENTED_OPERATIONS: &[&str] = &[$(stringify!($name)),*];

        #[async_trait::async_trait]
        impl S3 for SealgateS3 {
            $(
                async fn $name(
                    &self,
                    req: S3Request<$input>,
                ) -> S3Result<S3Response<$output>> {
                    require_authorized(&req.extensions)?;
                    self.$handler(req).await
                }
            )*
        }
    };
}

fn require_authorized(ext: &http::Extensions) -> S3Result<()> {
    if ext.get::<access::Authorized>().is_some() {
        return Ok(());
    }
    tracing::error!("an operation reached its handler without an authorization decision");
    Err(s3s::s3_error!(AccessDenied, "Access Denied"))
}

operations! {
    create_bucket(CreateBucketInput) -> CreateBucketOutput => create_bucket_op;
    delete_bucket(DeleteBucketInput) -> DeleteBucketOutput => delete_bucket_op;
    head_bucket(HeadBucketInput) -> HeadBucketOutput => head_bucket_op;
    list_buckets(ListBucketsInput) -> ListBucketsOutput => list_buckets_op;
    get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput => get_bucket_location_op;
    get_bucket_versioning(GetBucketVersioningInput) -> GetBucketVersioningOutput => get_bucket_versioning_op;
    put_bucket_versioning(PutBucketVersioningInput) -> PutBucketVersioningOutput => put_bucket_versioning_op;
    put_bucket_policy(PutBucketPolicyInput) -> PutBucketPolicyOutput => put_bucket_policy_op;
    get_bucket_policy(GetBucketPolicyInput) -> GetBucketPolicyOutput => get_bucket_policy_op;
    delete_bucket_policy(DeleteBucketPolicyInput) -> DeleteBucketPolicyOutput => delete_bucket_policy_op;
    get_bucket_policy_status(GetBucketPolicyStatusInput) -> GetBucketPolicyStatusOutput => get_bucket_policy_status_op;
    put_bucket_replication(PutBucketReplicationInput) -> PutBucketReplicationOutput => put_bucket_replication_op;
    get_bucket_replication(GetBucketReplicationInput) -> GetBucketReplicationOutput => get_bucket_replication_op;
    delete_bucket_replication(DeleteBucketReplicationInput) -> DeleteBucketReplicationOutput => delete_bucket_replication_op;
    put_bucket_cors(PutBucketCorsInput) -> PutBucketCorsOutput => put_bucket_cors_op;
    get_bucket_acl(GetBucketAclInput) -> GetBucketAclOutput => get_bucket_acl_op;
    put_bucket_acl(PutBucketAclInput) -> PutBucketAclOutput => put_bucket_acl_op;
    get_object_acl(GetObjectAclInput) -> GetObjectAclOutput => get_object_acl_op;
    put_object_acl(PutObjectAclInput) -> PutObjectAclOutput => put_object_acl_op;
    get_bucket_ownership_controls(GetBucketOwnershipControlsInput) -> GetBucketOwnershipControlsOutput => get_bucket_ownership_controls_op;
    put_bucket_ownership_controls(PutBucketOwnershipControlsInput) -> PutBucketOwnershipControlsOutput => put_bucket_ownership_controls_op;
    delete_bucket_ownership_controls(DeleteBucketOwnershipControlsInput) -> DeleteBucketOwnershipControlsOutput => delete_bucket_ownership_controls_op;
    get_bucket_cors(GetBucketCorsInput) -> GetBucketCorsOutput => get_bucket_cors_op;
    delete_bucket_cors(DeleteBucketCorsInput) -> DeleteBucketCorsOutput => delete_bucket_cors_op;
    put_bucket_lifecycle_configuration(PutBucketLifecycleConfigurationInput) -> PutBucketLifecycleConfigurationOutput => put_bucket_lifecycle_configuration_op;
    get_bucket_lifecycle_configuration(GetBucketLifecycleConfigurationInput) -> GetBucketLifecycleConfigurationOutput => get_bucket_lifecycle_configuration_op;
    delete_bucket_lifecycle(DeleteBucketLifecycleInput) -> DeleteBucketLifecycleOutput => delete_bucket_lifecycle_op;
    put_public_access_block(PutPublicAccessBlockInput) -> PutPublicAccessBlockOutput => put_public_access_block_op;
    get_public_access_block(GetPublicAccessBlockInput) -> GetPublicAccessBlockOutput => get_public_access_block_op;
    delete_public_access_block(DeletePublicAccessBlockInput) -> DeletePublicAccessBlockOutput => delete_public_access_block_op;
    get_object_lock_configuration(GetObjectLockConfigurationInput) -> GetObjectLockConfigurationOutput => get_object_lock_configuration_op;
    put_object_lock_configuration(PutObjectLockConfigurationInput) -> PutObjectLockConfigurationOutput => put_object_lock_configuration_op;
    get_object_retention(GetObjectRetentionInput) -> GetObjectRetentionOutput => get_object_retention_op;
    put_object_retention(PutObjectRetentionInput) -> PutObjectRetentionOutput => put_object_retention_op;
    get_object_legal_hold(GetObjectLegalHoldInput) -> GetObjectLegalHoldOutput => get_object_legal_hold_op;
    put_object_legal_hold(PutObjectLegalHoldInput) -> PutObjectLegalHoldOutput => put_object_legal_hold_op;
    put_bucket_tagging(PutBucketTaggingInput) -> PutBucketTaggingOutput => put_bucket_tagging_op;
    get_bucket_tagging(GetBucketTaggingInput) -> GetBucketTaggingOutput => get_bucket_tagging_op;
    delete_bucket_tagging(DeleteBucketTaggingInput) -> DeleteBucketTaggingOutput => delete_bucket_tagging_op;
    put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput => put_object_tagging_op;
    get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput => get_object_tagging_op;
    delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput => delete_object_tagging_op;
    put_object(PutObjectInput) -> PutObjectOutput => put_object_op;
    get_object(GetObjectInput) -> GetObjectOutput => get_object_op;
    head_object(HeadObjectInput) -> HeadObjectOutput => head_object_op;
    get_object_attributes(GetObjectAttributesInput) -> GetObjectAttributesOutput => get_object_attributes_op;
    delete_object(DeleteObjectInput) -> DeleteObjectOutput => delete_object_op;
    delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput => delete_objects_op;
    copy_object(CopyObjectInput) -> CopyObjectOutput => copy_object_op;
    list_objects(ListObjectsInput) -> ListObjectsOutput => list_objects_op;
    list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output => list_objects_v2_op;
    list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput => list_object_versions_op;
    create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput => create_multipart_upload_op;
    upload_part(UploadPartInput) -> UploadPartOutput => upload_part_op;
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput => upload_part_copy_op;
    list_parts(ListPartsInput) -> ListPartsOutput => list_parts_op;
    list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput => list_multipart_uploads_op;
    complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput => complete_multipart_upload_op;
    abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput => abort_multipart_upload_op;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each implemented operation has a typed authorization hook, and no hook is left
    /// without an operation (PostObject is a PutObject written by a form).
    #[test]
    fn every_operation_is_authorized_by_a_typed_hook() {
        let snake = |name: &str| {
            let mut out = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        };
        let mut typed: Vec<String> = access::typed_operations()
            .iter()
            .filter(|op| **op != "PostObject")
            .map(|op| snake(op))
            .collect();
        let mut implemented: Vec<String> = IMPLEMENTED_OPERATIONS
            .iter()
            .map(|s| s.to_string())
            .collect();
        typed.sort();
        implemented.sort();
        assert_eq!(typed, implemented);
    }
}
