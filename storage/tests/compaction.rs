//! Compaction's merge against the plain Parquet reader: every row kept and sorted (property
//! test over random small files), `compact_all` merges past partitions of both tables and
//! leaves today alone, and memory stays bounded by the batch size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod compaction_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use wardstream_pipeline::{DeadLetter, Observation, Reason, Sink, Source, StoreBatch};
use wardstream_storage::compaction::{CompactionConfig, Compactor, compact_all, compact_partition};
use wardstream_storage::{ParquetStore, StorageConfig, Table};

use compaction_common::*;

/// Every row of a file as one string of all its columns, in file order.
fn row_strings(path: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in read(path) {
        let options = FormatOptions::default().with_null("∅");
        let formatters: Vec<_> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect::<Vec<_>>().join("|"));
        }
    }
    rows
}

/// The (device_id, metric, time) keys of a file, in file order.
fn sort_keys(path: &Path) -> Vec<(String, String, i64)> {
    let mut keys = Vec::new();
    for batch in read(path) {
        let device = batch.column_by_name("device_id").unwrap().as_string::<i32>().clone();
        let metric = batch.column_by_name("metric").unwrap().as_string::<i32>().clone();
        let time = batch.column_by_name("time").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        for i in 0..batch.num_rows() {
            keys.push((device.value(i).to_string(), metric.value(i).to_string(), time.value(i)));
        }
    }
    keys
}

fn multiset(files: &[PathBuf]) -> Vec<String> {
    let mut rows: Vec<String> = files.iter().flat_map(|f| row_strings(f)).collect();
    rows.sort();
    rows
}

#[test]
fn merged_files_hold_exactly_the_input_rows_sorted_whatever_the_files_and_sizes() {
    let mut merged_cases = 0;
    for case in 0..40u64 {
        let mut rng = Rng(case);
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<Vec<Observation>> = (0..2 + rng.below(7))
            .map(|_| {
                (0..1 + rng.below(40))
                    .map(|_| {
                        let device = ["a", "b", "c"][rng.below(3) as usize];
                        let metric = ["heart_rate", "spo2"][rng.below(2) as usize];
                        obs(device, metric, MAY_1 + rng.below(20) as i64 * SECOND, rng.below(1000) as f64)
                    })
                    .collect()
            })
            .collect();
        let input_rows: usize = files.iter().map(Vec::len).sum();
        write_files(dir.path(), files);
        let partition = dir.path().join("vitals/date=2024-05-01");
        let before = parquet_files(&partition);
        let expected = multiset(&before);
        assert_eq!(expected.len(), input_rows);

        let config = CompactionConfig {
            min_files: 2,
            max_rows_per_file: 1 + rng.below(60) as usize,
            batch_rows: 1 + rng.below(9) as usize,
            row_group_rows: 1 + rng.below(20) as usize,
            ..CompactionConfig::test_config()
        };
        let candidates: Vec<&PathBuf> =
            before.iter().filter(|f| row_strings(f).len() < config.max_rows_per_file).collect();
        let candidate_rows: usize = candidates.iter().map(|f| row_strings(f).len()).sum();
        let report = compact_partition(dir.path(), Table::Vitals, "2024-05-01", &config).unwrap();
        let after = parquet_files(&partition);
        assert_eq!(multiset(&after), expected, "case {case}: the same rows, each once");

        let merged = candidates.len() >= 2;
        merged_cases += usize::from(merged);
        assert_eq!(report.files_in, if merged { candidates.len() } else { 0 }, "case {case}");
        let new: Vec<&PathBuf> = after.iter().filter(|f| !before.contains(f)).collect();
        assert_eq!(new.len(), report.files_out, "case {case}");
        assert_eq!(report.rows, if merged { candidate_rows as u64 } else { 0 }, "case {case}");
        let mut previous_last = None;
        for (i, file) in new.iter().enumerate() {
            let keys = sort_keys(file);
            assert!(keys.windows(2).all(|w| w[0] <= w[1]), "case {case}: {} is sorted", file.display());
            assert!(keys.len() <= config.max_rows_per_file, "case {case}");
            assert!(
                i + 1 == new.len() || keys.len() == config.max_rows_per_file,
                "case {case}: only the last file is short"
            );
            if let (Some(last), Some(first)) = (previous_last.take(), keys.first()) {
                assert!(last <= *first, "case {case}: the files of a merge cover consecutive key ranges");
            }
            previous_last = keys.last().cloned();
        }
    }
    assert_eq!(merged_cases, 33, "cases where at least two files were small enough to merge");
}

fn letter(received_at: i64) -> DeadLetter {
    DeadLetter {
        received_at,
        source: Source::Serial,
        origin: Arc::from("/dev/ttyUSB0"),
        device_id: None,
        source_name: None,
        reason: Reason::InvalidPayload,
        detail: format!("at {received_at}"),
        payload: Arc::from(&b"?"[..]),
    }
}

#[test]
fn compact_all_merges_past_partitions_of_both_tables_and_leaves_today_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let today = MAY_1 + 30 * DAY;
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    for i in 0..3 {
        let observations = vec![obs("m-1", "spo2", MAY_1 + i, 97.0), obs("m-1", "spo2", today + i, 98.0)];
        // Dead letters arrive out of order across files: the merge sorts them by received_at.
        let dead_letters = vec![letter(MAY_1 + 10 - i), letter(MAY_1 + 20 + i)];
        store.write(StoreBatch { observations, dead_letters }).unwrap();
        store.flush().unwrap();
    }
    store.write(StoreBatch { observations: vec![obs("m-1", "spo2", MAY_1 + DAY, 1.0)], dead_letters: vec![] }).unwrap();
    store.flush().unwrap();

    let compactor = Compactor::new(dir.path(), CompactionConfig::test_config()).unwrap();
    let run = compactor.compact_all(today).unwrap();
    let summary: Vec<_> =
        run.compacted.iter().map(|r| (r.table, r.date.as_str(), r.files_in, r.files_out, r.rows)).collect();
    assert_eq!(summary, [(Table::Vitals, "2024-05-01", 3, 1, 3), (Table::DeadLetters, "2024-05-01", 3, 1, 6)]);
    assert!(run.failed.is_empty() && run.recovery.rolled_back.is_empty());
    assert_eq!(parquet_files(&dir.path().join("vitals/date=2024-05-31")).len(), 3, "today is left alone");
    assert_eq!(parquet_files(&dir.path().join("vitals/date=2024-05-02")).len(), 1, "one file: nothing to merge");

    let letters = parquet_files(&dir.path().join("dead_letters/date=2024-05-01"));
    let times: Vec<i64> = read(&letters[0])
        .iter()
        .flat_map(|b| {
            b.column_by_name("received_at").unwrap().as_primitive::<TimestampMicrosecondType>().values().to_vec()
        })
        .collect();
    assert_eq!(times, [8, 9, 10, 20, 21, 22].map(|t| MAY_1 + t));

    let stats = compactor.stats().snapshot();
    assert_eq!((stats.partitions_compacted, stats.merges, stats.files_merged, stats.files_written), (2, 2, 6, 2));
    assert_eq!((stats.rows_merged, stats.errors), (9, 0));
    assert!(stats.bytes_before > stats.bytes_after && stats.bytes_after > 0, "{stats:?}");

    let with_today = CompactionConfig { include_today: true, ..CompactionConfig::test_config() };
    let run = compact_all(dir.path(), &with_today, today).unwrap();
    let summary: Vec<_> = run.compacted.iter().map(|r| (r.table, r.date.as_str(), r.files_in)).collect();
    assert_eq!(summary, [(Table::Vitals, "2024-05-31", 3)]);
}

#[test]
fn memory_held_by_a_merge_is_bounded_by_the_batch_size_not_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<Observation>> = (0..20)
        .map(|f| (0..500).map(|i| obs(&format!("m-{i:03}"), "heart_rate", MAY_1 + f * SECOND, 60.0)).collect())
        .collect();
    write_files(dir.path(), files);
    let config = CompactionConfig { batch_rows: 64, max_rows_per_file: 1_000_000, ..CompactionConfig::test_config() };
    let report = compact_partition(dir.path(), Table::Vitals, "2024-05-01", &config).unwrap();
    assert_eq!((report.files_in, report.files_out, report.rows), (20, 1, 10_000));
    assert!(report.peak_rows_held <= 21 * 64, "{} rows held at once", report.peak_rows_held);
    assert!(report.peak_rows_held >= 20 * 64, "each of the 20 inputs holds one full batch: {}", report.peak_rows_held);
}
