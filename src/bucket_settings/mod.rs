//! A bucket's settings as typed records: default encryption, replication rules (with
//! which rule a new version falls under), CORS rules (with which one answers a request),
//! Block Public Access, Object Ownership and ACLs, tags, Object Lock (with the lock each version carries) and
//! lifecycle rules (with which one expires what, and when). Pure: no I/O, no clock, so the
//! catalog can store them and evaluate rules inside the transaction that makes a version
//! visible, and every layer above reads the same types.
//!
//! Each setting rests as a versioned JSON envelope (`{"version": N, "value": {...}}`). A
//! field added later gets a serde default; a changed shape gets a new version and an
//! upgrade from the old one. A record that cannot be read is an error, never a default:
//! silently dropping a bucket's KMS default or its blocked encryption types would weaken
//! what the owner asked for.

pub(crate) mod acl;
pub(crate) mod cors;
pub(crate) mod encryption;
pub(crate) mod lifecycle;
pub(crate) mod object_lock;
pub(crate) mod public_access;
pub(crate) mod replication;
pub(crate) mod tagging;

pub(crate) use acl::BucketAccessControl;
pub(crate) use cors::CorsConfig;
pub(crate) use encryption::BucketEncryption;
pub(crate) use lifecycle::LifecycleConfig;
pub(crate) use object_lock::ObjectLockConfig;
pub(crate) use public_access::PublicAccessBlock;
pub(crate) use replication::ReplicationConfig;
pub(crate) use tagging::BucketTagging;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A stored setting that cannot be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("stored {setting} (version {version}) cannot be read: {reason}")]
pub(crate) struct SettingError {
    pub setting: &'static str,
    pub version: u32,
    pub reason: String,
}

/// A setting with a versioned stored form.
pub(crate) trait StoredSetting: Serialize + DeserializeOwned {
    /// Names the setting in errors.
    const NAME: &'static str;
    /// The version `encode` writes.
    const VERSION: u32;

    /// Reads a record written in an older shape. Version 0 is a record from before
    /// settings carried versions; unless a setting says otherwise, its shape is version 1's.
    fn upgrade(version: u32, value: Value) -> Result<Self, String> {
        match version {
            0 | 1 => serde_json::from_value(value).map_err(|e| e.to_string()),
            v => Err(format!("no upgrade from version {v}")),
        }
    }
}

/// The stored form of a setting.
pub(crate) fn encode<T: StoredSetting>(setting: &T) -> String {
    serde_json::json!({ "version": T::VERSION, "value": setting }).to_string()
}

/// Reads a stored setting of any version this build knows; a newer version than this
/// build writes is refused rather than guessed at.
pub(crate) fn decode<T: StoredSetting>(text: &str) -> Result<T, SettingError> {
    let error = |version, reason: String| SettingError {
        setting: T::NAME,
        version,
        reason,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| error(0, e.to_string()))?;
    let (version, value) = match doc {
        Value::Object(mut map) if map.contains_key("version") && map.contains_key("value") => {
            let version = map
                .get("version")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| error(0, "the version is not a number".into()))?;
            (version, map.remove("value").unwrap_or(Value::Null))
        }
        legacy => (0, legacy),
    };
    if version == T::VERSION {
        return serde_json::from_value(value).map_err(|e| error(version, e.to_string()));
    }
    if version > T::VERSION {
        return Err(error(
            version,
            format!(
                "written by a newer sealgate (this one writes version {})",
                T::VERSION
            ),
        ));
    }
    T::upgrade(version, value).map_err(|e| error(version, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_legacy_records_are_read() {
        let kms = BucketEncryption {
            sse_algorithm: "aws:kms".into(),
            kms_master_key_id: Some("alias/k".into()),
            bucket_key_enabled: true,
            blocked_encryption_types: vec!["SSE-C".into()],
        };
        let stored = encode(&kms);
        assert!(stored.contains("\"version\":1"), "{stored}");
        assert_eq!(decode::<BucketEncryption>(&stored).unwrap(), kms);
        // As sealgate stored it before settings were versioned.
        let legacy = serde_json::to_string(&kms).unwrap();
        assert_eq!(decode::<BucketEncryption>(&legacy).unwrap(), kms);
    }

    #[test]
    fn unreadable_and_newer_records_are_errors_not_defaults() {
        let garbage = decode::<BucketEncryption>("{").unwrap_err();
        assert_eq!(garbage.setting, "bucket encryption");
        let wrong_shape =
            decode::<BucketEncryption>(r#"{"version":1,"value":{"sse_algorithm":5}}"#);
        assert!(wrong_shape.is_err());
        let newer = decode::<BucketEncryption>(r#"{"version":99,"value":{}}"#).unwrap_err();
        assert_eq!(newer.version, 99);
        assert!(newer.reason.contains("newer"), "{newer}");
    }
}
