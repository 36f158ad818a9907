//! Retention: partitions older than the configured number of days are removed, each removal
//! logged (table, date, files, bytes) — never silently.
//!
//! A day partition `date=D` is removed when `D < today - keep_days + 1` (UTC), i.e. `keep_days`
//! whole days are kept, today included. The partition directory is renamed to a hidden name first
//! (one atomic step: queries listing the table stop seeing it at once), then deleted, and the
//! table directory fsynced.

use std::fs;
use std::path::Path;

use wardstream_pipeline::Micros;
use wardstream_pipeline::time::{format_day, utc_day};

use crate::error::{Error, Result};
use crate::layout::table_dir;
use crate::schema::{PARTITION_COLUMN, Table};

/// One removed partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedPartition {
    /// Its table.
    pub table: Table,
    /// Its date (`YYYY-MM-DD`).
    pub date: String,
    /// Parquet files it held.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Removes the partitions of every table older than `keep_days` days before `now` (see the module
/// docs). `keep_days` 0 keeps nothing but is refused: at least 1.
pub fn remove_expired(data_dir: &Path, keep_days: u32, now: Micros) -> Result<Vec<RemovedPartition>> {
    let keep_days = i64::from(keep_days.max(1));
    let oldest_kept = format_day(utc_day(now) - keep_days + 1);
    let mut removed = Vec::new();
    for table in Table::ALL {
        let dir = table_dir(data_dir, table);
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        let mut expired = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(date) = name.strip_prefix(&format!("{PARTITION_COLUMN}=")) {
                // ISO dates compare as text; anything not shaped like one is left alone.
                if date.len() == 10 && date.as_bytes().get(4) == Some(&b'-') && date < oldest_kept.as_str() {
                    expired.push(date.to_owned());
                }
            }
        }
        expired.sort();
        for date in expired {
            let path = dir.join(format!("{PARTITION_COLUMN}={date}"));
            let (files, bytes) = parquet_files(&path)?;
            let hidden = dir.join(format!(".expired-{PARTITION_COLUMN}={date}"));
            fs::rename(&path, &hidden).map_err(|e| Error::io(&path, e))?;
            fs::remove_dir_all(&hidden).map_err(|e| Error::io(&hidden, e))?;
            tracing::info!(table = %table, date = %date, files, bytes, "retention: removed partition");
            removed.push(RemovedPartition { table, date, files, bytes });
        }
        if removed.iter().any(|r| r.table == table) {
            fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(&dir, e))?;
        }
    }
    Ok(removed)
}

fn parquet_files(dir: &Path) -> Result<(usize, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name().to_string_lossy().ends_with(crate::layout::PARQUET_EXTENSION) {
            files += 1;
            bytes += entry.metadata().map_err(|e| Error::io(dir, e))?.len();
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_the_last_days_and_reports_what_it_removed() {
        let dir = tempfile::tempdir().unwrap();
        for (table, date, n) in [
            (Table::Vitals, "2026-11-18", 2),
            (Table::Vitals, "2026-11-20", 1),
            (Table::Vitals, "2026-11-22", 1),
            (Table::DeadLetters, "2026-11-19", 1),
        ] {
            let p = dir.path().join(table.name()).join(format!("date={date}"));
            fs::create_dir_all(&p).unwrap();
            for i in 0..n {
                fs::write(p.join(format!("part-{i}.parquet")), b"12345").unwrap();
            }
        }
        fs::create_dir_all(dir.path().join("vitals").join("date=garbage")).unwrap();
        // 2026-11-22T10:00Z, keep 3 days: 11-20, 11-21, 11-22 stay.
        let now = 1_795_341_600_000_000;
        let removed = remove_expired(dir.path(), 3, now).unwrap();
        assert_eq!(
            removed,
            [
                RemovedPartition { table: Table::Vitals, date: "2026-11-18".into(), files: 2, bytes: 10 },
                RemovedPartition { table: Table::DeadLetters, date: "2026-11-19".into(), files: 1, bytes: 5 },
            ]
        );
        let mut left: Vec<String> = fs::read_dir(dir.path().join("vitals"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["date=2026-11-20", "date=2026-11-22", "date=garbage"]);
        assert!(remove_expired(dir.path(), 3, now).unwrap().is_empty());
    }
}
