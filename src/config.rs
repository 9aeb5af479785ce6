//! Typed configuration. Every field has a default so `sealgate serve` runs with no file;
//! `config/sealgate.example.toml` documents each one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::crypto::AeadBackend;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    /// The 12-digit account the gateway's users, buckets and keys belong to.
    pub account_id: String,
    /// More accounts, each with a root user, for cross-account access.
    pub accounts: Vec<Account>,
    pub users: Vec<User>,
    pub kms: KmsConfig,
    pub root: RootConfig,
    pub credentials: Credentials,
    pub tls: Tls,
    pub storage: Storage,
    pub s3: S3Settings,
    pub crypto: CryptoSettings,
    pub audit: AuditConfig,
    pub replication: ReplicationSettings,
    pub lifecycle: LifecycleSettings,
    pub catalog: CatalogConfig,
    pub admin: AdminConfig,
    pub limits: Limits,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Credentials {
    /// Root user of the account; overridden by SEALGATE_ROOT_ACCESS_KEY / _SECRET_KEY.
    pub root_access_key: Option<String>,
    pub root_secret_key: Option<String>,
}

/// What guards the root secret: a key file, or an HSM through PKCS#11.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RootConfig {
    pub kind: RootKind,
    pub pkcs11: Option<Pkcs11Config>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootKind {
    #[default]
    File,
    Pkcs11,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library) of the HSM.
    pub module: PathBuf,
    pub token_label: String,
    /// File holding the user PIN; SEALGATE_PKCS11_PIN overrides it. Never the PIN itself.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Label of the AES key in the token that seals the root secret (created if absent on
    /// first start).
    #[serde(default = "default_key_label")]
    pub key_label: String,
}

fn default_key_label() -> String {
    "sealgate-root".into()
}

/// Another account served by this gateway, with the access key of its root user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    pub root_access_key_id: String,
    pub root_secret_access_key: String,
}

/// An IAM user defined in the config, with its access key and identity policies (JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user's account: `account_id` when absent.
    #[serde(default)]
    pub account: Option<String>,
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KmsConfig {
    /// Per-account quota of cryptographic requests per second (0: unlimited). In a fleet
    /// the fleet's: each node admits this divided by the live nodes.
    pub crypto_requests_per_second: u32,
    /// Per-account quota of all other KMS requests per second (0: unlimited); in a fleet
    /// divided among the live nodes like the other.
    pub management_requests_per_second: u32,
    /// Refuse ScheduleKeyDeletion of a key that still protects object versions under
    /// COMPLIANCE retention (a protection AWS does not have; off by default, as on AWS).
    pub key_deletion_guard: bool,
}

impl Default for KmsConfig {
    fn default() -> Self {
        KmsConfig {
            crypto_requests_per_second: 50_000,
            management_requests_per_second: 1_000,
            key_deletion_guard: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Generate a certificate for localhost at start (local use only).
    pub self_signed: bool,
}

/// Where sealed blobs live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A directory on local disk (`blob_dir`).
    #[default]
    Local,
    /// An S3 bucket: AWS, MinIO, Ceph RGW, any S3-compatible store.
    S3,
    /// A Google Cloud Storage bucket.
    Gcs,
    /// An Azure Blob Storage container.
    Azure,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::S3 => "s3",
            Backend::Gcs => "gcs",
            Backend::Azure => "azure",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    pub backend: Backend,
    /// Where sealed blobs live with the local backend. Empty: `<data_dir>/blobs`.
    pub blob_dir: Option<PathBuf>,
    /// The bucket (S3, GCS) or container (Azure) of a remote backend.
    pub bucket: Option<String>,
    /// Every blob goes under this prefix of the bucket, so deployments can share one.
    pub prefix: String,
    /// The service's URL (e.g. `http://127.0.0.1:9000` for MinIO); empty: the provider's.
    pub endpoint: Option<String>,
    /// The S3 region (signing); empty: `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Allow a plain `http://` endpoint. For test servers only.
    pub allow_http: bool,
    /// S3: address buckets as `BUCKET.host` instead of `host/BUCKET`.
    pub virtual_hosted_style: bool,
    /// S3 credentials; without them the backend's standard environment (`AWS_*`).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub secret_access_key_file: Option<PathBuf>,
    /// Azure: the storage account and a file holding its access key; without them
    /// `AZURE_STORAGE_*`.
    pub account: Option<String>,
    pub access_key_file: Option<PathBuf>,
    /// GCS: a service-account JSON key file; without it `GOOGLE_*`.
    pub service_account_key_file: Option<PathBuf>,
    /// Bytes of each part a remote blob is written in (at least 5 MiB, S3's minimum).
    pub part_size_mib: u32,
    /// S3: blobs up to this many MiB stream as one PUT (S3 takes up to 5 GiB); larger ones
    /// go as multipart uploads of `part_size_mib`. 0: always multipart.
    pub single_put_max_mib: u32,
    /// Seconds to connect to a remote backend, and to wait for each of its answers.
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    /// Retries of a failed request (5xx, timeouts, broken connections), with
    /// exponential backoff from `retry_init_backoff_ms` to `retry_max_backoff_secs`,
    /// for at most `retry_timeout_secs` in all.
    pub max_retries: usize,
    pub retry_init_backoff_ms: u64,
    pub retry_max_backoff_secs: u64,
    pub retry_timeout_secs: u64,
    /// fsync blobs and the catalog before a write is acknowledged.
    pub fsync: bool,
    /// Seconds an unfinished upload's blob may exist before it counts as an orphan.
    pub orphan_grace_secs: u64,
    /// How often the collector deletes garbage and orphaned blobs.
    pub gc_interval_secs: u64,
    /// Seconds the blobs of an overwritten or deleted version stay, so GETs that started
    /// before the change can finish (a fleet; a single gateway holds what its reads use and
    /// keeps them at most `objects::SOLE_READER_GRACE_SECS`).
    pub read_grace_secs: u64,
    /// MiB kept in reserve on the data directory's filesystem so deletes and their audit
    /// records can be written when it is full. 0: none.
    pub reserve_mib: u64,
}

impl Storage {
    /// The secret of a remote backend's key (S3 secret or Azure access key), read from its
    /// file when given that way.
    pub fn secret(&self) -> Result<Option<String>, ConfigError> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path)
                .map(|s| Some(s.trim().to_owned()))
                .map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })
        };
        match (
            &self.secret_access_key,
            &self.secret_access_key_file,
            &self.access_key_file,
        ) {
            (Some(s), None, None) => Ok(Some(s.clone())),
            (None, Some(path), None) | (None, None, Some(path)) => read(path),
            (None, None, None) => Ok(None),
            _ => Err(ConfigError::Invalid(
                "storage: give one of secret_access_key, secret_access_key_file and access_key_file".into(),
            )),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("storage: {m}")));
        if self.backend == Backend::Local {
            let remote_only = self.bucket.is_some()
                || self.endpoint.is_some()
                || self.access_key_id.is_some()
                || self.account.is_some()
                || !self.prefix.is_empty();
            if remote_only {
                return invalid(
                    "bucket, prefix, endpoint and credentials go with backend = \"s3\", \"gcs\" or \"azure\"",
                );
            }
            return Ok(());
        }
        if self.bucket.as_deref().is_none_or(str::is_empty) {
            return invalid(&format!(
                "backend = \"{}\" needs a bucket (the container, for Azure)",
                self.backend.name()
            ));
        }
        if self.blob_dir.is_some() {
            return invalid("blob_dir is for backend = \"local\"");
        }
        if let Some(endpoint) = &self.endpoint {
            if endpoint.starts_with("http://") && !self.allow_http {
                return invalid(&format!(
                    "endpoint {endpoint} is plain HTTP; set allow_http = true (test servers only) or use https://"
                ));
            }
            if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
                return invalid(&format!(
                    "endpoint {endpoint} must start with http:// or https://"
                ));
            }
        }
        if self.prefix.starts_with('/') || self.prefix.contains("//") {
            return invalid("prefix must be relative, like \"sealgate/prod\"");
        }
        if self.single_put_max_mib > 5120 {
            return invalid("single_put_max_mib is at most 5120 (S3's 5 GiB PUT limit)");
        }
        if self.part_size_mib < 5 || self.part_size_mib > 512 {
            return invalid("part_size_mib must be within 5..=512 (S3's minimum part is 5 MiB)");
        }
        if self.request_timeout_secs == 0 || self.connect_timeout_secs == 0 {
            return invalid("timeouts must be at least one second");
        }
        self.secret().map(drop)
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            backend: Backend::Local,
            blob_dir: None,
            bucket: None,
            prefix: String::new(),
            endpoint: None,
            region: None,
            allow_http: false,
            virtual_hosted_style: false,
            access_key_id: None,
            secret_access_key: None,
            secret_access_key_file: None,
            account: None,
            access_key_file: None,
            service_account_key_file: None,
            part_size_mib: 8,
            single_put_max_mib: 5120,
            connect_timeout_secs: 5,
            request_timeout_secs: 30,
            max_retries: 5,
            retry_init_backoff_ms: 100,
            retry_max_backoff_secs: 10,
            retry_timeout_secs: 60,
            fsync: true,
            orphan_grace_secs: 3600,
            gc_interval_secs: 60,
            read_grace_secs: 900,
            reserve_mib: 32,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// AWS refuses SSE-C over plain HTTP; this allows it for local testing only.
    pub allow_sse_c_over_http: bool,
    /// Largest single PUT body (AWS: 5 GiB).
    pub max_put_size: u64,
    /// Largest file of a POST form upload. The protocol layer holds a form's file in memory
    /// before the request is authorized, so this bounds what one form can make it hold.
    pub max_post_size: u64,
    /// Domains served virtual-hosted style: `BUCKET.DOMAIN` addresses the bucket. Path
    /// style works on every host name.
    pub domains: Vec<String>,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            allow_sse_c_over_http: false,
            max_put_size: 5 * 1024 * 1024 * 1024,
            max_post_size: 64 * 1024 * 1024,
            domains: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CryptoSettings {
    /// AES-256-GCM implementation: "ring" (fastest measured) or "rustcrypto".
    pub aead: String,
    /// Plaintext bytes per sealed chunk of newly written blobs.
    pub chunk_size: u32,
}

impl Default for CryptoSettings {
    fn default() -> Self {
        CryptoSettings {
            aead: "ring".into(),
            chunk_size: crate::crypto::DEFAULT_CHUNK_SIZE,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Directory of the audit log. Empty: `<data_dir>/audit`.
    pub dir: Option<PathBuf>,
    /// A log file that would grow past this many bytes is closed and the next one begun.
    pub max_file_bytes: u64,
    /// fsync each batch of records before the operations they record are acknowledged.
    pub fsync: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            dir: None,
            max_file_bytes: 64 * 1024 * 1024,
            fsync: true,
        }
    }
}

/// The admin listener: metrics, health checks and the console.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    pub enabled: bool,
    /// Keep it on a private interface: it answers health checks and metrics to anyone
    /// who reaches it.
    pub listen: SocketAddr,
    /// A console session ends after this long without a request...
    pub session_idle_secs: u64,
    /// ...and this long after sign-in, whatever its use.
    pub session_max_secs: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8015)),
            session_idle_secs: 15 * 60,
            session_max_secs: 8 * 3600,
        }
    }
}

/// What one client may take of a listener: how long it may dawdle over a request, and how
/// many connections it, and all clients together, may hold open. Both listeners apply the
/// same values, each counting its own connections.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Seconds to receive a whole request head: from the connection's opening (TLS
    /// handshake included) for its first request, from the first byte for a later one.
    pub header_read_timeout_secs: u64,
    /// Longest wait, in seconds, for the next bytes of a request body the gateway is
    /// reading: a gap, never a total, so a large upload on a slow link is not cut.
    pub body_read_timeout_secs: u64,
    /// Seconds a kept-alive connection with no request in progress stays open.
    pub idle_timeout_secs: u64,
    /// Connections open at once (0: no limit); beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Connections open at once from one IPv4 address or IPv6 /64 (0: no limit).
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout_secs: 30,
            body_read_timeout_secs: 60,
            idle_timeout_secs: 120,
            max_connections: 4096,
            max_connections_per_ip: 256,
        }
    }
}

impl Limits {
    fn validate(&self) -> Result<(), ConfigError> {
        let timeouts = [
            self.header_read_timeout_secs,
            self.body_read_timeout_secs,
            self.idle_timeout_secs,
        ];
        if timeouts.iter().any(|&t| !(1..=86_400).contains(&t)) {
            return Err(ConfigError::Invalid(
                "limits: timeouts must be within 1..=86400 seconds".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (one human-readable line per event) or `json` (one object per line).
    pub format: LogFormat,
    /// One line per request answered, at `info` under the target `sealgate::access`.
    pub access: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            access: true,
        }
    }
}

/// Where the metadata lives: the embedded SQLite in the data directory, or a PostgreSQL
/// database shared by a fleet of gateways.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// `postgres://user@host:port/db?sslmode=verify-full&sslrootcert=/path/ca.pem`; unset:
    /// SQLite files in the data directory. Never put the password here: use `password_file`.
    pub url: Option<String>,
    /// A file holding the database password.
    pub password_file: Option<PathBuf>,
    /// Connections this node keeps open to the database.
    pub pool_size: u32,
    /// This node's name in the fleet (heartbeats, leases, its audit chain). Unset: a name
    /// generated on first start and kept in `<data_dir>/node-id`.
    pub node: Option<String>,
    /// Longest time a change made through another node (a key disabled, an access key
    /// deleted) may go unseen here; past it, requests that depend on keys or users fail
    /// rather than trust a stale copy.
    pub change_bound_ms: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            url: None,
            password_file: None,
            pool_size: 16,
            node: None,
            change_bound_ms: 1000,
        }
    }
}

impl CatalogConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("catalog: {m}")));
        let Some(url) = &self.url else {
            if self.password_file.is_some() {
                return invalid("password_file goes with url");
            }
            return Ok(());
        };
        let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        else {
            return invalid("url must start with postgres://");
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority
            .rsplit_once('@')
            .is_some_and(|(user, _)| user.contains(':'))
        {
            return invalid("url holds a password; put it in password_file");
        }
        if self.pool_size < 2 {
            return invalid("pool_size must be at least 2 (one connection listens for changes)");
        }
        if !(100..=60_000).contains(&self.change_bound_ms) {
            return invalid("change_bound_ms must be within 100..=60000");
        }
        if let Some(node) = &self.node {
            let valid = !node.is_empty()
                && node.len() <= 64
                && node
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid {
                return invalid("node must be 1-64 letters, digits or ._-");
            }
        }
        Ok(())
    }
}

/// Bucket replication: the worker pool and the S3 endpoints of other regions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationSettings {
    /// Versions replicated at the same time (0: no worker runs; tasks wait in the queue).
    pub workers: usize,
    /// First retry delay after a failed attempt; it doubles per attempt (with jitter).
    pub retry_base_ms: u64,
    /// Longest delay between two attempts.
    pub retry_max_secs: u64,
    /// How often an idle worker looks for due tasks.
    pub poll_interval_ms: u64,
    /// Versions larger than this go to the destination as multipart uploads, resumable
    /// part by part; smaller ones as one PUT. Versions uploaded in parts always go in
    /// their own parts.
    pub multipart_threshold_mib: u64,
    /// The part size of those uploads (raised where a version would need more than
    /// S3's 10,000 parts).
    pub part_size_mib: u64,
    /// Destinations by region name: where rules' destination buckets are looked up.
    pub remotes: std::collections::BTreeMap<String, Remote>,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        ReplicationSettings {
            workers: 4,
            retry_base_ms: 1000,
            retry_max_secs: 300,
            poll_interval_ms: 500,
            multipart_threshold_mib: 64,
            part_size_mib: 64,
            remotes: std::collections::BTreeMap::new(),
        }
    }
}

impl ReplicationSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(5..=5120).contains(&self.part_size_mib) {
            return Err(ConfigError::Invalid(
                "replication.part_size_mib must be within 5..=5120 (S3's part sizes)".into(),
            ));
        }
        if !(5..=5120).contains(&self.multipart_threshold_mib) {
            return Err(ConfigError::Invalid(
                "replication.multipart_threshold_mib must be within 5..=5120 (one PUT carries at most 5 GiB)".into(),
            ));
        }
        Ok(())
    }
}

/// Lifecycle rules (PutBucketLifecycleConfiguration): how often the worker applies them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleSettings {
    /// Seconds between two passes over every bucket with a lifecycle configuration. S3
    /// counts rules in whole days, so an hour loses nothing a user can see.
    pub interval_secs: u64,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            interval_secs: 3600,
        }
    }
}

/// An S3-compatible endpoint of another region (another sealgate, or any S3 service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// `http://` or `https://` host and port; requests are path-style.
    pub endpoint: String,
    pub access_key_id: String,
    /// The secret, or `secret_access_key_file` naming a file that holds it.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// PEM roots that the https endpoint's certificate must chain to (default: the
    /// system's bundle, /etc/ssl/certs/ca-certificates.crt).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (a test gateway with --tls-self-signed); still encrypted.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl Remote {
    /// The secret access key, read from its file when given that way.
    pub fn secret(&self) -> Result<String, ConfigError> {
        match (&self.secret_access_key, &self.secret_access_key_file) {
            (Some(s), None) => Ok(s.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                }),
            _ => Err(ConfigError::Invalid(
                "a replication remote needs exactly one of secret_access_key and secret_access_key_file".into(),
            )),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8014)),
            data_dir: PathBuf::from("./data"),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            accounts: Vec::new(),
            users: Vec::new(),
            kms: KmsConfig::default(),
            root: RootConfig::default(),
            credentials: Credentials::default(),
            tls: Tls::default(),
            storage: Storage::default(),
            s3: S3Settings::default(),
            crypto: CryptoSettings::default(),
            audit: AuditConfig::default(),
            replication: ReplicationSettings::default(),
            lifecycle: LifecycleSettings::default(),
            catalog: CatalogConfig::default(),
            admin: AdminConfig::default(),
            limits: Limits::default(),
            log: LogConfig::default(),
        }
    }
}

impl Config {
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.admin.enabled && self.admin.listen == self.listen && self.listen.port() != 0 {
            return Err(ConfigError::Invalid(format!(
                "admin.listen ({}) must differ from listen: the admin endpoints get a port of their own",
                self.admin.listen
            )));
        }
        if self.admin.session_idle_secs == 0 || self.admin.session_max_secs == 0 {
            return Err(ConfigError::Invalid(
                "admin.session_idle_secs and admin.session_max_secs must be at least 1".into(),
            ));
        }
        if self.aead_backend().is_none() {
            return Err(ConfigError::Invalid(format!(
                "crypto.aead must be \"ring\" or \"rustcrypto\", not {:?}",
                self.crypto.aead
            )));
        }
        if !(4096..=16 * 1024 * 1024).contains(&self.crypto.chunk_size) {
            return Err(ConfigError::Invalid(
                "crypto.chunk_size must be within 4 KiB..=16 MiB".into(),
            ));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert and tls.key go together".into(),
            ));
        }
        if self.tls.self_signed && self.tls.cert.is_some() {
            return Err(ConfigError::Invalid(
                "choose tls.self_signed or tls.cert/tls.key, not both".into(),
            ));
        }
        let is_account_id = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
        if !is_account_id(&self.account_id) {
            return Err(ConfigError::Invalid("account_id must be 12 digits".into()));
        }
        let mut ids = std::collections::HashSet::from([self.account_id.as_str()]);
        for a in &self.accounts {
            if !is_account_id(&a.id) || !ids.insert(&a.id) {
                return Err(ConfigError::Invalid(format!(
                    "accounts: id {:?} must be 12 digits and used once",
                    a.id
                )));
            }
        }
        let mut names = std::collections::HashSet::new();
        for u in &self.users {
            if let Some(a) = &u.account
                && !ids.contains(a.as_str())
            {
                return Err(ConfigError::Invalid(format!(
                    "users.{}: account {a} is neither account_id nor one of [[accounts]]",
                    u.name
                )));
            }
            // IAM's user names: [\w+=,.@-]{1,64}, unique in an account regardless of case.
            let valid = !u.name.is_empty()
                && u.name.len() <= 64
                && u.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !valid {
                return Err(ConfigError::Invalid(format!(
                    "users: name {:?} must be 1-64 letters, digits or +=,.@_-",
                    u.name
                )));
            }
            let account = u.account.as_deref().unwrap_or(&self.account_id);
            if !names.insert((account, u.name.to_ascii_lowercase())) {
                return Err(ConfigError::Invalid(format!(
                    "users.{}: account {account} has this user name twice (names ignore case)",
                    u.name
                )));
            }
        }
        if self.audit.max_file_bytes < 4096 {
            return Err(ConfigError::Invalid(
                "audit.max_file_bytes must be at least 4096".into(),
            ));
        }
        if self.root.kind == RootKind::Pkcs11 && self.root.pkcs11.is_none() {
            return Err(ConfigError::Invalid(
                "root.kind = \"pkcs11\" needs a [root.pkcs11] section (module, token_label)".into(),
            ));
        }
        for (region, remote) in &self.replication.remotes {
            let scheme_ok =
                remote.endpoint.starts_with("http://") || remote.endpoint.starts_with("https://");
            if region.is_empty() || !scheme_ok {
                return Err(ConfigError::Invalid(format!(
                    "replication.remotes.{region}: endpoint must start with http:// or https://"
                )));
            }
            if remote.secret_access_key.is_some() == remote.secret_access_key_file.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "replication.remotes.{region}: give exactly one of secret_access_key and secret_access_key_file"
                )));
            }
        }
        self.storage.validate()?;
        self.replication.validate()?;
        if self.lifecycle.interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "lifecycle.interval_secs must be at least 1".into(),
            ));
        }
        crate::s3::host::Domains::new(&self.s3.domains).map_err(ConfigError::Invalid)?;
        self.catalog.validate()?;
        self.limits.validate()?;
        if self.region.is_empty() {
            return Err(ConfigError::Invalid("region must not be empty".into()));
        }
        Ok(())
    }

    pub fn aead_backend(&self) -> Option<AeadBackend> {
        AeadBackend::parse(&self.crypto.aead)
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.storage
            .blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    pub fn audit_dir(&self) -> PathBuf {
        self.audit
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit"))
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.self_signed || self.tls.cert.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_readme() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8014");
        assert_eq!(c.region, "us-east-1");
        assert!(c.storage.fsync);
    }

    #[test]
    fn example_config_parses_and_equals_defaults() {
        let text = include_str!("../config/sealgate.example.toml");
        let parsed: Config = toml::from_str(text).unwrap();
        parsed.validate().unwrap();
        let d = Config::default();
        assert_eq!(parsed.listen, d.listen);
        assert_eq!(
            parsed.storage.orphan_grace_secs,
            d.storage.orphan_grace_secs
        );
        assert_eq!(parsed.crypto.chunk_size, d.crypto.chunk_size);
        assert_eq!(parsed.account_id, d.account_id);
        assert_eq!(
            parsed.kms.crypto_requests_per_second,
            d.kms.crypto_requests_per_second
        );
        assert_eq!(parsed.limits, d.limits);
        assert_eq!(parsed.audit.dir, d.audit.dir);
        assert_eq!(parsed.audit.max_file_bytes, d.audit.max_file_bytes);
        assert_eq!(parsed.audit.fsync, d.audit.fsync);
        assert_eq!(d.audit_dir(), d.data_dir.join("audit"));
        assert_eq!(parsed.replication.workers, d.replication.workers);
        assert_eq!(
            parsed.replication.retry_base_ms,
            d.replication.retry_base_ms
        );
        assert_eq!(
            parsed.replication.retry_max_secs,
            d.replication.retry_max_secs
        );
        assert_eq!(
            parsed.replication.poll_interval_ms,
            d.replication.poll_interval_ms
        );
        assert_eq!(parsed.lifecycle.interval_secs, d.lifecycle.interval_secs);
        let remote = &parsed.replication.remotes["eu-west-1"];
        assert_eq!(remote.endpoint, "https://s3.eu.example:8014");
        assert!(remote.secret_access_key.is_some() && !remote.insecure_skip_verify);
    }

    #[test]
    fn replication_remotes_need_one_secret_and_an_http_endpoint() {
        let parse = |extra: &str| {
            let text = format!(
                "[replication.remotes.eu-west-1]\nendpoint = \"http://127.0.0.1:1\"\naccess_key_id = \"AK\"\n{extra}"
            );
            toml::from_str::<Config>(&text).unwrap().validate()
        };
        parse("secret_access_key = \"s\"").unwrap();
        assert!(parse("").is_err());
        assert!(parse("secret_access_key = \"s\"\nsecret_access_key_file = \"f\"").is_err());
        let mut c = Config::default();
        c.replication.remotes.insert(
            "x".into(),
            Remote {
                endpoint: "ftp://h".into(),
                access_key_id: "a".into(),
                secret_access_key: Some("s".into()),
                secret_access_key_file: None,
                ca_file: None,
                insecure_skip_verify: false,
            },
        );
        assert!(c.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<Config>("lisen = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn limits_need_timeouts_and_take_zero_for_no_connection_limit() {
        let parse = |text: &str| toml::from_str::<Config>(&format!("[limits]\n{text}"));
        let c = parse("max_connections = 0\nmax_connections_per_ip = 0").unwrap();
        c.validate().unwrap();
        for bad in [
            "header_read_timeout_secs = 0",
            "body_read_timeout_secs = 0",
            "idle_timeout_secs = 100000",
        ] {
            assert!(parse(bad).unwrap().validate().is_err(), "{bad}");
        }
        assert!(parse("read_timeout_secs = 5").is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = Config::default();
        c.crypto.aead = "rot13".into();
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.tls.cert = Some("c.pem".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn config_users_have_iam_names_unique_per_account_regardless_of_case() {
        let users = |names: &[(&str, Option<&str>)]| {
            let mut c: Config = toml::from_str(
                "[[accounts]]\nid = \"111122223333\"\nroot_access_key_id = \"AKIAOTHER\"\nroot_secret_access_key = \"s\"",
            )
            .unwrap();
            c.users = names
                .iter()
                .enumerate()
                .map(|(i, (name, account))| User {
                    name: (*name).into(),
                    access_key_id: format!("AKIAUSER{i}"),
                    secret_access_key: "s".into(),
                    account: account.map(Into::into),
                    policies: Vec::new(),
                })
                .collect();
            c.validate()
        };
        users(&[("bob", None), ("bob", Some("111122223333"))]).unwrap();
        assert!(users(&[("bob", None), ("Bob", None)]).is_err());
        assert!(users(&[("bob", Some("111122223333")), ("BOB", Some("111122223333"))]).is_err());
        assert!(users(&[("bad name", None)]).is_err());
        assert!(users(&[("", None)]).is_err());
    }
}
