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
