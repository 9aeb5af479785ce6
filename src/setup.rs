//! Start-up: the data directory, the root key, the account's root credentials, and the
//! services wired together. Everything here fails closed with a message naming the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::{Anchorer, AuditLog, AuditSettings};
use crate::blobstore::BlobStore;
use crate::catalog::Catalog;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::config::{Pkcs11Config, RootKind};
use crate::crypto::RootKey;
use crate::fleet::{self, FleetError, FleetRecord, Membership};
use crate::iam::{IamService, IamStore};
use crate::identity::Identities;
use crate::kms::root::pkcs11;
use crate::kms::{KeyStore, KmsService, KmsSettings};
use crate::objects::{Collector, ObjectService, SOLE_READER_GRACE_SECS, ServiceSettings};
use crate::postgres::Database;
use crate::postgres::changes::Feed;
use crate::replication::remote::Remotes;
use crate::space::DiskSpace;

pub const ROOT_KEY_FILE: &str = "root.key";
pub const CATALOG_FILE: &str = "catalog.sqlite";
pub const KMS_FILE: &str = "kms.sqlite";
pub const CREDENTIALS_FILE: &str = "root-credentials.toml";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Blob(#[from] crate::blobstore::BlobError),
    #[error(transparent)]
    Objects(#[from] crate::objects::ObjectError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SetupError + '_ {
    move |source| SetupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a secret file durably: temp file (0600) + fsync + rename + directory fsync.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), SetupError> {
    crate::fsutil::write_atomically(path, contents, true).map_err(io(path))
}

/// Whether anything sealed may exist under this configuration: a catalog, or blobs in
/// the backend (`backend_holds_blobs`, for a remote backend whose local data dir is new).
fn sealed_data_exists(config: &Config, backend_holds_blobs: bool) -> bool {
    let catalog = config.data_dir.join(CATALOG_FILE);
    let blobs_nonempty = std::fs::read_dir(config.blob_dir())
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    catalog.exists() || blobs_nonempty || backend_holds_blobs
}

/// Reads the root key without ever creating one: None when there is none yet. With a file
/// root, a key readable by others or of the wrong length is refused; with a PKCS#11 root,
/// an unreachable HSM fails closed.
pub fn load_root_key(config: &Config) -> Result<Option<RootKey>, SetupError> {
    let file = config.data_dir.join(ROOT_KEY_FILE);
    let sealed = pkcs11::sealed_path(&config.data_dir);
    match config.root.kind {
        RootKind::File if sealed.exists() => Err(SetupError::Refused(format!(
            "{} exists but root.kind is \"file\": this data is guarded by an HSM; configure [root.pkcs11]",
            sealed.display()
        ))),
        RootKind::File => load_root_key_file(config),
        RootKind::Pkcs11 if file.exists() => Err(SetupError::Refused(format!(
            "{} exists but root.kind is \"pkcs11\": refusing to guess which root guards this data",
            file.display()
        ))),
        RootKind::Pkcs11 => {
            let cfg = pkcs11_config(config)?;
            pkcs11::load(cfg, &config.data_dir).map_err(|e| SetupError::Refused(e.to_string()))
        }
    }
}

fn pkcs11_config(config: &Config) -> Result<&Pkcs11Config, SetupError> {
    config
        .root
        .pkcs11
        .as_ref()
        .ok_or_else(|| SetupError::Refused("root.kind = \"pkcs11\" needs [root.pkcs11]".into()))
}

fn load_root_key_file(config: &Config) -> Result<Option<RootKey>, SetupError> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = config.data_dir.join(ROOT_KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SetupError::Io { path, source: e }),
    };
    let mode = std::fs::metadata(&path)
        .map_err(io(&path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SetupError::Refused(format!(
            "{} is readable by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )));
    }
    let key: [u8; 32] = bytes.try_into().map_err(|_| {
        SetupError::Refused(format!(
            "{} is not a 32-byte root key; refusing to start",
            path.display()
        ))
    })?;
    Ok(Some(RootKey::from_bytes(key)))
}

/// Loads the root key, or creates it on a fresh data directory. A missing key next to
/// sealed data is fatal: generating a new one would make everything unreadable, and a
/// constant fallback would be no encryption at all.
pub fn load_or_create_root_key(
    config: &Config,
    backend_holds_blobs: bool,
) -> Result<RootKey, SetupError> {
    match load_root_key(config)? {
        Some(key) => Ok(key),
        None => create_root_key(config, backend_holds_blobs),
    }
}

/// A new root key for a configuration that has none; refused where sealed data exists.
fn create_root_key(config: &Config, backend_holds_blobs: bool) -> Result<RootKey, SetupError> {
    let path = match config.root.kind {
        RootKind::File => config.data_dir.join(ROOT_KEY_FILE),
        RootKind::Pkcs11 => pkcs11::sealed_path(&config.data_dir),
    };
    if sealed_data_exists(config, backend_holds_blobs) {
        let place = if backend_holds_blobs {
            "the storage backend".to_owned()
        } else {
            config.data_dir.display().to_string()
        };
        return Err(SetupError::Refused(format!(
            "the root key {} is missing but sealed data exists in {place}; restore the key file (a new key could not open that data)",
            path.display(),
        )));
    }
    if config.root.kind == RootKind::Pkcs11 {
        let (key, sealed) = pkcs11::create(pkcs11_config(config)?)
            .map_err(|e| SetupError::Refused(e.to_string()))?;
        write_secret_file(&path, &sealed)?;
        tracing::info!(path = %path.display(), "generated a new root key, sealed by the HSM");
        return Ok(key);
    }
    let key = RootKey::generate();
    write_secret_file(&path, key.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new root key");
    Ok(key)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
}

/// Root credentials given by the environment or the config file, if any.
fn configured_credentials(config: &Config) -> Result<Option<RootCredentials>, SetupError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let access =
        env("SEALGATE_ROOT_ACCESS_KEY").or_else(|| config.credentials.root_access_key.clone());
    let secret =
        env("SEALGATE_ROOT_SECRET_KEY").or_else(|| config.credentials.root_secret_key.clone());
    match (access, secret) {
        (Some(access_key), Some(secret_key)) => Ok(Some(RootCredentials {
            access_key,
            secret_key,
        })),
        (None, None) => Ok(None),
        _ => Err(SetupError::Refused(
            "set both the root access key and secret key (SEALGATE_ROOT_ACCESS_KEY and SEALGATE_ROOT_SECRET_KEY), or neither".into(),
        )),
    }
}

fn generated_credentials() -> RootCredentials {
    RootCredentials {
        access_key: format!("SG{}", random_token(9).to_uppercase()),
        secret_key: random_token(30),
    }
}

/// Root credentials: environment, then config file, then the data directory (generated on
/// first start).
pub fn root_credentials(config: &Config) -> Result<RootCredentials, SetupError> {
    if let Some(creds) = configured_credentials(config)? {
        return Ok(creds);
    }
    let path = config.data_dir.join(CREDENTIALS_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return toml::from_str(&text)
            .map_err(|e| SetupError::Refused(format!("{}: {e}", path.display())));
    }
    let creds = generated_credentials();
    let text = toml::to_string(&creds).map_err(|e| SetupError::Refused(e.to_string()))?;
    write_secret_file(&path, text.as_bytes())?;
    eprintln!("sealgate: generated root credentials in {}", path.display());
    Ok(creds)
}

/// This node's place in a fleet: the shared database and its membership.
struct Fleet {
    db: Database,
    membership: Arc<Membership>,
}

async fn join_fleet(config: &Config) -> Result<Fleet, SetupError> {
    tracing::info!("connecting to the fleet's PostgreSQL database (checking its schema)");
    let db = Database::open(&config.catalog)
        .await
        .map_err(|e| SetupError::Refused(e.to_string()))?;
    let node = fleet::node_name(config.catalog.node.as_deref(), &config.data_dir)
        .map_err(io(&config.data_dir.join(fleet::NODE_ID_FILE)))?;
    let membership = Membership::join(db.clone(), &node)
        .await
        .map_err(|e| SetupError::Refused(e.to_string()))?;
    tracing::info!(%node, live_nodes = membership.live_nodes(), "joined the fleet");
    Ok(Fleet { db, membership })
}

fn fleet_error(e: FleetError) -> SetupError {
    SetupError::Refused(e.to_string())
}

/// A node without a root key may create one only for a new fleet on an empty database.
async fn refuse_new_root_in_fleet(config: &Config, fleet: &Fleet) -> Result<(), SetupError> {
    let initialized = FleetRecord::read(&fleet.db).await.map_err(fleet_error)?;
    let holds_data = FleetRecord::database_holds_data(&fleet.db)
        .await
        .map_err(fleet_error)?;
    if initialized.is_some() || holds_data {
        return Err(SetupError::Refused(format!(
            "no root key in {} but the database belongs to a fleet: copy the fleet's root.key (or configure its HSM key) to this node; a new key could not open the fleet's data",
            config.data_dir.display()
        )));
    }
    Ok(())
}

/// The fleet's root credentials (the environment or config may override them on a node),
/// after checking that this node's root opens the database's canary. A new fleet records
/// them with its canary; a database holding data but no record is refused.
async fn fleet_credentials(
    config: &Config,
    fleet: &Fleet,
    root: &RootKey,
) -> Result<RootCredentials, SetupError> {
    let sealer = root.catalog_sealer();
    let configured = configured_credentials(config)?;
    let mut created_here = false;
    let record = match FleetRecord::read(&fleet.db).await.map_err(fleet_error)? {
        Some(record) => record,
        None => {
            if FleetRecord::database_holds_data(&fleet.db)
                .await
                .map_err(fleet_error)?
            {
                return Err(SetupError::Refused(
                    "the database holds buckets, keys or users but no fleet record (its root canary); refusing to start over it".into(),
                ));
            }
            let creds = configured.clone().unwrap_or_else(generated_credentials);
            let text = toml::to_string(&creds).map_err(|e| SetupError::Refused(e.to_string()))?;
            created_here = true;
            FleetRecord::initialize(&fleet.db, &sealer, text.as_bytes())
                .await
                .map_err(fleet_error)?
        }
    };
    record.check_root(&sealer).map_err(fleet_error)?;
    if let Some(creds) = configured {
        return Ok(creds);
    }
    let text = record.credentials(&sealer).map_err(fleet_error)?;
    if created_here {
        // The operator learns generated credentials from the node that created the fleet.
        let path = config.data_dir.join(CREDENTIALS_FILE);
        write_secret_file(&path, &text)?;
        eprintln!(
            "sealgate: created a new fleet; its root credentials are in {}",
            path.display()
        );
    }
    let text = String::from_utf8(text).map_err(|e| SetupError::Refused(e.to_string()))?;
    toml::from_str(&text).map_err(|e| SetupError::Refused(format!("fleet root credentials: {e}")))
}

fn random_token(bytes: usize) -> String {
    crate::crypto::random_hex(bytes)
}

/// The catalog of an existing configuration, for commands that work on it beside (or
/// without) a running gateway, such as `sealgate replicate`.
pub async fn open_catalog(config: &Config, root: &RootKey) -> Result<Catalog, SetupError> {
    if config.catalog.url.is_none() {
        return Ok(Catalog::sqlite(
            &config.data_dir.join(CATALOG_FILE),
            config.storage.fsync,
            root.catalog_sealer(),
            config.storage.read_grace_secs,
        )?);
    }
    let db = Database::open(&config.catalog)
        .await
        .map_err(|e| SetupError::Refused(e.to_string()))?;
    let record = FleetRecord::read(&db)
        .await
        .map_err(fleet_error)?
        .ok_or_else(|| SetupError::Refused("the database holds no fleet yet".into()))?;
    record
        .check_root(&root.catalog_sealer())
        .map_err(fleet_error)?;
    let node = fleet::node_name(config.catalog.node.as_deref(), &config.data_dir)
        .map_err(io(&config.data_dir.join(fleet::NODE_ID_FILE)))?;
    Ok(Catalog::postgres(
        &db,
        &node,
        root.catalog_sealer(),
        config.storage.read_grace_secs,
    ))
}

/// The services of one gateway process, ready to serve.
pub struct Gateway {
    pub objects: ObjectService,
    /// Free space of the data directory, and its reserve.
    pub space: Arc<DiskSpace>,
    pub kms: KmsService,
    pub identities: Arc<Identities>,
    pub iam: Arc<IamService>,
    /// The audit trail every KMS operation and IAM change is recorded in.
    pub audit: AuditLog,
    pub clock: SharedClock,
    pub credentials: RootCredentials,
    /// Other regions' endpoints, for bucket replication.
    pub remotes: Arc<Remotes>,
    /// When this process opened the gateway: what interrupted writes left before it is
    /// theirs to clean up.
    pub started: std::time::SystemTime,
    /// This node's membership of a fleet; None for a single gateway on SQLite.
    pub membership: Option<Arc<Membership>>,
    /// Anchors this node's audit chain head in the fleet's database; None on SQLite.
    pub anchorer: Option<Anchorer>,
    /// Keeps this node's copies of the fleet's keys and IAM state current; None on SQLite.
    pub changes: Option<tokio::task::JoinHandle<()>>,
}

pub async fn open(config: &Config, clock: SharedClock) -> Result<Gateway, SetupError> {
    let started = std::time::SystemTime::now();
    config.validate()?;
    let remotes =
        Arc::new(Remotes::from_settings(&config.replication).map_err(SetupError::Refused)?);
    std::fs::create_dir_all(&config.data_dir).map_err(io(&config.data_dir))?;
    let blobs = BlobStore::open(config)?;
    // Before anything is written: on a full disk the reserve makes room for start-up.
    let local_blobs =
        (config.storage.backend == crate::config::Backend::Local).then(|| config.blob_dir());
    let space = DiskSpace::open(
        &config.data_dir,
        local_blobs.as_deref(),
        config.storage.reserve_mib.saturating_mul(1024 * 1024),
    );
    tracing::info!(backend = %blobs.describe(), "checking the storage backend");
    blobs.probe().await.map_err(SetupError::Refused)?;
    let fleet = match config.catalog.url {
        Some(_) => Some(join_fleet(config).await?),
        None => None,
    };
    // Blobs in a remote store a fresh data dir knows nothing of were sealed under another
    // root key: never start over them with a new one.
    let root = match load_root_key(config)? {
        Some(key) => key,
        None => {
            if let Some(fleet) = &fleet {
                refuse_new_root_in_fleet(config, fleet).await?;
            }
            let remote = config.storage.backend != crate::config::Backend::Local;
            create_root_key(config, remote && blobs.holds_blobs().await?)?
        }
    };
    if fleet.is_none() {
        tracing::info!("opening the SQLite catalog (applying schema migrations it lacks)");
    }
    let (credentials, catalog) = match &fleet {
        None => (
            root_credentials(config)?,
            // This process is its catalog's only reader, and holds what its reads use.
            Catalog::sqlite(
                &config.data_dir.join(CATALOG_FILE),
                config.storage.fsync,
                root.catalog_sealer(),
                config.storage.read_grace_secs.min(SOLE_READER_GRACE_SECS),
            )?,
        ),
        Some(fleet) => (
            fleet_credentials(config, fleet, &root).await?,
            Catalog::postgres(
                &fleet.db,
                fleet.membership.node(),
                root.catalog_sealer(),
                config.storage.read_grace_secs,
            ),
        ),
    };
    if let Some(fleet) = &fleet {
        fleet.membership.spawn_heartbeat();
    }
    catalog.adopt_unowned_buckets(&config.account_id).await?;
    let settings = ServiceSettings {
        aead: config.aead_backend().unwrap_or_default(),
        chunk_size: config.crypto.chunk_size,
        orphan_grace_secs: config.storage.orphan_grace_secs,
    };
    tracing::info!(dir = %config.audit_dir().display(), "opening the audit trail (checking its chain's tail)");
    let audit = AuditLog::open(
        &config.audit_dir(),
        root.audit_key(),
        AuditSettings::from(&config.audit),
    )
    .map_err(|e| SetupError::Refused(format!("audit trail: {e}")))?;
    let anchorer = match &fleet {
        Some(fleet) => Some(
            audit
                .spawn_anchoring(fleet.db.clone(), fleet.membership.node())
                .await
                .map_err(|e| SetupError::Refused(format!("audit trail: {e}")))?,
        ),
        None => None,
    };
    // In a fleet, keys and IAM state are the database's; each node answers from a copy
    // it keeps current within the change bound, and refuses past it.
    let change_bound = Duration::from_millis(config.catalog.change_bound_ms);
    let (key_store, iam_store) = match &fleet {
        None => (
            KeyStore::sqlite(&config.data_dir.join(KMS_FILE), config.storage.fsync)
                .map_err(|e| SetupError::Refused(format!("key service: {e}")))?,
            IamStore::new(&config.data_dir, root.iam_sealer(), config.storage.fsync),
        ),
        Some(fleet) => (
            KeyStore::postgres(fleet.db.clone(), change_bound),
            IamStore::postgres(fleet.db.clone(), root.iam_sealer(), change_bound),
        ),
    };
    tracing::info!("opening the key service");
    let kms = KmsService::open_with(
        key_store,
        &root,
        clock.clone(),
        KmsSettings {
            region: config.region.clone(),
            account: config.account_id.clone(),
            fsync: config.storage.fsync,
            audit: Some(audit.clone()),
        },
    )
    .await
    .map_err(|e| SetupError::Refused(format!("key service: {e}")))?;
    let config_users = config
        .users
        .iter()
        .map(|u| {
            let account = u
                .account
                .clone()
                .unwrap_or_else(|| config.account_id.clone());
            (account, u.name.clone())
        })
        .collect();
    let iam = Arc::new(
        IamService::open(iam_store, clock.clone(), config_users)
            .await
            .map_err(|e| SetupError::Refused(format!("IAM state: {e}")))?,
    );
    let changes = fleet.as_ref().map(|fleet| {
        Feed::new(fleet.db.clone(), kms.watch().into_iter().chain(iam.watch())).spawn()
    });
    let identities = Identities::new(config, &credentials.access_key, &credentials.secret_key)
        .map_err(SetupError::Refused)?
        .with_directory(iam.clone());
    let objects = ObjectService::new(catalog, blobs, Arc::new(root), clock.clone(), settings)
        .with_kms(kms.clone())
        .with_disk_space(space.clone());
    if config.kms.key_deletion_guard {
        kms.guard_deletion(objects.compliance_key_guard());
    }
    tracing::info!("marking blobs of writes interrupted by the last run for collection");
    let orphans = Collector::new(objects.clone()).expire_orphans().await?;
    if orphans > 0 {
        tracing::info!(
            blobs = orphans,
            "blobs left by the last run will be collected in the background"
        );
    }
    Ok(Gateway {
        objects,
        space,
        kms,
        identities: Arc::new(identities),
        iam,
        audit,
        clock,
        credentials,
        remotes,
        started,
        membership: fleet.map(|f| f.membership),
        anchorer,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        Config {
            data_dir: dir.to_owned(),
            ..Config::default()
        }
    }

    #[test]
    fn root_key_is_created_once_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let c = config_in(dir.path());
        let k1 = load_or_create_root_key(&c, false).unwrap();
        let mode = std::fs::metadata(dir.path().join(ROOT_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let k2 = load_or_create_root_key(&c, false).unwrap();
        assert_eq!(k1.as_bytes(), k2.as_bytes());
    }

    #[test]
    fn a_missing_root_key_next_to_sealed_data_is_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let c = config_in(dir.path());
        std::fs::write(dir.path().join(CATALOG_FILE), b"").unwrap();
        let err = load_or_create_root_key(&c, false).err().unwrap();
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(!dir.path().join(ROOT_KEY_FILE).exists());
    }

    #[test]
    fn a_world_readable_or_short_root_key_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let c = config_in(dir.path());
        let path = dir.path().join(ROOT_KEY_FILE);
        std::fs::write(&path, [1u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_or_create_root_key(&c, false).is_err());
        std::fs::write(&path, [1u8; 5]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load_or_create_root_key(&c, false).is_err());
    }
}
