//! `load`: wardstream's end-to-end load harness. Starts a real Mosquitto and wardstream
//! in-process, drives simulated devices from a child process, and prints the figures as JSON on
//! stdout (a summary on stderr). `load --help` lists the options; `scripts/bench-load.sh` runs
//! the scenarios of `BENCHMARKS.md`.
//!
//! Run as `load __driver '<spec>'` it is that child process (see `wardstream_bench::load::driver`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use wardstream_bench::load::child::DRIVER_ARG;
use wardstream_bench::load::{LoadOptions, driver, harness};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some(DRIVER_ARG) {
        run_driver(args.get(2).map(String::as_str).unwrap_or_default())
    } else {
        run_harness(&LoadOptions::parse())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the Tokio runtime")
}

fn run_driver(spec: &str) -> anyhow::Result<()> {
    let spec = driver::parse_spec(spec)?;
    runtime()?.block_on(driver::run_driver(spec))
}

fn run_harness(options: &LoadOptions) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let report = runtime()?.block_on(harness::run(options))?;
    eprint!("{}", report.summary());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
