//! Where files go: `<data_dir>/<table>/date=YYYY-MM-DD/<name>.parquet`, how they are named,
//! and the directory housekeeping around them (creating partition directories durably,
//! removing temp files left by a crash).
//!
//! File names are `part-<unix_micros:016>-<seq:06>-<writer>.parquet`: the creation time in
//! microseconds (zero-padded, so names sort by time), a per-store sequence number (unique
//! within a store even within one microsecond) and a writer id made of the process id and a
//! random number drawn when the store opens (unique across processes and hosts sharing the
//! directory). Temp files are `.<name>.parquet.inprogress` in the same directory: hidden, and
//! not ending in `.parquet`, so the listing table never reads them.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::schema::{PARTITION_COLUMN, Table};

/// Extension of finished files (what the listing table picks up).
pub const PARQUET_EXTENSION: &str = ".parquet";

/// Suffix of files being written.
pub const TEMP_SUFFIX: &str = ".inprogress";

/// The directory of one table: `<data_dir>/<table>`.
pub fn table_dir(data_dir: &Path, table: Table) -> PathBuf {
    data_dir.join(table.name())
}

/// The directory of one partition: `<data_dir>/<table>/date=YYYY-MM-DD`.
pub fn partition_dir(data_dir: &Path, table: Table, date: &str) -> PathBuf {
    table_dir(data_dir, table).join(format!("{PARTITION_COLUMN}={date}"))
}

/// The temp name of a file while it is written: `.<name>.parquet.inprogress`.
pub fn temp_name(file_name: &str) -> String {
    format!(".{file_name}{TEMP_SUFFIX}")
}

/// Names files uniquely for one writer.
#[derive(Debug)]
pub struct FileNamer {
    writer: String,
    seq: u64,
}

impl FileNamer {
    /// A namer with a fresh writer id (process id and a random number).
    pub fn new() -> Self {
        // RandomState is seeded from the OS's randomness per process (and varied per instance).
        let random = RandomState::new().build_hasher().finish() as u32;
        FileNamer { writer: format!("{:08x}{random:08x}", std::process::id()), seq: 0 }
    }

    /// The next file name, `part-<unix_micros:016>-<seq:06>-<writer>.parquet`.
    pub fn next_name(&mut self, now_micros: i64) -> String {
        self.seq += 1;
        format!("part-{:016}-{:06}-{}{PARQUET_EXTENSION}", now_micros.max(0), self.seq, self.writer)
    }
}

impl Default for FileNamer {
    fn default() -> Self {
        Self::new()
    }
}

/// Creates `dir` and any missing parents, fsyncing the parent of each directory it creates so
/// that the new entries survive a power loss. Returns whether anything was created.
pub fn create_dir_durable(dir: &Path) -> Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        // Another writer won the race: the directory exists, which is all we need.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(false),
        Err(e) => return Err(Error::io(dir, e)),
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(true)
}

/// fsyncs a directory, making renames and creations inside it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let handle = fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
    handle.sync_all().map_err(|e| Error::io(dir, e))
}

/// Removes every `*.inprogress` file in the partition directories of `table` (temp files of
/// a writer that crashed mid-file) and returns their paths. Nothing else is touched.
pub fn remove_stale_temp_files(data_dir: &Path, table: Table) -> Result<Vec<PathBuf>> {
    let root = table_dir(data_dir, table);
    let mut removed = Vec::new();
    for dir in subdirs(&root)?.into_iter().chain([root.clone()]) {
        let entries = fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut any = false;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            let is_temp = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(TEMP_SUFFIX));
            if is_temp && entry.file_type().map_err(|e| Error::io(&path, e))?.is_file() {
                match fs::remove_file(&path) {
                    Ok(()) => any = true,
                    // Another process cleaned it up first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(&path, e)),
                }
                removed.push(path);
            }
        }
        if any {
            sync_dir(&dir)?;
        }
    }
    Ok(removed)
}

/// The partition directories (`date=…`) directly under a table directory.
fn subdirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        if entry.file_type().map_err(|e| Error::io(entry.path(), e))?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_sortable_and_parquet() {
        let mut namer = FileNamer::new();
        let a = namer.next_name(1_700_000_000_000_000);
        let b = namer.next_name(1_700_000_000_000_000);
        let c = namer.next_name(1_700_000_000_000_001);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with("part-1700000000000000-000001-") && a.ends_with(".parquet"), "{a}");
        assert_ne!(FileNamer::new().next_name(1), FileNamer::new().next_name(1), "two writers never collide");
        assert_eq!(temp_name("part-1.parquet"), ".part-1.parquet.inprogress");
    }

    #[test]
    fn partitions_are_hive_style_directories_under_the_table() {
        let dir = partition_dir(Path::new("/data"), Table::DeadLetters, "2024-03-01");
        assert_eq!(dir, Path::new("/data/dead_letters/date=2024-03-01"));
    }
}
