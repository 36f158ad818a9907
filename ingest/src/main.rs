//! The `wardstream` command: `demo`, `run`, `query`, `quality`, `compact` and `config example`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use wardstream_ingest::config::{Config, EXAMPLE};
use wardstream_ingest::demo::{self, DemoOptions};
use wardstream_ingest::quality::{self, ReportFormat};
use wardstream_ingest::{Service, query};
use wardstream_pipeline::{Clock, SystemClock};
use wardstream_storage::OutputFormat;

/// wardstream: bedside device readings → the right patient → Parquet you can query.
#[derive(Debug, Parser)]
#[command(name = "wardstream", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole system on this machine: an embedded MQTT broker, a simulated ward
    /// replaying real ICU numerics, ingestion into Parquet.
    Demo {
        /// Data directory for the tables.
        #[arg(long = "data", default_value = "./wardstream-data")]
        data_dir: PathBuf,
        /// Beds (bedside monitors) in the simulated ward (1 to 100).
        #[arg(long, default_value_t = 16)]
        beds: usize,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<f64>,
        /// Milliseconds between two readings of one monitor.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Address of the HTTP API (timelines, FHIR, live stream, wards, devices).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: String,
    },
    /// Run the service with a configuration file until SIGINT or SIGTERM.
    Run {
        /// The TOML configuration (see `wardstream config example`).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run one SQL statement over the tables `vitals` and `dead_letters`.
    Query {
        /// Data directory holding the tables.
        #[arg(long = "data", default_value = "./wardstream-data")]
        data_dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// The SQL statement.
        sql: String,
        #[command(flatten)]
        privacy: query::DeidentifyArgs,
    },
    /// Defect report: valid, flagged and rejected readings per device and per metric, with
    /// the defect rate.
    Quality {
        /// Data directory holding the tables.
        #[arg(long = "data", default_value = "./wardstream-data")]
        data_dir: PathBuf,
        /// Only readings received at or after this time: RFC 3339 (`2026-11-22T08:00:00Z`) or a
        /// duration back from now (`90s`, `30m`, `24h`, `7d`).
        #[arg(long)]
        since: Option<String>,
        /// Output format: bordered tables, or one JSON document.
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },
    /// Merge each partition's small Parquet files into large sorted ones (past UTC days only,
    /// unless `--date` names one or `--include-today`). Safe while the service runs.
    Compact {
        /// Data directory holding the tables.
        #[arg(long = "data", visible_alias = "data-dir", default_value = "./wardstream-data")]
        data_dir: PathBuf,
        /// Only this table: `vitals` or `dead_letters` (default both).
        #[arg(long)]
        table: Option<String>,
        /// Only this partition, `YYYY-MM-DD` (today's included).
        #[arg(long)]
        date: Option<String>,
        /// Compact a partition once it holds this many small files (at least 2).
        #[arg(long, default_value_t = 8)]
        min_files: usize,
        /// Also compact today's partition and later ones.
        #[arg(long)]
        include_today: bool,
    },
    /// The audit trail: `verify` checks its hash chain.
    Audit {
        #[command(subcommand)]
        command: wardstream_ingest::audit::cli::AuditCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

impl From<Format> for OutputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => OutputFormat::Table,
            Format::Csv => OutputFormat::Csv,
            Format::Json => OutputFormat::Json,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo { data_dir, beds, duration, interval_ms, http } => {
            let duration = duration.map(Duration::try_from_secs_f64).transpose().context("--duration")?;
            let options =
                DemoOptions { data_dir, beds, duration, interval: Duration::from_millis(interval_ms.max(1)), http };
            let outcome = demo::run(options).await?;
            Ok(if outcome.is_exact() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Run { config } => {
            let config = Config::load(&config)?;
            let service = Service::start(&config).await?;
            wait_for_signal().await?;
            tracing::info!("signal received: stopping and flushing");
            let stats = service.shutdown().await?;
            tracing::info!(
                readings = stats.pipeline.readings_received,
                stored = stats.storage.vitals_rows_written,
                dead_letters = stats.pipeline.dead_letters,
                "stopped"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Query { data_dir, format, sql, privacy } => {
            print!("{}", query::run_with(&data_dir, &sql, format.into(), &privacy).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Quality { data_dir, since, format } => {
            let since = since.map(|s| quality::parse_since(&s, SystemClock.now_micros())).transpose()?;
            print!("{}", quality::run(&data_dir, since, format).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Compact { data_dir, table, date, min_files, include_today } => {
            let table = table.as_deref().map(wardstream_ingest::compaction_task::parse_table).transpose()?;
            let config = wardstream_storage::compaction::CompactionConfig {
                min_files,
                include_today,
                ..wardstream_storage::compaction::CompactionConfig::default()
            };
            let out = tokio::task::spawn_blocking(move || {
                wardstream_ingest::compaction_task::run_cli(&data_dir, table, date.as_deref(), config)
            })
            .await
            .context("compaction task")??;
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command } => wardstream_ingest::audit::cli::run(command),
        Command::Config { command: ConfigCommand::Example } => {
            print!("{EXAMPLE}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("SIGINT handler")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Logs to stderr; `RUST_LOG` overrides the default: info, quieter for the libraries. The
/// embedded demo broker (rumqttd) is silenced: it logs ERROR for every client that disconnects.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=off,rumqttc=warn,datafusion=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
