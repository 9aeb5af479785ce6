//! What the lifecycle worker reads in SQLite, and its lease (one process holds it, but the
//! code path is a fleet's).

use async_trait::async_trait;
use rusqlite::{Connection, Row, ToSql, params};

use super::SqliteCatalog;
use super::buckets::bucket_exists;
use super::uploads::{UPLOAD_COLUMNS, upload_from_row};
use super::versions::{VERSION_COLUMNS, version_from_row};
use crate::catalog::lifecycle::{
    FIRST, Page, SQLITE, first_extra_column, first_upload, lease_statement, newer_count,
    time_bound, uploads_query, versions_query,
};
use crate::catalog::store::{LifecycleCandidate, LifecycleCursor, LifecycleScan, LifecycleStore};
use crate::catalog::{Result, Upload};

/// Runs a page query of the bucket (which must exist) with its placeholders.
fn page_rows<C: ToSql, T>(
    conn: &Connection,
    sql: &str,
    p: &Page<C>,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    bucket_exists(conn, &p.bucket)?;
    let values: [&dyn ToSql; 7] = [
        &p.bucket,
        &p.range.lower,
        &p.range.upper,
        &p.bound,
        &p.at,
        &p.after,
        &p.limit,
    ];
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(&values[..], f)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

#[async_trait]
impl LifecycleStore for SqliteCatalog {
    async fn lifecycle_versions(
        &self,
        bucket: &str,
        prefix: &str,
        scan: LifecycleScan,
        after: Option<LifecycleCursor>,
        limit: usize,
    ) -> Result<Vec<LifecycleCandidate>> {
        let page = Page::new(
            bucket,
            prefix,
            time_bound(scan),
            after.unwrap_or(FIRST),
            limit,
        );
        let sql = versions_query(&SQLITE, VERSION_COLUMNS, scan, &page.range);
        let codec = self.codec.clone();
        let at = first_extra_column(VERSION_COLUMNS);
        self.read(move |conn| {
            let rows = page_rows(conn, &sql, &page, |r| {
                Ok((
                    version_from_row(r)?,
                    r.get::<_, i64>(at)?,
                    r.get::<_, i64>(at + 1)?,
                ))
            })?;
            rows.into_iter()
                .map(|(raw, since_ms, newer)| {
                    Ok(LifecycleCandidate {
                        version: raw.decode(&codec)?,
                        since_ms,
                        newer_noncurrent: newer_count(newer)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn lifecycle_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        initiated_before_ms: i64,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<Upload>> {
        let page = Page::new(
            bucket,
            prefix,
            initiated_before_ms,
            after.unwrap_or_else(first_upload),
            limit,
        );
        let sql = uploads_query(&SQLITE, UPLOAD_COLUMNS, &page.range);
        let codec = self.codec.clone();
        self.read(move |conn| {
            let rows = page_rows(conn, &sql, &page, upload_from_row)?;
            rows.into_iter().map(|r| r.decode(&codec)).collect()
        })
        .await
    }

    async fn take_lifecycle_lease(
        &self,
        bucket: &str,
        node: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let (bucket, node) = (bucket.to_owned(), node.to_owned());
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let changed = tx
                .prepare_cached(&lease_statement(&SQLITE))?
                .execute(params![bucket, node, now_ms, until_ms])?;
            tx.commit()?;
            Ok(changed == 1)
        })
        .await
    }
}
