//! Dead letters round trip, payload bytes included.

use wardstream_pipeline::{Sink, StoreBatch};
use wardstream_storage::{ParquetStore, QuerySession, StorageConfig};

use crate::common::*;

#[tokio::test]
async fn dead_letters_come_back_exactly_with_their_payload_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    let binary: Vec<u8> = (0..=255).collect();
    let letters = vec![
        letter(MAY_1 + 5, Some("m-1"), b"{\"n\":\"XYZ\",\"v\":1}"),
        letter(MAY_1 - 1, None, &binary),
        letter(MAY_1 + 2, None, b""),
    ];
    store.write(StoreBatch { observations: vec![], dead_letters: letters.clone() }).unwrap();
    store.flush().unwrap();
    assert_eq!(file_layout(dir.path()), ["dead_letters/date=2024-04-30/*", "dead_letters/date=2024-05-01/*"]);

    let session = QuerySession::open(dir.path()).unwrap();
    let got = one_batch(
        &session
            .sql("SELECT received_at, source, origin, device_id, source_name, reason, detail, payload, date FROM dead_letters ORDER BY received_at")
            .await
            .unwrap(),
    );
    assert_eq!(times(&got, "received_at"), [MAY_1 - 1, MAY_1 + 2, MAY_1 + 5]);
    let s = |v: &str| Some(v.to_string());
    assert_eq!(strings(&got, "source"), [s("serial"), s("serial"), s("serial")]);
    assert_eq!(strings(&got, "origin"), [s("/dev/ttyUSB0"), s("/dev/ttyUSB0"), s("/dev/ttyUSB0")]);
    assert_eq!(strings(&got, "device_id"), [None, None, s("m-1")]);
    assert_eq!(strings(&got, "source_name"), [None, None, s("XYZ")]);
    assert_eq!(strings(&got, "reason"), [s("invalid_payload"), s("invalid_payload"), s("unknown_metric")]);
    let details = [MAY_1 - 1, MAY_1 + 2, MAY_1 + 5].map(|t| s(&format!("rejected at {t}")));
    assert_eq!(strings(&got, "detail"), details);
    assert_eq!(strings(&got, "date"), [s("2024-04-30"), s("2024-05-01"), s("2024-05-01")]);

    let payload =
        arrow::compute::cast(got.column_by_name("payload").unwrap(), &arrow::datatypes::DataType::Binary).unwrap();
    let payload = arrow::array::AsArray::as_binary::<i32>(&payload);
    assert_eq!(payload.value(0), &binary[..]);
    assert_eq!(payload.value(1), b"");
    assert_eq!(payload.value(2), b"{\"n\":\"XYZ\",\"v\":1}");
    assert_eq!(
        csv(&session, "SELECT payload FROM dead_letters WHERE device_id = 'm-1'").await,
        "payload\n7b226e223a2258595a222c2276223a317d\n",
        "binary prints as hex"
    );
    let batches = session.sql("SELECT payload FROM dead_letters WHERE device_id = 'm-1'").await.unwrap();
    assert_eq!(
        wardstream_storage::format_batches(&batches, wardstream_storage::OutputFormat::Json).unwrap(),
        "{\"payload\":\"7b226e223a2258595a222c2276223a317d\"}\n"
    );
    assert_eq!(store.stats().snapshot().dead_letter_rows_written, 3);
}
