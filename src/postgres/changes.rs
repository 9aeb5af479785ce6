//! Copies of shared state kept current on every node. The KMS keys and the IAM state live in
//! the database; each node answers from its copy in memory, and a change made through one
//! node must be enforced by every node within the fleet's change bound.
//!
//! A change runs in one transaction that bumps its store's row of `revisions` and notifies
//! [`CHANNEL`] with the store's name (delivered at commit). Each node listens, so a
//! notification starts a catch-up at once, and also polls the revisions several times per
//! bound, so a lost notification or a dead listening connection delays a change by at most
//! one poll. A [`Watch`] remembers when its node last confirmed that its copy held
//! everything committed; a request that depends on the copy and finds that confirmation
//! older than the bound tries one catch-up itself and, if that does not succeed in time,
//! fails rather than answer from a copy that may be stale (Ceph RGW's rule: while the
//! notification channel is down, the cache is not trusted).

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, Postgres, Transaction};

use super::Database;

/// The channel every store's changes are announced on; the payload names the store.
pub const CHANNEL: &str = "sealgate_changes";

/// How long a change waits for another node's change of the same store to finish.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '5s'";

/// The revision of `store` committed last.
pub async fn revision(db: &Database, store: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT revision FROM revisions WHERE name = $1")
        .bind(store)
        .fetch_one(db.pool())
        .await
}

/// Begins a change of `store`: its row of `revisions` stays locked until the transaction
/// ends, so the changes of all nodes to one store are serialized. Answers the transaction
/// and the revision the change is to be computed on.
pub async fn lock(
    db: &Database,
    store: &str,
) -> Result<(Transaction<'static, Postgres>, i64), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    let revision = sqlx::query_scalar("SELECT revision FROM revisions WHERE name = $1 FOR UPDATE")
        .bind(store)
        .fetch_one(&mut *tx)
        .await?;
    Ok((tx, revision))
}

/// Records a change of `store` as `revision` and announces it to every node (delivered at
/// commit), in the transaction [`lock`] began.
pub async fn announce(
    tx: &mut PgConnection,
    store: &str,
    revision: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE revisions SET revision = $1 WHERE name = $2")
        .bind(revision)
        .bind(store)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(store)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Why a catch-up did not happen.
pub type CatchUpError = Box<dyn std::error::Error + Send + Sync>;

/// A node's in-memory copy of one shared store.
pub trait Replica: Send + Sync {
    /// Brings the copy up to the database's revision; does nothing when it is there. A
    /// copy that holds everything committed before this call started may be confirmed as
    /// of that moment.
    fn catch_up(&self) -> BoxFuture<'_, Result<(), CatchUpError>>;
}

/// A copy that cannot vouch for being current.
#[derive(Debug, thiserror::Error)]
pub enum Stale {
    #[error("the {store} state could not be brought up to date: {cause}")]
    Failed { store: &'static str, cause: String },
    #[error("the {store} state could not be brought up to date within {bound:?}")]
    TimedOut {
        store: &'static str,
        bound: Duration,
    },
}

/// How current one node's copy of one store is.
pub struct Watch {
    store: &'static str,
    bound: Duration,
    origin: Instant,
    /// Nanoseconds after `origin`, plus one, of the newest confirmation (0: none yet).
    confirmed: AtomicU64,
    /// One catch-up at a time; the others wait for it and find the copy fresh.
    catching_up: tokio::sync::Mutex<()>,
    replica: Weak<dyn Replica>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("store", &self.store)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// A watch of `store` (its name in `revisions`) whose copy must be no older than `bound`.
    pub fn new(store: &'static str, bound: Duration, replica: Weak<dyn Replica>) -> Watch {
        Watch {
            store,
            bound,
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
            catching_up: tokio::sync::Mutex::new(()),
            replica,
        }
    }

    pub fn store(&self) -> &'static str {
        self.store
    }

    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// Records that the copy held everything committed before `at`.
    pub fn confirm(&self, at: Instant) {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        let mark = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        self.confirmed.fetch_max(mark, Ordering::AcqRel);
    }

    /// How long ago the copy was last confirmed; None if never.
    pub fn age(&self) -> Option<Duration> {
        let mark = self.confirmed.load(Ordering::Acquire);
        let at = self.origin + Duration::from_nanos(mark.checked_sub(1)?);
        Some(Instant::now().saturating_duration_since(at))
    }

    pub fn is_fresh(&self) -> bool {
        self.age().is_some_and(|age| age <= self.bound)
    }

    /// Catches up now (waiting for one in progress), within the bound.
    pub async fn catch_up(&self) -> Result<(), Stale> {
        self.bounded(self.catch_up_once(false)).await
    }

    /// Succeeds at once while the copy is fresh; otherwise catches up, within the bound, or
    /// fails: an answer from a copy that may miss a change is never given.
    pub async fn ensure_fresh(&self) -> Result<(), Stale> {
        if self.is_fresh() {
            return Ok(());
        }
        self.bounded(self.catch_up_once(true)).await
    }

    async fn bounded(
        &self,
        attempt: impl Future<Output = Result<(), CatchUpError>>,
    ) -> Result<(), Stale> {
        match tokio::time::timeout(self.bound, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cause)) => Err(Stale::Failed {
                store: self.store,
                cause: cause.to_string(),
            }),
            Err(_) => Err(Stale::TimedOut {
                store: self.store,
                bound: self.bound,
            }),
        }
    }

    async fn catch_up_once(&self, unless_fresh: bool) -> Result<(), CatchUpError> {
        let _one = self.catching_up.lock().await;
        if unless_fresh && self.is_fresh() {
            return Ok(());
        }
        let replica = self
            .replica
            .upgrade()
            .ok_or_else(|| format!("the {} service is gone", self.store))?;
        let started = Instant::now();
        replica.catch_up().await?;
        self.confirm(started);
        Ok(())
    }
}

/// A node's listener and poller: keeps its watches' copies current.
pub struct Feed {
    db: Database,
    watches: Vec<std::sync::Arc<Watch>>,
    listen: bool,
}

impl Feed {
    pub fn new(db: Database, watches: impl IntoIterator<Item = std::sync::Arc<Watch>>) -> Feed {
        Feed {
            db,
            watches: watches.into_iter().collect(),
            listen: true,
        }
    }

    /// Polls only, as a node whose notifications do not arrive.
    pub fn without_listener(mut self) -> Feed {
        self.listen = false;
        self
    }

    /// How often the revisions are polled: a quarter of the smallest bound.
    pub fn poll_period(&self) -> Duration {
        let bound = self
            .watches
            .iter()
            .map(|w| w.bound)
            .min()
            .unwrap_or(Duration::from_secs(1));
        (bound / 4).max(Duration::from_millis(10))
    }

    /// Runs until the task is aborted (at shutdown), as does the listener it starts.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let (tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
        let _listener = self
            .listen
            .then(|| AbortOnDrop(tokio::spawn(listen(self.db.clone(), tx))));
        let mut tick = tokio::time::interval(self.poll_period());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // None: every store (a poll, or notifications that may have been lost).
            let store: Option<String> = tokio::select! {
                _ = tick.tick() => None,
                Some(note) = notes.recv() => note,
            };
            for watch in &self.watches {
                if store.as_deref().is_some_and(|s| s != watch.store) {
                    continue;
                }
                if let Err(e) = watch.catch_up().await {
                    tracing::warn!(error = %e, "shared state not refreshed");
                }
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards notifications (`Some(store)`), and `None` whenever some may have been missed.
async fn listen(db: Database, notes: tokio::sync::mpsc::UnboundedSender<Option<String>>) {
    let retry = Duration::from_millis(500);
    loop {
        let mut listener = match PgListener::connect_with(db.pool()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changes; polling only");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot listen for changes; polling only");
            tokio::time::sleep(retry).await;
            continue;
        }
        if notes.send(None).is_err() {
            return;
        }
        loop {
            let sent = match listener.try_recv().await {
                Ok(Some(n)) => notes.send(Some(n.payload().to_owned())),
                // The connection was lost and made again: what was sent meanwhile is lost.
                Ok(None) => notes.send(None),
                Err(e) => {
                    tracing::warn!(error = %e, "listening for changes failed; reconnecting");
                    break;
                }
            };
            if sent.is_err() {
                return;
            }
        }
        tokio::time::sleep(retry).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A copy whose catch-ups succeed, fail or never finish, as told.
    #[derive(Default)]
    struct Fake {
        mode: AtomicUsize,
        catch_ups: AtomicUsize,
    }

    const WORKS: usize = 0;
    const FAILS: usize = 1;
    const HANGS: usize = 2;

    impl Replica for Fake {
        fn catch_up(&self) -> BoxFuture<'_, Result<(), CatchUpError>> {
            self.catch_ups.fetch_add(1, Ordering::SeqCst);
            let mode = self.mode.load(Ordering::SeqCst);
            Box::pin(async move {
                match mode {
                    WORKS => Ok(()),
                    FAILS => Err("connection refused".into()),
                    _ => std::future::pending().await,
                }
            })
        }
    }

    fn watched(bound: Duration) -> (Arc<Fake>, Watch) {
        let fake = Arc::new(Fake::default());
        let weak = Arc::downgrade(&fake);
        let replica: Weak<dyn Replica> = weak;
        (fake, Watch::new("test", bound, replica))
    }

    #[tokio::test]
    async fn a_copy_older_than_the_bound_is_caught_up_or_refused() {
        let bound = Duration::from_millis(100);
        let (fake, watch) = watched(bound);
        assert!(!watch.is_fresh(), "never confirmed");
        watch.ensure_fresh().await.unwrap();
        assert_eq!(fake.catch_ups.load(Ordering::SeqCst), 1);
        watch.ensure_fresh().await.unwrap();
        assert_eq!(
            fake.catch_ups.load(Ordering::SeqCst),
            1,
            "a fresh copy is used as it is"
        );

        tokio::time::sleep(bound).await;
        fake.mode.store(FAILS, Ordering::SeqCst);
        let e = watch.ensure_fresh().await.unwrap_err();
        assert!(matches!(e, Stale::Failed { .. }), "{e}");

        fake.mode.store(HANGS, Ordering::SeqCst);
        let started = Instant::now();
        let e = watch.ensure_fresh().await.unwrap_err();
        assert!(matches!(e, Stale::TimedOut { .. }), "{e}");
        assert!(
            started.elapsed() < bound * 3,
            "refused within about the bound"
        );

        fake.mode.store(WORKS, Ordering::SeqCst);
        watch.ensure_fresh().await.unwrap();
        assert!(watch.is_fresh());
    }

    #[tokio::test]
    async fn confirmations_only_move_forward() {
        let (_fake, watch) = watched(Duration::from_millis(100));
        let now = Instant::now();
        watch.confirm(now);
        watch.confirm(now - Duration::from_millis(500));
        assert!(watch.age().unwrap() < Duration::from_millis(100));
    }
}
