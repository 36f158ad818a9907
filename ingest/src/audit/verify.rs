//! `wardstream audit verify`: walks the whole chain and names the first record that breaks it.
//!
//! Record `n` (1-based line `n`) must have `seq = n`, `prev_hash` equal to the `hash` of record
//! `n - 1` (64 zeros for the first) and a `hash` equal to the SHA-256 of its own fields. So:
//! - an **altered** record fails its own hash check (or, if its hash was recomputed, the next
//!   record's `prev_hash` check);
//! - a **deleted** record shifts every later one: the record after the gap has the wrong `seq`;
//! - **reordered** or **inserted** records break the `seq` or `prev_hash` check where they sit;
//! - records cut off **the end** are caught by the head anchor (`head.json`), which names the last
//!   seq that was durable.
//!
//! An incomplete last line (a crash mid-write) is not a break of the chain: it is reported as a
//! torn tail, which the service cuts off when it next opens the trail.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::AuditError;
use super::record::{AuditRecord, GENESIS_HASH};
use super::trail::{LOG_FILE, audit_dir, read_head};

/// The first record that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRecord {
    /// The sequence number the record at this position should have (= its 1-based line number).
    pub seq: u64,
    /// Why it is broken.
    pub reason: String,
}

impl std::fmt::Display for BrokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record seq {} (line {}): {}", self.seq, self.seq, self.reason)
    }
}

/// An incomplete last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where it starts.
    pub offset: u64,
    /// Its length.
    pub bytes: u64,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Complete records read and checked (up to and including a broken one).
    pub records_checked: u64,
    /// The first broken record, if any.
    pub broken: Option<BrokenRecord>,
    /// An incomplete last line, if any (not a break of the chain).
    pub torn_tail: Option<TornTail>,
}

impl VerifyReport {
    /// No broken record and no torn tail.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none() && self.torn_tail.is_none()
    }
}

/// Checks the audit trail of `data_dir` (see the module doc). A data directory without an audit
/// trail verifies as 0 records.
pub fn verify(data_dir: &Path) -> Result<VerifyReport, AuditError> {
    let dir = audit_dir(data_dir);
    let path = dir.join(LOG_FILE);
    let mut report = VerifyReport::default();
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut hashes_at_head: Option<(u64, String)> = None;
    let head = read_head(&dir)?;
    match File::open(&path) {
        Ok(file) => {
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            let mut offset = 0u64;
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(|e| AuditError::io(&path, e))?;
                if n == 0 {
                    break;
                }
                let Some(body) = line.strip_suffix(b"\n") else {
                    report.torn_tail = Some(TornTail { offset, bytes: n as u64 });
                    break;
                };
                offset += n as u64;
                report.records_checked += 1;
                let expected = report.records_checked;
                if let Some(reason) = check(body, expected, &prev_hash) {
                    report.broken = Some(BrokenRecord { seq: expected, reason });
                    return Ok(report);
                }
                // check() parsed it successfully; parse again only for the hash (cheap).
                if let Ok(r) = AuditRecord::parse(body) {
                    prev_hash = r.hash;
                }
                if head.as_ref().is_some_and(|h| h.seq == expected) {
                    hashes_at_head = Some((expected, prev_hash.clone()));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuditError::io(&path, e)),
    }
    if let Some(head) = head {
        match hashes_at_head {
            None if head.seq > 0 => {
                report.broken = Some(BrokenRecord {
                    seq: report.records_checked + 1,
                    reason: format!(
                        "missing: the log ends at seq {} but head.json anchors seq {} (records {}..={} were removed)",
                        report.records_checked,
                        head.seq,
                        report.records_checked + 1,
                        head.seq
                    ),
                });
            }
            Some((seq, hash)) if hash != head.hash => {
                report.broken = Some(BrokenRecord {
                    seq,
                    reason:
                        "hash differs from the one head.json anchored (the record or the chain before it was rewritten)"
                            .into(),
                });
            }
            _ => {}
        }
    }
    Ok(report)
}

/// Why the record on line `expected` does not fit the chain, if it does not.
fn check(body: &[u8], expected: u64, prev_hash: &str) -> Option<String> {
    let record = match AuditRecord::parse(body) {
        Ok(r) => r,
        Err(e) => return Some(format!("not a valid record: {e}")),
    };
    if record.seq != expected {
        let what = if record.seq > expected {
            format!("record seq {expected} is missing (deleted or moved)")
        } else {
            "a record was inserted or moved here".to_owned()
        };
        return Some(format!("found seq {} where seq {expected} belongs: {what}", record.seq));
    }
    if record.prev_hash != prev_hash {
        return Some(format!(
            "prev_hash does not match the hash of record seq {} (that record was altered, or this one was inserted)",
            expected - 1
        ));
    }
    if record.compute_hash() != record.hash {
        return Some("hash does not match the record's content (altered)".into());
    }
    None
}
