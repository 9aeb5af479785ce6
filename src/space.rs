//! Free space on the data directory's filesystem, and the reserve that keeps the gateway
//! able to delete when that filesystem is full.
//!
//! The reserve is a real file (`space-reserve`, filled, not sparse). While it is in place,
//! writes of object data are admitted as long as they fit in the space left. When the
//! filesystem runs out anyway (another process filled it, or admitted writes raced), the
//! reserve file is removed: its space is what the catalog and the audit log need to record
//! deletes and reads. From then on new object data is refused until deletes (or the
//! operator) have freed twice the reserve, when the file is put back.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Space a write leaves free besides its own bytes: its catalog rows, audit records.
const SLACK: u64 = 1024 * 1024;

/// The file holding the reserve, in the data directory.
pub const RESERVE_FILE: &str = "space-reserve";

/// New object data cannot be stored: the data directory's filesystem is (nearly) full.
#[derive(Debug, thiserror::Error)]
#[error("the data directory's filesystem is full")]
pub struct DiskFull;

#[derive(Debug)]
pub struct DiskSpace {
    dir: PathBuf,
    /// A local blob directory on another filesystem than `dir`, which object data fills.
    other_blob_fs: Option<PathBuf>,
    reserve: u64,
    /// The reserve file is gone and not yet restored: writes are refused.
    released: AtomicBool,
}

impl DiskSpace {
    /// Takes stock of data directory `dir` at start-up: removes the reserve file when the
    /// filesystem is full (start-up itself writes), else puts it in place if missing.
    /// `local_blobs` is the blob directory of the local backend.
    pub fn open(dir: &Path, local_blobs: Option<&Path>, reserve_bytes: u64) -> Arc<DiskSpace> {
        use std::os::unix::fs::MetadataExt as _;
        let device = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
        let other_blob_fs = local_blobs
            .filter(|b| device(b) != device(dir))
            .map(Path::to_owned);
        let space = Arc::new(DiskSpace {
            dir: dir.to_owned(),
            other_blob_fs,
            reserve: reserve_bytes,
            released: AtomicBool::new(false),
        });
        if reserve_bytes > 0 {
            let in_place = std::fs::metadata(space.file()).is_ok_and(|m| m.len() == reserve_bytes);
            space.released.store(!in_place, Ordering::SeqCst);
            space.check();
        }
        space
    }

    fn file(&self) -> PathBuf {
        self.dir.join(RESERVE_FILE)
    }

    /// Bytes the data directory's filesystem still gives an unprivileged writer.
    pub fn available(&self) -> Option<u64> {
        available(&self.dir)
    }

    /// Whether `incoming` bytes of new object data may be written now (`incoming` is 0
    /// when blobs go to a remote store: the write still adds catalog rows here).
    pub fn admit(&self, incoming: u64) -> Result<(), DiskFull> {
        if self.released.load(Ordering::SeqCst) {
            return Err(DiskFull);
        }
        let fits = |dir: &Path, need: u64| available(dir).is_none_or(|free| free >= need);
        let admitted = match &self.other_blob_fs {
            Some(blobs) => fits(&self.dir, SLACK) && fits(blobs, incoming),
            None => fits(&self.dir, incoming.saturating_add(SLACK)),
        };
        if admitted { Ok(()) } else { Err(DiskFull) }
    }

    /// Gives up the reserve when the filesystem is out of space, and takes it back once
    /// deletes freed enough. Cheap (one statfs); called periodically and after a write
    /// ran out of space.
    pub fn check(&self) {
        if self.reserve == 0 {
            return;
        }
        let Some(free) = self.available() else {
            return;
        };
        let released = self.released.load(Ordering::SeqCst);
        if !released && free < SLACK {
            match std::fs::remove_file(self.file()) {
                Ok(()) => tracing::warn!(
                    reserve_bytes = self.reserve,
                    "the data directory's filesystem is full: released the space reserve so \
                     deletes can be recorded; new object data is refused until space is freed"
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(error = %e, "could not release the space reserve"),
            }
            self.released.store(true, Ordering::SeqCst);
        } else if released && free >= self.reserve.saturating_mul(2).saturating_add(SLACK) {
            match self.fill_reserve() {
                Ok(()) => {
                    self.released.store(false, Ordering::SeqCst);
                    tracing::info!(
                        reserve_bytes = self.reserve,
                        "space reserve in place: new object data is accepted"
                    );
                }
                Err(e) => {
                    let _ = std::fs::remove_file(self.file());
                    tracing::warn!(error = %e, "could not put the space reserve in place");
                }
            }
        }
    }

    /// Writes the reserve file with real blocks (a sparse file would reserve nothing):
    /// allocated at once where the filesystem can, else written.
    fn fill_reserve(&self) -> std::io::Result<()> {
        let mut file = File::create(self.file())?;
        let allocated =
            rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, self.reserve);
        if allocated.is_ok() {
            return file.sync_all();
        }
        let zeros = vec![0u8; 1024 * 1024];
        let mut left = self.reserve;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.sync_all()
    }
}

/// Bytes the filesystem of `dir` still gives an unprivileged writer; `None` if it cannot say.
fn available(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Whether an I/O error is the filesystem (or the user's quota) being full.
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.raw_os_error() == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

/// Whether any error in `e`'s chain is running out of space.
pub fn caused_by_full_disk(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if is_out_of_space(io) {
                return true;
            }
            // An I/O error wrapping another names it through `get_ref`, not `source`.
            if let Some(inner) = io.get_ref()
                && caused_by_full_disk(inner)
            {
                return true;
            }
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_real_file_and_admits_while_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::open(dir.path(), None, 2 * 1024 * 1024);
        let meta = std::fs::metadata(dir.path().join(RESERVE_FILE)).unwrap();
        assert_eq!(meta.len(), 2 * 1024 * 1024);
        use std::os::unix::fs::MetadataExt as _;
        assert!(
            meta.blocks() * 512 >= meta.len(),
            "the reserve must not be sparse"
        );
        assert!(space.admit(1024).is_ok());
        assert!(
            space.admit(u64::MAX / 2).is_err(),
            "more than the disk holds"
        );
        assert!(
            !space.released.load(Ordering::SeqCst),
            "the reserve is in place"
        );
    }

    #[test]
    fn no_reserve_means_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::open(dir.path(), None, 0);
        assert!(!dir.path().join(RESERVE_FILE).exists());
        assert!(space.admit(1024).is_ok());
    }

    #[test]
    fn out_of_space_is_recognised_through_wrappers() {
        let full = std::io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error());
        assert!(is_out_of_space(&full));
        let wrapped = std::io::Error::other(full);
        assert!(caused_by_full_disk(&wrapped));
        assert!(!caused_by_full_disk(&std::io::Error::other("other")));
    }
}
