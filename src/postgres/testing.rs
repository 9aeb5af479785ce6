//! A database of its own for each test, on the server `scratch` provides.

use sqlx::postgres::PgPoolOptions;

use super::Database;

/// A new, empty database on the test server, migrated to this binary's schema; None when
/// no PostgreSQL is available (and none is required).
#[allow(clippy::unwrap_used, reason = "test scaffolding")]
pub(crate) async fn database() -> Option<Database> {
    let name = format!("t_{}", crate::crypto::random_hex(8));
    let url = super::scratch::new_database(&name).await?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    let db = Database::from_pool(pool);
    db.migrate().await.unwrap();
    Some(db)
}
