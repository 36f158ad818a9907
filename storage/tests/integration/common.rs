//! Builders of domain rows and helpers to read results.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Float64Type, TimestampMicrosecondType};
use wardstream_pipeline::{Catalogue, DeadLetter, Flag, Flags, Metric, Observation, Reason, Source};
use wardstream_storage::{OutputFormat, QuerySession, format_batches};

/// 2024-05-01T00:00:00Z in µs.
pub const MAY_1: i64 = 1_714_521_600_000_000;
/// One second in µs.
pub const SECOND: i64 = 1_000_000;

pub fn metric(name: &str) -> Arc<Metric> {
    Arc::clone(Catalogue::builtin().by_name(name).unwrap())
}

/// An observation with distinct, checkable source fields.
pub fn obs(device: &str, metric_name: &str, time: i64, value: f64) -> Observation {
    Observation {
        time,
        device_time: time - 250,
        received_at: time + 40_000,
        device_id: Arc::from(device),
        metric: metric(metric_name),
        value,
        source_name: format!("{metric_name}-raw"),
        source_value: value * 2.0,
        source_unit: if device.ends_with('9') { None } else { Some("raw-unit".into()) },
        flags: if value > 300.0 { Flags::of(Flag::Implausible) } else { Flags::NONE },
        patient_id: Some(Arc::from("patient-1")),
        encounter_id: None,
        ward: Some(Arc::from("icu")),
        bed: Some(Arc::from(device)),
        source: Source::Mqtt,
    }
}

pub fn letter(received_at: i64, device: Option<&str>, payload: &[u8]) -> DeadLetter {
    DeadLetter {
        received_at,
        source: Source::Serial,
        origin: Arc::from("/dev/ttyUSB0"),
        device_id: device.map(Arc::from),
        source_name: device.map(|_| "XYZ".to_string()),
        reason: if device.is_some() { Reason::UnknownMetric } else { Reason::InvalidPayload },
        detail: format!("rejected at {received_at}"),
        payload: Arc::from(payload),
    }
}

pub fn one_batch(batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(&batches[0].schema(), batches).unwrap()
}

pub fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let col = cast(batch.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
    let col = col.as_string::<i32>();
    (0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i).to_string())).collect()
}

pub fn times(batch: &RecordBatch, column: &str) -> Vec<i64> {
    batch.column_by_name(column).unwrap().as_primitive::<TimestampMicrosecondType>().values().to_vec()
}

pub fn floats(batch: &RecordBatch, column: &str) -> Vec<f64> {
    batch.column_by_name(column).unwrap().as_primitive::<Float64Type>().values().to_vec()
}

/// Runs a query and returns its result as CSV.
pub async fn csv(session: &QuerySession, sql: &str) -> String {
    format_batches(&session.sql(sql).await.unwrap(), OutputFormat::Csv).unwrap()
}

/// `SELECT count(*)` of a table, optionally filtered.
pub async fn count(session: &QuerySession, table: &str, filter: &str) -> i64 {
    let sql = format!("SELECT count(*) AS n FROM {table} {filter}");
    let batch = one_batch(&session.sql(&sql).await.unwrap());
    batch.column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0)
}

/// Every file under `dir`, recursively, sorted.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { stack.push(path) } else { out.push(path) }
        }
    }
    out.sort();
    out
}

/// Files under `dir` relative to it, with the unique file names replaced by `*`, e.g.
/// `vitals/date=2024-05-01/*`.
pub fn file_layout(dir: &Path) -> Vec<String> {
    all_files(dir)
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap();
            let parent = rel.parent().unwrap().to_string_lossy().into_owned();
            let name = rel.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("part-") && name.ends_with(".parquet"), "unexpected file {name}");
            format!("{parent}/*")
        })
        .collect()
}
