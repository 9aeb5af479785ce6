//! Walking a chain: the whole log for `verify`, the newest files for `AuditLog::open`.

use std::io::BufRead as _;
use std::path::Path;

use super::format::{
    self, HEAD_FILE, Head, LineFault, Mac, Macer, ZERO_MAC, log_file_name, log_file_number,
};
use super::{AuditError, AuditKey};

/// What `verify` found. The chain is intact when `first_break` is None.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Log files walked (up to the break, if any).
    pub files: usize,
    /// Records verified before the first break.
    pub records: u64,
    pub first_break: Option<Break>,
    /// An unterminated final line: an append cut short by a crash. It was never
    /// acknowledged, so it is not a break; the next `AuditLog::open` removes it.
    pub torn_tail: Option<TornTail>,
}

/// The first point from which the log cannot vouch for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// A name in the audit directory: the log file, or `HEAD`.
    pub file: String,
    /// 1-based line within `file`, when the break is at a line.
    pub line: Option<u64>,
    /// The first seq the chain cannot vouch for.
    pub seq: u64,
    pub reason: BreakReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// Not a well-formed record line.
    Malformed(&'static str),
    /// The MAC does not match: the record was altered, or written under another key.
    BadMac,
    /// An authentic record with an unexpected seq: records deleted, reordered or repeated.
    SeqMismatch { found: u64 },
    /// An authentic record whose `prev` is not the MAC of the record before it.
    PrevMismatch,
    /// A line without its newline anywhere but at the end of the last file.
    TornLine,
    /// A gap in the file numbering.
    MissingFile,
    /// Records exist but the HEAD checkpoint does not.
    HeadMissing,
    /// HEAD is unreadable or its MAC fails.
    HeadInvalid(&'static str),
    /// The log ends before the record HEAD vouches for: its tail was cut off.
    RecordsMissing { head_seq: u64 },
    /// The record at HEAD's seq is not the one HEAD vouches for.
    HeadMismatch,
}

impl std::fmt::Display for BreakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakReason::Malformed(why) => write!(f, "malformed record: {why}"),
            BreakReason::BadMac => f.write_str(
                "MAC mismatch: the record was altered, or the log was written under another root key",
            ),
            BreakReason::SeqMismatch { found } => write!(
                f,
                "found seq {found}: records were deleted, reordered or repeated"
            ),
            BreakReason::PrevMismatch => {
                f.write_str("prev is not the MAC of the record before: the chain was spliced")
            }
            BreakReason::TornLine => f.write_str("incomplete line before the end of the log"),
            BreakReason::MissingFile => f.write_str("log file missing"),
            BreakReason::HeadMissing => f.write_str("the HEAD checkpoint is missing"),
            BreakReason::HeadInvalid(why) => write!(f, "the HEAD checkpoint is invalid: {why}"),
            BreakReason::RecordsMissing { head_seq } => write!(
                f,
                "the log ends before seq {head_seq}, which HEAD vouches for: its tail was removed"
            ),
            BreakReason::HeadMismatch => {
                f.write_str("HEAD vouches for a different record at this seq")
            }
        }
    }
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{} line {line}, seq {}: {}",
                self.file, self.seq, self.reason
            ),
            None => write!(f, "{}, seq {}: {}", self.file, self.seq, self.reason),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: String,
    /// Length of the unterminated line.
    pub bytes: u64,
    /// The last complete record before it.
    pub after_seq: u64,
}

/// Verifies the whole log in `dir` under `key`.
pub fn verify(dir: &Path, key: &AuditKey) -> Result<VerifyReport, AuditError> {
    check_dir(dir, &Macer::new(key), |_| None).map(|c| c.report)
}

/// A whole log checked, with what a fleet verification compares with its anchor.
pub(super) struct Checked {
    pub report: VerifyReport,
    pub head: HeadState,
    /// The last record verified (before the break, if any).
    pub last: Chain,
    /// The record at the extra seq asked for, when the walk reached it.
    pub extra: Option<Found>,
}

/// Verifies the whole log in `dir`; `extra` may name one more seq (chosen once HEAD is
/// read) whose record MAC and file are wanted.
pub(super) fn check_dir(
    dir: &Path,
    macer: &Macer,
    extra: impl FnOnce(&HeadState) -> Option<u64>,
) -> Result<Checked, AuditError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(AuditError::NotFound(dir.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AuditError::NotFound(dir.to_owned()));
        }
        Err(e) => return Err(AuditError::io(dir)(e)),
    }
    // HEAD before the files: the writer replaces HEAD only once the records it names are
    // durable, so a log being appended to while we read never looks truncated.
    let head = read_head(dir, macer)?;
    let extra = extra(&head);
    let want: Vec<u64> = head_seq(&head).into_iter().chain(extra).collect();
    let files = list_log_files(dir)?;
    let walk = walk(macer, dir, &files, Start::Genesis, &want)?;
    let first_break = match &walk.brk {
        Some(b) => Some(b.clone()),
        None => check_head(&head, &walk, &files),
    };
    Ok(Checked {
        extra: extra.and_then(|seq| walk.found(seq)),
        last: walk.last,
        head,
        report: VerifyReport {
            files: walk.files,
            records: walk.records,
            first_break,
            torn_tail: walk.torn,
        },
    })
}

pub(super) type HeadState = Option<Result<Head, LineFault>>;

pub(super) fn head_seq(head: &HeadState) -> Option<u64> {
    match head {
        Some(Ok(h)) => Some(h.seq),
        _ => None,
    }
}

/// The node an authentic HEAD names.
pub(super) fn head_node(head: &HeadState) -> Option<&str> {
    match head {
        Some(Ok(h)) => h.node.as_deref(),
        _ => None,
    }
}

pub(super) fn read_head(dir: &Path, macer: &Macer) -> Result<HeadState, AuditError> {
    let path = dir.join(HEAD_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(format::decode_head(macer, &bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditError::io(&path)(e)),
    }
}

/// The log files in `dir` (exact `audit-NNNNNN.log` names only), by number.
pub(super) fn list_log_files(dir: &Path) -> Result<Vec<(u64, String)>, AuditError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(AuditError::io(dir))? {
        let entry = entry.map_err(AuditError::io(dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(n) = log_file_number(&name).filter(|&n| log_file_name(n) == name) {
            files.push((n, name));
        }
    }
    files.sort_unstable();
    Ok(files)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chain {
    pub seq: u64,
    pub mac: Mac,
}

pub(super) enum Start {
    /// From the first record ever: seq 1, prev zeros, files numbered from 1.
    Genesis,
    /// From wherever the given files begin; the first record is taken as it stands once
    /// its MAC checks (used to check the newest files without reading the whole log).
    Anywhere,
}

/// A record a walk was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub seq: u64,
    pub mac: Mac,
    /// The number of the log file it is in.
    pub file: u64,
}

#[derive(Debug)]
pub(super) struct Walk {
    pub files: usize,
    pub records: u64,
    /// The last verified record (seq 0 and zeros when there is none).
    pub last: Chain,
    /// The number of the file holding `last` (0 when there is none).
    pub last_file: u64,
    /// The seq of the first verified record, if any.
    pub first_seq: Option<u64>,
    /// The records at the seqs asked for that were seen.
    pub found: Vec<Found>,
    /// Bytes of the last file up to its last newline.
    pub last_file_complete_len: u64,
    pub torn: Option<TornTail>,
    pub brk: Option<Break>,
}

impl Walk {
    pub(super) fn found(&self, seq: u64) -> Option<Found> {
        self.found.iter().find(|f| f.seq == seq).copied()
    }
}

/// Walks `files` in order, checking each record and its link to the one before; `want`
/// names seqs whose record MAC (and file) the caller needs.
pub(super) fn walk(
    macer: &Macer,
    dir: &Path,
    files: &[(u64, String)],
    start: Start,
    want: &[u64],
) -> Result<Walk, AuditError> {
    let mut w = Walk {
        files: 0,
        records: 0,
        last: Chain {
            seq: 0,
            mac: ZERO_MAC,
        },
        last_file: 0,
        first_seq: None,
        found: Vec::new(),
        last_file_complete_len: 0,
        torn: None,
        brk: None,
    };
    let genesis = matches!(start, Start::Genesis);
    let first_number = match (genesis, files.first()) {
        (false, Some((n, _))) => *n,
        _ => 1,
    };
    let mut line = Vec::new();
    for (index, (number, name)) in files.iter().enumerate() {
        let want_number = first_number + index as u64;
        if *number != want_number {
            w.brk = Some(Break {
                file: log_file_name(want_number),
                line: None,
                seq: w.last.seq + 1,
                reason: BreakReason::MissingFile,
            });
            return Ok(w);
        }
        w.files += 1;
        let is_last = index + 1 == files.len();
        let path = dir.join(name);
        let file = std::fs::File::open(&path).map_err(AuditError::io(&path))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut line_no = 0u64;
        let mut complete_len = 0u64;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(AuditError::io(&path))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let Some(body) = line.strip_suffix(b"\n") else {
                if is_last {
                    w.torn = Some(TornTail {
                        file: name.clone(),
                        bytes: n as u64,
                        after_seq: w.last.seq,
                    });
                } else {
                    w.brk = Some(Break {
                        file: name.clone(),
                        line: Some(line_no),
                        seq: w.last.seq + 1,
                        reason: BreakReason::TornLine,
                    });
                    return Ok(w);
                }
                break;
            };
            let checked = format::decode_record(macer, body).map_err(|f| match f {
                LineFault::Malformed(why) => BreakReason::Malformed(why),
                LineFault::BadMac => BreakReason::BadMac,
            });
            let anywhere_first = !genesis && w.first_seq.is_none();
            let checked = checked.and_then(|(entry, mac)| {
                if anywhere_first {
                    return Ok((entry.seq, mac));
                }
                if entry.seq != w.last.seq + 1 {
                    return Err(BreakReason::SeqMismatch { found: entry.seq });
                }
                if entry.prev != hex::encode(w.last.mac) {
                    return Err(BreakReason::PrevMismatch);
                }
                Ok((entry.seq, mac))
            });
            match checked {
                Ok((seq, mac)) => {
                    w.last = Chain { seq, mac };
                    w.last_file = *number;
                    w.first_seq.get_or_insert(seq);
                    w.records += 1;
                    complete_len += n as u64;
                    if want.contains(&seq) {
                        w.found.push(Found {
                            seq,
                            mac,
                            file: *number,
                        });
                    }
                }
                Err(reason) => {
                    w.brk = Some(Break {
                        file: name.clone(),
                        line: Some(line_no),
                        seq: w.last.seq + 1,
                        reason,
                    });
                    return Ok(w);
                }
            }
        }
        w.last_file_complete_len = complete_len;
    }
    Ok(w)
}

/// Whether HEAD agrees with a walk that found no break. `walk` must have been asked for
/// the record at HEAD's seq.
pub(super) fn check_head(head: &HeadState, walk: &Walk, files: &[(u64, String)]) -> Option<Break> {
    let at_head = |seq: u64, reason| Break {
        file: HEAD_FILE.into(),
        line: None,
        seq,
        reason,
    };
    let head = match head {
        None if walk.records == 0 => return None,
        None => return Some(at_head(walk.last.seq + 1, BreakReason::HeadMissing)),
        Some(Err(LineFault::BadMac)) => {
            return Some(at_head(
                walk.last.seq + 1,
                BreakReason::HeadInvalid("MAC mismatch"),
            ));
        }
        Some(Err(LineFault::Malformed(why))) => {
            return Some(at_head(walk.last.seq + 1, BreakReason::HeadInvalid(why)));
        }
        Some(Ok(h)) => h,
    };
    if head.seq > walk.last.seq {
        return Some(Break {
            file: files
                .last()
                .map_or_else(|| log_file_name(1), |(_, name)| name.clone()),
            line: None,
            seq: walk.last.seq + 1,
            reason: BreakReason::RecordsMissing { head_seq: head.seq },
        });
    }
    let matches = if head.seq == 0 {
        head.record_mac == ZERO_MAC
    } else if walk.first_seq.is_some_and(|first| head.seq >= first) {
        walk.found(head.seq).map(|f| f.mac) == Some(head.record_mac)
    } else {
        // Before the files this walk read; only a full verify can check it.
        true
    };
    (!matches).then(|| at_head(head.seq, BreakReason::HeadMismatch))
}
