//! The oximeter script: real values, one-second clock, and fault accounting checked against an
//! independent reading of the bytes.

use chrono::NaiveDateTime;

use super::*;
use crate::mimic2_numerics;

fn start() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2026-03-29 00:59:58", "%Y-%m-%d %H:%M:%S").unwrap()
}

fn config(count: u64, faults: &str) -> ScriptConfig {
    ScriptConfig {
        start: start(),
        serial_number: Some("0000093112".into()),
        start_frame: 100,
        count: Some(count),
        faults: faults.parse().unwrap(),
    }
}

/// The value after `key=` in a line, if digits.
fn number(line: &str, key: &str) -> Option<f64> {
    let rest = line.split(' ').find_map(|t| t.strip_prefix(key))?;
    rest.trim_end_matches('%').parse().ok()
}

#[test]
fn clean_lines_replay_mimic2_spo2_and_pulse_one_second_apart() {
    let numerics = mimic2_numerics().unwrap();
    let col = |name: &str| numerics.signals().iter().position(|s| s.name == name).unwrap();
    let (spo2, pulse) = (col("SpO2"), col("PULSE"));
    let mut script = OximeterScript::new(config(300, "")).unwrap();
    let mut with_values = 0;
    for i in 0..300u64 {
        let text = String::from_utf8(script.next_chunk()).unwrap();
        let frame = &numerics.frames()[100 + i as usize];
        assert_eq!(number(&text, "SPO2="), frame[spo2].map(f64::round), "line {i}: {text}");
        assert_eq!(number(&text, "BPM="), frame[pulse].map(f64::round), "line {i}: {text}");
        with_values += u64::from(frame[spo2].is_some()) + u64::from(frame[pulse].is_some());
        let time = start() + chrono::TimeDelta::seconds(i as i64);
        assert!(text.starts_with(&time.format("%m/%d/%y %H:%M:%S SN=0000093112 ").to_string()), "{text}");
        assert!(text.ends_with(" ALARM=000000 EXC=0000000 EXC1=00000000\r\n"), "{text}");
    }
    let report = script.report();
    assert!(script.finished());
    assert_eq!(
        (report.lines, report.intact_lines, report.malformed_lines, report.readings),
        (300, 300, 0, with_values)
    );
    assert_eq!(with_values, 374, "numbers in frames 100-399 of the record");
}

#[test]
fn every_fault_is_accounted_for_as_a_receiver_would_see_it() {
    let mut script = OximeterScript::new(config(200, "garbage:10,half:7,drop:13,exc:5,dashes:11")).unwrap();
    let mut bytes = Vec::new();
    while !script.finished() {
        bytes.extend(script.next_chunk());
    }
    let report = script.report();
    assert_eq!(report.bytes_written, bytes.len() as u64);
    // An independent reading: cut at CR/LF; a frame is intact when it is one whole line.
    let frames: Vec<&[u8]> = bytes.split(|b| *b == b'\r' || *b == b'\n').filter(|f| !f.is_empty()).collect();
    let intact: Vec<&str> = frames
        .iter()
        .filter_map(|f| std::str::from_utf8(f).ok())
        .filter(|t| t.matches(" SN=").count() == 1 && t.ends_with(" EXC1=00000000"))
        .collect();
    assert_eq!(intact.len() as u64, report.intact_lines);
    assert_eq!(frames.len() as u64 - report.intact_lines, report.malformed_lines);
    let numbers: u64 =
        intact.iter().map(|t| u64::from(number(t, "SPO2=").is_some()) + u64::from(number(t, "BPM=").is_some())).sum();
    assert_eq!(numbers, report.readings);
    let no_value = intact.iter().filter(|t| number(t, "SPO2=").is_none() && number(t, "BPM=").is_none()).count();
    assert_eq!(no_value as u64, report.no_value_lines);
    assert_eq!(intact.iter().filter(|t| t.contains(" EXC=0000004 ")).count() as u64, report.exc);
    assert_eq!(intact.iter().filter(|t| t.contains(" EXC=0000020 ")).count() as u64, report.dashes);
    // 200 lines. drop: 13, 26, … 195 except 91 and 182 (half wins) = 13. The line after a drop
    // gets no fault: that spares half at 14, 105, 196 (28 − 3 = 25) and garbage at 40, 170 (18).
    assert_eq!((report.lines, report.garbage, report.half, report.dropped), (200, 18, 25, 13));
    assert_eq!(report.malformed_lines, report.garbage + report.half + report.dropped);
    assert_eq!(report.intact_lines, 200 - report.half - 2 * report.dropped);
}

#[test]
fn a_counted_run_never_drops_its_last_line_end() {
    let mut script = OximeterScript::new(config(13, "drop:13")).unwrap();
    let mut bytes = Vec::new();
    while !script.finished() {
        bytes.extend(script.next_chunk());
    }
    assert!(bytes.ends_with(b"\r\n"));
    assert_eq!((script.report().dropped, script.report().intact_lines), (0, 13));
}
