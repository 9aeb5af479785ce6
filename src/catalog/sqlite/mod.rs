//! The catalog of one gateway process: SQLite in the data directory. One writer thread
//! commits the writes queued together (group commit); reads go to reader connections, so
//! they never wait for a commit's fsync.

mod buckets;
mod gc;
mod lifecycle;
mod replication;
mod uploads;
mod versions;
mod writer;

#[cfg(test)]
pub(super) use versions::test_version;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Params, Row};

use super::codec::{MetaCodec, RawPart};
use super::{CatalogError, Result};

/// The schema version this binary writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

pub(super) struct SqliteCatalog {
    /// Every write goes to the one writer (SQLite has one writer at a time), which commits
    /// the writes queued together with one fsync.
    writer: Arc<writer::Writer>,
    /// Read-only connections, so reads do not queue behind a commit's fsync (WAL lets
    /// readers see the last committed state while a write is in progress). Empty for an
    /// in-memory catalog, whose reads go to the writer.
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    codec: MetaCodec,
    /// How long the blobs of a replaced or deleted version stay readable.
    read_grace_ms: i64,
}

/// Reader connections: enough for the blocking pool to serve reads while one commits.
const READERS: usize = 4;

/// Statements each connection keeps prepared: every statement the catalog runs fits.
const STATEMENT_CACHE: usize = 128;

/// Statements run through the connection's statement cache. Parsing SQL afresh on every
/// call cost a 4 KiB PUT about 9 % of its CPU time.
pub(super) trait Cached {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    region TEXT NOT NULL,
    versioning TEXT NOT NULL DEFAULT '',
    encryption TEXT,
    owner_account TEXT,
    policy TEXT,
    replication TEXT,
    cors TEXT,
    public_access_block TEXT,
    tagging TEXT,
    object_lock TEXT,
    lifecycle TEXT,
    access_control TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    seal_id TEXT NOT NULL,
    delete_marker INTEGER NOT NULL,
    is_latest INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    meta BLOB NOT NULL,
    sse TEXT,
    checksum TEXT,
    parts_count INTEGER,
    replication_status TEXT,
    object_lock TEXT,
    -- When the version stopped being latest (NULL while it is): NoncurrentDays count from it.
    noncurrent_ms INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_id ON versions(bucket, key, version_id);
CREATE INDEX IF NOT EXISTS versions_latest ON versions(bucket, is_latest, key);
CREATE TABLE IF NOT EXISTS version_parts (
    version_row INTEGER NOT NULL REFERENCES versions(row) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    header BLOB NOT NULL,
    checksum TEXT,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (version_row, part_number)
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    seal_id TEXT NOT NULL,
    initiated_ms INTEGER NOT NULL,
    meta BLOB NOT NULL,
    sse TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT,
    seen TEXT,
    object_lock TEXT
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    seal_id TEXT NOT NULL,
    completed_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS completed_uploads_by_time ON completed_uploads(completed_ms);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    header BLOB NOT NULL,
    checksum TEXT,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
-- Blobs to delete once due: garbage (due at once) and blobs of writes in flight (due after
-- a grace period unless the write commits, which removes the row in its transaction).
CREATE TABLE IF NOT EXISTS blob_gc (
    blob TEXT PRIMARY KEY,
    due_ms INTEGER NOT NULL
);
-- Versions a replication rule matched, written in the transaction that made the version
-- visible; the worker completes, retries or fails them. Kept after completion: the
-- destination version id guards retries against duplicates, and operators list failures.
CREATE TABLE IF NOT EXISTS replication_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    delete_marker INTEGER NOT NULL,
    rule_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    last_error TEXT,
    dest_version_id TEXT,
    in_doubt INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS replication_due ON replication_tasks(status, next_attempt_ms);
CREATE INDEX IF NOT EXISTS replication_by_key ON replication_tasks(bucket, key, id);
-- A replica being sent as a multipart upload: the destination's upload id and how the
-- version is cut (part_size 0: the source's own parts), then each part it acknowledged.
CREATE TABLE IF NOT EXISTS replica_uploads (
    task_id INTEGER PRIMARY KEY,
    upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    parts_total INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS replica_parts (
    task_id INTEGER NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (task_id, part_number)
);
-- `sealgate replicate` checkpoints: versions up to after_row were considered.
CREATE TABLE IF NOT EXISTS replication_batches (
    bucket TEXT PRIMARY KEY,
    after_row INTEGER NOT NULL,
    enqueued INTEGER NOT NULL,
    done INTEGER NOT NULL
);
-- Which node runs a bucket's lifecycle pass, until when (one process here, but the same
-- code path as a fleet's).
CREATE TABLE IF NOT EXISTS lifecycle_leases (
    bucket TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
"#;

/// Indexes on columns an older catalog gains in [`migrate`], so created after it. They let
/// the lifecycle worker read only what is due: current versions and delete markers by
/// age, noncurrent versions by when they became noncurrent, uploads by initiation.
const LATE_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS versions_current_by_age
    ON versions(bucket, delete_marker, last_modified_ms, row) WHERE is_latest = 1;
CREATE INDEX IF NOT EXISTS versions_noncurrent
    ON versions(bucket, noncurrent_ms, row) WHERE noncurrent_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS uploads_by_initiated ON uploads(bucket, initiated_ms, upload_id);
"#;

impl SqliteCatalog {
    pub(super) fn open(
        path: &Path,
        fsync: bool,
        codec: MetaCodec,
        read_grace_ms: i64,
    ) -> Result<SqliteCatalog> {
        let conn = Connection::open(path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL fsyncs the WAL on every commit: an acknowledged write survives power loss.
        // NORMAL still survives a process crash (kill -9).
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(CatalogError::Corrupt(format!(
                "{} has schema version {version}, newer than this binary's {SCHEMA_VERSION}: a newer sealgate wrote it; run that version",
                path.display()
            )));
        }
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        conn.execute_batch(LATE_INDEXES)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        let readers = (0..READERS)
            .map(|_| {
                let r = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                r.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                r.busy_timeout(std::time::Duration::from_secs(10))?;
                Ok(Mutex::new(r))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SqliteCatalog {
            writer: Arc::new(writer::Writer::spawn(conn)?),
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
            codec,
            read_grace_ms,
        })
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used, reason = "test scaffolding")]
    pub(super) fn in_memory() -> SqliteCatalog {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(LATE_INDEXES).unwrap();
        let codec = MetaCodec::new(crate::crypto::RootKey::generate().catalog_sealer());
        // An in-memory database is private to its connection: reads share the writer's.
        SqliteCatalog {
            writer: Arc::new(writer::Writer::spawn(conn).unwrap()),
            readers: Arc::new(Vec::new()),
            next_reader: AtomicUsize::new(0),
            codec,
            read_grace_ms: 0,
        }
    }

    /// Runs a read-only `f` on one of the reader connections (the writer's if there are none).
    async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        if self.readers.is_empty() {
            return self.call(f).await;
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let readers = self.readers.clone();
        // SQLite calls block, so they run on the blocking pool.
        tokio::task::spawn_blocking(move || {
            let mut guard = readers[i]
                .lock()
                .map_err(|_| CatalogError::Task("catalog lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| CatalogError::Task(e.to_string()))?
    }

    /// Runs `f` on the writer connection, inside the transaction of its batch. A change
    /// `f` makes must be in a savepoint, so that its failure rolls back only its own work;
    /// the answer comes once the batch is committed.
    async fn call<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        self.writer.run(f).await
    }
}

/// Columns added after the first release: `CREATE TABLE IF NOT EXISTS` leaves an older
/// table as it was, so they are added here when missing.
/// Each with its type and what fills it in the rows already there.
const ADDED_COLUMNS: [(&str, &str, &str, &str); 14] = [
    ("buckets", "owner_account", "TEXT", ""),
    ("buckets", "policy", "TEXT", ""),
    ("buckets", "replication", "TEXT", ""),
    ("buckets", "cors", "TEXT", ""),
    ("buckets", "public_access_block", "TEXT", ""),
    ("buckets", "tagging", "TEXT", ""),
    ("buckets", "lifecycle", "TEXT", ""),
    ("buckets", "access_control", "TEXT", ""),
    ("versions", "replication_status", "TEXT", ""),
    // A version already noncurrent became so when the next one was written.
    (
        "versions",
        "noncurrent_ms",
        "INTEGER",
        "UPDATE versions SET noncurrent_ms = COALESCE(
             (SELECT MIN(n.last_modified_ms) FROM versions n
              WHERE n.bucket = versions.bucket AND n.key = versions.key AND n.row > versions.row),
             last_modified_ms)
         WHERE is_latest = 0",
    ),
    ("uploads", "seen", "TEXT", ""),
    ("buckets", "object_lock", "TEXT", ""),
    ("versions", "object_lock", "TEXT", ""),
    ("uploads", "object_lock", "TEXT", ""),
];

fn migrate(conn: &Connection) -> Result<()> {
    for (table, column, kind, fill) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
            conn.execute_batch(fill)?;
        }
    }
    // Only locked versions: what the key deletion guard reads.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS versions_locked ON versions(bucket) WHERE object_lock IS NOT NULL",
    )?;
    Ok(())
}

/// Columns of `version_parts` and `upload_parts` alike.
const PART_COLUMNS: &str = "part_number, blob, size, etag, header, checksum, last_modified_ms";

fn part_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPart> {
    Ok(RawPart {
        part_number: r.get(0)?,
        blob: r.get(1)?,
        size: r.get(2)?,
        etag: r.get(3)?,
        header: r.get(4)?,
        checksum: r.get(5)?,
        last_modified_ms: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[tokio::test]
    async fn a_catalog_from_before_bucket_owners_gains_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE buckets (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,
                 region TEXT NOT NULL, versioning TEXT NOT NULL DEFAULT '', encryption TEXT);
                 INSERT INTO buckets (name, created_ms, region) VALUES ('old', 1, 'us-east-1');",
            )
            .unwrap();
        }
        let sealer = || crate::crypto::RootKey::generate().catalog_sealer();
        let c = Catalog::sqlite(&path, false, sealer(), 0).unwrap();
        assert_eq!(c.bucket("old").await.unwrap().owner_account, None);
        c.adopt_unowned_buckets("111122223333").await.unwrap();
        drop(c);
        // Opening again finds the columns in place.
        let c = Catalog::sqlite(&path, false, sealer(), 0).unwrap();
        let b = c.bucket("old").await.unwrap();
        assert_eq!(b.owner_account.as_deref(), Some("111122223333"));
        assert_eq!(b.policy, None);
        assert_eq!(b.replication().unwrap(), None);
    }

    #[tokio::test]
    async fn versions_from_before_replication_gain_a_status_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE versions (row INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL,
                 key TEXT NOT NULL, version_id TEXT NOT NULL, seal_id TEXT NOT NULL,
                 delete_marker INTEGER NOT NULL, is_latest INTEGER NOT NULL, size INTEGER NOT NULL,
                 etag TEXT NOT NULL, last_modified_ms INTEGER NOT NULL, meta BLOB NOT NULL, sse TEXT,
                 checksum TEXT, parts_count INTEGER);
                 CREATE TABLE buckets (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,
                 region TEXT NOT NULL, versioning TEXT NOT NULL DEFAULT '', encryption TEXT);
                 INSERT INTO buckets (name, created_ms, region) VALUES ('old', 1, 'us-east-1');
                 INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest,
                 size, etag, last_modified_ms, meta) VALUES ('old', 'k', 'null', 's', 1, 1, 0, '', 1, x''),
                 ('old', 'n', 'v1', 's1', 1, 0, 0, '', 5, x''), ('old', 'n', 'v2', 's2', 1, 1, 0, '', 9, x'');",
            )
            .unwrap();
        }
        let c = Catalog::sqlite(
            &path,
            false,
            crate::crypto::RootKey::generate().catalog_sealer(),
            0,
        )
        .unwrap();
        let v = c.version("old", "k", None).await.unwrap();
        assert!(v.delete_marker);
        assert_eq!(v.replication_status, None);
        // A version already noncurrent is noncurrent since its successor was written.
        let scan = crate::catalog::LifecycleScan::NoncurrentBefore(i64::MAX);
        let found = c
            .lifecycle_versions("old", "", scan, None, 10)
            .await
            .unwrap();
        assert_eq!(
            found
                .iter()
                .map(|x| (x.version.version_id.as_str(), x.since_ms))
                .collect::<Vec<_>>(),
            [("v1", 9)]
        );
    }

    #[test]
    fn a_catalog_written_by_a_newer_binary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        let sealer = || crate::crypto::RootKey::generate().catalog_sealer();
        drop(Catalog::sqlite(&path, false, sealer(), 0).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = Catalog::sqlite(&path, false, sealer(), 0).err().unwrap();
        assert!(err.to_string().contains("newer than this binary"), "{err}");
    }
}
