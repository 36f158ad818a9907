//! Tests of [`pack_to_batch`](super::pack_to_batch): device ids, shared allocations, dead letters.

use std::sync::Arc;

use wardstream_pipeline::{RawValue, Reason, Source};

use super::*;
use crate::senml::DeviceIdFrom;

const NOW: i64 = 1_700_000_000_000_000;
const TOPIC: &str = "wardstream/icu/bed-4/senml";
const BY_NAME: DeviceIdRule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
const BY_TOPIC: DeviceIdRule = DeviceIdRule { from: DeviceIdFrom::Topic, topic_level: 2 };

#[test]
fn good_records_become_readings_sharing_payload_topic_and_device() {
    let payload = br#"[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":1.7e9,"n":"HR","u":"/min","v":72},
                       {"n":"SpO2","u":"%","v":97,"t":1},{"n":"alarm","vs":"ok"}]"#;
    let batch = pack_to_batch(payload, TOPIC, &BY_NAME, NOW);
    assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
    let [hr, spo2, alarm] = &batch.readings[..] else { panic!("{:?}", batch.readings) };
    assert_eq!(
        (&*hr.device_id, hr.name.as_str(), &hr.value, hr.unit.as_deref()),
        ("urn:dev:mac:0024befffe804ff1", "HR", &RawValue::Number(72.0), Some("/min"))
    );
    assert_eq!(
        (hr.device_time, hr.received_at, hr.source, &*hr.origin),
        (1_700_000_000_000_000, NOW, Source::Mqtt, TOPIC)
    );
    assert_eq!((spo2.name.as_str(), spo2.device_time), ("SpO2", 1_700_000_001_000_000));
    assert_eq!(
        (alarm.name.as_str(), &alarm.value, alarm.unit.as_deref()),
        ("alarm", &RawValue::Text("ok".into()), None)
    );
    assert_eq!(&*hr.raw, payload);
    // One allocation each for the payload, the topic and the device id.
    assert!(Arc::ptr_eq(&hr.raw, &alarm.raw) && Arc::ptr_eq(&hr.origin, &spo2.origin));
    assert!(Arc::ptr_eq(&hr.device_id, &spo2.device_id) && Arc::ptr_eq(&hr.device_id, &alarm.device_id));
}

#[test]
fn names_without_separator_take_the_device_from_the_topic() {
    let batch = pack_to_batch(br#"[{"n":"HR","v":80,"t":-2},{"n":"dev9/RESP","v":14}]"#, TOPIC, &BY_NAME, NOW);
    let devices: Vec<_> = batch.readings.iter().map(|r| (&*r.device_id, r.name.as_str(), r.device_time)).collect();
    assert_eq!(devices, [("bed-4", "HR", NOW - 2_000_000), ("dev9", "RESP", NOW)]);
}

#[test]
fn the_topic_rule_overrides_the_name() {
    let batch = pack_to_batch(
        br#"[{"bn":"urn:dev:mac:00aa:","n":"HR","v":80},{"n":"PULSE","bn":"x/","v":1}]"#,
        TOPIC,
        &BY_TOPIC,
        NOW,
    );
    let devices: Vec<_> = batch.readings.iter().map(|r| (&*r.device_id, r.name.as_str())).collect();
    assert_eq!(devices, [("bed-4", "HR"), ("bed-4", "PULSE")]);
    assert!(Arc::ptr_eq(&batch.readings[0].device_id, &batch.readings[1].device_id));
}

#[test]
fn a_record_without_derivable_device_is_an_unknown_device_dead_letter() {
    let batch = pack_to_batch(br#"[{"n":"HR","v":80},{"n":"d:HR","v":81}]"#, "wardstream/icu", &BY_NAME, NOW);
    assert_eq!(batch.readings.len(), 1);
    let [dl] = &batch.dead_letters[..] else { panic!() };
    assert_eq!(
        (dl.reason, dl.device_id.as_deref(), dl.source_name.as_deref()),
        (Reason::UnknownDevice, None, Some("HR"))
    );
    assert!(dl.detail.contains("level 2"), "{}", dl.detail);
    let batch = pack_to_batch(br#"[{"n":"d:HR","v":80}]"#, "wardstream", &BY_TOPIC, NOW);
    assert_eq!(batch.dead_letters[0].reason, Reason::UnknownDevice);
}

#[test]
fn a_name_ending_in_a_separator_has_no_metric() {
    let batch = pack_to_batch(br#"[{"bn":"dev1/","v":3}]"#, TOPIC, &BY_NAME, NOW);
    let [dl] = &batch.dead_letters[..] else { panic!("{batch:?}") };
    assert_eq!((dl.reason, dl.device_id.as_deref()), (Reason::UnknownMetric, Some("dev1")));
}

#[test]
fn rejected_records_are_dead_letters_beside_the_good_ones() {
    let payload = br#"[{"bn":"d:","n":"HR","v":1},{"n":"RESP"},{"n":"bad name","v":2},{"n":"x","s":3}]"#;
    let batch = pack_to_batch(payload, TOPIC, &BY_NAME, NOW);
    assert_eq!(batch.readings.len(), 1);
    let got: Vec<_> =
        batch.dead_letters.iter().map(|d| (d.reason, d.device_id.as_deref(), d.source_name.as_deref())).collect();
    assert_eq!(
        got,
        [
            (Reason::MissingValue, Some("d"), Some("d:RESP")),
            (Reason::InvalidPayload, None, Some("d:bad name")),
            (Reason::MissingValue, Some("d"), Some("d:x")),
        ]
    );
    let dl = &batch.dead_letters[0];
    assert_eq!((dl.received_at, dl.source, &*dl.origin, &*dl.payload), (NOW, Source::Mqtt, TOPIC, &payload[..]));
    assert_eq!(dl.detail, "record 1: no value (none of v, vs, vb, vd)");
    assert!(batch.dead_letters[2].detail.contains("only a sum"));
}

#[test]
fn a_rejected_payload_is_one_dead_letter_with_the_whole_payload() {
    for (payload, reason) in [
        (&b"not json"[..], Reason::InvalidPayload),
        (br#"[{"n":"a","v":"12"}]"#, Reason::InvalidPayload),
        (br#"[{"bver":11,"n":"a","v":1}]"#, Reason::UnsupportedVersion),
        (b"\xff\xfe", Reason::InvalidPayload),
    ] {
        let batch = pack_to_batch(payload, TOPIC, &BY_NAME, NOW);
        assert!(batch.readings.is_empty());
        let [dl] = &batch.dead_letters[..] else { panic!() };
        assert_eq!(
            (dl.reason, &*dl.payload, dl.device_id.as_deref(), dl.source_name.as_deref()),
            (reason, payload, None, None)
        );
        assert!(!dl.detail.is_empty());
    }
    let batch = pack_to_batch(b"[1]", TOPIC, &BY_TOPIC, NOW);
    assert_eq!(batch.dead_letters[0].device_id.as_deref(), Some("bed-4"));
    assert_eq!(
        batch.dead_letters[0].detail,
        "invalid type: integer `1`, expected a SenML record (a JSON object) at line 1 column 2"
    );
}

#[test]
fn an_empty_pack_makes_an_empty_batch() {
    assert!(pack_to_batch(b"[]", TOPIC, &BY_NAME, NOW).is_empty());
    assert!(pack_to_batch(br#"[{"bn":"x:"}]"#, TOPIC, &BY_NAME, NOW).is_empty());
}
