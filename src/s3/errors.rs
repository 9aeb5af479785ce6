//! Service errors become S3 errors here, at the edge only: right code, right status, a
//! clear message, and internal details in the log rather than the response.

use s3s::{S3Error, S3ErrorCode, s3_error};

use crate::blobstore::BlobError;
use crate::catalog::{CatalogError, SettingColumn};
use crate::identity::IdentityUnavailable;
use crate::kms::KmsError;
use crate::objects::{Mismatch, ObjectError};
use crate::tagging::TagError;

/// Who is calling cannot be decided now (a fleet's database out of reach): S3's 503, which
/// SDKs retry with backoff, rather than an answer from a copy of users that may be stale.
impl From<IdentityUnavailable> for S3Error {
    fn from(e: IdentityUnavailable) -> S3Error {
        tracing::warn!(error = %e, "refusing a request: its caller cannot be looked up");
        s3_error!(
            ServiceUnavailable,
            "Please retry: the gateway cannot confirm its credentials are current."
        )
    }
}

impl From<CatalogError> for S3Error {
    fn from(e: CatalogError) -> S3Error {
        match e {
            CatalogError::NoSuchBucket => {
                s3_error!(NoSuchBucket, "The specified bucket does not exist")
            }
            CatalogError::BucketExists => {
                s3_error!(
                    BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it."
                )
            }
            CatalogError::BucketNotEmpty => {
                s3_error!(
                    BucketNotEmpty,
                    "The bucket you tried to delete is not empty"
                )
            }
            CatalogError::NoSuchKey => s3_error!(NoSuchKey, "The specified key does not exist."),
            CatalogError::NoSuchVersion => {
                s3_error!(NoSuchVersion, "The specified version does not exist.")
            }
            CatalogError::NoSuchUpload => s3_error!(
                NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            ),
            CatalogError::ConditionalConflict => s3_error!(
                ConditionalRequestConflict,
                "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part."
            ),
            CatalogError::PreconditionFailed => {
                s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                )
            }
            CatalogError::VersioningLocked(SettingColumn::ObjectLock) => s3_error!(
                InvalidBucketState,
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
            ),
            CatalogError::VersioningLocked(_) => s3_error!(
                InvalidBucketState,
                "A replication configuration is present on this bucket, so you cannot change the versioning state. To change the versioning state, first delete the replication configuration."
            ),
            CatalogError::VersioningNotEnabled(SettingColumn::ObjectLock) => s3_error!(
                InvalidBucketState,
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
            ),
            CatalogError::VersioningNotEnabled(_) => s3_error!(
                InvalidRequest,
                "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
            ),
            CatalogError::ObjectLocked => s3_error!(
                AccessDenied,
                "Access Denied because object protected by object lock."
            ),
            CatalogError::ObjectLockNotEnabled => super::object_lock::missing_configuration(),
            e if e.is_disk_full() => disk_full(&e),
            CatalogError::Postgres(e) if database_unreachable(&e) => {
                tracing::warn!(error = %e, "the catalog database is unreachable");
                s3_error!(ServiceUnavailable, "Service is unable to handle request.")
            }
            e @ (CatalogError::Sqlite(_)
            | CatalogError::Postgres(_)
            | CatalogError::Corrupt(_)
            | CatalogError::Task(_)
            | CatalogError::DiskFull
            | CatalogError::BlobNotPending) => internal(&e),
        }
    }
}

/// An outage of the database rather than a fault of the request or the data: the same
/// request may succeed later (SDKs retry a 503).
fn database_unreachable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
    )
}

impl From<ObjectError> for S3Error {
    fn from(e: ObjectError) -> S3Error {
        match e {
            ObjectError::Catalog(e) => e.into(),
            ObjectError::IncompleteBody => s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            ),
            ObjectError::BodyTimeout => s3_error!(
                RequestTimeout,
                "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
            ),
            ObjectError::BodyTooLong => s3_error!(
                InvalidRequest,
                "The request body is longer than the number of bytes specified by the Content-Length HTTP header."
            ),
            ObjectError::BodySignature => s3_error!(
                SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method."
            ),
            ObjectError::BodySha256 => with_status(
                S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
                http::StatusCode::BAD_REQUEST,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
            ObjectError::Body(msg) => {
                s3_error!(IncompleteBody, "The request body could not be read: {msg}")
            }
            ObjectError::CustomerKeyRequired => s3_error!(InvalidRequest, "{e}"),
            ObjectError::CustomerKeyNotApplicable => s3_error!(
                InvalidRequest,
                "The encryption parameters are not applicable to this object."
            ),
            ObjectError::CustomerKeyMismatch => s3_error!(
                AccessDenied,
                "The provided encryption key does not match the key the object was encrypted with."
            ),
            ObjectError::InvalidPart => s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
            ),
            ObjectError::InvalidPartOrder => {
                s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                )
            }
            ObjectError::EntityTooSmall(n) => {
                s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size (part {n})."
                )
            }
            ObjectError::InvalidPartNumber => with_status(
                S3ErrorCode::Custom("InvalidPartNumber".into()),
                http::StatusCode::RANGE_NOT_SATISFIABLE,
                "The requested partnumber is not satisfiable",
            ),
            ObjectError::Kms(e) => kms_error(e),
            ObjectError::SseCBlocked => s3_error!(
                AccessDenied,
                "Requests specifying Server Side Encryption with Customer provided keys are blocked for this bucket (BlockedEncryptionTypes)."
            ),
            ObjectError::BadDigest(Mismatch::ContentMd5) => s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ),
            ObjectError::BadDigest(Mismatch::Checksum(alg)) => s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                alg.as_str()
            ),
            ObjectError::InvalidChecksumValue(alg) => super::request::invalid_checksum_value(alg),
            ObjectError::MultipartRequest(message) => s3_error!(InvalidRequest, "{message}"),
            ObjectError::Blob(BlobError::Unavailable(cause)) => {
                // Logged as the operator's problem; answered as S3 answers an overloaded
                // store, which SDKs retry with backoff.
                tracing::warn!(%cause, "storage backend unavailable");
                with_status(
                    S3ErrorCode::SlowDown,
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "Please reduce your request rate: the storage backend is not answering.",
                )
            }
            ObjectError::DiskFull(e) => disk_full(&e),
            e @ (ObjectError::Blob(_) | ObjectError::Crypto(_)) => internal(&e),
        }
    }
}

/// A tag set S3 refuses: `InvalidTag`, but more than 10 tags on an object is S3's
/// `BadRequest`, and a header that is no URL query its `InvalidArgument`.
impl From<TagError> for S3Error {
    fn from(e: TagError) -> S3Error {
        let message = e.to_string();
        match e {
            TagError::TooManyObjectTags => with_status(
                S3ErrorCode::Custom("BadRequest".into()),
                http::StatusCode::BAD_REQUEST,
                &message,
            ),
            TagError::Header => S3Error::with_message(S3ErrorCode::InvalidArgument, message),
            _ => S3Error::with_message(S3ErrorCode::InvalidTag, message),
        }
    }
}

/// A KMS refusal as S3 reports it: a denied permission is S3's 403 AccessDenied with the
/// KMS message (which names the action and the key); anything else keeps the KMS
/// exception's name behind a `KMS.` prefix, as S3 does.
fn kms_error(e: KmsError) -> S3Error {
    let status = match e {
        KmsError::AccessDenied(message) => {
            return S3Error::with_message(S3ErrorCode::AccessDenied, message);
        }
        KmsError::Internal(_) => return internal(&e),
        _ if e.is_transient() => http::StatusCode::SERVICE_UNAVAILABLE,
        _ => http::StatusCode::BAD_REQUEST,
    };
    with_status(
        S3ErrorCode::Custom(format!("KMS.{}", e.code()).into()),
        status,
        e.message(),
    )
}

/// No space for new data: S3's 503 SlowDown, which clients retry with backoff while
/// deletes and the collector free space (MinIO's 507 XMinioStorageFull is not a code AWS
/// SDKs know or retry). The message names the cause.
fn disk_full(e: &dyn std::error::Error) -> S3Error {
    tracing::debug!(error = %e, "refusing a write: no space left for new data");
    with_status(
        S3ErrorCode::SlowDown,
        http::StatusCode::SERVICE_UNAVAILABLE,
        "Please reduce your request rate: the gateway's storage is full; new data is refused until space is freed.",
    )
}

/// S3's answer to an XML body it cannot use.
pub(super) fn malformed_xml() -> S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// An error with a status of its own: a code the protocol crate does not know, or one
/// answered with another status than its usual.
pub(super) fn with_status(code: S3ErrorCode, status: http::StatusCode, message: &str) -> S3Error {
    let mut err = S3Error::with_message(code, message.to_owned());
    err.set_status_code(status);
    err
}

/// Logged in full, answered without internals.
fn internal(e: &dyn std::error::Error) -> S3Error {
    tracing::error!(error = %e, "internal error");
    s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_retryable_503s_and_refusals_stay_400s() {
        let e = S3Error::from(IdentityUnavailable("no database".into()));
        assert_eq!(e.code(), &S3ErrorCode::ServiceUnavailable);
        assert_eq!(e.status_code(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
        let e = S3Error::from(ObjectError::Kms(KmsError::dependency_timeout("retry")));
        assert_eq!(e.code().as_str(), "KMS.DependencyTimeoutException");
        assert_eq!(e.status_code(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
        let e = S3Error::from(ObjectError::Kms(KmsError::disabled("off")));
        assert_eq!(e.code().as_str(), "KMS.DisabledException");
        assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
    }
}
