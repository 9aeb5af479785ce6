//! What the lifecycle worker reads in PostgreSQL, and the lease that keeps one node of the
//! fleet at a time on a bucket's pass.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row as _};

use super::PgCatalog;
use super::buckets::bucket_exists;
use super::uploads::{UPLOAD_COLUMNS, upload_from_row};
use super::versions::{VERSION_COLUMNS, version_from_row};
use crate::catalog::lifecycle::{
    FIRST, POSTGRES, Page, first_extra_column, first_upload, lease_statement, newer_count,
    time_bound, uploads_query, versions_query,
};
use crate::catalog::store::{LifecycleCandidate, LifecycleCursor, LifecycleScan, LifecycleStore};
use crate::catalog::{Result, Upload};

impl PgCatalog {
    /// Runs a page query of the bucket (which must exist) with its placeholders.
    async fn page_rows<C>(&self, sql: String, p: &Page<C>) -> Result<Vec<PgRow>>
    where
        C: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Clone + Send + Sync,
    {
        let mut conn = self.pool().acquire().await?;
        bucket_exists(&mut conn, &p.bucket).await?;
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&p.bucket)
            .bind(&p.range.lower)
            .bind(&p.range.upper)
            .bind(p.bound)
            .bind(p.at)
            .bind(p.after.clone())
            .bind(p.limit)
            .fetch_all(&mut *conn)
            .await?)
    }
}

#[async_trait]
impl LifecycleStore for PgCatalog {
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
        let sql = versions_query(&POSTGRES, VERSION_COLUMNS, scan, &page.range);
        let rows = self.page_rows(sql, &page).await?;
        let at = first_extra_column(VERSION_COLUMNS);
        rows.iter()
            .map(|r| {
                Ok(LifecycleCandidate {
                    version: version_from_row(r)?.decode(&self.codec)?,
                    since_ms: r.try_get(at)?,
                    newer_noncurrent: newer_count(r.try_get(at + 1)?)?,
                })
            })
            .collect()
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
        let sql = uploads_query(&POSTGRES, UPLOAD_COLUMNS, &page.range);
        let rows = self.page_rows(sql, &page).await?;
        rows.iter()
            .map(|r| upload_from_row(r)?.decode(&self.codec))
            .collect()
    }

    async fn take_lifecycle_lease(
        &self,
        bucket: &str,
        node: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(sqlx::AssertSqlSafe(lease_statement(&POSTGRES)))
            .bind(bucket)
            .bind(node)
            .bind(now_ms)
            .bind(until_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
