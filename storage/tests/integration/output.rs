//! Query results as table, CSV and JSON lines: exact strings.

use wardstream_pipeline::{Sink, StoreBatch};
use wardstream_storage::{OutputFormat, ParquetStore, QuerySession, StorageConfig, format_batches};

use crate::common::*;

const SQL: &str = "SELECT time, device_id, value, loinc, date FROM vitals ORDER BY device_id";

async fn result() -> (tempfile::TempDir, Vec<arrow::array::RecordBatch>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    let observations = vec![obs("m-2", "pap_sys", MAY_1 + 1_500_000, 25.5), obs("m-1", "heart_rate", MAY_1, 72.0)];
    store.write(StoreBatch { observations, dead_letters: vec![] }).unwrap();
    store.flush().unwrap();
    let batches = QuerySession::open(dir.path()).unwrap().sql(SQL).await.unwrap();
    (dir, batches)
}

#[tokio::test]
async fn results_print_as_an_aligned_table() {
    let (_dir, batches) = result().await;
    let expected = "\
+--------------------------+-----------+-------+--------+------------+
| time                     | device_id | value | loinc  | date       |
+--------------------------+-----------+-------+--------+------------+
| 2024-05-01T00:00:00Z     | m-1       | 72.0  | 8867-4 | 2024-05-01 |
| 2024-05-01T00:00:01.500Z | m-2       | 25.5  |        | 2024-05-01 |
+--------------------------+-----------+-------+--------+------------+
";
    assert_eq!(format_batches(&batches, OutputFormat::Table).unwrap(), expected);
}

#[tokio::test]
async fn results_print_as_csv_with_a_header() {
    let (_dir, batches) = result().await;
    let expected = "time,device_id,value,loinc,date\n\
                    2024-05-01T00:00:00Z,m-1,72.0,8867-4,2024-05-01\n\
                    2024-05-01T00:00:01.500Z,m-2,25.5,,2024-05-01\n";
    assert_eq!(format_batches(&batches, OutputFormat::Csv).unwrap(), expected);
}

#[tokio::test]
async fn results_print_as_json_lines() {
    let (_dir, batches) = result().await;
    let expected = "{\"time\":\"2024-05-01T00:00:00Z\",\"device_id\":\"m-1\",\"value\":72.0,\"loinc\":\"8867-4\",\"date\":\"2024-05-01\"}\n\
                    {\"time\":\"2024-05-01T00:00:01.500Z\",\"device_id\":\"m-2\",\"value\":25.5,\"loinc\":null,\"date\":\"2024-05-01\"}\n";
    assert_eq!(format_batches(&batches, OutputFormat::Json).unwrap(), expected);
}

#[test]
fn formats_parse_from_their_names() {
    assert_eq!("CSV".parse::<OutputFormat>().unwrap(), OutputFormat::Csv);
    assert_eq!("table".parse::<OutputFormat>().unwrap(), OutputFormat::Table);
    assert_eq!("json".parse::<OutputFormat>().unwrap(), OutputFormat::Json);
    assert_eq!(
        "xml".parse::<OutputFormat>().unwrap_err().to_string(),
        "invalid storage configuration: unknown output format \"xml\" (expected table, csv or json)"
    );
}
