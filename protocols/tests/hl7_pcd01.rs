//! PCD-01 decoding: both shared IHE samples reading by reading, every dead-letter rule on
//! hand-written OBX segments, and the decoded readings through the real normaliser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use wardstream_pipeline::association::{BedRef, Location};
use wardstream_pipeline::time::{LocalClock, Micros, NaiveDateTime};
use wardstream_pipeline::{Catalogue, DeadLetter, Normaliser, RawReading, RawValue, Reason, Source};
use wardstream_protocols::hl7::Message;
use wardstream_protocols::hl7::pcd01::{Pcd01Counts, Pcd01Result, decode};

const RECEIVED: Micros = 1_700_000_000_000_000;

fn utc(s: &str) -> Micros {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_micros()
}

fn decode_bytes(bytes: &[u8], clock: &mut LocalClock) -> Pcd01Result {
    let msg = Message::parse(bytes).unwrap();
    decode(&msg, Arc::from(bytes), RECEIVED, clock)
}

fn sample(name: &str) -> Pcd01Result {
    let path = format!("{}/tests/data/hl7/{name}", env!("CARGO_MANIFEST_DIR"));
    decode_bytes(&std::fs::read(path).unwrap(), &mut LocalClock::utc())
}

fn hand(text: &str) -> Pcd01Result {
    decode_bytes(text.replace('\n', "\r").as_bytes(), &mut LocalClock::utc())
}

/// (name, value, unit, time, device, flags) of a reading.
type Row<'a> = (&'a str, f64, Option<&'a str>, Micros, &'a str, Vec<&'static str>);

fn row(r: &RawReading) -> Row<'_> {
    let RawValue::Number(value) = r.value else { panic!("not a number: {r:?}") };
    let flags = r.flags.iter().map(|f| f.as_str()).collect();
    (r.name.as_str(), value, r.unit.as_deref(), r.device_time, &*r.device_id, flags)
}

fn dead(d: &DeadLetter) -> (Reason, Option<&str>, Option<&str>, &str) {
    (d.reason, d.device_id.as_deref(), d.source_name.as_deref(), d.detail.as_str())
}

#[test]
fn the_gateway_sample_gives_its_nine_readings_exactly() {
    let result = sample("ipf-pcd01-request2.hl7");
    let t = utc("2008-12-11 14:45:00"); // OBR-7, no offset: the clock's zone (UTC)
    let dev = "080019FFFF4F6AC0"; // no OBX-18: MSH-3 universal id
    let (per_min, mmhg) = (Some("/min^/min^UCUM"), Some("mm[Hg]^mm[Hg]^UCUM"));
    let p = || vec!["preliminary"]; // OBX-11 R
    let expected: Vec<Row<'_>> = vec![
        ("147842^MDC_ECG_HEART_RATE^MDC", 60.0, per_min, t, dev, p()),
        ("148065^MDC_ECG_V_P_C_CNT^MDC", 0.0, per_min, t, dev, p()),
        ("150035^MDC_PRESS_BLD_ART_MEAN^MDC", 92.0, mmhg, t, dev, p()),
        ("150033^MDC_PRESS_BLD_ART_SYS^MDC", 120.0, mmhg, t, dev, p()),
        ("150034^MDC_PRESS_BLD_ART_DIA^MDC", 80.0, mmhg, t, dev, p()),
        ("149522^MDC_BLD_PULS_RATE_INV^MDC", 60.0, per_min, t, dev, p()),
        ("150047^MDC_PRESS_BLD_ART_PULM_MEAN^MDC", 14.0, mmhg, t, dev, p()),
        ("150045^MDC_PRESS_BLD_ART_PULM_SYS^MDC", 25.0, mmhg, t, dev, p()),
        ("150046^MDC_PRESS_BLD_ART_PULM_DIA^MDC", 10.0, mmhg, t, dev, p()),
    ];
    assert_eq!(result.batch.readings.iter().map(row).collect::<Vec<_>>(), expected);
    assert!(result.batch.dead_letters.is_empty());
    let counts = Pcd01Counts { obx: 9, readings: 9, dead_letters: 0, structural: 0, non_numeric: 0 };
    assert_eq!(result.counts, counts);
    assert_eq!(result.patient_hint.as_deref(), Some("AB60001"));
    let bed =
        Location { bed: BedRef { ward: "3 WEST ICU".into(), room: "3001".into(), bed: "1".into() }, facility: None };
    assert_eq!(result.bed_hint, Some(bed));
    for r in &result.batch.readings {
        assert_eq!((r.source, &*r.origin, r.received_at), (Source::Hl7, "HL7^080019FFFF4F6AC0^EUI-64", RECEIVED));
        assert!(r.raw.starts_with(b"MSH|^~\\&|HL7^080019FFFF4F6AC0^EUI-64|MMS|"));
    }
}

#[test]
fn the_maximum_sample_gives_four_readings_three_dead_letters_and_three_containment_nodes() {
    let result = sample("ipf-pcd01-maximum-request2.hl7");
    let obr7 = utc("2009-08-13 04:57:15"); // 20090813095715+0500
    let obx14 = utc("2009-08-13 04:57:25"); // 20090813095725+0500
    let mds = "0123456789ABCDEF"; // OBX-18 of the MDS-level OBX (OBX-4 `1`)
    let mmhg = Some("266016^MDC_DIM_MMHG^MDC");
    let expected: Vec<Row<'_>> = vec![
        // OBX-18 of its own (EI.1 of the first repetition); OBX-8 QUES, OBX-11 C; OBX-14 time.
        ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", 140.0, mmhg, obx14, "1305815835", vec!["questionable", "corrected"]),
        // No OBX-18 and no OBX-14: the MDS's equipment id and OBR-7.
        ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", 100.0, mmhg, obr7, mds, vec![]),
        // Second OBR group: its MDS-level OBX has no value (structural) but names the device.
        ("1500212^MDC_PRESS_BLD_NONINV_SYS^MDC", 120.0, mmhg, obr7, mds, vec!["preliminary"]),
        ("1500212^MDC_PRESS_BLD_NONINV_SYS^MDC", 80.0, mmhg, obr7, mds, vec![]),
    ];
    assert_eq!(result.batch.readings.iter().map(row).collect::<Vec<_>>(), expected);
    let dead_letters: Vec<_> = result.batch.dead_letters.iter().map(dead).collect();
    assert_eq!(
        dead_letters,
        [
            (
                Reason::MissingValue,
                Some(mds),
                Some("528391^MDC_DEV_SPEC_PROFILE_BP^MDC"),
                "OBX 1 (528391^MDC_DEV_SPEC_PROFILE_BP^MDC): OBX-8 \"TEST\" / OBX-11 \"R\" say there is no valid value",
            ),
            (
                Reason::MissingValue,
                Some(mds),
                Some("150022^MDC_PRESS_BLD_NONINV_DIA^MDC"),
                "OBX 4 (150022^MDC_PRESS_BLD_NONINV_DIA^MDC): OBX-8 \"EARLY~QUES\" / OBX-11 \"D\" say there is no valid value",
            ),
            (
                Reason::MissingValue,
                Some(mds),
                Some("1500232^MDC_PRESS_BLD_NONINV_MEAN^MDC"),
                "OBX 5 (1500232^MDC_PRESS_BLD_NONINV_MEAN^MDC): OBX-8 \"\" / OBX-11 \"X\" say there is no valid value",
            ),
        ]
    );
    let counts = Pcd01Counts { obx: 10, readings: 4, dead_letters: 3, structural: 3, non_numeric: 0 };
    assert_eq!(result.counts, counts);
    assert_eq!(result.patient_hint.as_deref(), Some("111222333444"));
    let bed = Location { bed: BedRef { ward: "B1".into(), room: "".into(), bed: "".into() }, facility: None };
    assert_eq!(result.bed_hint, Some(bed));
    assert!(result.batch.dead_letters.iter().all(|d| d.source == Source::Hl7 && d.payload.len() == 2847));
}

#[test]
fn every_numeric_obx_of_both_samples_maps_to_a_catalogue_metric_and_unit() {
    let normaliser = Normaliser::new(Arc::new(Catalogue::builtin()));
    let mut metrics = Vec::new();
    for file in ["ipf-pcd01-request2.hl7", "ipf-pcd01-maximum-request2.hl7"] {
        for reading in sample(file).batch.readings {
            let obs = normaliser.normalise(reading).unwrap_or_else(|dl| panic!("{file}: {dl:?}"));
            metrics.push((obs.metric.name.clone(), obs.value, obs.metric.unit.clone()));
        }
    }
    let m = |name: &str, value: f64, unit: &str| (name.to_owned(), value, unit.to_owned());
    assert_eq!(
        metrics,
        [
            m("heart_rate", 60.0, "/min"),
            m("pvc_count", 0.0, "/min"),
            m("abp_mean", 92.0, "mm[Hg]"),
            m("abp_sys", 120.0, "mm[Hg]"),
            m("abp_dia", 80.0, "mm[Hg]"),
            m("pulse_rate_ibp", 60.0, "/min"),
            m("pap_mean", 14.0, "mm[Hg]"),
            m("pap_sys", 25.0, "mm[Hg]"),
            m("pap_dia", 10.0, "mm[Hg]"),
            m("nibp_sys", 140.0, "mm[Hg]"),
            m("nibp_mean", 100.0, "mm[Hg]"),
            m("nibp_sys", 120.0, "mm[Hg]"),
            m("nibp_sys", 80.0, "mm[Hg]"),
        ]
    );
}

const HEAD: &str = "MSH|^~\\&|MON^EUI0001^EUI-64|ICU|||20260329013000+0000||ORU^R01^ORU_R01|M1|P|2.6\n\
                    OBR|1|||182777000^monitoring of patient^SNOMED-CT|||20260329013000+0000\n";

#[test]
fn each_obx_rule_gives_its_reading_skip_or_dead_letter() {
    let text = format!(
        "{HEAD}OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1|||||||X|||||||MDS-1^^EUI-64\n\
         OBX|2|ST|68063^MDC_ATTR_PT_TYPE^MDC|1.0.0.1|adult\n\
         OBX|3|CWE|68487^MDC_ATTR_MODE_OP^MDC|1.0.0.2|^MDC_MODE_OP_NORMAL^MDC\n\
         OBX|4|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F|||20260329012959\n\
         OBX|5|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|--|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\n\
         OBX|6|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|high|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\n\
         OBX|7|NM|151562^MDC_RESP_RATE^MDC|1.1.1.3|||||||F\n\
         OBX|8||151562^MDC_RESP_RATE^MDC|1.1.1.3|12\n\
         OBX|9|NM||1.1.1.4|12\n\
         OBX|10|NM|151562^MDC_RESP_RATE^MDC|1.1.1.3|12~13\n\
         OBX|11|NM|151562^MDC_RESP_RATE^MDC|1.1.1.3|14|/min||||||||2026-03-29\n\
         OBX|12|nm|151562^MDC_RESP_RATE^MDC|2.1.1.3|15|||||||||||||OWN-2~OTHER\n"
    );
    let result = hand(&text);
    let t = utc("2026-03-29 01:30:00");
    let expected: Vec<Row<'_>> = vec![
        ("150456^MDC_PULS_OXIM_SAT_O2^MDC", 97.0, Some("262688^MDC_DIM_PERCENT^MDC"), t - 1_000_000, "MDS-1", vec![]),
        // MDS 2 has no MDS-level OBX: OBX-18 of its own.
        ("151562^MDC_RESP_RATE^MDC", 15.0, None, t, "OWN-2", vec![]),
    ];
    assert_eq!(result.batch.readings.iter().map(row).collect::<Vec<_>>(), expected);
    let got: Vec<_> = result.batch.dead_letters.iter().map(|d| (d.reason, d.detail.as_str())).collect();
    assert_eq!(
        got,
        [
            (Reason::MissingValue, "OBX 5 (147842^MDC_ECG_HEART_RATE^MDC): OBX-5 \"--\" is no value"),
            (Reason::NonNumericValue, "OBX 6 (147842^MDC_ECG_HEART_RATE^MDC): OBX-5 \"high\" is not a number"),
            (Reason::MissingValue, "OBX 7 (151562^MDC_RESP_RATE^MDC): OBX-5 \"\" is no value"),
            (
                Reason::InvalidPayload,
                "OBX 8 (151562^MDC_RESP_RATE^MDC): OBX-5 has a value but OBX-2 names no value type"
            ),
            (Reason::UnknownMetric, "OBX 9 (): OBX-3 names no observation"),
            (Reason::NonNumericValue, "OBX 10 (151562^MDC_RESP_RATE^MDC): NM value with 2 repetitions"),
            (
                Reason::InvalidTime,
                "OBX 11 (151562^MDC_RESP_RATE^MDC): OBX-14: invalid HL7 timestamp \"2026-03-29\": bad UTC offset"
            ),
        ]
    );
    let counts = Pcd01Counts { obx: 12, readings: 2, dead_letters: 7, structural: 1, non_numeric: 2 };
    assert_eq!(result.counts, counts);
    assert_eq!(counts.obx, counts.readings + counts.dead_letters + counts.structural + counts.non_numeric);
    assert_eq!((result.patient_hint, result.bed_hint), (None, None));
}

#[test]
fn without_any_device_id_an_obx_is_an_unknown_device_dead_letter() {
    let result =
        hand("MSH|^~\\&||ICU|||20260329013000||ORU^R01|M1|P|2.6\nOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97");
    let got: Vec<_> = result.batch.dead_letters.iter().map(dead).collect();
    let detail = "OBX 1 (150456^MDC_PULS_OXIM_SAT_O2^MDC): no device id in OBX-18, in the MDS-level OBX-18 or in MSH-3";
    assert_eq!(got, [(Reason::UnknownDevice, None, Some("150456^MDC_PULS_OXIM_SAT_O2^MDC"), detail)]);
    // MSH-3 without a universal id: its namespace id; MSH-7 is the last time fallback.
    let result =
        hand("MSH|^~\\&|GW1|ICU|||20260329013000||ORU^R01|M1|P|2.6\nOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97");
    let r = &result.batch.readings[0];
    assert_eq!((&*r.device_id, r.device_time), ("GW1", utc("2026-03-29 01:30:00")));
}

#[test]
fn times_without_an_offset_use_the_clock_s_zone() {
    let text = format!("{HEAD}OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|%|||||F|||20260715120000");
    let mut clock = LocalClock::new("Europe/London").unwrap();
    let result = decode_bytes(text.replace('\n', "\r").as_bytes(), &mut clock);
    assert_eq!(result.batch.readings[0].device_time, utc("2026-07-15 11:00:00"));
}

#[test]
fn a_message_that_is_not_oru_r01_is_one_invalid_payload_dead_letter() {
    let result =
        hand("MSH|^~\\&|GW1|ICU|||20260329013000||ADT^A01|M1|P|2.6\nOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97");
    let got: Vec<_> = result.batch.dead_letters.iter().map(dead).collect();
    assert_eq!(got, [(Reason::InvalidPayload, None, None, "MSH-9 is \"ADT^A01\"; a PCD-01 message is ORU^R01")]);
    assert_eq!(result.counts, Pcd01Counts { dead_letters: 1, ..Pcd01Counts::default() });
    assert!(result.batch.readings.is_empty());
}
