//! ADT decoding: the three shared real-world samples field by field, hand-written messages for
//! every other supported trigger, and every error with the ACK it calls for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wardstream_pipeline::association::{AdtEvent, AdtKind, BedRef, Location, PatientVisit};
use wardstream_pipeline::time::{LocalClock, Micros, NaiveDateTime};
use wardstream_protocols::hl7::Message;
use wardstream_protocols::hl7::adt::{AdtError, decode};
use wardstream_protocols::mllp::{AckCode, ErrorCode};

const RECEIVED: Micros = 1_700_000_000_000_000;

fn utc(s: &str) -> Micros {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap().and_utc().timestamp_micros()
}

fn sample(name: &str) -> Message {
    let path = format!("{}/tests/data/hl7/{name}", env!("CARGO_MANIFEST_DIR"));
    Message::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn adt(text: &str) -> Result<AdtEvent, AdtError> {
    let msg = Message::parse(text.replace('\n', "\r").as_bytes()).unwrap();
    decode(&msg, RECEIVED, &mut LocalClock::utc())
}

fn loc(ward: &str, room: &str, bed: &str, facility: Option<&str>) -> Location {
    Location {
        bed: BedRef { ward: ward.into(), room: room.into(), bed: bed.into() },
        facility: facility.map(Into::into),
    }
}

/// The visit every shared sample describes (they share PID and PV1).
fn sample_visit() -> PatientVisit {
    PatientVisit {
        patient_id: "PATID1234".into(),
        encounter_id: Some("40007716".into()),
        location: Some(loc("HUH AE OMU", "OMU B", "Bed 03", Some("HOMERTON UNIVER"))),
        prior_location: Some(loc("4 East, room 136, bed B 4E", "136", "B", Some("CommunityHospital"))),
    }
}

#[test]
fn the_shared_samples_decode_field_by_field_with_the_event_from_msh_9_not_evn_1() {
    for (file, kind) in [
        ("fhirconv-adt-a01.hl7", AdtKind::Admit),
        ("fhirconv-adt-a02.hl7", AdtKind::Transfer),
        ("fhirconv-adt-a03.hl7", AdtKind::Discharge),
    ] {
        let msg = sample(file);
        // EVN-1 says A01 in all three.
        assert_eq!(msg.segment("EVN").unwrap().field(1).text(), "A01");
        let event = decode(&msg, RECEIVED, &mut LocalClock::utc()).unwrap();
        let expected = AdtEvent {
            kind,
            message_id: "MSG00001".into(),
            visit: sample_visit(),
            other: None,
            // EVN-6 20210817151943.4+0200.
            event_time: utc("2021-08-17 13:19:43.4"),
            recorded_at: RECEIVED,
        };
        assert_eq!(event, expected, "{file}");
    }
}

#[test]
fn the_shared_samples_keep_their_escapes_and_repetitions_readable() {
    let msg = sample("fhirconv-adt-a01.hl7");
    let pv1 = msg.segment("PV1").unwrap();
    assert_eq!(pv1.field(14).text(), "NHS Provider-General (inc.A&E-this Hosp)");
    let pid = msg.segment("PID").unwrap();
    assert_eq!(pid.field(3).repetitions().count(), 2);
    assert_eq!(pid.field(3).repetition(1).component(5).text(), "SS");
    assert_eq!(pid.field(3).component(4).sub_component(2).text(), "2.16.1");
    assert_eq!(msg.all_segments().count(), 12);
}

const A04: &str = "MSH|^~\\&|REG|H|WS|H|20260715120500||ADT^A04|R-1|P|2.5\n\
                   EVN||20260715120000\n\
                   PID|||E-77^^^H^PI~MRN-5^^^H^MR||Roe^Ann\n\
                   PV1||E|||||||||||||||||V-9^^^H^VN";

#[test]
fn a04_register_without_a_bed_uses_evn_2_in_the_configured_zone() {
    let msg = Message::parse(A04.replace('\n', "\r").as_bytes()).unwrap();
    let event = decode(&msg, RECEIVED, &mut LocalClock::new("Europe/London").unwrap()).unwrap();
    assert_eq!((event.kind, event.message_id.as_str()), (AdtKind::Register, "R-1"));
    let visit = PatientVisit {
        patient_id: "MRN-5".into(),
        encounter_id: Some("V-9".into()),
        location: None,
        prior_location: None,
    };
    assert_eq!(event.visit, visit);
    // 12:00 BST is 11:00 UTC.
    assert_eq!(event.event_time, utc("2026-07-15 11:00:00"));
}

#[test]
fn a08_a11_a12_a13_decode_with_their_locations_and_time_fallbacks() {
    let a08 = adt("MSH|^~\\&|A|H|||20260101000000||ADT^A08^ADT_A01|U-1|P|2.3\n\
                   EVN|A01|20260102030405-0500|||||\n\
                   PID|||P-1^^^H^PI\n\
                   PV1||I|ICU^12^B")
    .unwrap();
    assert_eq!((a08.kind, a08.visit.patient_id.as_str()), (AdtKind::Update, "P-1"));
    assert_eq!((a08.visit.location, a08.event_time), (Some(loc("ICU", "12", "B", None)), utc("2026-01-02 08:04:05")));

    // A11 without EVN and PV1: MSH-7 is the time, no location needed.
    let a11 = adt("MSH|^~\\&|A|H|||202601020304+0100||ADT^A11|C-1|P|2.5\nPID|||P-2^^^H^MR").unwrap();
    assert_eq!(
        (a11.kind, a11.visit.location.clone(), a11.visit.encounter_id.clone()),
        (AdtKind::CancelAdmit, None, None)
    );
    assert_eq!(a11.event_time, utc("2026-01-02 02:04:00"));

    let a12 = adt("MSH|^~\\&|A|H|||20260101||ADT^A12|C-2|P|2.5\nEVN||20260103||||20260102101010\n\
                   PID|||P-3^^^H^MR\nPV1||I|4W^401^1|||ICU^7^2")
    .unwrap();
    assert_eq!(a12.kind, AdtKind::CancelTransfer);
    assert_eq!(a12.visit.location, Some(loc("4W", "401", "1", None)));
    assert_eq!(a12.visit.prior_location, Some(loc("ICU", "7", "2", None)));
    assert_eq!(a12.event_time, utc("2026-01-02 10:10:10"));

    let a13 = adt("MSH|^~\\&|A|H|||20260101||ADT^A13|C-3|P|2.5\nEVN||20260104\nPID|||P-4^^^H^MR\nPV1||I").unwrap();
    assert_eq!(
        (a13.kind, a13.visit.location.clone(), a13.event_time),
        (AdtKind::CancelDischarge, None, utc("2026-01-04 00:00:00"))
    );
}

#[test]
fn a17_swaps_two_patients_each_with_their_own_pid_and_pv1() {
    let event = adt("MSH|^~\\&|A|H|||20260101||ADT^A17^ADT_A17|S-1|P|2.5\nEVN||20260105120000+0000\n\
                     PID|||P-5^^^H^MR\nPD1|\nPV1||I|ICU^1^A||||||||||||||||E-5\n\
                     PID|||P-6^^^H^MR\nPV1||I|ICU^2^B||||||||||||||||E-6")
    .unwrap();
    assert_eq!(event.kind, AdtKind::SwapBeds);
    let visit = |p: &str, e: &str, bed: &str, room: &str| PatientVisit {
        patient_id: p.into(),
        encounter_id: Some(e.into()),
        location: Some(loc("ICU", room, bed, None)),
        prior_location: None,
    };
    assert_eq!(event.visit, visit("P-5", "E-5", "A", "1"));
    assert_eq!(event.other, Some(visit("P-6", "E-6", "B", "2")));
    assert_eq!(event.event_time, utc("2026-01-05 12:00:00"));
}

#[test]
fn every_error_says_why_and_names_its_ack() {
    let cases: [(&str, &str, AckCode, ErrorCode); 8] = [
        (
            "MSH|^~\\&|A|H|||20260101||ORU^R01|1|P|2.6\nPID|||P^^^H^MR",
            "not an ADT message: MSH-9 is \"ORU^R01\"",
            AckCode::Reject,
            ErrorCode::UnsupportedMessageType,
        ),
        (
            "MSH|^~\\&|A|H|||20260101||ADT^A99|1|P|2.6\nPID|||P",
            "unsupported ADT trigger event \"A99\" in MSH-9.2 (supported: A01 A02 A03 A04 A08 A11 A12 A13 A17)",
            AckCode::Reject,
            ErrorCode::UnsupportedEventCode,
        ),
        (
            "MSH|^~\\&|A|H|||20260101||ADT|1|P|2.6\nEVN|A01\nPID|||P",
            "unsupported ADT trigger event \"\" in MSH-9.2 (supported: A01 A02 A03 A04 A08 A11 A12 A13 A17)",
            AckCode::Reject,
            ErrorCode::UnsupportedEventCode,
        ),
        (
            "MSH|^~\\&|A|H|||20260101||ADT^A03|1|P|2.6\nPV1||I|ICU",
            "no PID segment for patient 1",
            AckCode::Error,
            ErrorCode::SegmentSequence,
        ),
        (
            "MSH|^~\\&|A|H|||20260101||ADT^A01|1|P|2.6\nPID|||^^^H^MR\nPV1||I|ICU",
            "PID-3 of patient 1 holds no patient identifier",
            AckCode::Error,
            ErrorCode::RequiredFieldMissing,
        ),
        (
            "MSH|^~\\&|A|H|||20260101||ADT^A01|1|P|2.6\nPID|||P\nPV1||I||||ICU^1^2",
            "A01 needs an assigned location, but PV1-3 of patient 1 is empty or there is no PV1",
            AckCode::Error,
            ErrorCode::RequiredFieldMissing,
        ),
        (
            "MSH|^~\\&|A|H|||||ADT^A03|1|P|2.6\nEVN|A03\nPID|||P",
            "no event time: EVN-6, EVN-2 and MSH-7 are all empty",
            AckCode::Error,
            ErrorCode::RequiredFieldMissing,
        ),
        (
            "MSH|^~\\&|A|H|||20260101||ADT^A03|1|P|2.6\nEVN||20260101||||2026-01-01\nPID|||P",
            "EVN-6 is not a valid event time: invalid HL7 timestamp \"2026-01-01\": bad UTC offset",
            AckCode::Error,
            ErrorCode::DataType,
        ),
    ];
    for (text, message, code, error) in cases {
        let err = adt(text).unwrap_err();
        assert_eq!(err.to_string(), message);
        let reply = err.reply();
        assert_eq!((reply.code, reply.error, reply.text.as_str()), (code, Some(error), message));
    }
    let one_pair = "MSH|^~\\&|A|H|||20260101||ADT^A17|1|P|2.6\nPID|||P\nPV1||I|ICU^1^A";
    assert_eq!(adt(one_pair).unwrap_err(), AdtError::MissingPid { pair: 2 });
    let second_without_bed = format!("{one_pair}\nPID|||Q\nPV1||I");
    assert_eq!(adt(&second_without_bed).unwrap_err(), AdtError::MissingLocation { trigger: "A17", pair: 2 });
}
