//! Object Lock at the edge: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold, and the `x-amz-object-lock-*` headers of writes. What a lock
//! forbids is decided by the catalog, inside the transaction that deletes or changes a
//! version ([`crate::bucket_settings::object_lock`]); here requests are parsed and checked
//! as S3 checks them.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use super::errors::malformed_xml;
use super::request::{timestamp, timestamp_ms};
use crate::bucket_settings::ObjectLockConfig;
use crate::bucket_settings::object_lock::{
    DefaultRetention, LockChange, LockMode, Retention, RetentionPeriod, VersionLock,
};
use crate::catalog::{CatalogError, ObjectVersion};
use crate::objects::ObjectError;

/// What S3 answers a lock request on a bucket without Object Lock.
pub(super) fn missing_configuration() -> S3Error {
    s3_error!(
        InvalidRequest,
        "Bucket is missing Object Lock Configuration"
    )
}

/// Whether authorization found the caller may bypass GOVERNANCE retention, and asked to.
pub(super) fn bypass_governance(ext: &http::Extensions) -> bool {
    ext.get::<super::access::GovernanceBypass>().is_some()
}

fn mode_of(mode: &str) -> S3Result<LockMode> {
    LockMode::parse(mode).ok_or_else(|| s3_error!(InvalidArgument, "Unknown wormMode directive."))
}

fn legal_hold_of(status: &str) -> S3Result<bool> {
    match status {
        ObjectLockLegalHoldStatus::ON => Ok(true),
        ObjectLockLegalHoldStatus::OFF => Ok(false),
        _ => Err(s3_error!(
            InvalidArgument,
            "Legal Hold must be either of 'ON' or 'OFF'"
        )),
    }
}

fn legal_hold_status(on: bool) -> ObjectLockLegalHoldStatus {
    ObjectLockLegalHoldStatus::from(
        if on {
            ObjectLockLegalHoldStatus::ON
        } else {
            ObjectLockLegalHoldStatus::OFF
        }
        .to_owned(),
    )
}

/// A mode and a date, which a request states both or neither of.
fn paired<'a>(
    mode: Option<&'a str>,
    until: Option<&'a Timestamp>,
    unpaired: impl FnOnce() -> S3Error,
) -> S3Result<Option<(&'a str, &'a Timestamp)>> {
    match (mode, until) {
        (None, None) => Ok(None),
        (Some(mode), Some(until)) => Ok(Some((mode, until))),
        _ => Err(unpaired()),
    }
}

/// A retention as a request states it, its date in the future.
fn retention_of(stated: Option<(&str, &Timestamp)>, now_ms: i64) -> S3Result<Option<Retention>> {
    let Some((mode, until)) = stated else {
        return Ok(None);
    };
    let (mode, until) = (mode_of(mode)?, timestamp_ms(until));
    if until <= now_ms {
        return Err(s3_error!(
            InvalidArgument,
            "The retain until date must be in the future!"
        ));
    }
    Ok(Some(Retention {
        mode,
        until_ms: until,
    }))
}

/// The lock a write's `x-amz-object-lock-*` headers ask for.
pub(super) fn asked_lock(
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    legal_hold: Option<&ObjectLockLegalHoldStatus>,
    now_ms: i64,
) -> S3Result<VersionLock> {
    let stated = paired(mode.map(ObjectLockMode::as_str), until, || {
        s3_error!(
            InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        )
    })?;
    Ok(VersionLock {
        retention: retention_of(stated, now_ms)?,
        legal_hold: legal_hold.map(|s| legal_hold_of(s.as_str())).transpose()?,
    })
}

/// The `x-amz-object-lock-*` headers of a write, as [`asked_lock`] reads them.
macro_rules! lock_headers {
    ($self:expr, $input:expr) => {
        $crate::s3::object_lock::asked_lock(
            $input.object_lock_mode.as_ref(),
            $input.object_lock_retain_until_date.as_ref(),
            $input.object_lock_legal_hold_status.as_ref(),
            $self.svc.now_ms(),
        )
    };
}
pub(super) use lock_headers;

/// The response fields a read shows of a version's lock.
pub(super) struct LockFields {
    pub mode: Option<ObjectLockMode>,
    pub until: Option<Timestamp>,
    pub legal_hold: Option<ObjectLockLegalHoldStatus>,
}

pub(super) fn lock_fields(lock: &VersionLock) -> LockFields {
    LockFields {
        mode: lock
            .retention
            .map(|r| ObjectLockMode::from(r.mode.as_str().to_owned())),
        until: lock.retention.map(|r| timestamp(r.until_ms)),
        legal_hold: lock.legal_hold.map(legal_hold_status),
    }
}

fn config_of(dto: Option<&ObjectLockConfiguration>) -> S3Result<ObjectLockConfig> {
    let dto = dto.ok_or_else(malformed_xml)?;
    if dto
        .object_lock_enabled
        .as_ref()
        .map(ObjectLockEnabled::as_str)
        != Some(ObjectLockEnabled::ENABLED)
    {
        return Err(malformed_xml());
    }
    let Some(rule) = &dto.rule else {
        return Ok(ObjectLockConfig::default());
    };
    let d = rule.default_retention.as_ref().ok_or_else(malformed_xml)?;
    let mode = mode_of(d.mode.as_ref().ok_or_else(malformed_xml)?.as_str())?;
    let period = match (d.days, d.years) {
        (Some(days), None) => RetentionPeriod::Days(positive_period(days, 36_500)?),
        (None, Some(years)) => RetentionPeriod::Years(positive_period(years, 100)?),
        _ => return Err(malformed_xml()),
    };
    Ok(ObjectLockConfig {
        default_retention: Some(DefaultRetention { mode, period }),
    })
}

fn positive_period(n: i32, max: u32) -> S3Result<u32> {
    match u32::try_from(n) {
        Ok(n) if n > 0 && n <= max => Ok(n),
        Ok(n) if n > max => Err(s3_error!(
            InvalidArgument,
            "Default retention period is too large."
        )),
        _ => Err(s3_error!(
            InvalidArgument,
            "Default retention period must be a positive integer value."
        )),
    }
}

fn config_to_dto(cfg: &ObjectLockConfig) -> ObjectLockConfiguration {
    let rule = cfg.default_retention.map(|d| {
        let (days, years) = match d.period {
            RetentionPeriod::Days(n) => (Some(n as i32), None),
            RetentionPeriod::Years(n) => (None, Some(n as i32)),
        };
        ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_owned())),
                days,
                years,
            }),
        }
    });
    ObjectLockConfiguration {
        object_lock_enabled: Some(ObjectLockEnabled::from(
            ObjectLockEnabled::ENABLED.to_owned(),
        )),
        rule,
    }
}

fn no_lock_configuration() -> S3Error {
    super::errors::with_status(
        S3ErrorCode::Custom("NoSuchObjectLockConfiguration".into()),
        http::StatusCode::NOT_FOUND,
        "The specified object does not have a ObjectLock configuration",
    )
}

impl SealgateS3 {
    /// Refuses a lock asked on a bucket without Object Lock before any byte is read.
    pub(super) async fn check_lock_allowed(
        &self,
        bucket: &str,
        lock: &VersionLock,
    ) -> S3Result<()> {
        if !lock.is_none() && self.svc.bucket(bucket).await?.object_lock()?.is_none() {
            return Err(missing_configuration());
        }
        Ok(())
    }

    /// The version a retention or legal hold request names, in a bucket with Object Lock.
    async fn locked_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<ObjectVersion> {
        if self.svc.bucket(bucket).await?.object_lock()?.is_none() {
            return Err(missing_configuration());
        }
        self.live_version(bucket, key, version_id).await
    }

    async fn change_lock(
        &self,
        v: &ObjectVersion,
        named: bool,
        change: LockChange,
    ) -> S3Result<VersionLock> {
        self.svc
            .set_lock(&v.bucket, &v.key, &v.seal_id, change)
            .await
            .map_err(|e| match e {
                // Deleted since it was found.
                ObjectError::Catalog(CatalogError::NoSuchKey) if named => {
                    CatalogError::NoSuchVersion.into()
                }
                e => S3Error::from(e),
            })
    }

    pub(super) async fn get_object_lock_configuration_op(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        match bucket.object_lock()? {
            Some(cfg) => Ok(S3Response::new(GetObjectLockConfigurationOutput {
                object_lock_configuration: Some(config_to_dto(cfg)),
            })),
            None => Err(super::errors::with_status(
                S3ErrorCode::Custom("ObjectLockConfigurationNotFoundError".into()),
                http::StatusCode::NOT_FOUND,
                "Object Lock configuration does not exist for this bucket",
            )),
        }
    }

    /// Enables Object Lock on a versioned bucket (for good), or replaces its default
    /// retention.
    pub(super) async fn put_object_lock_configuration_op(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let i = req.input;
        let cfg = config_of(i.object_lock_configuration.as_ref())?;
        self.svc
            .catalog()
            .set_setting(&i.bucket, Some(&cfg))
            .await?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn get_object_retention_op(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let i = req.input;
        let v = self
            .locked_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        let r = v.lock.retention.ok_or_else(no_lock_configuration)?;
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_owned())),
                retain_until_date: Some(timestamp(r.until_ms)),
            }),
        }))
    }

    pub(super) async fn put_object_retention_op(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let bypass = bypass_governance(&req.extensions);
        let i = req.input;
        let dto = i.retention.unwrap_or_default();
        let stated = paired(
            dto.mode.as_ref().map(ObjectLockRetentionMode::as_str),
            dto.retain_until_date.as_ref(),
            malformed_xml,
        )?;
        let retention = retention_of(stated, self.svc.now_ms())?;
        let v = self
            .locked_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        let change = LockChange::Retention {
            retention,
            bypass_governance: bypass,
        };
        self.change_lock(&v, i.version_id.is_some(), change).await?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) async fn get_object_legal_hold_op(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let i = req.input;
        let v = self
            .locked_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        let on = v.lock.legal_hold.ok_or_else(no_lock_configuration)?;
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(legal_hold_status(on)),
            }),
        }))
    }

    pub(super) async fn put_object_legal_hold_op(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let i = req.input;
        let status = i
            .legal_hold
            .as_ref()
            .and_then(|h| h.status.as_ref())
            .ok_or_else(malformed_xml)?;
        let on = legal_hold_of(status.as_str()).map_err(|_| malformed_xml())?;
        let v = self
            .locked_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        self.change_lock(&v, i.version_id.is_some(), LockChange::LegalHold(on))
            .await?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }
}
