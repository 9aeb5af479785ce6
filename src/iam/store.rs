//! IAM state at rest: one file, `iam.sealed`, holding the whole state as JSON sealed with
//! AES-256-GCM under a key derived from the root key, so access key secrets and policies
//! never rest in the clear. Each change rewrites it atomically (temporary file, fsync,
//! rename, directory fsync); IAM changes are rare and the state is small.

use std::path::{Path, PathBuf};

use super::model::IamState;
use crate::crypto::CatalogSealer;

pub const IAM_FILE: &str = "iam.sealed";
/// Binds the sealed bytes to their purpose.
const CONTEXT: &[u8] = b"sealgate/v1 iam state";

pub struct IamStore {
    path: PathBuf,
    sealer: CatalogSealer,
    fsync: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: cannot be opened with this root key, or was altered")]
    Sealed(PathBuf),
    #[error("{0}: {1}")]
    Corrupt(PathBuf, String),
}

impl IamStore {
    pub fn new(dir: &Path, sealer: CatalogSealer, fsync: bool) -> IamStore {
        IamStore {
            path: dir.join(IAM_FILE),
            sealer,
            fsync,
        }
    }

    /// The stored state; empty when nothing was stored yet.
    pub fn load(&self) -> Result<IamState, StoreError> {
        let sealed = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IamState::default()),
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let json = self
            .sealer
            .open(CONTEXT, &sealed)
            .map_err(|_| StoreError::Sealed(self.path.clone()))?;
        serde_json::from_slice(&json)
            .map_err(|e| StoreError::Corrupt(self.path.clone(), e.to_string()))
    }

    pub fn save(&self, state: &IamState) -> Result<(), StoreError> {
        let json = serde_json::to_vec(state)
            .map_err(|e| StoreError::Corrupt(self.path.clone(), e.to_string()))?;
        let sealed = self.sealer.seal(CONTEXT, &json);
        crate::fsutil::write_atomically(&self.path, &sealed, self.fsync).map_err(|source| {
            StoreError::Io {
                path: self.path.clone(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RootKey;
    use crate::iam::model::{AccessKey, User};

    #[test]
    fn state_round_trips_sealed_and_refuses_another_root_key() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::generate();
        let store = IamStore::new(dir.path(), root.iam_sealer(), true);
        assert!(store.load().unwrap().accounts.is_empty());
        let mut state = IamState::default();
        state
            .accounts
            .entry("000000000000".into())
            .or_default()
            .users
            .insert(
                "alice".into(),
                User {
                    user_id: "AIDAEXAMPLE".into(),
                    path: "/".into(),
                    created: "2026-11-23T00:00:00Z".into(),
                    keys: vec![AccessKey {
                        id: "AKIAEXAMPLE".into(),
                        secret: "super-secret-value-0123456789".into(),
                        active: true,
                        created: "2026-11-23T00:00:00Z".into(),
                    }],
                    inline: Default::default(),
                    attached: Default::default(),
                },
            );
        store.save(&state).unwrap();
        let raw = std::fs::read(dir.path().join(IAM_FILE)).unwrap();
        let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
        assert!(
            !contains(b"super-secret-value"),
            "secrets never rest in the clear"
        );
        assert!(!contains(b"alice"));
        let back = store.load().unwrap();
        assert_eq!(
            back.accounts["000000000000"].users["alice"].keys[0].secret,
            "super-secret-value-0123456789"
        );
        let other = IamStore::new(dir.path(), RootKey::generate().iam_sealer(), true);
        assert!(matches!(other.load(), Err(StoreError::Sealed(_))));
    }
}
