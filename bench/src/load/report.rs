//! [`Report`]: the JSON document a run prints on stdout, and its human summary for stderr.
//! Rates are readings per second; times are seconds unless the key names another unit.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::latency::LatencySummary;

/// The target for publish → live p99, ms (at 20,000 readings/s).
pub const LIVE_P99_TARGET_MS: f64 = 50.0;
/// The target for publish → timeline p99, ms (at 20,000 readings/s).
pub const TIMELINE_P99_TARGET_MS: f64 = 100.0;
/// The target for stored / ceiling, flat out.
pub const CEILING_RATIO_TARGET: f64 = 0.9;

/// One run's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was run.
    pub scenario: Scenario,
    /// What the devices published.
    pub published: Published,
    /// What wardstream stored.
    pub stored: Stored,
    /// What the plain subscriber received.
    pub ceiling: CeilingFigures,
    /// `stored.readings_per_s / ceiling.readings_per_s`.
    pub ratio_stored_to_ceiling: f64,
    /// True when every published reading is a Parquet row, with no dead letter.
    pub no_loss: bool,
    /// Publish → visible latencies.
    pub latency: Latencies,
    /// CPU time of each process over the run.
    pub cpu: Cpu,
    /// wardstream's process peak resident memory, MiB.
    pub peak_rss_mib: f64,
    /// Group-commit fsyncs of the WAL (`null` with durability off).
    pub wal: Option<WalFigures>,
    /// The targets and whether this run met them.
    pub targets: Targets,
}

/// The run's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Simulated devices (one patient each).
    pub devices: u32,
    /// Readings per SenML pack.
    pub readings_per_pack: u8,
    /// Target readings/s, or `max`.
    pub rate: String,
    /// Publishing time.
    pub seconds: u32,
    /// `on` or `off`.
    pub durability: String,
    /// Publisher MQTT connections.
    pub connections: u16,
    /// The broker's `max_inflight_messages` (0: unlimited).
    #[serde(default)]
    pub broker_max_inflight: u32,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Cores the machine has.
    pub machine_cores: usize,
}

/// Publisher side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// Messages (packs).
    pub messages: u64,
    /// Readings.
    pub readings: u64,
    /// Messages the broker acknowledged.
    pub messages_acked: u64,
    /// First to last publish.
    pub window_s: f64,
    /// Readings over the window: the rate actually achieved.
    pub readings_per_s: f64,
    /// Publisher connection errors.
    pub errors: u64,
}

/// wardstream side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// Readings through the serving stage (attached + unassociated), as the service counts them.
    pub readings_service: u64,
    /// Of those, attached to a patient.
    pub attached: u64,
    /// Rows in the `vitals` Parquet files after shutdown.
    pub rows_parquet: u64,
    /// Rows the Parquet store reports written.
    pub rows_written_reported: u64,
    /// Dead letters (any reason).
    pub dead_letters: u64,
    /// Of those, duplicates.
    pub duplicates: u64,
    /// MQTT messages wardstream's driver received.
    pub mqtt_messages_received: u64,
    /// First publish → the last reading through the serving stage.
    pub seconds_to_all_stored: f64,
    /// `readings_service / seconds_to_all_stored`.
    pub readings_per_s: f64,
    /// Times a pipeline producer found its queue full.
    pub backpressure_waits: u64,
    /// De-duplication keys forgotten early (key cap).
    pub dedup_evicted: u64,
}

/// The plain subscriber.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CeilingFigures {
    /// Readings received (messages × readings per pack).
    pub readings: u64,
    /// First publish → last message received.
    pub seconds_to_all_received: f64,
    /// `readings / seconds_to_all_received`.
    pub readings_per_s: f64,
}

/// Both latency probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    /// Publish → visible in `GET …/timeline`.
    pub publish_to_timeline: LatencySummary,
    /// Timeline samples not visible within 10 s.
    pub timeline_timed_out: u64,
    /// Timeline requests made.
    pub timeline_requests: u64,
    /// Pause between polls, ms.
    pub timeline_poll_ms: u64,
    /// Publish → received over SSE.
    pub publish_to_live: LatencySummary,
    /// Live streams followed.
    pub live_patients: u32,
    /// Batches the live subscribers missed (`gap` events).
    pub live_missed_batches: u64,
    /// Failed requests or unreadable events, both probes.
    pub probe_errors: u64,
}

/// CPU over the run window (handshake → last reading stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Wall time of the window.
    pub window_s: f64,
    /// wardstream's process: the service plus the latency probes' clients.
    pub wardstream_cpu_s: f64,
    /// `wardstream_cpu_s / window_s`.
    pub wardstream_cores: f64,
    /// The child process: publishers and plain subscriber (its whole life).
    pub driver_cpu_s: f64,
    /// Mosquitto, over the window until the plain subscriber had everything.
    pub broker_cpu_s: f64,
    /// How the shares were separated.
    pub method: String,
}

/// WAL group commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalFigures {
    /// Records appended.
    pub records: u64,
    /// Group commits.
    pub fsyncs: u64,
    /// Median group-commit latency, µs.
    pub fsync_p50_us: u64,
    /// 99th percentile, µs.
    pub fsync_p99_us: u64,
    /// Largest, µs.
    pub fsync_max_us: u64,
}

/// The targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// Publish → live p99 ≤ 50 ms (at 20,000 readings/s).
    pub live_p99_met: bool,
    /// Publish → timeline p99 ≤ 100 ms (at 20,000 readings/s).
    pub timeline_p99_met: bool,
    /// Stored ≥ 90 % of the ceiling (flat out).
    pub ceiling_ratio_met: bool,
}

impl Report {
    /// A few lines for a person.
    pub fn summary(&self) -> String {
        let s = &self.scenario;
        let l = &self.latency;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "load: {} devices, rate {}, {} s, durability {}, {} publisher connections, broker inflight window {}",
            s.devices, s.rate, s.seconds, s.durability, s.connections, s.broker_max_inflight
        );
        let _ = writeln!(
            out,
            "  published {} readings at {:.0}/s; stored {} ({} Parquet rows) at {:.0}/s; ceiling {:.0}/s; ratio {:.3}; no loss: {}",
            self.published.readings,
            self.published.readings_per_s,
            self.stored.readings_service,
            self.stored.rows_parquet,
            self.stored.readings_per_s,
            self.ceiling.readings_per_s,
            self.ratio_stored_to_ceiling,
            self.no_loss
        );
        let lat = |x: &LatencySummary| {
            format!("p50 {:.1} / p99 {:.1} / max {:.1} ms (n={})", x.p50_ms, x.p99_ms, x.max_ms, x.samples)
        };
        let _ = writeln!(out, "  publish → live:     {}", lat(&l.publish_to_live));
        let _ =
            writeln!(out, "  publish → timeline: {} ({} timed out)", lat(&l.publish_to_timeline), l.timeline_timed_out);
        let _ = writeln!(
            out,
            "  CPU: wardstream {:.2} cores, driver {:.1} s, broker {:.1} s over {:.1} s; peak RSS {:.0} MiB",
            self.cpu.wardstream_cores,
            self.cpu.driver_cpu_s,
            self.cpu.broker_cpu_s,
            self.cpu.window_s,
            self.peak_rss_mib
        );
        if let Some(w) = &self.wal {
            let _ = writeln!(out, "  WAL: {} fsyncs, p50 {} µs, p99 {} µs", w.fsyncs, w.fsync_p50_us, w.fsync_p99_us);
        }
        out
    }
}
