//! `wardstream query`: one SQL statement over the tables of a data directory, printed as a
//! table, CSV or newline-delimited JSON.
//!
//! `vitals` attributes readings to patients exactly as the running service does (see
//! [`crate::sql_view`]): the association log of the data directory (`associations/`) is read
//! into a snapshot first. The log is read from a private copy, so a service writing it at the
//! same time is never disturbed (and a torn last line is never cut from the real file).
//!
//! The audit trail is the table `audit` ([`crate::audit::table`]). With `--deidentified`
//! ([`DeidentifyArgs`]) the statement runs over the de-identified views an analyst gets
//! ([`crate::deid`], through [`crate::sql_api::SqlEngine`]: read-only, no `audit`), with the
//! pseudonym key from `--pseudonym-key-file` or the `[privacy]` section of `--config`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use wardstream_pipeline::association::{AssociationConfig, AssociationHub};
use wardstream_storage::{AssociationLog, OutputFormat, QuerySession, format_batches};

use crate::deid::Deidentifier;
use crate::sql_api::{SqlAccess, SqlEngine, SqlLimits};
use crate::sql_view::register_attribution;

/// `wardstream query`'s de-identification flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeidentifyArgs {
    /// Query the de-identified views analysts get (pseudonymous ids, no free text, no `audit`).
    #[arg(long)]
    pub deidentified: bool,
    /// File holding the pseudonym key (otherwise the `[privacy]` key of `--config`).
    #[arg(long, requires = "deidentified")]
    pub pseudonym_key_file: Option<std::path::PathBuf>,
    /// Shift each patient's times by a keyed number of days (with `--pseudonym-key-file`).
    #[arg(long, requires = "deidentified")]
    pub shift_times: bool,
    /// A service configuration whose `[privacy]` section gives the key.
    #[arg(long, requires = "deidentified")]
    pub config: Option<std::path::PathBuf>,
}

impl DeidentifyArgs {
    /// The de-identifier the flags ask for (`None` without `--deidentified`).
    pub fn deidentifier(&self) -> anyhow::Result<Option<Deidentifier>> {
        if !self.deidentified {
            return Ok(None);
        }
        if let Some(file) = &self.pseudonym_key_file {
            return Ok(Some(Deidentifier::from_key_file(file, self.shift_times)?));
        }
        if let Some(config) = &self.config {
            let config = crate::Config::load(config)?;
            return config
                .privacy
                .deidentifier()?
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("the configuration's [privacy] section names no pseudonym key"));
        }
        anyhow::bail!("--deidentified needs --pseudonym-key-file or --config with a [privacy] key")
    }
}

/// Runs `sql` over the tables in `data_dir` (with `audit`) and returns the formatted result.
pub async fn run(data_dir: &Path, sql: &str, format: OutputFormat) -> anyhow::Result<String> {
    anyhow::ensure!(data_dir.is_dir(), "no data directory at {}", data_dir.display());
    let session = QuerySession::open(data_dir)?;
    let hub = Arc::new(read_associations(&data_dir.join("associations"))?);
    register_attribution(&session, Arc::new(move || hub.snapshot())).await?;
    crate::audit::table::register(session.context(), data_dir)?;
    let batches = session.sql(sql).await?;
    Ok(format_batches(&batches, format)?)
}

/// [`run`], or over the de-identified views when `args` say so.
pub async fn run_with(
    data_dir: &Path,
    sql: &str,
    format: OutputFormat,
    args: &DeidentifyArgs,
) -> anyhow::Result<String> {
    let Some(deid) = args.deidentifier()? else {
        return run(data_dir, sql, format).await;
    };
    anyhow::ensure!(data_dir.is_dir(), "no data directory at {}", data_dir.display());
    let hub = Arc::new(read_associations(&data_dir.join("associations"))?);
    // The operator's own command: no time limit to speak of, memory as the machine allows.
    let limits =
        SqlLimits { timeout: std::time::Duration::from_secs(7 * 24 * 3600), memory_limit_bytes: usize::MAX / 4 };
    let engine = SqlEngine::open(data_dir, Arc::new(move || hub.snapshot()), Some(deid), limits).await?;
    let out = engine.run(SqlAccess::Deidentified, sql).await?;
    Ok(format_batches(&out.batches, format)?)
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
