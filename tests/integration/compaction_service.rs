//! Compaction as the service and the CLI run it: a past partition fragmented into small files is
//! merged by the service's periodic task while queries keep seeing identical counts and sums,
//! `/metrics` counts it; `wardstream compact` (the binary) merges what it is told to.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, Int64Type};
use wardstream_ingest::Service;
use wardstream_ingest::config::{CompactionSettings, Config};
use wardstream_pipeline::{Catalogue, Flags, Observation, Sink, Source, StoreBatch};
use wardstream_storage::{ParquetStore, StorageConfig};

use crate::support::http;
use crate::support::wardstream_process::metric_sum;
use crate::support::{service_config, wardstream_bin};

/// 2024-05-01T00:00:00Z in µs.
const MAY_1: i64 = 1_714_521_600_000_000;
const SECOND: i64 = 1_000_000;
const DAY: i64 = 86_400 * SECOND;

fn obs(device: &str, time: i64, value: f64) -> Observation {
    Observation {
        time,
        device_time: time,
        received_at: time + 1,
        device_id: Arc::from(device),
        metric: Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap()),
        value,
        source_name: "HR".into(),
        source_value: value,
        source_unit: Some("/min".into()),
        flags: Flags::NONE,
        patient_id: None,
        encounter_id: None,
        ward: None,
        bed: None,
        source: Source::Mqtt,
    }
}

/// `files` files of `rows` rows on day `day` after 2024-05-01, values continuing from `*next`
/// (1, 2, 3 …, so sums are exact).
fn write_day(data: &Path, day: i64, files: usize, rows: usize, next: &mut i64) {
    let config = StorageConfig { max_rows_per_file: 1_000_000, ..StorageConfig::test_config(data) };
    let mut store = ParquetStore::open(config).unwrap();
    for f in 0..files {
        let observations = (0..rows)
            .map(|r| {
                *next += 1;
                let device = format!("mon-{}", (r + f) % 7);
                obs(&device, MAY_1 + day * DAY + (*next) * SECOND, *next as f64)
            })
            .collect();
        store.write(StoreBatch { observations, dead_letters: vec![] }).unwrap();
        store.flush().unwrap();
    }
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

fn partition(data: &Path, date: &str) -> PathBuf {
    data.join("vitals").join(format!("date={date}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_compacts_a_past_partition_while_queries_see_identical_counts() {
    let data = tempfile::tempdir().unwrap();
    let mut next = 0;
    write_day(data.path(), 0, 12, 50, &mut next);
    let expected = (600_i64, (1..=600).sum::<i64>() as f64);
    assert_eq!(parquet_files(&partition(data.path(), "2024-05-01")).len(), 12);

    let config = Config {
        compaction: CompactionSettings { interval_ms: 300, min_files: 4, ..CompactionSettings::default() },
        mqtt: vec![],
        ..service_config(data.path(), "mqtt://127.0.0.1:1", "unused")
    };
    let service = Service::start(&config).await.unwrap();
    let stats = service.compaction_stats().unwrap();
    let session = service.state().session.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut queries = 0;
    // Queries before, during and after the compaction: every answer is the same.
    loop {
        let batches = session.sql("SELECT count(*) AS n, sum(value) AS s FROM vitals").await.unwrap();
        let n = batches[0].column(0).as_primitive::<Int64Type>().value(0);
        let s = batches[0].column(1).as_primitive::<Float64Type>().value(0);
        assert_eq!((n, s), expected, "after {queries} queries");
        queries += 1;
        if stats.snapshot().partitions_compacted == 1 && queries > 20 {
            break;
        }
        assert!(Instant::now() < deadline, "no compaction: {:?}", stats.snapshot());
    }
    let snapshot = stats.snapshot();
    assert_eq!(
        (snapshot.partitions_compacted, snapshot.files_merged, snapshot.files_written, snapshot.rows_merged),
        (1, 12, 1, 600)
    );
    assert_eq!(snapshot.errors, 0);
    assert_eq!(parquet_files(&partition(data.path(), "2024-05-01")).len(), 1);

    let api = service.http_address().unwrap();
    let text = tokio::task::spawn_blocking(move || http::get(api, "/metrics").body).await.unwrap();
    assert_eq!(metric_sum(&text, "wardstream_compactions_total"), 1.0, "{text}");
    assert_eq!(metric_sum(&text, "wardstream_compaction_files_merged_total"), 12.0);
    assert_eq!(metric_sum(&text, "wardstream_compaction_files_written_total"), 1.0);
    assert_eq!(metric_sum(&text, "wardstream_compaction_rows_total"), 600.0);
    assert_eq!(metric_sum(&text, "wardstream_compaction_errors_total"), 0.0);
    assert!(metric_sum(&text, "wardstream_compaction_bytes_in_total") > 0.0);
    service.shutdown().await.unwrap();
}

fn wardstream(args: &[&str]) -> std::process::Output {
    Command::new(wardstream_bin()).args(args).output().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_compact_command_merges_the_partitions_it_is_told_to() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut next = 0;
    write_day(data.path(), 0, 5, 40, &mut next);
    write_day(data.path(), 1, 3, 40, &mut next);
    let count = || {
        stdout(&wardstream(&[
            "query",
            "--data",
            dir,
            "--format",
            "csv",
            "SELECT count(*) AS n, sum(value) AS s FROM vitals",
        ]))
    };
    assert_eq!(count(), "n,s\n320,51360.0\n");

    // One partition, named.
    let out = stdout(&wardstream(&[
        "compact",
        "--data-dir",
        dir,
        "--table",
        "vitals",
        "--date",
        "2024-05-01",
        "--min-files",
        "2",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("vitals 2024-05-01: 5 files -> 1 (200 rows, "), "{out}");
    assert_eq!(lines[1], "compacted 1 partitions: 5 files merged into 1, 200 rows");
    assert_eq!(parquet_files(&partition(data.path(), "2024-05-01")).len(), 1);
    assert_eq!(parquet_files(&partition(data.path(), "2024-05-02")).len(), 3);
    assert_eq!(count(), "n,s\n320,51360.0\n");

    // Every past partition: only the one left fragmented; then nothing to do.
    let out = stdout(&wardstream(&["compact", "--data", dir, "--min-files", "2"]));
    assert!(out.starts_with("vitals 2024-05-02: 3 files -> 1 (120 rows, "), "{out}");
    assert!(out.ends_with("compacted 1 partitions: 3 files merged into 1, 120 rows\n"), "{out}");
    let out = stdout(&wardstream(&["compact", "--data", dir, "--min-files", "2"]));
    assert_eq!(out, "compacted 0 partitions: 0 files merged into 0, 0 rows\n");
    assert_eq!(count(), "n,s\n320,51360.0\n");

    let bad = wardstream(&["compact", "--data", dir, "--table", "nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown table \"nope\""));
    let missing = wardstream(&["compact", "--data", "/nonexistent/wardstream"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no data directory"));
}
