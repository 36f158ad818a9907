//! [`run`]: the Modbus driver's entry point. It checks the configuration, groups devices into
//! buses (one per TCP host:port, one per serial port), runs a [`Bus`] task for each and waits
//! for all of them to stop. Readings go through a [`Feed`]: straight into the pipeline, or
//! through the write-ahead log first (Modbus has nothing to acknowledge, but its readings are
//! as durable as any other driver's).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span};
use wardstream_pipeline::{Clock, Feed, FeedError, IngestBatch};

use super::bus::Bus;
use super::link::Endpoint;
use super::poller::DevicePoller;
use super::slot::Slot;
use super::{Error, ModbusConfig, ModbusStats};

/// Polls every configured device until `shutdown` turns `true` (or its sender is dropped).
///
/// - Devices that share a TCP host:port share one connection, and devices on one serial port
///   share the bus; each connection is one task, so a failing TCP peer never delays another.
///   On a shared connection requests are serialised, earliest due first (see `bus`).
/// - Readings go to `feed` (an [`Inlet`](wardstream_pipeline::Inlet) converts into a direct
///   feed) in one batch per poll and device; a full pipeline blocks the bus that is delivering
///   (back-pressure) and no other. A batch the write-ahead log refuses ([`FeedError::Log`]) is
///   kept and retried with backoff (100 ms doubling, at most 5 s), counted per device as
///   `feed_failures`; the bus polls nothing meanwhile. `clock` stamps device and receive times;
///   `stats` gets one entry per device before the first poll.
/// - On shutdown, every bus delivers what its polls in progress had read, then returns `Ok`.
///
/// Errors: [`Error::InvalidConfig`] before anything starts; [`Error::PipelineClosed`] when the
/// pipeline shut down before the driver; [`Error::Undelivered`] when shutdown came while the
/// log was refusing a batch (the other buses are stopped too).
pub async fn run(
    config: ModbusConfig,
    feed: impl Into<Feed>,
    clock: Arc<dyn Clock>,
    stats: Arc<ModbusStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let feed = feed.into();
    let buses = buses(&config, &feed, &clock, &stats)?;
    let mut tasks = JoinSet::new();
    for bus in buses {
        let span = info_span!("modbus_bus", bus = %bus.name);
        tasks.spawn(bus.run(shutdown.clone()).instrument(span));
    }
    info!(buses = tasks.len(), devices = config.devices.len(), "Modbus driver started");
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|e| Err(Error::TaskFailed(e.to_string())));
        if result.is_ok() && outcome.is_err() {
            result = outcome;
            tasks.abort_all();
        }
    }
    info!("Modbus driver stopped");
    result
}

/// The validated configuration as buses, in transport order.
fn buses(config: &ModbusConfig, feed: &Feed, clock: &Arc<dyn Clock>, stats: &ModbusStats) -> Result<Vec<Bus>, Error> {
    config.validate()?;
    let mut buses: BTreeMap<String, Bus> = BTreeMap::new();
    for device in &config.devices {
        let model = config.model(&device.model).ok_or_else(|| Error::InvalidConfig {
            field: "model".into(),
            message: format!("no model is named {:?}", device.model),
        })?;
        let name = device.transport.describe();
        let slot = Slot::new(DevicePoller::new(device, model), device, stats.device(&device.device_id));
        buses
            .entry(name.clone())
            .or_insert_with(|| Bus {
                endpoint: Endpoint::new(&device.transport),
                name,
                slots: Vec::new(),
                feed: feed.clone(),
                clock: Arc::clone(clock),
            })
            .slots
            .push(slot);
    }
    Ok(buses.into_values().collect())
}

/// Resolves once `shutdown` holds `true` or its sender is gone.
pub(crate) async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Hands a batch to the feed, blocking while the pipeline queue is full. On a multi-threaded
/// runtime the wait happens inside `block_in_place` so the runtime's other tasks keep running.
/// The batch comes back with the error when the feed refuses it.
pub(crate) fn submit_blocking(feed: &Feed, batch: IngestBatch) -> Result<(), (FeedError, IngestBatch)> {
    let batch = match feed {
        Feed::Direct(inlet) => match inlet.try_send(batch) {
            Ok(()) => return Ok(()),
            Err(batch) => batch,
        },
        Feed::Journaled(_) => batch,
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| matches!(h.runtime_flavor(), tokio::runtime::RuntimeFlavor::MultiThread));
    let submitted = if multi_thread { tokio::task::block_in_place(|| feed.submit(batch)) } else { feed.submit(batch) };
    submitted.map(|_seq| ())
}
