//! Start-up: `scan` reads every segment that may hold records after the checkpoint, cuts torn
//! tails, reports corrupt regions and finds the next LSN; [`Replay`] then yields the intact
//! records after the checkpoint, in LSN order, one segment in memory at a time.
//!
//! Design: the scan at open reads everything once so that the [`ReplayReport`] is complete
//! before the first record is replayed (the caller can log it, and the LSN counter is known);
//! [`Replay`] reads the segments again lazily and applies the same deterministic
//! [`Scanner`], so it yields exactly the records the report counted.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::{Lsn, WalError};
use super::record::{ScanItem, Scanner};

/// One intact record, as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// Its LSN.
    pub lsn: Lsn,
    /// The body given to [`Wal::append`](crate::wal::Wal::append).
    pub body: Vec<u8>,
}

/// A partial record at the end of a segment (a crash mid-write), cut from the file at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Where the tail started (the file's length now).
    pub offset: u64,
    /// Bytes cut.
    pub bytes_cut: u64,
}

/// Bytes in the middle of a segment that are not an intact record (CRC mismatch) while intact
/// records follow: skipped, reported and counted, never silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRegion {
    /// The segment file.
    pub segment: PathBuf,
    /// Offset of the first bad byte.
    pub offset: u64,
    /// Length of the bad region.
    pub bytes: u64,
    /// The LSNs lost with it (first, last), when the records around it show a gap.
    pub lsns: Option<(Lsn, Lsn)>,
}

/// What the scan at open found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Replay yields records with LSNs above this (0: no checkpoint).
    pub checkpoint: Lsn,
    /// The checkpoint file was damaged and ignored: everything on disk is replayed.
    pub checkpoint_corrupt: bool,
    /// Segments scanned (those that may hold records after the checkpoint).
    pub segments: usize,
    /// Intact records after the checkpoint: exactly what [`Replay`] yields.
    pub records: u64,
    /// Highest intact LSN seen, if any.
    pub last_lsn: Option<Lsn>,
    /// The LSN the next append gets.
    pub next_lsn: Lsn,
    /// Torn tails cut.
    pub torn_tails: Vec<TornTail>,
    /// Corrupt regions skipped.
    pub corrupt: Vec<CorruptRegion>,
}

/// Scans the `segments` (sorted by first LSN) that may hold records after `checkpoint`; cuts
/// torn tails. Returns the report and the segments to replay.
pub(crate) fn scan(
    segments: &[(Lsn, PathBuf)],
    checkpoint: Lsn,
) -> Result<(ReplayReport, VecDeque<(Lsn, PathBuf)>), WalError> {
    let mut report = ReplayReport { checkpoint, ..ReplayReport::default() };
    let mut to_replay = VecDeque::new();
    let mut highest_name = 0;
    for (i, (first, path)) in segments.iter().enumerate() {
        highest_name = highest_name.max(*first);
        // Every record of a segment is below the next segment's first LSN.
        if segments.get(i + 1).is_some_and(|(next, _)| next.saturating_sub(1) <= checkpoint) {
            continue;
        }
        report.segments += 1;
        to_replay.push_back((*first, path.clone()));
        let bytes = fs::read(path).map_err(|e| WalError::io("read segment", path, e))?;
        // What a crashed process wrote may still be only in the page cache: make it durable
        // before anything is replayed (and perhaps checkpointed) from it.
        let file = fs::File::open(path).map_err(|e| WalError::io("open segment", path, e))?;
        file.sync_all().map_err(|e| WalError::io("fsync", path, e))?;
        for item in Scanner::new(&bytes, *first) {
            match item {
                ScanItem::Record { lsn, .. } => {
                    report.last_lsn = Some(lsn);
                    report.records += u64::from(lsn > checkpoint);
                }
                ScanItem::Corrupt { offset, bytes, lsns } => {
                    report.corrupt.push(CorruptRegion { segment: path.clone(), offset, bytes, lsns });
                }
                ScanItem::TornTail { offset, bytes } => {
                    cut_tail(path, offset)?;
                    report.torn_tails.push(TornTail { segment: path.clone(), offset, bytes_cut: bytes });
                }
            }
        }
    }
    let after_records = report.last_lsn.map_or(1, |l| l.saturating_add(1));
    // A segment's name is an LSN the log had reached: never go below it. (If no intact record
    // is left in it, N itself is reused and the file emptied when the next segment is created.)
    report.next_lsn = after_records.max(checkpoint.saturating_add(1)).max(highest_name);
    Ok((report, to_replay))
}

/// Truncates a torn tail and makes the new length durable.
fn cut_tail(path: &Path, offset: u64) -> Result<(), WalError> {
    let file = OpenOptions::new().write(true).open(path).map_err(|e| WalError::io("truncate", path, e))?;
    file.set_len(offset).map_err(|e| WalError::io("truncate", path, e))?;
    file.sync_all().map_err(|e| WalError::io("fsync", path, e))
}

/// The intact records after the checkpoint, in LSN order (an iterator). Finish it before the
/// first [`Wal::checkpoint`](crate::wal::Wal::checkpoint), which may delete its segments.
#[derive(Debug)]
pub struct Replay {
    report: ReplayReport,
    segments: VecDeque<(Lsn, PathBuf)>,
    bytes: Vec<u8>,
    records: VecDeque<(Lsn, std::ops::Range<usize>)>,
}

impl Replay {
    pub(crate) fn new(report: ReplayReport, segments: VecDeque<(Lsn, PathBuf)>) -> Replay {
        Replay { report, segments, bytes: Vec::new(), records: VecDeque::new() }
    }

    /// What the scan at open found (torn tails, corrupt regions, counts, next LSN).
    pub fn report(&self) -> &ReplayReport {
        &self.report
    }
}

impl Iterator for Replay {
    type Item = Result<WalRecord, WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((lsn, range)) = self.records.pop_front() {
                let body = self.bytes.get(range).map(<[u8]>::to_vec).unwrap_or_default();
                return Some(Ok(WalRecord { lsn, body }));
            }
            let (first, path) = self.segments.pop_front()?;
            self.bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => return Some(Err(WalError::io("read segment", path, e))),
            };
            // Only what the scan at open counted: a segment file reused by a new append (one
            // left without intact records) may already hold records of this run.
            let (after, before) = (self.report.checkpoint, self.report.next_lsn);
            self.records = Scanner::new(&self.bytes, first)
                .filter_map(|item| match item {
                    ScanItem::Record { lsn, body, .. } if lsn > after && lsn < before => Some((lsn, body)),
                    _ => None,
                })
                .collect();
        }
    }
}
