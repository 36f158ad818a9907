//! `wardstream query`: one SQL statement over the tables of a data directory, printed as a
//! table, CSV or newline-delimited JSON.
//!
//! `vitals` attributes readings to patients exactly as the running service does (see
//! [`crate::sql_view`]): the association log of the data directory (`associations/`) is read
//! into a snapshot first. The log is read from a private copy, so a service writing it at the
//! same time is never disturbed (and a torn last line is never cut from the real file).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use wardstream_pipeline::association::{AssociationConfig, AssociationHub};
use wardstream_storage::{AssociationLog, OutputFormat, QuerySession, format_batches};

use crate::sql_view::register_attribution;

/// Runs `sql` over the tables in `data_dir` and returns the formatted result.
pub async fn run(data_dir: &Path, sql: &str, format: OutputFormat) -> anyhow::Result<String> {
    anyhow::ensure!(data_dir.is_dir(), "no data directory at {}", data_dir.display());
    let session = QuerySession::open(data_dir)?;
    let hub = Arc::new(read_associations(&data_dir.join("associations"))?);
    register_attribution(&session, Arc::new(move || hub.snapshot())).await?;
    let batches = session.sql(sql).await?;
    Ok(format_batches(&batches, format)?)
}

/// The association history of a log directory (empty when there is none), read from a copy.
pub fn read_associations(dir: &Path) -> anyhow::Result<AssociationHub> {
    let hub = AssociationHub::new(AssociationConfig::default());
    let file = dir.join(AssociationLog::FILE_NAME);
    if !file.exists() {
        return Ok(hub);
    }
    let copy = tempfile::tempdir().context("creating a temporary directory")?;
    std::fs::copy(&file, copy.path().join(AssociationLog::FILE_NAME))
        .with_context(|| format!("reading {}", file.display()))?;
    let (_log, replay) = AssociationLog::open(copy.path()).context("reading the association log")?;
    hub.replay(replay.events);
    Ok(hub)
}
