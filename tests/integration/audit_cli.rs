//! `wardstream audit verify` and `wardstream query` (table `audit`, `--deidentified`) through the
//! real binary: exit 0 on an intact trail, non-zero naming the tampered record, 2 on a torn tail;
//! the de-identified query shows pseudonyms and never a raw patient id.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use wardstream_ingest::audit::{AuditEntry, AuditTrail};
use wardstream_ingest::deid::Deidentifier;
use wardstream_pipeline::association::{AssociationEvent, ExplicitAssociation, Subject};
use wardstream_pipeline::{Catalogue, Flags, Observation, Sink, Source, StoreBatch};
use wardstream_storage::{AssociationLog, ParquetStore, StorageConfig};

use crate::support::wardstream_bin;

const KEY: &str = "integration-test-key-0123456789";
/// 2026-12-01T08:00:00Z.
const T0: i64 = 1_764_576_000_000_000;

fn wardstream(args: &[&str]) -> Output {
    Command::new(wardstream_bin()).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn record(dir: &Path, n: usize) {
    let trail = AuditTrail::open(dir).unwrap();
    for i in 1..=n {
        trail
            .record(AuditEntry {
                user: format!("user-{i}"),
                role: "admin".into(),
                action: "sql".into(),
                patient_ids: vec![format!("MRN-{i:03}")],
                result_count: i as u64,
                client: "127.0.0.1".into(),
            })
            .unwrap();
    }
}

#[test]
fn audit_verify_passes_an_intact_trail_and_names_a_tampered_record() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    record(data.path(), 3);

    let out = wardstream(&["audit", "verify", "--data-dir", dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "audit trail intact: 3 records");

    let out = wardstream(&["query", "--data", dir, "--format", "csv", "SELECT seq, user FROM audit ORDER BY seq"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "seq,user\n1,user-1\n2,user-2\n3,user-3\n");

    // Alter record 2's patient.
    let log = data.path().join("audit").join("audit.log");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replace("MRN-002", "MRN-999")).unwrap();
    let out = wardstream(&["audit", "verify", "--data", dir]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "audit trail BROKEN at record seq 2 (line 2): hash does not match the record's content (altered)"
    );

    // Put it back, then add half of a record 4 (a crash during its write, before it was
    // acknowledged).
    std::fs::write(&log, format!("{text}{{\"seq\":4,\"time\":")).unwrap();
    let out = wardstream(&["audit", "verify", "--data", dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("intact up to record seq 3, then an incomplete record of 16 bytes"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn query_deidentified_shows_pseudonyms_and_hides_identifiable_tables() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(data.path())).unwrap();
    let observations = (0..5)
        .map(|i| Observation {
            time: T0 + i * 60_000_000,
            device_time: T0 + i * 60_000_000,
            received_at: T0 + i * 60_000_000,
            device_id: Arc::from("m-1"),
            metric: Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap()),
            value: 60.0,
            source_name: "HR".into(),
            source_value: 60.0,
            source_unit: None,
            flags: Flags::NONE,
            patient_id: Some(Arc::from("MRN-001")),
            encounter_id: None,
            ward: None,
            bed: None,
            source: Source::Hl7,
        })
        .collect();
    store.write(StoreBatch { observations, dead_letters: vec![] }).unwrap();
    store.flush().unwrap();
    drop(store);
    let (log, _) = AssociationLog::open(&data.path().join("associations")).unwrap();
    log.append(&AssociationEvent::Associate(ExplicitAssociation {
        id: "a1".into(),
        subject: Subject::Device("m-1".into()),
        patient_id: "MRN-001".into(),
        encounter_id: Some("ENC-1".into()),
        start: T0 - 3_600_000_000,
        end: None,
        recorded_at: T0 - 3_600_000_000,
    }))
    .unwrap();
    drop(log);
    record(data.path(), 1);
    let key = data.path().join("pseudonym.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let key = key.to_str().unwrap();

    let identified = wardstream(&["query", "--data", dir, "--format", "csv", "SELECT DISTINCT patient_id FROM vitals"]);
    assert_eq!(stdout(&identified), "patient_id\nMRN-001\n", "{}", stderr(&identified));

    let sql = "SELECT patient_id, encounter_id, count(*) AS n FROM vitals GROUP BY 1, 2";
    let out =
        wardstream(&["query", "--data", dir, "--format", "csv", "--deidentified", "--pseudonym-key-file", key, sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deid = Deidentifier::new(KEY.as_bytes(), false).unwrap();
    assert_eq!(
        stdout(&out),
        format!(
            "patient_id,encounter_id,n\n{},{},5\n",
            deid.patient_pseudonym("MRN-001"),
            deid.encounter_pseudonym("ENC-1")
        )
    );
    let all = wardstream(&[
        "query",
        "--data",
        dir,
        "--format",
        "json",
        "--deidentified",
        "--pseudonym-key-file",
        key,
        "SELECT * FROM vitals",
    ]);
    assert!(all.status.success(), "{}", stderr(&all));
    assert_eq!(stdout(&all).lines().count(), 5);
    assert!(!stdout(&all).contains("MRN-"), "{}", stdout(&all));

    for sql in ["SELECT * FROM audit", "SELECT * FROM vitals_stored"] {
        let out = wardstream(&["query", "--data", dir, "--deidentified", "--pseudonym-key-file", key, sql]);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        assert!(stderr(&out).contains("not found"), "{sql}: {}", stderr(&out));
    }
    let out = wardstream(&["query", "--data", dir, "--deidentified", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--deidentified needs --pseudonym-key-file or --config"), "{}", stderr(&out));
}
