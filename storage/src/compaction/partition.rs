//! Compaction of one partition: choosing its files, merging them, swapping the result in.
//!
//! The files are listed once, at the start: files the writer adds meanwhile are neither
//! merged nor deleted (the swap deletes exactly the files it merged, by name). Candidates are
//! the `*.parquet` files smaller than `target_file_bytes` and with fewer than
//! `max_rows_per_file` rows (every file with `rewrite_all`); a partition with fewer than
//! `min_files` candidates is left alone. Candidates, in name order (the order they were
//! written), are merged in groups of at most `max_input_files`, each group into files of at
//! most `max_rows_per_file` rows that are swapped in before the next group starts.
//!
//! A file whose footer records another sort order than the table's
//! ([`sort_columns`](crate::file::sort_columns)), or none (copied in by another tool, or
//! written by a version with another key), is never a candidate: the merge needs every input
//! in the key's order and would otherwise stop the whole partition's compaction at it, on
//! every run. It stays as it is, readable as before, and is counted in
//! [`CompactionReport::kept_other_order`] and logged.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::file::sort_columns;
use crate::layout::{PARQUET_EXTENSION, partition_dir};
use crate::schema::Table;

use super::config::CompactionConfig;
use super::error::{CompactionError, Result};
use super::intent::has_intent;
use super::merge::merge;
use super::output::StagedOutputs;
use super::swap::{Hook, swap};

/// What compacting one partition did. All zero when it had nothing to merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// The table.
    pub table: Table,
    /// The partition's date, `YYYY-MM-DD`.
    pub date: String,
    /// Merges swapped in.
    pub merges: usize,
    /// Files merged away.
    pub files_in: usize,
    /// Merged files that replaced them.
    pub files_out: usize,
    /// Rows merged (the same number before and after).
    pub rows: u64,
    /// Bytes of the files merged away.
    pub bytes_in: u64,
    /// Bytes of the merged files.
    pub bytes_out: u64,
    /// Most rows held in memory at once by a merge (see [`MergeStats`](super::MergeStats)).
    pub peak_rows_held: usize,
    /// Files left alone because their footers record another sort order (see the module docs).
    pub kept_other_order: usize,
}

/// A file of the partition as found at the start.
#[derive(Debug, Clone)]
struct InputFile {
    name: String,
    bytes: u64,
    rows: u64,
    /// Whether its footer records the table's sort order.
    in_table_order: bool,
}

/// Whether `date` is shaped `YYYY-MM-DD` (and so names a partition directory, nothing else).
pub(crate) fn is_partition_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// Compacts partition `date` of `table`; the caller holds the compaction lock and has run
/// recovery.
pub(crate) fn compact_partition_locked(
    data_dir: &Path,
    table: Table,
    date: &str,
    config: &CompactionConfig,
    hook: Hook<'_>,
) -> Result<CompactionReport> {
    if !is_partition_date(date) {
        return Err(CompactionError::Config(format!("not a partition date (YYYY-MM-DD): {date:?}")));
    }
    let mut report = CompactionReport {
        table,
        date: date.to_string(),
        merges: 0,
        files_in: 0,
        files_out: 0,
        rows: 0,
        bytes_in: 0,
        bytes_out: 0,
        peak_rows_held: 0,
        kept_other_order: 0,
    };
    let dir = partition_dir(data_dir, table, date);
    if !dir.is_dir() {
        return Ok(report);
    }
    if has_intent(&dir) {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "unresolved compaction intent (see the log)");
        return Err(CompactionError::io(dir.join(super::INTENT_FILE), e));
    }
    let (inputs, other_order): (Vec<InputFile>, Vec<InputFile>) =
        list_inputs(&dir, table)?.into_iter().partition(|f| f.in_table_order);
    if let Some(example) = other_order.first() {
        report.kept_other_order = other_order.len();
        tracing::warn!(table = %table, date = %date, files = other_order.len(), example = %example.name, key = ?sort_columns(table), "Files sorted by another key are not compacted");
    }
    for group in groups(inputs, config) {
        merge_group(data_dir, &dir, table, &group, config, hook, &mut report)?;
    }
    Ok(report)
}

/// Merges one group of files and swaps the result in, adding to `report`.
fn merge_group(
    data_dir: &Path,
    dir: &Path,
    table: Table,
    group: &[InputFile],
    config: &CompactionConfig,
    hook: Hook<'_>,
    report: &mut CompactionReport,
) -> Result<()> {
    let paths: Vec<PathBuf> = group.iter().map(|f| dir.join(&f.name)).collect();
    let expected_rows: u64 = group.iter().map(|f| f.rows).sum();
    let mut outputs =
        StagedOutputs::new(dir, table, config.max_rows_per_file, config.row_group_rows, config.zstd_level)?;
    let merged = merge(table, &paths, config.batch_rows, &mut outputs).and_then(|stats| {
        if stats.rows != expected_rows {
            let detail = format!("merged {} rows from files whose footers say {expected_rows}", stats.rows);
            return Err(CompactionError::io(dir, std::io::Error::new(std::io::ErrorKind::InvalidData, detail)));
        }
        Ok((stats, outputs.finish()?))
    });
    let (stats, staged) = match merged {
        Ok(done) => done,
        Err(e) => {
            outputs.abort();
            return Err(e);
        }
    };
    let old: Vec<String> = group.iter().map(|f| f.name.clone()).collect();
    swap(data_dir, dir, table, &staged, &old, config.swap_timeout(), hook)?;
    let bytes_in: u64 = group.iter().map(|f| f.bytes).sum();
    let bytes_out: u64 = staged.iter().map(|f| f.bytes).sum();
    tracing::info!(table = %table, date = %report.date, files_in = group.len(), files_out = staged.len(), rows = stats.rows, bytes_in, bytes_out, "Compacted files");
    report.merges += 1;
    report.files_in += group.len();
    report.files_out += staged.len();
    report.rows += stats.rows;
    report.bytes_in += bytes_in;
    report.bytes_out += bytes_out;
    report.peak_rows_held = report.peak_rows_held.max(stats.peak_rows_held);
    Ok(())
}

/// The groups of files to merge (see the module docs).
fn groups(files: Vec<InputFile>, config: &CompactionConfig) -> Vec<Vec<InputFile>> {
    let candidates: Vec<InputFile> = files
        .into_iter()
        .filter(|f| {
            config.rewrite_all || (f.bytes < config.target_file_bytes && f.rows < config.max_rows_per_file as u64)
        })
        .collect();
    if candidates.is_empty() || (!config.rewrite_all && candidates.len() < config.min_files) {
        return Vec::new();
    }
    candidates
        .chunks(config.max_input_files)
        .filter(|group| config.rewrite_all || group.len() >= 2)
        .map(<[InputFile]>::to_vec)
        .collect()
}

/// The finished files of partition directory `dir`, in name order, with their sizes and row
/// counts (from their footers).
fn list_inputs(dir: &Path, table: Table) -> Result<Vec<InputFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| CompactionError::io(dir, e))? {
        let entry = entry.map_err(|e| CompactionError::io(dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if name.starts_with('.') || !name.ends_with(PARQUET_EXTENSION) {
            continue;
        }
        let path = entry.path();
        let file = File::open(&path).map_err(|e| CompactionError::io(&path, e))?;
        let bytes = file.metadata().map_err(|e| CompactionError::io(&path, e))?.len();
        let metadata = ParquetMetaDataReader::new().parse_and_finish(&file)?;
        let rows = u64::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
        let in_table_order = in_order_of(&metadata, sort_columns(table));
        files.push(InputFile { name, bytes, rows, in_table_order });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Whether every row group of a file records `key` (ascending, nulls last) as its sorting
/// columns. A file without row groups holds nothing out of order.
fn in_order_of(metadata: &ParquetMetaData, key: &[&str]) -> bool {
    let schema = metadata.file_metadata().schema_descr();
    metadata.row_groups().iter().all(|group| {
        group.sorting_columns().is_some_and(|sorting| {
            sorting.len() == key.len()
                && sorting.iter().zip(key).all(|(column, name)| {
                    !column.descending
                        && !column.nulls_first
                        && usize::try_from(column.column_idx)
                            .ok()
                            .filter(|&i| i < schema.num_columns())
                            .is_some_and(|i| schema.column(i).path().string() == *name)
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: u64, rows: u64) -> InputFile {
        InputFile { name: name.into(), bytes, rows, in_table_order: true }
    }

    fn names(groups: &[Vec<InputFile>]) -> Vec<Vec<&str>> {
        groups.iter().map(|g| g.iter().map(|f| f.name.as_str()).collect()).collect()
    }

    #[test]
    fn only_small_files_count_and_groups_hold_at_most_max_input_files() {
        let config = CompactionConfig {
            min_files: 3,
            max_input_files: 2,
            max_rows_per_file: 100,
            target_file_bytes: 1000,
            ..CompactionConfig::default()
        };
        let files =
            vec![file("a", 10, 5), file("b", 1000, 5), file("c", 10, 100), file("d", 10, 99), file("e", 999, 1)];
        assert_eq!(
            names(&groups(files.clone(), &config)),
            [vec!["a", "d"]],
            "e is left: a group of one merges nothing"
        );
        let files5 = vec![file("a", 1, 1), file("b", 1, 1), file("c", 1, 1), file("d", 1, 1), file("e", 1, 1)];
        assert_eq!(names(&groups(files5, &config)), [vec!["a", "b"], vec!["c", "d"]]);
        let few = CompactionConfig { min_files: 4, ..config.clone() };
        assert!(groups(files.clone(), &few).is_empty(), "3 small files < min_files 4");
        let all = CompactionConfig { rewrite_all: true, max_input_files: 8, ..few };
        assert_eq!(names(&groups(files, &all)), [vec!["a", "b", "c", "d", "e"]]);
    }

    #[test]
    fn partition_dates_are_exactly_iso_days() {
        assert!(is_partition_date("2024-05-01"));
        for bad in ["2024-5-01", "../../etc", "2024-05-01/..", "2024_05_01", "", "20240501xx"] {
            assert!(!is_partition_date(bad), "{bad}");
        }
    }
}
