//! `dataset`: generates the Parquet layout and analyst-query data set of `BENCHMARKS.md` from
//! [`wardstream_bench::dataset`]'s hospital, through wardstream's own stages on one thread
//! (SenML decode → normalise → attach → `ParquetStore`), without MQTT or the WAL. It writes
//! `<out>/vitals/date=…/*.parquet`, the association log `<out>/associations/associations.log`
//! (what `wardstream query` attributes readings with), `<out>/associations.csv` (the same
//! intervals for DuckDB's join), optionally the same readings as InfluxDB line protocol, then
//! compacts the partitions as the service would, and prints a JSON summary on stdout: readings,
//! raw SenML bytes, Parquet bytes as written and after compaction.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use wardstream_bench::dataset::Hospital;
use wardstream_bench::load::pack::VITALS;
use wardstream_pipeline::association::{AssociationConfig, AssociationHub, attach};
use wardstream_pipeline::{Catalogue, Normaliser, PipelineStats, Sink, StoreBatch};
use wardstream_protocols::senml::{DeviceIdFrom, DeviceIdRule, pack_to_batch};
use wardstream_storage::{AssociationLog, CompactionConfig, ParquetStore, StorageConfig, compact_all};

#[derive(Debug, Parser)]
#[command(name = "dataset", about = "generate the 1 Hz vitals data set of BENCHMARKS.md")]
struct Options {
    /// Monitors (one per bed, ten vital signs a second each).
    #[arg(long, default_value_t = 1000)]
    devices: u32,
    /// Seconds of data.
    #[arg(long, default_value_t = 10_000)]
    seconds: u64,
    /// Output data directory (must not exist).
    #[arg(long, required_unless_present = "measure")]
    out: Option<PathBuf>,
    /// Instead of generating: measure an existing data directory (e.g. `wardstream demo`'s),
    /// compact it as the service would, and measure it again.
    #[arg(long, conflicts_with = "out")]
    measure: Option<PathBuf>,
    /// Also write the readings as InfluxDB line protocol (ms precision) to this file.
    #[arg(long)]
    influx_lines: Option<PathBuf>,
    /// In the line protocol, also store each pack's receive time (µs, an integer field
    /// `received_at`), so that InfluxDB holds the same information as wardstream's files.
    #[arg(long, requires = "influx_lines")]
    influx_received_at: bool,
    /// Rows per Parquet file as the writer cuts them (the service's default is 1,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    rows_per_file: usize,
}

fn dir_bytes(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut bytes, mut files) = (0, 0);
    if !dir.exists() {
        return Ok((0, 0));
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (b, f) = dir_bytes(&entry.path())?;
            bytes += b;
            files += f;
        } else if entry.path().extension().is_some_and(|e| e == "parquet") {
            bytes += meta.len();
            files += 1;
        }
    }
    Ok((bytes, files))
}

/// Rows in the `vitals` Parquet files under `dir` (from their footers).
fn parquet_rows(dir: &Path) -> anyhow::Result<u64> {
    let mut rows = 0;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rows += parquet_rows(&path)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            let reader = parquet::file::reader::SerializedFileReader::new(File::open(&path)?)?;
            rows += parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows() as u64;
        }
    }
    Ok(rows)
}

/// `--measure`: bytes per row of an existing data directory, before and after compaction.
fn measure(dir: &Path) -> anyhow::Result<()> {
    let vitals = dir.join("vitals");
    let rows = parquet_rows(&vitals)?;
    let (written_bytes, written_files) = dir_bytes(&vitals)?;
    let started = Instant::now();
    let compaction = CompactionConfig { include_today: true, ..CompactionConfig::default() };
    compact_all(dir, &compaction, wardstream_pipeline::Clock::now_micros(&wardstream_pipeline::SystemClock))?;
    let compact_s = started.elapsed().as_secs_f64();
    let (compacted_bytes, compacted_files) = dir_bytes(&vitals)?;
    anyhow::ensure!(parquet_rows(&vitals)? == rows, "compaction changed the row count");
    let per = |b: u64| b as f64 / rows.max(1) as f64;
    let summary = serde_json::json!({
        "data_dir": dir,
        "readings": rows,
        "written": { "files": written_files, "bytes": written_bytes, "bytes_per_reading": per(written_bytes) },
        "compacted": { "files": compacted_files, "bytes": compacted_bytes, "bytes_per_reading": per(compacted_bytes) },
        "compact_s": compact_s,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let o = Options::parse();
    if let Some(dir) = &o.measure {
        return measure(dir);
    }
    let out = o.out.clone().ok_or_else(|| anyhow::anyhow!("--out is required"))?;
    let o = Options { out: None, ..o };
    anyhow::ensure!(!out.exists(), "{} exists", out.display());
    fs::create_dir_all(out.join("associations"))?;
    let mut hospital = Hospital::new(o.devices, o.seconds);
    let events = hospital.association_events();
    let (log, _) = AssociationLog::open(&out.join("associations")).context("association log")?;
    for event in &events {
        log.append(event).context("association log")?;
    }
    drop(log);
    let hub = AssociationHub::new(AssociationConfig::default());
    let summary = hub.replay(events);
    anyhow::ensure!(summary.rejected.is_empty(), "rejected events: {:?}", summary.rejected);
    let snapshot = hub.snapshot();
    let mut csv = BufWriter::new(File::create(out.join("associations.csv"))?);
    writeln!(csv, "device_id,patient_id,encounter_id,ward,bed,valid_from_us,valid_to_us")?;
    for i in hospital.intervals() {
        let to = i.to.map(|t| t.to_string()).unwrap_or_default();
        writeln!(csv, "{},{},{},{},{},{},{}", i.device_id, i.patient_id, i.encounter_id, i.ward, i.bed, i.from, to)?;
    }
    csv.flush()?;

    let config = StorageConfig {
        data_dir: out.clone(),
        flush_interval_ms: 3_600_000,
        max_rows_per_file: o.rows_per_file,
        row_group_rows: StorageConfig::default().row_group_rows,
    };
    let mut store = ParquetStore::open(config)?;
    let mut influx =
        o.influx_lines.as_ref().map(File::create).transpose()?.map(|f| BufWriter::with_capacity(1 << 20, f));
    let rule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
    let normaliser = Normaliser::new(Arc::new(Catalogue::builtin()));
    let stats = PipelineStats::default();
    let (mut readings, mut senml_bytes, mut dead) = (0u64, 0u64, 0u64);
    let mut pack = String::new();
    let started = Instant::now();
    for s in 0..o.seconds {
        let mut out = StoreBatch::default();
        for i in 0..o.devices {
            let delay = hospital.pack(i, s, &mut pack);
            let t = hospital.publish_time(i, s);
            senml_bytes += pack.len() as u64;
            let batch = pack_to_batch(pack.as_bytes(), "wardstream/ward/monitor/vitals", &rule, t + delay);
            if let Some(lines) = influx.as_mut() {
                let a = snapshot.attach(&Hospital::device_id(i), t);
                let patient = match a {
                    wardstream_pipeline::association::Attach::Attached(a) => a.patient_id.to_string(),
                    _ => "none".into(),
                };
                let bed = Hospital::bed(i);
                write!(
                    lines,
                    "vitals,device={},ward={},bed={}-{},patient={} ",
                    Hospital::device_name(i),
                    bed.ward,
                    bed.room,
                    bed.bed,
                    patient
                )?;
                for (k, r) in batch.readings.iter().enumerate() {
                    let v = match r.value {
                        wardstream_pipeline::RawValue::Number(v) => v,
                        _ => f64::NAN,
                    };
                    write!(lines, "{}{}={}", if k == 0 { "" } else { "," }, VITALS[k].0, v)?;
                }
                if o.influx_received_at {
                    write!(lines, ",received_at={}i", t + delay)?;
                }
                writeln!(lines, " {}", t / 1000)?;
            }
            normaliser.normalise_batch(batch, &mut out, &stats);
        }
        attach(&snapshot, &mut out.observations);
        readings += out.observations.len() as u64;
        dead += out.dead_letters.len() as u64;
        store.write(out).map_err(|e| anyhow::anyhow!("{e}"))?;
        if s % 1000 == 999 {
            eprintln!("{} s of data, {readings} readings, {:.1} s", s + 1, started.elapsed().as_secs_f64());
        }
    }
    store.flush().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(mut lines) = influx {
        lines.flush()?;
    }
    let generated_s = started.elapsed().as_secs_f64();
    let (written_bytes, written_files) = dir_bytes(&out.join("vitals"))?;
    let started = Instant::now();
    let compaction = CompactionConfig { include_today: true, ..CompactionConfig::default() };
    let run =
        compact_all(&out, &compaction, wardstream_pipeline::Clock::now_micros(&wardstream_pipeline::SystemClock))?;
    let compact_s = started.elapsed().as_secs_f64();
    let (compacted_bytes, compacted_files) = dir_bytes(&out.join("vitals"))?;
    let _ = run;
    let summary = serde_json::json!({
        "devices": o.devices,
        "seconds": o.seconds,
        "readings": readings,
        "dead_letters": dead,
        "senml_bytes": senml_bytes,
        "senml_bytes_per_reading": senml_bytes as f64 / readings.max(1) as f64,
        "written": { "files": written_files, "bytes": written_bytes, "bytes_per_reading": written_bytes as f64 / readings.max(1) as f64, "rows_per_file": o.rows_per_file },
        "compacted": { "files": compacted_files, "bytes": compacted_bytes, "bytes_per_reading": compacted_bytes as f64 / readings.max(1) as f64 },
        "generate_s": generated_s,
        "compact_s": compact_s,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
