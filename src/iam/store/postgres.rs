//! The IAM state in the fleet's PostgreSQL database: one sealed row, `iam_state`, changed
//! under the lock of the `revisions` row named `iam`.

use sqlx::{Postgres, Transaction};

use crate::postgres::{Database, changes};

/// The store's name in `revisions` and in notifications.
const STORE: &str = "iam";

pub(super) type Tx = Transaction<'static, Postgres>;

/// (revision, sealed state), unless the revision is `unless`. One statement: the revision
/// and the state are of the same moment.
pub(super) async fn load(
    db: &Database,
    unless: Option<i64>,
) -> Result<Option<(i64, Option<Vec<u8>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.revision, s.sealed FROM revisions r LEFT JOIN iam_state s ON s.id = 1
         WHERE r.name = $1 AND r.revision IS DISTINCT FROM $2",
    )
    .bind(STORE)
    .bind(unless)
    .fetch_optional(db.pool())
    .await
}

pub(super) async fn lock(db: &Database) -> Result<(Tx, i64), sqlx::Error> {
    changes::lock(db, STORE).await
}

pub(super) async fn sealed(tx: &mut Tx) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT sealed FROM iam_state WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await
}

pub(super) async fn save(mut tx: Tx, sealed: &[u8], revision: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO iam_state (id, sealed) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET sealed = EXCLUDED.sealed",
    )
    .bind(sealed)
    .execute(&mut *tx)
    .await?;
    changes::announce(&mut tx, STORE, revision).await?;
    tx.commit().await
}
