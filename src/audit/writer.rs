//! Appending with group commit: one writer thread owns the files; appenders hand it records
//! over a channel and wait for their batch's single write + fsync. No appender ever waits
//! on a lock held across someone else's fsync.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::anchor::{self, Anchor, AnchorRow};
use super::format::{self, Entry, HEAD_FILE, HEAD_TMP_FILE, Head, LOCK_FILE, Macer, log_file_name};
use super::verify::{self, Chain, Start};
use super::{AuditError, AuditKey, AuditReader, AuditRecord, AuditSettings};

/// Records taken into one batch at most; the rest wait for the next one.
const MAX_BATCH: usize = 4096;

/// The audit log of one directory, open for appending. Clones share one writer.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    /// None only while dropping, so the writer sees the channel close and finishes.
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The writer's `poisoned`, for health checks.
    poisoned: Arc<AtomicBool>,
    reader: AuditReader,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tx.take();
        // Waiting means the directory lock is released (and HEAD current) once the last
        // handle is gone, so the log can be reopened straight away.
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the audit log writer panicked");
        }
    }
}

struct Pending {
    record: AuditRecord,
    done: oneshot::Sender<Result<(), AuditError>>,
}

type Reply<T> = oneshot::Sender<Result<T, AuditError>>;

/// What the writer thread is asked to do, in order.
enum Msg {
    Append(Pending),
    /// Make the chain a fleet node's, once its stored anchor (if any) is found in it.
    Claim {
        node: String,
        stored: Option<AnchorRow>,
        done: Reply<Option<Anchor>>,
    },
    /// The newest acknowledged record, made durable whatever `fsync` says, as an anchor.
    Checkpoint {
        done: Reply<Anchor>,
    },
}

impl AuditLog {
    /// Opens the log in `dir` (creating it when missing) to continue its chain. The newest
    /// files and HEAD must verify: appending to a chain that does not would bury the
    /// evidence. A torn final line (an append cut short by a crash, never acknowledged) is
    /// cut off, unless HEAD vouches for it.
    pub fn open(
        dir: &Path,
        key: AuditKey,
        settings: AuditSettings,
    ) -> Result<AuditLog, AuditError> {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(AuditError::io(dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent).map_err(AuditError::io(parent))?;
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(AuditError::io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AuditError::Locked(dir.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(AuditError::io(&lock_path)(e)),
        }

        let macer = Macer::new(&key);
        let reader = AuditReader::new(dir.to_owned(), &key);
        let head = verify::read_head(dir, &macer)?;
        let files = verify::list_log_files(dir)?;
        // The newest file with records and the one before it: enough to check the tail
        // and its link backwards without reading a log that may hold years of records.
        let mut last_nonempty = None;
        for (i, (_, name)) in files.iter().enumerate().rev() {
            let path = dir.join(name);
            let len = std::fs::metadata(&path)
                .map_err(AuditError::io(&path))?
                .len();
            if len > 0 {
                last_nonempty = Some(i);
                break;
            }
        }
        let from = last_nonempty.map_or(0, |i| i.saturating_sub(1));
        let start = if from == 0 && files.first().is_some_and(|(n, _)| *n == 1) {
            Start::Genesis
        } else {
            Start::Anywhere
        };
        let walk = verify::walk(
            &macer,
            dir,
            &files[from..],
            start,
            verify::head_seq(&head).as_slice(),
        )?;
        if let Some(brk) = walk
            .brk
            .clone()
            .or_else(|| verify::check_head(&head, &walk, &files))
        {
            return Err(AuditError::Broken {
                dir: dir.to_owned(),
                brk: Box::new(brk),
            });
        }

        let (number, file, file_len) = match files.last() {
            None => {
                let path = dir.join(log_file_name(1));
                let file = open_append(&path).map_err(AuditError::io(&path))?;
                sync_dir(dir).map_err(AuditError::io(dir))?;
                (1, file, 0)
            }
            Some((number, name)) => {
                let path = dir.join(name);
                let file = open_append(&path).map_err(AuditError::io(&path))?;
                if let Some(torn) = &walk.torn {
                    tracing::warn!(
                        file = %path.display(),
                        bytes = torn.bytes,
                        after_seq = torn.after_seq,
                        "removing the torn final line of the audit log (an append cut short by a crash, never acknowledged)"
                    );
                    file.set_len(walk.last_file_complete_len)
                        .and_then(|()| file.sync_data())
                        .map_err(AuditError::io(&path))?;
                }
                (*number, file, walk.last_file_complete_len)
            }
        };

        let mut writer = Writer {
            dir: dir.to_owned(),
            macer,
            fsync: settings.fsync,
            max_file_bytes: settings.max_file_bytes,
            file,
            number,
            file_len,
            chain: walk.last,
            chain_file: walk.last_file,
            unsynced_from: None,
            head_seq: verify::head_seq(&head),
            node: verify::head_node(&head).map(str::to_owned),
            poisoned: Arc::default(),
            _lock: lock,
            #[cfg(test)]
            faults: Arc::default(),
        };
        if head.is_none() {
            // From the first open on, HEAD always exists, so a deleted HEAD cannot pass for
            // a log that never had one. Durable whatever `fsync` says: it happens once.
            writer
                .write_head(true)
                .map_err(AuditError::io(&dir.join(HEAD_FILE)))?;
        }
        #[cfg(test)]
        let faults = writer.faults.clone();
        let poisoned = writer.poisoned.clone();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(AuditError::io(dir))?;
        Ok(AuditLog {
            inner: Arc::new(Inner {
                tx: Some(tx),
                thread: Some(thread),
                poisoned,
                reader,
                #[cfg(test)]
                faults,
            }),
        })
    }

    /// Reads this log (the newest records, verification) beside the writer.
    pub fn reader(&self) -> AuditReader {
        self.inner.reader.clone()
    }

    /// Appends one record; returns once it is written (and fsynced, when configured). On
    /// error the record is not in the log and the log still verifies; the caller must then
    /// fail the operation. A cancelled append may still land.
    pub async fn append(&self, record: AuditRecord) -> Result<(), AuditError> {
        let began = std::time::Instant::now();
        let appended = self.ask(|done| Msg::Append(Pending { record, done })).await;
        crate::metrics::observe_since(&crate::metrics::metrics().audit_append_duration, began);
        appended
    }

    /// Makes the chain `node`'s (HEAD names it from now on) after checking that it holds
    /// `stored`, the node's anchor in the database: a chain that ends before it, or holds
    /// another record at its seq, is not the one the node anchored. A chain already named
    /// for another node is refused. Answers the stored anchor, authenticated.
    pub(super) async fn claim(
        &self,
        node: &str,
        stored: Option<AnchorRow>,
    ) -> Result<Option<Anchor>, AuditError> {
        let node = node.to_owned();
        self.ask(|done| Msg::Claim { node, stored, done }).await
    }

    /// The newest acknowledged record of a claimed chain, durable on disk before this
    /// returns, as an anchor MAC'd under the audit key.
    pub(super) async fn checkpoint(&self) -> Result<Anchor, AuditError> {
        self.ask(|done| Msg::Checkpoint { done }).await
    }

    /// Why records cannot be appended now, if they cannot.
    pub fn unusable(&self) -> Option<String> {
        let writer_gone = self.inner.tx.is_none()
            || self
                .inner
                .thread
                .as_ref()
                .is_none_or(std::thread::JoinHandle::is_finished);
        if writer_gone {
            Some("the audit writer has stopped".into())
        } else if self.inner.poisoned.load(Ordering::Relaxed) {
            Some(
                "a failed audit write could not be undone; appends are refused until restart"
                    .into(),
            )
        } else {
            None
        }
    }

    async fn ask<T>(&self, msg: impl FnOnce(Reply<T>) -> Msg) -> Result<T, AuditError> {
        let (done, wait) = oneshot::channel();
        let tx = self.inner.tx.as_ref().ok_or(AuditError::Closed)?;
        tx.send(msg(done)).map_err(|_| AuditError::Closed)?;
        wait.await.map_err(|_| AuditError::Closed)?
    }

    #[cfg(test)]
    pub(super) fn faults(&self) -> &faults::Faults {
        &self.inner.faults
    }
}

/// Records name principals and encryption contexts: readable by the gateway's user only.
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

struct Writer {
    dir: PathBuf,
    macer: Macer,
    fsync: bool,
    max_file_bytes: u64,
    file: File,
    number: u64,
    /// Bytes of the current file known to hold whole, acknowledged records.
    file_len: u64,
    /// The last acknowledged record.
    chain: Chain,
    /// The number of the file holding it (0 before the first record).
    chain_file: u64,
    /// With `fsync` off: the first file written to since the last checkpoint synced them.
    unsynced_from: Option<u64>,
    head_seq: Option<u64>,
    /// The fleet node this chain belongs to, once claimed; HEAD carries it.
    node: Option<String>,
    /// Set when a failed write could not be undone: the file may hold bytes that are not
    /// in `chain`, so nothing more may be appended until a reopen checks the tail.
    poisoned: Arc<AtomicBool>,
    /// Held (flock) for as long as this writer lives.
    _lock: File,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut next = None;
        loop {
            let msg = match next.take() {
                Some(msg) => msg,
                None => match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => return,
                },
            };
            let first = match msg {
                Msg::Append(p) => p,
                Msg::Claim { node, stored, done } => {
                    let _ = done.send(self.claim(node, stored));
                    continue;
                }
                Msg::Checkpoint { done } => {
                    let _ = done.send(self.checkpoint());
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Append(p)) => batch.push(p),
                    Ok(other) => {
                        next = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
            // After the waiters are woken: HEAD may lag the log, so it need not delay them.
            if self.head_seq != Some(self.chain.seq)
                && let Err(e) = self.write_head(self.fsync)
            {
                tracing::warn!(error = %e, "cannot update the audit log HEAD; it lags the log");
            }
        }
    }

    fn claim(
        &mut self,
        node: String,
        stored: Option<AnchorRow>,
    ) -> Result<Option<Anchor>, AuditError> {
        let refuse = |reason: String| AuditError::Anchor {
            node: node.clone(),
            reason,
        };
        if let Some(owner) = self.node.as_ref().filter(|owner| **owner != node) {
            return Err(refuse(format!(
                "the audit log in {} is node {owner}'s chain; give this node its own audit directory",
                self.dir.display()
            )));
        }
        let stored = match stored {
            None => None,
            Some(row) => {
                let stored = row
                    .authentic(&self.macer)
                    .map_err(|why| refuse(format!("the database's anchor {why}")))?;
                let found = anchor::find_in_chain(&self.macer, &self.dir, self.chain, &stored)?;
                if let Err(why) = found {
                    return Err(refuse(format!("the log in {} {why}", self.dir.display())));
                }
                Some(stored)
            }
        };
        if self.node.is_none() {
            self.node = Some(node);
            let written = self.write_head(true).and_then(|()| sync_dir(&self.dir));
            if let Err(e) = written {
                self.node = None;
                return Err(AuditError::io(&self.dir.join(HEAD_FILE))(e));
            }
        }
        Ok(stored)
    }

    fn checkpoint(&mut self) -> Result<Anchor, AuditError> {
        let Some(node) = self.node.clone() else {
            return Err(AuditError::Encode(
                "an audit chain is anchored only once claimed for a node".into(),
            ));
        };
        if let Some(from) = self.unsynced_from {
            self.sync_files(from).map_err(AuditError::io(&self.dir))?;
            self.unsynced_from = None;
        }
        Anchor::new(
            &self.macer,
            node,
            self.chain_file,
            self.chain.seq,
            self.chain.mac,
        )
    }

    /// fsyncs the log files from number `from` on, and the directory that names them.
    fn sync_files(&self, from: u64) -> std::io::Result<()> {
        for number in from..self.number {
            File::open(self.dir.join(log_file_name(number)))?.sync_data()?;
        }
        self.file.sync_data()?;
        sync_dir(&self.dir)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(log_file_name(self.number))
    }

    /// Writes the batch in as few segments as files it spans: each segment is one write and
    /// one fsync, and its waiters are answered as soon as it is durable.
    fn commit(&mut self, batch: Vec<Pending>) {
        if self.poisoned.load(Ordering::Relaxed) {
            for p in batch {
                let _ = p.done.send(Err(AuditError::Poisoned(self.dir.clone())));
            }
            return;
        }
        let mut buf = Vec::with_capacity(batch.len() * 512);
        let mut waiters = Vec::with_capacity(batch.len());
        let mut tentative = self.chain;
        let mut rest = batch.into_iter();
        while let Some(p) = rest.next() {
            let mark = buf.len();
            let entry = Entry::new(tentative.seq + 1, &tentative.mac, p.record);
            let mac = match format::encode_record(&self.macer, &entry, &mut buf) {
                Ok(mac) => mac,
                Err(e) => {
                    buf.truncate(mark);
                    let _ = p.done.send(Err(e));
                    continue;
                }
            };
            let would_be = self.file_len + buf.len() as u64;
            if would_be > self.max_file_bytes && self.file_len + mark as u64 > 0 {
                let line = buf.split_off(mark);
                let rotated = match self.flush(&buf, &mut waiters, tentative) {
                    Ok(()) => self.rotate(),
                    Err(e) => Err(e),
                };
                if let Err(e) = rotated {
                    let _ = p.done.send(Err(e.clone_for_waiter()));
                    for p in rest {
                        let _ = p.done.send(Err(e.clone_for_waiter()));
                    }
                    return;
                }
                buf = line;
            }
            waiters.push(p.done);
            tentative = Chain {
                seq: entry.seq,
                mac,
            };
        }
        // A failed flush has answered its own waiters, and nothing follows it.
        let _ = self.flush(&buf, &mut waiters, tentative);
    }

    /// Makes `buf` durable at the end of the current file and answers `waiters`. On failure
    /// the file is cut back to what it held before, so the log stays as it was.
    fn flush(
        &mut self,
        buf: &[u8],
        waiters: &mut Vec<oneshot::Sender<Result<(), AuditError>>>,
        tentative: Chain,
    ) -> Result<(), AuditError> {
        if buf.is_empty() {
            return Ok(());
        }
        match self.write_durably(buf) {
            Ok(()) => {
                self.file_len += buf.len() as u64;
                self.chain = tentative;
                self.chain_file = self.number;
                if !self.fsync {
                    self.unsynced_from.get_or_insert(self.number);
                }
                for w in waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
                Ok(())
            }
            Err(e) => {
                let err = AuditError::Write {
                    path: self.path(),
                    source: Arc::new(e),
                };
                tracing::error!(error = %err, "audit log append failed");
                self.undo();
                for w in waiters.drain(..) {
                    let _ = w.send(Err(err.clone_for_waiter()));
                }
                Err(err)
            }
        }
    }

    fn write_durably(&mut self, buf: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(e) = self.faults.write_fault(&mut self.file, buf) {
            return Err(e);
        }
        self.file.write_all(buf)?;
        if self.fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn undo(&mut self) {
        #[cfg(test)]
        let refused = self.faults.undo_fault();
        #[cfg(not(test))]
        let refused = None;
        let undone = match refused {
            Some(e) => Err(e),
            None => self.file.set_len(self.file_len).and_then(|()| {
                if self.fsync {
                    self.file.sync_data()
                } else {
                    Ok(())
                }
            }),
        };
        if let Err(e) = undone {
            tracing::error!(
                file = %self.path().display(),
                error = %e,
                "cannot undo a failed audit log write; refusing further appends until restart"
            );
            self.poisoned.store(true, Ordering::Relaxed);
        }
    }

    fn rotate(&mut self) -> Result<(), AuditError> {
        let path = self.dir.join(log_file_name(self.number + 1));
        let opened = open_append(&path).and_then(|file| {
            // Left empty by an earlier rotation that failed after creating it; anything
            // else in it was not written by this chain.
            if file.metadata()?.len() != 0 {
                return Err(std::io::Error::other("the next log file already has data"));
            }
            if self.fsync {
                sync_dir(&self.dir)?;
            }
            Ok(file)
        });
        match opened {
            Ok(file) => {
                self.file = file;
                self.number += 1;
                self.file_len = 0;
                Ok(())
            }
            Err(e) => Err(AuditError::Write {
                path,
                source: Arc::new(e),
            }),
        }
    }

    /// Replaces HEAD with the last acknowledged record: temp file, fsync, rename. Without
    /// the fsync a crash could leave a renamed but empty HEAD; without a directory fsync the
    /// rename may be lost, which only makes HEAD lag.
    fn write_head(&mut self, fsync: bool) -> std::io::Result<()> {
        let head = Head {
            seq: self.chain.seq,
            record_mac: self.chain.mac,
            node: self.node.clone(),
        };
        let bytes = format::encode_head(&self.macer, &head).map_err(std::io::Error::other)?;
        let tmp = self.dir.join(HEAD_TMP_FILE);
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        if fsync {
            f.sync_data()?;
        }
        std::fs::rename(&tmp, self.dir.join(HEAD_FILE))?;
        if fsync && self.head_seq.is_none() {
            sync_dir(&self.dir)?;
        }
        self.head_seq = Some(head.seq);
        Ok(())
    }
}

impl AuditError {
    /// Every waiter of a failed batch gets its own copy of the error.
    fn clone_for_waiter(&self) -> AuditError {
        match self {
            AuditError::Write { path, source } => AuditError::Write {
                path: path.clone(),
                source: source.clone(),
            },
            AuditError::Poisoned(dir) => AuditError::Poisoned(dir.clone()),
            other => AuditError::Encode(other.to_string()),
        }
    }
}

#[cfg(test)]
pub(super) mod faults {
    //! Disk failures on demand, to test that a failed append leaves the log verifiable.

    use std::io::Write as _;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    #[derive(Default)]
    pub(crate) struct Faults {
        /// Writes still to fail, each after writing half its bytes (as a full disk does).
        pub failing_writes: AtomicU32,
        /// Whether cutting a failed write back off fails too.
        pub failing_undo: AtomicBool,
    }

    impl Faults {
        pub(super) fn write_fault(
            &self,
            file: &mut std::fs::File,
            buf: &[u8],
        ) -> Option<std::io::Error> {
            let take = self
                .failing_writes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            take.ok()?;
            if let Err(e) = file.write_all(&buf[..buf.len() / 2]) {
                return Some(e);
            }
            Some(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            ))
        }

        pub(super) fn undo_fault(&self) -> Option<std::io::Error> {
            self.failing_undo
                .load(Ordering::SeqCst)
                .then(|| std::io::Error::other("cannot truncate (injected)"))
        }
    }
}
