//! `wardstream query`: one SQL statement over the tables of a data directory, printed as a
//! table, CSV or newline-delimited JSON.

use std::path::Path;

use wardstream_storage::{OutputFormat, QuerySession, format_batches};

/// Runs `sql` over the tables in `data_dir` and returns the formatted result.
pub async fn run(data_dir: &Path, sql: &str, format: OutputFormat) -> anyhow::Result<String> {
    anyhow::ensure!(data_dir.is_dir(), "no data directory at {}", data_dir.display());
    let session = QuerySession::open(data_dir)?;
    let batches = session.sql(sql).await?;
    Ok(format_batches(&batches, format)?)
}
