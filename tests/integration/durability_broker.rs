//! The broker restarts mid-stream while wardstream keeps running: every reading the broker
//! acknowledged to its publisher is stored exactly once.
//!
//! Two restarts on the same port and persistence directory:
//! 1. **SIGTERM while the publisher publishes**: Mosquitto saves its database and exits; the
//!    publisher and wardstream both lose their connections, reconnect with backoff, the publisher
//!    sends its unacknowledged messages again (duplicates at the broker), and the broker
//!    delivers wardstream's persistent session (queued and in-flight messages) after restarting.
//! 2. **SIGKILL while wardstream drains a backlog**: the publisher has finished the first half,
//!    the broker saved its database (SIGUSR1) after its last PUBACK and has since delivered part
//!    of that backlog; it is killed without saving, so after the restart it delivers the saved
//!    backlog again — what wardstream already stored and acknowledged comes back and must be
//!    recognised as duplicates. (A SIGKILL while a publisher publishes would lose messages the
//!    broker acknowledged since its last save: Mosquitto's persistence is a periodic snapshot,
//!    so that is not a test of wardstream.)

use std::time::{Duration, Instant};

use super::{
    HEAVY, PER_MESSAGE, Rng, Tables, assert_exactly_once, print_recoveries, publish_options, test_dir, workload,
    write_config,
};
use crate::support::persistent_mosquitto::PersistentMosquitto;
use crate::support::publisher::publish_all;
use crate::support::wardstream_process::WardstreamProcess;

const READINGS: usize = 200_000;
/// Messages a second the publisher sends: faster than wardstream stores them (a backlog builds).
const RATE: u64 = 2_500;

#[test]
fn broker_restarted_twice_mid_stream_loses_and_doubles_no_acknowledged_reading() {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = "broker-restart";
    let mut rng = Rng::from_env(name);
    let started = Instant::now();
    let mut broker = PersistentMosquitto::start();
    let dir = test_dir(name);
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &data, &broker.url(), "ws-broker-restart");
    let mut service = WardstreamProcess::spawn(&config, &dir.path().join("wardstream-0.log"));
    service.wait_log("subscribed", Duration::from_secs(60));
    let tables = Tables::open(&data);
    let (messages, expected) = workload(READINGS);
    let second_half = messages[messages.len() / 2..].to_vec();
    let first_half = messages[..messages.len() / 2].to_vec();
    let half = (first_half.len() * PER_MESSAGE) as i64;

    // 1. SIGTERM mid-publishing.
    let options = publish_options(broker.port(), "pub-broker-restart", RATE);
    let publisher = std::thread::spawn(move || publish_all(&options, &first_half));
    std::thread::sleep(rng.duration(1.0, 3.0));
    broker.stop();
    println!("{name}: broker stopped (SIGTERM) at {:.1?}: {} rows stored", started.elapsed(), tables.stored());
    std::thread::sleep(rng.duration(0.5, 2.0));
    broker.restart();
    let report = publisher.join().unwrap().unwrap();
    println!("{name}: first half published at {:.1?}: {report:?}", started.elapsed());
    assert_eq!(report.acked, messages.len() / 2);
    assert!(report.reconnects >= 1, "the publisher saw the restart: {report:?}");

    // 2. SIGKILL while wardstream is still draining the first half.
    broker.save();
    let stored_at_save = tables.stored();
    std::thread::sleep(rng.duration(0.05, 0.5));
    broker.kill();
    let stored_at_kill = tables.stored();
    println!(
        "{name}: broker saved with {stored_at_save} rows stored, killed (SIGKILL) at {:.1?} with {stored_at_kill} of {half}",
        started.elapsed()
    );
    broker.restart();
    let options = publish_options(broker.port(), "pub-broker-restart", RATE);
    let report = publish_all(&options, &second_half).unwrap();
    println!("{name}: second half published at {:.1?}: {report:?}", started.elapsed());
    assert_eq!(report.acked, messages.len() - messages.len() / 2);

    let stored = tables.wait_stable(READINGS as i64, Duration::from_secs(120));
    println!("{name}: {stored} rows stable at {:.1?}", started.elapsed());
    let reconnects = service.metric("wardstream_mqtt_reconnects_total");
    let duplicates = service.metric("wardstream_duplicates_total");
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "wardstream exited with {status}");
    assert_eq!(stored, READINGS as i64);
    assert!(reconnects >= 2.0, "wardstream lost its connection at each restart: {reconnects} reconnects");
    print_recoveries(dir.path());
    let dead = assert_exactly_once(&tables, &expected);
    // The scenario aims the SIGKILL at the drain of the first half (stored but not yet acked
    // messages then come back from the broker's saved state). How far the drain got depends on
    // the machine; when it had finished, exactly-once above is still checked, but the
    // redelivery path was not exercised, which is reported rather than failed.
    if stored_at_kill < half {
        assert!(duplicates > 0.0, "the backlog delivered again after the SIGKILL holds readings already stored");
    } else {
        println!(
            "{name}: the drain had finished before the SIGKILL ({stored_at_kill} of {half}): no redelivery to absorb"
        );
    }
    println!(
        "{name}: {READINGS} readings, 2 broker restarts: exactly once; {dead} duplicate dead letters; \
         {reconnects} reconnects; total {:.1?}",
        started.elapsed()
    );
}
