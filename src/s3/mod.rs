//! The S3 edge: `s3s` parses and authenticates requests; this module turns them into object
//! service calls and maps results and errors back to S3's shapes.

pub mod access;
mod auth;
mod bucket_encryption;
mod bucket_policy;
mod bucket_replication;
mod buckets;
mod caller;
pub mod compat;
mod errors;
mod listing;
mod multipart;
mod object_ops;
mod request;
pub mod sse;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

pub use access::{Authorizer, CallerIdentity, S3Authorization, SourceIp};
pub use auth::IdentityAuth;
pub use bucket_encryption::BucketEncryptionRoute;
pub use sse::Transport;

use crate::objects::ObjectService;
use crate::replication::remote::Remotes;
use sse::SsePolicy;

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
        match ext.get::<access::BucketOwner>() {
            Some(o) => Self::owner_of(&o.0),
            None => Self::owner_of(&self.account_id),
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

#[async_trait::async_trait]
impl S3 for SealgateS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.create_bucket_op(req).await
    }
    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.delete_bucket_op(req).await
    }
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.head_bucket_op(req).await
    }
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.list_buckets_op(req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.get_bucket_location_op(req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.get_bucket_versioning_op(req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.put_bucket_versioning_op(req).await
    }
    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.put_bucket_policy_op(req).await
    }
    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.get_bucket_policy_op(req).await
    }
    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.delete_bucket_policy_op(req).await
    }
    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.get_bucket_policy_status_op(req).await
    }
    async fn put_bucket_replication(
        &self,
        req: S3Request<PutBucketReplicationInput>,
    ) -> S3Result<S3Response<PutBucketReplicationOutput>> {
        self.put_bucket_replication_op(req).await
    }
    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        self.get_bucket_replication_op(req).await
    }
    async fn delete_bucket_replication(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
        self.delete_bucket_replication_op(req).await
    }
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.put_object_op(req).await
    }
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.get_object_op(req).await
    }
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.head_object_op(req).await
    }
    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.get_object_attributes_op(req).await
    }
    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.delete_object_op(req).await
    }
    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.delete_objects_op(req).await
    }
    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.copy_object_op(req).await
    }
    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.list_objects_op(req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.list_objects_v2_op(req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.list_object_versions_op(req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_multipart_upload_op(req).await
    }
    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.upload_part_op(req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.upload_part_copy_op(req).await
    }
    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.list_parts_op(req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.list_multipart_uploads_op(req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_multipart_upload_op(req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_multipart_upload_op(req).await
    }
}
