//! A bucket's replication configuration (`PutBucketReplication`), which rule a new version
//! falls under, and the checks S3 applies when a configuration is put.

use serde::{Deserialize, Serialize};

use super::StoredSetting;
use crate::tagging::TagSet;

/// The tags of what has none (a delete marker).
pub(crate) static NO_TAGS: TagSet = TagSet::new();

/// S3's limit on rules per configuration.
pub(crate) const MAX_RULES: usize = 1000;
/// S3's limit on a rule id's length.
pub(crate) const MAX_RULE_ID: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationConfig {
    /// The IAM role ARN as given; sealgate has no roles to assume (see README).
    pub role: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    /// None for rules in S3's first schema (a `Prefix` and no `Filter`).
    pub priority: Option<i32>,
    pub enabled: bool,
    pub filter: Filter,
    /// Whether the rule came with a `Filter` (S3's second schema) rather than a bare `Prefix`.
    pub has_filter: bool,
    /// `DeleteMarkerReplication` Enabled.
    pub delete_markers: bool,
    /// `SourceSelectionCriteria/SseKmsEncryptedObjects` Enabled: SSE-KMS versions replicate.
    pub sse_kms_objects: Option<bool>,
    /// `SourceSelectionCriteria/ReplicaModifications` as given (stored and shown).
    pub replica_modifications: Option<bool>,
    pub existing_objects: Option<bool>,
    pub destination: Destination,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub prefix: String,
    /// Tags the object must carry, every one with its value.
    pub tags: Vec<(String, String)>,
    /// Whether the filter was written with `And`.
    pub and: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// `arn:aws:s3:::NAME`.
    pub bucket_arn: String,
    pub account: Option<String>,
    pub storage_class: Option<String>,
    pub replica_kms_key_id: Option<String>,
}

impl Destination {
    /// The bucket name of the ARN (validated when the configuration was put).
    pub fn bucket(&self) -> &str {
        crate::arn::s3_bucket_name(&self.bucket_arn).unwrap_or(&self.bucket_arn)
    }
}

/// What is known of a new version when rules are evaluated.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub key: &'a str,
    pub delete_marker: bool,
    pub sse_kms: bool,
    /// The version's tags (none for a delete marker).
    pub tags: &'a TagSet,
}

impl Rule {
    fn matches(&self, c: &Candidate<'_>) -> bool {
        let tagged = |(k, v): &(String, String)| c.tags.get(k) == Some(v);
        if !self.enabled
            || !c.key.starts_with(&self.filter.prefix)
            || !self.filter.tags.iter().all(tagged)
        {
            return false;
        }
        if c.delete_marker {
            // S3 replicates delete markers only for rules that say so; rules in the first
            // schema (no Filter) always did.
            return !self.has_filter || self.delete_markers;
        }
        // S3 leaves SSE-KMS objects alone unless the rule opts in.
        !c.sse_kms || self.sse_kms_objects == Some(true)
    }
}

impl ReplicationConfig {
    /// The rule a version falls under: of the enabled rules whose filter matches, the one
    /// of highest priority (the first in document order among equals, for the first schema).
    pub fn rule_for(&self, c: &Candidate<'_>) -> Option<&Rule> {
        let mut best: Option<&Rule> = None;
        for r in self.rules.iter().filter(|r| r.matches(c)) {
            if best.is_none_or(|b| r.priority.unwrap_or(0) > b.priority.unwrap_or(0)) {
                best = Some(r);
            }
        }
        best
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

impl StoredSetting for ReplicationConfig {
    const NAME: &'static str = "replication configuration";
    const VERSION: u32 = 1;
}

/// A configuration S3 would refuse: the error code and message it answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        message: message.into(),
    }
}

/// The checks S3 makes of a configuration's content (the XML already parsed), for a
/// configuration put on `source_bucket`.
pub(crate) fn validate(cfg: &ReplicationConfig, source_bucket: &str) -> Result<(), Invalid> {
    if cfg.rules.is_empty() || cfg.rules.len() > MAX_RULES {
        return Err(invalid(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    let mut ids = std::collections::HashSet::new();
    let mut priorities = std::collections::HashSet::new();
    let with_filter = cfg.rules.iter().filter(|r| r.has_filter).count();
    if with_filter != 0 && with_filter != cfg.rules.len() {
        return Err(invalid(
            "InvalidRequest",
            "Rules in a replication configuration must either all have a Filter or all have a Prefix",
        ));
    }
    for r in &cfg.rules {
        if r.id.len() > MAX_RULE_ID {
            return Err(invalid(
                "InvalidArgument",
                "The ID of a rule must be at most 255 characters",
            ));
        }
        if !ids.insert(r.id.as_str()) {
            return Err(invalid("InvalidRequest", "Rule Id must be unique"));
        }
        if r.has_filter {
            let Some(p) = r.priority else {
                return Err(invalid(
                    "InvalidRequest",
                    "Priority must be specified for this version of Cross Region Replication configuration schema.",
                ));
            };
            if !priorities.insert(p) {
                return Err(invalid(
                    "InvalidRequest",
                    "Found two rules with same priority",
                ));
            }
        }
        if r.filter.tags.iter().any(|(k, _)| k.is_empty()) {
            return Err(invalid(
                "InvalidTag",
                "The TagKey you have provided is invalid",
            ));
        }
        if r.delete_markers && !r.filter.tags.is_empty() {
            return Err(invalid(
                "InvalidRequest",
                "Delete marker replication is not supported if any Tag filter is specified. Please refer to S3 Developer Guide for more information.",
            ));
        }
        let Some(dest) = crate::arn::s3_bucket_name(&r.destination.bucket_arn) else {
            return Err(invalid(
                "InvalidArgument",
                "Invalid destination bucket ARN: it must be arn:aws:s3:::BUCKET",
            ));
        };
        if dest == source_bucket {
            return Err(invalid(
                "InvalidRequest",
                "Destination bucket cannot be the same as the source bucket.",
            ));
        }
        if r.sse_kms_objects == Some(true) && r.destination.replica_kms_key_id.is_none() {
            return Err(invalid(
                "InvalidRequest",
                "ReplicaKmsKeyID must be specified if SseKmsEncryptedObjects tag is present.",
            ));
        }
        if r.destination.replica_kms_key_id.is_some() && r.sse_kms_objects != Some(true) {
            return Err(invalid(
                "InvalidRequest",
                "SseKmsEncryptedObjects must be specified if EncryptionConfiguration is present.",
            ));
        }
        if let Some(class) = &r.destination.storage_class
            && !STORAGE_CLASSES.contains(&class.as_str())
        {
            return Err(invalid(
                "InvalidStorageClass",
                "The storage class you specified is not valid",
            ));
        }
    }
    Ok(())
}

/// An enabled rule with a prefix filter, to `arn:aws:s3:::dst`, nothing opted in.
#[cfg(test)]
pub(crate) fn test_rule(id: &str, priority: i32, prefix: &str) -> Rule {
    Rule {
        id: id.into(),
        priority: Some(priority),
        enabled: true,
        filter: Filter {
            prefix: prefix.into(),
            ..Filter::default()
        },
        has_filter: true,
        delete_markers: false,
        sse_kms_objects: None,
        replica_modifications: None,
        existing_objects: None,
        destination: Destination {
            bucket_arn: "arn:aws:s3:::dst".into(),
            account: None,
            storage_class: None,
            replica_kms_key_id: None,
        },
    }
}

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, priority: i32, prefix: &str) -> Rule {
        test_rule(id, priority, prefix)
    }

    fn config(rules: Vec<Rule>) -> ReplicationConfig {
        ReplicationConfig {
            role: "arn:aws:iam::000000000000:role/r".into(),
            rules,
        }
    }

    fn object(key: &str) -> Candidate<'_> {
        Candidate {
            key,
            delete_marker: false,
            sse_kms: false,
            tags: &NO_TAGS,
        }
    }

    #[test]
    fn the_matching_rule_of_highest_priority_wins() {
        let cfg = config(vec![rule("all", 1, ""), rule("logs", 5, "logs/")]);
        assert_eq!(cfg.rule_for(&object("logs/a")).unwrap().id, "logs");
        assert_eq!(cfg.rule_for(&object("data/a")).unwrap().id, "all");
        let only_logs = config(vec![rule("logs", 1, "logs/")]);
        assert!(only_logs.rule_for(&object("data/a")).is_none());
        let mut disabled = rule("logs", 9, "logs/");
        disabled.enabled = false;
        let cfg = config(vec![rule("all", 1, ""), disabled]);
        assert_eq!(cfg.rule_for(&object("logs/a")).unwrap().id, "all");
    }

    #[test]
    fn delete_markers_and_sse_kms_objects_need_the_rule_to_opt_in() {
        let marker = Candidate {
            key: "a",
            delete_marker: true,
            sse_kms: false,
            tags: &NO_TAGS,
        };
        let kms = Candidate {
            key: "a",
            delete_marker: false,
            sse_kms: true,
            tags: &NO_TAGS,
        };
        let mut r = rule("r", 1, "");
        let cfg = config(vec![r.clone()]);
        assert!(cfg.rule_for(&marker).is_none());
        assert!(cfg.rule_for(&kms).is_none());
        r.delete_markers = true;
        r.sse_kms_objects = Some(true);
        let cfg = config(vec![r.clone()]);
        assert!(cfg.rule_for(&marker).is_some());
        assert!(cfg.rule_for(&kms).is_some());
        // First schema: delete markers always replicated.
        r.has_filter = false;
        r.delete_markers = false;
        assert!(config(vec![r]).rule_for(&marker).is_some());
    }

    #[test]
    fn tag_filters_need_every_tag_with_its_value() {
        let mut r = rule("t", 1, "");
        r.filter.tags = vec![
            ("team".into(), "ledger".into()),
            ("keep".into(), "yes".into()),
        ];
        let cfg = config(vec![r]);
        let tags: TagSet = [("team", "ledger"), ("keep", "yes"), ("other", "x")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let tagged = Candidate {
            tags: &tags,
            ..object("a")
        };
        assert_eq!(cfg.rule_for(&tagged).unwrap().id, "t");
        let mut partial = tags.clone();
        partial.insert("keep".into(), "no".into());
        let wrong_value = Candidate {
            tags: &partial,
            ..object("a")
        };
        assert!(cfg.rule_for(&wrong_value).is_none());
        assert!(cfg.rule_for(&object("a")).is_none());
    }

    #[test]
    fn stored_records_round_trip_and_garbage_is_an_error() {
        let cfg = config(vec![rule("r", 1, "p/")]);
        let stored = super::super::encode(&cfg);
        let back: ReplicationConfig = super::super::decode(&stored).unwrap();
        assert_eq!(back.rule_for(&object("p/x")).unwrap().id, "r");
        assert!(super::super::decode::<ReplicationConfig>("{").is_err());
    }

    #[test]
    fn validation_gives_s3s_errors() {
        let code = |cfg: ReplicationConfig| validate(&cfg, "src").err().map(|e| e.code);
        assert_eq!(code(config(vec![rule("a", 1, "")])), None);
        assert_eq!(code(config(vec![])), Some("MalformedXML"));
        assert_eq!(
            code(config(vec![rule("a", 1, ""), rule("a", 2, "")])),
            Some("InvalidRequest")
        );
        assert_eq!(
            code(config(vec![rule("a", 1, ""), rule("b", 1, "")])),
            Some("InvalidRequest")
        );
        let mut no_priority = rule("a", 1, "");
        no_priority.priority = None;
        assert_eq!(code(config(vec![no_priority])), Some("InvalidRequest"));
        let mut same = rule("a", 1, "");
        same.destination.bucket_arn = "arn:aws:s3:::src".into();
        assert_eq!(code(config(vec![same])), Some("InvalidRequest"));
        let mut bad_arn = rule("a", 1, "");
        bad_arn.destination.bucket_arn = "dest".into();
        assert_eq!(code(config(vec![bad_arn])), Some("InvalidArgument"));
        let mut kms = rule("a", 1, "");
        kms.sse_kms_objects = Some(true);
        assert_eq!(code(config(vec![kms.clone()])), Some("InvalidRequest"));
        kms.destination.replica_kms_key_id = Some("alias/r".into());
        assert_eq!(code(config(vec![kms])), None);
        let mut tagged_markers = rule("a", 1, "");
        tagged_markers.filter.tags = vec![("k".into(), "v".into())];
        tagged_markers.delete_markers = true;
        assert_eq!(code(config(vec![tagged_markers])), Some("InvalidRequest"));
        let mut class = rule("a", 1, "");
        class.destination.storage_class = Some("FAST".into());
        assert_eq!(code(config(vec![class])), Some("InvalidStorageClass"));
    }
}
