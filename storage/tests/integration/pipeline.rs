//! The store as the pipeline's sink: readings in, rows out.

use std::sync::Arc;
use std::time::Duration;

use wardstream_pipeline::{Catalogue, FlowConfig, IngestBatch, Normaliser, Pipeline, RawReading, RawValue, Source};
use wardstream_storage::{ParquetStore, QuerySession, StorageConfig};

use crate::common::*;

fn reading(i: i64, name: &str) -> RawReading {
    RawReading {
        device_id: Arc::from(format!("dev-{}", i % 5)),
        name: name.into(),
        value: RawValue::Number(60.0 + (i % 30) as f64),
        unit: Some("/min".into()),
        device_time: MAY_1 + i * 1000,
        received_at: MAY_1 + i * 1000 + 7,
        source: Source::Mqtt,
        origin: Arc::from("ward/1"),
        raw: Arc::from(&b"{}"[..]),
        flags: wardstream_pipeline::Flags::NONE,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_sent_through_the_pipeline_are_all_queryable_after_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        ParquetStore::open(StorageConfig { max_rows_per_file: 500, ..StorageConfig::test_config(dir.path()) }).unwrap();
    let stats = store.stats();
    let flow = FlowConfig { queue_capacity: 4, workers: 2, tick: Duration::from_millis(10), ..FlowConfig::default() };
    let pipeline = Pipeline::start(flow, Normaliser::new(Arc::new(Catalogue::builtin())), store).unwrap();
    let inlet = pipeline.inlet();
    for b in 0..100 {
        let readings = (0..20).map(|k| reading(b * 20 + k, if k == 19 { "nonsense" } else { "HR" })).collect();
        inlet.send(IngestBatch { readings, dead_letters: vec![] }).unwrap();
    }
    drop(inlet);
    tokio::task::block_in_place(|| pipeline.shutdown()).unwrap();

    let session = QuerySession::open(dir.path()).unwrap();
    assert_eq!(count(&session, "vitals", "WHERE metric = 'heart_rate' AND unit = '/min'").await, 1900);
    assert_eq!(count(&session, "dead_letters", "WHERE reason = 'unknown_metric'").await, 100);
    assert_eq!(count(&session, "(SELECT DISTINCT time FROM vitals)", "").await, 1900);
    let snap = stats.snapshot();
    assert_eq!((snap.vitals_rows_written, snap.dead_letter_rows_written, snap.write_errors), (1900, 100, 0));
}
