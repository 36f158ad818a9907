//! Writing one Parquet file atomically: encode into a hidden temp file, make it durable, then
//! rename it into place, so that readers only ever see complete files.
//!
//! Steps (PITFALLS, "atomic finalise"): create `.<name>.parquet.inprogress` exclusively in the
//! partition directory → [`TableFileWriter`] → `into_inner()` (writes the footer) → `sync_all()` →
//! `rename` to `<name>.parquet` → fsync the directory. On any failure before the rename the
//! temp file is deleted and nothing is visible.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::file_writer::{ColumnPages, PageRows, TableFileWriter};
use crate::layout::{sync_dir, temp_name};
use crate::schema::Table;

/// zstd level of the files the writer flushes: 3 is zstd's own default, a good ratio at a modest
/// CPU cost on the ingest path. Compaction rewrites files off the hot path and uses its own,
/// higher level (`[compaction] zstd_level`).
pub const WRITER_ZSTD_LEVEL: i32 = 3;

/// The columns each table's files are sorted by, in order (all ascending).
///
/// Design: `vitals` files are sorted by (`device_id`, `metric`, `time`). The usual question is
/// "this device's (or patient's) metric over a time range": the sort clusters those rows into
/// few pages, makes per-page statistics on `device_id`/`metric` selective, and compresses the
/// runs of repeated ids and slowly varying values well. Time pruning stays effective because a
/// file spans at most `flush_interval_ms` (or `max_rows_per_file` rows) of arrivals. The order
/// is recorded as Parquet `sorting_columns`, which DataFusion uses to skip sorts.
/// `dead_letters` are few and read by time, so they are sorted by `received_at`.
pub fn sort_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Vitals => &["device_id", "metric", "time"],
        Table::DeadLetters => &["received_at"],
    }
}

/// The columns of a table's files whose pages are cut at another row count than the table's
/// (see [`file_writer`](crate::file_writer)): `vitals.received_at` in whole-row-group pages
/// (rarely filtered or read; compresses to a third with the repeats page-wise compression
/// misses), `vitals.metric` in pages of [`METRIC_PAGE_ROWS`] (the filter of most analyst
/// queries; its page statistics then skip the other metrics' runs). `dead_letters` are read by
/// `received_at`, so its pages stay small for pruning.
pub fn column_pages(table: Table) -> &'static [ColumnPages] {
    match table {
        Table::Vitals => &[
            ColumnPages { column: "received_at", rows: PageRows::WholeRowGroup },
            ColumnPages { column: "metric", rows: PageRows::AtMost(METRIC_PAGE_ROWS) },
        ],
        Table::DeadLetters => &[],
    }
}

/// Rows per page of `vitals.metric` (see [`column_pages`]).
pub const METRIC_PAGE_ROWS: usize = 2_048;

/// Writer properties of a table's files as the writer flushes them (zstd level
/// [`WRITER_ZSTD_LEVEL`]); see [`writer_properties_at_level`].
pub fn writer_properties(table: Table, row_group_rows: usize) -> Result<WriterProperties> {
    writer_properties_at_level(table, row_group_rows, WRITER_ZSTD_LEVEL)
}

/// Writer properties of a table's files: ZSTD at `zstd_level`, page statistics, dictionary
/// encoding for the id, name and code columns; `time`/`device_time` DELTA_BINARY_PACKED,
/// `received_at` and the float columns BYTE_STREAM_SPLIT (dictionary off there, or the encoding
/// would only be a fallback).
pub fn writer_properties_at_level(table: Table, row_group_rows: usize, zstd_level: i32) -> Result<WriterProperties> {
    let schema = table.file_schema();
    let sorting = sort_columns(table)
        .iter()
        .map(|name| {
            let idx = schema.index_of(name)?;
            Ok(SortingColumn { column_idx: idx as i32, descending: false, nulls_first: false })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level)?))
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("wardstream {} (parquet-rs)", env!("CARGO_PKG_VERSION")));
    for field in schema.fields() {
        let encoding = match field.data_type() {
            // `received_at` is the observation time plus network jitter: delta-packed, every
            // value costs the jitter's bits. Split into byte streams, the high bytes are long
            // runs and zstd finds the repeats of the low ones (the readings of one message share
            // it, and sorted by metric they recur as whole sequences — within one page, hence
            // its whole-row-group pages, `column_pages`): DELTA 0.84, PLAIN 0.41,
            // BYTE_STREAM_SPLIT 0.33 bytes per reading on BENCHMARKS.md's 10 M set.
            arrow::datatypes::DataType::Timestamp(..) if field.name() == "received_at" => {
                Some(Encoding::BYTE_STREAM_SPLIT)
            }
            arrow::datatypes::DataType::Timestamp(..) => Some(Encoding::DELTA_BINARY_PACKED),
            arrow::datatypes::DataType::Float64 => Some(Encoding::BYTE_STREAM_SPLIT),
            arrow::datatypes::DataType::Binary => Some(Encoding::PLAIN),
            _ => None,
        };
        if let Some(encoding) = encoding {
            let path = ColumnPath::from(field.name().as_str());
            builder = builder.set_column_dictionary_enabled(path.clone(), false).set_column_encoding(path, encoding);
        }
    }
    Ok(builder.build())
}

/// What a finished file took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Where it is now.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Writes `batch` (a file of `table`) to `<dir>/<file_name>` atomically (see the module docs).
/// `dir` must exist.
pub fn write_atomically(
    dir: &Path,
    file_name: &str,
    batch: &RecordBatch,
    table: Table,
    props: WriterProperties,
) -> Result<WrittenFile> {
    let temp = dir.join(temp_name(file_name));
    let target = dir.join(file_name);
    let file = File::options().write(true).create_new(true).open(&temp).map_err(|e| Error::io(&temp, e))?;
    let encoded = encode(file, batch, props, table, &temp);
    let bytes = match encoded.and_then(|()| rename_no_clobber(&temp, &target)) {
        Ok(bytes) => bytes,
        Err(e) => {
            remove_quietly(&temp);
            return Err(e);
        }
    };
    if let Err(e) = sync_dir(dir) {
        // The file is visible but its directory entry may not be durable. Take it back so the
        // caller keeps the rows and retries, rather than risk losing them silently.
        if fs::remove_file(&target).is_ok() {
            return Err(e);
        }
        tracing::error!(error = %e, path = %target.display(), "directory fsync failed after rename; file kept");
    }
    Ok(WrittenFile { path: target, bytes })
}

fn encode(file: File, batch: &RecordBatch, props: WriterProperties, table: Table, temp: &Path) -> Result<()> {
    let mut writer = TableFileWriter::try_new(file, batch.schema(), props, column_pages(table))?;
    writer.write(batch)?;
    let file = writer.into_inner()?;
    file.sync_all().map_err(|e| Error::io(temp, e))
}

/// Renames `temp` to `target` unless `target` exists (names are unique, so it never should),
/// returning the file's size.
fn rename_no_clobber(temp: &Path, target: &Path) -> Result<u64> {
    if target.exists() {
        let e = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "target file already exists");
        return Err(Error::io(target, e));
    }
    let bytes = fs::metadata(temp).map_err(|e| Error::io(temp, e))?.len();
    fs::rename(temp, target).map_err(|e| Error::io(target, e))?;
    Ok(bytes)
}

fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, path = %path.display(), "could not remove temp file"),
    }
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;
    use crate::batch::dead_letters_batch;

    #[test]
    fn a_written_file_is_complete_zstd_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let batch = dead_letters_batch(&[]).unwrap();
        let props = writer_properties(Table::DeadLetters, 10).unwrap();
        let written = write_atomically(dir.path(), "part-1.parquet", &batch, Table::DeadLetters, props).unwrap();
        assert_eq!(written.path, dir.path().join("part-1.parquet"));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("part-1.parquet")]);
        let reader = SerializedFileReader::new(File::open(&written.path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(written.bytes, fs::metadata(&written.path).unwrap().len());
    }

    #[test]
    fn a_failed_write_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let batch = dead_letters_batch(&[]).unwrap();
        fs::write(dir.path().join("taken.parquet"), b"x").unwrap();
        let props = writer_properties(Table::DeadLetters, 10).unwrap();
        let err = write_atomically(dir.path(), "taken.parquet", &batch, Table::DeadLetters, props).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("taken.parquet")]);
    }
}
