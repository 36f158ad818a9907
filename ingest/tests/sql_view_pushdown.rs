//! The attributed `vitals` view ([`wardstream_ingest::sql_view`]) after its speed-up: it
//! answers exactly what the association snapshot's `attach` answers for every reading (before,
//! at and after a transfer, half-open interval ends, unknown devices, readings in any order), and
//! a filter on a stored column is evaluated inside the Parquet scan (the plan has no separate
//! filter step), in the CLI's session and in the API engine's per-statement sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use wardstream_ingest::sql_api::{SqlAccess, SqlEngine, SqlLimits};
use wardstream_ingest::sql_view::register_attribution;
use wardstream_pipeline::association::{
    AssociationConfig, AssociationEvent, AssociationHub, Attach, ExplicitAssociation, Subject,
};
use wardstream_pipeline::{Catalogue, Flags, Observation, Sink, Source, StoreBatch};
use wardstream_storage::{ParquetStore, QuerySession, StorageConfig};

/// 2026-12-01T08:00:00Z.
const T0: i64 = 1_764_576_000_000_000;
const MINUTE: i64 = 60_000_000;
/// m-1 is transferred from P1 to P2 at this instant (a reading exactly then belongs to P2).
const TRANSFER: i64 = T0 + 5 * MINUTE;

fn observation(device: &str, metric: &str, time: i64, value: f64) -> Observation {
    Observation {
        time,
        device_time: time,
        received_at: time,
        device_id: Arc::from(device),
        metric: Arc::clone(Catalogue::builtin().by_name(metric).unwrap()),
        value,
        source_name: metric.into(),
        source_value: value,
        source_unit: None,
        flags: Flags::NONE,
        patient_id: None,
        encounter_id: None,
        ward: None,
        bed: None,
        source: Source::Hl7,
    }
}

fn associate(hub: &AssociationHub, id: &str, device: &str, patient: &str, start: i64, end: Option<i64>) {
    hub.apply(AssociationEvent::Associate(ExplicitAssociation {
        id: id.into(),
        subject: Subject::Device(device.into()),
        patient_id: patient.into(),
        encounter_id: Some(format!("ENC-{patient}")),
        start,
        end,
        recorded_at: start,
    }))
    .unwrap();
}

/// m-1: heart rate and SpO2 every minute for ten minutes, P1 until [`TRANSFER`], P2 from then;
/// m-2: P3 from T0 + 2 min only (earlier readings unassociated); m-9: never associated.
fn data() -> (tempfile::TempDir, Arc<AssociationHub>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    let mut observations = Vec::new();
    for i in 0..10 {
        for device in ["m-1", "m-2", "m-9"] {
            observations.push(observation(device, "heart_rate", T0 + i * MINUTE, 60.0 + i as f64));
            observations.push(observation(device, "spo2", T0 + i * MINUTE, 90.0 + i as f64));
        }
    }
    store.write(StoreBatch { observations, dead_letters: vec![] }).unwrap();
    store.flush().unwrap();
    let hub = AssociationHub::new(AssociationConfig::default());
    associate(&hub, "a1", "m-1", "P1", T0 - 60 * MINUTE, Some(TRANSFER));
    associate(&hub, "a2", "m-1", "P2", TRANSFER, None);
    associate(&hub, "a3", "m-2", "P3", T0 + 2 * MINUTE, None);
    (dir, Arc::new(hub))
}

async fn session(dir: &tempfile::TempDir, hub: &Arc<AssociationHub>) -> QuerySession {
    let session = QuerySession::open(dir.path()).unwrap();
    let hub = Arc::clone(hub);
    register_attribution(&session, Arc::new(move || hub.snapshot())).await.unwrap();
    session
}

fn strings(batches: &[RecordBatch], column: usize) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = wardstream_ingest::columns::strings(b.column(column)).unwrap();
            (0..c.len()).map(move |i| c.is_valid(i).then(|| c.value(i).to_owned())).collect::<Vec<_>>()
        })
        .collect()
}

fn times(batches: &[RecordBatch], column: usize) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = arrow::compute::cast(b.column(column), &DataType::Int64).unwrap();
            c.as_primitive::<arrow::datatypes::Int64Type>().values().to_vec()
        })
        .collect()
}

/// What the snapshot's `attach` says: the patient the view must show.
fn expected(hub: &AssociationHub, device: &str, time: i64) -> Option<String> {
    match hub.snapshot().attach(device, time) {
        Attach::Attached(a) => Some(a.patient_id.to_string()),
        Attach::Conflict(_) | Attach::Unassociated | Attach::UnknownDevice => None,
    }
}

#[tokio::test]
async fn vitals_attributes_every_reading_as_attach_does_before_at_and_after_a_transfer() {
    let (dir, hub) = data();
    let s = session(&dir, &hub).await;
    let batches = s
        .sql("SELECT device_id, time, patient_id, encounter_id FROM vitals ORDER BY device_id, time, metric")
        .await
        .unwrap();
    let (devices, at, patients, encounters) =
        (strings(&batches, 0), times(&batches, 1), strings(&batches, 2), strings(&batches, 3));
    assert_eq!(devices.len(), 60);
    for i in 0..devices.len() {
        let device = devices[i].as_deref().unwrap();
        assert_eq!(patients[i], expected(&hub, device, at[i]), "{device} at {}", at[i]);
        assert_eq!(encounters[i], patients[i].as_ref().map(|p| format!("ENC-{p}")));
    }
    // The exact answers: m-1 P1 for minutes 0–4 and P2 from the transfer instant on (two metrics
    // per minute); m-2 nobody before minute 2, P3 after; m-9 nobody.
    let m1: Vec<_> = patients[..20].iter().map(|p| p.as_deref()).collect();
    assert_eq!(m1, [[Some("P1"); 10], [Some("P2"); 10]].concat());
    assert_eq!(at[10], TRANSFER);
    let m2: Vec<_> = patients[20..40].iter().map(|p| p.as_deref()).collect();
    assert_eq!(m2, [vec![None; 4], vec![Some("P3"); 16]].concat());
    assert!(patients[40..].iter().all(Option::is_none));
    // A filter on the computed column keeps exactly the attributed readings.
    let n = s.sql("SELECT count(*) FROM vitals WHERE metric = 'heart_rate' AND patient_id = 'P2'").await.unwrap();
    assert_eq!(n[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0), 5);
}

#[tokio::test]
async fn attribution_functions_answer_as_attach_for_readings_in_any_order() {
    let (dir, hub) = data();
    let s = session(&dir, &hub).await;
    // Unsorted on purpose: runs of one device, single readings, a device coming back, nulls.
    let rows: [(Option<&str>, Option<i64>); 10] = [
        (Some("m-1"), Some(TRANSFER - 1)),
        (Some("m-2"), Some(T0)),
        (Some("m-1"), Some(TRANSFER)),
        (Some("m-1"), Some(TRANSFER - 1)),
        (Some("m-1"), Some(T0 - 61 * MINUTE)),
        (Some("m-1"), None),
        (None, Some(T0)),
        (Some("m-2"), Some(T0 + 2 * MINUTE)),
        (Some("m-9"), Some(T0)),
        (Some("m-1"), Some(TRANSFER + 1)),
    ];
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema =
        Arc::new(Schema::new(vec![Field::new("device_id", DataType::Utf8, true), Field::new("time", utc, true)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.1).collect::<TimestampMicrosecondArray>().with_timezone("UTC")),
        ],
    )
    .unwrap();
    let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
    s.context().register_table("readings", Arc::new(table)).unwrap();
    let out = s.sql("SELECT patient_at(device_id, time), bed_at(device_id, time) FROM readings").await.unwrap();
    let want: Vec<Option<String>> = rows
        .iter()
        .map(|(d, t)| match (d, t) {
            (Some(d), Some(t)) => expected(&hub, d, *t),
            _ => None,
        })
        .collect();
    let want_literal = [Some("P1"), None, Some("P2"), Some("P1"), None, None, None, Some("P3"), None, Some("P2")];
    assert_eq!(want, want_literal.map(|p| p.map(str::to_owned)));
    assert_eq!(strings(&out, 0), want);
    assert_eq!(strings(&out, 1), vec![None; 10], "device associations name no bed");
}

/// Rows as the files hold them (runs of one device, within it runs of a metric in time order,
/// time starting over at each metric) over timelines with gaps, back-to-back intervals, an
/// open end and an overlap (a conflict: nobody), with rows exactly on the interval bounds, for
/// ids inline in a view (≤ 12 bytes) and
/// longer: `patient_at` and `encounter_at` answer exactly as `attach` for every row, in
/// `Utf8` and `Utf8View` input, and in batches cut anywhere.
#[tokio::test]
async fn attribution_over_spans_of_sorted_runs_matches_attach_row_by_row() {
    let (dir, _) = data();
    let hub = Arc::new(AssociationHub::new(AssociationConfig::default()));
    let devices = ["d-1", "bedside-monitor-0002", "d-3", "bedside-monitor-0004", "d-5"];
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: i64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as i64).rem_euclid(n)
    };
    for (d, device) in devices.iter().enumerate() {
        // Intervals of 3–12 minutes, separated by gaps of 0–4 minutes; the last one open.
        let mut start = T0 - 5 * MINUTE + next(3) * MINUTE;
        for k in 0..4 {
            let end = start + (3 + next(10)) * MINUTE;
            let open = k == 3;
            associate(&hub, &format!("{device}-{k}"), device, &format!("P{d}-{k}"), start, (!open).then_some(end));
            start = end + next(5) * MINUTE;
        }
    }
    // d-3 also gets an overlapping association: a conflict while both hold.
    associate(&hub, "d-3-x", "d-3", "PX", T0 + 4 * MINUTE, Some(T0 + 9 * MINUTE));
    let mut rows: Vec<(String, i64)> = Vec::new();
    for device in devices {
        for _metric in 0..3 {
            let mut t = T0 - 10 * MINUTE;
            while t < T0 + 70 * MINUTE {
                rows.push((device.to_owned(), t));
                // Often to the next whole minute (where intervals start and end), else a bit on.
                t += if next(3) == 0 { MINUTE - t.rem_euclid(MINUTE) } else { 1 + next(40_000_000) };
            }
        }
    }
    let s = session(&dir, &hub).await;
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    for text in [DataType::Utf8, DataType::Utf8View] {
        let schema = Arc::new(Schema::new(vec![
            Field::new("device_id", text.clone(), true),
            Field::new("time", utc.clone(), true),
        ]));
        let mut batches = Vec::new();
        let mut offset = 0;
        while offset < rows.len() {
            let n = (1 + next(700) as usize).min(rows.len() - offset);
            let chunk = &rows[offset..offset + n];
            let ids: Arc<dyn Array> = Arc::new(chunk.iter().map(|r| Some(r.0.as_str())).collect::<StringArray>());
            let ids = arrow::compute::cast(&ids, &text).unwrap();
            let times = chunk.iter().map(|r| Some(r.1)).collect::<TimestampMicrosecondArray>().with_timezone("UTC");
            batches.push(RecordBatch::try_new(Arc::clone(&schema), vec![ids, Arc::new(times)]).unwrap());
            offset += n;
        }
        let table = MemTable::try_new(Arc::clone(&schema), vec![batches]).unwrap();
        s.context().deregister_table("readings").unwrap();
        s.context().register_table("readings", Arc::new(table)).unwrap();
        let out =
            s.sql("SELECT patient_at(device_id, time), encounter_at(device_id, time) FROM readings").await.unwrap();
        let (patients, encounters) = (strings(&out, 0), strings(&out, 1));
        assert_eq!(patients.len(), rows.len());
        let mut attached = 0;
        for (i, (device, t)) in rows.iter().enumerate() {
            let want = expected(&hub, device, *t);
            assert_eq!(patients[i], want, "{device} at {t} ({text})");
            assert_eq!(encounters[i], want.as_ref().map(|p| format!("ENC-{p}")));
            attached += usize::from(want.is_some());
        }
        // Every kind of answer occurs: attached, in a gap or before the first interval, conflict.
        assert!(attached > rows.len() / 2 && attached < rows.len(), "{attached} of {}", rows.len());
        assert!(matches!(hub.snapshot().attach("d-3", T0 + 5 * MINUTE), Attach::Conflict(_)));
    }
}

/// The physical plan of `sql`, as `EXPLAIN` prints it.
fn physical_plan(batches: &[RecordBatch]) -> String {
    let kinds = strings(batches, 0);
    let plans = strings(batches, 1);
    kinds
        .iter()
        .zip(plans)
        .find(|(k, _)| k.as_deref() == Some("physical_plan"))
        .and_then(|(_, p)| p)
        .expect("EXPLAIN prints a physical plan")
}

const FILTERED: &str = "EXPLAIN SELECT patient_id, count(*) AS n FROM vitals \
    WHERE metric = 'heart_rate' AND patient_id IS NOT NULL GROUP BY patient_id";

fn assert_filter_in_scan(plan: &str) {
    let scan = plan.lines().find(|l| l.contains("DataSourceExec")).expect("a Parquet scan");
    assert!(scan.contains("predicate=metric@"), "metric filter not in the scan: {scan}");
    assert!(scan.contains("= heart_rate"), "metric filter not in the scan: {scan}");
    assert!(scan.contains("patient_at(device_id@"), "attribution filter not in the scan: {scan}");
    assert!(!plan.contains("FilterExec"), "a filter step is left above the scan:\n{plan}");
}

#[tokio::test]
async fn a_metric_filter_through_vitals_is_evaluated_inside_the_parquet_scan() {
    let (dir, hub) = data();
    let s = session(&dir, &hub).await;
    assert_filter_in_scan(&physical_plan(&s.sql(FILTERED).await.unwrap()));

    // The API engine builds a session per statement: it is tuned the same way.
    let hub2 = Arc::clone(&hub);
    let engine =
        SqlEngine::open(dir.path(), Arc::new(move || hub2.snapshot()), None, SqlLimits::default()).await.unwrap();
    let ctx = engine.session(SqlAccess::Identified).unwrap();
    let batches = ctx.sql(FILTERED).await.unwrap().collect().await.unwrap();
    assert_filter_in_scan(&physical_plan(&batches));
    let counts = ctx
        .sql("SELECT patient_id, count(*) AS n FROM vitals WHERE metric = 'heart_rate' AND patient_id IS NOT NULL GROUP BY patient_id ORDER BY patient_id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(strings(&counts, 0), [Some("P1".to_owned()), Some("P2".to_owned()), Some("P3".to_owned())]);
    let n: Vec<i64> = counts
        .iter()
        .flat_map(|b| b.column(1).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec())
        .collect();
    assert_eq!(n, [5, 5, 8]);
}
