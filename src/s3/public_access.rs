//! Block Public Access (`?publicAccessBlock`): the bucket's four settings, kept as S3 keeps
//! them. What they do is decided where policies are: a public policy is refused when put
//! ([`SealgateS3::put_bucket_policy_op`]) and reaches no one outside the owner's account
//! when evaluated (`access`); a public ACL is refused when put ([`super::acl`]) and its
//! grants ignored when evaluated (`access`).

use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::SealgateS3;
use crate::bucket_settings::PublicAccessBlock;

fn from_dto(c: &PublicAccessBlockConfiguration) -> PublicAccessBlock {
    PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    }
}

fn to_dto(b: PublicAccessBlock) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration {
        block_public_acls: Some(b.block_public_acls),
        ignore_public_acls: Some(b.ignore_public_acls),
        block_public_policy: Some(b.block_public_policy),
        restrict_public_buckets: Some(b.restrict_public_buckets),
    }
}

impl SealgateS3 {
    pub(super) async fn put_public_access_block_op(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let input = req.input;
        let settings = from_dto(&input.public_access_block_configuration);
        self.svc
            .set_bucket_setting(&input.bucket, Some(&settings))
            .await?;
        Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
    }

    pub(super) async fn get_public_access_block_op(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let settings = bucket.public_access_block()?.ok_or_else(|| {
            super::errors::with_status(
                S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
                http::StatusCode::NOT_FOUND,
                "The public access block configuration was not found",
            )
        })?;
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(to_dto(settings)),
        }))
    }

    pub(super) async fn delete_public_access_block_op(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.svc
            .set_bucket_setting::<PublicAccessBlock>(&req.input.bucket, None)
            .await?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput::default()))
    }
}
