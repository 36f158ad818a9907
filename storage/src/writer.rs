//! [`ParquetStore`]: the [`Sink`] that buffers observations and dead letters per (table, UTC
//! date) and writes them out as Parquet files of the [`schema`](crate::schema).
//!
//! A buffer becomes a file when it reaches [`StorageConfig::max_rows_per_file`] rows (on
//! [`Sink::write`] or [`Sink::tick`]), when its oldest row has waited
//! [`StorageConfig::flush_interval_ms`] (on [`Sink::tick`]), and always on [`Sink::flush`].
//! Rows leave a buffer only once their file is durable and renamed into place; on an error
//! they stay buffered and the next `tick` or `flush` retries them (the [`Sink`] contract).
//!
//! Design: buffers are keyed by the UTC day of the partition time (`time` for vitals,
//! `received_at` for dead letters), so a late reading lands in its own day's partition. A
//! full buffer is cut into files of exactly `max_rows_per_file` rows, oldest arrivals first;
//! each file is sorted (see [`sort_columns`](crate::file::sort_columns)) by a sorted view of
//! references, without moving or cloning rows.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use parquet::file::properties::WriterProperties;
use wardstream_pipeline::time::{format_day, utc_day};
use wardstream_pipeline::{Clock, DeadLetter, Micros, Observation, Sink, SinkError, StoreBatch, SystemClock};

use crate::batch::{dead_letters_batch, vitals_batch};
use crate::config::StorageConfig;
use crate::error::Result;
use crate::file::{write_atomically, writer_properties};
use crate::layout::{FileNamer, create_dir_durable, partition_dir, remove_stale_temp_files, table_dir};
use crate::schema::Table;
use crate::stats::StorageStats;

/// A row of one of the tables.
trait Row: Sized {
    const TABLE: Table;
    /// The time whose UTC date is the row's partition.
    fn partition_time(&self) -> Micros;
    /// The in-file order.
    fn file_order(a: &Self, b: &Self) -> Ordering;
    /// Arrow conversion of a sorted view.
    fn to_batch(rows: &[&Self]) -> Result<RecordBatch>;
}

impl Row for Observation {
    const TABLE: Table = Table::Vitals;
    fn partition_time(&self) -> Micros {
        self.time
    }
    fn file_order(a: &Self, b: &Self) -> Ordering {
        (&*a.device_id, a.metric.name.as_str(), a.time).cmp(&(&*b.device_id, b.metric.name.as_str(), b.time))
    }
    fn to_batch(rows: &[&Self]) -> Result<RecordBatch> {
        vitals_batch(rows.iter().copied())
    }
}

impl Row for DeadLetter {
    const TABLE: Table = Table::DeadLetters;
    fn partition_time(&self) -> Micros {
        self.received_at
    }
    fn file_order(a: &Self, b: &Self) -> Ordering {
        a.received_at.cmp(&b.received_at)
    }
    fn to_batch(rows: &[&Self]) -> Result<RecordBatch> {
        dead_letters_batch(rows.iter().copied())
    }
}

/// Rows of one (table, day) waiting to be written.
#[derive(Debug)]
struct Buffer<T> {
    rows: Vec<T>,
    /// Per row, the oldest WAL sequence number of the batch it came in (`NO_SEQ` when none):
    /// what keeps the WAL from dropping records whose rows are not in a file yet.
    seqs: Vec<u64>,
    /// When the oldest row still buffered arrived (conservative: kept across partial writes,
    /// so a buffer is written early rather than late).
    since: Instant,
}

/// Which buffers to write out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Only whole files of `max_rows_per_file` rows.
    Full,
    /// Full files, and buffers older than the flush interval.
    Aged,
    /// Everything.
    All,
}

/// Where files go and what they are written with; everything but the buffers.
#[derive(Debug)]
struct Output {
    config: StorageConfig,
    namer: FileNamer,
    /// Writer properties of `vitals` files.
    vitals_props: WriterProperties,
    /// Writer properties of `dead_letters` files.
    dead_letter_props: WriterProperties,
    stats: Arc<StorageStats>,
}

/// The Parquet [`Sink`]: see the [module docs](self). Owned by the pipeline's writer thread.
#[derive(Debug)]
pub struct ParquetStore {
    vitals: BTreeMap<i64, Buffer<Observation>>,
    dead_letters: BTreeMap<i64, Buffer<DeadLetter>>,
    out: Output,
}

impl ParquetStore {
    /// Opens the store: validates `config`, creates `<data_dir>/vitals` and
    /// `<data_dir>/dead_letters`, and removes `*.inprogress` temp files a crashed writer left
    /// behind (each is logged). Their rows never became visible to queries.
    ///
    /// Only one store may write to a data directory at a time if stale temp files are to be
    /// cleaned safely: another live writer's temp file would be removed, failing its write
    /// (which that writer then retries).
    ///
    /// It also finishes or undoes a compaction swap a crash interrupted
    /// ([`compaction::recover`](crate::compaction::recover)), unless a compaction is running.
    pub fn open(config: StorageConfig) -> Result<ParquetStore> {
        config.validate()?;
        for table in Table::ALL {
            create_dir_durable(&table_dir(&config.data_dir, table))?;
        }
        crate::compaction::recover(&config.data_dir)?;
        for table in Table::ALL {
            for path in remove_stale_temp_files(&config.data_dir, table)? {
                tracing::warn!(path = %path.display(), "Removed temp file left by an interrupted write");
            }
        }
        let out = Output {
            vitals_props: writer_properties(Table::Vitals, config.row_group_rows)?,
            dead_letter_props: writer_properties(Table::DeadLetters, config.row_group_rows)?,
            config,
            namer: FileNamer::new(),
            stats: Arc::default(),
        };
        Ok(ParquetStore { vitals: BTreeMap::new(), dead_letters: BTreeMap::new(), out })
    }

    /// The store's counters.
    pub fn stats(&self) -> Arc<StorageStats> {
        Arc::clone(&self.out.stats)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &StorageConfig {
        &self.out.config
    }

    /// The root of the tables.
    pub fn data_dir(&self) -> &Path {
        &self.out.config.data_dir
    }

    /// Rows buffered and not yet in a file (both tables).
    pub fn buffered_rows(&self) -> usize {
        self.vitals.values().map(|b| b.rows.len()).sum::<usize>()
            + self.dead_letters.values().map(|b| b.rows.len()).sum::<usize>()
    }

    fn write_out(&mut self, due: Due) -> Result<()> {
        let now = Instant::now();
        let vitals = self.out.write_buffers(&mut self.vitals, due, now);
        let dead = self.out.write_buffers(&mut self.dead_letters, due, now);
        vitals.and(dead)
    }
}

/// The sequence number of rows that did not come from a WAL record.
const NO_SEQ: u64 = u64::MAX;

fn buffer_rows<T: Row>(buffers: &mut BTreeMap<i64, Buffer<T>>, rows: Vec<T>, seq: u64, now: Instant) {
    for row in rows {
        let day = utc_day(row.partition_time());
        let buffer = buffers.entry(day).or_insert_with(|| Buffer { rows: Vec::new(), seqs: Vec::new(), since: now });
        buffer.rows.push(row);
        buffer.seqs.push(seq);
    }
}

fn oldest_seq<T>(buffers: &BTreeMap<i64, Buffer<T>>) -> Option<u64> {
    buffers.values().flat_map(|b| b.seqs.iter().copied()).filter(|s| *s != NO_SEQ).min()
}

impl Output {
    /// Writes out what is `due` from every buffer; emptied buffers are dropped. On an error the
    /// other buffers are still tried, and the first error is returned.
    fn write_buffers<T: Row>(&mut self, buffers: &mut BTreeMap<i64, Buffer<T>>, due: Due, now: Instant) -> Result<()> {
        let mut first_error = None;
        for (&day, buffer) in buffers.iter_mut() {
            if let Err(e) = self.write_due(day, buffer, due, now) {
                self.stats.count_error();
                tracing::error!(error = %e, table = %T::TABLE, rows = buffer.rows.len(), "Parquet write failed; rows kept for retry");
                first_error.get_or_insert(e);
            }
        }
        buffers.retain(|_, b| !b.rows.is_empty());
        first_error.map_or(Ok(()), Err)
    }

    /// Writes whole files of `max_rows_per_file` rows while the buffer has them, then the rest
    /// if `due` says so.
    fn write_due<T: Row>(&mut self, day: i64, buffer: &mut Buffer<T>, due: Due, now: Instant) -> Result<()> {
        let max_rows = self.config.max_rows_per_file;
        while buffer.rows.len() >= max_rows {
            self.write_file(day, buffer, max_rows)?;
        }
        let aged = now.saturating_duration_since(buffer.since) >= self.config.flush_interval();
        if (due == Due::All || (due == Due::Aged && aged)) && !buffer.rows.is_empty() {
            self.write_file(day, buffer, buffer.rows.len())?;
        }
        Ok(())
    }

    /// Writes the oldest `n` rows of `buffer` as one sorted file, then drops them from the
    /// buffer. On an error the buffer is unchanged.
    fn write_file<T: Row>(&mut self, day: i64, buffer: &mut Buffer<T>, n: usize) -> Result<()> {
        let mut view: Vec<&T> = buffer.rows[..n].iter().collect();
        view.sort_by(|a, b| T::file_order(a, b)); // stable: ties keep arrival order
        let batch = T::to_batch(&view)?;
        drop(view);
        let dir = partition_dir(&self.config.data_dir, T::TABLE, &format_day(day));
        create_dir_durable(&dir)?;
        let now_micros = SystemClock.now_micros();
        let name = self.namer.next_name(now_micros);
        let props = match T::TABLE {
            Table::Vitals => self.vitals_props.clone(),
            Table::DeadLetters => self.dead_letter_props.clone(),
        };
        let written = write_atomically(&dir, &name, &batch, T::TABLE, props)?;
        self.stats.count_file(T::TABLE, n, written.bytes, now_micros);
        tracing::debug!(table = %T::TABLE, rows = n, bytes = written.bytes, path = %written.path.display(), "Wrote Parquet file");
        buffer.rows.drain(..n);
        buffer.seqs.drain(..n.min(buffer.seqs.len()));
        Ok(())
    }
}

impl Sink for ParquetStore {
    /// Buffers the batch, then writes any buffer that reached `max_rows_per_file`. On an error
    /// the batch is buffered all the same and the failed files are retried later.
    fn write(&mut self, batch: StoreBatch) -> Result<(), SinkError> {
        self.write_sequenced(batch, None)
    }

    /// As `write`, remembering `oldest_seq` for each row until its file is durable.
    fn write_sequenced(&mut self, batch: StoreBatch, oldest_seq: Option<u64>) -> Result<(), SinkError> {
        let now = Instant::now();
        let seq = oldest_seq.unwrap_or(NO_SEQ);
        buffer_rows(&mut self.vitals, batch.observations, seq, now);
        buffer_rows(&mut self.dead_letters, batch.dead_letters, seq, now);
        Ok(self.write_out(Due::Full)?)
    }

    fn oldest_buffered_seq(&self) -> Option<u64> {
        [oldest_seq(&self.vitals), oldest_seq(&self.dead_letters)].into_iter().flatten().min()
    }

    /// Writes every buffer whose oldest row has waited `flush_interval_ms`, and any full one.
    fn tick(&mut self) -> Result<(), SinkError> {
        Ok(self.write_out(Due::Aged)?)
    }

    /// Writes every buffer. When this returns `Ok`, every row given to the store is in a
    /// durable, finalised file and visible to queries.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.write_out(Due::All)?)
    }
}

impl Drop for ParquetStore {
    /// A last attempt to write what is still buffered (the pipeline flushes before dropping;
    /// this covers other owners). Failures are logged: the rows are lost.
    fn drop(&mut self) {
        let rows = self.buffered_rows();
        if rows > 0
            && let Err(e) = self.write_out(Due::All)
        {
            tracing::error!(error = %e, rows = self.buffered_rows(), "Parquet store dropped with unwritten rows");
        }
    }
}
