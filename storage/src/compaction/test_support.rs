//! Helpers of the compaction unit tests: rows, small files, and reading the files back.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use wardstream_pipeline::{Catalogue, Flags, Observation, Sink, Source, StoreBatch};

use crate::{ParquetStore, StorageConfig};

/// 2024-05-01T00:00:00Z in µs.
pub const MAY_1: i64 = 1_714_521_600_000_000;

/// A heart-rate observation.
pub fn obs(device: &str, time: i64, value: f64) -> Observation {
    Observation {
        time,
        device_time: time,
        received_at: time,
        device_id: Arc::from(device),
        metric: Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap()),
        value,
        source_name: "HR".into(),
        source_value: value,
        source_unit: None,
        flags: Flags::NONE,
        patient_id: None,
        encounter_id: None,
        ward: None,
        bed: None,
        source: Source::Mqtt,
    }
}

/// Writes `files` files of `rows` rows each into the 2024-05-01 vitals partition (devices
/// `m-0`…`m-2`, values 0, 1, 2… so sums are exact); returns the partition directory.
pub fn small_files(data_dir: &Path, files: usize, rows: usize) -> PathBuf {
    let mut store = ParquetStore::open(StorageConfig::test_config(data_dir)).unwrap();
    let mut n = 0;
    for _ in 0..files {
        let observations = (0..rows)
            .map(|_| {
                n += 1;
                obs(&format!("m-{}", n % 3), MAY_1 + n as i64 * 1_000_000, n as f64)
            })
            .collect();
        store.write(StoreBatch { observations, dead_letters: vec![] }).unwrap();
        store.flush().unwrap();
    }
    data_dir.join("vitals").join("date=2024-05-01")
}

/// The names of the files in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// The `*.parquet` names in `dir`, sorted.
pub fn parquet_names(dir: &Path) -> Vec<String> {
    names(dir).into_iter().filter(|n| n.ends_with(".parquet") && !n.starts_with('.')).collect()
}

/// Every batch of a Parquet file.
pub fn read(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    reader.collect::<Result<_, _>>().unwrap()
}

/// (rows, sum of `value`) over the `*.parquet` files of `dir`, as a listing would see them.
pub fn totals(dir: &Path) -> (usize, f64) {
    let mut rows = 0;
    let mut sum = 0.0;
    for name in parquet_names(dir) {
        for batch in read(&dir.join(name)) {
            rows += batch.num_rows();
            sum += batch.column_by_name("value").unwrap().as_primitive::<Float64Type>().values().iter().sum::<f64>();
        }
    }
    (rows, sum)
}

/// (device_id, time, value) of every row of a file, in file order.
pub fn keys(path: &Path) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for batch in read(path) {
        let devices = batch.column_by_name("device_id").unwrap().as_string::<i32>().clone();
        let times = batch.column_by_name("time").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        let values = batch.column_by_name("value").unwrap().as_primitive::<Float64Type>().clone();
        for i in 0..batch.num_rows() {
            out.push((devices.value(i).to_string(), times.value(i), values.value(i)));
        }
    }
    out
}
