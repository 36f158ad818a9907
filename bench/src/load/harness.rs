//! [`run`]: one harness run, start to figures.
//!
//! 1. Mosquitto on a free port; wardstream in-process (see [`super::target`]), its devices
//!    placed and patients admitted; one SSE connection per followed patient.
//! 2. The driver child process connects its publishers and the plain subscriber; the harness
//!    fixes the start time; the driver publishes for the run's seconds.
//! 3. Meanwhile the probes time publish → timeline and publish → live, and [`Progress`] tracks
//!    the serving stage. When the driver reports, the harness waits for every published reading
//!    to be through, reads the CPU, memory and WAL figures, shuts wardstream down (flushing
//!    everything to Parquet) and counts the Parquet rows.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use wardstream_ingest::Service;
use wardstream_pipeline::time::format_rfc3339;
use wardstream_storage::{OutputFormat, QuerySession, format_batches};

use super::child::DriverProcess;
use super::clock::{seconds_between, wall_us};
use super::driver::DriverSpec;
use super::latency::LatencySummary;
use super::mosquitto::Mosquitto;
use super::options::{Durability, LoadOptions};
use super::probes::{live_probe, open_live, timeline_probe};
use super::procstat::{Process, cpu_seconds, peak_rss_mib};
use super::progress::Progress;
use super::report::{
    CEILING_RATIO_TARGET, CeilingFigures, Cpu, LIVE_P99_TARGET_MS, Latencies, Published, Report, Scenario, Stored,
    TIMELINE_P99_TARGET_MS, Targets, WalFigures,
};
use super::schedule::{MICROS, Schedule};
use super::target::{admit_patients, service_config};

/// Runs the harness once (inside a multi-threaded Tokio runtime).
pub async fn run(options: &LoadOptions) -> anyhow::Result<Report> {
    let started_at = wall_us();
    let broker = Mosquitto::start(options.broker_inflight)?;
    let data = tempfile::tempdir().context("temporary data directory")?;
    let config = service_config(data.path(), &broker.url(), options.devices, options.durability);
    eprintln!("load: starting wardstream with {} devices on {}", options.devices, broker.url());
    let service = Service::start(&config).await.context("starting wardstream")?;
    service.wait_subscribed(Duration::from_secs(30)).await?;
    admit_patients(Arc::clone(&service.state().associations), options.devices, wall_us()).await?;
    let addr = service.http_address().context("wardstream's HTTP API is not running")?;
    let streams = open_live(addr, options.devices, options.live_patients).await?;

    let rpp = u64::from(options.readings_per_pack);
    let drain = Duration::from_secs(options.drain_timeout_s);
    let spec = DriverSpec {
        broker_port: broker.port(),
        devices: options.devices,
        readings_per_pack: options.readings_per_pack,
        rate: options.rate,
        seconds: options.seconds,
        connections: options.connections,
        drain_timeout_s: options.drain_timeout_s,
    };
    let mut driver = DriverProcess::spawn(&spec)?;
    driver.wait_ready(Duration::from_secs(60)).await?;
    let start_us = wall_us() + 300_000;
    let end_us = start_us + i64::from(options.seconds) * MICROS;
    let progress = Progress::spawn(service.attach_stats());
    let cpu_start = cpu_seconds(Process::Current)?;
    let broker_cpu_start = cpu_seconds(Process::Pid(broker.pid()))?;
    driver.start(start_us).await?;
    eprintln!("load: publishing for {} s at rate {} from {}", options.seconds, options.rate, format_rfc3339(start_us));

    let (stop, stopped) = watch::channel(false);
    let schedule = Schedule::new(start_us, options.devices, options.readings_per_pack, options.rate);
    let poll = Duration::from_millis(options.poll_ms);
    let timeline =
        tokio::spawn(timeline_probe(addr, schedule, end_us, options.timeline_samples, poll, stopped.clone()));
    let live = tokio::spawn(live_probe(streams, start_us, stopped));

    let report_timeout = Duration::from_secs(u64::from(options.seconds) + 60) + drain * 2;
    let driven = driver.report(report_timeout).await?;
    let broker_cpu = cpu_seconds(Process::Pid(broker.pid()))? - broker_cpu_start;
    let published = driven.messages_published * rpp;
    let mark = progress.wait_for(published, drain).await;
    stop.send_replace(true);
    let timeline = timeline.await.context("the timeline probe failed")?;
    let live = live.await.context("the live probe failed")?;
    let peak_rss_mib = peak_rss_mib(Process::Current)?;
    let wal = service.wal_stats().map(|w| w.snapshot());
    let attached = service.attach_stats().attached.load(std::sync::atomic::Ordering::Relaxed);
    drop(progress);
    eprintln!("load: shutting wardstream down (flushing to Parquet)");
    let stats = service.shutdown().await.context("stopping wardstream")?;
    let rows_parquet = count_rows(data.path()).await?;
    drop(broker);

    let stored_s = seconds_between(driven.first_publish_us, mark.at_us);
    let stored_rate = rate(mark.readings, stored_s);
    let ceiling_readings = driven.ceiling.messages * rpp;
    let ceiling_s = seconds_between(driven.first_publish_us, driven.ceiling.last_us);
    let ceiling_rate = rate(ceiling_readings, ceiling_s);
    let window_s = seconds_between(start_us, mark.at_us);
    let wardstream_cpu_s = mark.cpu_s - cpu_start;
    let timeline_summary = LatencySummary::of(timeline.latencies_us);
    let live_summary = LatencySummary::of(live.latencies_us);
    let ratio = if ceiling_rate > 0.0 { stored_rate / ceiling_rate } else { 0.0 };
    let dead_letters = stats.pipeline.dead_letters;
    Ok(Report {
        scenario: Scenario {
            devices: options.devices,
            readings_per_pack: options.readings_per_pack,
            rate: options.rate.to_string(),
            seconds: options.seconds,
            durability: match options.durability {
                Durability::On => "on".into(),
                Durability::Off => "off".into(),
            },
            connections: options.connections,
            broker_max_inflight: options.broker_inflight,
            started_at: format_rfc3339(started_at),
            machine_cores: std::thread::available_parallelism().map_or(0, usize::from),
        },
        published: Published {
            messages: driven.messages_published,
            readings: published,
            messages_acked: driven.messages_acked,
            window_s: seconds_between(driven.first_publish_us, driven.last_publish_us),
            readings_per_s: rate(published, seconds_between(driven.first_publish_us, driven.last_publish_us)),
            errors: driven.publisher_errors,
        },
        stored: Stored {
            readings_service: mark.readings,
            attached,
            rows_parquet,
            rows_written_reported: stats.storage.vitals_rows_written,
            dead_letters,
            duplicates: stats.pipeline.duplicates,
            mqtt_messages_received: stats.messages_received(),
            seconds_to_all_stored: round3(stored_s),
            readings_per_s: stored_rate,
            backpressure_waits: stats.pipeline.backpressure_waits,
            dedup_evicted: stats.pipeline.dedup_evicted,
        },
        ceiling: CeilingFigures {
            readings: ceiling_readings,
            seconds_to_all_received: round3(ceiling_s),
            readings_per_s: ceiling_rate,
        },
        ratio_stored_to_ceiling: round3(ratio),
        no_loss: rows_parquet == published && mark.readings == published && dead_letters == 0,
        latency: Latencies {
            publish_to_timeline: timeline_summary,
            timeline_timed_out: timeline.timed_out,
            timeline_requests: timeline.requests,
            timeline_poll_ms: options.poll_ms,
            publish_to_live: live_summary,
            live_patients: options.live_patients.min(options.devices),
            live_missed_batches: live.missed_batches,
            probe_errors: timeline.errors + live.errors,
        },
        cpu: Cpu {
            window_s: round3(window_s),
            wardstream_cpu_s: round3(wardstream_cpu_s),
            wardstream_cores: round3(if window_s > 0.0 { wardstream_cpu_s / window_s } else { 0.0 }),
            driver_cpu_s: round3(driven.cpu_seconds),
            broker_cpu_s: round3(broker_cpu),
            method: "publishers and the plain subscriber run in a child process; wardstream's figure is its own \
                     process (the service plus the in-process latency probes' HTTP clients)"
                .into(),
        },
        peak_rss_mib: round3(peak_rss_mib),
        wal: wal.map(|w| WalFigures {
            records: w.records,
            fsyncs: w.fsyncs,
            fsync_p50_us: w.fsync_latency.p50_us,
            fsync_p99_us: w.fsync_latency.p99_us,
            fsync_max_us: w.fsync_latency.max_us,
        }),
        targets: Targets {
            live_p99_met: live_summary.samples > 0 && live_summary.p99_ms <= LIVE_P99_TARGET_MS,
            timeline_p99_met: timeline_summary.samples > 0 && timeline_summary.p99_ms <= TIMELINE_P99_TARGET_MS,
            ceiling_ratio_met: ratio >= CEILING_RATIO_TARGET,
        },
    })
}

/// Readings per second, rounded to one decimal.
fn rate(readings: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 { 0.0 } else { (readings as f64 / seconds * 10.0).round() / 10.0 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Rows of the `vitals` Parquet files under `data_dir`.
async fn count_rows(data_dir: &std::path::Path) -> anyhow::Result<u64> {
    let session = QuerySession::open(data_dir).context("opening the stored tables")?;
    let batches = session.sql("SELECT count(*) AS n FROM vitals").await.context("counting vitals rows")?;
    let csv = format_batches(&batches, OutputFormat::Csv).context("formatting the count")?;
    let value = csv.lines().nth(1).context("no count row")?;
    value.trim().parse::<u64>().with_context(|| format!("count {value:?}"))
}
