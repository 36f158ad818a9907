//! The load driver: the child process that runs the publishers and the plain (ceiling)
//! subscriber, so that wardstream's process CPU and memory are its own.
//!
//! Protocol with the parent ([`super::harness`]), over the child's stdin and stdout:
//! the parent starts `load __driver '<DriverSpec JSON>'`; the child connects every publisher
//! and subscribes the ceiling subscriber, then prints `READY`; the parent answers with the
//! wall-clock start time (µs) on one line; the child publishes from then for the spec's seconds,
//! waits for the PUBACKs and for the ceiling subscriber to receive as many messages, and prints
//! one line of [`DriverReport`] JSON.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

use super::ceiling::{Ceiling, CeilingCount};
use super::options::Rate;
use super::procstat::{Process, cpu_seconds};
use super::publisher::Publisher;
use super::schedule::{MICROS, Schedule};

/// The line the driver prints once connected.
pub const READY: &str = "READY";

/// What the driver is to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverSpec {
    /// The broker on 127.0.0.1.
    pub broker_port: u16,
    /// Simulated devices.
    pub devices: u32,
    /// Readings per pack.
    pub readings_per_pack: u8,
    /// Target rate or flat out.
    pub rate: Rate,
    /// Publishing time, s.
    pub seconds: u32,
    /// Publisher connections.
    pub connections: u16,
    /// Longest wait for PUBACKs and for the ceiling subscriber after publishing, s.
    pub drain_timeout_s: u64,
}

/// What the driver did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DriverReport {
    /// Messages (packs) published.
    pub messages_published: u64,
    /// PUBACKs received for them.
    pub messages_acked: u64,
    /// Wall-clock µs of the first and of the last publish.
    pub first_publish_us: i64,
    /// See `first_publish_us`.
    pub last_publish_us: i64,
    /// Publisher connection errors.
    pub publisher_errors: u64,
    /// What the ceiling subscriber received.
    pub ceiling: CeilingCount,
    /// CPU seconds the driver process used (publishers and ceiling subscriber together).
    pub cpu_seconds: f64,
}

/// Runs the driver side of a run (see the module docs). Call inside a multi-threaded runtime.
pub async fn run_driver(spec: DriverSpec) -> anyhow::Result<()> {
    let ceiling = Ceiling::start(spec.broker_port).await?;
    let mut publishers = Vec::new();
    for index in 0..spec.connections {
        publishers.push(Publisher::connect(index, spec.broker_port).await?);
    }
    say(READY)?;
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .context("the stdin task failed")?
    .context("reading the start time")?;
    let start_us: i64 = line.trim().parse().with_context(|| format!("start time {:?}", line.trim()))?;
    let schedule = Schedule::new(start_us, spec.devices, spec.readings_per_pack, spec.rate);
    let end_us = start_us + i64::from(spec.seconds) * MICROS;
    let drain = Duration::from_secs(spec.drain_timeout_s);

    let counters: Vec<_> = publishers.iter().map(Publisher::counters).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for publisher in publishers {
        let rpp = usize::from(spec.readings_per_pack);
        tasks.spawn(publisher.run(schedule, spec.connections, rpp, end_us, drain));
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a publisher task failed")??;
    }
    let sum = |f: &dyn Fn(&super::publisher::PublisherCounters) -> u64| counters.iter().map(|c| f(c)).sum::<u64>();
    let published = sum(&|c| c.published.load(Ordering::Relaxed));
    let ceiling = ceiling.finish(published, drain).await;
    let firsts = counters.iter().map(|c| c.first_us.load(Ordering::Relaxed)).filter(|t| *t > 0);
    let report = DriverReport {
        messages_published: published,
        messages_acked: sum(&|c| c.acked.load(Ordering::Relaxed)),
        first_publish_us: firsts.min().unwrap_or(0),
        last_publish_us: counters.iter().map(|c| c.last_us.load(Ordering::Relaxed)).max().unwrap_or(0),
        publisher_errors: sum(&|c| c.errors.load(Ordering::Relaxed)),
        ceiling,
        cpu_seconds: cpu_seconds(Process::Current)?,
    };
    say(&serde_json::to_string(&report)?)
}

/// Writes one line to the parent and flushes it.
fn say(line: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush().context("writing to the parent")
}

/// The driver's arguments after `__driver`.
pub fn parse_spec(json: &str) -> anyhow::Result<DriverSpec> {
    serde_json::from_str(json).context("the driver spec is not valid JSON")
}
