//! The streaming k-way merge of a partition's files, each already sorted by its table's sort
//! key ([`sort_columns`]), into one sorted stream of record batches.
//!
//! Memory is bounded by the batch size, never by the partition: each input holds one record
//! batch of at most `batch_rows` rows (and the row-format keys of that batch, from Arrow's
//! [`RowConverter`]), and the output is gathered as at most `batch_rows` (input, row) indices
//! before [`interleave_record_batch`] copies them into one output batch. With `k` inputs the
//! merge holds at most `(k + 1) * batch_rows` rows ([`MergeStats::peak_rows_held`] measures
//! it); the Parquet reader adds one page per column and input, the writer one row group.
//!
//! Design: the inputs sit in a binary min-heap of input indices ordered by (current key,
//! input index), so ties keep the order of the inputs (older files first) and of the rows
//! within a file: the merge is stable. Before an input's batch is replaced by its next one,
//! the pending output is flushed, so no output batch refers to a batch already dropped. Every
//! batch read is checked to continue its file's order; a file out of order stops the merge
//! with [`CompactionError::UnsortedInput`] instead of producing an unsorted file.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, Row, RowConverter, Rows, SortField};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::file::sort_columns;
use crate::schema::Table;

use super::error::{CompactionError, Result};

/// Where merged batches go.
pub(crate) trait MergeSink {
    /// Rows the sink takes before its current file is full (at least 1).
    fn room(&self) -> usize;
    /// Takes the next batch of the merged stream (at most [`room`](Self::room) rows).
    fn write(&mut self, batch: RecordBatch) -> Result<()>;
}

/// What a merge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergeStats {
    /// Rows merged (equal to the rows of the inputs).
    pub rows: u64,
    /// Record batches read from the inputs.
    pub batches_read: u64,
    /// Most rows held in memory at once (input batches plus the pending output).
    pub peak_rows_held: usize,
}

/// The sort key of a table as Arrow row-format keys.
struct SortKey {
    converter: RowConverter,
    columns: Vec<usize>,
    names: &'static [&'static str],
}

impl SortKey {
    fn new(table: Table) -> Result<SortKey> {
        let schema = table.file_schema();
        let names = sort_columns(table);
        let mut columns = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        for name in names {
            let idx = schema.index_of(name)?;
            columns.push(idx);
            fields.push(SortField::new(schema.field(idx).data_type().clone()));
        }
        Ok(SortKey { converter: RowConverter::new(fields)?, columns, names })
    }

    fn rows(&self, batch: &RecordBatch) -> Result<Rows> {
        let columns: Vec<ArrayRef> = self.columns.iter().map(|&i| std::sync::Arc::clone(batch.column(i))).collect();
        Ok(self.converter.convert_columns(&columns)?)
    }
}

/// One input file and its current batch.
struct Cursor {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    keys: Rows,
    /// Next row of `batch` to emit.
    pos: usize,
    /// Rows of the file before `batch` (for error messages).
    row_base: usize,
    /// Key of the last row of the previous batch, to check the order across batches.
    last: Option<OwnedRow>,
}

impl Cursor {
    fn key(&self) -> Row<'_> {
        self.keys.row(self.pos)
    }

    /// Replaces the batch by the file's next non-empty one, checking its order; `false` when
    /// the file is exhausted (the batch is then empty).
    fn load_next(&mut self, key: &SortKey, schema: &SchemaRef, stats: &mut MergeStats) -> Result<bool> {
        if self.batch.num_rows() > 0 {
            self.last = Some(self.keys.row(self.batch.num_rows() - 1).owned());
        }
        self.row_base += self.batch.num_rows();
        self.batch = RecordBatch::new_empty(std::sync::Arc::clone(schema));
        self.keys = key.converter.empty_rows(0, 0);
        self.pos = 0;
        for next in self.reader.by_ref() {
            let batch = next?;
            stats.batches_read += 1;
            if batch.num_rows() == 0 {
                continue;
            }
            let keys = key.rows(&batch)?;
            let previous = self.last.as_ref().map(|r| r.row());
            let first_out_of_order = (0..keys.num_rows()).find(|&i| {
                if i == 0 { previous.is_some_and(|p| keys.row(0) < p) } else { keys.row(i) < keys.row(i - 1) }
            });
            if let Some(i) = first_out_of_order {
                let (path, row) = (self.path.clone(), self.row_base + i);
                return Err(CompactionError::UnsortedInput { path, key: key.names, row });
            }
            // In the table's schema: an older file may declare a column non-nullable that
            // the table now allows nulls in (see `readable_as`).
            self.batch = RecordBatch::try_new(std::sync::Arc::clone(schema), batch.columns().to_vec())?;
            self.keys = keys;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Opens one input for reading in batches of `batch_rows`, checking it has the table's
/// columns.
fn open_input(path: &Path, table: Table, batch_rows: usize) -> Result<ParquetRecordBatchReader> {
    let file = File::open(path).map_err(|e| CompactionError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let expected = table.file_schema();
    if !readable_as(builder.schema(), &expected) {
        let found: Vec<String> =
            builder.schema().fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
        let detail = format!("found [{}]", found.join(", "));
        return Err(CompactionError::SchemaMismatch { path: path.to_path_buf(), table, detail });
    }
    Ok(builder.with_batch_size(batch_rows).build()?)
}

/// True when a file of schema `found` holds the table's columns: the same names and types in
/// order, each nullable where the table's is, or not nullable where the table's is (files
/// written before a column became nullable, e.g. `source_value`, still merge; the merged batch
/// takes the table's schema).
fn readable_as(found: &arrow::datatypes::Schema, expected: &arrow::datatypes::Schema) -> bool {
    found.fields().len() == expected.fields().len()
        && found.fields().iter().zip(expected.fields()).all(|(f, e)| {
            f.name() == e.name() && f.data_type() == e.data_type() && (e.is_nullable() || !f.is_nullable())
        })
}

/// Merges `inputs` (each sorted by the table's sort key) into `sink`, in batches of at most
/// `batch_rows` rows (see the module docs). Ties keep the order of `inputs`.
pub(crate) fn merge(
    table: Table,
    inputs: &[PathBuf],
    batch_rows: usize,
    sink: &mut dyn MergeSink,
) -> Result<MergeStats> {
    let batch_rows = batch_rows.max(1);
    let key = SortKey::new(table)?;
    let schema = table.file_schema();
    let mut stats = MergeStats::default();
    let mut cursors = Vec::with_capacity(inputs.len());
    let mut heap = Vec::with_capacity(inputs.len());
    let mut held = 0usize;
    for path in inputs {
        let reader = open_input(path, table, batch_rows)?;
        let batch = RecordBatch::new_empty(std::sync::Arc::clone(&schema));
        let keys = key.converter.empty_rows(0, 0);
        let mut cursor = Cursor { path: path.clone(), reader, batch, keys, pos: 0, row_base: 0, last: None };
        if cursor.load_next(&key, &schema, &mut stats)? {
            held += cursor.batch.num_rows();
            heap.push(cursors.len());
        }
        cursors.push(cursor);
    }
    stats.peak_rows_held = held;
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, &cursors);
    }

    let mut pending: Vec<(usize, usize)> = Vec::with_capacity(batch_rows);
    while let Some(&top) = heap.first() {
        pending.push((top, cursors[top].pos));
        if pending.len() >= batch_rows.min(sink.room()) {
            stats.peak_rows_held = stats.peak_rows_held.max(held + pending.len());
            flush(&cursors, &mut pending, &schema, sink, &mut stats)?;
        }
        cursors[top].pos += 1;
        if cursors[top].pos >= cursors[top].batch.num_rows() {
            stats.peak_rows_held = stats.peak_rows_held.max(held + pending.len());
            flush(&cursors, &mut pending, &schema, sink, &mut stats)?;
            held -= cursors[top].batch.num_rows();
            if cursors[top].load_next(&key, &schema, &mut stats)? {
                held += cursors[top].batch.num_rows();
                stats.peak_rows_held = stats.peak_rows_held.max(held);
            } else if let Some(last) = heap.pop() {
                if heap.is_empty() {
                    break;
                }
                heap[0] = last;
            }
        }
        sift_down(&mut heap, 0, &cursors);
    }
    flush(&cursors, &mut pending, &schema, sink, &mut stats)?;
    Ok(stats)
}

/// Copies the pending (input, row) pairs into one batch of the table's schema for `sink`.
fn flush(
    cursors: &[Cursor],
    pending: &mut Vec<(usize, usize)>,
    schema: &SchemaRef,
    sink: &mut dyn MergeSink,
    stats: &mut MergeStats,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let batches: Vec<&RecordBatch> = cursors.iter().map(|c| &c.batch).collect();
    let merged = interleave_record_batch(&batches, pending)?;
    let batch = RecordBatch::try_new(std::sync::Arc::clone(schema), merged.columns().to_vec())?;
    stats.rows += batch.num_rows() as u64;
    pending.clear();
    sink.write(batch)
}

/// Whether input `a` goes before input `b`: smaller key, then smaller index.
fn before(cursors: &[Cursor], a: usize, b: usize) -> bool {
    (cursors[a].key(), a) < (cursors[b].key(), b)
}

/// Restores the min-heap property below `i`.
fn sift_down(heap: &mut [usize], mut i: usize, cursors: &[Cursor]) {
    loop {
        let (left, right) = (2 * i + 1, 2 * i + 2);
        let mut smallest = i;
        if left < heap.len() && before(cursors, heap[left], heap[smallest]) {
            smallest = left;
        }
        if right < heap.len() && before(cursors, heap[right], heap[smallest]) {
            smallest = right;
        }
        if smallest == i {
            return;
        }
        heap.swap(i, smallest);
        i = smallest;
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
