//! A fleet node's chain, anchored in the fleet's database: every few seconds (and at a
//! clean shutdown) the node records its newest durable record there, MAC'd under the audit
//! key. A log that ends before its anchor lost its tail, even when its HEAD was cut back
//! with it; a node with an anchor but no log lost its log; and the database, not holding
//! the key, cannot forge an anchor. `verify_fleet` checks the logs against the anchors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, oneshot};

use super::format::{AnchorBody, Mac, Macer, ZERO_MAC, anchor_mac, log_file_name, mac_eq};
use super::verify::{self, Break, Chain, Start, VerifyReport};
use super::{AuditError, AuditKey, AuditLog};
use crate::fleet::DB_NOW_MS;
use crate::postgres::{Database, DbError};

/// How often a node anchors its chain's head, when the chain has moved.
pub const ANCHOR_INTERVAL: Duration = Duration::from_secs(5);

/// A node's newest durable record: the file it is in, its seq and its MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub node: String,
    /// The number of the log file holding the record (0 while the chain is empty).
    pub file_seq: u64,
    pub record_seq: u64,
    pub record_mac: [u8; 32],
    mac: Mac,
}

impl Anchor {
    pub(super) fn new(
        macer: &Macer,
        node: String,
        file_seq: u64,
        record_seq: u64,
        record_mac: Mac,
    ) -> Result<Anchor, AuditError> {
        let mut anchor = Anchor {
            node,
            file_seq,
            record_seq,
            record_mac,
            mac: ZERO_MAC,
        };
        anchor.mac = anchor_mac(macer, &anchor.body())?;
        Ok(anchor)
    }

    fn body(&self) -> AnchorBody<'_> {
        AnchorBody {
            node: &self.node,
            file_seq: self.file_seq,
            record_seq: self.record_seq,
            record_mac: hex::encode(self.record_mac),
        }
    }

    /// Where the record is, for people: `seq 1041 (audit-000003.log)`.
    fn place(&self) -> String {
        if self.record_seq == 0 {
            return "seq 0 (an empty chain)".into();
        }
        format!("seq {} ({})", self.record_seq, log_file_name(self.file_seq))
    }
}

/// An `audit_anchors` row as the database holds it; nothing in it is trusted before
/// [`AnchorRow::authentic`] checks its MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorRow {
    pub node: String,
    pub file_seq: i64,
    pub record_seq: i64,
    /// The anchored record's MAC, hex.
    pub head: String,
    /// The anchor's MAC, hex.
    pub mac: String,
    /// When it was written, by the database's clock (not covered by the MAC).
    pub anchored_ms: i64,
}

impl AnchorRow {
    /// The anchor, if a holder of the audit key wrote it for this node.
    pub(super) fn authentic(&self, macer: &Macer) -> Result<Anchor, &'static str> {
        const FORGED: &str =
            "does not verify: it was altered in the database or written under another root key";
        let decode = |hex_mac: &str| {
            let mut mac = ZERO_MAC;
            hex::decode_to_slice(hex_mac, &mut mac).map(|()| mac)
        };
        let (Ok(file_seq), Ok(record_seq), Ok(record_mac), Ok(claimed)) = (
            u64::try_from(self.file_seq),
            u64::try_from(self.record_seq),
            decode(&self.head),
            decode(&self.mac),
        ) else {
            return Err(FORGED);
        };
        let anchor = Anchor::new(macer, self.node.clone(), file_seq, record_seq, record_mac)
            .map_err(|_| FORGED)?;
        if mac_eq(&anchor.mac, &claimed) {
            Ok(anchor)
        } else {
            Err(FORGED)
        }
    }
}

const SELECT_ANCHORS: &str =
    "SELECT node, file_seq, record_seq, head, mac, anchored_ms FROM audit_anchors";

type RowTuple = (String, i64, i64, String, String, i64);

fn from_tuple((node, file_seq, record_seq, head, mac, anchored_ms): RowTuple) -> AnchorRow {
    AnchorRow {
        node,
        file_seq,
        record_seq,
        head,
        mac,
        anchored_ms,
    }
}

/// Every node's anchor, by node name.
pub async fn load_anchors(db: &Database) -> Result<Vec<AnchorRow>, AuditError> {
    let rows: Vec<RowTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ANCHORS} ORDER BY node"
    )))
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    Ok(rows.into_iter().map(from_tuple).collect())
}

async fn load_anchor(db: &Database, node: &str) -> Result<Option<AnchorRow>, AuditError> {
    let row: Option<RowTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ANCHORS} WHERE node = $1"
    )))
    .bind(node)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    Ok(row.map(from_tuple))
}

/// Replaces the node's anchor, but only if the database still holds `previous` (the one
/// this node last wrote or checked): another process anchoring under the same name is
/// refused rather than silently overwritten.
async fn store(
    db: &Database,
    anchor: &Anchor,
    previous: Option<&Anchor>,
) -> Result<(), AuditError> {
    let too_big = |_| AuditError::Encode("an audit seq beyond the database's BIGINT".into());
    let stored = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO audit_anchors (node, file_seq, record_seq, head, mac, anchored_ms)
         VALUES ($1, $2, $3, $4, $5, {DB_NOW_MS})
         ON CONFLICT (node) DO UPDATE SET file_seq = EXCLUDED.file_seq,
             record_seq = EXCLUDED.record_seq, head = EXCLUDED.head, mac = EXCLUDED.mac,
             anchored_ms = EXCLUDED.anchored_ms
         WHERE audit_anchors.mac = $6"
    )))
    .bind(&anchor.node)
    .bind(i64::try_from(anchor.file_seq).map_err(too_big)?)
    .bind(i64::try_from(anchor.record_seq).map_err(too_big)?)
    .bind(hex::encode(anchor.record_mac))
    .bind(hex::encode(anchor.mac))
    .bind(previous.map(|p| hex::encode(p.mac)))
    .execute(db.pool())
    .await
    .map_err(DbError::from)?;
    if stored.rows_affected() == 1 {
        return Ok(());
    }
    Err(AuditError::Anchor {
        node: anchor.node.clone(),
        reason: "the database holds an anchor this process did not write; is another gateway running under the same node name?".into(),
    })
}

/// Whether a chain whose last acknowledged record is `last` holds `anchor`'s record.
/// Reads only from the anchored file on, which is near the end of a live chain.
pub(super) fn find_in_chain(
    macer: &Macer,
    dir: &Path,
    last: Chain,
    anchor: &Anchor,
) -> Result<Result<(), String>, AuditError> {
    if anchor.record_seq == 0 {
        return Ok(Ok(()));
    }
    if anchor.record_seq > last.seq {
        return Ok(Err(format!(
            "is anchored at {}, but the log ends at seq {}: its tail was removed",
            anchor.place(),
            last.seq
        )));
    }
    let mac = if anchor.record_seq == last.seq {
        Some(last.mac)
    } else {
        let files = verify::list_log_files(dir)?;
        match files.iter().position(|(n, _)| *n == anchor.file_seq) {
            None => None,
            Some(i) => verify::walk(
                macer,
                dir,
                &files[i..],
                Start::Anywhere,
                &[anchor.record_seq],
            )?
            .found(anchor.record_seq)
            .filter(|f| f.file == anchor.file_seq)
            .map(|f| f.mac),
        }
    };
    if mac == Some(anchor.record_mac) {
        Ok(Ok(()))
    } else {
        Ok(Err(format!(
            "is anchored at {}, which the log does not hold: it was replaced or rewritten",
            anchor.place()
        )))
    }
}

/// Keeps a node's anchor current: every [`ANCHOR_INTERVAL`] while it lives, and once more
/// at [`Anchorer::finish`].
pub struct Anchorer {
    shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    log: AuditLog,
    db: Database,
    node: String,
    /// Held while anchoring, so that anchors are written one at a time and in order.
    state: Mutex<Stored>,
}

/// What the database holds, as far as this process knows.
struct Stored {
    last: Option<Anchor>,
    /// A write failed without saying whether it committed: `last` may be out of date.
    in_doubt: bool,
}

impl Shared {
    async fn anchor(&self) -> Result<Anchor, AuditError> {
        let mut state = self.state.lock().await;
        if state.in_doubt {
            // Whatever the database holds now, it must be an anchor of this chain, as at
            // start: one this process wrote.
            let row = load_anchor(&self.db, &self.node).await?;
            state.last = self.log.claim(&self.node, row).await?;
            state.in_doubt = false;
        }
        // Durable before it is anchored: the anchor never leads what is on disk.
        let anchor = self.log.checkpoint().await?;
        if state.last.as_ref() == Some(&anchor) {
            return Ok(anchor);
        }
        let stored = store(&self.db, &anchor, state.last.as_ref()).await;
        match &stored {
            Ok(()) => state.last = Some(anchor.clone()),
            Err(AuditError::Database(_)) => state.in_doubt = true,
            Err(_) => {}
        }
        stored.map(|()| anchor)
    }
}

impl AuditLog {
    /// Makes this log `node`'s chain in the fleet and anchors its head in `db`: now, then
    /// every [`ANCHOR_INTERVAL`] when it has moved, until [`Anchorer::finish`] (or until the
    /// `Anchorer` is dropped). Refuses a chain that does not hold the node's current anchor
    /// (its tail was cut, or it is another chain), a chain claimed by another node, and an
    /// anchor the database altered: start-up should fail then, as it does for a broken log.
    pub async fn spawn_anchoring(&self, db: Database, node: &str) -> Result<Anchorer, AuditError> {
        self.spawn_anchoring_every(db, node, ANCHOR_INTERVAL).await
    }

    pub(super) async fn spawn_anchoring_every(
        &self,
        db: Database,
        node: &str,
        interval: Duration,
    ) -> Result<Anchorer, AuditError> {
        let stored = load_anchor(&db, node).await?;
        let last = self.claim(node, stored).await?;
        let shared = Arc::new(Shared {
            log: self.clone(),
            db,
            node: node.to_owned(),
            state: Mutex::new(Stored {
                last,
                in_doubt: false,
            }),
        });
        shared.anchor().await?;
        let (stop, mut stopped) = oneshot::channel();
        let me = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tick.tick() => {}
                }
                if let Err(e) = me.anchor().await {
                    tracing::warn!(node = %me.node, error = %e, "audit chain head not anchored");
                }
            }
        });
        Ok(Anchorer { shared, stop, task })
    }
}

impl Anchorer {
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// Anchors the chain's head now, if it moved since the last anchor; answers the anchor
    /// the database holds.
    pub async fn anchor_now(&self) -> Result<Anchor, AuditError> {
        self.shared.anchor().await
    }

    /// Stops the periodic anchoring and anchors the head one last time. Call it at a clean
    /// shutdown once the last audited operation has been answered, so the anchor covers
    /// every record of this run.
    pub async fn finish(self) -> Result<Anchor, AuditError> {
        let Anchorer { shared, stop, task } = self;
        let _ = stop.send(());
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "the audit anchoring task ended abnormally");
        }
        shared.anchor().await
    }
}

/// What `verify_fleet` found: each log given, and everything wrong, each naming its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetReport {
    /// One per directory given, in the order given.
    pub logs: Vec<LogCheck>,
    pub problems: Vec<FleetProblem>,
}

/// One node's log, verified alone (as `verify` does) and against its anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheck {
    pub dir: PathBuf,
    /// The node its HEAD names.
    pub node: Option<String>,
    /// The chain verified alone, or why it could not be read.
    pub report: Result<VerifyReport, String>,
    /// The node's anchor, when it verified: (file number, record seq).
    pub anchored: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetProblem {
    /// The log does not verify by itself.
    Broken {
        node: Option<String>,
        dir: PathBuf,
        brk: Break,
    },
    /// The directory could not be read.
    Unreadable { dir: PathBuf, error: String },
    /// The log names no node: a single gateway's log, or one whose HEAD is gone.
    Unnamed { dir: PathBuf },
    /// More than one of the logs given names this node.
    Duplicate { node: String, dirs: Vec<PathBuf> },
    /// The node has an anchor, but none of the logs given is its: deleted, or not given.
    MissingLog { node: String, anchor: Anchor },
    /// The log ends before the anchored record (whatever its HEAD says).
    Truncated {
        node: String,
        dir: PathBuf,
        last_seq: u64,
        anchor: Anchor,
    },
    /// The log holds another record at the anchored seq, or holds it in another file.
    Diverged {
        node: String,
        dir: PathBuf,
        anchor: Anchor,
    },
    /// The anchor's MAC does not verify: altered or forged in the database.
    ForgedAnchor { node: String },
    /// A log names a node the database holds no anchor for.
    NoAnchor { node: String, dir: PathBuf },
}

impl FleetProblem {
    /// Whether the problem is that something could not be read, rather than evidence.
    pub fn is_error(&self) -> bool {
        matches!(self, FleetProblem::Unreadable { .. })
    }
}

impl std::fmt::Display for FleetProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FleetProblem::Broken { node, dir, brk } => {
                let node = node.as_deref().unwrap_or("(unnamed)");
                write!(f, "node {node}: log {} is broken: {brk}", dir.display())
            }
            FleetProblem::Unreadable { dir, error } => {
                write!(f, "{}: cannot be read: {error}", dir.display())
            }
            FleetProblem::Unnamed { dir } => write!(
                f,
                "{}: the log names no node (a single gateway's log, or its HEAD is gone)",
                dir.display()
            ),
            FleetProblem::Duplicate { node, dirs } => {
                let dirs: Vec<_> = dirs.iter().map(|d| d.display().to_string()).collect();
                write!(f, "node {node}: several logs name it: {}", dirs.join(", "))
            }
            FleetProblem::MissingLog { node, anchor } => write!(
                f,
                "node {node}: missing log: anchored at {} but no log given names this node",
                anchor.place()
            ),
            FleetProblem::Truncated {
                node,
                dir,
                last_seq,
                anchor,
            } => write!(
                f,
                "node {node}: log {} ends at seq {last_seq}, before its anchor at {}: its tail was removed",
                dir.display(),
                anchor.place()
            ),
            FleetProblem::Diverged { node, dir, anchor } => write!(
                f,
                "node {node}: log {} does not hold the record anchored at {}: it was replaced or rewritten",
                dir.display(),
                anchor.place()
            ),
            FleetProblem::ForgedAnchor { node } => write!(
                f,
                "node {node}: the anchor in the database does not verify: altered or forged there"
            ),
            FleetProblem::NoAnchor { node, dir } => write!(
                f,
                "node {node}: log {} has no anchor in the database (deleted there, or the node never anchored)",
                dir.display()
            ),
        }
    }
}

impl std::fmt::Display for FleetReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for log in &self.logs {
            let node = log.node.as_deref().unwrap_or("(unnamed)");
            write!(f, "node {node} ({}): ", log.dir.display())?;
            match &log.report {
                Err(e) => writeln!(f, "unreadable: {e}")?,
                Ok(r) => {
                    match &r.first_break {
                        None => write!(
                            f,
                            "{} records in {} files, chain intact",
                            r.records, r.files
                        )?,
                        Some(b) => write!(f, "broken: {b}")?,
                    }
                    if let Some((file, seq)) = log.anchored {
                        write!(f, "; anchored at seq {seq} ({})", log_file_name(file))?;
                    }
                    if let Some(t) = &r.torn_tail {
                        write!(
                            f,
                            "; note: {} ends with a torn line after seq {} (never acknowledged)",
                            t.file, t.after_seq
                        )?;
                    }
                    writeln!(f)?;
                }
            }
        }
        if self.problems.is_empty() {
            return writeln!(
                f,
                "ok: {} logs intact, every anchored node's log present and reaching its anchor",
                self.logs.len()
            );
        }
        let n = self.problems.len();
        writeln!(f, "{n} problem{}:", if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Verifies each node's log in `dirs` (one directory per node) as `verify` does, and
/// against `anchors` (from [`load_anchors`], read *before* the logs, so a running fleet's
/// logs are never behind what was read). Which log is which node's is what its HEAD says.
pub fn verify_fleet(key: &AuditKey, dirs: &[PathBuf], anchors: &[AnchorRow]) -> FleetReport {
    let macer = Macer::new(key);
    let mut problems = Vec::new();
    let mut anchored = BTreeMap::new();
    for row in anchors {
        match row.authentic(&macer) {
            Ok(anchor) => {
                anchored.insert(row.node.clone(), anchor);
            }
            Err(_) => problems.push(FleetProblem::ForgedAnchor {
                node: row.node.clone(),
            }),
        }
    }
    let mut logs = Vec::with_capacity(dirs.len());
    let mut by_node: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for dir in dirs {
        let checked = verify::check_dir(dir, &macer, |head| {
            let anchor = anchored.get(verify::head_node(head)?)?;
            Some(anchor.record_seq)
        });
        let checked = match checked {
            Ok(c) => c,
            Err(e) => {
                problems.push(FleetProblem::Unreadable {
                    dir: dir.clone(),
                    error: e.to_string(),
                });
                logs.push(LogCheck {
                    dir: dir.clone(),
                    node: None,
                    report: Err(e.to_string()),
                    anchored: None,
                });
                continue;
            }
        };
        let node = verify::head_node(&checked.head).map(str::to_owned);
        if let Some(brk) = &checked.report.first_break {
            problems.push(FleetProblem::Broken {
                node: node.clone(),
                dir: dir.clone(),
                brk: brk.clone(),
            });
        }
        let anchor = node.as_ref().and_then(|n| anchored.get(n));
        match (&node, anchor) {
            (None, _) => problems.push(FleetProblem::Unnamed { dir: dir.clone() }),
            (Some(n), None) => {
                if !anchors.iter().any(|row| row.node == *n) {
                    problems.push(FleetProblem::NoAnchor {
                        node: n.clone(),
                        dir: dir.clone(),
                    });
                }
            }
            (Some(n), Some(anchor)) => {
                let holds =
                    |f: &verify::Found| f.mac == anchor.record_mac && f.file == anchor.file_seq;
                let problem = match &checked.extra {
                    _ if anchor.record_seq == 0 => None,
                    Some(found) if holds(found) => None,
                    Some(_) => Some(FleetProblem::Diverged {
                        node: n.clone(),
                        dir: dir.clone(),
                        anchor: anchor.clone(),
                    }),
                    // Not reached, and no break stopped the walk before it: the log ends
                    // before the anchor.
                    None if checked.report.first_break.is_none() => Some(FleetProblem::Truncated {
                        node: n.clone(),
                        dir: dir.clone(),
                        last_seq: checked.last.seq,
                        anchor: anchor.clone(),
                    }),
                    // The break already says the log cannot vouch for what follows it.
                    None => None,
                };
                problems.extend(problem);
            }
        }
        if let Some(n) = &node {
            by_node.entry(n.clone()).or_default().push(dir.clone());
        }
        logs.push(LogCheck {
            dir: dir.clone(),
            anchored: anchor.map(|a| (a.file_seq, a.record_seq)),
            node,
            report: Ok(checked.report),
        });
    }
    for (node, anchor) in &anchored {
        if !by_node.contains_key(node) {
            problems.push(FleetProblem::MissingLog {
                node: node.clone(),
                anchor: anchor.clone(),
            });
        }
    }
    for (node, dirs) in by_node {
        if dirs.len() > 1 {
            problems.push(FleetProblem::Duplicate { node, dirs });
        }
    }
    FleetReport { logs, problems }
}
