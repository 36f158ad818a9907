//! Tests of the WFDB header parser and the format-16 decoder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::mimic::{MIMIC2_DATA, MIMIC2_HEADER};

fn embedded() -> Record {
    let header = Header::parse(MIMIC2_HEADER).unwrap();
    Record::decode(header, MIMIC2_DATA).unwrap()
}

#[test]
fn record_line_of_the_mimic2_header_is_parsed_field_by_field() {
    let header = Header::parse(MIMIC2_HEADER).unwrap();
    assert_eq!(header.record, "s00001-2896-10-10-00-31n");
    assert_eq!(header.sampling_frequency, 0.0166666666667);
    assert_eq!(header.counter_frequency, Some(125.0));
    assert_eq!(header.samples_per_signal, Some(1936));
    assert_eq!(header.base_time.as_deref(), Some("31:25.894"));
    assert_eq!(header.base_date.as_deref(), Some("10/10/2896"));
    assert_eq!(header.comments, vec!["<age>: 60 <sex>: F".to_owned()]);
    assert_eq!(header.signals.len(), 10);
}

#[test]
fn signal_lines_of_the_mimic2_header_are_parsed_field_by_field() {
    let header = Header::parse(MIMIC2_HEADER).unwrap();
    // "3975656n.dat 16 10/pm 16 0 230 -32345 0 RESP"
    let resp = &header.signals[5];
    assert_eq!(
        resp,
        &SignalSpec {
            file: "3975656n.dat".into(),
            format: 16,
            byte_offset: 0,
            gain: 10.0,
            baseline: 0,
            units: "pm".into(),
            adc_resolution: Some(16),
            adc_zero: 0,
            initial_value: Some(230),
            checksum: Some(-32345),
            block_size: Some(0),
            description: "RESP".into(),
        }
    );
    // "3975656n.dat 16 1/mmHg 16 0 -32768 20012 0 NBPSys"
    let nbp = &header.signals[7];
    assert_eq!(
        (nbp.gain, nbp.units.as_str(), nbp.initial_value, nbp.checksum),
        (1.0, "mmHg", Some(-32768), Some(20012))
    );
    let names: Vec<_> = header.signals.iter().map(|s| s.description.as_str()).collect();
    assert_eq!(names, ["HR", "ABPSys", "ABPDias", "ABPMean", "PULSE", "RESP", "SpO2", "NBPSys", "NBPDias", "NBPMean"]);
}

#[test]
fn checksums_in_the_mimic2_header_match_the_decoded_samples() {
    let record = embedded();
    assert_eq!(record.frame_count(), 1936);
    let expected = [15872, 9714, 4781, 6806, 25193, -32345, 20343, 20012, 9805, 13157];
    for (signal, checksum) in expected.into_iter().enumerate() {
        assert_eq!(record.computed_checksum(signal), Some(checksum), "signal {signal}");
    }
    record.verify_checksums().unwrap();
    assert_eq!(record.computed_checksum(10), None);
}

#[test]
fn initial_values_in_the_header_match_the_first_frame() {
    let record = embedded();
    let first = record.frame(0).unwrap();
    for (spec, &sample) in record.header.signals.iter().zip(first) {
        assert_eq!(spec.initial_value, Some(i32::from(sample)), "{}", spec.description);
    }
    assert_eq!(record.frame(1936), None);
}

#[test]
fn a_corrupted_sample_fails_checksum_verification() {
    let mut data = MIMIC2_DATA.to_vec();
    data[2 * 10 * 100] ^= 0x01; // HR of frame 100
    let record = Record::decode(Header::parse(MIMIC2_HEADER).unwrap(), &data).unwrap();
    let error = record.verify_checksums().unwrap_err().to_string();
    assert!(error.contains("signal 0 (HR)"), "{error}");
}

#[test]
fn a_signal_file_with_a_trailing_partial_frame_is_an_error() {
    let mut data = MIMIC2_DATA.to_vec();
    data.push(0x00);
    let error = Record::decode(Header::parse(MIMIC2_HEADER).unwrap(), &data).unwrap_err();
    assert!(error.to_string().contains("not a whole number"), "{error}");
}

#[test]
fn a_signal_file_shorter_than_announced_is_an_error() {
    let error = Record::decode(Header::parse(MIMIC2_HEADER).unwrap(), &MIMIC2_DATA[..20 * 1000]).unwrap_err();
    assert!(error.to_string().contains("announces 1936 frames"), "{error}");
}

#[test]
fn small_header_with_baseline_offset_default_gain_and_two_signals_decodes() {
    let header = "rec 2 360 2\n\
                  f.dat 16+4 200(12)/mV 12 0 -1 0 0 MLII\n\
                  f.dat 16+4\n";
    let header = Header::parse(header).unwrap();
    assert_eq!((header.samples_per_signal, header.base_time.clone()), (Some(2), None));
    let b = &header.signals[1];
    assert_eq!((b.gain, b.baseline, b.units.as_str(), b.checksum, b.description.as_str()), (200.0, 0, "mV", None, ""));
    assert_eq!(header.signals[0].baseline, 12);
    // 4 bytes of preamble, then frames (1, -2), (0x0100, -32768).
    let data = [0xAA, 0xBB, 0xCC, 0xDD, 0x01, 0x00, 0xFE, 0xFF, 0x00, 0x01, 0x00, 0x80];
    let record = Record::decode(header, &data).unwrap();
    assert_eq!(record.frame(0), Some(&[1i16, -2][..]));
    assert_eq!(record.frame(1), Some(&[256i16, INVALID_SAMPLE][..]));
    assert_eq!(record.computed_checksum(1), Some(-2i16.wrapping_add(INVALID_SAMPLE)));
}

#[test]
fn malformed_headers_are_errors_not_panics() {
    let cases = [
        ("", "no record line"),
        ("# only a comment\n", "no record line"),
        ("rec\n", "no number of signals"),
        ("rec x\n", "bad number of signals"),
        ("rec 2 360 10\nf.dat 16\n", "announces 2 signals"),
        ("rec 1 360 10\nf.dat 16\nf.dat 16\n", "more signal lines"),
        ("rec 1 -5\nf.dat 16\n", "must be positive"),
        ("rec 1 abc\nf.dat 16\n", "bad sampling frequency"),
        ("rec/3 1 360\nf.dat 16\n", "multi-segment"),
        ("rec 1 360 10\nf.dat\n", "no format"),
        ("rec 1 360 10\nf.dat 212x2\n", "not supported"),
        ("rec 1 360 10\nf.dat 16 ten/mV\n", "bad gain"),
        ("rec 1 360 10\nf.dat 16 10(3/mV\n", "unclosed baseline"),
        ("rec 1 360 10\nf.dat 16 10 16 0 0 99999\n", "out of 16-bit range"),
        ("rec 99999 360\n", "implausible"),
    ];
    for (text, expected) in cases {
        let error = format!("{:#}", Header::parse(text).unwrap_err());
        assert!(error.contains(expected), "{text:?}: {error}");
    }
}

#[test]
fn unsupported_formats_and_layouts_are_rejected_when_decoding() {
    let cases = [
        ("rec 1 360\nf.dat 212\n", "format 212"),
        ("rec 2 360\nf.dat 16\ng.dat 16\n", "several files"),
        ("rec 2 360\nf.dat 16\nf.dat 16+2\n", "byte offsets"),
        ("rec 1 360\nf.dat 16+100\n", "fewer than its byte offset"),
        ("rec 0 360\n", "no signals"),
    ];
    for (text, expected) in cases {
        let error = Record::decode(Header::parse(text).unwrap(), &[0; 8]).unwrap_err().to_string();
        assert!(error.contains(expected), "{text:?}: {error}");
    }
}
