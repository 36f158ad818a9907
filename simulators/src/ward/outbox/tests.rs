//! Event sequences as rumqttc produces them, fed to the outbox without a broker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;

use super::*;

fn outbox(qos: QoS) -> (Outbox, Arc<BedCounters>, Arc<Recorder>) {
    let counters = Arc::new(BedCounters::default());
    let recorder = Recorder::new();
    let outbox = Outbox::new("monitor-t-00".into(), qos, counters.clone(), Some(recorder.clone()));
    (outbox, counters, recorder)
}

fn reading(value: f64) -> Vec<Reading> {
    vec![Reading { name: "HR".into(), unit: "beat/min".into(), value }]
}

fn counts(c: &BedCounters) -> [u64; 5] {
    [&c.messages_published, &c.readings_published, &c.messages_acked, &c.readings_acked, &c.retransmissions]
        .map(|a| a.load(Ordering::Relaxed))
}

fn values(readings: Vec<crate::PublishedReading>) -> Vec<f64> {
    readings.into_iter().map(|r| r.value).collect()
}

#[test]
fn in_order_publishes_are_acknowledged_by_packet_id_even_out_of_order() {
    let (mut o, counters, recorder) = outbox(QoS::AtLeastOnce);
    for v in [1.0, 2.0, 3.0] {
        o.push(1_000_000 * v as i64, reading(v));
    }
    let payload = String::from_utf8(o.hand_over().unwrap()).unwrap();
    assert!(payload.starts_with(r#"[{"bn":"urn:dev:ws:monitor-t-00:","bt":1.0,"n":"HR""#), "{payload}");
    o.hand_over().unwrap();
    o.hand_over().unwrap();
    assert_eq!(o.hand_over(), None);
    o.on_outgoing_publish(1);
    o.on_outgoing_publish(2);
    o.on_outgoing_publish(3);
    assert_eq!(counts(&counters), [3, 3, 0, 0, 0]);
    o.on_ack(2);
    o.on_ack(1);
    assert!(!o.is_idle());
    o.on_ack(3);
    assert!(o.is_idle());
    assert_eq!(counts(&counters), [3, 3, 3, 3, 0]);
    assert_eq!(values(recorder.published()), [1.0, 2.0, 3.0]);
    assert_eq!(values(recorder.acked()), [2.0, 1.0, 3.0]);
    assert_eq!(recorder.acked()[0].time_micros, 2_000_000);
}

#[test]
fn a_lost_connection_requeues_unacknowledged_messages_in_order_before_new_ones() {
    let (mut o, counters, recorder) = outbox(QoS::AtLeastOnce);
    for v in [1.0, 2.0, 3.0, 4.0] {
        o.push(0, reading(v));
    }
    for _ in 0..3 {
        o.hand_over();
    }
    o.on_outgoing_publish(1); // message 1 in flight
    o.on_outgoing_publish(2); // message 2 in flight; message 3 still queued; 4 waiting
    o.on_ack(1);
    o.connection_lost();
    assert_eq!(o.waiting_len(), 3);
    // New connection: packet ids start again at 1.
    for expected in [2.0, 3.0, 4.0] {
        let payload = String::from_utf8(o.hand_over().unwrap()).unwrap();
        assert!(payload.contains(&format!(r#""v":{expected:?}"#)), "{payload}");
    }
    for pkid in 1..=3 {
        o.on_outgoing_publish(pkid);
        o.on_ack(pkid);
    }
    assert!(o.is_idle());
    // Published once each; messages 2 and 3 were sent again.
    assert_eq!(counts(&counters), [4, 4, 4, 4, 2]);
    assert_eq!(values(recorder.published()), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(values(recorder.acked()), [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn a_publish_held_back_on_a_packet_id_collision_is_tracked_until_its_own_ack() {
    let (mut o, counters, recorder) = outbox(QoS::AtLeastOnce);
    o.push(0, reading(1.0));
    o.push(0, reading(2.0));
    o.hand_over();
    o.hand_over();
    o.on_outgoing_publish(1);
    o.on_await_ack(1); // message 2 got packet id 1 too; rumqttc holds it back
    o.on_ack(1); // acknowledges message 1 ...
    o.on_outgoing_publish(1); // ... and rumqttc now writes message 2 with packet id 1
    assert_eq!(values(recorder.acked()), [1.0]);
    o.on_ack(1);
    assert!(o.is_idle());
    assert_eq!(counts(&counters), [2, 2, 2, 2, 0]);
    assert_eq!(values(recorder.acked()), [1.0, 2.0]);
}

#[test]
fn a_held_back_publish_is_requeued_when_the_connection_breaks() {
    let (mut o, counters, _) = outbox(QoS::AtLeastOnce);
    o.push(0, reading(1.0));
    o.push(0, reading(2.0));
    o.hand_over();
    o.hand_over();
    o.on_outgoing_publish(1);
    o.on_await_ack(1);
    o.connection_lost();
    assert_eq!(o.waiting_len(), 2);
    assert_eq!(counts(&counters), [2, 2, 0, 0, 0]);
}

#[test]
fn unknown_acknowledgements_and_writes_count_nothing() {
    let (mut o, counters, _) = outbox(QoS::AtLeastOnce);
    o.on_ack(7);
    o.on_outgoing_publish(3);
    o.push(0, reading(1.0));
    o.hand_over();
    o.on_outgoing_publish(1);
    o.on_ack(2);
    assert_eq!(counts(&counters), [1, 1, 0, 0, 0]);
    assert!(!o.is_idle());
}

#[test]
fn qos_0_publishes_count_as_acknowledged_when_written() {
    let (mut o, counters, _) = outbox(QoS::AtMostOnce);
    o.push(0, reading(1.0));
    o.hand_over();
    assert!(!o.is_idle());
    o.on_outgoing_publish(0);
    assert!(o.is_idle());
    assert_eq!(counts(&counters), [1, 1, 1, 1, 0]);
}
