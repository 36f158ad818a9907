//! The query session: long-lived sessions see new files, empty tables work, bad SQL is an
//! error with a one-line message.

use wardstream_pipeline::{Sink, StoreBatch};
use wardstream_storage::{Error, ParquetStore, QuerySession, StorageConfig};

use crate::common::*;

fn batch(device: &str, time: i64, n: usize) -> StoreBatch {
    let observations = (0..n).map(|i| obs(device, "heart_rate", time + i as i64, 70.0)).collect();
    StoreBatch { observations, dead_letters: vec![] }
}

#[tokio::test]
async fn a_session_opened_before_any_file_exists_sees_rows_written_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    let session = QuerySession::open(dir.path()).unwrap();
    assert_eq!(count(&session, "vitals", "").await, 0);
    assert_eq!(count(&session, "vitals", "WHERE date = '2024-05-01'").await, 0);

    store.write(batch("m-1", MAY_1, 5)).unwrap();
    store.flush().unwrap();
    assert_eq!(count(&session, "vitals", "").await, 5);
    assert_eq!(count(&session, "vitals", "WHERE date = '2024-05-01'").await, 5);

    // A second file in the same partition, then a new partition directory.
    store.write(batch("m-2", MAY_1 + 10, 3)).unwrap();
    store.flush().unwrap();
    assert_eq!(count(&session, "vitals", "").await, 8);
    assert_eq!(count(&session, "vitals", "WHERE date = '2024-05-01'").await, 8);
    store.write(batch("m-3", MAY_1 + 86_400 * SECOND, 4)).unwrap();
    store.flush().unwrap();
    assert_eq!(count(&session, "vitals", "").await, 12);
    assert_eq!(
        csv(&session, "SELECT date, count(*) AS n FROM vitals GROUP BY date ORDER BY date").await,
        "date,n\n2024-05-01,8\n2024-05-02,4\n"
    );
}

#[tokio::test]
async fn tables_are_empty_not_missing_before_the_store_ever_ran() {
    let dir = tempfile::tempdir().unwrap();
    let session = QuerySession::open(dir.path()).unwrap();
    assert_eq!(count(&session, "vitals", "").await, 0);
    assert_eq!(count(&session, "dead_letters", "WHERE date = '2024-05-01'").await, 0);
    assert_eq!(csv(&session, "SELECT device_id, value FROM vitals").await, "device_id,value\n");
}

#[test]
fn a_missing_data_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = QuerySession::open(dir.path().join("nope")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().ends_with("nope: data directory does not exist"), "{err}");
}

#[tokio::test]
async fn bad_sql_is_an_error_with_a_one_line_message() {
    let dir = tempfile::tempdir().unwrap();
    let session = QuerySession::open(dir.path()).unwrap();
    let cases = [
        (
            "SELEC * FROM vitals",
            "SQL error: ParserError(\"Expected: an SQL statement, found: SELEC at Line: 1, Column: 1\")",
        ),
        ("SELECT * FROM nope", "SQL error: Error during planning: table 'datafusion.public.nope' not found"),
        ("SELECT no_such_column FROM vitals", "SQL error: Schema error: No field named no_such_column."),
    ];
    for (sql, expected) in cases {
        let err = session.sql(sql).await.unwrap_err();
        assert!(matches!(err, Error::Sql(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with(expected), "{sql}: {message}");
        assert!(!message.contains('\n'), "{sql}: {message}");
    }
}

#[tokio::test]
async fn the_session_refuses_to_write_or_change_tables() {
    let dir = tempfile::tempdir().unwrap();
    let session = QuerySession::open(dir.path()).unwrap();
    for sql in ["DROP TABLE vitals", "CREATE TABLE t AS SELECT 1", "INSERT INTO dead_letters (detail) VALUES ('x')"] {
        let err = session.sql(sql).await.unwrap_err();
        assert!(err.to_string().starts_with("SQL error: "), "{sql}: {err}");
    }
    assert_eq!(count(&session, "vitals", "").await, 0);
    assert!(all_files(dir.path()).is_empty());
}
