//! # wardstream-storage: Parquet tables and SQL over them
//!
//! Where normalised readings end up, and how analysts read them back.
//!
//! - [`schema`]: the Arrow schemas of the two tables, `vitals` (one row per
//!   [`Observation`](wardstream_pipeline::Observation)) and `dead_letters` (one row per
//!   [`DeadLetter`](wardstream_pipeline::DeadLetter)), both hive-partitioned by UTC date
//!   (`date=YYYY-MM-DD`, a Utf8 partition column). The column tables live there.
//! - [`batch`]: domain rows → Arrow [`RecordBatch`](arrow::array::RecordBatch)es.
//! - [`ParquetStore`]: the pipeline's [`Sink`](wardstream_pipeline::Sink). It buffers rows
//!   per (table, date) and writes ZSTD Parquet files, sorted, atomically (temp file, fsync,
//!   rename, directory fsync) when a buffer is full, when its oldest row has waited
//!   [`StorageConfig::flush_interval_ms`], and on flush. [`StorageStats`] counts what it did.
//! - [`QuerySession`]: a DataFusion session with both tables registered over the same
//!   directories; long-lived sessions see new files (the listing cache is off).
//!   [`format_batches`] prints results as a table, CSV or JSON lines.
//! - [`Wal`] ([`wal`]): the write-ahead log. Drivers append each received batch and
//!   acknowledge the sender only once it is durable (group-committed fsync); replayed after a
//!   crash, checkpointed once Parquet files hold the records.
//! - [`Compactor`] ([`compaction`]): merges a partition's small files into large sorted ones
//!   with bounded memory and swaps them in atomically for [`QuerySession`] queries (a read
//!   lock), crash-safely (an intent file that [`ParquetStore::open`] recovers from).
//! - [`QualityReport`]: the defect report (valid, flagged and rejected readings per device and
//!   per metric, and the defect rate), computed with SQL over a [`QuerySession`].
//!
//! ```text
//! pipeline ─▶ ParquetStore ─▶ <data_dir>/vitals/date=2024-05-01/part-….parquet ◀─ QuerySession ◀─ SQL
//!                           └▶ <data_dir>/dead_letters/date=…/part-….parquet    ◀─┘
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use wardstream_pipeline::{Catalogue, Observation, Sink, Source, Flags, StoreBatch};
//! use wardstream_storage::{OutputFormat, ParquetStore, QuerySession, StorageConfig, format_batches};
//!
//! let dir = tempfile::tempdir()?;
//! let heart_rate = Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap());
//! let reading = |device: &str, time: i64, value: f64| Observation {
//!     time, device_time: time, received_at: time + 1_000,
//!     device_id: Arc::from(device), metric: Arc::clone(&heart_rate), value,
//!     source_name: "HR".into(), source_value: value, source_unit: Some("bpm".into()),
//!     flags: Flags::NONE, patient_id: None, encounter_id: None, ward: None, bed: None,
//!     source: Source::Mqtt,
//! };
//!
//! let mut store = ParquetStore::open(StorageConfig::test_config(dir.path()))?;
//! let observations = vec![reading("m-1", 1_714_521_600_000_000, 72.0), reading("m-2", 1_714_521_601_000_000, 80.0)];
//! store.write(StoreBatch { observations, dead_letters: vec![] })?;
//! store.flush()?; // now durable and visible
//!
//! let session = QuerySession::open(dir.path())?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! let batches = runtime.block_on(session.sql("SELECT date, device_id, value, unit FROM vitals ORDER BY device_id"))?;
//! assert_eq!(
//!     format_batches(&batches, OutputFormat::Csv)?,
//!     "date,device_id,value,unit\n2024-05-01,m-1,72.0,/min\n2024-05-01,m-2,80.0,/min\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod association_log;
pub mod batch;
pub mod compaction;
pub mod config;
pub mod date_trunc;
pub mod error;
pub mod file;
pub mod file_writer;
pub mod format;
pub mod layout;
pub mod quality;
pub mod query;
pub mod retention;
pub mod schema;
pub mod stats;
pub mod wal;
pub mod writer;

pub use association_log::{AssociationLog, LogError, LogReplay};
pub use batch::{dead_letters_batch, vitals_batch};
pub use compaction::{
    CompactionConfig, CompactionError, CompactionReport, CompactionStats, CompactionStatsSnapshot, Compactor,
    compact_all, compact_partition,
};
pub use config::StorageConfig;
pub use error::{Error, Result};
pub use format::{OutputFormat, format_batches};
pub use quality::{QualityCounts, QualityGroup, QualityReport};
pub use query::QuerySession;
pub use schema::{PARTITION_COLUMN, Table, dead_letters_schema, vitals_schema};
pub use stats::{StorageStats, StorageStatsSnapshot};
pub use wal::{Durability, Lsn, Replay, ReplayReport, Wal, WalConfig, WalError, WalEvent, WalRecord, WalStats};
pub use writer::ParquetStore;
