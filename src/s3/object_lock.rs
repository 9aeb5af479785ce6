//! Object Lock, which sealgate does not offer yet, so no bucket has a lock configuration.
//! A request that asks for a lock is refused as S3 refuses it on a bucket without one, and
//! a bucket cannot be created with the lock enabled: a caller who asked for WORM storage
//! must never get unlocked storage while believing otherwise. Reads of a configuration,
//! retention or legal hold answer that there is none, as tools such as Terraform expect.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;

/// What S3 answers a lock request on a bucket without Object Lock.
pub(super) fn missing_configuration() -> S3Error {
    s3_error!(
        InvalidRequest,
        "Bucket is missing Object Lock Configuration"
    )
}

/// Refuses a bucket created with `x-amz-bucket-object-lock-enabled: true`.
pub(super) fn refuse_locked_bucket(enabled: Option<bool>) -> S3Result<()> {
    if enabled == Some(true) {
        return Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented: x-amz-bucket-object-lock-enabled (sealgate does not offer Object Lock yet; the bucket was not created)"
        ));
    }
    Ok(())
}

/// Refuses a write that asks for a retention or a legal hold (`x-amz-object-lock-*`).
macro_rules! refuse_lock_headers {
    ($input:expr) => {
        if $input.object_lock_mode.is_some()
            || $input.object_lock_retain_until_date.is_some()
            || $input.object_lock_legal_hold_status.is_some()
        {
            Err($crate::s3::object_lock::missing_configuration())
        } else {
            Ok(())
        }
    };
}
pub(super) use refuse_lock_headers;

impl SealgateS3 {
    pub(super) async fn get_object_lock_configuration_op(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.svc.bucket(&req.input.bucket).await?;
        Err(super::errors::with_status(
            S3ErrorCode::Custom("ObjectLockConfigurationNotFoundError".into()),
            http::StatusCode::NOT_FOUND,
            "Object Lock configuration does not exist for this bucket",
        ))
    }
}

/// Retention and legal holds of a bucket that exists: none can be read or put.
macro_rules! without_lock_configuration {
    ($($op:ident($input:ident) -> $output:ident;)*) => {
        impl SealgateS3 {
            $(
                pub(super) async fn $op(
                    &self,
                    req: S3Request<$input>,
                ) -> S3Result<S3Response<$output>> {
                    self.svc.bucket(&req.input.bucket).await?;
                    Err(missing_configuration())
                }
            )*
        }
    };
}

without_lock_configuration! {
    get_object_retention_op(GetObjectRetentionInput) -> GetObjectRetentionOutput;
    put_object_retention_op(PutObjectRetentionInput) -> PutObjectRetentionOutput;
    get_object_legal_hold_op(GetObjectLegalHoldInput) -> GetObjectLegalHoldOutput;
    put_object_legal_hold_op(PutObjectLegalHoldInput) -> PutObjectLegalHoldOutput;
}
