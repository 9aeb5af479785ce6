//! Object Lock: a bucket's lock configuration (`PutObjectLockConfiguration`; its presence
//! means the lock is enabled, which can never be undone) and the lock each version carries,
//! with S3's rules for what a lock forbids. The rules are decided here once and applied by
//! the catalog inside the transaction that deletes a version or changes its lock, so no
//! race can slip a removal past a retention being put.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoredSetting;

const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LockMode {
    /// Yields to a caller allowed `s3:BypassGovernanceRetention` who asks to bypass it.
    Governance,
    /// Yields to no one: it can be extended, never shortened or removed.
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(s: &str) -> Option<LockMode> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// A retention: the version cannot be removed before `until_ms` (as its mode allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub mode: LockMode,
    pub until_ms: i64,
}

/// What a lock refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the version is protected by Object Lock")]
pub struct Locked;

/// The lock of one version: its retention and legal hold, as stored with the version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// `None` when never put: GetObjectLegalHold then answers that there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
}

impl VersionLock {
    pub fn is_none(&self) -> bool {
        self.retention.is_none() && self.legal_hold.is_none()
    }

    /// The retention in force at `now_ms` (a passed date protects nothing).
    pub fn active_retention(&self, now_ms: i64) -> Option<Retention> {
        self.retention.filter(|r| r.until_ms > now_ms)
    }

    /// Whether the version may be removed for good at `now_ms`: not under a legal hold, nor
    /// a retention in force, unless it is GOVERNANCE and the caller may and asked to bypass.
    pub fn check_removal(&self, now_ms: i64, bypass_governance: bool) -> Result<(), Locked> {
        if self.legal_hold == Some(true) {
            return Err(Locked);
        }
        match self.active_retention(now_ms) {
            None => Ok(()),
            Some(r) if r.mode == LockMode::Governance && bypass_governance => Ok(()),
            Some(_) => Err(Locked),
        }
    }

    /// The lock after PutObjectRetention with `new` (None removes it). A COMPLIANCE
    /// retention in force can only be extended; a GOVERNANCE one can be extended or made
    /// COMPLIANCE, and shortened or removed only with the bypass.
    pub fn with_retention(
        self,
        new: Option<Retention>,
        now_ms: i64,
        bypass_governance: bool,
    ) -> Result<VersionLock, Locked> {
        if let Some(old) = self.active_retention(now_ms) {
            let extends = new.is_some_and(|n| n.until_ms >= old.until_ms);
            let allowed = match old.mode {
                LockMode::Compliance => {
                    extends && new.is_some_and(|n| n.mode == LockMode::Compliance)
                }
                LockMode::Governance => extends || bypass_governance,
            };
            if !allowed {
                return Err(Locked);
            }
        }
        Ok(VersionLock {
            retention: new,
            ..self
        })
    }

    pub fn with_legal_hold(self, on: bool) -> VersionLock {
        VersionLock {
            legal_hold: Some(on),
            ..self
        }
    }
}

/// A change of a version's lock: PutObjectRetention or PutObjectLegalHold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockChange {
    Retention {
        retention: Option<Retention>,
        bypass_governance: bool,
    },
    LegalHold(bool),
}

impl LockChange {
    pub fn apply(self, lock: VersionLock, now_ms: i64) -> Result<VersionLock, Locked> {
        match self {
            LockChange::Retention {
                retention,
                bypass_governance,
            } => lock.with_retention(retention, now_ms, bypass_governance),
            LockChange::LegalHold(on) => Ok(lock.with_legal_hold(on)),
        }
    }
}

/// The default retention of a bucket: a period from each new version's creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub period: RetentionPeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

/// A bucket's Object Lock configuration. A bucket that has one has Object Lock enabled
/// (and versioning Enabled for good).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectLockConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

impl StoredSetting for ObjectLockConfig {
    const NAME: &'static str = "object lock configuration";
    const VERSION: u32 = 1;
}

impl ObjectLockConfig {
    /// The lock a version created at `created_ms` gets: what its writer asked for, with the
    /// bucket's default retention where the writer asked for none.
    pub fn lock_for_new(&self, asked: VersionLock, created_ms: i64) -> VersionLock {
        let retention = asked.retention.or_else(|| {
            self.default_retention.map(|d| Retention {
                mode: d.mode,
                until_ms: d.period.end_from(created_ms),
            })
        });
        VersionLock { retention, ..asked }
    }
}

impl RetentionPeriod {
    /// When a period starting at `from_ms` ends; years are calendar years (29 February
    /// becomes 28 February in a year without it).
    pub fn end_from(self, from_ms: i64) -> i64 {
        match self {
            RetentionPeriod::Days(d) => from_ms.saturating_add(i64::from(d) * DAY_MS),
            RetentionPeriod::Years(y) => {
                let Ok(from) =
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(from_ms) * 1_000_000)
                else {
                    return i64::MAX;
                };
                let year = from
                    .year()
                    .saturating_add(i32::try_from(y).unwrap_or(i32::MAX));
                let date = from.date().replace_year(year).or_else(|_| {
                    from.date()
                        .replace_day(28)
                        .and_then(|d| d.replace_year(year))
                });
                match date {
                    Ok(d) => {
                        let end = from.replace_date(d);
                        i64::try_from(end.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
                    }
                    Err(_) => i64::MAX,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * DAY_MS;

    fn lock(mode: LockMode, until_ms: i64) -> VersionLock {
        VersionLock {
            retention: Some(Retention { mode, until_ms }),
            legal_hold: None,
        }
    }

    #[test]
    fn a_retention_in_force_refuses_removal_as_its_mode_says() {
        let compliance = lock(LockMode::Compliance, NOW + 1);
        assert_eq!(compliance.check_removal(NOW, false), Err(Locked));
        assert_eq!(compliance.check_removal(NOW, true), Err(Locked));
        let governance = lock(LockMode::Governance, NOW + 1);
        assert_eq!(governance.check_removal(NOW, false), Err(Locked));
        assert_eq!(governance.check_removal(NOW, true), Ok(()));
        // A passed date protects nothing.
        assert_eq!(compliance.check_removal(NOW + 1, false), Ok(()));
        assert_eq!(VersionLock::default().check_removal(NOW, false), Ok(()));
    }

    #[test]
    fn a_legal_hold_refuses_removal_whatever_the_bypass() {
        let held = VersionLock::default().with_legal_hold(true);
        assert_eq!(held.check_removal(NOW, true), Err(Locked));
        let released = held.with_legal_hold(false);
        assert_eq!(released.check_removal(NOW, false), Ok(()));
        assert!(!released.is_none(), "a hold put OFF is still an answer");
    }

    #[test]
    fn compliance_can_be_extended_never_shortened_removed_or_weakened() {
        let c = lock(LockMode::Compliance, NOW + 10);
        let longer = Retention {
            mode: LockMode::Compliance,
            until_ms: NOW + 20,
        };
        assert_eq!(
            c.with_retention(Some(longer), NOW, false)
                .unwrap()
                .retention,
            Some(longer)
        );
        let shorter = Retention {
            mode: LockMode::Compliance,
            until_ms: NOW + 5,
        };
        let weaker = Retention {
            mode: LockMode::Governance,
            until_ms: NOW + 20,
        };
        for bypass in [false, true] {
            assert_eq!(c.with_retention(Some(shorter), NOW, bypass), Err(Locked));
            assert_eq!(c.with_retention(Some(weaker), NOW, bypass), Err(Locked));
            assert_eq!(c.with_retention(None, NOW, bypass), Err(Locked));
        }
        // Once the date passed, the version is free again.
        assert!(c.with_retention(None, NOW + 10, false).is_ok());
    }

    #[test]
    fn governance_yields_to_the_bypass_and_may_become_compliance() {
        let g = lock(LockMode::Governance, NOW + 10);
        assert_eq!(g.with_retention(None, NOW, false), Err(Locked));
        assert_eq!(g.with_retention(None, NOW, true).unwrap().retention, None);
        let stricter = Retention {
            mode: LockMode::Compliance,
            until_ms: NOW + 10,
        };
        assert!(g.with_retention(Some(stricter), NOW, false).is_ok());
    }

    #[test]
    fn default_retention_fills_only_what_the_writer_left_out() {
        let cfg = ObjectLockConfig {
            default_retention: Some(DefaultRetention {
                mode: LockMode::Governance,
                period: RetentionPeriod::Days(3),
            }),
        };
        let got = cfg.lock_for_new(VersionLock::default(), NOW);
        assert_eq!(got, lock(LockMode::Governance, NOW + 3 * DAY_MS));
        let asked = lock(LockMode::Compliance, NOW + 1);
        assert_eq!(cfg.lock_for_new(asked, NOW), asked);
        let held = VersionLock::default().with_legal_hold(true);
        assert_eq!(cfg.lock_for_new(held, NOW).legal_hold, Some(true));
        assert_eq!(
            ObjectLockConfig::default().lock_for_new(VersionLock::default(), NOW),
            VersionLock::default()
        );
    }

    #[test]
    fn years_are_calendar_years() {
        let leap_day = time::macros::datetime!(2028-02-29 12:00 UTC);
        let ms = (leap_day.unix_timestamp_nanos() / 1_000_000) as i64;
        let end = RetentionPeriod::Years(1).end_from(ms);
        let expected = time::macros::datetime!(2029-02-28 12:00 UTC);
        assert_eq!(end, (expected.unix_timestamp_nanos() / 1_000_000) as i64);
        let plain = time::macros::datetime!(2026-12-06 00:00 UTC);
        let ms = (plain.unix_timestamp_nanos() / 1_000_000) as i64;
        let expected = time::macros::datetime!(2031-12-06 00:00 UTC);
        assert_eq!(
            RetentionPeriod::Years(5).end_from(ms),
            (expected.unix_timestamp_nanos() / 1_000_000) as i64
        );
    }
}
