//! The files themselves: ZSTD, row groups, sort order, encodings; no temp file ever visible;
//! stale temp files removed at open and never read.

use std::fs::File;

use parquet::basic::{Compression, Encoding};
use parquet::file::reader::{FileReader, SerializedFileReader};
use wardstream_pipeline::{Sink, StoreBatch};
use wardstream_storage::{ParquetStore, QuerySession, StorageConfig, vitals_batch};

use crate::common::*;

#[test]
fn files_read_with_the_plain_parquet_reader_are_zstd_sorted_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig { row_group_rows: 100, ..StorageConfig::test_config(dir.path()) };
    let mut store = ParquetStore::open(config).unwrap();
    let observations: Vec<_> =
        (0..250).map(|i| obs(&format!("m-{}", i % 4), "spo2", MAY_1 + i * SECOND, 97.0)).collect();
    store.write(StoreBatch { observations, dead_letters: vec![] }).unwrap();
    store.flush().unwrap();

    let files = all_files(dir.path());
    assert_eq!(files.len(), 1);
    let reader = SerializedFileReader::new(File::open(&files[0]).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 250);
    let group_rows: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(group_rows, [100, 100, 50]);
    let schema = meta.file_metadata().schema_descr();
    assert_eq!(
        schema.num_columns(),
        19,
        "18 columns (flags is a list with one leaf); the date partition is not stored in the file"
    );
    assert!(schema.columns().iter().all(|c| c.name() != "date"));
    for group in meta.row_groups() {
        for column in group.columns() {
            assert!(
                matches!(column.compression(), Compression::ZSTD(_)),
                "{}: {:?}",
                column.column_path(),
                column.compression()
            );
            assert!(column.statistics().is_some(), "{} has statistics", column.column_path());
        }
        let sorting: Vec<_> = group
            .sorting_columns()
            .unwrap()
            .iter()
            .map(|c| schema.column(c.column_idx as usize).name().to_string())
            .collect();
        assert_eq!(sorting, ["device_id", "metric", "time"]);
        let encodings = |name: &str| {
            group.columns().iter().find(|c| c.column_path().string() == name).unwrap().encodings().collect::<Vec<_>>()
        };
        assert!(encodings("device_id").contains(&Encoding::RLE_DICTIONARY), "{:?}", encodings("device_id"));
        assert!(encodings("time").contains(&Encoding::DELTA_BINARY_PACKED), "{:?}", encodings("time"));
        assert!(encodings("value").contains(&Encoding::BYTE_STREAM_SPLIT), "{:?}", encodings("value"));
        assert!(encodings("received_at").contains(&Encoding::BYTE_STREAM_SPLIT), "{:?}", encodings("received_at"));
    }

    // Rows are in (device_id, metric, time) order.
    let batches: Vec<_> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(File::open(&files[0]).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let got = one_batch(&batches);
    let keys: Vec<_> = strings(&got, "device_id").into_iter().zip(times(&got, "time")).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(got.schema(), vitals_batch(&[]).unwrap().schema(), "the embedded Arrow schema is the table's");
}

#[test]
fn no_temp_file_is_left_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    for i in 0..5 {
        let observations = vec![obs("m-1", "heart_rate", MAY_1 + i * 86_400 * SECOND, 60.0)];
        store.write(StoreBatch { observations, dead_letters: vec![letter(MAY_1, None, b"?")] }).unwrap();
        store.flush().unwrap();
    }
    let files = all_files(dir.path());
    assert_eq!(files.len(), 10);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-") && name.ends_with(".parquet") && !name.contains("inprogress"), "{name}");
    }
}

#[tokio::test]
async fn a_stale_temp_file_from_a_crash_is_never_read_and_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    // A "crashed" writer: a complete, valid Parquet file still under its temp name, and a
    // truncated one.
    let mut first = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    first
        .write(StoreBatch { observations: vec![obs("m-1", "heart_rate", MAY_1, 60.0)], dead_letters: vec![] })
        .unwrap();
    first.flush().unwrap();
    drop(first);
    let done = all_files(dir.path()).remove(0);
    let partition = done.parent().unwrap().to_path_buf();
    let stale = partition.join(".part-0000000000000001-000001-crashed.parquet.inprogress");
    std::fs::copy(&done, &stale).unwrap();
    let truncated = dir.path().join("dead_letters/.part-0000000000000002-000001-crashed.parquet.inprogress");
    std::fs::write(&truncated, b"PAR1 trunc").unwrap();

    let session = QuerySession::open(dir.path()).unwrap();
    assert_eq!(count(&session, "vitals", "").await, 1, "the temp copy is not read");
    assert_eq!(count(&session, "dead_letters", "").await, 0);

    let _store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    assert!(!stale.exists() && !truncated.exists());
    assert_eq!(all_files(dir.path()), [done], "only the finished file remains");
    assert_eq!(count(&session, "vitals", "").await, 1);
}
