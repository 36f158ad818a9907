//! Unit tests of the k-way merge: order, stability, bounded memory, refused inputs.

use std::path::PathBuf;

use super::*;
use crate::batch::{dead_letters_batch, vitals_batch};
use crate::compaction::test_support::{MAY_1, keys, obs};
use crate::file::{write_atomically, writer_properties};
use wardstream_pipeline::Observation;

/// Collects merged batches, with a room of `room` rows per "file".
struct Collect {
    batches: Vec<RecordBatch>,
    room: usize,
    in_file: usize,
}

impl MergeSink for Collect {
    fn room(&self) -> usize {
        self.room - self.in_file
    }
    fn write(&mut self, batch: RecordBatch) -> Result<()> {
        assert!(batch.num_rows() <= self.room(), "{} rows for a room of {}", batch.num_rows(), self.room());
        self.in_file = (self.in_file + batch.num_rows()) % self.room;
        self.batches.push(batch);
        Ok(())
    }
}

/// Writes the observations as they are (unsorted if so given) to `<dir>/<name>`.
fn file(dir: &std::path::Path, name: &str, rows: &[Observation]) -> PathBuf {
    let props = writer_properties(Table::Vitals, 1_000).unwrap();
    write_atomically(dir, name, &vitals_batch(rows).unwrap(), Table::Vitals, props).unwrap().path
}

fn rows_of(batches: &[RecordBatch], dir: &std::path::Path) -> Vec<(String, i64, f64)> {
    let props = writer_properties(Table::Vitals, 1_000).unwrap();
    let all = arrow::compute::concat_batches(&Table::Vitals.file_schema(), batches).unwrap();
    let path = write_atomically(dir, "merged.parquet", &all, Table::Vitals, props).unwrap().path;
    keys(&path)
}

#[test]
fn inputs_are_merged_in_key_order_and_ties_keep_the_order_of_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let t = |s: i64| MAY_1 + s * 1_000_000;
    let a = file(dir.path(), "a.parquet", &[obs("m-1", t(1), 1.0), obs("m-1", t(5), 2.0), obs("m-2", t(1), 3.0)]);
    let b = file(dir.path(), "b.parquet", &[obs("m-1", t(1), 10.0), obs("m-1", t(3), 20.0)]);
    let c = file(dir.path(), "c.parquet", &[]);
    let d = file(dir.path(), "d.parquet", &[obs("m-0", t(9), 100.0), obs("m-1", t(5), 200.0), obs("m-3", t(0), 300.0)]);
    let mut sink = Collect { batches: vec![], room: 3, in_file: 0 };
    let stats = merge(Table::Vitals, &[a, b, c, d], 2, &mut sink).unwrap();
    let got = rows_of(&sink.batches, dir.path());
    let expected = [
        ("m-0", 9, 100.0),
        ("m-1", 1, 1.0),
        ("m-1", 1, 10.0),
        ("m-1", 3, 20.0),
        ("m-1", 5, 2.0),
        ("m-1", 5, 200.0),
        ("m-2", 1, 3.0),
        ("m-3", 0, 300.0),
    ]
    .map(|(d, s, v)| (d.to_string(), t(s), v));
    assert_eq!(got, expected);
    assert_eq!(stats.rows, 8);
    assert!(sink.batches.iter().all(|b| b.num_rows() <= 2), "output batches of at most batch_rows");
    assert!(stats.peak_rows_held <= (3 + 1) * 2, "peak {} > (inputs + 1) * batch_rows", stats.peak_rows_held);
}

#[test]
fn memory_is_bounded_by_the_batch_size_not_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..10)
        .map(|f| {
            let rows: Vec<_> = (0..500).map(|i| obs(&format!("m-{:03}", i), MAY_1 + f, f as f64)).collect();
            file(dir.path(), &format!("{f}.parquet"), &rows)
        })
        .collect();
    let mut sink = Collect { batches: vec![], room: 1_000_000, in_file: 0 };
    let stats = merge(Table::Vitals, &inputs, 16, &mut sink).unwrap();
    assert_eq!(stats.rows, 5_000);
    assert_eq!(stats.batches_read, 10 * 32, "500 rows in batches of 16: 31 full and one of 4, per file");
    assert!(stats.peak_rows_held <= 11 * 16, "peak {} rows held for 5000 merged", stats.peak_rows_held);
    assert!(stats.peak_rows_held >= 10 * 4, "every input holds a batch");
}

#[test]
fn an_unsorted_input_is_refused_with_its_first_row_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<_> = [("m-1", 1), ("m-1", 2), ("m-1", 3), ("m-0", 4)].map(|(d, s)| obs(d, MAY_1 + s, 1.0)).to_vec();
    let bad = file(dir.path(), "bad.parquet", &rows);
    let good = file(dir.path(), "good.parquet", &rows[..1]);
    let mut sink = Collect { batches: vec![], room: 100, in_file: 0 };
    // Batches of 2: the break is across a batch boundary, at row 3.
    let err = merge(Table::Vitals, &[good, bad.clone()], 2, &mut sink).unwrap_err();
    assert_eq!(err.to_string(), format!("{} is not sorted by (device_id, metric, time) at row 3", bad.display()));
}

#[test]
fn a_file_of_another_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let props = writer_properties(Table::DeadLetters, 10).unwrap();
    let path = write_atomically(dir.path(), "x.parquet", &dead_letters_batch(&[]).unwrap(), Table::DeadLetters, props)
        .unwrap()
        .path;
    let mut sink = Collect { batches: vec![], room: 100, in_file: 0 };
    let err = merge(Table::Vitals, &[path], 2, &mut sink).unwrap_err();
    assert!(matches!(err, CompactionError::SchemaMismatch { table: Table::Vitals, .. }), "{err}");
}

/// A file as wardstream wrote it before `source_value` became nullable: the column declared
/// non-null and every value stored.
fn old_format_file(dir: &std::path::Path, name: &str, rows: &[Observation]) -> PathBuf {
    use arrow::array::{ArrayRef, Float64Array};
    use arrow::datatypes::{Field, Schema};
    let batch = vitals_batch(rows).unwrap();
    let idx = batch.schema().index_of("source_value").unwrap();
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| if f.name() == "source_value" { f.as_ref().clone().with_nullable(false) } else { f.as_ref().clone() })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[idx] = std::sync::Arc::new(rows.iter().map(|o| o.source_value).collect::<Float64Array>()) as ArrayRef;
    let old = RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns).unwrap();
    let props = writer_properties(Table::Vitals, 1_000).unwrap();
    write_atomically(dir, name, &old, Table::Vitals, props).unwrap().path
}

#[test]
fn files_from_before_source_value_became_nullable_merge_with_new_ones() {
    use arrow::array::AsArray;
    use arrow::datatypes::Float64Type;
    let dir = tempfile::tempdir().unwrap();
    let t = |s: i64| MAY_1 + s * 1_000_000;
    let old = old_format_file(dir.path(), "old.parquet", &[obs("m-1", t(1), 1.0), obs("m-1", t(3), 3.0)]);
    let mut converted = obs("m-1", t(2), 2.0);
    converted.source_value = 20.0;
    let new = file(dir.path(), "new.parquet", &[converted, obs("m-1", t(4), 4.0)]);
    let mut sink = Collect { batches: vec![], room: 10, in_file: 0 };
    let stats = merge(Table::Vitals, &[old, new], 1, &mut sink).unwrap();
    assert_eq!(stats.rows, 4);
    let all = arrow::compute::concat_batches(&Table::Vitals.file_schema(), &sink.batches).unwrap();
    let source_value = all.column_by_name("source_value").unwrap().as_primitive::<Float64Type>();
    // The old file's values stay as they were stored; the new file's equal one is null.
    assert_eq!(source_value.iter().collect::<Vec<_>>(), [Some(1.0), Some(20.0), Some(3.0), None]);
    let value = all.column_by_name("value").unwrap().as_primitive::<Float64Type>();
    assert_eq!(value.values().to_vec(), [1.0, 2.0, 3.0, 4.0]);
}
