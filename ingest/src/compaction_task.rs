//! Compaction in the service and on the command line.
//!
//! [`spawn_compaction`]: the service's periodic task (`[compaction]`): every `interval_ms` it runs
//! [`Compactor::compact_all`] on a blocking thread (past UTC days only unless `include_today`),
//! logs each partition compacted and each failure; the counters feed `/metrics`. A run that finds
//! another compaction under way (`wardstream compact` from a shell) skips that round.
//!
//! [`run_cli`]: `wardstream compact`, one run over the chosen table(s) and date, with a line per
//! partition compacted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardstream_pipeline::{Clock, SystemClock};
use wardstream_storage::Table;
use wardstream_storage::compaction::{CompactionConfig, CompactionError, CompactionReport, CompactionRun, Compactor};

use crate::settings::CompactionSettings;

/// Starts the periodic compaction task; returns it with the compactor (whose stats feed
/// `/metrics`).
pub fn spawn_compaction(
    data_dir: PathBuf,
    settings: &CompactionSettings,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<(JoinHandle<()>, Arc<Compactor>)> {
    let compactor = Arc::new(Compactor::new(&data_dir, settings.config()).context("compaction configuration")?);
    let every = Duration::from_millis(settings.interval_ms.max(10));
    let task_compactor = Arc::clone(&compactor);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.changed() => return,
                () = tokio::time::sleep(every) => {}
            }
            if *stopped.borrow() {
                return;
            }
            let compactor = Arc::clone(&task_compactor);
            let now = SystemClock.now_micros();
            match tokio::task::spawn_blocking(move || compactor.compact_all(now)).await {
                Ok(Ok(run)) => log_run(&run),
                Ok(Err(CompactionError::Busy { .. })) => {
                    tracing::info!("another compaction is running on the data directory; skipping this round");
                }
                Ok(Err(error)) => tracing::error!(%error, "compaction run failed; retrying at the next interval"),
                Err(error) => tracing::error!(%error, "compaction task failed"),
            }
        }
    });
    Ok((task, compactor))
}

fn log_run(run: &CompactionRun) {
    for report in &run.compacted {
        tracing::info!(
            table = %report.table,
            date = %report.date,
            files_in = report.files_in,
            files_out = report.files_out,
            rows = report.rows,
            bytes_in = report.bytes_in,
            bytes_out = report.bytes_out,
            "partition compacted"
        );
    }
    for failure in &run.failed {
        tracing::error!(table = %failure.table, date = %failure.date, error = %failure.error, "partition not compacted");
    }
}

/// Parses a table name as `--table` takes it.
pub fn parse_table(name: &str) -> anyhow::Result<Table> {
    Table::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .with_context(|| format!("unknown table {name:?} (expected vitals or dead_letters)"))
}

/// `wardstream compact`: compacts `date` (every qualifying partition when `None`; today's only
/// with `config.include_today`) of `table` (both when `None`), and describes what it did.
/// Fails if a partition failed or another compaction runs.
pub fn run_cli(
    data_dir: &Path,
    table: Option<Table>,
    date: Option<&str>,
    config: CompactionConfig,
) -> anyhow::Result<String> {
    anyhow::ensure!(data_dir.is_dir(), "no data directory at {}", data_dir.display());
    let compactor = Compactor::new(data_dir, config)?;
    let tables: Vec<Table> = table.map_or(Table::ALL.to_vec(), |t| vec![t]);
    let mut out = String::new();
    let mut failed = Vec::new();
    let compacted: Vec<CompactionReport> = match date {
        Some(date) => {
            let mut done = Vec::new();
            for table in tables {
                match compactor.compact_partition(table, date) {
                    Ok(report) if report.merges > 0 => done.push(report),
                    Ok(_) => {}
                    Err(e @ CompactionError::Busy { .. }) => return Err(e.into()),
                    Err(e) => failed.push(format!("{table} {date}: {e}")),
                }
            }
            done
        }
        None => {
            let run = compactor.compact_tables(&tables, SystemClock.now_micros())?;
            failed.extend(run.failed.iter().map(|f| format!("{} {}: {}", f.table, f.date, f.error)));
            run.compacted
        }
    };
    for r in &compacted {
        out.push_str(&format!(
            "{} {}: {} files -> {} ({} rows, {} -> {} bytes)",
            r.table, r.date, r.files_in, r.files_out, r.rows, r.bytes_in, r.bytes_out
        ));
        if r.kept_other_order > 0 {
            out.push_str(&format!("; {} files sorted by an older key left as they are", r.kept_other_order));
        }
        out.push('\n');
    }
    let s = compactor.stats().snapshot();
    out.push_str(&format!(
        "compacted {} partitions: {} files merged into {}, {} rows\n",
        s.partitions_compacted, s.files_merged, s.files_written, s.rows_merged
    ));
    anyhow::ensure!(failed.is_empty(), "{out}failed: {}", failed.join("; "));
    Ok(out)
}
