//! The writer: appends hash-chained records to `audit/audit.log` and returns only once each is
//! on disk.
//!
//! **Group commit.** Callers append their line to a shared buffer under a mutex (assigning the
//! sequence number and chaining the hash there, so the chain order is the file order); the first
//! caller that finds no flush in progress becomes the leader, writes the whole buffer and
//! `fsync`s it outside the lock, then wakes everyone whose record that flush covered. Under load
//! one `fsync` carries many records; alone, a record costs one `fsync` (plus the head anchor).
//!
//! **Head anchor.** After each flush the last durable `seq` and `hash` go to `audit/head.json`
//! (written to a temporary file, synced, renamed). It is never ahead of the log, so a log shorter
//! than its head means records were cut off the end: [`AuditTrail::open`] refuses such a log and
//! [`super::verify`] names the missing records.
//!
//! **Fail closed.** If a write or `fsync` fails, the records of that flush are not known to be on
//! disk; they and every later `record()` return an error (the trail is closed until the process
//! restarts and [`AuditTrail::open`] re-reads the file), so an access is never served unaudited.
//!
//! **One writer.** Opening a directory's trail twice in one process returns the same trail (one
//! chain); the log is `flock`ed while open, so a second process gets [`AuditError::InUse`].
//!
//! **Torn tail.** A crash during a write can leave an incomplete last line. [`AuditTrail::open`]
//! cuts it off with a WARN naming the byte count (those records were never acknowledged);
//! `wardstream audit verify` run before that reports it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::record::{AuditRecord, GENESIS_HASH};
use super::{AuditEntry, AuditError};

/// The trails open in this process, by audit directory: a second `open` of one directory shares
/// the first one's chain instead of forking it.
static OPEN: std::sync::LazyLock<Mutex<std::collections::HashMap<PathBuf, std::sync::Weak<Inner>>>> =
    std::sync::LazyLock::new(Default::default);

/// The log file inside `<data_dir>/audit/`.
pub const LOG_FILE: &str = "audit.log";
/// The head anchor inside `<data_dir>/audit/`.
pub const HEAD_FILE: &str = "head.json";

/// The last durable record, as anchored in `head.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Sequence number of the last durable record.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// The audit directory of a data directory.
pub fn audit_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

/// What [`AuditTrail::open`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// Complete records in the log.
    pub records: u64,
    /// Bytes of an incomplete last line that were cut off (0 when none).
    pub truncated_bytes: u64,
}

/// The durable, hash-chained audit trail. Cheap to clone; every clone appends to the same chain.
#[derive(Clone)]
pub struct AuditTrail {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail").field("dir", &self.inner.dir).finish()
    }
}

struct Inner {
    dir: PathBuf,
    file: File,
    state: Mutex<State>,
    flushed: Condvar,
}

struct State {
    /// The seq the next record gets.
    next_seq: u64,
    /// Hash of the last record appended to the chain (buffered or durable).
    last_hash: String,
    /// Lines appended but not yet written.
    pending: Vec<u8>,
    /// Highest seq known to be on disk (0: none).
    durable_seq: u64,
    /// A leader is writing and syncing.
    flushing: bool,
    /// Set when a flush failed: the trail accepts nothing more.
    failed: Option<String>,
}

impl AuditTrail {
    /// Opens (creating when absent) the trail of `data_dir`, cutting off a torn last line with a
    /// warning.
    pub fn open(data_dir: &Path) -> Result<AuditTrail, AuditError> {
        Self::open_with_report(data_dir).map(|(trail, _)| trail)
    }

    /// [`AuditTrail::open`], also saying what was found.
    pub fn open_with_report(data_dir: &Path) -> Result<(AuditTrail, OpenReport), AuditError> {
        let dir = audit_dir(data_dir);
        std::fs::create_dir_all(&dir).map_err(|e| AuditError::io(&dir, e))?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| AuditError::io(&dir, e))?;
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, trail| trail.strong_count() > 0);
        if let Some(inner) = open.get(&dir).and_then(std::sync::Weak::upgrade) {
            let records = inner.state.lock().unwrap_or_else(|p| p.into_inner()).next_seq - 1;
            return Ok((AuditTrail { inner }, OpenReport { records, truncated_bytes: 0 }));
        }
        let (trail, report) = Self::open_new(dir.clone())?;
        open.insert(dir, Arc::downgrade(&trail.inner));
        Ok((trail, report))
    }

    fn open_new(dir: PathBuf) -> Result<(AuditTrail, OpenReport), AuditError> {
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| AuditError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AuditError::InUse(path));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                tracing::warn!(error = %e, file = %path.display(), "cannot lock the audit log; another process could append to it at the same time");
            }
        }
        // The new file's (and directory's) name must survive a crash as well as its contents.
        for d in [Some(dir.as_path()), dir.parent()].into_iter().flatten() {
            if let Ok(handle) = File::open(d) {
                handle.sync_all().map_err(|e| AuditError::io(d, e))?;
            }
        }
        let scan = scan_tail(&file, &path)?;
        let mut report = OpenReport { records: scan.records, truncated_bytes: 0 };
        if scan.torn_bytes > 0 {
            tracing::warn!(
                file = %path.display(),
                bytes = scan.torn_bytes,
                after_seq = scan.last.as_ref().map_or(0, |r| r.seq),
                "audit log ends in an incomplete record (an unfinished write before a crash): cutting it off"
            );
            file.set_len(scan.complete_len).map_err(|e| AuditError::io(&path, e))?;
            file.sync_all().map_err(|e| AuditError::io(&path, e))?;
            report.truncated_bytes = scan.torn_bytes;
        }
        let (last_seq, last_hash) = match &scan.last {
            Some(r) => (r.seq, r.hash.clone()),
            None => (0, GENESIS_HASH.to_owned()),
        };
        if let Some(head) = read_head(&dir)?
            && head.seq > last_seq
        {
            return Err(AuditError::Tampered(format!(
                "{} ends at seq {last_seq} but {HEAD_FILE} anchors seq {}: records were removed; run `wardstream audit verify`",
                path.display(),
                head.seq
            )));
        }
        let state = State {
            next_seq: last_seq + 1,
            last_hash,
            pending: Vec::new(),
            durable_seq: last_seq,
            flushing: false,
            failed: None,
        };
        let trail =
            AuditTrail { inner: Arc::new(Inner { dir, file, state: Mutex::new(state), flushed: Condvar::new() }) };
        Ok((trail, report))
    }

    /// Appends one record, hash-chained to the previous, and returns only once it is durable
    /// (fsync). Blocking: async callers use `tokio::task::spawn_blocking`.
    pub fn record(&self, entry: AuditEntry) -> Result<(), AuditError> {
        let mut state = self.lock();
        if let Some(reason) = &state.failed {
            return Err(AuditError::Closed(reason.clone()));
        }
        let mut record = AuditRecord {
            seq: state.next_seq,
            time: now_rfc3339(),
            user: entry.user,
            role: entry.role,
            action: entry.action,
            patient_ids: entry.patient_ids,
            result_count: entry.result_count,
            client: entry.client,
            prev_hash: state.last_hash.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        let seq = record.seq;
        state.pending.extend_from_slice(&record.to_line());
        state.next_seq += 1;
        state.last_hash = record.hash;
        loop {
            if state.durable_seq >= seq {
                return Ok(());
            }
            if let Some(reason) = &state.failed {
                return Err(AuditError::Closed(reason.clone()));
            }
            if state.flushing {
                state = self.inner.flushed.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.flushing = true;
            let buffer = std::mem::take(&mut state.pending);
            let head = Head { seq: state.next_seq - 1, hash: state.last_hash.clone() };
            drop(state);
            let result = self.flush(&buffer, &head);
            state = self.lock();
            state.flushing = false;
            match result {
                Ok(()) => state.durable_seq = head.seq,
                Err(e) => {
                    tracing::error!(error = %e, "audit trail write failed: refusing further records");
                    state.failed = Some(e.to_string());
                }
            }
            self.inner.flushed.notify_all();
        }
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn flush(&self, buffer: &[u8], head: &Head) -> Result<(), AuditError> {
        let path = self.inner.dir.join(LOG_FILE);
        (&self.inner.file).write_all(buffer).map_err(|e| AuditError::io(&path, e))?;
        self.inner.file.sync_data().map_err(|e| AuditError::io(&path, e))?;
        write_head(&self.inner.dir, head)
    }
}

/// The result of reading a log to its end.
pub(super) struct Scan {
    pub records: u64,
    pub last: Option<AuditRecord>,
    pub complete_len: u64,
    pub torn_bytes: u64,
}

/// Reads the log to find its last complete record and any incomplete tail.
fn scan_tail(file: &File, path: &Path) -> Result<Scan, AuditError> {
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut last_line = Vec::new();
    let mut records = 0u64;
    let mut complete_len = 0u64;
    let mut torn_bytes = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| AuditError::io(path, e))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            records += 1;
            complete_len += n as u64;
            std::mem::swap(&mut last_line, &mut line);
        } else {
            torn_bytes = n as u64;
        }
    }
    let last = if records == 0 {
        None
    } else {
        let body = last_line.strip_suffix(b"\n").unwrap_or(&last_line);
        Some(AuditRecord::parse(body).map_err(|e| AuditError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("the last complete record (line {records}) is not a valid record: {e}"),
        })?)
    };
    if let Some(r) = &last
        && r.seq != records
    {
        return Err(AuditError::Tampered(format!(
            "{}: the last record has seq {} on line {records}; run `wardstream audit verify`",
            path.display(),
            r.seq
        )));
    }
    Ok(Scan { records, last, complete_len, torn_bytes })
}

/// The head anchor, when there is one.
pub(super) fn read_head(dir: &Path) -> Result<Option<Head>, AuditError> {
    let path = dir.join(HEAD_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AuditError::Corrupt { path, detail: format!("not a head anchor: {e}") }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditError::io(&path, e)),
    }
}

fn write_head(dir: &Path, head: &Head) -> Result<(), AuditError> {
    let tmp = dir.join("head.json.tmp");
    let bytes =
        serde_json::to_vec(head).map_err(|e| AuditError::Corrupt { path: tmp.clone(), detail: e.to_string() })?;
    let mut file = File::create(&tmp).map_err(|e| AuditError::io(&tmp, e))?;
    file.write_all(&bytes).map_err(|e| AuditError::io(&tmp, e))?;
    file.sync_data().map_err(|e| AuditError::io(&tmp, e))?;
    let path = dir.join(HEAD_FILE);
    std::fs::rename(&tmp, &path).map_err(|e| AuditError::io(&path, e))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
