//! A simulated ward of bedside monitors publishing SenML JSON over MQTT.
//!
//! Each bed of a [`WardConfig`] is a monitor `monitor-<ward>-<bed:02>` with its own MQTT 3.1.1
//! connection (client id = monitor id). It replays the numerics (by default the embedded
//! MIMIC-II record) from its own offset, one frame per interval, publishing one SenML pack of
//! the frame's present values to `<prefix>/<ward>/<monitor>/vitals`.
//!
//! [`run_ward`] runs until the configured frames are done or a shutdown signal; [`spawn_ward`]
//! runs it in the background behind a [`WardHandle`] that reports live counts and stops it.
//! Either way the final [`WardReport`] counts exactly the messages and readings handed to MQTT
//! and those the broker acknowledged; a [`Recorder`] in the config also lists them.
//!
//! Delivery is at least once: unacknowledged messages are sent again after a reconnect (each
//! counted once as published; see [`BedReport::retransmissions`]).

mod backoff;
mod bed;
mod config;
mod outbox;
mod recorder;
mod report;

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::info;

pub use config::{MAX_BEDS, WardConfig};
pub use recorder::{PublishedReading, Recorder};
pub use report::{BedReport, WardReport};

use crate::mimic::mimic2_numerics;
use bed::{Bed, Replay, run_bed};

/// Runs a ward until every bed has published `config.frames` frames, or until `shutdown`
/// becomes true (a dropped sender never stops it). Then each bed waits up to
/// `config.drain_timeout` for its outstanding acknowledgements and disconnects.
///
/// Errors only for an invalid config or numerics; an unreachable broker is retried with
/// backoff and shows in the report as messages not acknowledged.
pub async fn run_ward(config: WardConfig, shutdown: watch::Receiver<bool>) -> Result<WardReport> {
    Ward::new(config)?.run(shutdown).await
}

/// Starts a ward in the background (inside a Tokio runtime). Dropping the handle stops the
/// ward as [`WardHandle::stop`] does, without waiting for it.
pub fn spawn_ward(config: WardConfig) -> Result<WardHandle> {
    let runtime = tokio::runtime::Handle::try_current().context("spawn_ward needs a Tokio runtime")?;
    let ward = Ward::new(config)?;
    let beds = ward.beds.clone();
    let (stop, shutdown) = watch::channel(false);
    let task = runtime.spawn(ward.run(shutdown));
    Ok(WardHandle { beds, stop, task })
}

/// A ward running in the background.
#[derive(Debug)]
pub struct WardHandle {
    beds: Vec<Arc<Bed>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<WardReport>>,
}

impl WardHandle {
    /// The counts so far.
    pub fn report(&self) -> WardReport {
        WardReport::from_beds(self.beds.iter().map(|b| b.report()).collect())
    }

    /// True once every bed has finished (its frames done, or stopped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the ward, waits for outstanding acknowledgements (bounded) and returns the report.
    pub async fn stop(mut self) -> Result<WardReport> {
        self.stop.send_replace(true);
        self.join().await
    }

    /// Waits until every bed has published its frames (forever if `frames` is `None`).
    pub async fn wait(mut self) -> Result<WardReport> {
        self.join().await
    }

    async fn join(&mut self) -> Result<WardReport> {
        (&mut self.task).await.context("ward task failed")?
    }
}

impl Drop for WardHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// A validated config with its beds.
struct Ward {
    config: Arc<WardConfig>,
    replay: Arc<Replay>,
    beds: Vec<Arc<Bed>>,
}

impl Ward {
    fn new(config: WardConfig) -> Result<Ward> {
        config.validate()?;
        let numerics = match &config.numerics {
            Some(numerics) => numerics.clone(),
            None => Arc::new(mimic2_numerics()?),
        };
        ensure!(numerics.frame_count() > 0, "the numerics to replay have no frames");
        let replay = Arc::new(Replay::new(numerics));
        let beds = (0..config.beds).map(|i| Bed::new(i, &config, replay.frame_count())).collect();
        Ok(Ward { config: Arc::new(config), replay, beds })
    }

    async fn run(self, shutdown: watch::Receiver<bool>) -> Result<WardReport> {
        let c = &self.config;
        info!(ward = %c.ward, beds = c.beds, host = %c.broker_host, port = c.broker_port, "Ward started");
        let mut tasks = JoinSet::new();
        for bed in &self.beds {
            tasks.spawn(run_bed(bed.clone(), self.config.clone(), self.replay.clone(), shutdown.clone()));
        }
        let mut per_bed = Vec::with_capacity(self.beds.len());
        while let Some(result) = tasks.join_next().await {
            per_bed.push(result.context("a bed task failed")?);
        }
        per_bed.sort_by(|a, b| a.monitor_id.cmp(&b.monitor_id));
        let report = WardReport::from_beds(per_bed);
        info!(
            ward = %c.ward,
            messages_published = report.messages_published,
            messages_acked = report.messages_acked,
            readings_acked = report.readings_acked,
            retransmissions = report.retransmissions,
            "Ward stopped"
        );
        Ok(report)
    }
}
