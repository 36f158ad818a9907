//! End to end: the `wardsim serial` oximeter (MIMIC-II SpO2 and pulse, with every kind of fault)
//! writes to one end of a socat pty pair, the serial source reads the other into a real
//! `Pipeline`; what is stored matches the simulator's own report exactly.
//!
//! Needs the `wardsim` binary beside this test binary (`cargo build --workspace --bins` first;
//! `scripts/test.sh` does) or at `$WARDSIM`, and socat.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serial_support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serial_support::*;
use wardstream_pipeline::{Reason, Status};
use wardstream_protocols::serial::{PortState, SerialConfig};

fn wardsim() -> PathBuf {
    if let Some(path) = std::env::var_os("WARDSIM") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("wardsim");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_oximeter_arrives_with_every_fault_counted_exactly() {
    let pty = PtyPair::start();
    let config = SerialConfig::test_config(pty.device().to_str().unwrap(), "unused-fallback");
    let h = Harness::start(&config);
    h.wait_for("the port to open", |s| s.state == PortState::Connected).await;
    // Held open so that socat keeps the session when the simulator exits.
    let _hold = pty.open_peer();

    let out = tokio::process::Command::new(wardsim())
        .args(["serial", "--port", pty.peer().to_str().unwrap(), "--rate", "50", "--count", "110"])
        .args(["--faults", "garbage:10,half:7,drop:13,exc:5,dashes:11", "--sn", "0000093112"])
        .args(["--start", "2026-01-02 03:08:10", "--frame", "100"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "wardsim failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |key: &str| report[key].as_u64().unwrap_or_else(|| panic!("{key} in {report}"));
    let faults = &report["faults"];
    assert_eq!(n("lines"), 110);
    // Every kind of fault happened at least once (exact counts are the simulator's own tests).
    for kind in ["garbage", "half", "drop", "exc", "dashes"] {
        assert!(faults[kind].as_u64().unwrap() > 0, "{kind}: {report}");
    }

    let frames = n("intact_lines") + n("malformed_lines");
    h.wait_for("every line", |s| s.bytes_read == n("bytes_written") && s.frames == frames).await;
    let s = h.stats.snapshot();
    assert_eq!((s.readings, s.malformed_frames, s.discarded_bytes), (n("readings"), n("malformed_lines"), 0));
    assert_eq!(s.dead_letters, n("malformed_lines") + n("no_value_lines"));
    assert_eq!((s.disconnects, s.reconnects, s.open_failures), (0, 0, 0));

    let (observations, dead) = h.finish().await;
    assert_eq!(observations.len() as u64, n("readings"));
    let questionable = observations.iter().filter(|o| o.status() == Status::Questionable).count() as u64;
    let valid = observations.iter().filter(|o| o.status() == Status::Valid).count() as u64;
    assert_eq!((questionable, valid), (n("questionable_readings"), n("readings") - n("questionable_readings")));
    assert!(observations.iter().all(|o| &*o.device_id == "masimo-0000093112"));
    let metrics: BTreeSet<&str> = observations.iter().map(|o| o.metric.name.as_str()).collect();
    assert_eq!(metrics, BTreeSet::from(["pulse_rate_spo2", "spo2"]));
    let keys: BTreeSet<(&str, i64)> = observations.iter().map(|o| (o.metric.name.as_str(), o.time)).collect();
    assert_eq!(keys.len(), observations.len(), "no reading twice");
    // Device times are the simulator's clock: 03:08:10 + k s for line k, read as UTC.
    let first = NOW - 110 * S;
    assert!(observations.iter().all(|o| o.time >= first && o.time < first + 110 * S && (o.time - first) % S == 0));

    let count = |r: Reason| dead.iter().filter(|d| d.reason == r).count() as u64;
    assert_eq!(
        (count(Reason::InvalidPayload), count(Reason::MissingValue)),
        (n("malformed_lines"), n("no_value_lines"))
    );
    assert_eq!(dead.len() as u64, n("malformed_lines") + n("no_value_lines"));
}
