//! Tests of the embedded MIMIC-II numerics in physical units.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn numerics() -> Numerics {
    mimic2_numerics().unwrap()
}

#[test]
fn embedded_record_has_ten_signals_and_1936_frames() {
    let n = numerics();
    assert_eq!(n.record(), "s00001-2896-10-10-00-31n");
    assert_eq!(n.frame_count(), 1936);
    assert_eq!(n.frames().len(), 1936);
    assert!(n.frames().iter().all(|f| f.len() == 10));
    assert!((n.sampling_frequency() - 1.0 / 60.0).abs() < 1e-9);
}

#[test]
fn signal_names_units_and_gains_are_as_in_the_header() {
    let expected = [
        ("HR", "bpm", 10.0, "beat/min"),
        ("ABPSys", "mmHg", 10.0, "mm[Hg]"),
        ("ABPDias", "mmHg", 10.0, "mm[Hg]"),
        ("ABPMean", "mmHg", 10.0, "mm[Hg]"),
        ("PULSE", "bpm", 10.0, "beat/min"),
        ("RESP", "pm", 10.0, "/min"),
        ("SpO2", "%", 10.0, "%"),
        ("NBPSys", "mmHg", 1.0, "mm[Hg]"),
        ("NBPDias", "mmHg", 1.0, "mm[Hg]"),
        ("NBPMean", "mmHg", 1.0, "mm[Hg]"),
    ];
    let n = numerics();
    let actual: Vec<_> =
        n.signals().iter().map(|s| (s.name.as_str(), s.units.as_str(), s.gain, s.ucum_unit())).collect();
    assert_eq!(actual, expected);
    assert!(n.signals().iter().all(|s| s.baseline == 0));
}

/// A decode of one frame written independently of `wfdb`: bytes → little-endian i16 → /gain.
fn decode_frame_by_hand(bytes: &[u8], gains: &[f64]) -> Vec<Option<f64>> {
    (0..gains.len())
        .map(|i| {
            let raw = (u16::from(bytes[2 * i]) | u16::from(bytes[2 * i + 1]) << 8) as i16;
            (raw != 0 && raw != -32768).then(|| f64::from(raw) / gains[i])
        })
        .collect()
}

#[test]
fn first_frames_match_an_independent_decode_of_the_raw_bytes() {
    let gains = [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 1.0, 1.0, 1.0];
    // Frame 0 as stored:  HR    ABPSys ABPDias ABPMean PULSE RESP  SpO2  NBPSys NBPDias NBPMean
    let frame0: [u8; 20] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xE6, 0, 0, 0, 0, 0x80, 0, 0x80, 0, 0x80];
    assert_eq!(&MIMIC2_DATA[..20], &frame0);
    let n = numerics();
    assert_eq!(n.frames()[0], decode_frame_by_hand(&MIMIC2_DATA[..20], &gains));
    assert_eq!(n.frames()[0], [None, None, None, None, None, Some(23.0), None, None, None, None]);
    // Frame 1: HR 0x0274 = 628 → 62.8, RESP 0x007F = 127 → 12.7.
    assert_eq!(n.frames()[1], [Some(62.8), None, None, None, None, Some(12.7), None, None, None, None]);
    for i in 0..1936 {
        let bytes = &MIMIC2_DATA[20 * i..20 * (i + 1)];
        assert_eq!(n.frames()[i], decode_frame_by_hand(bytes, &gains), "frame {i}");
    }
}

#[test]
fn missing_markers_never_appear_as_numbers() {
    let n = numerics();
    let mut present = 0;
    for (i, frame) in n.frames().iter().enumerate() {
        for (value, signal) in frame.iter().zip(n.signals()) {
            let Some(v) = *value else { continue };
            present += 1;
            assert!(v != 0.0 && v != -32768.0 / signal.gain && v > 0.0, "frame {i} {}: {v}", signal.name);
        }
    }
    // Counted independently from the raw file: 7,405 present values, 40 frames with none.
    assert_eq!(present, 7405);
    assert_eq!((0..1936).filter(|&i| n.readings(i).next().is_none()).count(), 40);
}

#[test]
fn values_print_with_at_most_one_decimal_and_round_trip_through_json() {
    let n = numerics();
    for (i, frame) in n.frames().iter().enumerate() {
        for (value, signal) in frame.iter().zip(n.signals()) {
            let Some(v) = *value else { continue };
            let text = serde_json::to_string(&v).unwrap();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 1, "frame {i}: {text}");
            if signal.gain == 1.0 {
                assert_eq!(v.fract(), 0.0, "frame {i}: {text}");
            }
            assert_eq!(serde_json::from_str::<f64>(&text).unwrap(), v);
        }
    }
}

#[test]
fn readings_skip_missing_values_and_keep_header_order() {
    let n = numerics();
    let names: Vec<_> = n.readings(1).map(|(s, v)| (s.name.as_str(), v)).collect();
    assert_eq!(names, [("HR", 62.8), ("RESP", 12.7)]);
    assert_eq!(n.readings(5000).count(), 0);
}

#[test]
fn wfdb_units_map_to_ucum() {
    assert_eq!(["bpm", "mmHg", "pm", "%", "mV"].map(ucum_unit), ["beat/min", "mm[Hg]", "/min", "%", "mV"]);
}

#[test]
fn from_wfdb_rejects_data_that_does_not_match_the_header_checksums() {
    let mut data = MIMIC2_DATA.to_vec();
    data[20 * 7 + 12] ^= 0x10; // SpO2 of frame 7
    let error = Numerics::from_wfdb(MIMIC2_HEADER, &data).unwrap_err();
    assert!(format!("{error:#}").contains("SpO2"), "{error:#}");
}
