//! [`Bus`]: one task per connection (a TCP host:port, or a serial port shared by its RTU
//! slaves). It polls its devices one request at a time, earliest due first, so a slow or dead
//! slave costs the others at most one timeout per attempt and never stops them being polled.
//!
//! Per device ([`Slot`]): a poll reads every block of its register map into the poll's batch,
//! which goes to the pipeline when the poll completes or is given up. A timeout or bad frame is
//! counted and retried after a backoff (100 ms doubling, at most 5 s) while other devices go
//! first; after `retries` failed attempts the poll is given up (what it read is still
//! delivered) and the device's next poll waits at least the backoff of its consecutive
//! failures. A broken connection is counted, dropped, and reopened with the same backoff.
//! Exceptions are answers: dead letters, never retried.
//!
//! Batches go to the [`Feed`]; one the write-ahead log refuses is kept and retried with the same
//! backoff (counted as the device's `feed_failures`) before anything else is polled: the log
//! failing stalls this bus, never drops what it read.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, error, warn};
use wardstream_pipeline::{Clock, Feed, FeedError, IngestBatch};

use super::link::{Endpoint, Stream};
use super::slot::{Slot, backoff};
use super::stats::ConnectionState;
use super::{BACKOFF_MAX, Error};

/// The devices behind one connection.
pub(crate) struct Bus {
    pub(crate) endpoint: Endpoint,
    pub(crate) name: String,
    pub(crate) slots: Vec<Slot>,
    pub(crate) feed: Feed,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Bus {
    /// Polls until `shutdown` turns `true` (or its sender is dropped). A poll in progress then
    /// still reads its remaining blocks, without retries, so that it is delivered whole; what
    /// any poll had read is delivered before this returns. Errors: the pipeline shut down first,
    /// or shutdown came while the log refused a batch (see `deliver`).
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let mut link: Option<Box<dyn Stream>> = None;
        let mut failures = 0;
        let mut stopping = false;
        let connect_timeout =
            self.slots.iter().map(|s| s.timeout).max().unwrap_or(BACKOFF_MAX).max(Duration::from_secs(1));
        let result = loop {
            if !stopping && (*shutdown.borrow() || shutdown.has_changed().is_err()) {
                stopping = true;
                for slot in &mut self.slots {
                    slot.retries = 0;
                }
            }
            // While stopping, only polls in progress are served, at once.
            let candidates = (0..self.slots.len()).filter(|&i| !stopping || self.slots[i].cursor > 0);
            let Some(i) = candidates.min_by_key(|&i| self.slots[i].due) else { break Ok(()) };
            let Some(stream) = link.as_mut() else {
                if stopping {
                    break Ok(());
                }
                self.set_state(ConnectionState::Connecting);
                let opened = tokio::select! {
                    biased;
                    () = super::shutdown_requested(&mut shutdown) => continue,
                    opened = self.endpoint.connect(connect_timeout) => opened,
                };
                match opened {
                    Ok(stream) => {
                        debug!(bus = %self.name, "Modbus connection open");
                        link = Some(stream);
                        failures = 0;
                        self.set_state(ConnectionState::Connected);
                    }
                    Err(error) => {
                        failures += 1;
                        warn!(bus = %self.name, %error, retry_in_ms = backoff(failures).as_millis() as u64, "cannot open the Modbus connection");
                        self.disconnected(true);
                        self.note_error(&format!("cannot connect: {error}"));
                        tokio::select! {
                            biased;
                            () = super::shutdown_requested(&mut shutdown) => {}
                            () = tokio::time::sleep(backoff(failures)) => {}
                        }
                    }
                }
                continue;
            };
            if !stopping {
                tokio::select! {
                    biased;
                    () = super::shutdown_requested(&mut shutdown) => continue,
                    () = tokio::time::sleep_until(self.slots[i].due) => {}
                }
            }
            // An exchange is bounded by the device's timeout and is never cut short.
            let (batch, broken) = self.slots[i].step(stream.as_mut(), self.clock.as_ref()).await;
            if let Some(batch) = batch
                && let Err(e) = self.deliver(i, batch, &mut shutdown).await
            {
                break Err(e);
            }
            if let Some(error) = broken {
                failures = 1;
                warn!(bus = %self.name, %error, "Modbus connection lost; reconnecting");
                link = None;
                self.disconnected(false);
                self.note_error(&format!("connection lost: {error}"));
                if !stopping {
                    tokio::select! {
                        biased;
                        () = super::shutdown_requested(&mut shutdown) => {}
                        () = tokio::time::sleep(backoff(failures)) => {}
                    }
                }
            }
        };
        self.set_state(ConnectionState::Disconnected);
        let pending: Vec<IngestBatch> = self.slots.iter_mut().map(|s| std::mem::take(&mut s.batch)).collect();
        for (i, batch) in pending.into_iter().enumerate() {
            if result.is_ok() && !batch.is_empty() {
                self.deliver(i, batch, &mut shutdown).await?;
            }
        }
        result
    }

    /// Hands the batch of slot `i` to the feed. A log failure keeps the batch and retries it
    /// with backoff until it is taken; once shutdown is requested, the next failure gives up
    /// with [`Error::Undelivered`]. A closed pipeline is [`Error::PipelineClosed`].
    async fn deliver(
        &self,
        i: usize,
        mut batch: IngestBatch,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let mut failures = 0;
        loop {
            let error = match super::submit_blocking(&self.feed, batch) {
                Ok(()) => return Ok(()),
                Err((FeedError::Closed, _)) => return Err(Error::PipelineClosed),
                Err((error, back)) => {
                    batch = back;
                    error
                }
            };
            failures += 1;
            let slot = &self.slots[i];
            slot.stats.count_feed_failure();
            if *shutdown.borrow() || shutdown.has_changed().is_err() {
                error!(bus = %self.name, device = %slot.device_id(), %error, "cannot hand readings over at shutdown; giving up");
                let (readings, dead_letters) = (batch.readings.len(), batch.dead_letters.len());
                return Err(Error::Undelivered { readings, dead_letters, error });
            }
            let pause = backoff(failures);
            error!(bus = %self.name, device = %slot.device_id(), %error, readings = batch.readings.len(), retry_in_ms = pause.as_millis() as u64, "cannot hand readings over; retrying");
            tokio::select! {
                biased;
                () = super::shutdown_requested(shutdown) => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn set_state(&self, state: ConnectionState) {
        for slot in &self.slots {
            slot.stats.set_state(state);
        }
    }

    fn note_error(&self, error: &str) {
        for slot in &self.slots {
            slot.stats.set_last_error(error.to_owned());
        }
    }

    fn disconnected(&self, connect_failed: bool) {
        for slot in &self.slots {
            slot.stats.set_state(ConnectionState::Disconnected);
            slot.stats.count_reconnect();
            if connect_failed {
                slot.stats.count_error();
            }
        }
    }
}
