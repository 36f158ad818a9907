//! Device identity through a real Mosquitto: with `identity = "enforce"` a message whose SenML
//! names another device than its topic is exactly one `identity_mismatch` dead letter, nothing
//! of it is stored, it is counted and (WAL on, QoS 1) acknowledged like any other message; a
//! message naming its own device is stored. With the policy off the same messages are stored.

use std::time::Duration;

use wardstream_ingest::Service;
use wardstream_protocols::senml::IdentityPolicy;
use wardstream_storage::QuerySession;

use crate::support::mosquitto::Mosquitto;
use crate::support::{count, csv_rows, publish_lines, service_config, wait_for_count};

const TOPIC: &str = "wardstream/icu/monitor-7/vitals";

/// Three messages speaking for other devices (one wholly, one in its second record, one in a
/// record that would be a dead letter anyway), as (payload, readings they hold).
fn impostors() -> Vec<(String, usize)> {
    vec![
        (r#"[{"bn":"urn:dev:ws:monitor-8:","n":"HR","u":"/min","v":88},{"n":"SpO2","u":"%","v":91}]"#.into(), 2),
        (r#"[{"bn":"urn:dev:ws:monitor-7:","n":"HR","u":"/min","v":70},{"bn":"monitor-9:","n":"SpO2","u":"%","v":92}]"#.into(), 2),
        (r#"[{"n":"urn:dev:ws:monitor-7:HR","u":"/min","v":69},{"n":"urn:dev:ws:monitor-8:RESP"}]"#.into(), 1),
    ]
}

/// Two messages of the topic's own device (URN form, and names without a device part).
fn own() -> Vec<String> {
    vec![
        r#"[{"bn":"urn:dev:ws:monitor-7:","n":"HR","u":"/min","v":72},{"n":"SpO2","u":"%","v":97}]"#.into(),
        r#"[{"n":"RESP","u":"/min","v":14}]"#.into(),
    ]
}

/// Publishes the impostors first, then the device's own messages, on one connection (wardstream
/// handles a connection's messages in order, so once the last is stored all were handled).
async fn run(
    data: &std::path::Path,
    policy: IdentityPolicy,
    expected_vitals: i64,
) -> (QuerySession, wardstream_ingest::ServiceStats) {
    let broker = Mosquitto::start();
    let mut config = service_config(data, &broker.url(), "ws-identity");
    config.mqtt[0].identity = policy;
    let service = Service::start(&config).await.unwrap();
    service.wait_subscribed(Duration::from_secs(10)).await.unwrap();
    let lines: Vec<String> = impostors().into_iter().map(|(p, _)| p).chain(own()).collect();
    publish_lines(broker.port(), TOPIC, "pub-identity", &lines);
    let session = QuerySession::open(data).unwrap();
    let stored =
        wait_for_count(&session, "SELECT count(*) FROM vitals", expected_vitals, Duration::from_secs(60)).await;
    assert_eq!(stored, expected_vitals);
    let stats = service.shutdown().await.unwrap();
    (session, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforced_identity_turns_each_impostor_message_into_one_dead_letter_and_stores_the_rest() {
    let data = tempfile::tempdir().unwrap();
    let (session, stats) = run(data.path(), IdentityPolicy::Enforce, 3).await;
    // Only the device's own readings, under its own ids.
    let rows = csv_rows(&session, "SELECT device_id, metric, value FROM vitals ORDER BY metric").await;
    assert_eq!(
        rows,
        ["urn:dev:ws:monitor-7,heart_rate,72.0", "monitor-7,resp_rate,14.0", "urn:dev:ws:monitor-7,spo2,97.0"]
    );
    // One dead letter per impostor message, nothing else, with the topic's device and both ids.
    let dead =
        csv_rows(&session, "SELECT reason, device_id, source_name, origin FROM dead_letters ORDER BY source_name")
            .await;
    assert_eq!(
        dead,
        [
            format!("identity_mismatch,monitor-7,monitor-9:SpO2,{TOPIC}"),
            format!("identity_mismatch,monitor-7,urn:dev:ws:monitor-8:HR,{TOPIC}"),
            format!("identity_mismatch,monitor-7,urn:dev:ws:monitor-8:RESP,{TOPIC}"),
        ]
    );
    assert_eq!(
        count(&session, "SELECT count(*) FROM dead_letters WHERE detail LIKE '%a device may only report for itself%'")
            .await,
        3
    );
    let m = &stats.mqtt[0];
    assert_eq!((m.messages_received, m.identity_mismatches, m.dead_letters, m.readings_decoded), (5, 3, 3, 3));
    // Every message acknowledged once durable, the rejected ones included.
    assert_eq!((m.acks_sent, m.acks_skipped), (5, 0));
    assert_eq!(stats.pipeline.readings_received, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_identity_off_the_payload_decides_and_everything_is_stored() {
    let impostor_readings: usize = impostors().iter().map(|(_, n)| n).sum();
    // (The third impostor's RESP has no value: a missing_value dead letter, not a reading.)
    let data = tempfile::tempdir().unwrap();
    let (session, stats) = run(data.path(), IdentityPolicy::Off, impostor_readings as i64 + 3).await;
    assert_eq!(count(&session, "SELECT count(*) FROM vitals WHERE device_id = 'urn:dev:ws:monitor-8'").await, 2);
    assert_eq!(count(&session, "SELECT count(*) FROM vitals WHERE device_id = 'monitor-9'").await, 1);
    let dead = csv_rows(&session, "SELECT reason, source_name FROM dead_letters").await;
    assert_eq!(dead, ["missing_value,urn:dev:ws:monitor-8:RESP"]);
    let m = &stats.mqtt[0];
    assert_eq!((m.messages_received, m.identity_mismatches, m.acks_sent), (5, 0, 5));
}
