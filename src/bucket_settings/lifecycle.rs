//! A bucket's lifecycle configuration (PutBucketLifecycleConfiguration) and the one place
//! that decides, as S3 does, which rule applies to a version or an upload and when: the
//! `x-amz-expiration` header and the lifecycle worker both ask here.
//!
//! S3 counts days from the moment that starts them (last modified, became noncurrent,
//! upload initiated), adds the rule's days and rounds up to the next midnight UTC.

use serde::{Deserialize, Serialize};

use super::StoredSetting;
use crate::tagging::TagSet;

/// S3's most rules per configuration.
pub(crate) const MAX_RULES: usize = 1000;
/// S3's longest rule ID.
const MAX_ID_LEN: usize = 255;
/// S3's most NewerNoncurrentVersions.
const MAX_NEWER_NONCURRENT: u32 = 100;

pub(crate) const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LifecycleConfig {
    pub rules: Vec<LifecycleRule>,
}

impl StoredSetting for LifecycleConfig {
    const NAME: &'static str = "lifecycle configuration";
    const VERSION: u32 = 1;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    #[serde(default)]
    pub expiration: Option<Expiration>,
    #[serde(default)]
    pub noncurrent: Option<NoncurrentExpiration>,
    /// AbortIncompleteMultipartUpload's DaysAfterInitiation.
    #[serde(default)]
    pub abort_upload_days: Option<u32>,
}

/// Which objects a rule applies to: every condition given must hold. `legacy` and `and`
/// remember the shape the owner sent, so GetBucketLifecycleConfiguration answers with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Filter {
    /// Given as the rule's top-level `Prefix` (before `Filter` existed).
    #[serde(default)]
    pub legacy: bool,
    /// Given inside `And`.
    #[serde(default)]
    pub and: bool,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub size_greater_than: Option<u64>,
    #[serde(default)]
    pub size_less_than: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value")]
pub(crate) enum Expiration {
    Days(u32),
    /// Midnight UTC, in milliseconds since the epoch.
    Date(i64),
    ExpiredObjectDeleteMarker(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NoncurrentExpiration {
    pub days: u32,
    /// Keep this many newer noncurrent versions whatever their age.
    #[serde(default)]
    pub newer_versions: Option<u32>,
}

/// Why a configuration is refused, with S3's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    Malformed,
    Argument(String),
    Request(String),
}

/// `from_ms` plus `days`, rounded up to the next midnight UTC.
pub(crate) fn after_days(from_ms: i64, days: u32) -> i64 {
    (from_ms.div_euclid(DAY_MS) + i64::from(days) + 1).saturating_mul(DAY_MS)
}

/// Everything that started before this moment is `days` old by `now_ms` in S3's counting:
/// `after_days(t, days) <= now_ms` exactly when `t < due_before(now_ms, days)`. The
/// worker's queries use it to find only what is due.
pub(crate) fn due_before(now_ms: i64, days: u32) -> i64 {
    (now_ms.div_euclid(DAY_MS) - i64::from(days)).saturating_mul(DAY_MS)
}

/// A version or an upload as the filters see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub key: &'a str,
    pub size: u64,
    pub tags: &'a TagSet,
}

impl Filter {
    pub(crate) fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }

    pub(crate) fn has_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    fn has_size(&self) -> bool {
        self.size_greater_than.is_some() || self.size_less_than.is_some()
    }

    pub(crate) fn matches(&self, s: Subject<'_>) -> bool {
        s.key.starts_with(self.prefix())
            && self.tags.iter().all(|(k, v)| s.tags.get(k) == Some(v))
            && self.size_greater_than.is_none_or(|n| s.size > n)
            && self.size_less_than.is_none_or(|n| s.size < n)
    }
}

impl LifecycleRule {
    /// When this rule expires a current version last modified at `last_modified_ms`.
    fn current_expiry(&self, s: Subject<'_>, last_modified_ms: i64) -> Option<i64> {
        if !self.enabled || !self.filter.matches(s) {
            return None;
        }
        match self.expiration? {
            Expiration::Days(d) => Some(after_days(last_modified_ms, d)),
            Expiration::Date(ms) => Some(ms),
            Expiration::ExpiredObjectDeleteMarker(_) => None,
        }
    }

    /// Whether a noncurrent version (noncurrent since `since_ms`, with `newer` noncurrent
    /// versions of its key newer than it) is to be deleted by `now_ms`.
    pub(crate) fn noncurrent_due(
        &self,
        s: Subject<'_>,
        since_ms: i64,
        newer: u64,
        now_ms: i64,
    ) -> bool {
        let Some(n) = self.noncurrent.filter(|_| self.enabled) else {
            return false;
        };
        self.filter.matches(s)
            && after_days(since_ms, n.days) <= now_ms
            && n.newer_versions.is_none_or(|keep| newer >= u64::from(keep))
    }

    /// Whether a delete marker that is its key's only entry is to be removed.
    pub(crate) fn expires_lone_marker(&self, key: &str) -> bool {
        self.enabled
            && self.expiration == Some(Expiration::ExpiredObjectDeleteMarker(true))
            && self.filter.matches(Subject {
                key,
                size: 0,
                tags: &TagSet::new(),
            })
    }

    /// Whether an upload of `key` initiated at `initiated_ms` is to be aborted by `now_ms`
    /// (these rules have no tag filter; an upload's size is not known yet).
    pub(crate) fn upload_due(&self, key: &str, initiated_ms: i64, now_ms: i64) -> bool {
        self.enabled
            && key.starts_with(self.filter.prefix())
            && self
                .abort_upload_days
                .is_some_and(|d| after_days(initiated_ms, d) <= now_ms)
    }
}

impl LifecycleConfig {
    /// When a current version expires and by which rule: the earliest of the enabled
    /// Expiration rules that match it, as S3 picks it.
    pub(crate) fn current_expiry(
        &self,
        s: Subject<'_>,
        last_modified_ms: i64,
    ) -> Option<(i64, &str)> {
        self.rules
            .iter()
            .filter_map(|r| {
                r.current_expiry(s, last_modified_ms)
                    .map(|t| (t, r.id.as_str()))
            })
            .min_by_key(|(t, _)| *t)
    }
}

fn positive(value: i32, message: &str) -> Result<u32, Invalid> {
    u32::try_from(value)
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| Invalid::Argument(message.into()))
}

/// The days of an Expiration, as S3 checks them.
pub(crate) fn expiration_days(days: i32) -> Result<u32, Invalid> {
    positive(
        days,
        "'Days' for Expiration action must be a positive integer",
    )
}

pub(crate) fn noncurrent_days(days: i32) -> Result<u32, Invalid> {
    positive(
        days,
        "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
    )
}

pub(crate) fn newer_noncurrent_versions(n: i32) -> Result<u32, Invalid> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_NEWER_NONCURRENT).contains(n))
        .ok_or_else(|| {
            Invalid::Argument(format!(
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be between 1 and {MAX_NEWER_NONCURRENT}"
            ))
        })
}

pub(crate) fn upload_days(days: i32) -> Result<u32, Invalid> {
    positive(
        days,
        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
    )
}

/// An Expiration Date: S3 takes only midnight UTC.
pub(crate) fn expiration_date(ms: i64) -> Result<i64, Invalid> {
    if ms.rem_euclid(DAY_MS) != 0 {
        return Err(Invalid::Argument("'Date' must be at midnight GMT".into()));
    }
    Ok(ms)
}

/// The checks S3 makes across a rule and the whole configuration.
pub(crate) fn validate(config: &LifecycleConfig) -> Result<(), Invalid> {
    if config.rules.is_empty() || config.rules.len() > MAX_RULES {
        return Err(Invalid::Malformed);
    }
    let mut ids = std::collections::HashSet::new();
    for rule in &config.rules {
        if rule.id.len() > MAX_ID_LEN {
            return Err(Invalid::Argument(
                "ID length should not exceed allowed limit of 255".into(),
            ));
        }
        if !ids.insert(rule.id.as_str()) {
            return Err(Invalid::Argument(
                "Rule ID must be unique. Found same ID for more than one rule".into(),
            ));
        }
        if rule.expiration.is_none()
            && rule.noncurrent.is_none()
            && rule.abort_upload_days.is_none()
        {
            return Err(Invalid::Request(
                "At least one action needs to be specified in a rule".into(),
            ));
        }
        let f = &rule.filter;
        if rule.abort_upload_days.is_some() && (f.has_tags() || f.has_size()) {
            return Err(Invalid::Request(if f.has_tags() {
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into()
            } else {
                "AbortIncompleteMultipartUpload cannot be specified with an object size filter."
                    .into()
            }));
        }
        if matches!(
            rule.expiration,
            Some(Expiration::ExpiredObjectDeleteMarker(true))
        ) && f.has_tags()
        {
            return Err(Invalid::Request(
                "ExpiredObjectDeleteMarker cannot be specified with Tags.".into(),
            ));
        }
        if let (Some(gt), Some(lt)) = (f.size_greater_than, f.size_less_than)
            && gt >= lt
        {
            return Err(Invalid::Argument(
                "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
            ));
        }
        let mut keys = std::collections::HashSet::new();
        if f.tags.iter().any(|(k, _)| !keys.insert(k.as_str())) {
            return Err(Invalid::Argument(
                "Duplicate Tag Keys are not allowed.".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    /// 2014-01-15 00:00 UTC, the day of S3's own example.
    const JAN15: i64 = 1_389_744_000_000;

    fn rule(id: &str, prefix: &str) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            filter: Filter {
                prefix: Some(prefix.into()),
                ..Filter::default()
            },
            expiration: None,
            noncurrent: None,
            abort_upload_days: None,
        }
    }

    fn subject<'a>(key: &'a str, size: u64, tags: &'a TagSet) -> Subject<'a> {
        Subject { key, size, tags }
    }

    #[test]
    fn days_round_up_to_the_next_midnight_as_s3_counts_them() {
        // S3's example: created 2014-01-15 10:30 UTC, 3 days: expires 2014-01-19 00:00 UTC.
        let created = JAN15 + 10 * H + 30 * 60_000;
        assert_eq!(after_days(created, 3), JAN15 + 4 * DAY_MS);
        // Created at midnight: still the midnight after the days have passed.
        assert_eq!(after_days(JAN15, 1), JAN15 + 2 * DAY_MS);
        // The worker's cut-off agrees with the expiry at every hour around it.
        for days in [1u32, 3, 30] {
            for t in (0..96).map(|h| JAN15 + h * H) {
                for now in (0..24 * 40).map(|h| JAN15 + h * H + 1) {
                    assert_eq!(
                        after_days(t, days) <= now,
                        t < due_before(now, days),
                        "t={t} days={days} now={now}"
                    );
                }
            }
        }
    }

    #[test]
    fn filters_match_prefix_tags_and_sizes() {
        let tags: TagSet = [("team".to_string(), "a".to_string())].into();
        let none = TagSet::new();
        let f = Filter {
            and: true,
            prefix: Some("logs/".into()),
            tags: vec![("team".into(), "a".into())],
            size_greater_than: Some(10),
            size_less_than: Some(100),
            ..Filter::default()
        };
        assert!(f.matches(subject("logs/x", 50, &tags)));
        assert!(!f.matches(subject("data/x", 50, &tags)));
        assert!(!f.matches(subject("logs/x", 50, &none)));
        assert!(
            !f.matches(subject("logs/x", 10, &tags)),
            "greater than is strict"
        );
        assert!(
            !f.matches(subject("logs/x", 100, &tags)),
            "less than is strict"
        );
        assert!(Filter::default().matches(subject("anything", 0, &none)));
    }

    #[test]
    fn the_earliest_enabled_matching_rule_sets_the_expiry() {
        let none = TagSet::new();
        let mut long = rule("long", "");
        long.expiration = Some(Expiration::Days(30));
        let mut short = rule("short", "tmp/");
        short.expiration = Some(Expiration::Days(1));
        let mut off = rule("off", "");
        off.expiration = Some(Expiration::Days(1));
        off.enabled = false;
        let config = LifecycleConfig {
            rules: vec![long, short, off],
        };
        let at = JAN15 + H;
        assert_eq!(
            config.current_expiry(subject("tmp/a", 1, &none), at),
            Some((JAN15 + 2 * DAY_MS, "short"))
        );
        assert_eq!(
            config.current_expiry(subject("keep/a", 1, &none), at),
            Some((JAN15 + 31 * DAY_MS, "long"))
        );
        let mut dated = rule("dated", "");
        dated.expiration = Some(Expiration::Date(JAN15 + 5 * DAY_MS));
        let config = LifecycleConfig { rules: vec![dated] };
        assert_eq!(
            config.current_expiry(subject("k", 1, &none), JAN15 + 9 * DAY_MS),
            Some((JAN15 + 5 * DAY_MS, "dated")),
            "a Date applies to objects written after it too"
        );
    }

    #[test]
    fn noncurrent_versions_wait_their_days_and_keep_the_newer_ones() {
        let none = TagSet::new();
        let mut r = rule("nc", "");
        r.noncurrent = Some(NoncurrentExpiration {
            days: 2,
            newer_versions: Some(1),
        });
        let since = JAN15 + H;
        let s = subject("k", 1, &none);
        assert!(!r.noncurrent_due(s, since, 5, JAN15 + 3 * DAY_MS - 1));
        assert!(r.noncurrent_due(s, since, 1, JAN15 + 3 * DAY_MS));
        assert!(
            !r.noncurrent_due(s, since, 0, JAN15 + 30 * DAY_MS),
            "the newest noncurrent one stays"
        );
        r.enabled = false;
        assert!(!r.noncurrent_due(s, since, 5, JAN15 + 30 * DAY_MS));
    }

    #[test]
    fn uploads_and_lone_markers() {
        let mut r = rule("u", "big/");
        r.abort_upload_days = Some(1);
        assert!(r.upload_due("big/x", JAN15 + H, JAN15 + 2 * DAY_MS));
        assert!(!r.upload_due("big/x", JAN15 + H, JAN15 + 2 * DAY_MS - 1));
        assert!(!r.upload_due("small/x", JAN15, JAN15 + 9 * DAY_MS));
        assert!(!r.expires_lone_marker("big/x"));
        r.expiration = Some(Expiration::ExpiredObjectDeleteMarker(true));
        assert!(r.expires_lone_marker("big/x"));
        assert!(!r.expires_lone_marker("other"));
    }

    #[test]
    fn s3s_checks_and_messages() {
        let mut ok = rule("a", "");
        ok.expiration = Some(Expiration::Days(1));
        let config = |rules: Vec<LifecycleRule>| LifecycleConfig { rules };
        assert_eq!(validate(&config(vec![ok.clone()])), Ok(()));
        assert_eq!(validate(&config(vec![])), Err(Invalid::Malformed));
        assert_eq!(
            validate(&config(vec![ok.clone(); MAX_RULES + 1])),
            Err(Invalid::Malformed)
        );
        assert_eq!(
            validate(&config(vec![ok.clone(), ok.clone()])),
            Err(Invalid::Argument(
                "Rule ID must be unique. Found same ID for more than one rule".into()
            ))
        );
        let mut none = ok.clone();
        none.expiration = None;
        assert_eq!(
            validate(&config(vec![none])),
            Err(Invalid::Request(
                "At least one action needs to be specified in a rule".into()
            ))
        );
        let mut tagged_abort = ok.clone();
        tagged_abort.abort_upload_days = Some(1);
        tagged_abort.filter.tags = vec![("k".into(), "v".into())];
        assert_eq!(
            validate(&config(vec![tagged_abort])),
            Err(Invalid::Request(
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into()
            ))
        );
        let mut sizes = ok.clone();
        sizes.filter.size_greater_than = Some(10);
        sizes.filter.size_less_than = Some(10);
        assert!(matches!(
            validate(&config(vec![sizes])),
            Err(Invalid::Argument(_))
        ));
        let mut long_id = ok;
        long_id.id = "x".repeat(256);
        assert!(matches!(
            validate(&config(vec![long_id])),
            Err(Invalid::Argument(_))
        ));
        assert_eq!(
            expiration_days(0),
            Err(Invalid::Argument(
                "'Days' for Expiration action must be a positive integer".into()
            ))
        );
        assert!(noncurrent_days(-1).is_err());
        assert!(newer_noncurrent_versions(101).is_err());
        assert_eq!(newer_noncurrent_versions(100), Ok(100));
        assert!(upload_days(0).is_err());
        assert_eq!(expiration_date(JAN15), Ok(JAN15));
        assert_eq!(
            expiration_date(JAN15 + H),
            Err(Invalid::Argument("'Date' must be at midnight GMT".into()))
        );
    }

    #[test]
    fn stored_records_round_trip() {
        let mut r = rule("r", "p/");
        r.expiration = Some(Expiration::Date(JAN15));
        r.noncurrent = Some(NoncurrentExpiration {
            days: 3,
            newer_versions: None,
        });
        let config = LifecycleConfig { rules: vec![r] };
        let stored = super::super::encode(&config);
        assert_eq!(super::super::decode::<LifecycleConfig>(&stored), Ok(config));
    }
}
