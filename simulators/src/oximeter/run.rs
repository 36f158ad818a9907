//! [`run_oximeter`]: writes an [`OximeterScript`] to a serial port or pseudo-terminal at a
//! fixed rate, with tokio-serial, until the run's line count is reached or it is told to stop.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_serial::{SerialPort, SerialPortBuilderExt};

use super::script::{OximeterReport, OximeterScript, ScriptConfig};

/// How long the end of a run waits for the port to send what was written.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A simulated oximeter on a port.
#[derive(Debug, Clone, PartialEq)]
pub struct OximeterConfig {
    /// The port to write to (`/dev/ttyUSB1`, or one end of a socat pty pair).
    pub port: String,
    /// Line speed (Masimo ASCII 1: 9600 8N1).
    pub baud_rate: u32,
    /// Lines a second (a real device: 1). The device clock still advances 1 s per line.
    pub rate_hz: f64,
    /// What to write: start time, serial number, first frame, line count, faults.
    pub script: ScriptConfig,
}

/// Opens `config.port` (9600 8N1 by default, no flow control) and writes one line per tick,
/// returning the report once `config.script.count` lines are written, or when `stop` turns
/// `true` or its sender is dropped (never, for `watch::channel(false).1` kept alive).
///
/// Errors: the port cannot be opened or written, the rate is not positive.
pub async fn run_oximeter(config: OximeterConfig, mut stop: watch::Receiver<bool>) -> Result<OximeterReport> {
    anyhow::ensure!(config.rate_hz.is_finite() && config.rate_hz > 0.0, "the rate must be above 0 Hz");
    let mut port = tokio_serial::new(&config.port, config.baud_rate)
        .open_native_async()
        .with_context(|| format!("cannot open the serial port {}", config.port))?;
    // Several simulators may share a machine; the receiver, not this writer, needs exclusivity.
    port.set_exclusive(false).context("cannot share the port")?;
    let mut script = OximeterScript::new(config.script.clone())?;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / config.rate_hz));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while !script.finished() {
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
            _ = ticks.tick() => {}
        }
        let chunk = script.next_chunk();
        port.write_all(&chunk).await.with_context(|| format!("cannot write to {}", config.port))?;
    }
    port.flush().await.context("cannot flush the port")?;
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while port.bytes_to_write().unwrap_or(0) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(script.report())
}
