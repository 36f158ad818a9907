//! PCD-01 over a serial line (`[[serial]] codec = "pcd01-mllp"`): the same handler as the TCP
//! gateway listener ([`Pcd01Handler`]: PID-3 hints checked against the association store, `AA`
//! only once the readings are in the fsynced WAL), run on the port by
//! [`wardstream_protocols::serial::run_mllp_port`], which writes each ACK back on the line.
//!
//! [`CountingHandler`] wraps the handler to record, per port, the readings stored and the
//! devices they came from (the port's [`SerialStats`], shown as the devices' `driver` state).

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardstream_pipeline::{Clock, Feed, LocalClock};
use wardstream_protocols::hl7::{Message, pcd01};
use wardstream_protocols::mllp::{AckCode, MllpHandler, Reply};
use wardstream_protocols::serial::{SerialConfig, SerialStats, run_mllp_port};

use crate::associations::Associations;
use crate::pcd01_listener::{Pcd01Handler, Pcd01Stats};

/// The PCD-01 handler of one port, counting into the port's stats (see the module docs).
pub struct CountingHandler {
    inner: Pcd01Handler,
    handled: Arc<Pcd01Stats>,
    port: Arc<SerialStats>,
    clock: Arc<dyn Clock>,
    zone: Mutex<LocalClock>,
}

impl MllpHandler for CountingHandler {
    async fn handle(&self, msg: Message, raw: Arc<[u8]>, peer: SocketAddr) -> Reply {
        let now = self.clock.now_micros();
        let devices: Vec<String> = {
            let mut zone = self.zone.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let decoded = pcd01::decode(&msg, Arc::clone(&raw), now, &mut zone);
            let mut ids: Vec<String> = decoded.batch.readings.iter().map(|r| r.device_id.to_string()).collect();
            ids.sort();
            ids.dedup();
            ids
        };
        let before = self.handled.readings.load(Relaxed);
        let reply = self.inner.handle(msg, raw, peer).await;
        if reply.code == AckCode::Accept {
            let stored = self.handled.readings.load(Relaxed).saturating_sub(before);
            self.port.record_readings(stored, devices.iter().map(String::as_str), now);
        }
        reply
    }
}

/// Starts the port's task.
pub fn spawn(
    config: &SerialConfig,
    feed: Feed,
    associations: Arc<Associations>,
    clock: Arc<dyn Clock>,
    stats: Arc<SerialStats>,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<Result<(), String>>> {
    let zone = |what: &str| LocalClock::new(&config.time_zone).with_context(|| format!("serial {what} time_zone"));
    let handled = Arc::new(Pcd01Stats::default());
    let inner = Pcd01Handler::new(feed, associations, Arc::clone(&clock), zone(&config.path)?, Arc::clone(&handled));
    let handler = Arc::new(CountingHandler {
        inner,
        handled,
        port: Arc::clone(&stats),
        clock,
        zone: Mutex::new(zone(&config.path)?),
    });
    let config = config.clone();
    Ok(tokio::spawn(async move { run_mllp_port(config, handler, stats, stopped).await.map_err(|e| e.to_string()) }))
}
