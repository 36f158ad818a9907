//! No personal data in logs at INFO and above: `wardstream demo` run with `RUST_LOG=info`, its
//! logs searched for the demo's patient identifiers and names.
//!
//! The demo writes two streams: its deliberate, user-facing output (progress, the patients it
//! admitted, timelines, tokens, the summary) with `println!` on **stdout**, and the service's
//! tracing logs on **stderr** (`main.rs` sets `with_writer(std::io::stderr)`). Only stderr is
//! the log, so only stderr must be free of patient data; stdout is checked to name `P-0001`, which
//! proves patients were admitted (and so could have leaked). The demo's patients are `P-0001`…
//! (`demo_adt::patient_of`), their encounters `V-P-0001`… and their names `Patient^P-0001`, so
//! searching for `P-0` plus a digit and for `Patient^` covers ids, encounters and names.

use std::process::Command;

use crate::support::wardstream_bin;

/// Every `P-0ddd` in `text` (the demo's patient id pattern, also inside `V-P-0001` and names).
fn patient_ids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .filter(|&i| bytes[i..].starts_with(b"P-0") && bytes[i + 3..i + 6].iter().all(u8::is_ascii_digit))
        .map(|i| text[i..i + 6].to_owned())
        .collect()
}

#[test]
fn the_demo_logs_no_patient_ids_or_names_at_info() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(wardstream_bin())
        .args(["demo", "--beds", "4", "--duration", "8", "--interval-ms", "500", "--http", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    // The demo admitted patients (user-facing output on stdout) and the logs were captured.
    assert!(stdout.contains("admitted 4 patients (P-0001"), "{stdout}");
    assert!(stderr.contains("HTTP API ready"), "no INFO log captured:\n{stderr}");
    assert!(stderr.contains("ADT listener (HL7 MLLP) ready"), "{stderr}");
    let leaks: Vec<&str> = stderr.lines().filter(|l| !patient_ids(l).is_empty() || l.contains("Patient^")).collect();
    assert_eq!(leaks, Vec::<&str>::new(), "patient data in the demo's INFO logs");
}

#[test]
fn the_patient_id_search_finds_ids_encounters_and_names() {
    assert_eq!(patient_ids("x P-0001 V-P-0002 Patient^P-0003 P-01 P-X123"), ["P-0001", "P-0002", "P-0003"]);
}
