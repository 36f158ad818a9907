//! Helpers shared by the `wal_*` test binaries: opening a log, draining a replay, listing
//! segment files, and a switchable [`FaultInjector`].

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wardstream_storage::wal::{FaultInjector, IoOp, Lsn, Replay, Wal, WalConfig};

/// A log in `dir` with `segment_bytes`-byte segments and a 1 ms group commit.
pub fn config(dir: &Path, segment_bytes: u64) -> WalConfig {
    WalConfig { segment_bytes, ..WalConfig::test_config(dir) }
}

/// Every replayed record as (LSN, body).
pub fn drain(replay: Replay) -> Vec<(Lsn, Vec<u8>)> {
    replay.map(|r| r.map(|r| (r.lsn, r.body))).collect::<Result<_, _>>().unwrap()
}

/// Opens the log and replays it.
pub fn reopen(config: &WalConfig) -> (Wal, Vec<(Lsn, Vec<u8>)>) {
    let (wal, replay) = Wal::open(config.clone()).unwrap();
    (wal, drain(replay))
}

/// The segment files in `dir`, sorted by name.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// The first LSNs named by the segment files in `dir`.
pub fn segment_firsts(dir: &Path) -> Vec<Lsn> {
    segment_files(dir).iter().map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap()).collect()
}

/// `body-<i>` padded to `len` bytes.
pub fn body(i: usize, len: usize) -> Vec<u8> {
    let mut b = format!("body-{i}-").into_bytes();
    b.resize(len, b'.');
    b
}

/// Fails the operations currently switched on (every time) with an I/O error.
#[derive(Debug, Default)]
pub struct Switch {
    failing: Mutex<HashSet<IoOp>>,
    pub hits: Mutex<Vec<IoOp>>,
}

impl Switch {
    pub fn fail(&self, op: IoOp) {
        self.failing.lock().unwrap().insert(op);
    }
    pub fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }
}

impl FaultInjector for Switch {
    fn before(&self, op: IoOp, _path: &Path) -> std::io::Result<()> {
        if self.failing.lock().unwrap().contains(&op) {
            self.hits.lock().unwrap().push(op);
            return Err(std::io::Error::other(format!("injected {op:?} failure")));
        }
        Ok(())
    }
}
