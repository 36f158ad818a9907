//! When buffers become files: by row count, by age on tick, everything on flush; and what
//! happens when a write fails.

use std::time::Duration;

use wardstream_pipeline::{Sink, StoreBatch};
use wardstream_storage::{ParquetStore, QuerySession, StorageConfig};

use crate::common::*;

fn rows(from: usize, n: usize) -> StoreBatch {
    let observations =
        (from..from + n).map(|i| obs(&format!("m-{}", i % 3), "heart_rate", MAY_1 + i as i64 * SECOND, 70.0)).collect();
    StoreBatch { observations, dead_letters: vec![] }
}

#[tokio::test]
async fn a_full_buffer_becomes_files_of_exactly_max_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        StorageConfig { max_rows_per_file: 10, flush_interval_ms: 60_000, ..StorageConfig::test_config(dir.path()) };
    let mut store = ParquetStore::open(config).unwrap();
    store.write(rows(0, 35)).unwrap();
    assert_eq!((all_files(dir.path()).len(), store.buffered_rows()), (3, 5));
    store.tick().unwrap();
    assert_eq!(all_files(dir.path()).len(), 3, "5 young rows are not due yet");
    for i in 0..3 {
        store.write(rows(35 + i * 2, 2)).unwrap();
    }
    assert_eq!((all_files(dir.path()).len(), store.buffered_rows()), (4, 1));
    store.flush().unwrap();
    assert_eq!((all_files(dir.path()).len(), store.buffered_rows()), (5, 0));

    let snap = store.stats().snapshot();
    assert_eq!((snap.vitals_rows_written, snap.files_written, snap.write_errors), (41, 5, 0));
    let on_disk: u64 = all_files(dir.path()).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert_eq!(snap.bytes_written, on_disk);
    assert!(snap.last_flush_micros > MAY_1);

    let session = QuerySession::open(dir.path()).unwrap();
    assert_eq!(count(&session, "vitals", "").await, 41);
    assert_eq!(count(&session, "(SELECT DISTINCT time FROM vitals)", "").await, 41, "no row twice");
}

#[test]
fn tick_writes_a_buffer_only_once_its_oldest_row_is_older_than_the_flush_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig { flush_interval_ms: 400, ..StorageConfig::test_config(dir.path()) };
    let mut store = ParquetStore::open(config).unwrap();
    store.write(rows(0, 3)).unwrap();
    store.tick().unwrap();
    assert!(all_files(dir.path()).is_empty(), "not due yet");
    std::thread::sleep(Duration::from_millis(450));
    store.write(rows(3, 2)).unwrap(); // joins the same buffer: the buffer's age is its oldest row's
    store.tick().unwrap();
    assert_eq!((all_files(dir.path()).len(), store.buffered_rows()), (1, 0));
    store.tick().unwrap();
    assert_eq!(all_files(dir.path()).len(), 1, "nothing buffered, nothing written");
}

#[tokio::test]
async fn a_failed_write_keeps_the_rows_and_a_later_flush_writes_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    // A plain file where the partition directory should go makes the write fail.
    let blocker = dir.path().join("vitals/date=2024-05-01");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let mut batch = rows(0, 4);
    batch.dead_letters.push(letter(MAY_1, None, b"x"));
    store.write(batch).unwrap();
    let err = store.flush().unwrap_err();
    assert!(err.0.contains("date=2024-05-01"), "{err}");
    assert_eq!(store.buffered_rows(), 4, "the vitals are kept, the dead letter was written");
    assert_eq!(store.stats().snapshot().write_errors, 1);
    std::thread::sleep(Duration::from_millis(60)); // past the 50 ms flush interval
    assert!(store.tick().is_err(), "tick retries and fails again");
    assert_eq!((store.buffered_rows(), store.stats().snapshot().write_errors), (4, 2));

    std::fs::remove_file(&blocker).unwrap();
    store.flush().unwrap();
    assert_eq!(store.buffered_rows(), 0);
    let session = QuerySession::open(dir.path()).unwrap();
    assert_eq!(count(&session, "vitals", "").await, 4);
    assert_eq!(count(&session, "dead_letters", "").await, 1);
    assert!(all_files(dir.path()).iter().all(|p| p.extension().is_some_and(|e| e == "parquet")));
}

#[tokio::test]
async fn dropping_the_store_writes_what_is_still_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    store.write(rows(0, 7)).unwrap();
    drop(store);
    let session = QuerySession::open(dir.path()).unwrap();
    assert_eq!(count(&session, "vitals", "").await, 7);
}

#[test]
fn the_oldest_wal_sequence_still_buffered_is_reported_until_its_file_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        StorageConfig { max_rows_per_file: 10, flush_interval_ms: 60_000, ..StorageConfig::test_config(dir.path()) };
    let mut store = ParquetStore::open(config).unwrap();
    assert_eq!(store.oldest_buffered_seq(), None);
    store.write_sequenced(rows(0, 6), Some(7)).unwrap();
    store.write_sequenced(rows(6, 3), Some(5)).unwrap();
    store.write(rows(9, 0)).unwrap();
    assert_eq!(store.oldest_buffered_seq(), Some(5));
    // 11 rows: the oldest 10 (seqs 7 and 5) become a file, the 11th (seq 9) stays buffered.
    store.write_sequenced(rows(9, 2), Some(9)).unwrap();
    assert_eq!((all_files(dir.path()).len(), store.buffered_rows()), (1, 1));
    assert_eq!(store.oldest_buffered_seq(), Some(9));
    store.flush().unwrap();
    assert_eq!(store.oldest_buffered_seq(), None);
}
