//! Files written so that a crash leaves either the old contents or the new, whole.

use std::path::Path;

/// Temp file (0600) + fsync + rename + directory fsync: after a crash the file holds either
/// the old state or the new one, whole.
pub(crate) fn write_atomically(path: &Path, contents: &[u8], fsync: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    if fsync {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if fsync {
        std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()?;
    }
    Ok(())
}
