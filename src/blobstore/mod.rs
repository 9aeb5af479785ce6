//! Sealed blobs on an `object_store` backend — a local directory, or an S3, GCS or Azure
//! bucket under a prefix: opaque naming, streaming writes with bounded memory, ranged
//! streaming reads, deletes, listing, a start-up probe, and cleanup of what interrupted
//! writes leave behind (local staging files, S3 multipart uploads).
//!
//! The backend's owner sees only sealed bytes under random names: no bucket name, object
//! key, metadata or size-per-key mapping (docs/FORMAT.md, "What a storage backend sees").

mod remote;
mod s3;

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};

pub use s3::AbandonedUpload;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The backend did not answer in time, refused connections, or kept failing with
    /// server errors after the retries: worth trying again later.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// The backend refused the request: credentials, permissions, a missing bucket.
    #[error("storage backend refused the request: {0}")]
    Refused(String),
    #[error("blob store: {0}")]
    Store(#[source] object_store::Error),
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error("blob {0} is missing")]
    Missing(String),
}

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> BlobError {
        classify(e)
    }
}

/// Sorts a backend error into what the caller can do about it.
fn classify(e: object_store::Error) -> BlobError {
    use object_store::Error as E;
    match e {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } | E::NotFound { .. } => {
            BlobError::Refused(error_chain(&e))
        }
        E::Generic { .. } => {
            let text = error_chain(&e);
            if is_unavailable(&e, &text) {
                BlobError::Unavailable(text)
            } else if text.contains(" 403 ") || text.contains(" 401 ") || text.contains(" 404 ") {
                BlobError::Refused(text)
            } else {
                BlobError::Store(e)
            }
        }
        other => BlobError::Store(other),
    }
}

/// Whether an error is the backend being away (connections refused, timeouts, 5xx once
/// the retries are spent) rather than a refusal.
fn is_unavailable(e: &(dyn std::error::Error + 'static), text: &str) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(http) = err.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind as K;
            if matches!(
                http.kind(),
                K::Connect | K::Timeout | K::Request | K::Interrupted
            ) {
                return true;
            }
        }
        source = err.source();
    }
    text.contains(" 500 ")
        || text.contains(" 502 ")
        || text.contains(" 503 ")
        || text.contains(" 504 ")
        || text.contains("timed out")
        || text.contains("error sending request")
}

/// An error and its causes on one line; an S3 XML error body is cut down to its code
/// and message.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    one_line(&text)
}

fn one_line(text: &str) -> String {
    use crate::client::xml::element_text;
    let text = match text.find("<?xml").or_else(|| text.find("<Error>")) {
        Some(at) => {
            let body = &text[at..];
            let code = element_text(body, "Code").unwrap_or_default();
            let message = element_text(body, "Message").unwrap_or_default();
            format!("{}{code}: {message}", &text[..at])
        }
        None => text.to_owned(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The part size of local blobs: small parts keep a request's buffers few enough to be
/// reused while still in cache (local files take parts of any size). Remote backends use
/// `storage.part_size_mib` (at least S3's 5 MiB minimum).
pub const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Parts of one blob in flight at once. With the buffer being filled, a write holds at
/// most `(WRITE_CONCURRENCY + 1) * part size` of sealed bytes.
pub const WRITE_CONCURRENCY: usize = 2;

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for the local backend, whose interrupted writes leave staging files behind.
    local_root: Option<PathBuf>,
    /// Bytes per part of a multipart write (and the size up to which a blob is one PUT).
    part_size: usize,
    /// The backend in words, for errors: `s3 bucket B (prefix P) at URL`.
    describe: Arc<str>,
    /// S3 requests of the gateway's own: streaming single PUTs, and the unfinished
    /// multipart uploads of dead writes (S3 only).
    s3: Option<Arc<s3::S3Direct>>,
    /// Blobs up to this many bytes stream as one PUT where the backend takes them (S3).
    single_put_max: u64,
}

impl BlobStore {
    pub fn local(dir: &FsPath, fsync: bool) -> Result<BlobStore, BlobError> {
        std::fs::create_dir_all(dir)?;
        let fs = LocalFileSystem::new_with_prefix(dir)?
            .with_fsync(fsync)
            .with_automatic_cleanup(true);
        Ok(BlobStore {
            store: Arc::new(fs),
            local_root: Some(dir.canonicalize()?),
            part_size: LOCAL_PART_SIZE,
            describe: format!("local directory {}", dir.display()).into(),
            s3: None,
            single_put_max: 0,
        })
    }

    /// The store `config.storage` describes.
    pub fn open(config: &crate::config::Config) -> Result<BlobStore, BlobError> {
        use crate::config::Backend;
        match config.storage.backend {
            Backend::Local => BlobStore::local(&config.blob_dir(), config.storage.fsync),
            _ => remote::open(&config.storage),
        }
    }

    /// Whether blobs live in a local directory.
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// The backend in words (`s3 bucket B at URL`), for messages.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// A fresh opaque blob name: never derived from user keys, fanned out over 256 prefixes.
    pub fn new_name() -> String {
        let id = crate::crypto::random_id();
        format!("{}/{}", &id[..2], id)
    }

    /// A writer of a blob of exactly `len` bytes. A blob larger than one part streams as
    /// a single PUT where the backend takes one that large (S3, up to `single_put_max`);
    /// otherwise it is buffered into one PUT (up to a part) or written as a multipart
    /// upload, part by part. Either way at most a few parts are held in memory.
    pub fn writer(&self, name: &str, len: u64) -> BlobWriter {
        let streaming = match &self.s3 {
            Some(s3) if len > self.part_size as u64 && len <= self.single_put_max => {
                let (tx, rx) = tokio::sync::mpsc::channel(STREAMING_PIECES);
                let (s3, blob) = (s3.clone(), name.to_owned());
                let task = tokio::spawn(async move { s3.put_streaming(&blob, len, rx).await });
                Some(Streaming { tx, task })
            }
            _ => None,
        };
        BlobWriter {
            store: self.store.clone(),
            path: Path::from(name),
            part_size: self.part_size,
            len,
            pending: Vec::new(),
            pending_len: 0,
            upload: None,
            streaming,
            written: 0,
        }
    }

    /// Streams bytes `range` of a blob.
    pub async fn read(
        &self,
        name: &str,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&Path::from(name), opts)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => BlobError::Missing(name.to_owned()),
                e => classify(e),
            })?;
        let range = result.range.clone();
        match result.payload {
            GetResultPayload::File(file, _) => Ok(read_file_range(file, range)),
            GetResultPayload::Stream(stream) => Ok(stream.map_err(classify).boxed()),
        }
    }

    /// Deletes a blob; one that is already gone counts as deleted.
    pub async fn delete(&self, name: &str) -> Result<(), BlobError> {
        match self.store.delete(&Path::from(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store answers a read: a blob that does not exist is looked up.
    pub async fn reachable(&self) -> Result<(), BlobError> {
        match self.read(".probe/readiness", 0..1).await {
            Ok(_) | Err(BlobError::Missing(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The names of the blobs under `under` (`""`: every blob), in no particular order.
    pub fn list(&self, under: &str) -> BoxStream<'static, Result<String, BlobError>> {
        let prefix = (!under.is_empty()).then(|| Path::from(under));
        self.store
            .list(prefix.as_ref())
            .map_ok(|meta| meta.location.to_string())
            .map_err(classify)
            .boxed()
    }

    /// Whether any blob exists: sealed data a new root key could not open.
    pub async fn holds_blobs(&self) -> Result<bool, BlobError> {
        Ok(self.list("").next().await.transpose()?.is_some())
    }

    /// Proves the backend usable before the gateway serves: lists, writes, reads back and
    /// deletes a probe object. The error says which step failed and why, in one line.
    pub async fn probe(&self) -> Result<(), String> {
        let fail = |step: &str, e: BlobError| {
            let why = match &e {
                BlobError::Unavailable(m) => format!("unreachable or not answering ({m})"),
                BlobError::Refused(m) if m.contains("404") || m.contains("NotFound") => {
                    format!("the bucket does not exist or the prefix is not reachable ({m})")
                }
                BlobError::Refused(m) => {
                    format!("access refused: wrong credentials or no {step} permission ({m})")
                }
                other => other.to_string(),
            };
            format!("storage backend {}: {step} failed: {why}", self.describe)
        };
        if let Some(first) = self.list("").next().await {
            first.map_err(|e| fail("list", e))?;
        }
        let name = format!(".probe/{}", crate::crypto::random_id());
        let mut bytes = [0u8; 32];
        crate::crypto::fill_random(&mut bytes);
        let mut writer = self.writer(&name, bytes.len() as u64);
        let written = async {
            writer.write(Bytes::copy_from_slice(&bytes)).await?;
            writer.finish().await
        };
        if let Err(e) = written.await {
            if crate::space::caused_by_full_disk(&e) {
                // Reads and deletes work on a full disk; writes are refused until space is freed.
                tracing::warn!(backend = %self.describe, "the storage backend is full: starting to serve reads and deletes");
                return Ok(());
            }
            return Err(fail("write", e));
        }
        let mut back = Vec::new();
        let mut stream = self
            .read(&name, 0..bytes.len() as u64)
            .await
            .map_err(|e| fail("read", e))?;
        while let Some(piece) = stream.next().await {
            back.extend_from_slice(&piece.map_err(|e| fail("read", e))?);
        }
        if back != bytes {
            return Err(format!(
                "storage backend {}: a probe object read back different bytes than were written",
                self.describe
            ));
        }
        self.delete(&name).await.map_err(|e| fail("delete", e))
    }

    /// Removes local staging files (`name#N`) of writes interrupted before `before` (this
    /// process's start), judged by their modification time, so this process's own writes
    /// are never touched.
    pub async fn sweep_interrupted_writes(&self, before: SystemTime) -> Result<usize, BlobError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || sweep_staging_files(&root, before))
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }

    /// Unfinished multipart uploads the backend holds (S3 only; none elsewhere).
    pub async fn unfinished_uploads(&self) -> Result<Vec<AbandonedUpload>, BlobError> {
        match &self.s3 {
            Some(u) => u.list().await,
            None => Ok(Vec::new()),
        }
    }

    /// Aborts an unfinished multipart upload.
    pub async fn abort_upload(&self, upload: &AbandonedUpload) -> Result<(), BlobError> {
        match &self.s3 {
            Some(u) => u.abort(upload).await,
            None => Ok(()),
        }
    }
}

fn sweep_staging_files(root: &FsPath, before: SystemTime) -> Result<usize, BlobError> {
    let mut removed = 0;
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(path);
            } else if entry.file_name().to_string_lossy().contains('#')
                && entry.metadata()?.modified()? < before
            {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(removed)
}

/// Bytes read from a local file per blocking call.
pub const READ_PIECE: u64 = 1024 * 1024;

/// Streams a range of a local file in large pieces on the blocking pool; the store's own
/// file stream reads 8 KiB per blocking call, which costs more than decrypting them.
fn read_file_range(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    futures::stream::try_unfold((file, range), |(file, range)| async move {
        if range.start >= range.end {
            return Ok(None);
        }
        let n = (range.end - range.start).min(READ_PIECE) as usize;
        let pos = range.start;
        let (file, piece) = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt as _;
            let mut piece = vec![0u8; n];
            // A blob shorter than its catalog entry says fails here rather than reading short.
            file.read_exact_at(&mut piece, pos)?;
            Ok::<_, std::io::Error>((file, piece))
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
        Ok(Some((
            Bytes::from(piece),
            (file, pos + n as u64..range.end),
        )))
    })
    .boxed()
}

/// Sealed pieces queued for a streaming PUT: its memory bound, with the piece in hand.
const STREAMING_PIECES: usize = 4;

/// A single PUT in progress, fed piece by piece.
struct Streaming {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    task: tokio::task::JoinHandle<Result<(), BlobError>>,
}

impl Streaming {
    async fn outcome(self) -> Result<(), BlobError> {
        drop(self.tx);
        self.task
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }
}

/// Writes one blob of a length declared up front. Nothing is visible under the name until
/// `finish` returns, and memory stays at a few parts whatever the size.
pub struct BlobWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    part_size: usize,
    /// The blob's declared length: fewer or more bytes fail the write.
    len: u64,
    /// Pieces held until the blob is known to be small (one PUT) or large (multipart).
    pending: Vec<Bytes>,
    pending_len: usize,
    upload: Option<WriteMultipart>,
    streaming: Option<Streaming>,
    written: u64,
}

impl BlobWriter {
    /// Takes ownership of `bytes`: pieces are passed on without copying.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        self.written += bytes.len() as u64;
        if self.written > self.len {
            return Err(BlobError::Io(std::io::Error::other(format!(
                "more than the {} bytes declared for the blob",
                self.len
            ))));
        }
        if let Some(s) = &mut self.streaming {
            if s.tx.send(bytes).await.is_err() {
                // The PUT ended early: its error says why.
                if let Some(s) = self.streaming.take() {
                    s.outcome().await?;
                }
                return Err(BlobError::Unavailable("the PUT ended early".into()));
            }
            return Ok(());
        }
        if let Some(upload) = &mut self.upload {
            upload.wait_for_capacity(WRITE_CONCURRENCY).await?;
            upload.put(bytes);
            return Ok(());
        }
        self.pending_len += bytes.len();
        self.pending.push(bytes);
        if self.pending_len >= self.part_size {
            let multipart = self.store.put_multipart(&self.path).await?;
            let mut upload = WriteMultipart::new_with_chunk_size(multipart, self.part_size);
            for piece in self.pending.drain(..) {
                upload.put(piece);
            }
            self.upload = Some(upload);
        }
        Ok(())
    }

    /// Makes the blob durable (per the store's fsync setting) and returns its size.
    pub async fn finish(self) -> Result<u64, BlobError> {
        if self.written != self.len {
            self.abort().await;
            return Err(BlobError::Io(std::io::Error::other(
                "the blob is shorter than declared",
            )));
        }
        if let Some(s) = self.streaming {
            s.outcome().await?;
            return Ok(self.written);
        }
        match self.upload {
            Some(upload) => {
                upload.finish().await?;
            }
            None => {
                let payload: PutPayload = self.pending.into_iter().collect();
                self.store.put(&self.path, payload).await?;
            }
        }
        Ok(self.written)
    }

    pub async fn abort(self) {
        if let Some(s) = self.streaming {
            // A PUT cut short stores nothing.
            s.task.abort();
        }
        if let Some(upload) = self.upload {
            let _ = upload.abort().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unfinished_write_is_invisible_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path(), false).unwrap();
        let name = BlobStore::new_name();
        let mut w = store.writer(&name, LOCAL_PART_SIZE as u64 + 2);
        w.write(Bytes::from(vec![7u8; LOCAL_PART_SIZE + 1]))
            .await
            .unwrap();
        std::mem::forget(w); // as if the process died mid-write
        assert!(store.read(&name, 0..1).await.is_err());
        let long_ago = SystemTime::UNIX_EPOCH;
        assert_eq!(
            store.sweep_interrupted_writes(long_ago).await.unwrap(),
            0,
            "files written after the cut-off are a live process's"
        );
        let now = SystemTime::now() + std::time::Duration::from_secs(1);
        assert!(store.sweep_interrupted_writes(now).await.unwrap() >= 1);
        assert_eq!(store.sweep_interrupted_writes(now).await.unwrap(), 0);
    }

    #[test]
    fn errors_are_sorted_by_what_can_be_done() {
        let refused = object_store::Error::PermissionDenied {
            path: "x".into(),
            source: "403".into(),
        };
        assert!(matches!(classify(refused), BlobError::Refused(_)));
        let xml = "Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        let missing = object_store::Error::Generic {
            store: "S3",
            source: xml.into(),
        };
        let BlobError::Refused(text) = classify(missing) else {
            panic!("a missing bucket is a refusal")
        };
        assert!(
            text.ends_with("404 Not Found: NoSuchBucket: The specified bucket does not exist"),
            "{text}"
        );
        let busy = object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 503 Service Unavailable: SlowDown".into(),
        };
        assert!(matches!(classify(busy), BlobError::Unavailable(_)));
    }
}
