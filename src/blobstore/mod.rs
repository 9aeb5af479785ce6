//! Sealed blobs on an `object_store` backend: opaque naming, streaming writes with bounded
//! memory, ranged streaming reads, deletes, and cleanup of half-written local files.

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

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error("blob {0} is missing")]
    Missing(String),
}

/// Bytes buffered before a blob switches from one PUT to a streamed multipart write, and
/// the part size after. Local files take parts of any size; small parts keep a request's
/// buffers few enough to be reused while still in cache. (A remote store would need S3's
/// 5 MiB minimum part size.)
pub const WRITE_BUFFER: usize = 1024 * 1024;
/// Parts of one blob in flight at once.
pub const WRITE_CONCURRENCY: usize = 2;

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for the local backend, whose interrupted writes leave staging files behind.
    local_root: Option<PathBuf>,
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
        })
    }

    /// A fresh opaque blob name: never derived from user keys, fanned out over 256 directories.
    pub fn new_name() -> String {
        let id = crate::crypto::random_id();
        format!("{}/{}", &id[..2], id)
    }

    pub fn writer(&self, name: &str) -> BlobWriter {
        BlobWriter {
            store: self.store.clone(),
            path: Path::from(name),
            pending: Vec::new(),
            pending_len: 0,
            upload: None,
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
                e => BlobError::Store(e),
            })?;
        let range = result.range.clone();
        match result.payload {
            GetResultPayload::File(file, _) => Ok(read_file_range(file, range)),
            GetResultPayload::Stream(stream) => Ok(stream.map_err(BlobError::from).boxed()),
        }
    }

    /// Deletes a blob; one that is already gone counts as deleted.
    pub async fn delete(&self, name: &str) -> Result<(), BlobError> {
        match self.store.delete(&Path::from(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes staging files (`name#N`) of writes that a killed process left in a local
    /// blob directory: those last modified before `before` (this process's start), so
    /// writes of this process are never touched.
    pub async fn sweep_interrupted_writes(&self, before: SystemTime) -> Result<usize, BlobError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || sweep_staging_files(&root, before))
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
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

/// Writes one blob. Small blobs go in one PUT; larger ones stream as a multipart write so
/// memory stays at a few buffers whatever the size. Nothing is visible under the name
/// until `finish` returns.
pub struct BlobWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// Pieces held until the blob is known to be small (one PUT) or large (multipart).
    pending: Vec<Bytes>,
    pending_len: usize,
    upload: Option<WriteMultipart>,
    written: u64,
}

impl BlobWriter {
    /// Takes ownership of `bytes`: pieces are passed on without copying.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        self.written += bytes.len() as u64;
        if let Some(upload) = &mut self.upload {
            upload.wait_for_capacity(WRITE_CONCURRENCY).await?;
            upload.put(bytes);
            return Ok(());
        }
        self.pending_len += bytes.len();
        self.pending.push(bytes);
        if self.pending_len >= WRITE_BUFFER {
            let multipart = self.store.put_multipart(&self.path).await?;
            let mut upload = WriteMultipart::new_with_chunk_size(multipart, WRITE_BUFFER);
            for piece in self.pending.drain(..) {
                upload.put(piece);
            }
            self.upload = Some(upload);
        }
        Ok(())
    }

    /// Makes the blob durable (per the store's fsync setting) and returns its size.
    pub async fn finish(self) -> Result<u64, BlobError> {
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
        if let Some(upload) = self.upload {
            let _ = upload.abort().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(store: &BlobStore, name: &str, range: Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = store.read(name, range).await.unwrap();
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn small_and_large_blobs_round_trip_with_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path(), false).unwrap();
        for size in [0usize, 10, WRITE_BUFFER + 12345] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let name = BlobStore::new_name();
            let mut w = store.writer(&name);
            for piece in data.chunks(100_000) {
                w.write(Bytes::copy_from_slice(piece)).await.unwrap();
            }
            assert_eq!(w.finish().await.unwrap(), size as u64);
            if size > 0 {
                assert_eq!(read_all(&store, &name, 0..size as u64).await, data);
                let mid = size as u64 / 2;
                assert_eq!(
                    read_all(&store, &name, mid..size as u64).await,
                    data[mid as usize..]
                );
            }
            store.delete(&name).await.unwrap();
            store.delete(&name).await.unwrap();
            assert!(matches!(
                store.read(&name, 0..1).await,
                Err(BlobError::Missing(_))
            ));
        }
    }

    #[tokio::test]
    async fn an_unfinished_write_is_invisible_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path(), false).unwrap();
        let name = BlobStore::new_name();
        let mut w = store.writer(&name);
        w.write(Bytes::from(vec![7u8; WRITE_BUFFER + 1]))
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
}
