//! [`AssociationLog`]: the durable, append-only log of every association event
//! ([`AssociationEvent`]: ADT messages, explicit associations and their ends, device
//! placements), replayed into the `AssociationHub` at start.
//!
//! ```text
//! <dir>/associations.log     one event per line:  <crc32 of the JSON, 8 hex digits> <JSON>\n
//! ```
//!
//! - [`AssociationLog::append`] returns only once the line is fsynced: the ADT listener sends its
//!   `AA` after that, never before. Creating the file fsyncs it and its directory.
//! - [`AssociationLog::open`] reads every line back ([`LogReplay`]). The **last** line, when it
//!   has no newline or fails its CRC, is what a crash in the middle of an append leaves: it was
//!   never acknowledged, so it is cut off (the file is truncated to the end of the line before)
//!   and reported in [`LogReplay::torn`]. Any **other** bad line (CRC mismatch, bad framing, or
//!   JSON that is not an event) is corruption after the fact: it is skipped, kept in the file,
//!   and reported in [`LogReplay::corrupt`] with its line number — never silently.
//! - A failed append (disk full…) truncates the partial line away; if even that fails, the log
//!   refuses further appends ([`LogError::Failed`]) until it is reopened.
//!
//! Design: JSON lines keep the log readable with `jq` and `grep` (`cut -c10- associations.log |
//! jq .`); the events are few (a 2,000-bed hospital sends about 10,000 ADT messages a day).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use wardstream_pipeline::association::AssociationEvent;

use crate::wal::WalError;
use crate::wal::segment::{create_dir_durable, sync_dir};

/// Why the log cannot be opened or appended to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A filesystem operation failed.
    #[error("association log: {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The log directory could not be created.
    #[error("association log directory: {0}")]
    Directory(#[from] WalError),
    /// The event could not be encoded as JSON.
    #[error("association log: cannot encode the event: {0}")]
    Encode(#[from] serde_json::Error),
    /// An earlier append failed and its partial line could not be removed: reopen the log.
    #[error("association log {}: an earlier append failed and could not be undone; reopen the log", path.display())]
    Failed {
        /// The log file.
        path: PathBuf,
    },
}

fn io_error<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> LogError + 'p {
    move |source| LogError::Io { op, path: path.to_path_buf(), source }
}

/// A line skipped at replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptLine {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of its start.
    pub offset: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// The incomplete last line a crash left, cut off at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// Where it started (the file's new length).
    pub offset: u64,
    /// The bytes removed, for the log message.
    pub bytes: Vec<u8>,
}

/// What [`AssociationLog::open`] read back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogReplay {
    /// Every event, in the order appended.
    pub events: Vec<AssociationEvent>,
    /// Lines skipped because they are corrupt (each reported; they stay in the file).
    pub corrupt: Vec<CorruptLine>,
    /// The torn last line, if one was cut off.
    pub torn: Option<TornLine>,
}

#[derive(Debug)]
struct Writer {
    file: File,
    /// Bytes of complete lines: where the next line starts.
    len: u64,
    failed: bool,
}

/// The association log (see the module docs). Shareable: appends are serialised internally.
#[derive(Debug)]
pub struct AssociationLog {
    path: PathBuf,
    writer: Mutex<Writer>,
}

impl AssociationLog {
    /// The file name inside the log directory.
    pub const FILE_NAME: &'static str = "associations.log";

    /// Opens (or creates) the log in `dir` and reads every event back.
    pub fn open(dir: &Path) -> Result<(AssociationLog, LogReplay), LogError> {
        create_dir_durable(dir)?;
        let path = dir.join(Self::FILE_NAME);
        let created = !path.exists();
        let mut file =
            OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io_error("open", &path))?;
        if created {
            file.sync_all().map_err(io_error("fsync", &path))?;
            sync_dir(dir).map_err(io_error("fsync directory", dir))?;
        }
        let (replay, len) = read_all(&mut file, &path)?;
        if replay.torn.is_some() {
            file.set_len(len).map_err(io_error("truncate torn tail of", &path))?;
            file.sync_all().map_err(io_error("fsync", &path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_error("seek", &path))?;
        let writer = Mutex::new(Writer { file, len, failed: false });
        Ok((AssociationLog { path, writer }, replay))
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event`; when this returns `Ok` the event is durable (written and fsynced).
    pub fn append(&self, event: &AssociationEvent) -> Result<(), LogError> {
        let line = encode_line(event)?;
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if w.failed {
            return Err(LogError::Failed { path: self.path.clone() });
        }
        let written = w.file.write_all(&line).and_then(|()| w.file.sync_data());
        match written {
            Ok(()) => {
                w.len += line.len() as u64;
                Ok(())
            }
            Err(source) => {
                let len = w.len;
                if w.file.set_len(len).and_then(|()| w.file.sync_data()).is_err() {
                    w.failed = true;
                }
                Err(LogError::Io { op: "append to", path: self.path.clone(), source })
            }
        }
    }
}

/// `<crc32 hex> <json>\n`.
fn encode_line(event: &AssociationEvent) -> Result<Vec<u8>, LogError> {
    let json = serde_json::to_vec(event)?;
    let mut line = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
    line.extend_from_slice(&json);
    line.push(b'\n');
    Ok(line)
}

/// A line's event, or why it is not one; `Err((framing_ok, reason))`, where `framing_ok` means
/// the CRC matched (so the line was written whole).
fn decode_line(line: &[u8]) -> Result<AssociationEvent, (bool, String)> {
    let (Some(crc), Some(b' '), Some(json)) = (line.get(..8), line.get(8), line.get(9..)) else {
        return Err((false, format!("too short for a framed line ({} bytes)", line.len())));
    };
    let crc = std::str::from_utf8(crc)
        .ok()
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or_else(|| (false, "the CRC is not 8 hex digits".to_string()))?;
    let actual = crc32fast::hash(json);
    if actual != crc {
        return Err((false, format!("CRC mismatch (stored {crc:08x}, computed {actual:08x})")));
    }
    serde_json::from_slice(json).map_err(|e| (true, format!("not an association event: {e}")))
}

/// Reads every line; returns the replay and the length of the file without a torn tail.
fn read_all(file: &mut File, path: &Path) -> Result<(LogReplay, u64), LogError> {
    file.seek(SeekFrom::Start(0)).map_err(io_error("seek", path))?;
    let mut reader = BufReader::new(&*file);
    let mut replay = LogReplay::default();
    let (mut offset, mut number) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io_error("read", path))?;
        if n == 0 {
            return Ok((replay, offset));
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let body = if complete { line.get(..line.len() - 1).unwrap_or_default() } else { &line[..] };
        let decoded = decode_line(body);
        let at_end = reader.fill_buf().map_err(io_error("read", path))?.is_empty();
        if at_end && (!complete || matches!(decoded, Err((false, _)))) {
            replay.torn = Some(TornLine { offset, bytes: line.clone() });
            return Ok((replay, offset));
        }
        match decoded {
            Ok(event) => replay.events.push(event),
            Err((_, reason)) => replay.corrupt.push(CorruptLine { line: number, offset, reason }),
        }
        offset += n as u64;
    }
}

#[cfg(test)]
#[path = "association_log_tests.rs"]
mod tests;
