//! `hot_rss`: measures what wardstream's [`HotStore`] (the in-memory recent readings behind
//! timelines) costs at a given hospital size, with the configured window. A synthetic hospital
//! ([`wardstream_bench::dataset::Hospital`]: `--monitors` monitors, ten vitals each at 1 Hz) goes
//! second by second through the stages the service runs (SenML decode → normalise → condition →
//! attach), and each second's observations are inserted with [`HotStore::insert`], exactly as the
//! writer's serving sink does, for the window plus `--margin-seconds` (so eviction runs).
//!
//! Reported as JSON (stdout, and `--out`): entries held; the store's heap bytes, counted exactly
//! by a counting allocator (`allocation-counter`, this thread's allocations inside each insert:
//! what the store kept, nothing else); VmRSS before
//! and after and the peak (VmHWM) of the whole process; bytes per entry both ways; and the insert
//! cost per reading while filling and at steady state (every insert then also evicts a second).
//!
//! The counting allocator replaces the global allocator, so this binary needs the `hot-rss`
//! feature (the other bench binaries, the load harness above all, keep the system allocator).
//! Run (release): `CARGO_TARGET_DIR=/work/target-bench cargo build --release -p wardstream-bench
//! --features hot-rss --bin hot_rss && /work/target-bench/release/hot_rss --out
//! bench/results/hot-store-2000-beds.json`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use wardstream_bench::dataset::Hospital;
use wardstream_bench::load::pack::VITALS;
use wardstream_bench::stages::Stages;
use wardstream_pipeline::{HotConfig, HotEntry, HotStore, StoreBatch};

/// `hot_rss [OPTIONS]`: fills a real hot store and prints what it cost (JSON).
#[derive(Debug, Parser)]
#[command(name = "hot_rss", about = "memory and insert cost of wardstream's hot store (JSON on stdout)")]
struct Options {
    /// Bedside monitors (ten vitals each, 1 Hz).
    #[arg(long, default_value_t = 2000)]
    monitors: u32,
    /// Window kept per device, minutes (default: the configured default, `[hot] window_minutes`).
    #[arg(long)]
    window_minutes: Option<u64>,
    /// Most entries per device (default: the configured default, `[hot] max_per_device`).
    #[arg(long)]
    max_per_device: Option<usize>,
    /// Seconds inserted after the window is full (each evicts a second): the steady state.
    #[arg(long, default_value_t = 60)]
    margin_seconds: u64,
    /// Seconds run through the stages before the store is filled, not inserted: the stages'
    /// own bounded state (de-duplication keys: 500,000 by default, reached after 25 s at
    /// 20,000/s) is full before the "before" RSS is read, so RSS growth is the store's.
    #[arg(long, default_value_t = 40)]
    warm_up_seconds: u64,
    /// Also write the JSON here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// Second `s` of every monitor, decoded, normalised, conditioned and attached: one batch.
fn second(stages: &mut Stages, hospital: &mut Hospital, s: u64, text: &mut String) -> StoreBatch {
    let mut out = StoreBatch::default();
    for i in 0..hospital.devices {
        let delay = hospital.pack(i, s, text);
        stages.decode(text.as_bytes(), hospital.publish_time(i, s) + delay, &mut out);
    }
    stages.condition_and_attach(&mut out);
    out
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`; 0 where there is none).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The `q` quantile (0..=1) of `values` (sorted here), 0 when empty.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n => values[((n - 1) as f64 * q).round() as usize],
    }
}

fn run(options: &Options) -> anyhow::Result<serde_json::Value> {
    let defaults = HotConfig::default();
    let config = HotConfig {
        window: options.window_minutes.map_or(defaults.window, |m| (m as i64).saturating_mul(60_000_000)),
        max_per_device: options.max_per_device.unwrap_or(defaults.max_per_device).max(1),
    };
    let window_s = u64::try_from(config.window / 1_000_000).context("negative window")?;
    let seconds = options.warm_up_seconds + window_s + options.margin_seconds + 1;
    let mut hospital = Hospital::new(options.monitors, seconds);
    let mut stages = Stages::new(&hospital)?;
    let mut text = String::new();
    let mut dead_letters = 0usize;
    for s in 0..options.warm_up_seconds {
        dead_letters += second(&mut stages, &mut hospital, s, &mut text).dead_letters.len();
    }
    let store = HotStore::new(config);
    let rss_before = status_bytes("VmRSS");
    // What the store kept (allocated minus freed inside `insert`) and the most it held at once.
    let (mut store_heap, mut store_heap_peak) = (0i64, 0i64);
    let (mut fill_ns, mut steady_ns) = (Vec::new(), Vec::new());
    let mut readings = 0u64;
    let started = Instant::now();
    for s in options.warm_up_seconds..seconds {
        let batch = second(&mut stages, &mut hospital, s, &mut text);
        dead_letters += batch.dead_letters.len();
        let n = batch.observations.len();
        readings += n as u64;
        let start = Instant::now();
        let counted = allocation_counter::measure(|| store.insert(&batch.observations));
        let ns = start.elapsed().as_nanos() as f64 / n.max(1) as f64;
        store_heap_peak = store_heap_peak.max(store_heap + counted.bytes_max as i64);
        store_heap += counted.bytes_current;
        if s - options.warm_up_seconds <= window_s { &mut fill_ns } else { &mut steady_ns }.push(ns);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let entries = store.len();
    let (rss_after, hwm) = (status_bytes("VmRSS"), status_bytes("VmHWM"));
    let per_entry = |bytes: f64| bytes / entries.max(1) as f64;
    let rss_grown = rss_after.saturating_sub(rss_before);
    Ok(json!({
        "what": "HotStore filled through decode → normalise → condition → attach → HotStore::insert (as the serving sink)",
        "monitors": options.monitors,
        "metrics_per_monitor": VITALS.len(),
        "rate_per_s": u64::from(options.monitors) * VITALS.len() as u64,
        "window_s": window_s,
        "max_per_device": config.max_per_device,
        "warm_up_seconds_not_inserted": options.warm_up_seconds,
        "seconds_inserted": seconds - options.warm_up_seconds,
        "readings_inserted": readings,
        "dead_letters": dead_letters,
        "entries_held": entries,
        "hot_entry_size_bytes": std::mem::size_of::<HotEntry>(),
        "held_entry_bytes": HotStore::ENTRY_BYTES,
        "store_reserved_bytes_by_its_own_account": store.heap_bytes(),
        "store_heap_bytes": store_heap,
        "store_heap_bytes_per_entry": per_entry(store_heap as f64),
        "store_heap_peak_bytes": store_heap_peak,
        "vm_rss_before_bytes": rss_before,
        "vm_rss_after_bytes": rss_after,
        "vm_hwm_bytes": hwm,
        "vm_rss_grown_bytes": rss_grown,
        "vm_rss_grown_bytes_per_entry": per_entry(rss_grown as f64),
        "insert_ns_per_reading_fill_median": quantile(&mut fill_ns, 0.5),
        "insert_ns_per_reading_steady_median": quantile(&mut steady_ns, 0.5),
        "insert_ns_per_reading_steady_p99": quantile(&mut steady_ns, 0.99),
        "run_seconds": elapsed,
    }))
}

fn main() -> ExitCode {
    let options = Options::parse();
    let result = run(&options).and_then(|report| {
        let text = serde_json::to_string_pretty(&report)?;
        println!("{text}");
        if let Some(path) = &options.out {
            std::fs::write(path, format!("{text}\n")).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hot_rss: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
