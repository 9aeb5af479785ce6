//! Group commit: one thread owns the writer connection and runs the writes queued while
//! the previous commit was being made durable in one transaction, each in its own
//! savepoint, so N concurrent writes cost one fsync of the WAL instead of N. Nobody gets an
//! answer before the transaction holding their write has committed.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use rusqlite::Connection;

use super::{CatalogError, Result};

/// Writes run together in one transaction at most.
const MAX_BATCH: usize = 64;

/// Why a batch did not commit, handed to each of its writes.
#[derive(Clone)]
struct Uncommitted {
    disk_full: bool,
    message: String,
}

impl From<Uncommitted> for CatalogError {
    fn from(u: Uncommitted) -> CatalogError {
        if u.disk_full {
            CatalogError::DiskFull
        } else {
            CatalogError::Task(u.message)
        }
    }
}

/// Hands the write's answer to its caller once the batch's commit outcome is known.
type Deliver = Box<dyn FnOnce(std::result::Result<(), Uncommitted>) + Send>;
type Job = Box<dyn FnOnce(&mut Connection) -> Deliver + Send>;

pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(super) fn spawn(conn: Connection) -> Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || run(conn, queue))
            .map_err(|e| CatalogError::Task(format!("cannot start the catalog writer: {e}")))?;
        Ok(Writer { jobs })
    }

    pub(super) async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<R>>();
        let job: Job = Box::new(move |conn: &mut Connection| {
            let result = f(conn);
            Box::new(move |committed: std::result::Result<(), Uncommitted>| {
                let result = match committed {
                    Ok(()) => result,
                    // The write ran but its transaction did not commit: it did not happen.
                    Err(e) if result.is_ok() => Err(e.into()),
                    Err(_) => result,
                };
                let _ = answer.send(result);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| CatalogError::Task("the catalog writer has stopped".into()))?;
        answered
            .await
            .map_err(|_| CatalogError::Task("the catalog writer dropped a write".into()))?
    }
}

fn run(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let metrics = crate::metrics::metrics();
        metrics
            .catalog_commit_batch_size
            .observe(batch.len() as f64);
        let started = std::time::Instant::now();
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            // A panicking write loses its own answer (its caller sees an error), not the
            // writer thread; its savepoint rolled back as the panic unwound.
            if let Ok(deliver) = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))) {
                answers.push(deliver);
            }
        }
        let committed = match began {
            // Without the outer transaction each savepoint committed on its own.
            Err(e) => {
                tracing::warn!(error = %e, "catalog batch ran without a shared transaction");
                Ok(())
            }
            Ok(()) => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                Uncommitted {
                    disk_full: crate::catalog::sqlite_disk_full(&e),
                    message: format!("catalog commit failed: {e}"),
                }
            }),
        };
        crate::metrics::observe_since(&metrics.catalog_commit_duration, started);
        for deliver in answers {
            deliver(committed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        Writer::spawn(conn).unwrap()
    }

    fn insert(v: i64) -> impl FnOnce(&mut Connection) -> Result<usize> + Send + 'static {
        move |conn: &mut Connection| {
            let sp = conn.savepoint()?;
            let n = sp.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            sp.commit()?;
            Ok(n)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_rolls_back_alone_and_the_others_commit() {
        let w = std::sync::Arc::new(writer());
        let tasks: Vec<_> = [1, 2, 2, 3, 1]
            .into_iter()
            .map(|v| {
                let w = w.clone();
                tokio::spawn(async move { w.run(insert(v)).await.is_ok() })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 3, "the duplicates of 1 and 2 fail, nothing else");
        let rows = w
            .run(|c: &mut Connection| {
                Ok(c.query_row("SELECT count(*), sum(v) FROM t", [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })?)
            })
            .await
            .unwrap();
        assert_eq!(rows, (3, 6));
    }

    #[tokio::test]
    async fn a_panicking_write_leaves_the_writer_running() {
        let w = writer();
        let panicked = w
            .run(|c: &mut Connection| -> Result<()> {
                let sp = c.savepoint()?;
                sp.execute("INSERT INTO t (v) VALUES (9)", [])?;
                panic!("a bug in one write");
            })
            .await;
        assert!(panicked.is_err());
        assert_eq!(w.run(insert(10)).await.unwrap(), 1);
        let nine = w
            .run(|c: &mut Connection| {
                Ok(c.query_row("SELECT count(*) FROM t WHERE v = 9", [], |r| {
                    r.get::<_, i64>(0)
                })?)
            })
            .await
            .unwrap();
        assert_eq!(nine, 0, "the panicking write's insert was rolled back");
    }
}
