//! Issue 6: PUBACKs must keep up with reads when the broker's inflight window is unlimited.
//!
//! A real Mosquitto with `max_inflight_messages 0` (no limit on what it sends wardstream
//! unacknowledged) and `max_queued_messages 0`; a publisher pushes N QoS 1 messages as fast as
//! the broker takes them; the MQTT source feeds a journal whose durability lags (each
//! `wait_durable` sleeps, as a slow fsync would), so acks are released in bursts while the broker
//! keeps sending. Every message must be stored exactly once, every one acknowledged on the first
//! connection, with no reconnect (the old request-channel path gave up on acks that could not be
//! queued and reconnected, and the broker's redelivered backlog was stored again).
//! Mosquitto must be installed (`MOSQUITTO` overrides its path); no timing is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "peers/mosquitto.rs"]
mod mosquitto;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mosquitto::Broker;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::watch;
use wardstream_pipeline::{Clock, Feed, FeedError, IngestBatch, Journal, Micros, RawValue};
use wardstream_protocols::mqtt::{self, MqttConfig, MqttStats};

const MESSAGES: u64 = 20_000;
const WAIT: Duration = Duration::from_secs(120);

/// A journal that keeps every submitted reading's value and makes each record "durable" only
/// after a pause (a slow disk).
#[derive(Default)]
struct SlowLog {
    values: Mutex<Vec<f64>>,
    next: AtomicU64,
}

impl Journal for SlowLog {
    fn submit(&self, batch: IngestBatch) -> Result<u64, (FeedError, IngestBatch)> {
        let mut values = self.values.lock().unwrap();
        for r in &batch.readings {
            if let RawValue::Number(v) = r.value {
                values.push(v);
            }
        }
        Ok(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn wait_durable(&self, seq: u64) -> Result<(), FeedError> {
        if seq.is_multiple_of(64) {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now_micros(&self) -> Micros {
        1_700_000_100_000_000
    }
}

/// Publishes `MESSAGES` QoS 1 messages (value = index) and returns once the broker acked all.
async fn publish_all(port: u16) {
    let mut options = MqttOptions::new("ack-window-publisher", "127.0.0.1", port);
    options.set_inflight(1000);
    let (client, mut events) = AsyncClient::new(options, 2000);
    let sender = tokio::spawn(async move {
        for i in 0..MESSAGES {
            let payload = format!(r#"[{{"n":"HR","u":"/min","v":{i}}}]"#);
            client
                .publish(format!("wardstream/w1/dev{}/vitals", i % 50), QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
        client
    });
    let mut acked = 0;
    let deadline = Instant::now() + WAIT;
    while acked < MESSAGES {
        assert!(Instant::now() < deadline, "the publisher got {acked} of {MESSAGES} acks");
        if let Ok(Event::Incoming(Packet::PubAck(_))) = events.poll().await {
            acked += 1;
        }
    }
    let client = sender.await.unwrap();
    client.disconnect().await.unwrap();
    while !matches!(events.poll().await, Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_unlimited_broker_window_every_message_is_stored_and_acked_once_without_reconnecting() {
    let broker = Broker::start();
    let log = Arc::new(SlowLog::default());
    let stats = Arc::new(MqttStats::new());
    let (shutdown, rx) = watch::channel(false);
    let config = MqttConfig {
        client_id: "ack-window-wardstream".into(),
        ..MqttConfig::test_config(&format!("mqtt://127.0.0.1:{}", broker.port))
    };
    let feed = Feed::Journaled(Arc::clone(&log) as Arc<dyn Journal>);
    let source = tokio::spawn(mqtt::run(config, feed, Arc::new(FixedClock), Arc::clone(&stats), rx));
    let deadline = Instant::now() + WAIT;
    while !stats.snapshot().subscribed {
        assert!(Instant::now() < deadline, "never subscribed: {:?}", stats.snapshot());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    publish_all(broker.port).await;
    while stats.snapshot().acks_sent < MESSAGES {
        assert!(Instant::now() < deadline, "acks: {:?}", stats.snapshot());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.send(true).unwrap();
    tokio::time::timeout(WAIT, source).await.expect("the source did not stop").unwrap().unwrap();

    let s = stats.snapshot();
    assert_eq!((s.messages_received, s.acks_sent, s.acks_skipped, s.reconnects), (MESSAGES, MESSAGES, 0, 0));
    let mut values = std::mem::take(&mut *log.values.lock().unwrap());
    values.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (0..MESSAGES).map(|i| i as f64).collect();
    assert_eq!(values.len(), expected.len());
    assert!(values == expected, "some message was stored twice or never");
}
