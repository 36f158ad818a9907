//! criterion benchmarks of the whole in-process pipeline on one core and of its last two stages:
//! SenML payloads → `pack_to_batch` → `Normaliser::normalise_batch` → `Conditioner::condition`
//! (de-duplication, clock skew) → `attach` (patient, encounter, ward, bed) → sorted as the
//! Parquet writer sorts a file → `vitals_batch` (Arrow `RecordBatch`); then the Arrow batch
//! alone and Parquet encoding alone (the store's writer properties, into memory). Throughput
//! is in readings; the data is [`wardstream_bench::dataset`]'s hospital (whole-number 1 Hz
//! vitals, ten a pack). Results and machine in `BENCHMARKS.md`.
//!
//! Run: `cargo bench -p wardstream-bench --bench pipeline`. Without `--bench` (`cargo test
//! --benches`: criterion runs each bench once, in the debug profile) the hot store is filled with
//! 10 s of 20 monitors instead of its full window; the rest is the same (set-up stays under
//! ~0.5 GB).

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wardstream_bench::dataset::Hospital;
use wardstream_bench::stages::{Stages, second_of_packs};
use wardstream_pipeline::{HotConfig, HotStore, Observation, StoreBatch};
use wardstream_storage::file::{column_pages, writer_properties};
use wardstream_storage::file_writer::TableFileWriter;
use wardstream_storage::{Table, vitals_batch};

/// `monitors` monitors' packs of one second, processed as one batch; `Display` is the bench id.
struct Scenario {
    monitors: u32,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_monitors_x_10_readings", self.monitors)
    }
}

/// The Arrow batch of `rows` in the Parquet writer's file order (device, metric, time).
fn sorted_batch(rows: &[Observation]) -> arrow::array::RecordBatch {
    let mut view: Vec<&Observation> = rows.iter().collect();
    view.sort_unstable_by(|a, b| {
        (&*a.device_id, a.metric.name.as_str(), a.time).cmp(&(&*b.device_id, b.metric.name.as_str(), b.time))
    });
    vitals_batch(view).unwrap_or_else(|e| panic!("vitals batch: {e}"))
}

fn whole_pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    for scenario in [Scenario { monitors: 64 }, Scenario { monitors: 2000 }] {
        let mut hospital = Hospital::new(scenario.monitors, 1_000_000);
        let mut stages = Stages::new(&hospital).unwrap_or_else(|e| panic!("{e}"));
        let mut probe = StoreBatch::default();
        stages.run(&second_of_packs(&mut hospital, scenario.monitors, 0), &mut probe);
        let readings = scenario.monitors as usize * 10;
        assert_eq!((probe.observations.len(), probe.dead_letters.len()), (readings, 0), "{scenario}");
        assert!(probe.observations.iter().all(|o| o.patient_id.is_some()), "{scenario}: every reading attached");
        let flagged = probe.observations.iter().filter(|o| o.flags != wardstream_pipeline::Flags::NONE).count();
        if let Some(o) = probe.observations.iter().find(|o| o.flags != wardstream_pipeline::Flags::NONE) {
            eprintln!("{scenario}: {flagged} readings flagged, e.g. {:?}", o.flags.iter().collect::<Vec<_>>());
        }
        assert_eq!(sorted_batch(&probe.observations).num_rows(), readings);
        let mut second = 1;
        group.throughput(Throughput::Elements(readings as u64));
        group.bench_function(scenario.to_string(), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    // A new second each time: the de-duplicator must not see repeats.
                    let packs = second_of_packs(&mut hospital, scenario.monitors, second);
                    second += 1;
                    let start = Instant::now();
                    let mut out = StoreBatch::default();
                    stages.run(&packs, &mut out);
                    let batch = sorted_batch(&out.observations);
                    timed += start.elapsed();
                    black_box(batch);
                }
                timed
            })
        });
    }
    group.finish();
}

/// `rows` observations of the hospital (2,000 monitors), through the real stages.
///
/// Each second goes through the stages in a batch of its own, as the writer sees it. (Running
/// them over one growing batch re-conditioned the earlier seconds every time: the de-duplicator
/// turned them into `duplicate` dead letters, so the batch never passed one second of readings,
/// the loop never ended and the dead letters grew by 20,000 a second — the memory blow-up of
/// the benches' debug smoke run.)
fn observations(rows: usize) -> Vec<Observation> {
    let mut hospital = Hospital::new(2000, 1_000_000);
    let mut stages = Stages::new(&hospital).unwrap_or_else(|e| panic!("{e}"));
    let mut rows_out = Vec::with_capacity(rows + 20_000);
    let mut s = 0;
    while rows_out.len() < rows {
        let mut out = StoreBatch::default();
        stages.run(&second_of_packs(&mut hospital, 2000, s), &mut out);
        assert_eq!((out.observations.len(), out.dead_letters.len()), (20_000, 0), "second {s}");
        rows_out.append(&mut out.observations);
        s += 1;
    }
    rows_out.truncate(rows);
    rows_out.sort_unstable_by(|a, b| {
        (&*a.device_id, a.metric.name.as_str(), a.time).cmp(&(&*b.device_id, b.metric.name.as_str(), b.time))
    });
    rows_out
}

/// A row group of 131,072 rows (the default `row_group_rows`).
const ROWS: usize = 131_072;

fn arrow_and_parquet(c: &mut Criterion) {
    let rows = observations(ROWS);
    let mut group = c.benchmark_group("store");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function(format!("arrow_batch_{ROWS}_sorted_rows"), |b| {
        b.iter(|| vitals_batch(black_box(&rows)).unwrap_or_else(|e| panic!("{e}")))
    });
    let batch = vitals_batch(&rows).unwrap_or_else(|e| panic!("{e}"));
    let props = writer_properties(Table::Vitals, ROWS).unwrap_or_else(|e| panic!("{e}"));
    let encode = |batch: &arrow::array::RecordBatch| {
        let mut writer = TableFileWriter::try_new(
            Vec::with_capacity(1 << 20),
            batch.schema(),
            props.clone(),
            column_pages(Table::Vitals),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        writer.write(batch).unwrap_or_else(|e| panic!("{e}"));
        writer.into_inner().unwrap_or_else(|e| panic!("{e}"))
    };
    let bytes = encode(&batch).len();
    eprintln!("parquet: {ROWS} rows in {bytes} bytes, {:.3} bytes per reading", bytes as f64 / ROWS as f64);
    group.bench_function(format!("parquet_encode_{ROWS}_sorted_rows"), |b| b.iter(|| encode(black_box(&batch))));
    group.finish();
}

/// Resident memory of this process, bytes (`/proc/self/statm`; 0 where there is none).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).map_or(0, |pages| pages * 4096)
}

/// The hot store (timelines' recent readings) at 2,000 beds: filled to its default window
/// (15 min of 10 vitals at 1 Hz: 18 M entries; the memory it took is printed), then one
/// second of the hospital inserted per iteration, each evicting the second that leaves the
/// window. The observations are built untimed.
fn hot_store(c: &mut Criterion) {
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`, the test suite's
    // smoke run of every bench, in the debug profile) the store is filled for 10 s of 20
    // monitors only: the full window needs gigabytes and many minutes unoptimised.
    let measuring = std::env::args().any(|a| a == "--bench");
    let monitors: u32 = if measuring { 2000 } else { 20 };
    let config = HotConfig::default();
    let window_s = if measuring { (config.window / 1_000_000) as u64 } else { 10 };
    let mut hospital = Hospital::new(monitors, 1_000_000);
    let mut stages = Stages::new(&hospital).unwrap_or_else(|e| panic!("{e}"));
    let mut second = |s: u64| {
        let mut out = StoreBatch::default();
        stages.run(&second_of_packs(&mut hospital, monitors, s), &mut out);
        out.observations
    };
    let hot = HotStore::new(config);
    let before = rss_bytes();
    for s in 0..window_s {
        hot.insert(&second(s));
    }
    let entries = hot.len();
    let grown = rss_bytes().saturating_sub(before);
    eprintln!(
        "hot store: {entries} entries after {window_s} s of {monitors} monitors; RSS grew {:.0} MiB, {:.1} bytes per entry; \
         {:.1} bytes per entry reserved by the store",
        grown as f64 / 1048576.0,
        grown as f64 / entries.max(1) as f64,
        hot.heap_bytes() as f64 / entries.max(1) as f64
    );
    let mut next = window_s;
    let mut group = c.benchmark_group("hot_store");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(u64::from(monitors) * 10));
    group.bench_function(format!("insert_1_s_of_{monitors}_monitors_into_a_full_{window_s}_s_window"), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let rows = second(next);
                next += 1;
                let start = Instant::now();
                hot.insert(black_box(&rows));
                timed += start.elapsed();
            }
            timed
        })
    });
    group.finish();
}

criterion_group!(benches, whole_pipeline, arrow_and_parquet, hot_store);
criterion_main!(benches);
