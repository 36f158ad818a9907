//! Tests of the Masimo ASCII 1 codec on lines captured from real devices, damaged lines, DST
//! changes, and arbitrary bytes.

use std::sync::Arc;

use proptest::prelude::*;
use wardstream_pipeline::{Catalogue, Flag, Flags, IngestBatch, Normaliser, RawValue, Reason, Status};

use super::*;

/// A Radical-7 with a SpCO/SpMet/SpHb-capable board (line with `EXC1`), no serial number.
const RADICAL7: &[u8] = b"03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000";
/// A Rad-8 with its serial number and no sensor attached.
const NO_SENSOR: &[u8] =
    b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=---% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001";
/// An older Radical: everything dashes, no exception.
const DASHES: &[u8] = b"05/15/07 08:12:21 SN=0000070986 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000";

const NOW: i64 = 1_700_000_000_000_000;
const S: i64 = 1_000_000;

fn decoder(zone: &str) -> MasimoDecoder {
    MasimoDecoder::new("/dev/ttyUSB0", "bed-4-spo2", zone).unwrap()
}

#[test]
fn the_radical7_line_gives_three_questionable_readings_in_utc() {
    let batch = decoder("America/New_York").decode_to_batch(RADICAL7, NOW);
    assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
    let got: Vec<(&str, &RawValue, Option<&str>)> =
        batch.readings.iter().map(|r| (r.name.as_str(), &r.value, r.unit.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("SPO2", &RawValue::Number(98.0), Some("%")),
            ("BPM", &RawValue::Number(123.0), Some("/min")),
            ("PI", &RawValue::Number(0.55), Some("%"))
        ]
    );
    for r in &batch.readings {
        // 19:19:36 on 17 March 2016 is EDT (DST began on the 13th): UTC−4.
        assert_eq!((r.device_time, r.received_at), (1_458_256_776 * S, NOW));
        assert_eq!((&*r.device_id, &*r.origin, &*r.raw), ("bed-4-spo2", "/dev/ttyUSB0", RADICAL7));
        assert_eq!(r.flags, Flags::of(Flag::Questionable)); // 0xC00: low signal IQ + SET mode
        assert_eq!(r.source.as_str(), "serial");
    }
}

#[test]
fn the_readings_resolve_to_catalogue_metrics_in_their_canonical_units() {
    let normaliser = Normaliser::new(Arc::new(Catalogue::builtin()));
    let line = b"03/17/16 19:19:36 SN=0000093112 SPO2=097% BPM=061 PI=02.10 SPCO=01.5% SPMET=00.8% SPHB=13.2 SPOC=18 PVI=014 ALARM=0000 EXC=000800";
    let batch = decoder("UTC").decode_to_batch(line, NOW);
    let got: Vec<(String, f64, String, Status)> = batch
        .readings
        .into_iter()
        .map(|r| normaliser.normalise(r).unwrap())
        .map(|o| (o.metric.name.clone(), o.value, o.metric.unit.clone(), o.status()))
        .collect();
    let expect = [
        ("spo2", 97.0, "%"),
        ("pulse_rate_spo2", 61.0, "/min"),
        ("perfusion_index", 2.1, "%"),
        ("spco", 1.5, "%"),
        ("spmet", 0.8, "%"),
        ("sphb", 13.2, "g/dL"),
        ("spoc", 18.0, "mL/dL"),
        ("pvi", 14.0, "%"),
    ];
    let expect: Vec<(String, f64, String, Status)> =
        expect.iter().map(|(m, v, u)| (m.to_string(), *v, u.to_string(), Status::Valid)).collect();
    assert_eq!(got, expect);
}

#[test]
fn a_line_without_values_is_one_missing_value_dead_letter_naming_the_exception() {
    let mut d = decoder("America/New_York");
    let batch = d.decode_to_batch(NO_SENSOR, NOW);
    assert!(batch.readings.is_empty());
    assert_eq!(batch.dead_letters.len(), 1);
    let dead = &batch.dead_letters[0];
    assert_eq!(
        (dead.reason, dead.device_id.as_deref(), dead.source_name.as_deref()),
        (Reason::MissingValue, Some("masimo-0000093112"), None)
    );
    assert_eq!(dead.detail, "no value in the line (every field is dashes); EXC=000001 (no sensor)");
    assert_eq!((&*dead.payload, dead.received_at, &*dead.origin), (NO_SENSOR, NOW, "/dev/ttyUSB0"));

    let batch = d.decode_to_batch(DASHES, NOW);
    assert_eq!(batch.dead_letters.len(), 1);
    assert_eq!(batch.dead_letters[0].device_id.as_deref(), Some("masimo-0000070986"));
    assert_eq!(batch.dead_letters[0].detail, "no value in the line (every field is dashes); EXC=000000 (none)");
}

#[test]
fn numbers_on_a_sensor_off_line_are_missing_value_dead_letters_not_readings() {
    let line = b"03/19/16 13:37:12 SN=0000093112 SPO2=098% BPM=072 PI=--.-- ALARM=0000 EXC=000020";
    let batch = decoder("UTC").decode_to_batch(line, NOW);
    assert!(batch.readings.is_empty());
    let got: Vec<(Reason, Option<&str>, &str)> =
        batch.dead_letters.iter().map(|d| (d.reason, d.source_name.as_deref(), d.detail.as_str())).collect();
    assert_eq!(
        got,
        [
            (Reason::MissingValue, Some("SPO2"), "SPO2=098% is not a valid measurement: EXC=000020 (sensor off)"),
            (Reason::MissingValue, Some("BPM"), "BPM=072 is not a valid measurement: EXC=000020 (sensor off)"),
        ]
    );
}

#[test]
fn each_exception_bit_flags_or_rejects_as_device_quality_decides() {
    let cases = [
        ("000000", Some(Flags::NONE)),
        ("000800", Some(Flags::NONE)),
        ("000004", Some(Flags::of(Flag::Questionable))),
        ("000008", Some(Flags::of(Flag::Questionable))),
        ("000010", Some(Flags::of(Flag::Questionable))),
        ("000040", Some(Flags::of(Flag::Questionable))),
        ("000400", Some(Flags::of(Flag::Questionable))),
        ("000100", Some(Flags::of(Flag::Questionable))),
        ("000001", None),
        ("000002", None),
        ("000020", None),
        ("000080", None),
        ("000804", Some(Flags::of(Flag::Questionable))),
    ];
    for (exc, expect) in cases {
        let line = format!("01/02/26 03:04:05 SN=---------- SPO2=095% ALARM=0000 EXC={exc}");
        let batch = decoder("UTC").decode_to_batch(line.as_bytes(), NOW);
        let got = batch.readings.first().map(|r| r.flags);
        assert_eq!(got, expect, "EXC={exc}");
        assert_eq!(batch.readings.len() + batch.dead_letters.len(), 1, "EXC={exc}");
    }
}

#[test]
fn malformed_lines_are_invalid_payload_dead_letters_with_the_reason() {
    let cases: [(&[u8], &str); 12] = [
        (b"", "the line does not start with a valid MM/DD/YY HH:MM:SS time: \" \""),
        (
            b"9:36 SN=---------- SPO2=098% BPM=123 ALARM=0000 EXC=000000",
            "the line does not start with a valid MM/DD/YY HH:MM:SS time: \"9:36 SN=----------\"",
        ),
        (
            b"13/17/16 19:19:36 SPO2=098% EXC=000000",
            "the line does not start with a valid MM/DD/YY HH:MM:SS time: \"13/17/16 19:19:36\"",
        ),
        (
            b"02/30/16 19:19:36 SPO2=098% EXC=000000",
            "the line does not start with a valid MM/DD/YY HH:MM:SS time: \"02/30/16 19:19:36\"",
        ),
        (b"03/17/16 19:19:36 SN=---------- SPO2=09", "no EXC= field: the line is incomplete"),
        (
            b"03/17/16 19:19:36 SPO2=098% EXC=0000003/17/16 19:19:37 SPO2=097% EXC=000000",
            "the field EXC=0000003/17/16 is malformed",
        ),
        (b"03/17/16 19:19:36 SPO2=098% EXC=000000 03/17/16", "\"03/17/16\" is not a KEY=VALUE field"),
        (b"03/17/16 19:19:36 SPO2=098% SPO2=097% EXC=000000", "the field SPO2 appears twice"),
        (b"03/17/16 19:19:36 SPO2=9?8% EXC=000000", "the field SPO2=9?8% is neither a number nor dashes"),
        (b"03/17/16 19:19:36 SN=00-93 SPO2=098% EXC=000000", "the field SN=00-93 is malformed"),
        (b"03/17/16 19:19:36 SPO2=098% ALARM=00G0 EXC=000000", "the field ALARM=00G0 is malformed"),
        (b"03/17/16 19:19:36 SPO2=\xf8098% EXC=000000", "byte 0xf8 at offset 23 is not printable ASCII"),
    ];
    for (line, detail) in cases {
        let mut batch = IngestBatch::default();
        let result = decoder("UTC").decode(line, NOW, &mut batch);
        assert!(result.is_err(), "{:?}", String::from_utf8_lossy(line));
        assert!(batch.readings.is_empty());
        let got: Vec<(Reason, &str, Option<&str>)> =
            batch.dead_letters.iter().map(|d| (d.reason, d.detail.as_str(), d.device_id.as_deref())).collect();
        assert_eq!(got, [(Reason::InvalidPayload, detail, Some("bed-4-spo2"))], "{:?}", String::from_utf8_lossy(line));
        assert_eq!(&*batch.dead_letters[0].payload, line);
    }
}

#[test]
fn unknown_fields_pass_through_without_a_unit_and_text_stays_text() {
    let line = b"03/17/16 19:19:36 SN=---------- SPO2=098% RRA=14 MODE=ADULT DESAT=03 ALARM=0000 EXC=000000";
    let batch = decoder("UTC").decode_to_batch(line, NOW);
    let got: Vec<(&str, &RawValue, Option<&str>)> =
        batch.readings.iter().map(|r| (r.name.as_str(), &r.value, r.unit.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("SPO2", &RawValue::Number(98.0), Some("%")),
            ("RRA", &RawValue::Number(14.0), None),
            ("MODE", &RawValue::Text("ADULT".into()), None),
            ("DESAT", &RawValue::Number(3.0), None),
        ]
    );
}

#[test]
fn a_device_crossing_the_autumn_change_keeps_its_sequence_in_utc() {
    // London, 25 Oct 2026: 01:00–01:59 happens twice (BST, then GMT). One line every 30 min.
    let mut d = decoder("Europe/London");
    let local = ["00:30:00", "01:00:00", "01:30:00", "01:00:00", "01:30:00", "02:00:00"];
    let times: Vec<i64> = local
        .iter()
        .map(|t| {
            let line = format!("10/25/26 {t} SN=0000093112 SPO2=097% ALARM=0000 EXC=000000");
            d.decode_to_batch(line.as_bytes(), NOW).readings[0].device_time
        })
        .collect();
    let midnight_utc = 1_792_886_400 * S; // 2026-10-25T00:00:00Z
    let half_hour = 1_800 * S;
    let expect: Vec<i64> = [-1, 0, 1, 2, 3, 4].iter().map(|k| midnight_utc + k * half_hour).collect();
    assert_eq!(times, expect);
}

#[test]
fn each_serial_number_is_its_own_device_with_its_own_clock() {
    let mut d = decoder("UTC");
    for sn in 0..20 {
        let line = format!("01/02/26 03:04:05 SN=SN{sn:04} SPO2=095% ALARM=0000 EXC=000000");
        let batch = d.decode_to_batch(line.as_bytes(), NOW);
        assert_eq!(&*batch.readings[0].device_id, format!("masimo-SN{sn:04}").as_str());
        assert_eq!(batch.readings[0].device_time, 1_767_323_045 * S);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_always_leave_a_trace(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut batch = IngestBatch::default();
        let result = decoder("Europe/London").decode(&bytes, NOW, &mut batch);
        prop_assert!(!batch.is_empty());
        if result.is_err() {
            prop_assert_eq!(batch.dead_letters.len(), 1);
            prop_assert!(batch.readings.is_empty());
        }
    }

    #[test]
    fn damaged_real_lines_never_panic(cut in 0..RADICAL7.len(), byte in any::<u8>(), at in 0..RADICAL7.len()) {
        let mut damaged = RADICAL7.to_vec();
        damaged[at] = byte;
        damaged.truncate(cut.max(at + 1));
        let batch = decoder("America/New_York").decode_to_batch(&damaged, NOW);
        prop_assert!(!batch.is_empty());
        prop_assert!(batch.readings.len() <= 4); // a dash turned digit adds one
    }
}
