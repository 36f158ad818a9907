//! The shared ADT samples (`protocols/tests/data/hl7/fhirconv-adt-a0{1,2,3}.hl7`: admit,
//! transfer, discharge of `PATID1234`) sent to the service's ADT listener by the Python `hl7`
//! package's `MLLPClient` (`peers/mllp_send.py`), with the ACKs read by `hl7.parse`; then what
//! they did, read through `GET /api/v1/associations`.
//!
//! The samples all carry MSH-10 `MSG00001`: sent as they are, the A02 reuses the A01's control id
//! with other content and gets `AE` (a control id names one message). Sent again with their own
//! ids (`MSG00002`, `MSG00003`) they are applied.
//!
//! Their event time (EVN-6, 2021-08-17T13:19:43.4Z) is years before their receipt, so each takes
//! effect at `recorded_at − 24 h` (the retroactive window, `pipeline/src/association/config.rs`)
//! and is counted as clamped. By the rules (`pipeline/src/association/rules.rs`): the A01 opens a
//! stay in `HUH AE OMU^OMU B^Bed 03` (PV1-3, first sub-components) with encounter `40007716`
//! (PV1-19); the A02 moves the patient to the bed and encounter they already have, which changes
//! nothing; the A03 ends the stay. One stay, `[r(A01) − 24 h, r(A03) − 24 h)`.

use serde_json::{Value, json};
use wardstream_pipeline::association::AssociationEvent;

use crate::api_common::{MINUTE, associations_of, place, python, rfc3339, start};

const DAY: i64 = 24 * 60 * MINUTE;
const BED: (&str, &str, &str) = ("HUH AE OMU", "OMU B", "Bed 03");

fn sample(name: &str) -> String {
    format!("{}/../protocols/tests/data/hl7/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_hl7_client_admits_transfers_and_discharges_the_sample_patient_clamped_to_24_hours() {
    let data = tempfile::tempdir().unwrap();
    let service = start(data.path(), None, "ws-api-adt", true).await;
    let api = service.http_address().unwrap();
    // A monitor at the samples' bed since long before (its placement is clamped too).
    place(api, "mon-omu", BED, minutes_before_now(3 * 24 * 60));

    let extra = tempfile::tempdir().unwrap();
    let a99 = extra.path().join("a99.hl7");
    std::fs::write(&a99, "MSH|^~\\&|ADT|H|WS|ICU|20260101||ADT^A99|X-99|P|2.5\rPID|||P^^^H^MR\r").unwrap();
    let junk = extra.path().join("junk.hl7");
    std::fs::write(&junk, "this is not HL7").unwrap();
    let adt = service.adt_address().unwrap();
    let specs = [
        sample("fhirconv-adt-a01.hl7"),
        sample("fhirconv-adt-a02.hl7"),
        format!("{}@MSG00002", sample("fhirconv-adt-a02.hl7")),
        format!("{}@MSG00003", sample("fhirconv-adt-a03.hl7")),
        sample("fhirconv-adt-a01.hl7"),
        a99.display().to_string(),
        junk.display().to_string(),
    ];
    let mut args = vec![adt.ip().to_string(), adt.port().to_string()];
    args.extend(specs);
    let acks = python("mllp_send.py", &args, "");

    let got: Vec<[&str; 5]> = acks
        .iter()
        .map(|a| ["file", "sent_control_id", "ack_type", "code", "control_id"].map(|k| a[k].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ["fhirconv-adt-a01.hl7", "MSG00001", "ACK^A01^ACK", "AA", "MSG00001"],
            ["fhirconv-adt-a02.hl7", "MSG00001", "ACK^A02^ACK", "AE", "MSG00001"],
            ["fhirconv-adt-a02.hl7", "MSG00002", "ACK^A02^ACK", "AA", "MSG00002"],
            ["fhirconv-adt-a03.hl7", "MSG00003", "ACK^A03^ACK", "AA", "MSG00003"],
            // The A01 again, as sent the first time: a redelivery, acknowledged, nothing changes.
            ["fhirconv-adt-a01.hl7", "MSG00001", "ACK^A01^ACK", "AA", "MSG00001"],
            ["a99.hl7", "X-99", "ACK^A99^ACK", "AR", "X-99"],
            ["junk.hl7", "", "ACK^^ACK", "AR", ""],
        ]
    );
    let texts: Vec<&str> = acks.iter().map(|a| a["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "",
            "message control id \"MSG00001\" was already used by a different message",
            "",
            "",
            "",
            "unsupported ADT trigger event \"A99\" in MSH-9.2 (supported: A01 A02 A03 A04 A08 A11 A12 A13 A17)",
            "not an HL7 v2 message: it must start with an MSH segment, but starts with \"thi\"",
        ]
    );
    let stats = service.adt_stats().unwrap().snapshot();
    assert_eq!((stats.frames, stats.acks_aa, stats.acks_ae, stats.acks_ar), (7, 4, 1, 2));

    // When the service received each applied message, from its own history.
    let hub = service.state().associations.hub();
    let events = hub.events();
    let recorded = |id: &str| {
        let found: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                AssociationEvent::Adt(a) if a.message_id == id => Some(a.recorded_at),
                _ => None,
            })
            .collect();
        assert_eq!(found.len(), 1, "{id}");
        found[0]
    };
    assert_eq!(events.len(), 4, "the placement and three ADT events; the AE and the redelivery add none");
    let (admitted, discharged) = (recorded("MSG00001") - DAY, recorded("MSG00003") - DAY);
    assert!(admitted < recorded("MSG00002") - DAY && recorded("MSG00002") - DAY < discharged);

    let body = associations_of(api, "PATID1234");
    let stay = json!({"bed": "HUH AE OMU^OMU B^Bed 03", "ward": "HUH AE OMU", "encounter_id": "40007716",
                      "start": rfc3339(admitted), "end": rfc3339(discharged), "source": "Adt"});
    assert_eq!(body["stays"], Value::Array(vec![stay]), "{body}");
    let device = json!({"device_id": "mon-omu", "start": rfc3339(admitted), "end": rfc3339(discharged)});
    assert_eq!(body["devices"], Value::Array(vec![device]), "{body}");
    assert_eq!(body["patient_id"], "PATID1234");

    let derived = *service.state().associations.snapshot().stats();
    // Three ADT events and the placement moved to their floor; nothing else resolved by a rule.
    assert_eq!(derived.clamped, 4);
    assert_eq!(
        (derived.transfers_without_admission, derived.discharges_without_stay, derived.admits_while_in_bed),
        (0, 0, 0)
    );
    service.shutdown().await.unwrap();
}

fn minutes_before_now(minutes: i64) -> i64 {
    chrono::Utc::now().timestamp_micros() - minutes * MINUTE
}
