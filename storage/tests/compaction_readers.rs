//! Compaction with readers running: queries through a `QuerySession` during repeated
//! compactions always get the same count and sum, and pyarrow and DuckDB read the merged
//! files with the same count and sum.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod compaction_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wardstream_storage::QuerySession;
use wardstream_storage::compaction::{CompactionConfig, Compactor, compact_all};

use compaction_common::*;

#[test]
fn compaction_under_queries_counts_and_sums_are_identical_before_during_and_after() {
    let dir = tempfile::tempdir().unwrap();
    three_fragmented_days(dir.path());
    let session = QuerySession::open(dir.path()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let before = count_and_sum(&runtime, &session);
    assert_eq!(before, Ok((3000, 4_501_500.0)));

    let stop = Arc::new(AtomicBool::new(false));
    let queries = std::thread::spawn({
        let (session, stop) = (session.clone(), Arc::clone(&stop));
        move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(count_and_sum(&runtime, &session));
            }
            answers
        }
    });

    // First the real thing (10 small files per day), then rewrites that swap every partition
    // on every round, alternating between two file sizes.
    let first =
        Compactor::new(dir.path(), CompactionConfig { batch_rows: 64, ..CompactionConfig::test_config() }).unwrap();
    let run = first.compact_all(MAY_1 + 10 * DAY).unwrap();
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    assert_eq!(run.compacted.iter().map(|r| (r.files_in, r.files_out, r.rows)).collect::<Vec<_>>(), [(10, 1, 1000); 3]);
    let mut swaps = 3;
    for round in 0..20 {
        let max_rows_per_file = if round % 2 == 0 { 130 } else { 370 };
        let config = CompactionConfig {
            rewrite_all: true,
            max_rows_per_file,
            batch_rows: 64,
            ..CompactionConfig::test_config()
        };
        let compactor = Compactor::new(dir.path(), config).unwrap();
        let run = compactor.compact_all(MAY_1 + 10 * DAY).unwrap();
        assert!(run.failed.is_empty(), "{:?}", run.failed);
        let files_out = if round % 2 == 0 { 8 } else { 3 };
        assert_eq!(run.compacted.iter().map(|r| (r.rows, r.files_out)).collect::<Vec<_>>(), [(1000, files_out); 3]);
        swaps += run.compacted.len();
    }
    stop.store(true, Ordering::Relaxed);
    let answers = queries.join().unwrap();

    assert_eq!(swaps, 63);
    assert!(answers.len() >= 10, "only {} queries ran during the compactions", answers.len());
    let wrong: Vec<_> = answers.iter().filter(|a| **a != before).collect();
    assert!(wrong.is_empty(), "{} of {} answers differ, e.g. {:?}", wrong.len(), answers.len(), wrong.first());
    assert_eq!(count_and_sum(&runtime, &session), before, "after");
    // Without the read lock (checked by disabling it), queries here fail on files deleted
    // under them or count a partition twice.
}

#[test]
fn pyarrow_and_duckdb_read_the_merged_files_with_the_same_count_and_sum() {
    let dir = tempfile::tempdir().unwrap();
    three_fragmented_days(dir.path());
    let run = compact_all(dir.path(), &CompactionConfig::test_config(), MAY_1 + 10 * DAY).unwrap();
    assert_eq!(run.compacted.len(), 3);
    for day in ["2024-05-01", "2024-05-02", "2024-05-03"] {
        assert_eq!(parquet_files(&dir.path().join(format!("vitals/date={day}"))).len(), 1);
    }
    let script = r#"
import sys, pyarrow.dataset as ds, pyarrow.parquet as pq, duckdb
root = sys.argv[1]
t = ds.dataset(root + "/vitals", format="parquet", partitioning="hive").to_table()
print(t.num_rows, float(sum(t.column("value").to_pylist())), sorted(set(t.column("date").to_pylist())))
f = ds.dataset(root + "/vitals", format="parquet", partitioning="hive").files[0]
rg = pq.ParquetFile(f).metadata.row_group(0)
print([pq.ParquetFile(f).schema_arrow.names[c.column_index] for c in rg.sorting_columns], rg.column(0).compression)
n, s = duckdb.sql(f"SELECT count(*), sum(value) FROM read_parquet('{root}/vitals/*/*.parquet', hive_partitioning = true)").fetchall()[0]
print(n, float(s))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("python3 with pyarrow and duckdb (scripts/test.sh installs them)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "3000 4501500.0 ['2024-05-01', '2024-05-02', '2024-05-03']\n['device_id', 'metric', 'time'] ZSTD\n3000 4501500.0\n"
    );
}
