//! `PutBucketReplication`, `GetBucketReplication`, `DeleteBucketReplication`: AWS's XML
//! (parsed by the protocol crate) to the stored `ReplicationConfig` and back, with the
//! checks S3 makes when a configuration is put.

use std::time::Duration;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use crate::bucket_settings::ReplicationConfig;
use crate::bucket_settings::replication::{self as rules, Filter};
use crate::replication::remote::{self, RemoteError};

/// How long PutBucketReplication waits for a remote to say whether the destination exists.
const DESTINATION_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

use super::errors::malformed_xml as malformed;

fn enabled(status: &str) -> S3Result<bool> {
    match status {
        "Enabled" => Ok(true),
        "Disabled" => Ok(false),
        _ => Err(malformed()),
    }
}

fn tag_pair(t: &Tag) -> (String, String) {
    (
        t.key.clone().unwrap_or_default(),
        t.value.clone().unwrap_or_default(),
    )
}

fn filter_of(f: &ReplicationRuleFilter) -> S3Result<Filter> {
    let given = [f.prefix.is_some(), f.tag.is_some(), f.and.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if given > 1 {
        return Err(malformed());
    }
    if let Some(and) = &f.and {
        return Ok(Filter {
            prefix: and.prefix.clone().unwrap_or_default(),
            tags: and.tags.iter().flatten().map(tag_pair).collect(),
            and: true,
        });
    }
    Ok(Filter {
        prefix: f.prefix.clone().unwrap_or_default(),
        tags: f.tag.iter().map(tag_pair).collect(),
        and: false,
    })
}

/// The protocol crate's model to the stored form; values outside AWS's enums are MalformedXML.
pub(crate) fn from_dto(cfg: &ReplicationConfiguration) -> S3Result<ReplicationConfig> {
    let mut rules = Vec::with_capacity(cfg.rules.len());
    for r in &cfg.rules {
        let (filter, has_filter) = match (&r.filter, &r.prefix) {
            (Some(_), Some(_)) => return Err(malformed()),
            (Some(f), None) => (filter_of(f)?, true),
            (None, p) => (
                Filter {
                    prefix: p.clone().unwrap_or_default(),
                    ..Filter::default()
                },
                false,
            ),
        };
        if has_filter && r.delete_marker_replication.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema."
            ));
        }
        // A rule of the first schema (a bare Prefix, or neither Prefix nor Filter) always
        // replicates delete markers; S3 refuses to be told otherwise rather than store a
        // setting it would ignore.
        if !has_filter && r.delete_marker_replication.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "DeleteMarkerReplication is not supported for this version of Cross Region Replication configuration schema."
            ));
        }
        let delete_markers = match r
            .delete_marker_replication
            .as_ref()
            .and_then(|d| d.status.as_ref())
        {
            Some(s) => enabled(s.as_str())?,
            None => false,
        };
        let criteria = r.source_selection_criteria.as_ref();
        let sse_kms_objects = criteria
            .and_then(|c| c.sse_kms_encrypted_objects.as_ref())
            .map(|s| enabled(s.status.as_str()))
            .transpose()?;
        let replica_modifications = criteria
            .and_then(|c| c.replica_modifications.as_ref())
            .map(|s| enabled(s.status.as_str()))
            .transpose()?;
        let existing_objects = r
            .existing_object_replication
            .as_ref()
            .map(|e| enabled(e.status.as_str()))
            .transpose()?;
        let d = &r.destination;
        rules.push(rules::Rule {
            // S3 names unnamed rules itself.
            id: r
                .id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(crate::crypto::random_id),
            priority: r.priority,
            enabled: enabled(r.status.as_str())?,
            filter,
            has_filter,
            delete_markers,
            sse_kms_objects,
            replica_modifications,
            existing_objects,
            destination: rules::Destination {
                bucket_arn: d.bucket.clone(),
                account: d.account.clone(),
                storage_class: d.storage_class.as_ref().map(|s| s.as_str().to_owned()),
                replica_kms_key_id: d
                    .encryption_configuration
                    .as_ref()
                    .and_then(|e| e.replica_kms_key_id.clone()),
            },
        });
    }
    Ok(ReplicationConfig {
        role: cfg.role.clone(),
        rules,
    })
}

fn status(on: bool) -> &'static str {
    if on { "Enabled" } else { "Disabled" }
}

fn tag_of((k, v): &(String, String)) -> Tag {
    Tag {
        key: Some(k.clone()),
        value: Some(v.clone()),
    }
}

pub(crate) fn to_dto(cfg: &ReplicationConfig) -> ReplicationConfiguration {
    let rules =
        cfg.rules
            .iter()
            .map(|r| {
                let filter = r.has_filter.then(|| {
                    let f = &r.filter;
                    if f.and {
                        ReplicationRuleFilter {
                            and: Some(ReplicationRuleAndOperator {
                                prefix: Some(f.prefix.clone()),
                                tags: Some(f.tags.iter().map(tag_of).collect()),
                            }),
                            ..Default::default()
                        }
                    } else if let Some(t) = f.tags.first() {
                        ReplicationRuleFilter {
                            tag: Some(tag_of(t)),
                            ..Default::default()
                        }
                    } else {
                        ReplicationRuleFilter {
                            prefix: Some(f.prefix.clone()),
                            ..Default::default()
                        }
                    }
                });
                let criteria = (r.sse_kms_objects.is_some() || r.replica_modifications.is_some())
                    .then(|| SourceSelectionCriteria {
                        sse_kms_encrypted_objects: r.sse_kms_objects.map(|on| {
                            SseKmsEncryptedObjects {
                                status: SseKmsEncryptedObjectsStatus::from(status(on).to_owned()),
                            }
                        }),
                        replica_modifications: r.replica_modifications.map(|on| {
                            ReplicaModifications {
                                status: ReplicaModificationsStatus::from(status(on).to_owned()),
                            }
                        }),
                    });
                let d = &r.destination;
                ReplicationRule {
                    id: Some(r.id.clone()),
                    priority: r.priority,
                    status: ReplicationRuleStatus::from(status(r.enabled).to_owned()),
                    prefix: (!r.has_filter).then(|| r.filter.prefix.clone()),
                    filter,
                    delete_marker_replication: r.has_filter.then(|| DeleteMarkerReplication {
                        status: Some(DeleteMarkerReplicationStatus::from(
                            status(r.delete_markers).to_owned(),
                        )),
                    }),
                    source_selection_criteria: criteria,
                    existing_object_replication: r.existing_objects.map(|on| {
                        ExistingObjectReplication {
                            status: ExistingObjectReplicationStatus::from(status(on).to_owned()),
                        }
                    }),
                    destination: Destination {
                        bucket: d.bucket_arn.clone(),
                        account: d.account.clone(),
                        storage_class: d.storage_class.clone().map(StorageClass::from),
                        encryption_configuration: d.replica_kms_key_id.as_ref().map(|k| {
                            EncryptionConfiguration {
                                replica_kms_key_id: Some(k.clone()),
                            }
                        }),
                        ..Default::default()
                    },
                }
            })
            .collect();
    ReplicationConfiguration {
        role: cfg.role.clone(),
        rules,
    }
}

fn invalid(e: rules::Invalid) -> S3Error {
    let code = S3ErrorCode::from_bytes(e.code.as_bytes()).unwrap_or(S3ErrorCode::InvalidRequest);
    S3Error::with_message(code, e.message)
}

fn not_found() -> S3Error {
    s3_error!(
        ReplicationConfigurationNotFoundError,
        "The replication configuration was not found"
    )
}

impl SealgateS3 {
    /// The destination checks S3 makes at put time, where a remote can answer: the bucket
    /// exists and has versioning Enabled. An unreachable remote does not block the put; the
    /// worker checks again before each replica.
    async fn check_destinations(&self, cfg: &ReplicationConfig) -> S3Result<()> {
        let Some(remotes) = &self.remotes else {
            return Ok(());
        };
        let mut buckets: Vec<&str> = cfg.rules.iter().map(|r| r.destination.bucket()).collect();
        buckets.sort_unstable();
        buckets.dedup();
        for bucket in buckets {
            let check = async {
                match remotes.locate(bucket).await? {
                    None => Ok(Some("Destination bucket must exist.")),
                    Some(site) => Ok(if remote::versioning_enabled(&site, bucket).await? {
                        None
                    } else {
                        Some("Destination bucket must have versioning enabled.")
                    }),
                }
            };
            match tokio::time::timeout(DESTINATION_CHECK_TIMEOUT, check).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(problem))) => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        problem.to_owned(),
                    ));
                }
                Ok(Err(RemoteError::Refused { message, .. })) => {
                    tracing::warn!(%bucket, %message, "destination check refused; accepting the configuration");
                }
                Ok(Err(RemoteError::Transient(e))) => {
                    tracing::warn!(%bucket, error = %e, "destination unreachable; accepting the configuration");
                }
                Err(_) => {
                    tracing::warn!(%bucket, "destination check timed out; accepting the configuration");
                }
            }
        }
        Ok(())
    }

    pub(super) async fn put_bucket_replication_op(
        &self,
        req: S3Request<PutBucketReplicationInput>,
    ) -> S3Result<S3Response<PutBucketReplicationOutput>> {
        let input = req.input;
        let cfg = from_dto(&input.replication_configuration)?;
        rules::validate(&cfg, &input.bucket).map_err(invalid)?;
        self.check_destinations(&cfg).await?;
        self.svc
            .set_bucket_setting(&input.bucket, Some(&cfg))
            .await?;
        Ok(S3Response::new(PutBucketReplicationOutput::default()))
    }

    pub(super) async fn get_bucket_replication_op(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let cfg = bucket.replication()?.ok_or_else(not_found)?;
        Ok(S3Response::new(GetBucketReplicationOutput {
            replication_configuration: Some(to_dto(cfg)),
        }))
    }

    pub(super) async fn delete_bucket_replication_op(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
        self.svc
            .set_bucket_setting::<ReplicationConfig>(&req.input.bucket, None)
            .await?;
        Ok(S3Response::new(DeleteBucketReplicationOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dto_rule(filter: Option<ReplicationRuleFilter>) -> ReplicationRule {
        ReplicationRule {
            id: Some("r1".into()),
            priority: Some(1),
            status: ReplicationRuleStatus::from("Enabled".to_owned()),
            prefix: None,
            filter,
            delete_marker_replication: Some(DeleteMarkerReplication {
                status: Some(DeleteMarkerReplicationStatus::from("Enabled".to_owned())),
            }),
            source_selection_criteria: Some(SourceSelectionCriteria {
                sse_kms_encrypted_objects: Some(SseKmsEncryptedObjects {
                    status: SseKmsEncryptedObjectsStatus::from("Enabled".to_owned()),
                }),
                replica_modifications: None,
            }),
            existing_object_replication: None,
            destination: Destination {
                bucket: "arn:aws:s3:::dest".into(),
                encryption_configuration: Some(EncryptionConfiguration {
                    replica_kms_key_id: Some("arn:aws:kms:eu-west-1:000000000000:key/k".into()),
                }),
                ..Default::default()
            },
        }
    }

    #[test]
    fn configurations_round_trip_through_the_stored_form() {
        let dto = ReplicationConfiguration {
            role: "arn:aws:iam::000000000000:role/replication".into(),
            rules: vec![dto_rule(Some(ReplicationRuleFilter {
                prefix: Some("logs/".into()),
                ..Default::default()
            }))],
        };
        let cfg = from_dto(&dto).unwrap();
        assert!(cfg.rules[0].delete_markers && cfg.rules[0].has_filter);
        assert_eq!(cfg.rules[0].filter.prefix, "logs/");
        rules::validate(&cfg, "src").unwrap();
        assert_eq!(from_dto(&to_dto(&cfg)).unwrap(), cfg);
    }

    #[test]
    fn bad_values_and_shapes_are_malformed() {
        let mut r = dto_rule(None);
        r.delete_marker_replication = None;
        r.status = ReplicationRuleStatus::from("Maybe".to_owned());
        let cfg = |rule| ReplicationConfiguration {
            role: String::new(),
            rules: vec![rule],
        };
        assert_eq!(
            *from_dto(&cfg(r)).unwrap_err().code(),
            S3ErrorCode::MalformedXML
        );
        let both = dto_rule(Some(ReplicationRuleFilter {
            prefix: Some("a".into()),
            tag: Some(Tag {
                key: Some("k".into()),
                value: Some("v".into()),
            }),
            and: None,
        }));
        assert_eq!(
            *from_dto(&cfg(both)).unwrap_err().code(),
            S3ErrorCode::MalformedXML
        );
        let mut no_dm = dto_rule(Some(ReplicationRuleFilter::default()));
        no_dm.delete_marker_replication = None;
        assert_eq!(
            *from_dto(&cfg(no_dm)).unwrap_err().code(),
            S3ErrorCode::InvalidRequest
        );
        // A first-schema rule replicates delete markers whatever it says: it may not say.
        let mut v1_with_dm = dto_rule(None);
        v1_with_dm.prefix = Some("logs/".into());
        assert_eq!(
            *from_dto(&cfg(v1_with_dm)).unwrap_err().code(),
            S3ErrorCode::InvalidRequest
        );
    }
}
