//! Lifecycle as S3 has it: Put/Get/DeleteBucketLifecycleConfiguration, and the
//! `x-amz-expiration` header on the answers about a current version that a rule expires.
//! The worker that applies the rules is [`crate::lifecycle`].

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use super::request::{format_http_date, timestamp};
use crate::bucket_settings::LifecycleConfig;
use crate::bucket_settings::lifecycle::{
    self as rules, Expiration, Filter, Invalid, LifecycleRule, NoncurrentExpiration, Subject,
};
use crate::catalog::CatalogError;
use crate::tagging::TagSet;

/// What sealgate answers a Transition: there is nowhere to move objects to.
const ONE_STORAGE_CLASS: &str = "sealgate has one storage class (STANDARD): Transition and NoncurrentVersionTransition actions are not supported";

fn error(e: Invalid) -> S3Error {
    match e {
        Invalid::Malformed => super::errors::malformed_xml(),
        Invalid::Argument(m) => S3Error::with_message(S3ErrorCode::InvalidArgument, m),
        Invalid::Request(m) => S3Error::with_message(S3ErrorCode::InvalidRequest, m),
    }
}

fn size(n: i64, what: &str) -> Result<u64, Invalid> {
    u64::try_from(n)
        .map_err(|_| Invalid::Argument(format!("{what} must be a non-negative integer")))
}

fn tag_of(t: &Tag) -> Result<(String, String), Invalid> {
    let key = t.key.clone().ok_or(Invalid::Malformed)?;
    Ok((key, t.value.clone().unwrap_or_default()))
}

fn filter_of(f: &LifecycleRuleFilter) -> Result<Filter, Invalid> {
    let given = [
        f.prefix.is_some(),
        f.tag.is_some(),
        f.and.is_some(),
        f.object_size_greater_than.is_some(),
        f.object_size_less_than.is_some(),
    ];
    // S3 takes one condition in a Filter; several go inside And.
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(Invalid::Malformed);
    }
    let mut out = Filter {
        prefix: f.prefix.clone(),
        tags: f
            .tag
            .as_ref()
            .map(tag_of)
            .transpose()?
            .into_iter()
            .collect(),
        size_greater_than: f
            .object_size_greater_than
            .map(|n| size(n, "ObjectSizeGreaterThan"))
            .transpose()?,
        size_less_than: f
            .object_size_less_than
            .map(|n| size(n, "ObjectSizeLessThan"))
            .transpose()?,
        ..Filter::default()
    };
    if let Some(and) = &f.and {
        out.and = true;
        out.prefix = and.prefix.clone();
        out.tags = and
            .tags
            .iter()
            .flatten()
            .map(tag_of)
            .collect::<Result<_, _>>()?;
        out.size_greater_than = and
            .object_size_greater_than
            .map(|n| size(n, "ObjectSizeGreaterThan"))
            .transpose()?;
        out.size_less_than = and
            .object_size_less_than
            .map(|n| size(n, "ObjectSizeLessThan"))
            .transpose()?;
    }
    Ok(out)
}

fn expiration_of(e: &LifecycleExpiration) -> Result<Expiration, Invalid> {
    let date = e.date.clone().map(|d| {
        time::OffsetDateTime::from(d)
            .unix_timestamp()
            .saturating_mul(1000)
    });
    match (e.days, date, e.expired_object_delete_marker) {
        (Some(_), Some(_), _) => Err(Invalid::Malformed),
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => Err(Invalid::Argument(
            "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy."
                .into(),
        )),
        (Some(days), None, None) => Ok(Expiration::Days(rules::expiration_days(days)?)),
        (None, Some(ms), None) => Ok(Expiration::Date(rules::expiration_date(ms)?)),
        (None, None, Some(b)) => Ok(Expiration::ExpiredObjectDeleteMarker(b)),
        (None, None, None) => Err(Invalid::Malformed),
    }
}

fn rule_of(r: &LifecycleRule_) -> Result<LifecycleRule, Invalid> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    {
        return Err(Invalid::Request(ONE_STORAGE_CLASS.into()));
    }
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(Invalid::Malformed),
    };
    let filter = match (&r.prefix, &r.filter) {
        (Some(prefix), None) => Filter {
            legacy: true,
            prefix: Some(prefix.clone()),
            ..Filter::default()
        },
        (None, Some(f)) => filter_of(f)?,
        _ => return Err(Invalid::Malformed),
    };
    let noncurrent = r
        .noncurrent_version_expiration
        .as_ref()
        .map(|n| {
            Ok(NoncurrentExpiration {
                days: rules::noncurrent_days(n.noncurrent_days.ok_or(Invalid::Malformed)?)?,
                newer_versions: n
                    .newer_noncurrent_versions
                    .map(rules::newer_noncurrent_versions)
                    .transpose()?,
            })
        })
        .transpose()?;
    let abort_upload_days = r
        .abort_incomplete_multipart_upload
        .as_ref()
        .map(|a| rules::upload_days(a.days_after_initiation.ok_or(Invalid::Malformed)?))
        .transpose()?;
    Ok(LifecycleRule {
        // S3 names a rule sent without an ID.
        id: r.id.clone().unwrap_or_else(crate::crypto::random_id),
        enabled,
        filter,
        expiration: r.expiration.as_ref().map(expiration_of).transpose()?,
        noncurrent,
        abort_upload_days,
    })
}

/// The stored configuration of a request's, checked as S3 checks it.
fn from_dto(c: Option<&BucketLifecycleConfiguration>) -> Result<LifecycleConfig, Invalid> {
    let c = c.ok_or(Invalid::Malformed)?;
    let config = LifecycleConfig {
        rules: c.rules.iter().map(rule_of).collect::<Result<_, _>>()?,
    };
    rules::validate(&config)?;
    Ok(config)
}

type LifecycleRule_ = s3s::dto::LifecycleRule;

fn tag_dto((k, v): &(String, String)) -> Tag {
    Tag {
        key: Some(k.clone()),
        value: Some(v.clone()),
    }
}

fn filter_dto(f: &Filter) -> LifecycleRuleFilter {
    let gt = f
        .size_greater_than
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let lt = f
        .size_less_than
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    if f.and {
        return LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: f.prefix.clone(),
                tags: (!f.tags.is_empty()).then(|| f.tags.iter().map(tag_dto).collect()),
                object_size_greater_than: gt,
                object_size_less_than: lt,
            }),
            ..LifecycleRuleFilter::default()
        };
    }
    LifecycleRuleFilter {
        prefix: f.prefix.clone(),
        tag: f.tags.first().map(tag_dto),
        object_size_greater_than: gt,
        object_size_less_than: lt,
        ..LifecycleRuleFilter::default()
    }
}

fn rule_dto(r: &LifecycleRule) -> LifecycleRule_ {
    let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
    LifecycleRule_ {
        id: Some(r.id.clone()),
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        prefix: r.filter.legacy.then(|| r.filter.prefix().to_owned()),
        filter: (!r.filter.legacy).then(|| filter_dto(&r.filter)),
        expiration: r.expiration.map(|e| match e {
            Expiration::Days(d) => LifecycleExpiration {
                days: Some(days(d)),
                ..LifecycleExpiration::default()
            },
            Expiration::Date(ms) => LifecycleExpiration {
                date: Some(timestamp(ms)),
                ..LifecycleExpiration::default()
            },
            Expiration::ExpiredObjectDeleteMarker(b) => LifecycleExpiration {
                expired_object_delete_marker: Some(b),
                ..LifecycleExpiration::default()
            },
        }),
        noncurrent_version_expiration: r.noncurrent.map(|n| NoncurrentVersionExpiration {
            noncurrent_days: Some(days(n.days)),
            newer_noncurrent_versions: n.newer_versions.map(days),
        }),
        abort_incomplete_multipart_upload: r.abort_upload_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(days(d)),
            }
        }),
        transitions: None,
        noncurrent_version_transitions: None,
    }
}

/// The lifecycle rules of the bucket a request addresses, as authorization read them
/// (an unreadable record as its error, which fails what needs it).
#[derive(Debug, Clone)]
pub(crate) struct BucketLifecycle(pub Result<Option<Arc<LifecycleConfig>>, String>);

impl BucketLifecycle {
    pub(crate) fn of(bucket: &crate::catalog::Bucket) -> BucketLifecycle {
        BucketLifecycle(
            bucket
                .lifecycle()
                .map(|c| c.cloned().map(Arc::new))
                .map_err(|e| e.to_string()),
        )
    }
}

/// `x-amz-expiration` for a current version: when the rule that expires it first does,
/// and which rule, as S3 writes it. None when no enabled rule expires it.
pub(super) fn expiration_header(
    ext: &http::Extensions,
    key: &str,
    size: u64,
    tags: &TagSet,
    last_modified_ms: i64,
) -> S3Result<Option<String>> {
    let Some(BucketLifecycle(found)) = ext.get::<BucketLifecycle>() else {
        return Ok(None);
    };
    let config = match found {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(None),
        Err(e) => return Err(CatalogError::Corrupt(e.clone()).into()),
    };
    let subject = Subject { key, size, tags };
    Ok(config
        .current_expiry(subject, last_modified_ms)
        .and_then(|(at, id)| {
            let date = format_http_date(&timestamp(at))?;
            Some(format!("expiry-date=\"{date}\", rule-id=\"{id}\""))
        }))
}

impl SealgateS3 {
    pub(super) async fn put_bucket_lifecycle_configuration_op(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        let config = from_dto(input.lifecycle_configuration.as_ref()).map_err(error)?;
        self.svc
            .set_bucket_setting(&input.bucket, Some(&config))
            .await?;
        Ok(S3Response::new(
            PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    pub(super) async fn get_bucket_lifecycle_configuration_op(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let config = bucket.lifecycle()?.ok_or_else(|| {
            s3_error!(
                NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist"
            )
        })?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(config.rules.iter().map(rule_dto).collect()),
            ..GetBucketLifecycleConfigurationOutput::default()
        }))
    }

    pub(super) async fn delete_bucket_lifecycle_op(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.svc
            .set_bucket_setting::<LifecycleConfig>(&req.input.bucket, None)
            .await?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> LifecycleRule_ {
        LifecycleRule_ {
            id: Some("r".into()),
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            filter: Some(LifecycleRuleFilter {
                prefix: Some("logs/".into()),
                ..LifecycleRuleFilter::default()
            }),
            expiration: Some(LifecycleExpiration {
                days: Some(3),
                ..LifecycleExpiration::default()
            }),
            abort_incomplete_multipart_upload: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        }
    }

    fn put(rules: Vec<LifecycleRule_>) -> Result<LifecycleConfig, Invalid> {
        from_dto(Some(&BucketLifecycleConfiguration { rules }))
    }

    #[test]
    fn a_configuration_round_trips_in_the_shape_it_was_sent() {
        let mut legacy = rule();
        legacy.id = Some("legacy".into());
        legacy.filter = None;
        legacy.prefix = Some("old/".into());
        let mut and = rule();
        and.id = Some("and".into());
        and.filter = Some(LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: Some("p/".into()),
                tags: Some(vec![Tag {
                    key: Some("k".into()),
                    value: Some("v".into()),
                }]),
                object_size_greater_than: Some(5),
                object_size_less_than: None,
            }),
            ..LifecycleRuleFilter::default()
        });
        let sent = vec![rule(), legacy, and];
        let stored = put(sent.clone()).unwrap();
        let back: Vec<_> = stored.rules.iter().map(rule_dto).collect();
        assert_eq!(back, sent);
    }

    #[test]
    fn malformed_and_refused_rules_get_s3s_errors() {
        let mut both = rule();
        both.prefix = Some("x".into());
        assert_eq!(put(vec![both]), Err(Invalid::Malformed));
        let mut neither = rule();
        neither.filter = None;
        assert_eq!(put(vec![neither]), Err(Invalid::Malformed));
        let mut status = rule();
        status.status = ExpirationStatus::from("enabled".to_owned());
        assert_eq!(put(vec![status]), Err(Invalid::Malformed));
        let mut two_conditions = rule();
        two_conditions.filter = Some(LifecycleRuleFilter {
            prefix: Some("a".into()),
            object_size_greater_than: Some(1),
            ..LifecycleRuleFilter::default()
        });
        assert_eq!(put(vec![two_conditions]), Err(Invalid::Malformed));
        let mut marker_and_days = rule();
        marker_and_days.expiration = Some(LifecycleExpiration {
            days: Some(1),
            expired_object_delete_marker: Some(true),
            date: None,
        });
        assert!(
            matches!(put(vec![marker_and_days]), Err(Invalid::Argument(m)) if m.starts_with("ExpiredObjectDeleteMarker cannot be specified"))
        );
        let mut transition = rule();
        transition.transitions = Some(vec![Transition {
            days: Some(30),
            storage_class: Some(TransitionStorageClass::from_static("GLACIER")),
            date: None,
        }]);
        assert_eq!(
            put(vec![transition]),
            Err(Invalid::Request(ONE_STORAGE_CLASS.into()))
        );
        let mut no_id = rule();
        no_id.id = None;
        assert!(!put(vec![no_id]).unwrap().rules[0].id.is_empty());
    }
}
