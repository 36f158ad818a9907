//! Runs the `load` binary briefly (debug build, low rate) against a real Mosquitto and checks
//! that its JSON report has every key and that nothing published was lost, so the harness keeps
//! working between benchmark runs.

use std::process::Command;

use serde_json::Value;

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    keys.sort_unstable();
    keys
}

#[test]
fn a_two_second_low_rate_run_reports_every_figure_and_loses_nothing() {
    let output = Command::new(env!("CARGO_BIN_EXE_load"))
        .args(["--devices", "20", "--rate", "200", "--seconds", "2", "--connections", "2"])
        .args(["--timeline-samples", "4", "--live-patients", "3", "--drain-timeout-s", "60"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "load failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));

    assert_eq!(
        keys(&report),
        [
            "ceiling",
            "cpu",
            "latency",
            "no_loss",
            "peak_rss_mib",
            "published",
            "ratio_stored_to_ceiling",
            "scenario",
            "stored",
            "targets",
            "wal"
        ]
    );
    assert_eq!(
        keys(&report["scenario"]),
        [
            "broker_max_inflight",
            "connections",
            "devices",
            "durability",
            "machine_cores",
            "rate",
            "readings_per_pack",
            "seconds",
            "started_at"
        ]
    );
    assert_eq!(
        keys(&report["published"]),
        ["errors", "messages", "messages_acked", "readings", "readings_per_s", "window_s"]
    );
    assert_eq!(
        keys(&report["stored"]),
        [
            "attached",
            "backpressure_waits",
            "dead_letters",
            "dedup_evicted",
            "duplicates",
            "mqtt_messages_received",
            "readings_per_s",
            "readings_service",
            "rows_parquet",
            "rows_written_reported",
            "seconds_to_all_stored"
        ]
    );
    assert_eq!(keys(&report["ceiling"]), ["readings", "readings_per_s", "seconds_to_all_received"]);
    assert_eq!(
        keys(&report["latency"]),
        [
            "live_missed_batches",
            "live_patients",
            "probe_errors",
            "publish_to_live",
            "publish_to_timeline",
            "timeline_poll_ms",
            "timeline_requests",
            "timeline_timed_out"
        ]
    );
    for summary in ["publish_to_live", "publish_to_timeline"] {
        assert_eq!(
            keys(&report["latency"][summary]),
            ["max_ms", "mean_ms", "p50_ms", "p99_ms", "samples"],
            "{summary}"
        );
    }
    assert_eq!(
        keys(&report["cpu"]),
        ["broker_cpu_s", "driver_cpu_s", "method", "wardstream_cores", "wardstream_cpu_s", "window_s"]
    );
    assert_eq!(keys(&report["wal"]), ["fsync_max_us", "fsync_p50_us", "fsync_p99_us", "fsyncs", "records"]);
    assert_eq!(keys(&report["targets"]), ["ceiling_ratio_met", "live_p99_met", "timeline_p99_met"]);

    // 20 devices × 10 readings at 200 readings/s: each device once a second, so 2 packs each.
    assert_eq!(report["published"]["messages"], 40, "{stderr}");
    assert_eq!(report["published"]["messages_acked"], 40);
    assert_eq!(report["published"]["readings"], 400);
    for stored in ["readings_service", "attached", "rows_parquet", "rows_written_reported"] {
        assert_eq!(report["stored"][stored], 400, "stored.{stored}: {stderr}");
    }
    assert_eq!(
        (report["stored"]["dead_letters"].as_u64(), report["stored"]["duplicates"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(report["stored"]["mqtt_messages_received"], 40);
    assert_eq!(report["ceiling"]["readings"], 400);
    assert_eq!(report["no_loss"], true);
    // 3 followed patients × 2 packs × 10 readings, each seen on the live stream.
    assert_eq!(report["latency"]["publish_to_live"]["samples"], 60);
    assert_eq!(report["latency"]["timeline_timed_out"], 0);
    assert!(report["latency"]["publish_to_timeline"]["samples"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["wal"]["fsyncs"].as_u64().unwrap() >= 1);
    assert!(report["cpu"]["wardstream_cpu_s"].as_f64().unwrap() > 0.0);
}
