//! Observations of several devices and metrics across two UTC dates come back exactly.

use wardstream_pipeline::{Observation, Sink, StoreBatch};
use wardstream_storage::{ParquetStore, QuerySession, StorageConfig};

use crate::common::*;

/// 3 devices × 3 metrics × 4 times straddling midnight: 2 times on 2024-04-30, 2 on 2024-05-01.
fn observations() -> Vec<Observation> {
    let mut rows = Vec::new();
    let times = [MAY_1 - 2 * SECOND, MAY_1 - 1, MAY_1, MAY_1 + 3 * SECOND + 17];
    for (d, device) in ["monitor-1", "monitor-2", "pump-9"].iter().enumerate() {
        for (m, metric) in ["heart_rate", "spo2", "nibp_sys"].iter().enumerate() {
            for (t, time) in times.iter().enumerate() {
                let value = 60.0 + (d * 100 + m * 10 + t) as f64 + 0.25;
                rows.push(obs(device, metric, *time, if d == 2 && t == 3 { 999.5 } else { value }));
            }
        }
    }
    // Arrival order differs from the file order.
    rows.reverse();
    rows
}

#[tokio::test]
async fn observations_across_two_dates_come_back_exactly_with_their_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    let input = observations();
    store.write(StoreBatch { observations: input.clone(), dead_letters: vec![] }).unwrap();
    store.flush().unwrap();
    assert_eq!(store.buffered_rows(), 0);
    assert_eq!(file_layout(dir.path()), ["vitals/date=2024-04-30/*", "vitals/date=2024-05-01/*"]);

    let session = QuerySession::open(dir.path()).unwrap();
    let sql = "SELECT time, device_time, received_at, device_id, metric, mdc_code, loinc, value, unit, \
               source_name, source_value, source_unit, status, patient_id, encounter_id, ward, bed, source, date \
               FROM vitals ORDER BY device_id, metric, time";
    let got = one_batch(&session.sql(sql).await.unwrap());

    let mut expected = input;
    expected.sort_by(|a, b| (&a.device_id, &a.metric.name, a.time).cmp(&(&b.device_id, &b.metric.name, b.time)));
    assert_eq!(got.num_rows(), 36);
    assert_eq!(times(&got, "time"), expected.iter().map(|o| o.time).collect::<Vec<_>>());
    assert_eq!(times(&got, "device_time"), expected.iter().map(|o| o.device_time).collect::<Vec<_>>());
    assert_eq!(times(&got, "received_at"), expected.iter().map(|o| o.received_at).collect::<Vec<_>>());
    let some = |s: &str| Some(s.to_string());
    assert_eq!(strings(&got, "device_id"), expected.iter().map(|o| some(&o.device_id)).collect::<Vec<_>>());
    assert_eq!(strings(&got, "metric"), expected.iter().map(|o| some(&o.metric.name)).collect::<Vec<_>>());
    assert_eq!(
        strings(&got, "mdc_code"),
        expected.iter().map(|o| Some(o.metric.mdc_code.to_string())).collect::<Vec<_>>()
    );
    assert_eq!(strings(&got, "loinc"), expected.iter().map(|o| o.metric.loinc.clone()).collect::<Vec<_>>());
    assert_eq!(floats(&got, "value"), expected.iter().map(|o| o.value).collect::<Vec<_>>());
    assert_eq!(strings(&got, "unit"), expected.iter().map(|o| some(&o.metric.unit)).collect::<Vec<_>>());
    assert_eq!(strings(&got, "source_name"), expected.iter().map(|o| some(&o.source_name)).collect::<Vec<_>>());
    assert_eq!(floats(&got, "source_value"), expected.iter().map(|o| o.source_value).collect::<Vec<_>>());
    assert_eq!(strings(&got, "source_unit"), expected.iter().map(|o| o.source_unit.clone()).collect::<Vec<_>>());
    assert_eq!(strings(&got, "status"), expected.iter().map(|o| some(o.status().as_str())).collect::<Vec<_>>());
    assert_eq!(strings(&got, "patient_id"), vec![some("patient-1"); 36]);
    assert_eq!(strings(&got, "encounter_id"), vec![None; 36]);
    assert_eq!(strings(&got, "bed"), expected.iter().map(|o| some(&o.device_id)).collect::<Vec<_>>());
    assert_eq!(strings(&got, "source"), vec![some("mqtt"); 36]);
    let dates: Vec<_> =
        expected.iter().map(|o| some(if o.time < MAY_1 { "2024-04-30" } else { "2024-05-01" })).collect();
    assert_eq!(strings(&got, "date"), dates);

    // Spot checks in plain SQL, units and statuses included.
    assert_eq!(
        csv(&session, "SELECT metric, value, unit, status FROM vitals WHERE device_id = 'pump-9' AND time > '2024-05-01T00:00:00Z' ORDER BY metric").await,
        "metric,value,unit,status\nheart_rate,999.5,/min,implausible\nnibp_sys,999.5,mm[Hg],implausible\nspo2,999.5,%,implausible\n"
    );
    assert_eq!(
        csv(&session, "SELECT date, count(*) AS n FROM vitals GROUP BY date ORDER BY date").await,
        "date,n\n2024-04-30,18\n2024-05-01,18\n"
    );
}

#[tokio::test]
async fn a_date_filter_reads_only_that_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    store.write(StoreBatch { observations: observations(), dead_letters: vec![] }).unwrap();
    store.flush().unwrap();
    let session = QuerySession::open(dir.path()).unwrap();

    assert_eq!(count(&session, "vitals", "WHERE date = '2024-04-30'").await, 18);
    assert_eq!(count(&session, "vitals", "WHERE date = '2024-05-01'").await, 18);
    assert_eq!(count(&session, "vitals", "WHERE date = '2024-05-02'").await, 0);
    assert_eq!(count(&session, "vitals", "WHERE date >= '2024-05-01' AND metric = 'spo2'").await, 6);

    let plan = csv(&session, "EXPLAIN SELECT value FROM vitals WHERE date = '2024-05-01'").await;
    assert!(plan.contains("date=2024-05-01/part-"), "{plan}");
    assert!(!plan.contains("date=2024-04-30"), "the other partition must be pruned: {plan}");
}
