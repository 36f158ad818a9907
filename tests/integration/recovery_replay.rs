//! Start-up recovery after SIGKILL, with exact counts: readings replayed from the WAL that are
//! already in Parquet are dropped and counted (never `duplicate` dead letters), and a service
//! killed again and again before its periodic checkpoint still persists and checkpoints what it
//! replayed, so the replay does not grow.
//!
//! `wardstream run` is a separate process (WAL on, a persistent MQTT session on a real
//! Mosquitto); the periodic WAL checkpoint is an hour apart, so that only what these tests check
//! can move the checkpoint.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::durability::{HEAVY, Tables};
use crate::support::mosquitto::Mosquitto;
use crate::support::publish_lines;
use crate::support::wardstream_process::WardstreamProcess;

const SECOND: i64 = 1_000_000;
const READINGS: usize = 60;

fn write_config(dir: &Path, data: &Path, url: &str, client_id: &str, flush_interval_ms: u64) -> PathBuf {
    let config = dir.join("wardstream.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = {data:?}\nflush_interval_ms = {flush_interval_ms}\n\n\
             [wal]\nenabled = true\ncheckpoint_interval_ms = 3600000\n\n\
             [compaction]\nenabled = false\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n[[mqtt]]\nurl = \"{url}\"\nclient_id = \"{client_id}\"\n\
             topics = [\"wardstream/#\"]\nqos = 1\nclean_session = false\nkeep_alive_secs = 5\n{auth}",
            auth = crate::support::auth_toml()
        ),
    )
    .unwrap();
    config
}

/// `READINGS` messages of one heart rate each, from 3 devices, values 1..=READINGS.
fn publish(broker: &Mosquitto, client: &str) {
    let now = chrono::Utc::now().timestamp_micros() / SECOND * SECOND;
    for d in 0..3 {
        let lines: Vec<String> = (0..READINGS / 3)
            .map(|k| {
                let value = (d * (READINGS / 3) + k + 1) as f64;
                crate::api_common::senml(
                    &format!("rec-{d}"),
                    now - 120 * SECOND + k as i64 * SECOND,
                    "HR",
                    "/min",
                    value,
                )
            })
            .collect();
        publish_lines(broker.port(), &format!("wardstream/rec/rec-{d}/vitals"), &format!("{client}-{d}"), &lines);
    }
}

/// Waits until the process has acknowledged `n` messages (each durable in the WAL).
fn wait_acked(process: &mut WardstreamProcess, n: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while process.metric("wardstream_mqtt_acks_total") < n {
        assert!(std::time::Instant::now() < deadline, "not acknowledged:\n{}", process.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `field=value` of the log line containing `needle` (the first such line).
fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        .to_owned()
}

fn expected_sum() -> f64 {
    (1..=READINGS).sum::<usize>() as f64
}

fn count_and_sum(tables: &Tables) -> (i64, f64) {
    let keys = tables.stored_keys();
    (keys.len() as i64, keys.iter().map(|(_, v)| *v as f64).sum())
}

#[test]
fn readings_replayed_after_sigkill_that_are_already_in_parquet_are_counted_not_dead_letters() {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &data, &broker.url(), "ws-recovery-persisted", 100);

    let mut first = WardstreamProcess::spawn(&config, &dir.path().join("first.log"));
    first.wait_log("subscribed", Duration::from_secs(60));
    publish(&broker, "pub-persisted");
    wait_acked(&mut first, READINGS as f64);
    let tables = Tables::open(&data);
    assert_eq!(tables.wait_stable(READINGS as i64, Duration::from_secs(60)), READINGS as i64);
    // Every row is in Parquet; the WAL is not checkpointed (an hour apart).
    first.kill9();

    let mut second = WardstreamProcess::spawn(&config, &dir.path().join("second.log"));
    let line = second.wait_log("already in Parquet dropped from the replay", Duration::from_secs(60));
    assert_eq!(field(&line, "readings"), READINGS.to_string(), "{line}");
    assert_eq!(second.metric("wardstream_recovery_already_persisted_total"), READINGS as f64);
    assert_eq!(second.metric("wardstream_duplicates_total"), 0.0);
    assert_eq!(second.metric("wardstream_readings_received_total"), 0.0, "nothing replayed into the pipeline");
    // Those records were checkpointed at start: a third start replays nothing.
    second.kill9();
    let mut third = WardstreamProcess::spawn(&config, &dir.path().join("third.log"));
    let line = third.wait_log("write-ahead log recovered", Duration::from_secs(60));
    assert_eq!(field(&line, "records"), "0", "{line}");
    assert_eq!(third.metric("wardstream_recovery_already_persisted_total"), 0.0);
    third.terminate(Duration::from_secs(60));

    assert_eq!(count_and_sum(&tables), (READINGS as i64, expected_sum()));
    assert!(tables.dead_letters().is_empty(), "no dead letters: {:?}", tables.dead_letters());
}

#[test]
fn a_service_killed_before_its_checkpoint_again_and_again_does_not_replay_more_each_time() {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Buffers are written after an hour (or at shutdown, which SIGKILL skips).
    let config = write_config(dir.path(), &data, &broker.url(), "ws-recovery-loop", 3_600_000);

    let mut first = WardstreamProcess::spawn(&config, &dir.path().join("first.log"));
    first.wait_log("subscribed", Duration::from_secs(60));
    publish(&broker, "pub-loop");
    wait_acked(&mut first, READINGS as f64);
    first.kill9();
    let tables = Tables::open(&data);
    assert_eq!(tables.stored(), 0, "nothing flushed before the kill");

    // Second start: the READINGS records are replayed, written at the first tick and
    // checkpointed, although the flush interval is an hour; killed again right after.
    let mut second = WardstreamProcess::spawn(&config, &dir.path().join("second.log"));
    let line = second.wait_log("write-ahead log recovered", Duration::from_secs(60));
    assert_eq!(field(&line, "records"), READINGS.to_string(), "{line}");
    second.wait_log("WAL replay persisted to Parquet and checkpointed", Duration::from_secs(60));
    assert_eq!(tables.stored(), READINGS as i64);
    second.kill9();

    // Third start: nothing left to replay.
    let mut third = WardstreamProcess::spawn(&config, &dir.path().join("third.log"));
    let line = third.wait_log("write-ahead log recovered", Duration::from_secs(60));
    assert_eq!(field(&line, "records"), "0", "{line}");
    assert_eq!(third.metric("wardstream_duplicates_total"), 0.0);
    third.terminate(Duration::from_secs(60));

    assert_eq!(count_and_sum(&tables), (READINGS as i64, expected_sum()));
    assert!(tables.dead_letters().is_empty(), "no dead letters: {:?}", tables.dead_letters());
}
