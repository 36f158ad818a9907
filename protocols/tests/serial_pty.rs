//! The serial source on real pseudo-terminals (socat), feeding a real `Pipeline`: real Masimo
//! lines, garbage and half lines, unplugging and replugging the port, a port that is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serial_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serial_support::*;
use wardstream_pipeline::{Reason, Status};
use wardstream_protocols::serial::{PortState, SerialConfig};

const RADICAL7: &str = "03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000";
const NO_SENSOR: &str = "03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=---% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001";
const DASHES: &str = "05/15/07 08:12:21 SN=0000070986 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000";

fn config(pty: &PtyPair) -> SerialConfig {
    SerialConfig::test_config(pty.device().to_str().unwrap(), "bed-4-spo2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_real_lines_arrive_as_exact_readings_in_utc_with_flags() {
    let pty = PtyPair::start();
    let config = SerialConfig { time_zone: "America/New_York".into(), ..config(&pty) };
    let h = Harness::start(&config);
    h.wait_for("the port to open", |s| s.state == PortState::Connected).await;
    let mut peer = pty.open_peer();
    for line in [RADICAL7, NO_SENSOR, DASHES] {
        write(&mut peer, format!("{line}\r\n").as_bytes());
    }
    h.wait_for("three lines", |s| s.frames == 3).await;
    let s = h.stats.snapshot();
    assert_eq!((s.readings, s.dead_letters, s.malformed_frames, s.discarded_bytes), (3, 2, 0, 0));
    assert_eq!(
        (s.bytes_read, s.last_reading_at),
        ((RADICAL7.len() + NO_SENSOR.len() + DASHES.len() + 6) as u64, Some(NOW))
    );

    let (observations, dead) = h.finish().await;
    let got: Vec<(&str, f64, &str, i64, Status, &str)> = observations
        .iter()
        .map(|o| (o.metric.name.as_str(), o.value, o.metric.unit.as_str(), o.time, o.status(), &*o.device_id))
        .collect();
    // 19:19:36 EDT (New York went to daylight time on 13 March 2016) = 23:19:36Z.
    let t = 1_458_256_776 * S;
    let q = Status::Questionable; // EXC 0xC00: low signal IQ (+ SET mode, informational)
    assert_eq!(
        got,
        [
            ("spo2", 98.0, "%", t, q, "bed-4-spo2"),
            ("pulse_rate_spo2", 123.0, "/min", t, q, "bed-4-spo2"),
            ("perfusion_index", 0.55, "%", t, q, "bed-4-spo2"),
        ]
    );
    assert!(observations.iter().all(|o| o.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>() == ["questionable"]));
    let dead: Vec<(Reason, Option<&str>, &str, &[u8])> =
        dead.iter().map(|d| (d.reason, d.device_id.as_deref(), d.detail.as_str(), &*d.payload)).collect();
    assert_eq!(
        dead,
        [
            (
                Reason::MissingValue,
                Some("masimo-0000093112"),
                "no value in the line (every field is dashes); EXC=000001 (no sensor)",
                NO_SENSOR.as_bytes()
            ),
            (
                Reason::MissingValue,
                Some("masimo-0000070986"),
                "no value in the line (every field is dashes); EXC=000000 (none)",
                DASHES.as_bytes()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_half_lines_are_counted_exactly_and_framing_resyncs() {
    let pty = PtyPair::start();
    let h = Harness::start(&config(&pty));
    h.wait_for("the port to open", |s| s.state == PortState::Connected).await;
    let mut peer = pty.open_peer();
    let noise = |n: usize| (0..n).map(|i| 0x80 | (i * 37 % 128) as u8).collect::<Vec<u8>>();
    let half = |i: i64| line(i)[..90].to_owned();

    write(&mut peer, line(0).as_bytes()); // good
    write(&mut peer, &[noise(100), b"\r\n".to_vec()].concat()); // a malformed line
    write(&mut peer, &[noise(600), b"\r\n".to_vec()].concat()); // over 512: discarded, resync
    write(&mut peer, format!("{}\r\n", half(1)).as_bytes()); // cut off: no EXC, malformed
    write(&mut peer, format!("{}{}", half(2), line(3)).as_bytes()); // run into the next: one malformed
    write(&mut peer, line(4).as_bytes()); // good
    write(&mut peer, half(5).as_bytes()); // pending when the source stops: discarded

    let written = 2 * line(0).len() + 100 + 600 + 4 + 90 + 2 + 90 + line(3).len() + 90;
    h.wait_for("every byte", |s| s.bytes_read == written as u64).await;
    let s = h.stats.snapshot();
    assert_eq!((s.frames, s.malformed_frames, s.readings, s.dead_letters, s.discarded_bytes), (5, 3, 6, 3, 600));
    assert_eq!((s.disconnects, s.reconnects, s.open_failures), (0, 0, 0));

    let (observations, dead) = h.finish().await;
    let times: BTreeSet<i64> = observations.iter().map(|o| o.time).collect();
    assert_eq!(times, BTreeSet::from([line_time(0), line_time(4)]));
    assert_eq!(observations.len(), 6);
    assert!(observations.iter().all(|o| o.status() == Status::Valid));
    let reasons: Vec<(Reason, &str)> = dead.iter().map(|d| (d.reason, d.detail.as_str())).collect();
    assert_eq!(
        reasons,
        [
            (Reason::InvalidPayload, "byte 0x80 at offset 0 is not printable ASCII"),
            (Reason::InvalidPayload, "no EXC= field: the line is incomplete"),
            (Reason::InvalidPayload, "\"01/02/26\" is not a KEY=VALUE field"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_and_replug_resume_readings_with_nothing_lost_or_duplicated() {
    let mut pty = PtyPair::start();
    let h = Harness::start(&config(&pty));
    h.wait_for("the port to open", |s| s.state == PortState::Connected).await;
    let mut peer = pty.open_peer();
    for i in 0..3 {
        write(&mut peer, line(i).as_bytes());
    }
    // Half a line on the wire when the cable goes: it can never be completed.
    write(&mut peer, &line(3).as_bytes()[..50]);
    h.wait_for("three lines and the half", |s| s.frames == 3 && s.bytes_read == (3 * line(0).len() + 50) as u64).await;

    drop(peer);
    pty.unplug();
    h.wait_for("the disconnection", |s| s.state != PortState::Connected && s.disconnects == 1).await;
    assert_eq!(h.stats.snapshot().discarded_bytes, 50);
    // The port is gone: each reopen attempt fails until it comes back.
    h.wait_for("failed reopen attempts", |s| s.open_failures >= 2).await;

    pty.plug();
    h.wait_for("the reconnection", |s| s.state == PortState::Connected && s.reconnects == 1).await;
    let mut peer = pty.open_peer();
    for i in 4..7 {
        write(&mut peer, line(i).as_bytes());
    }
    h.wait_for("three more lines", |s| s.frames == 6).await;
    let s = h.stats.snapshot();
    assert_eq!((s.readings, s.dead_letters, s.malformed_frames, s.discarded_bytes), (18, 0, 0, 50));
    assert_eq!((s.disconnects, s.reconnects), (1, 1));

    let (observations, dead) = h.finish().await;
    assert!(dead.is_empty(), "{dead:?}");
    let mut got: Vec<(i64, &str, f64)> =
        observations.iter().map(|o| (o.time, o.metric.name.as_str(), o.value)).collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut expected = Vec::new();
    for i in [0, 1, 2, 4, 5, 6] {
        expected.push((line_time(i), "perfusion_index", 1.25));
        expected.push((line_time(i), "pulse_rate_spo2", (60 + i) as f64));
        expected.push((line_time(i), "spo2", (90 + i % 10) as f64));
    }
    expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_port_is_retried_with_backoff_and_shutdown_still_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-port");
    let h = Harness::start(&SerialConfig::test_config(path.to_str().unwrap(), "x"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Attempts at 0, 0.1, 0.3, 0.7 s (then 1.5 s): 4 in 1.2 s, not thousands.
    let s = h.stats.snapshot();
    assert!((3..=5).contains(&s.open_failures), "{s:?}");
    assert_eq!((s.state, s.disconnects, s.reconnects), (PortState::Disconnected, 0, 0));
    let started = Instant::now();
    let (observations, dead) = h.finish().await;
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    assert!(observations.is_empty() && dead.is_empty());
}
