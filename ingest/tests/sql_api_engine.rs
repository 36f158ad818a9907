//! The SQL engine of `POST /api/v1/query` on real Parquet files: admins see identified data
//! and the engine says what the statement touched; analysts see only pseudonyms (stable per key,
//! different under another key) and no free text; forbidden statements are refused by name; the
//! time and memory limits stop a statement with their own error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use wardstream_ingest::deid::Deidentifier;
use wardstream_ingest::sql_api::{SqlAccess, SqlEngine, SqlError, SqlLimits, SqlOutput};
use wardstream_pipeline::association::{
    AssociationConfig, AssociationEvent, AssociationHub, ExplicitAssociation, Subject,
};
use wardstream_pipeline::{Catalogue, DeadLetter, Flags, Observation, Reason, Sink, Source, StoreBatch};
use wardstream_storage::{ParquetStore, StorageConfig};

const KEY: &[u8] = b"test-key-0123456789abcdef";
const OTHER_KEY: &[u8] = b"another-key-0123456789abcdef";
/// 2026-12-01T08:00:00Z.
const T0: i64 = 1_764_576_000_000_000;
const MINUTE: i64 = 60_000_000;
const DAY: i64 = 86_400_000_000;

fn observation(device: &str, time: i64, value: f64, stored_patient: Option<&str>) -> Observation {
    Observation {
        time,
        device_time: time,
        received_at: time,
        device_id: Arc::from(device),
        metric: Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap()),
        value,
        source_name: "HR".into(),
        source_value: value,
        source_unit: None,
        flags: Flags::NONE,
        patient_id: stored_patient.map(Arc::from),
        encounter_id: None,
        ward: None,
        bed: None,
        source: Source::Hl7,
    }
}

/// Ten readings each from m-1 (MRN-001) and m-2 (MRN-002), two from m-3 (nobody), and a dead
/// letter whose payload and detail name a patient.
fn data() -> (tempfile::TempDir, Arc<AssociationHub>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    let mut observations = Vec::new();
    for i in 0..10 {
        observations.push(observation("m-1", T0 + i * MINUTE, 60.0 + i as f64, Some("MRN-001")));
        observations.push(observation("m-2", T0 + i * MINUTE, 80.0 + i as f64, None));
    }
    observations.push(observation("m-3", T0, 70.0, None));
    observations.push(observation("m-3", T0 + MINUTE, 71.0, None));
    let dead = DeadLetter {
        received_at: T0,
        source: Source::Hl7,
        origin: "mllp:2575".into(),
        device_id: Some("m-1".into()),
        source_name: None,
        reason: Reason::InvalidPayload,
        detail: "PID-5 'DOE^JANE' MRN-001 not parsed".into(),
        payload: Arc::from(&b"MSH|^~\\&|\rPID|||MRN-001||DOE^JANE\r"[..]),
    };
    store.write(StoreBatch { observations, dead_letters: vec![dead] }).unwrap();
    store.flush().unwrap();
    let hub = AssociationHub::new(AssociationConfig::default());
    for (id, device, patient, encounter) in [("a1", "m-1", "MRN-001", "ENC-1"), ("a2", "m-2", "MRN-002", "ENC-2")] {
        hub.apply(AssociationEvent::Associate(ExplicitAssociation {
            id: id.into(),
            subject: Subject::Device(device.into()),
            patient_id: patient.into(),
            encounter_id: Some(encounter.into()),
            start: T0 - 60 * MINUTE,
            end: None,
            recorded_at: T0 - 60 * MINUTE,
        }))
        .unwrap();
    }
    (dir, Arc::new(hub))
}

async fn engine(
    dir: &tempfile::TempDir,
    hub: &Arc<AssociationHub>,
    key: &[u8],
    shift: bool,
    limits: SqlLimits,
) -> SqlEngine {
    let hub = Arc::clone(hub);
    let deid = Deidentifier::new(key, shift).unwrap();
    SqlEngine::open(dir.path(), Arc::new(move || hub.snapshot()), Some(deid), limits).await.unwrap()
}

fn json(out: &SqlOutput) -> Vec<serde_json::Map<String, serde_json::Value>> {
    out.json_rows().unwrap()
}

fn column(out: &SqlOutput, name: &str) -> Vec<String> {
    json(out)
        .iter()
        .map(|r| r.get(name).map(|v| v.as_str().unwrap_or_default().to_owned()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn admin_sees_identified_data_and_learns_what_was_touched() {
    let (dir, hub) = data();
    let e = engine(&dir, &hub, KEY, false, SqlLimits::default()).await;
    let out = e
        .run(
            SqlAccess::Identified,
            "SELECT patient_id, count(*) AS n FROM vitals GROUP BY patient_id ORDER BY patient_id NULLS LAST",
        )
        .await
        .unwrap();
    assert_eq!(column(&out, "patient_id"), ["MRN-001", "MRN-002", ""]);
    assert_eq!(json(&out).iter().map(|r| r["n"].as_i64().unwrap()).collect::<Vec<_>>(), [10, 10, 2]);
    assert_eq!(out.identifiable_columns, ["vitals.patient_id"]);
    assert_eq!(out.patient_ids, ["MRN-001", "MRN-002"]);
    assert_eq!((out.row_count, out.deidentified), (3, false));

    let out = e.run(SqlAccess::Identified, "SELECT count(*) AS n, avg(value) FROM vitals").await.unwrap();
    assert_eq!((out.identifiable_columns.len(), out.patient_ids.len(), out.row_count), (0, 0, 1));

    let out =
        e.run(SqlAccess::Identified, "SELECT count(*) AS n FROM vitals WHERE patient_id = 'MRN-001'").await.unwrap();
    assert_eq!(json(&out)[0]["n"], 10);
    assert_eq!(out.identifiable_columns, ["vitals.patient_id"]);
    assert!(out.patient_ids.is_empty());

    // An alias does not hide a patient id from the audit facts.
    let out = e
        .run(
            SqlAccess::Identified,
            "SELECT DISTINCT patient_id AS who, encounter_id FROM vitals WHERE device_id = 'm-2'",
        )
        .await
        .unwrap();
    assert_eq!(out.identifiable_columns, ["vitals.encounter_id", "vitals.patient_id"]);
    assert_eq!(out.patient_ids, ["MRN-002"]);

    let out = e
        .run(SqlAccess::Identified, "SELECT patient_id FROM vitals_stored WHERE patient_id IS NOT NULL LIMIT 1")
        .await
        .unwrap();
    assert_eq!(out.identifiable_columns, ["vitals_stored.patient_id"]);
    assert_eq!(out.patient_ids, ["MRN-001"]);

    let out = e.run(SqlAccess::Identified, "SELECT reason, detail FROM dead_letters").await.unwrap();
    assert_eq!(out.identifiable_columns, ["dead_letters.detail"]);
    assert_eq!(column(&out, "reason"), ["invalid_payload"]);
    let out = e.run(SqlAccess::Identified, "SELECT payload FROM dead_letters").await.unwrap();
    assert_eq!(out.identifiable_columns, ["dead_letters.payload"]);
    assert_eq!(json(&out)[0]["payload"], hex::encode(b"MSH|^~\\&|\rPID|||MRN-001||DOE^JANE\r"));

    let out = e.run(SqlAccess::Identified, "SELECT count(*) AS n FROM audit").await.unwrap();
    assert_eq!(json(&out)[0]["n"], 0);
}

#[tokio::test]
async fn analysts_see_pseudonyms_and_no_free_text_anywhere() {
    let (dir, hub) = data();
    let e = engine(&dir, &hub, KEY, false, SqlLimits::default()).await;
    let deid = Deidentifier::new(KEY, false).unwrap();
    let out = e
        .run(
            SqlAccess::Deidentified,
            "SELECT DISTINCT patient_id, encounter_id FROM vitals WHERE patient_id IS NOT NULL ORDER BY patient_id",
        )
        .await
        .unwrap();
    let mut want = vec![
        (deid.patient_pseudonym("MRN-001"), deid.encounter_pseudonym("ENC-1")),
        (deid.patient_pseudonym("MRN-002"), deid.encounter_pseudonym("ENC-2")),
    ];
    want.sort();
    let got: Vec<(String, String)> = column(&out, "patient_id").into_iter().zip(column(&out, "encounter_id")).collect();
    assert_eq!(got, want);
    assert!(out.deidentified);
    assert!(out.identifiable_columns.is_empty() && out.patient_ids.is_empty());

    // Every column of every table the analyst can name: no raw id, no name.
    let tables = e
        .run(
            SqlAccess::Deidentified,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
        )
        .await
        .unwrap();
    assert_eq!(column(&tables, "table_name"), ["dead_letters", "vitals"]);
    for table in ["vitals", "dead_letters"] {
        let out = e.run(SqlAccess::Deidentified, &format!("SELECT * FROM {table}")).await.unwrap();
        assert!(out.row_count > 0);
        let text = serde_json::to_string(&json(&out)).unwrap();
        for secret in ["MRN-", "ENC-", "DOE", "JANE"] {
            assert!(!text.contains(secret), "{table} shows {secret}: {text}");
        }
    }
    let columns = e.run(SqlAccess::Deidentified, "SELECT * FROM dead_letters").await.unwrap();
    let names: Vec<&str> = columns.schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["received_at", "source", "origin", "device_id", "source_name", "reason", "date"]);

    // What is identifiable is not there for an analyst at all.
    for sql in [
        "SELECT * FROM vitals_stored",
        "SELECT * FROM audit",
        "SELECT patient_at(device_id, time) FROM vitals",
        "SELECT deid_patient('MRN-001')",
        "SELECT payload FROM dead_letters",
    ] {
        match e.run(SqlAccess::Deidentified, sql).await {
            Err(SqlError::Invalid(m)) => assert!(!m.is_empty()),
            other => panic!("{sql}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn pseudonyms_are_stable_across_engines_and_differ_under_another_key() {
    let (dir, hub) = data();
    let sql = "SELECT DISTINCT patient_id FROM vitals WHERE device_id = 'm-1'";
    let first = column(
        &engine(&dir, &hub, KEY, false, SqlLimits::default()).await.run(SqlAccess::Deidentified, sql).await.unwrap(),
        "patient_id",
    );
    let again = column(
        &engine(&dir, &hub, KEY, false, SqlLimits::default()).await.run(SqlAccess::Deidentified, sql).await.unwrap(),
        "patient_id",
    );
    let other = column(
        &engine(&dir, &hub, OTHER_KEY, false, SqlLimits::default())
            .await
            .run(SqlAccess::Deidentified, sql)
            .await
            .unwrap(),
        "patient_id",
    );
    assert_eq!(first, [Deidentifier::new(KEY, false).unwrap().patient_pseudonym("MRN-001")]);
    assert_eq!(first, again);
    assert_eq!(other, [Deidentifier::new(OTHER_KEY, false).unwrap().patient_pseudonym("MRN-001")]);
    assert_ne!(first, other);
}

#[tokio::test]
async fn shifted_times_move_by_the_patients_keyed_days_and_hide_the_date() {
    let (dir, hub) = data();
    let e = engine(&dir, &hub, KEY, true, SqlLimits::default()).await;
    let deid = Deidentifier::new(KEY, true).unwrap();
    let shift = deid.shift_micros("MRN-001");
    assert_eq!(shift % DAY, 0);
    let out = e
        .run(
            SqlAccess::Deidentified,
            "SELECT device_id, CAST(min(time) AS BIGINT) AS t, CAST(min(received_at) AS BIGINT) AS r FROM vitals GROUP BY device_id ORDER BY device_id",
        )
        .await
        .unwrap();
    let rows = json(&out);
    let t = |i: usize, c: &str| rows[i][c].as_i64().unwrap();
    assert_eq!((t(0, "t"), t(0, "r")), (T0 + shift, T0 + shift));
    assert_eq!(t(1, "t"), T0 + deid.shift_micros("MRN-002"));
    assert_eq!(t(2, "t"), T0, "readings of no patient are not shifted");
    let all = e.run(SqlAccess::Deidentified, "SELECT * FROM vitals LIMIT 1").await.unwrap();
    assert!(all.schema.field_with_name("date").is_err());
}

#[tokio::test]
async fn forbidden_statements_are_refused_by_name() {
    let (dir, hub) = data();
    let e = engine(&dir, &hub, KEY, false, SqlLimits::default()).await;
    let cases = [
        ("CREATE TABLE t AS SELECT * FROM vitals", "not CREATE TABLE"),
        ("DROP TABLE vitals", "not DROP TABLE"),
        ("INSERT INTO vitals SELECT * FROM vitals", "not INSERT INTO"),
        ("DELETE FROM vitals", "not DELETE FROM"),
        ("COPY (SELECT 1) TO '/tmp/out.csv'", "not COPY"),
        ("SET datafusion.execution.batch_size = 1", "not SET"),
        ("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'", "not CREATE EXTERNAL TABLE"),
        ("SELECT 1; DROP TABLE vitals", "one statement per request, 2 were given"),
        ("SELECT * FROM read_parquet('/tmp/x.parquet')", "table function read_parquet is not allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv is not allowed"),
    ];
    for access in [SqlAccess::Identified, SqlAccess::Deidentified] {
        for (sql, want) in cases {
            match e.run(access, sql).await {
                Err(SqlError::Refused(m)) => assert!(m.contains(want), "{sql}: {m}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }
    // A path as a table name reads nothing either.
    match e.run(SqlAccess::Identified, "SELECT * FROM '/etc/passwd'").await {
        Err(SqlError::Invalid(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(SqlError::Refused(String::new()).status_code(), 400);
}

#[tokio::test]
async fn a_statement_past_the_time_limit_stops_with_a_timeout() {
    let (dir, hub) = data();
    let limits = SqlLimits { timeout: Duration::from_millis(300), ..SqlLimits::default() };
    let e = engine(&dir, &hub, KEY, false, limits).await;
    // 10^11 rows: hours of counting.
    let heavy = "SELECT count(*) FROM generate_series(1, 100000000000)";
    for access in [SqlAccess::Identified, SqlAccess::Deidentified] {
        match e.run(access, heavy).await {
            Err(SqlError::Timeout(d)) => assert_eq!(d, Duration::from_millis(300)),
            other => panic!("{other:?}"),
        }
    }
    // The engine still answers afterwards.
    let out = e.run(SqlAccess::Identified, "SELECT count(*) AS n FROM vitals").await.unwrap();
    assert_eq!(json(&out)[0]["n"], 22);
}

#[tokio::test]
async fn a_statement_past_the_memory_limit_stops_with_its_own_error() {
    let (dir, hub) = data();
    let limits = SqlLimits { memory_limit_bytes: 1024 * 1024, ..SqlLimits::default() };
    let e = engine(&dir, &hub, KEY, false, limits).await;
    for sql in [
        "SELECT value FROM generate_series(1, 3000000) ORDER BY value DESC",
        "SELECT value % 1000000 AS k, count(*) FROM generate_series(1, 3000000) GROUP BY k",
    ] {
        match e.run(SqlAccess::Identified, sql).await {
            Err(e @ SqlError::MemoryLimit { .. }) => {
                assert_eq!(e.status_code(), 422);
                let SqlError::MemoryLimit { limit_mib, .. } = e else { unreachable!() };
                assert_eq!(limit_mib, 1);
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    let out = e.run(SqlAccess::Identified, "SELECT count(*) AS n FROM vitals").await.unwrap();
    assert_eq!(json(&out)[0]["n"], 22);
}

#[tokio::test]
async fn without_a_key_analysts_are_refused() {
    let (dir, hub) = data();
    let h = Arc::clone(&hub);
    let e = SqlEngine::open(dir.path(), Arc::new(move || h.snapshot()), None, SqlLimits::default()).await.unwrap();
    assert_eq!(e.run(SqlAccess::Deidentified, "SELECT 1").await.unwrap_err(), SqlError::Unavailable);
    assert_eq!(e.run(SqlAccess::Identified, "SELECT 1 AS one").await.unwrap().row_count, 1);
}

#[tokio::test]
async fn admins_query_the_audit_trail_as_it_is_when_the_statement_starts() {
    let (dir, hub) = data();
    let e = engine(&dir, &hub, KEY, false, SqlLimits::default()).await;
    let trail = wardstream_ingest::audit::AuditTrail::open(dir.path()).unwrap();
    for (user, patient) in [("alice", "MRN-001"), ("bob", "MRN-002"), ("alice", "MRN-002")] {
        trail
            .record(wardstream_ingest::audit::AuditEntry {
                user: user.into(),
                role: "clinician".into(),
                action: "timeline".into(),
                patient_ids: vec![patient.into()],
                result_count: 1,
                client: "10.1.1.1".into(),
            })
            .unwrap();
    }
    let out = e
        .run(SqlAccess::Identified, "SELECT seq, patient_ids FROM audit WHERE user = 'alice' ORDER BY seq")
        .await
        .unwrap();
    assert_eq!(out.row_count, 2);
    assert_eq!(out.identifiable_columns, ["audit.patient_ids", "audit.user"]);
    assert_eq!(out.patient_ids, ["MRN-001", "MRN-002"]);
    let rows = json(&out);
    assert_eq!(rows[0]["seq"], 1);
    assert_eq!(rows[1]["patient_ids"], serde_json::json!(["MRN-002"]));
}

#[tokio::test]
async fn a_statement_whose_caller_goes_away_is_stopped_and_frees_its_slot() {
    let (dir, hub) = data();
    let e = engine(&dir, &hub, KEY, false, SqlLimits::default()).await;
    let heavy = "SELECT count(*) FROM generate_series(1, 100000000000)";
    // Fill every slot with callers that give up (as an HTTP client hanging up would).
    for _ in 0..wardstream_ingest::sql_api::MAX_RUNNING {
        let gone = tokio::time::timeout(Duration::from_millis(50), e.run(SqlAccess::Identified, heavy)).await;
        assert!(gone.is_err());
    }
    // Had they kept running, this would wait for a slot for hours and hit its 30 s limit.
    let out = e.run(SqlAccess::Identified, "SELECT count(*) AS n FROM vitals").await.unwrap();
    assert_eq!(json(&out)[0]["n"], 22);
}
