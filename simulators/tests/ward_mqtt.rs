//! The simulated ward against a real Mosquitto broker: what the report and the recorder say was
//! published and acknowledged is exactly what a subscriber receives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use support::{Mosquitto, Subscriber};
use tokio::sync::watch;
use wardstream_simulators::senml::micros_from_bt;
use wardstream_simulators::{PublishedReading, QoS, Recorder, WardConfig, mimic2_numerics, run_ward, spawn_ward};

/// Readings of one received payload, checked for the SenML shape the monitors promise.
fn parse_pack(topic: &str, payload: &[u8]) -> Vec<PublishedReading> {
    let monitor = topic.split('/').nth(2).unwrap();
    let pack: Value = serde_json::from_slice(payload).unwrap();
    let records = pack.as_array().unwrap();
    assert!(!records.is_empty(), "{topic}: empty pack");
    assert_eq!(records[0]["bn"], format!("urn:dev:ws:{monitor}:"), "{topic}");
    let bt = records[0]["bt"].as_f64().unwrap();
    let time_micros = micros_from_bt(bt);
    assert_eq!(time_micros % 1000, 0, "bt {bt} is not whole milliseconds");
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let object = r.as_object().unwrap();
            let keys: BTreeSet<_> = object.keys().map(String::as_str).collect();
            let expected: BTreeSet<_> =
                if i == 0 { ["bn", "bt", "n", "u", "v"].into() } else { ["n", "u", "v"].into() };
            assert_eq!(keys, expected, "{topic}: record {i}");
            PublishedReading {
                device: monitor.to_owned(),
                name: r["n"].as_str().unwrap().to_owned(),
                unit: r["u"].as_str().unwrap().to_owned(),
                value: r["v"].as_f64().unwrap(),
                time_micros,
            }
        })
        .collect()
}

fn keys(readings: &[PublishedReading]) -> BTreeSet<(&str, &str, i64, u64)> {
    readings.iter().map(PublishedReading::key).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_beds_publish_five_frames_each_and_the_broker_delivers_exactly_what_was_acknowledged() {
    let broker = Mosquitto::start();
    let mut subscriber = Subscriber::start(broker.port, "wardstream/icu-1/+/vitals").await;
    let recorder = Recorder::new();
    let config = WardConfig { recorder: Some(recorder.clone()), ..WardConfig::test_config("127.0.0.1", broker.port) };
    assert_eq!((config.beds, config.frames, config.interval), (4, Some(5), Duration::from_millis(50)));
    let (_stop, shutdown) = watch::channel(false);
    let started = wardstream_simulators::senml::now_millis_as_micros();

    let report = run_ward(config, shutdown).await.unwrap();
    let received = subscriber.collect(20, Duration::from_secs(10)).await;

    assert_eq!(received.len(), 20, "broker log:\n{}", broker.log());
    assert_eq!((report.frames_replayed, report.messages_published, report.messages_acked), (20, 20, 20));
    assert_eq!(report.retransmissions, 0);
    assert_eq!(report.per_bed.len(), 4);
    let numerics = mimic2_numerics().unwrap();
    let mut by_monitor: BTreeMap<String, Vec<Vec<PublishedReading>>> = BTreeMap::new();
    for (topic, payload) in &received {
        let readings = parse_pack(topic, payload);
        by_monitor.entry(readings[0].device.clone()).or_default().push(readings);
    }
    for (bed, bed_report) in report.per_bed.iter().enumerate() {
        let monitor = format!("monitor-icu-1-{bed:02}");
        assert_eq!(bed_report.monitor_id, monitor);
        assert_eq!((bed_report.messages_published, bed_report.messages_acked, bed_report.connections), (5, 5, 1));
        let packs = &by_monitor[&monitor];
        assert_eq!(packs.len(), 5, "{monitor}");
        // Bed b replays frames b*1936/4 .. +5, in order, with the exact values.
        let start = bed * 1936 / 4;
        let mut last_time = started - 1;
        for (k, pack) in packs.iter().enumerate() {
            let expected: Vec<_> =
                numerics.readings(start + k).map(|(s, v)| (s.name.clone(), s.ucum_unit().to_owned(), v)).collect();
            let actual: Vec<_> = pack.iter().map(|r| (r.name.clone(), r.unit.clone(), r.value)).collect();
            assert_eq!(actual, expected, "{monitor} frame {}", start + k);
            assert!(pack[0].time_micros > last_time, "{monitor}: time goes back");
            last_time = pack[0].time_micros;
        }
        assert_eq!(bed_report.readings_acked, packs.iter().map(|p| p.len() as u64).sum::<u64>());
    }
    let delivered: Vec<PublishedReading> = by_monitor.into_values().flatten().flatten().collect();
    assert_eq!(report.readings_published, delivered.len() as u64);
    assert_eq!(report.readings_acked, delivered.len() as u64);
    assert_eq!(keys(&recorder.published()), keys(&delivered));
    assert_eq!(keys(&recorder.acked()), keys(&delivered));
    assert_eq!(recorder.published().len(), delivered.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbounded_ward_stops_on_shutdown_with_every_message_acknowledged() {
    let broker = Mosquitto::start();
    let mut subscriber = Subscriber::start(broker.port, "ward-test/#").await;
    let config = WardConfig {
        beds: 3,
        interval: Duration::from_millis(20),
        topic_prefix: "ward-test".into(),
        ward: "step-down".into(),
        ..WardConfig::new("127.0.0.1", broker.port)
    };
    let (stop, shutdown) = watch::channel(false);
    let ward = tokio::spawn(run_ward(config, shutdown));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), ward).await.unwrap().unwrap().unwrap();
    let received = subscriber.collect(report.messages_acked as usize, Duration::from_secs(10)).await;
    assert!(report.messages_published >= 6, "{report:?}");
    assert_eq!(report.messages_acked, report.messages_published);
    assert_eq!(received.len() as u64, report.messages_acked);
    assert!(received.iter().all(|(topic, _)| topic.starts_with("ward-test/step-down/monitor-step-down-0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_ward_reports_live_counts_and_stops_through_its_handle() {
    let broker = Mosquitto::start();
    let config =
        WardConfig { beds: 2, interval: Duration::from_millis(20), ..WardConfig::new("127.0.0.1", broker.port) };
    let handle = spawn_ward(config).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handle.report().messages_acked < 4 {
        assert!(tokio::time::Instant::now() < deadline, "no progress: {:?}", handle.report());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!handle.is_finished());
    let report = handle.stop().await.unwrap();
    assert!(report.messages_acked >= 4);
    assert_eq!(report.messages_acked, report.messages_published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_and_qos_2_are_counted_as_written_and_completed() {
    let broker = Mosquitto::start();
    for qos in [QoS::AtMostOnce, QoS::ExactlyOnce] {
        let prefix = format!("qos{}", qos as u8);
        let mut subscriber = Subscriber::start(broker.port, &format!("{prefix}/#")).await;
        let config = WardConfig {
            beds: 2,
            frames: Some(3),
            interval: Duration::from_millis(20),
            qos,
            topic_prefix: prefix,
            ..WardConfig::new("127.0.0.1", broker.port)
        };
        let report = run_ward(config, watch::channel(false).1).await.unwrap();
        assert_eq!((report.messages_published, report.messages_acked), (6, 6), "{qos:?}");
        assert_eq!(subscriber.collect(6, Duration::from_secs(10)).await.len(), 6, "{qos:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_retried_and_nothing_counts_as_published_or_acknowledged() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = WardConfig {
        frames: Some(2),
        beds: 2,
        drain_timeout: Duration::from_millis(500),
        ..WardConfig::test_config("127.0.0.1", port)
    };
    let started = std::time::Instant::now();
    let report = run_ward(config, watch::channel(false).1).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!((report.frames_replayed, report.messages_published, report.messages_acked), (4, 0, 0));
    assert!(report.per_bed.iter().all(|b| b.connection_errors >= 2 && b.connections == 0), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_broker_crashes_the_ward_reconnects_resends_and_every_reading_is_acknowledged_once() {
    let mut broker = Mosquitto::start();
    let recorder = Recorder::new();
    let config = WardConfig {
        beds: 16,
        frames: Some(300),
        interval: Duration::from_millis(2),
        max_reconnect_backoff: Duration::from_millis(200),
        recorder: Some(recorder.clone()),
        ..WardConfig::new("127.0.0.1", broker.port)
    };
    let ward = tokio::spawn(run_ward(config, watch::channel(false).1));
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let port = broker.kill(); // while about 8,000 messages a second are in flight
        tokio::time::sleep(Duration::from_millis(100)).await;
        broker = Mosquitto::start_on(port).expect("Mosquitto did not restart on the same port");
    }
    let report = tokio::time::timeout(Duration::from_secs(30), ward).await.unwrap().unwrap().unwrap();

    assert_eq!(report.frames_replayed, 16 * 300);
    assert_eq!(report.messages_acked, report.messages_published, "{report:?}");
    assert!(report.retransmissions > 0, "no publish was in flight at either crash: {report:?}");
    assert!(report.per_bed.iter().all(|b| b.connections >= 2 && b.connection_errors >= 1), "{report:?}");
    let (published, acked) = (recorder.published(), recorder.acked());
    assert_eq!(published.len() as u64, report.readings_published);
    assert_eq!(keys(&published), keys(&acked));
    assert_eq!(keys(&acked).len(), acked.len(), "a reading was acknowledged twice");
}
