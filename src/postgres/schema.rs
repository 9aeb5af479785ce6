//! Schema versions. Each migration moves the schema one version forward and is applied
//! once, in its own transaction, under a lock that keeps two nodes from applying it
//! together. A binary serves only the version it was built for.

use sqlx::PgPool;

use super::DbError;

/// The schema this binary reads and writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Arbitrary constant: the advisory lock migrations hold.
const MIGRATION_LOCK: i64 = 0x5ea1_6a7e_0001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Nothing of sealgate's yet.
    Empty,
    Current,
    Older(i32),
    Newer(i32),
}

pub(super) fn newer(v: i32) -> DbError {
    DbError::Schema(format!(
        "the database's schema is version {v}, newer than this binary's {SCHEMA_VERSION}: a newer sealgate migrated it; run that version"
    ))
}

/// Migration N (1-based) takes the schema from version N-1 to N. Never edit one that has
/// shipped: add the next.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE fleet (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- A value sealed under the root key: a node with another root cannot open it.
    root_canary BYTEA NOT NULL,
    -- The account's root user, sealed under the root key.
    root_credentials BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE nodes (
    node TEXT PRIMARY KEY,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);
-- The newest head of each node's audit chain: a log that ends before it was cut short.
-- head is the anchored record's MAC; mac is the anchor's own, under the audit key, so the
-- database cannot forge one (docs/AUDIT.md).
CREATE TABLE audit_anchors (
    node TEXT PRIMARY KEY,
    file_seq BIGINT NOT NULL,
    record_seq BIGINT NOT NULL,
    head TEXT NOT NULL,
    mac TEXT NOT NULL,
    anchored_ms BIGINT NOT NULL
);
-- Counters that move with every change of a cached store (kms, iam); nodes poll them.
CREATE TABLE revisions (
    name TEXT PRIMARY KEY,
    revision BIGINT NOT NULL
);
INSERT INTO revisions (name, revision) VALUES ('kms', 0), ('iam', 0);

CREATE TABLE buckets (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    region TEXT NOT NULL,
    versioning TEXT NOT NULL DEFAULT '',
    encryption TEXT,
    owner_account TEXT,
    policy TEXT,
    replication TEXT
);
CREATE TABLE versions (
    row BIGSERIAL PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT COLLATE "C" NOT NULL,
    version_id TEXT NOT NULL,
    seal_id TEXT NOT NULL,
    delete_marker BOOLEAN NOT NULL,
    is_latest BOOLEAN NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms BIGINT NOT NULL,
    meta BYTEA NOT NULL,
    sse TEXT,
    checksum TEXT,
    parts_count INTEGER,
    replication_status TEXT
);
CREATE UNIQUE INDEX versions_by_id ON versions(bucket, key, version_id);
-- At most one latest version per key, whatever a bug elsewhere would do.
CREATE UNIQUE INDEX versions_latest ON versions(bucket, key) WHERE is_latest;
CREATE INDEX versions_live ON versions(bucket, key) WHERE is_latest AND NOT delete_marker;
CREATE INDEX versions_by_row ON versions(bucket, row);
CREATE TABLE version_parts (
    version_row BIGINT NOT NULL REFERENCES versions(row) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    header BYTEA NOT NULL,
    checksum TEXT,
    last_modified_ms BIGINT NOT NULL,
    PRIMARY KEY (version_row, part_number)
);
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT COLLATE "C" NOT NULL,
    seal_id TEXT NOT NULL,
    initiated_ms BIGINT NOT NULL,
    meta BYTEA NOT NULL,
    sse TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT
);
CREATE INDEX uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    header BYTEA NOT NULL,
    checksum TEXT,
    last_modified_ms BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
-- Blobs to delete once due. A blob of a write in flight names the node writing it: only
-- that node's restart, or its heartbeat stopping, makes it garbage early.
CREATE TABLE blob_gc (
    blob TEXT PRIMARY KEY,
    due_ms BIGINT NOT NULL,
    node TEXT
);
CREATE INDEX blob_gc_due ON blob_gc(due_ms);
CREATE INDEX blob_gc_node ON blob_gc(node) WHERE node IS NOT NULL;
CREATE TABLE replication_tasks (
    id BIGSERIAL PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    version_id TEXT NOT NULL,
    delete_marker BOOLEAN NOT NULL,
    rule_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    enqueued_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    last_error TEXT,
    dest_version_id TEXT,
    in_doubt BOOLEAN NOT NULL DEFAULT FALSE,
    -- The node working on the task since leased_ms: nobody else takes it while that node
    -- lives and has not restarted since.
    leased_by TEXT,
    leased_ms BIGINT
);
CREATE INDEX replication_due ON replication_tasks(next_attempt_ms, id) WHERE status = 'PENDING';
CREATE INDEX replication_by_key ON replication_tasks(bucket, key, id);
CREATE TABLE replication_batches (
    bucket TEXT PRIMARY KEY,
    after_row BIGINT NOT NULL,
    enqueued BIGINT NOT NULL,
    done BOOLEAN NOT NULL
);

-- `revision`: the kms revision that last wrote the row; nodes catch up by reading the rows
-- written after the revision their copy reflects.
CREATE TABLE kms_keys (id TEXT PRIMARY KEY, doc TEXT NOT NULL, revision BIGINT NOT NULL);
CREATE TABLE kms_materials (
    key_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sealed BYTEA NOT NULL,
    PRIMARY KEY (key_id, seq)
);
CREATE TABLE kms_aliases (
    name TEXT PRIMARY KEY,
    target_key_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE TABLE kms_grants (
    grant_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE INDEX kms_grants_by_revision ON kms_grants(revision);
CREATE INDEX kms_grants_by_key ON kms_grants(key_id);
-- The IAM state, sealed whole under the root key, as in iam.sealed.
CREATE TABLE iam_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BYTEA NOT NULL
);
"#,
    r#"
-- A replica being sent as a multipart upload: the destination's upload id and how the
-- version is cut (part_size 0: the source's own parts), then each part it acknowledged.
CREATE TABLE replica_uploads (
    task_id BIGINT PRIMARY KEY,
    upload_id TEXT NOT NULL,
    part_size BIGINT NOT NULL,
    parts_total INTEGER NOT NULL
);
CREATE TABLE replica_parts (
    task_id BIGINT NOT NULL,
    part_number INTEGER NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (task_id, part_number)
);
"#,
    r#"
-- A bucket's CORS configuration, a versioned record like the other settings.
ALTER TABLE buckets ADD COLUMN cors TEXT;
"#,
    r#"
-- The key's latest entry when an upload began ('' none), for conditional completions.
ALTER TABLE uploads ADD COLUMN seen TEXT;
-- Completed uploads, so that a repeated CompleteMultipartUpload answers as the first did.
CREATE TABLE completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    seal_id TEXT NOT NULL,
    completed_ms BIGINT NOT NULL
);
CREATE INDEX completed_uploads_by_time ON completed_uploads(completed_ms);
"#,
    r#"
-- A bucket's Block Public Access settings, a versioned record like the other settings.
ALTER TABLE buckets ADD COLUMN public_access_block TEXT;
"#,
    r#"
-- A bucket's tags, a versioned record like the other settings.
ALTER TABLE buckets ADD COLUMN tagging TEXT;
"#,
    r#"
-- Object Lock: the bucket's configuration (a versioned record like the other settings),
-- the retention and legal hold of each version, and what an upload asked for.
ALTER TABLE buckets ADD COLUMN object_lock TEXT;
ALTER TABLE versions ADD COLUMN object_lock TEXT;
ALTER TABLE uploads ADD COLUMN object_lock TEXT;
-- Only locked versions: what the key deletion guard reads.
CREATE INDEX versions_locked ON versions(bucket) WHERE object_lock IS NOT NULL;
"#,
    r#"
-- A bucket's lifecycle configuration, a versioned record like the other settings.
ALTER TABLE buckets ADD COLUMN lifecycle TEXT;
-- When a version stopped being latest (NULL while it is): NoncurrentDays count from it. A
-- version already noncurrent became so when the next one was written.
ALTER TABLE versions ADD COLUMN noncurrent_ms BIGINT;
UPDATE versions v SET noncurrent_ms = COALESCE(
    (SELECT MIN(n.last_modified_ms) FROM versions n
     WHERE n.bucket = v.bucket AND n.key = v.key AND n.row > v.row),
    v.last_modified_ms)
WHERE NOT v.is_latest;
-- The lifecycle worker reads only what is due: current versions and delete markers by
-- age, noncurrent versions by when they became noncurrent, uploads by initiation.
CREATE INDEX versions_current_by_age
    ON versions(bucket, delete_marker, last_modified_ms, row) WHERE is_latest;
CREATE INDEX versions_noncurrent
    ON versions(bucket, noncurrent_ms, row) WHERE noncurrent_ms IS NOT NULL;
CREATE INDEX uploads_by_initiated ON uploads(bucket, initiated_ms, upload_id);
-- Which node runs a bucket's lifecycle pass, until when: one node at a time, and a dead
-- node's lease runs out.
CREATE TABLE lifecycle_leases (
    bucket TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
"#,
    r#"
-- A bucket's Object Ownership and ACL, a versioned record like the other settings (none:
-- BucketOwnerEnforced, as every bucket was before).
ALTER TABLE buckets ADD COLUMN access_control TEXT;
"#,
];

pub(super) async fn status(pool: &PgPool) -> Result<SchemaStatus, DbError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('sealgate_schema') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(SchemaStatus::Empty);
    }
    let v: i32 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM sealgate_schema")
        .fetch_one(pool)
        .await?;
    Ok(match v.cmp(&SCHEMA_VERSION) {
        std::cmp::Ordering::Equal => SchemaStatus::Current,
        std::cmp::Ordering::Less => SchemaStatus::Older(v),
        std::cmp::Ordering::Greater => SchemaStatus::Newer(v),
    })
}

/// Applies what is missing, one migration per transaction.
pub(super) async fn migrate(pool: &PgPool) -> Result<(i32, i32), DbError> {
    let mut before = None;
    loop {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS sealgate_schema (
                version INTEGER PRIMARY KEY,
                applied_ms BIGINT NOT NULL,
                by_binary TEXT NOT NULL
            )",
        )
        .execute(&mut *tx)
        .await?;
        let current: i32 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM sealgate_schema")
                .fetch_one(&mut *tx)
                .await?;
        let before = *before.get_or_insert(current);
        if current > SCHEMA_VERSION {
            return Err(newer(current));
        }
        let Some(sql) = MIGRATIONS.get(current as usize) else {
            tx.commit().await?;
            return Ok((before, current));
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| DbError::Schema(format!("migration to version {}: {e}", current + 1)))?;
        sqlx::query(
            "INSERT INTO sealgate_schema (version, applied_ms, by_binary)
             VALUES ($1, (extract(epoch from now()) * 1000)::bigint, $2)",
        )
        .bind(current + 1)
        .bind(env!("CARGO_PKG_VERSION"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = current + 1, "database schema migrated");
    }
}
