//! A gateway as a node of a fleet sharing one PostgreSQL database: its name, its heartbeat,
//! and how many nodes are alive. Times come from the database's clock, so nodes whose
//! clocks disagree still agree on who is alive.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::postgres::{Database, DbError};

/// How often a node records that it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// A node silent this long is dead: its writes in flight died with it, its leases lapse.
pub const NODE_TIMEOUT_MS: i64 = 15_000;

/// The database's clock, in Unix milliseconds, as an SQL expression.
pub const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The file in the data directory that keeps a generated node name.
pub const NODE_ID_FILE: &str = "node-id";

/// This node's name: the configured one, else the one generated on first start and kept in
/// the data directory.
pub fn node_name(configured: Option<&str>, data_dir: &Path) -> std::io::Result<String> {
    if let Some(name) = configured {
        return Ok(name.to_owned());
    }
    let path = data_dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => return Ok(name.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let name = format!("node-{}", crate::crypto::random_hex(6));
    crate::fsutil::write_atomically(&path, name.as_bytes(), true)?;
    Ok(name)
}

/// This node's membership: its heartbeat row, and the count of live nodes (itself
/// included) as of the last beat.
pub struct Membership {
    db: Database,
    node: String,
    live: AtomicUsize,
}

impl Membership {
    /// Records the node as started now. A node that restarts under the same name takes
    /// its row over: what its previous run left in flight is its own to clean up.
    pub async fn join(db: Database, node: &str) -> Result<Arc<Membership>, DbError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO nodes (node, started_ms, heartbeat_ms) VALUES ($1, {DB_NOW_MS}, {DB_NOW_MS})
             ON CONFLICT (node) DO UPDATE SET started_ms = EXCLUDED.started_ms,
                 heartbeat_ms = EXCLUDED.heartbeat_ms"
        )))
        .bind(node)
        .execute(db.pool())
        .await?;
        let m = Arc::new(Membership {
            db,
            node: node.to_owned(),
            live: AtomicUsize::new(1),
        });
        m.beat().await?;
        Ok(m)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Live nodes as of the last heartbeat; at least 1 (this one).
    pub fn live_nodes(&self) -> usize {
        self.live.load(Ordering::Relaxed).max(1)
    }

    /// One heartbeat: the node's row, then the count of nodes heard from recently.
    pub async fn beat(&self) -> Result<(), DbError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE nodes SET heartbeat_ms = {DB_NOW_MS} WHERE node = $1"
        )))
        .bind(&self.node)
        .execute(self.db.pool())
        .await?;
        let live: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM nodes WHERE heartbeat_ms > {DB_NOW_MS} - $1"
        )))
        .bind(NODE_TIMEOUT_MS)
        .fetch_one(self.db.pool())
        .await?;
        self.live
            .store(usize::try_from(live).unwrap_or(1), Ordering::Relaxed);
        Ok(())
    }

    /// Beats every [`HEARTBEAT_INTERVAL`] for as long as the process runs.
    pub fn spawn_heartbeat(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.beat().await {
                    tracing::warn!(error = %e, "heartbeat not recorded");
                }
            }
        });
    }

    /// Removes the node from the fleet (a clean shutdown): its leases and in-flight blobs
    /// are free at once rather than after the timeout.
    pub async fn leave(&self) -> Result<(), DbError> {
        sqlx::query("DELETE FROM nodes WHERE node = $1")
            .bind(&self.node)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

/// What the fleet's database says about the root of trust: nothing yet (a new fleet), or a
/// canary and the root credentials, both sealed under the fleet's root key.
pub struct FleetRecord {
    canary: Vec<u8>,
    credentials: Vec<u8>,
}

const CANARY_CONTEXT: &[u8] = b"sealgate/v1 fleet canary";
const CANARY: &[u8] = b"sealgate fleet: this root key opens this database";
const CREDENTIALS_CONTEXT: &[u8] = b"sealgate/v1 fleet root credentials";

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "this node's root key cannot open the database's canary: the fleet was created with another root; install the fleet's root.key (or HSM key) on this node"
    )]
    WrongRoot,
    #[error("the database's fleet record is damaged: {0}")]
    Corrupt(String),
}

impl FleetRecord {
    /// The record, if the fleet was initialized.
    pub async fn read(db: &Database) -> Result<Option<FleetRecord>, FleetError> {
        let row: Option<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT root_canary, root_credentials FROM fleet WHERE id = 1")
                .fetch_optional(db.pool())
                .await
                .map_err(DbError::from)?;
        Ok(row.map(|(canary, credentials)| FleetRecord {
            canary,
            credentials,
        }))
    }

    /// Whether the database holds anything sealed (buckets, keys, users) besides the
    /// record: such data must never meet a root key generated here.
    pub async fn database_holds_data(db: &Database) -> Result<bool, FleetError> {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS(SELECT 1 FROM buckets) OR EXISTS(SELECT 1 FROM kms_keys)
                 OR EXISTS(SELECT 1 FROM iam_state)",
        )
        .fetch_one(db.pool())
        .await
        .map_err(DbError::from)?;
        Ok(held)
    }

    /// Records a new fleet's root (as a canary) and root credentials; if another node did
    /// so first, theirs stand and are answered.
    pub async fn initialize(
        db: &Database,
        sealer: &crate::crypto::CatalogSealer,
        credentials: &[u8],
    ) -> Result<FleetRecord, FleetError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO fleet (id, root_canary, root_credentials, created_ms)
             VALUES (1, $1, $2, {DB_NOW_MS}) ON CONFLICT (id) DO NOTHING"
        )))
        .bind(sealer.seal(CANARY_CONTEXT, CANARY))
        .bind(sealer.seal(CREDENTIALS_CONTEXT, credentials))
        .execute(db.pool())
        .await
        .map_err(DbError::from)?;
        FleetRecord::read(db)
            .await?
            .ok_or_else(|| FleetError::Corrupt("the fleet record vanished".into()))
    }

    /// Checks that `sealer` (derived from this node's root) is the fleet's.
    pub fn check_root(&self, sealer: &crate::crypto::CatalogSealer) -> Result<(), FleetError> {
        match sealer.open(CANARY_CONTEXT, &self.canary) {
            Ok(plain) if plain == CANARY => Ok(()),
            _ => Err(FleetError::WrongRoot),
        }
    }

    /// The root credentials the fleet was created with (serialized by the caller).
    pub fn credentials(
        &self,
        sealer: &crate::crypto::CatalogSealer,
    ) -> Result<Vec<u8>, FleetError> {
        self.check_root(sealer)?;
        sealer
            .open(CREDENTIALS_CONTEXT, &self.credentials)
            .map_err(|_| FleetError::Corrupt("root credentials cannot be opened".into()))
    }
}
