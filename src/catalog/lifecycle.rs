//! The lifecycle worker's queries, written once for both stores: what differs between
//! SQLite and PostgreSQL here is the placeholder sigil and how booleans are spelled.

use super::listing::KeyRange;
use super::store::LifecycleScan;
use super::{KeyStart, Result};

/// How a store spells placeholders and booleans. SQLite's partial indexes are used only
/// when a query repeats their `is_latest = 1` term, hence the literals.
pub(super) struct Dialect {
    pub sigil: char,
    pub yes: &'static str,
    pub no: &'static str,
}

pub(super) const SQLITE: Dialect = Dialect {
    sigil: '?',
    yes: "1",
    no: "0",
};

pub(super) const POSTGRES: Dialect = Dialect {
    sigil: '$',
    yes: "TRUE",
    no: "FALSE",
};

/// The values of a page query's placeholders, 1 to 7 in order: the bucket, the prefix's key
/// range, the time bound, the cursor (time, then row or upload id) and the limit.
pub(super) struct Page<C> {
    pub bucket: String,
    pub range: KeyRange,
    pub bound: i64,
    pub at: i64,
    pub after: C,
    pub limit: i64,
}

impl<C> Page<C> {
    /// A page of `bucket` under `prefix` up to `bound`, after (`at`, `after`).
    pub(super) fn new(
        bucket: &str,
        prefix: &str,
        bound: i64,
        (at, after): (i64, C),
        limit: usize,
    ) -> Page<C> {
        Page {
            bucket: bucket.to_owned(),
            range: KeyRange::new(prefix, &KeyStart::AtOrAfter(String::new())),
            bound,
            at,
            after,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        }
    }
}

/// Where a version scan starts when it has no cursor yet.
pub(super) const FIRST: (i64, i64) = (i64::MIN, i64::MIN);
/// Where an upload scan starts.
pub(super) fn first_upload() -> (i64, String) {
    (i64::MIN, String::new())
}

/// A version scan: `columns` (the store's version columns), then the scan's time and the
/// count of newer noncurrent versions. Placeholders: 1 bucket, 2–3 the prefix range, 4 the
/// time bound ([`time_bound`]), 5–6 the cursor, 7 the limit.
pub(super) fn versions_query(
    d: &Dialect,
    columns: &str,
    scan: LifecycleScan,
    range: &KeyRange,
) -> String {
    let s = d.sigil;
    let (yes, no) = (d.yes, d.no);
    let (time, kind, newer) = match scan {
        LifecycleScan::CurrentModifiedBefore(_) => (
            "v.last_modified_ms",
            format!("v.is_latest = {yes} AND v.delete_marker = {no}"),
            "CAST(0 AS BIGINT)".to_owned(),
        ),
        LifecycleScan::NoncurrentBefore(_) => (
            "v.noncurrent_ms",
            "v.noncurrent_ms IS NOT NULL".to_owned(),
            format!(
                "(SELECT COUNT(*) FROM versions n WHERE n.bucket = v.bucket AND n.key = v.key
                  AND n.row > v.row AND n.is_latest = {no})"
            ),
        ),
        LifecycleScan::LoneMarkers => (
            "v.last_modified_ms",
            format!(
                "v.is_latest = {yes} AND v.delete_marker = {yes} AND NOT EXISTS
                 (SELECT 1 FROM versions n WHERE n.bucket = v.bucket AND n.key = v.key AND n.row <> v.row)"
            ),
            "CAST(0 AS BIGINT)".to_owned(),
        ),
    };
    format!(
        "SELECT {columns}, {time}, {newer} FROM versions v
         WHERE v.bucket = {s}1 AND {} AND {kind} AND {time} < {s}4 AND ({time}, v.row) > ({s}5, {s}6)
         ORDER BY {time}, v.row LIMIT {s}7",
        range.condition("v.key", s, 2, 3)
    )
}

/// Where [`versions_query`]'s own columns (the scan's time, then the newer count) begin
/// in a row, after the store's version columns.
pub(super) fn first_extra_column(columns: &str) -> usize {
    columns.split(',').count()
}

/// Placeholder 4 of [`versions_query`]: the bound of the scan's time.
pub(super) fn time_bound(scan: LifecycleScan) -> i64 {
    match scan {
        LifecycleScan::CurrentModifiedBefore(t) | LifecycleScan::NoncurrentBefore(t) => t,
        LifecycleScan::LoneMarkers => i64::MAX,
    }
}

/// Uploads initiated before placeholder 4, after the cursor (5–6), at most 7; 1–3 as in
/// [`versions_query`].
pub(super) fn uploads_query(d: &Dialect, columns: &str, range: &KeyRange) -> String {
    let s = d.sigil;
    format!(
        "SELECT {columns} FROM uploads
         WHERE bucket = {s}1 AND {} AND initiated_ms < {s}4 AND (initiated_ms, upload_id) > ({s}5, {s}6)
         ORDER BY initiated_ms, upload_id LIMIT {s}7",
        range.condition("key", s, 2, 3)
    )
}

/// Takes the lease (1 bucket, 2 node, 3 now, 4 until) unless another node holds it
/// unexpired: one row changes exactly when it is granted.
pub(super) fn lease_statement(d: &Dialect) -> String {
    let s = d.sigil;
    format!(
        "INSERT INTO lifecycle_leases (bucket, node, until_ms) VALUES ({s}1, {s}2, {s}4)
         ON CONFLICT (bucket) DO UPDATE SET node = excluded.node, until_ms = excluded.until_ms
         WHERE lifecycle_leases.node = excluded.node OR lifecycle_leases.until_ms <= {s}3"
    )
}

/// A count as the candidate carries it.
pub(super) fn newer_count(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| super::CatalogError::Corrupt(format!("count {n}")))
}
