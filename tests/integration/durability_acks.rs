//! Acknowledgements under load, on a connection that never breaks: the broker must get a PUBACK
//! for every message wardstream stored, or it keeps the message in wardstream's persistent
//! session and delivers it again at the next connection — after a restart that comes later than
//! the de-duplication window, as a second row.
//!
//! The publisher sends as fast as the broker acknowledges, so wardstream receives a burst far
//! larger than its pipeline queues: the case where the MQTT poll task is blocked by
//! back-pressure while the ack thread has acknowledgements to queue.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{
    HEAVY, Key, PER_MESSAGE, Tables, assert_exactly_once, publish_options, test_dir, workload, write_config_with,
};
use crate::support::persistent_mosquitto::PersistentMosquitto;
use crate::support::publisher::publish_all;
use crate::support::wardstream_process::WardstreamProcess;

const READINGS: usize = 20_000;

/// A running burst: broker, service and what was published, after the stored count settled.
struct Burst {
    broker: PersistentMosquitto,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    service: WardstreamProcess,
    tables: Tables,
    expected: BTreeSet<Key>,
    stored: i64,
}

/// Publishes [`READINGS`] at full speed through a broker with `inflight` as its
/// `max_inflight_messages` and waits until `vitals` settles.
fn burst(name: &str, inflight: u32, pipeline: &str) -> Burst {
    let started = Instant::now();
    let broker = PersistentMosquitto::start_with_inflight(inflight);
    let dir = test_dir(name);
    let data = dir.path().join("data");
    let config = write_config_with(dir.path(), &data, &broker.url(), &format!("ws-{name}"), pipeline);
    let mut service = WardstreamProcess::spawn(&config, &dir.path().join("wardstream-0.log"));
    service.wait_log("subscribed", Duration::from_secs(60));
    let tables = Tables::open(&data);
    let (messages, expected) = workload(READINGS);
    let report = publish_all(&publish_options(broker.port(), &format!("pub-{name}"), 0), &messages).unwrap();
    assert_eq!(report.acked, messages.len());
    let stored = tables.wait_stable(READINGS as i64, Duration::from_secs(60));
    println!("{name}: {stored} rows stable at {:.1?}", started.elapsed());
    Burst { broker, dir, config, service, tables, expected, stored }
}

/// Prints and returns (messages received, PUBACKs sent, "could not queue a PUBACK" warnings).
fn ack_counts(name: &str, service: &mut WardstreamProcess) -> (f64, f64, usize) {
    let received = service.metric("wardstream_mqtt_messages_received_total");
    let acked = service.metric("wardstream_mqtt_acks_total");
    let reconnects = service.metric("wardstream_mqtt_reconnects_total");
    let dropped = service.log().matches("could not queue a PUBACK").count();
    println!("{name}: received {received}, PUBACKs sent {acked}, PUBACKs dropped {dropped}, reconnects {reconnects}");
    (received, acked, dropped)
}

#[test]
fn with_mosquittos_default_inflight_window_of_twenty_a_burst_is_stored_exactly_once() {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Burst { broker: _broker, dir: _dir, mut service, tables, expected, stored, .. } = burst("inflight-20", 20, "");
    ack_counts("inflight-20", &mut service);
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "wardstream exited with {status}");
    assert_eq!(stored, READINGS as i64);
    assert_eq!(assert_exactly_once(&tables, &expected), 0);
}

#[test]
fn every_message_stored_on_a_live_connection_is_acknowledged() {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = "acks-live";
    let Burst { broker: _broker, dir: _dir, mut service, stored, .. } = burst(name, 0, "");
    assert_eq!(stored, READINGS as i64);
    // Everything is stored and durable: every PUBACK has had time to go out.
    std::thread::sleep(Duration::from_secs(2));
    let (received, acked, dropped) = ack_counts(name, &mut service);
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "wardstream exited with {status}");
    assert_eq!(received, (READINGS / PER_MESSAGE) as f64);
    assert_eq!((acked, dropped), (received, 0), "every received message acknowledged, no PUBACK dropped");
}

#[test]
fn messages_whose_puback_was_dropped_are_not_stored_again_after_a_restart_past_the_dedup_window() {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = "acks-restart";
    // A 3 s window stands for the default 5 min: the restart below comes after it.
    let Burst { broker: _broker, dir, config, mut service, tables, expected, stored } =
        burst(name, 0, "dedup_window_ms = 3000");
    assert_eq!(stored, READINGS as i64);
    std::thread::sleep(Duration::from_secs(2));
    let (_, _, dropped) = ack_counts(name, &mut service);
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "wardstream exited with {status}");
    std::thread::sleep(Duration::from_secs(4));
    let mut service = WardstreamProcess::spawn(&config, &dir.path().join("wardstream-1.log"));
    service.wait_log("connected to the MQTT broker", Duration::from_secs(60));
    // Whatever the broker still held has arrived and been flushed after this.
    std::thread::sleep(Duration::from_secs(5));
    let after = tables.stored();
    let received = service.metric("wardstream_mqtt_messages_received_total");
    println!(
        "{name}: {dropped} PUBACKs dropped before the restart; {received} messages delivered again after it; {after} rows"
    );
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "wardstream exited with {status}");
    assert_exactly_once(&tables, &expected);
}
