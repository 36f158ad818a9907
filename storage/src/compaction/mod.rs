//! Compaction: the many small files the writer leaves in a partition (one per flush) are
//! merged into few large ones, sorted for the queries analysts run, and swapped in atomically:
//! a query running meanwhile sees every row exactly once. Memory stays bounded by the batch
//! size, whatever the partition's size.
//!
//! # Sort key
//!
//! Merged files keep the writer's order ([`sort_columns`](crate::file::sort_columns)),
//! recorded as Parquet `sorting_columns`:
//!
//! - `vitals` by (`device_id`, `metric`, `time`): analysts ask for one device's (or bed's,
//!   or patient's, whose devices are few) metric over a time range. After a merge the rows
//!   of one device and metric are contiguous across the whole partition, so row-group and
//!   page statistics on `device_id`/`metric` skip almost everything else; and since one merge
//!   cuts its sorted stream into consecutive files, the files of a merge cover disjoint
//!   `device_id` ranges and whole files are pruned. Day-level time pruning comes from the
//!   `date` partition; within a day, `time` is the last key, so a device's readings are read
//!   in time order (DataFusion skips the sort of `ORDER BY device_id, metric, time`).
//! - `dead_letters` by `received_at`: few, and read by time.
//!
//! Ties keep the order of the input files (older first) and of the rows in each file.
//!
//! # How it fits
//!
//! [`Compactor`] (or [`compact_partition`] / [`compact_all`]) takes the data directory's
//! compaction lock, runs [`recover`] (finishing or undoing a swap a crash interrupted), lists
//! the partition's files once, streams them through a k-way merge
//! ([`merge`] module) into staged hidden files ([`output`]), then swaps ([`swap`]):
//! intent file, exclusive read lock, renames, unlinks, directory fsync.
//! [`QuerySession::sql`](crate::QuerySession::sql) holds the read lock shared for each query
//! ([`lock`]).
//! [`ParquetStore::open`](crate::ParquetStore::open) also runs [`recover`].
//!
//! The writer may keep writing during a compaction, even into the partition compacted: only
//! the files present at the start are merged and deleted. [`compact_all`] still leaves today's
//! (UTC) and later partitions alone unless `include_today` is set, so that files are not
//! rewritten while the day keeps growing.
//!
//! External readers (DuckDB, pyarrow, Spark) do not take the read lock. For the instant of a
//! swap (between its first rename and its last unlink: renames and unlinks in one directory
//! and two fsyncs, milliseconds) a listing they make may hold the old and the new files of
//! the partition (its rows twice), or, since listing a directory that changes is not atomic,
//! miss some of either; and a query that listed the old files just before may fail opening
//! one deleted meanwhile. Re-running the query is correct. Readers that need exactness
//! during compaction go through [`QuerySession`](crate::QuerySession) or take the read lock
//! themselves ([`ReadGuard::shared`]: `flock(2)` shared on the data directory, usable from
//! any language).
//!
//! ```
//! use wardstream_storage::compaction::{CompactionConfig, Compactor};
//! use wardstream_storage::Table;
//!
//! let dir = tempfile::tempdir()?;
//! let compactor = Compactor::new(dir.path(), CompactionConfig::default())?;
//! let report = compactor.compact_partition(Table::Vitals, "2024-05-01")?;
//! assert_eq!((report.files_in, report.files_out), (0, 0), "an empty partition has nothing to merge");
//! assert_eq!(compactor.stats().snapshot().partitions_compacted, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
pub mod error;
pub mod intent;
pub mod lock;
pub mod merge;
pub mod output;
pub mod partition;
pub mod stats;
pub mod swap;

#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod sort_order_tests;
#[cfg(test)]
pub(crate) mod test_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wardstream_pipeline::Micros;
use wardstream_pipeline::time::{format_day, utc_day};

use crate::layout::table_dir;
use crate::schema::{PARTITION_COLUMN, Table};

pub use config::CompactionConfig;
pub use error::{CompactionError, Result};
pub use intent::{INTENT_FILE, RecoveryReport, recover};
pub use lock::{COMPACTION_LOCK_FILE, ReadGuard};
pub use merge::MergeStats;
pub use partition::CompactionReport;
pub use stats::{CompactionStats, CompactionStatsSnapshot};
pub use swap::Step;

use lock::CompactionGuard;
use partition::{compact_partition_locked, is_partition_date};

/// A test hook (see [`Step`]).
type BoxedHook = Box<dyn Fn(Step) -> bool + Send + Sync>;

/// Compacts the partitions of one data directory and counts what it did (see the module
/// docs). Cheap to create; one per service is enough, and its [`stats`](Self::stats) feed
/// `/metrics`.
pub struct Compactor {
    data_dir: PathBuf,
    config: CompactionConfig,
    stats: Arc<CompactionStats>,
    hook: Option<BoxedHook>,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor")
            .field("data_dir", &self.data_dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A partition whose compaction failed in [`Compactor::compact_all`].
#[derive(Debug)]
pub struct PartitionFailure {
    /// The table.
    pub table: Table,
    /// The partition's date.
    pub date: String,
    /// Why (the partition was left consistent).
    pub error: CompactionError,
}

/// What [`Compactor::compact_all`] did.
#[derive(Debug, Default)]
pub struct CompactionRun {
    /// What recovery repaired first.
    pub recovery: RecoveryReport,
    /// The partitions where something was merged.
    pub compacted: Vec<CompactionReport>,
    /// The partitions whose compaction failed (each logged and counted).
    pub failed: Vec<PartitionFailure>,
}

impl Compactor {
    /// A compactor of the tables under `data_dir`; fails if `config` is unusable.
    pub fn new(data_dir: impl AsRef<Path>, config: CompactionConfig) -> Result<Compactor> {
        config.validate()?;
        Ok(Compactor { data_dir: data_dir.as_ref().to_path_buf(), config, stats: Arc::default(), hook: None })
    }

    /// The compactor's counters.
    pub fn stats(&self) -> Arc<CompactionStats> {
        Arc::clone(&self.stats)
    }

    /// The configuration.
    pub fn config(&self) -> &CompactionConfig {
        &self.config
    }

    /// Stops every swap at the first step `hook` returns `true` for, as a crash would.
    #[cfg(test)]
    pub(crate) fn with_hook(mut self, hook: impl Fn(Step) -> bool + Send + Sync + 'static) -> Compactor {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Compacts partition `date` (`YYYY-MM-DD`) of `table`, today's included, if it has at
    /// least `min_files` small files. Fails with [`CompactionError::Busy`] when another
    /// compaction runs on the data directory.
    pub fn compact_partition(&self, table: Table, date: &str) -> Result<CompactionReport> {
        let _guard = CompactionGuard::try_acquire(&self.data_dir)?;
        self.recover_locked()?;
        self.compact_one(table, date)
    }

    /// Compacts every partition of both tables that qualifies, oldest first; today's (UTC,
    /// from `now`) and later ones only with `include_today`. A partition that fails is logged,
    /// counted and skipped.
    pub fn compact_all(&self, now: Micros) -> Result<CompactionRun> {
        self.compact_tables(&Table::ALL, now)
    }

    /// [`compact_all`](Self::compact_all) restricted to `tables`.
    pub fn compact_tables(&self, tables: &[Table], now: Micros) -> Result<CompactionRun> {
        let _guard = CompactionGuard::try_acquire(&self.data_dir)?;
        let recovery = self.recover_locked()?;
        let today = format_day(utc_day(now));
        let mut run = CompactionRun { recovery, ..CompactionRun::default() };
        for &table in tables {
            for date in partition_dates(&self.data_dir, table)? {
                if !self.config.include_today && date >= today {
                    continue;
                }
                match self.compact_one(table, &date) {
                    Ok(report) if report.merges > 0 => run.compacted.push(report),
                    Ok(_) => {}
                    Err(error) => run.failed.push(PartitionFailure { table, date, error }),
                }
            }
        }
        Ok(run)
    }

    fn compact_one(&self, table: Table, date: &str) -> Result<CompactionReport> {
        let hook = |step: Step| self.hook.as_ref().is_some_and(|h| h(step));
        match compact_partition_locked(&self.data_dir, table, date, &self.config, &hook) {
            Ok(report) => {
                self.stats.count(&report);
                Ok(report)
            }
            Err(error) => {
                self.stats.count_error();
                tracing::error!(%error, table = %table, date, "Compaction failed; partition left as it was");
                Err(error)
            }
        }
    }

    fn recover_locked(&self) -> Result<RecoveryReport> {
        let report = intent::recover_locked(&self.data_dir, self.config.swap_timeout())?;
        self.stats.count_recovery(&report);
        Ok(report)
    }
}

/// Compacts one partition with a fresh [`Compactor`] (see [`Compactor::compact_partition`]).
pub fn compact_partition(
    data_dir: &Path,
    table: Table,
    date: &str,
    config: &CompactionConfig,
) -> Result<CompactionReport> {
    Compactor::new(data_dir, config.clone())?.compact_partition(table, date)
}

/// Compacts every qualifying partition with a fresh [`Compactor`] (see
/// [`Compactor::compact_all`]).
pub fn compact_all(data_dir: &Path, config: &CompactionConfig, now: Micros) -> Result<CompactionRun> {
    Compactor::new(data_dir, config.clone())?.compact_all(now)
}

/// The dates of a table's partitions, sorted (directories named `date=YYYY-MM-DD`).
fn partition_dates(data_dir: &Path, table: Table) -> Result<Vec<String>> {
    let root = table_dir(data_dir, table);
    let entries = match fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CompactionError::io(&root, e)),
    };
    let prefix = format!("{PARTITION_COLUMN}=");
    let mut dates = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CompactionError::io(&root, e))?;
        let name = entry.file_name();
        if let Some(date) = name.to_str().and_then(|n| n.strip_prefix(&prefix)).filter(|d| is_partition_date(d)) {
            dates.push(date.to_string());
        }
    }
    dates.sort();
    Ok(dates)
}
