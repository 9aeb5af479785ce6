//! CreateBucket, DeleteBucket, HeadBucket, ListBuckets, GetBucketLocation and bucket
//! versioning, as S3 answers them.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use super::request::timestamp;
use crate::catalog::Versioning;

impl SealgateS3 {
    pub(super) async fn create_bucket_op(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let input = req.input;
        let constraint = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str().to_owned());
        // us-east-1 is the region that takes no location constraint.
        match constraint.as_deref() {
            None | Some("") if self.region == "us-east-1" => {}
            Some(c) if c == self.region => {}
            None | Some("") => {}
            Some(c) => {
                return Err(s3_error!(
                    InvalidLocationConstraint,
                    "The specified location-constraint {c} is not valid for this endpoint (region {})",
                    self.region
                ));
            }
        }
        let owner = self.caller_account(&req.extensions);
        // A bucket that exists (authorization found its access control) answers as such
        // whatever ACL the request carries: clients that create the bucket before each
        // upload send their object ACL here too.
        let exists = req.extensions.get::<super::access::BucketAcls>().is_some();
        let access_control = match exists {
            true => None,
            false => super::acl::for_new_bucket(&input, &owner)?,
        };
        self.svc
            .create_bucket(
                &input.bucket,
                &self.region,
                &owner,
                input.object_lock_enabled_for_bucket == Some(true),
                access_control.as_ref(),
            )
            .await?;
        let output = CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        };
        Ok(S3Response::new(output))
    }

    pub(super) async fn delete_bucket_op(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.svc.delete_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    pub(super) async fn head_bucket_op(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(bucket.region),
            ..Default::default()
        }))
    }

    pub(super) async fn list_buckets_op(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let prefix = req.input.prefix.unwrap_or_default();
        let account = self.caller_account(&req.extensions);
        let buckets = self
            .svc
            .list_buckets()
            .await?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| b.owner_account.as_deref().unwrap_or(&self.account_id) == account)
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created_ms)),
                bucket_region: Some(b.region),
            })
            .collect();
        let output = ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Self::owner_of(&account)),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    pub(super) async fn get_bucket_location_op(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        // S3 answers an empty constraint for us-east-1.
        let location_constraint = (bucket.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(bucket.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    pub(super) async fn get_bucket_versioning_op(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let status = match bucket.versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::from_static(
                BucketVersioningStatus::ENABLED,
            )),
            Versioning::Suspended => Some(BucketVersioningStatus::from_static(
                BucketVersioningStatus::SUSPENDED,
            )),
        };
        Ok(S3Response::new(GetBucketVersioningOutput {
            status,
            ..Default::default()
        }))
    }

    pub(super) async fn put_bucket_versioning_op(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let state = versioning_state(&input.versioning_configuration)?;
        // Silently leaving MFA Delete off would let the owner believe deletes need a token.
        if input
            .versioning_configuration
            .mfa_delete
            .as_ref()
            .map(MFADelete::as_str)
            == Some(MFADelete::ENABLED)
        {
            return Err(if input.mfa.is_none() {
                s3_error!(
                    InvalidRequest,
                    "MfaDelete=Enabled needs the x-amz-mfa header of the root user's MFA device"
                )
            } else {
                s3_error!(
                    NotImplemented,
                    "MFA Delete is not supported: sealgate has no MFA devices"
                )
            });
        }
        self.svc.set_versioning(&input.bucket, state).await?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }
}

/// The state a PutBucketVersioning body asks for.
pub(crate) fn versioning_state(cfg: &VersioningConfiguration) -> S3Result<Versioning> {
    match cfg.status.as_ref().map(BucketVersioningStatus::as_str) {
        Some(BucketVersioningStatus::ENABLED) => Ok(Versioning::Enabled),
        Some(BucketVersioningStatus::SUSPENDED) => Ok(Versioning::Suspended),
        _ => Err(s3_error!(
            MalformedXML,
            "The versioning Status must be Enabled or Suspended"
        )),
    }
}
