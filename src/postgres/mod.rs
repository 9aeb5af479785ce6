//! The PostgreSQL database a fleet of gateways shares: the connection pool, the schema and
//! its versions. The stores built on it (catalog, KMS keys, IAM state, the fleet's own
//! records) live with their layers; this module only connects and migrates.

pub mod changes;
mod schema;
#[cfg(test)]
mod scratch;
#[cfg(test)]
pub(crate) mod testing;

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::CatalogConfig;

pub use schema::{SCHEMA_VERSION, SchemaStatus};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database: {0}")]
    Config(String),
    #[error("{0}")]
    Schema(String),
}

/// A pool of connections to the fleet's database.
#[derive(Clone)]
pub struct Database {
    pool: PgPool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").finish_non_exhaustive()
    }
}

impl Database {
    /// Connects without touching the schema (see [`Database::open`]).
    pub async fn connect(config: &CatalogConfig) -> Result<Database, DbError> {
        let url = config
            .url
            .as_deref()
            .ok_or_else(|| DbError::Config("no catalog.url".into()))?;
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| DbError::Config(format!("catalog.url: {e}")))?
            .application_name("sealgate");
        if let Some(path) = &config.password_file {
            let password = std::fs::read_to_string(path)
                .map_err(|e| DbError::Config(format!("{}: {e}", path.display())))?;
            options = options.password(password.trim_end_matches(['\r', '\n']));
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Database { pool })
    }

    /// Connects and makes sure the schema is the one this binary knows: an empty database
    /// is initialized; an older schema must be migrated first (`sealgate migrate`) and a
    /// newer one needs a newer binary, so neither is served.
    pub async fn open(config: &CatalogConfig) -> Result<Database, DbError> {
        let db = Database::connect(config).await?;
        match schema::status(&db.pool).await? {
            SchemaStatus::Current => {}
            SchemaStatus::Empty => {
                schema::migrate(&db.pool).await?;
            }
            SchemaStatus::Older(v) => {
                return Err(DbError::Schema(format!(
                    "the database's schema is version {v}, this binary's is {SCHEMA_VERSION}; run `sealgate migrate` first"
                )));
            }
            SchemaStatus::Newer(v) => return Err(schema::newer(v)),
        }
        Ok(db)
    }

    /// Applies the migrations the database lacks; answers the versions before and after.
    pub async fn migrate(&self) -> Result<(i32, i32), DbError> {
        schema::migrate(&self.pool).await
    }

    pub async fn schema_status(&self) -> Result<SchemaStatus, DbError> {
        schema::status(&self.pool).await
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    #[cfg(test)]
    pub(crate) fn from_pool(pool: PgPool) -> Database {
        Database { pool }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_schema_newer_than_the_binary_is_refused_by_name() {
        let Some(db) = testing::database().await else {
            return;
        };
        assert_eq!(db.schema_status().await.unwrap(), SchemaStatus::Current);
        assert_eq!(
            db.migrate().await.unwrap(),
            (SCHEMA_VERSION, SCHEMA_VERSION),
            "migrating twice changes nothing"
        );
        sqlx::query(
            "INSERT INTO sealgate_schema (version, applied_ms, by_binary) VALUES ($1, 0, '9.9.9')",
        )
        .bind(SCHEMA_VERSION + 1)
        .execute(db.pool())
        .await
        .unwrap();
        assert_eq!(
            db.schema_status().await.unwrap(),
            SchemaStatus::Newer(SCHEMA_VERSION + 1)
        );
        let err = db.migrate().await.unwrap_err().to_string();
        assert!(err.contains("newer than this binary"), "{err}");
    }
}
