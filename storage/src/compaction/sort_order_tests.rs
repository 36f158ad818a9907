//! Files recorded as sorted by another key than the table's, or by none, are left out of
//! compaction, untouched, and counted; the rest of the partition is merged as usual.

use std::fs::File;
use std::path::Path;

use parquet::arrow::ArrowWriter;
use parquet::file::metadata::SortingColumn;

use super::test_support::{names, parquet_names, read, small_files, totals};
use super::*;
use crate::file::writer_properties;

/// Rewrites `from` as `to` with the same rows and properties, but `sorting` as the recorded
/// sort order (`None`: none recorded).
fn rewrite_with_sorting(from: &Path, to: &Path, sorting: Option<Vec<SortingColumn>>) {
    let batches = read(from);
    let props = writer_properties(Table::Vitals, 1024).unwrap().into_builder().set_sorting_columns(sorting).build();
    let mut writer = ArrowWriter::try_new(File::create(to).unwrap(), batches[0].schema(), Some(props)).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
}

/// Another sort order, (`device_id`, `time`, `metric`), as column indexes of the vitals schema.
fn other_key() -> Vec<SortingColumn> {
    let schema = Table::Vitals.file_schema();
    ["device_id", "time", "metric"]
        .iter()
        .map(|name| SortingColumn {
            column_idx: schema.index_of(name).unwrap() as i32,
            descending: false,
            nulls_first: false,
        })
        .collect()
}

#[test]
fn files_sorted_by_another_key_or_none_are_kept_as_they_are_and_the_rest_merge() {
    let dir = tempfile::tempdir().unwrap();
    let partition = small_files(dir.path(), 5, 10);
    let written = parquet_names(&partition);
    assert_eq!(written.len(), 5);
    // Two of the five files become "foreign": one recorded under another key, one with no
    // recorded order at all.
    let other_key_file = partition.join("part-0-other-key.parquet");
    let no_key = partition.join("part-0-no-key.parquet");
    rewrite_with_sorting(&partition.join(&written[0]), &other_key_file, Some(other_key()));
    rewrite_with_sorting(&partition.join(&written[1]), &no_key, None);
    std::fs::remove_file(partition.join(&written[0])).unwrap();
    std::fs::remove_file(partition.join(&written[1])).unwrap();
    let old_bytes = (std::fs::read(&other_key_file).unwrap(), std::fs::read(&no_key).unwrap());
    let before = totals(&partition);
    assert_eq!(before.0, 50);

    let compactor = Compactor::new(dir.path(), CompactionConfig::test_config()).unwrap();
    let report = compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap();

    assert_eq!(report.kept_other_order, 2);
    assert_eq!((report.merges, report.files_in, report.files_out, report.rows), (1, 3, 1, 30));
    assert_eq!(totals(&partition), before, "every row once");
    let left = parquet_names(&partition);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        left.contains(&"part-0-other-key.parquet".to_string()) && left.contains(&"part-0-no-key.parquet".to_string())
    );
    assert_eq!((std::fs::read(&other_key_file).unwrap(), std::fs::read(&no_key).unwrap()), old_bytes, "untouched");
    assert_eq!(names(&partition), left, "no staged or temp file is left");
}

#[test]
fn a_partition_of_files_sorted_by_the_table_key_reports_none_kept() {
    let dir = tempfile::tempdir().unwrap();
    let partition = small_files(dir.path(), 3, 10);
    let compactor = Compactor::new(dir.path(), CompactionConfig::test_config()).unwrap();
    let report = compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap();
    assert_eq!((report.kept_other_order, report.files_in, report.files_out), (0, 3, 1));
    assert_eq!(totals(&partition).0, 30);
}
