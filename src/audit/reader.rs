//! Reading a chain while it is written: the newest records first, for people looking for
//! something (the console), and the chain's verification as `sealgate audit verify` does it.

use std::io::BufRead as _;
use std::path::PathBuf;

use super::format::{Macer, decode_record};
use super::verify::{VerifyReport, check_dir, list_log_files};
use super::{AuditError, AuditKey, AuditRecord};

/// Reads one node's audit directory; never writes to it.
#[derive(Clone)]
pub struct AuditReader {
    dir: PathBuf,
    macer: Macer,
}

/// A record and its place in the chain.
#[derive(Debug, Clone)]
pub struct NumberedRecord {
    pub seq: u64,
    pub record: AuditRecord,
}

/// One page of matching records, newest first.
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<NumberedRecord>,
    /// Where the next (older) page starts, when the walk stopped before the first record:
    /// the page was full, or `max_scanned` records were read.
    pub next_before: Option<u64>,
    /// Lines whose MAC failed or that were not records: left out, never shown as if
    /// authentic.
    pub unreadable: u64,
}

impl AuditReader {
    pub fn new(dir: PathBuf, key: &AuditKey) -> AuditReader {
        AuditReader {
            dir,
            macer: Macer::new(key),
        }
    }

    /// The whole chain verified: what `sealgate audit verify` reports.
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        check_dir(&self.dir, &self.macer, |_| None).map(|c| c.report)
    }

    /// Records older than seq `before` (all when None) that `wanted` accepts, newest
    /// first: at most `limit`, reading at most `max_scanned` records, one file at a time.
    pub fn newest(
        &self,
        before: Option<u64>,
        wanted: impl Fn(&AuditRecord) -> bool,
        limit: usize,
        max_scanned: usize,
    ) -> Result<Page, AuditError> {
        let mut page = Page::default();
        let mut scanned = 0usize;
        let before = before.unwrap_or(u64::MAX);
        for (_, name) in list_log_files(&self.dir)?.iter().rev() {
            let path = self.dir.join(name);
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                // Files are only ever added; one missing now is reported by verification.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(AuditError::io(&path)(e)),
            };
            let mut entries = Vec::new();
            for line in std::io::BufReader::new(file).split(b'\n') {
                let line = line.map_err(AuditError::io(&path))?;
                match decode_record(&self.macer, &line) {
                    Ok((entry, _)) if entry.seq < before => entries.push(entry),
                    Ok(_) => {}
                    // A torn final line is an append still being written (or cut short).
                    Err(_) if line.last() != Some(&b'}') => {}
                    Err(_) => page.unreadable += 1,
                }
            }
            for entry in entries.into_iter().rev() {
                if page.records.len() == limit || scanned == max_scanned {
                    page.next_before = Some(entry.seq + 1);
                    return Ok(page);
                }
                scanned += 1;
                let seq = entry.seq;
                let record = entry.into_record();
                if wanted(&record) {
                    page.records.push(NumberedRecord { seq, record });
                }
            }
        }
        Ok(page)
    }
}
