//! Tests of [`pack_to_batch_with_identity`](super::pack_to_batch_with_identity): a payload naming
//! another device than its topic is one `identity_mismatch` dead letter, nothing else.

use wardstream_pipeline::Reason;

use super::{DeviceIdFrom, DeviceIdRule, IdentityPolicy, pack_to_batch_with_identity};

const NOW: i64 = 1_700_000_000_000_000;
const TOPIC: &str = "wardstream/icu/monitor-7/vitals";
const BY_NAME: DeviceIdRule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
const BY_TOPIC: DeviceIdRule = DeviceIdRule { from: DeviceIdFrom::Topic, topic_level: 2 };

fn enforce(payload: &[u8], topic: &str, rule: &DeviceIdRule) -> wardstream_pipeline::IngestBatch {
    pack_to_batch_with_identity(payload, topic, rule, IdentityPolicy::Enforce, NOW)
}

#[test]
fn a_payload_naming_its_own_device_passes_in_full() {
    for bn in ["urn:dev:ws:monitor-7:", "monitor-7:", "monitor-7/"] {
        let payload = format!(r#"[{{"bn":"{bn}","n":"HR","v":72}},{{"n":"SpO2","v":97}}]"#);
        for rule in [BY_NAME, BY_TOPIC] {
            let batch = enforce(payload.as_bytes(), TOPIC, &rule);
            assert_eq!((batch.readings.len(), batch.dead_letters.len()), (2, 0), "{bn}");
        }
    }
    // Names without a device part name no device: nothing to check.
    let batch = enforce(br#"[{"n":"HR","v":72}]"#, TOPIC, &BY_NAME);
    assert_eq!((batch.readings.len(), &*batch.readings[0].device_id), (1, "monitor-7"));
}

#[test]
fn a_payload_naming_another_device_is_one_dead_letter_and_nothing_else() {
    // The second record speaks for monitor-8; the first (own) record and the record error of
    // the third are dropped with it.
    let payload = br#"[{"bn":"urn:dev:ws:monitor-7:","n":"HR","v":72},
                       {"bn":"urn:dev:ws:monitor-8:","n":"SpO2","v":97},{"n":"RESP"}]"#;
    for rule in [BY_NAME, BY_TOPIC] {
        let batch = enforce(payload, TOPIC, &rule);
        assert!(batch.readings.is_empty());
        let [dead] = &batch.dead_letters[..] else { panic!("{:?}", batch.dead_letters) };
        assert_eq!(
            (dead.reason, dead.device_id.as_deref(), dead.source_name.as_deref(), &*dead.origin),
            (Reason::IdentityMismatch, Some("monitor-7"), Some("urn:dev:ws:monitor-8:SpO2"), TOPIC)
        );
        assert_eq!(&*dead.payload, &payload[..]);
        assert_eq!(
            dead.detail,
            "record 1: the payload names device \"urn:dev:ws:monitor-8\" but the topic names \"monitor-7\" \
             (level 2); a device may only report for itself, the whole message is rejected"
        );
    }
}

#[test]
fn a_rejected_record_naming_another_device_also_rejects_the_message() {
    let batch = enforce(br#"[{"n":"monitor-7:HR","v":72},{"n":"monitor-9:HR"}]"#, TOPIC, &BY_NAME);
    let [dead] = &batch.dead_letters[..] else { panic!("{:?}", batch.dead_letters) };
    assert_eq!(
        (batch.readings.len(), dead.reason, dead.source_name.as_deref()),
        (0, Reason::IdentityMismatch, Some("monitor-9:HR"))
    );
}

#[test]
fn a_topic_without_a_device_level_cannot_vouch_for_a_named_device() {
    let batch = enforce(br#"[{"n":"monitor-7:HR","v":72}]"#, "wardstream/icu", &BY_NAME);
    let [dead] = &batch.dead_letters[..] else { panic!("{:?}", batch.dead_letters) };
    assert_eq!((dead.reason, dead.device_id.as_deref()), (Reason::IdentityMismatch, None));
    assert!(dead.detail.contains("the topic has no device id at level 2"), "{}", dead.detail);
}

#[test]
fn payloads_that_are_not_senml_keep_their_own_reason() {
    let batch = enforce(b"not json", TOPIC, &BY_NAME);
    assert_eq!(batch.dead_letters.iter().map(|d| d.reason).collect::<Vec<_>>(), [Reason::InvalidPayload]);
}

#[test]
fn with_the_policy_off_a_mismatch_is_stored_under_the_named_device() {
    let payload = br#"[{"n":"urn:dev:ws:monitor-8:HR","v":72}]"#;
    let batch = pack_to_batch_with_identity(payload, TOPIC, &BY_NAME, IdentityPolicy::Off, NOW);
    assert_eq!((batch.readings.len(), batch.dead_letters.len()), (1, 0));
    assert_eq!(&*batch.readings[0].device_id, "urn:dev:ws:monitor-8");
    assert_eq!(batch, super::pack_to_batch(payload, TOPIC, &BY_NAME, NOW));
}
