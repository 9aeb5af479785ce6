//! IAM state at rest, sealed whole with AES-256-GCM under a key derived from the root key, so
//! access key secrets and policies never rest in the clear. One gateway keeps it in one
//! file, `iam.sealed`, rewritten atomically on each change (temporary file, fsync, rename,
//! directory fsync); a fleet keeps it in its database's `iam_state` row. IAM changes are
//! rare and the state is small.

mod postgres;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::IamState;
use crate::crypto::CatalogSealer;
use crate::postgres::Database;

pub const IAM_FILE: &str = "iam.sealed";
/// Binds the sealed bytes to their purpose.
const CONTEXT: &[u8] = b"sealgate/v1 iam state";

pub struct IamStore {
    sealer: CatalogSealer,
    backend: Backend,
}

enum Backend {
    File {
        path: PathBuf,
        fsync: bool,
    },
    /// Shared with other nodes, whose changes this node must see within `bound`.
    Postgres {
        db: Database,
        bound: Duration,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: cannot be opened with this root key, or was altered")]
    Sealed(String),
    #[error("{0}: {1}")]
    Corrupt(String, String),
    #[error("IAM state database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A change of the stored state in progress: with a shared store, its lock.
pub(super) struct StoreChange {
    tx: Option<postgres::Tx>,
    revision: i64,
}

impl IamStore {
    /// The file of one gateway, in `dir`.
    pub fn new(dir: &Path, sealer: CatalogSealer, fsync: bool) -> IamStore {
        IamStore {
            sealer,
            backend: Backend::File {
                path: dir.join(IAM_FILE),
                fsync,
            },
        }
    }

    /// The fleet's database (migrated). A change made through another node is enforced
    /// here within `change_bound`; past it, without news from the database, access keys
    /// and policies are not looked up at all rather than looked up in a stale copy.
    pub fn postgres(db: Database, sealer: CatalogSealer, change_bound: Duration) -> IamStore {
        IamStore {
            sealer,
            backend: Backend::Postgres {
                db,
                bound: change_bound,
            },
        }
    }

    /// How fresh a copy must be, for a store shared with other nodes.
    pub(super) fn bound(&self) -> Option<Duration> {
        match &self.backend {
            Backend::File { .. } => None,
            Backend::Postgres { bound, .. } => Some(*bound),
        }
    }

    fn place(&self) -> String {
        match &self.backend {
            Backend::File { path, .. } => path.display().to_string(),
            Backend::Postgres { .. } => "the database's IAM state".to_owned(),
        }
    }

    fn open(&self, sealed: Option<&[u8]>) -> Result<IamState, StoreError> {
        let Some(sealed) = sealed else {
            return Ok(IamState::default());
        };
        let json = self
            .sealer
            .open(CONTEXT, sealed)
            .map_err(|_| StoreError::Sealed(self.place()))?;
        serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(self.place(), e.to_string()))
    }

    fn seal(&self, state: &IamState) -> Result<Vec<u8>, StoreError> {
        let json = serde_json::to_vec(state)
            .map_err(|e| StoreError::Corrupt(self.place(), e.to_string()))?;
        Ok(self.sealer.seal(CONTEXT, &json))
    }

    /// The stored state and its revision (always 0 for a file); empty when nothing was
    /// stored yet.
    pub async fn load(&self) -> Result<(IamState, i64), StoreError> {
        match &self.backend {
            Backend::File { path, .. } => {
                let sealed = match std::fs::read(path) {
                    Ok(b) => Some(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(source) => {
                        return Err(StoreError::Io {
                            path: path.clone(),
                            source,
                        });
                    }
                };
                Ok((self.open(sealed.as_deref())?, 0))
            }
            Backend::Postgres { db, .. } => {
                let (revision, sealed) = postgres::load(db, None).await?.unwrap_or_default();
                Ok((self.open(sealed.as_deref())?, revision))
            }
        }
    }

    /// The stored state if its revision is not `revision`, with its revision.
    pub(super) async fn other_than(
        &self,
        revision: i64,
    ) -> Result<Option<(IamState, i64)>, StoreError> {
        let Backend::Postgres { db, .. } = &self.backend else {
            return Ok(None);
        };
        match postgres::load(db, Some(revision)).await? {
            Some((revision, sealed)) => Ok(Some((self.open(sealed.as_deref())?, revision))),
            None => Ok(None),
        }
    }

    /// Begins a change; with a shared store, other nodes' changes wait until it ends.
    pub(super) async fn begin(&self) -> Result<StoreChange, StoreError> {
        match &self.backend {
            Backend::File { .. } => Ok(StoreChange {
                tx: None,
                revision: 0,
            }),
            Backend::Postgres { db, .. } => {
                let (tx, revision) = postgres::lock(db).await?;
                Ok(StoreChange {
                    tx: Some(tx),
                    revision,
                })
            }
        }
    }

    /// Replaces the stored state, ending the change; answers its new revision.
    pub(super) async fn commit(
        &self,
        change: StoreChange,
        state: &IamState,
    ) -> Result<i64, StoreError> {
        let sealed = self.seal(state)?;
        match (&self.backend, change.tx) {
            (Backend::File { path, fsync }, _) => {
                let (path, fsync) = (path.clone(), *fsync);
                tokio::task::spawn_blocking(move || {
                    crate::fsutil::write_atomically(&path, &sealed, fsync)
                        .map_err(|source| StoreError::Io { path, source })
                })
                .await
                .map_err(|e| StoreError::Corrupt(self.place(), e.to_string()))??;
                Ok(change.revision)
            }
            (Backend::Postgres { .. }, Some(tx)) => {
                let revision = change.revision + 1;
                postgres::save(tx, &sealed, revision).await?;
                Ok(revision)
            }
            (Backend::Postgres { .. }, None) => Err(StoreError::Corrupt(
                self.place(),
                "a change without its lock".into(),
            )),
        }
    }
}

impl StoreChange {
    /// The revision the change is computed on.
    pub(super) fn revision(&self) -> i64 {
        self.revision
    }

    /// The state as of [`StoreChange::revision`], read under the change's lock.
    pub(super) async fn state(&mut self, store: &IamStore) -> Result<IamState, StoreError> {
        let sealed = match &mut self.tx {
            Some(tx) => postgres::sealed(tx).await?,
            None => return Ok(store.load().await?.0),
        };
        store.open(sealed.as_deref())
    }
}
