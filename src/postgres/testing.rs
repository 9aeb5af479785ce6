//! A database of its own for each test, on the server `scratch` provides.

use sqlx::postgres::PgPoolOptions;

use super::Database;

/// A new, empty database on the test server, migrated to this binary's schema; None when
/// no PostgreSQL is available (and none is required).
pub(crate) async fn database() -> Option<Database> {
    Some(database_with_url().await?.0)
}

/// [`database`], and the URL it is reached at (for a node of its own, see [`Link`]).
#[allow(clippy::unwrap_used, reason = "test scaffolding")]
pub(crate) async fn database_with_url() -> Option<(Database, String)> {
    let name = format!("t_{}", crate::crypto::random_hex(8));
    let url = super::scratch::new_database(&name).await?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    let db = Database::from_pool(pool);
    db.migrate().await.unwrap();
    Some((db, url))
}

/// The stores a conformance suite runs on: the one-gateway store, and the fleet's (None
/// where no PostgreSQL is available).
pub(crate) trait Backings: Sized {
    fn local() -> Self;
    async fn shared() -> Option<Self>;
}

/// Runs each `async fn NAME(backing: B)` of the enclosing module as two tests, one per
/// store: `local::NAME` and `shared::NAME`.
macro_rules! conformance {
    ($backing:ty: $($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $name() {
                    use $crate::postgres::testing::Backings as _;
                    super::$name(<$backing>::local()).await;
                }
            )*
        }
        mod shared {
            $(
                #[tokio::test]
                async fn $name() {
                    use $crate::postgres::testing::Backings as _;
                    let Some(backing) = <$backing>::shared().await else {
                        return;
                    };
                    super::$name(backing).await;
                }
            )*
        }
    };
}
pub(crate) use conformance;

/// A node's own way to the test database, through a TCP relay that can be cut: while cut,
/// nothing passes either way (a partition, not a refusal), and what was sent passes once
/// it is restored.
pub(crate) struct Link {
    open: tokio::sync::watch::Sender<bool>,
}

impl Link {
    /// A pool on the database at `url`, through a new link.
    #[allow(clippy::unwrap_used, reason = "test scaffolding")]
    pub(crate) async fn to(url: &str) -> (Database, Link) {
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = relay.local_addr().unwrap().port();
        let rest = url.strip_prefix("postgres://").unwrap();
        let (auth, rest) = rest.split_once('@').unwrap();
        let (server, name) = rest.split_once('/').unwrap();
        let server = server.to_owned();
        let (open, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((client, _)) = relay.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(&server).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (ur, uw) = upstream.into_split();
                tokio::spawn(pipe(cr, uw, watch.clone()));
                tokio::spawn(pipe(ur, cw, watch.clone()));
            }
        });
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(2))
            .connect(&format!("postgres://{auth}@127.0.0.1:{port}/{name}"))
            .await
            .unwrap();
        (Database::from_pool(pool), Link { open })
    }

    pub(crate) fn cut(&self) {
        self.open.send_replace(false);
    }

    pub(crate) fn restore(&self) {
        self.open.send_replace(true);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut open: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if open.wait_for(|open| *open).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A task that stops when this is dropped (a node's feed, for the length of a test).
pub(crate) struct Aborting(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for Aborting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits until `check` holds, for at most `within`; answers how long it took, or None.
pub(crate) async fn eventually<F: Future<Output = bool>>(
    within: std::time::Duration,
    mut check: impl FnMut() -> F,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    loop {
        if check().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > within {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
