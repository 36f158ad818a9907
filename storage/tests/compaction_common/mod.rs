//! Helpers of the compaction tests: a seeded generator, rows, small files written through
//! the store, and reading files and query answers back.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use wardstream_pipeline::{Catalogue, Flag, Flags, Observation, Sink, Source, StoreBatch};
use wardstream_storage::{ParquetStore, QuerySession, StorageConfig};

/// 2024-05-01T00:00:00Z in µs.
pub const MAY_1: i64 = 1_714_521_600_000_000;
/// One second in µs.
pub const SECOND: i64 = 1_000_000;
/// One day in µs.
pub const DAY: i64 = 86_400 * SECOND;

/// splitmix64: a small deterministic generator, so that a failing case can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn obs(device: &str, metric: &str, time: i64, value: f64) -> Observation {
    Observation {
        time,
        device_time: time - 7,
        received_at: time + 11,
        device_id: Arc::from(device),
        metric: Arc::clone(Catalogue::builtin().by_name(metric).unwrap()),
        value,
        source_name: format!("{metric}-raw"),
        source_value: value * 2.0,
        source_unit: (value as i64 % 3 == 0).then(|| "raw".to_string()),
        flags: if value as i64 % 5 == 0 { Flags::of(Flag::Questionable) } else { Flags::NONE },
        patient_id: (value as i64 % 2 == 0).then(|| Arc::from("P-1")),
        encounter_id: None,
        ward: Some(Arc::from("icu")),
        bed: None,
        source: Source::Mqtt,
    }
}

/// Writes each batch as its own flush: one file per batch per partition.
pub fn write_files(data_dir: &Path, files: Vec<Vec<Observation>>) {
    let config = StorageConfig { max_rows_per_file: 1_000_000, ..StorageConfig::test_config(data_dir) };
    let mut store = ParquetStore::open(config).unwrap();
    for observations in files {
        store.write(StoreBatch { observations, dead_letters: vec![] }).unwrap();
        store.flush().unwrap();
    }
}

pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(".parquet"))
        .collect();
    files.sort();
    files
}

pub fn read(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    reader.collect::<Result<_, _>>().unwrap()
}

/// `count(*)` and `sum(value)` of `vitals` through a session.
pub fn count_and_sum(runtime: &tokio::runtime::Runtime, session: &QuerySession) -> Result<(i64, f64), String> {
    let batches = runtime
        .block_on(session.sql("SELECT count(*) AS n, sum(value) AS s FROM vitals"))
        .map_err(|e| e.to_string())?;
    let batch = &batches[0];
    Ok((batch.column(0).as_primitive::<Int64Type>().value(0), batch.column(1).as_primitive::<Float64Type>().value(0)))
}

/// Three days of ten files of 100 rows, values 1..=3000 (sums are exact in f64).
pub fn three_fragmented_days(data_dir: &Path) {
    let mut n = 0;
    let mut files = Vec::new();
    for day in 0..3 {
        for _ in 0..10 {
            let rows = (0..100)
                .map(|_| {
                    n += 1;
                    obs(
                        &format!("m-{}", n % 7),
                        ["heart_rate", "spo2"][n % 2],
                        MAY_1 + day * DAY + n as i64 * SECOND,
                        n as f64,
                    )
                })
                .collect();
            files.push(rows);
        }
    }
    write_files(data_dir, files);
}
