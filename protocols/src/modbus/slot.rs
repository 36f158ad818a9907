//! [`Slot`]: one device on a bus, its schedule and the poll in progress. [`Slot::step`] makes
//! one request: send, wait for the answer until the device's timeout (skipping late TCP
//! answers to earlier requests), decode it with the [`DevicePoller`] into the poll's batch,
//! count it, and decide when the device is due again: the next block at once, a retry after a
//! backoff, or the next poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tracing::{debug, warn};
use wardstream_pipeline::{Clock, IngestBatch, Micros};

use super::frame::{FrameError, Proto, exception_name};
use super::link::{LinkError, Stream, drain, read_frame};
use super::plan::Block;
use super::poller::DevicePoller;
use super::stats::DeviceStats;
use super::{BACKOFF_MAX, BACKOFF_MIN, DeviceConfig};

/// One device's schedule and the poll in progress.
pub(crate) struct Slot {
    poller: DevicePoller,
    pub(super) stats: Arc<DeviceStats>,
    interval: Duration,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
    pub(super) due: Instant,
    /// Next block of the poll in progress; 0 when none is.
    pub(super) cursor: usize,
    /// Failed attempts at the current block.
    attempt: u32,
    /// Consecutive polls given up.
    failures: u32,
    /// The last exception code of each block, to log a new one at WARN and repeats at DEBUG.
    exceptions: Vec<Option<u8>>,
    polled_at: Micros,
    poll_started: Instant,
    pub(super) batch: IngestBatch,
}

impl Slot {
    pub(crate) fn new(poller: DevicePoller, device: &DeviceConfig, stats: Arc<DeviceStats>) -> Slot {
        let now = Instant::now();
        Slot {
            exceptions: vec![None; poller.blocks().len()],
            poller,
            stats,
            interval: device.poll_interval(),
            timeout: device.timeout(),
            retries: device.retries,
            due: now,
            cursor: 0,
            attempt: 0,
            failures: 0,
            polled_at: 0,
            poll_started: now,
            batch: IngestBatch::default(),
        }
    }

    /// The device's id, for logs.
    pub(crate) fn device_id(&self) -> &str {
        self.poller.device_id()
    }

    /// One request of this device's poll (starting a poll if none is in progress): the poll's
    /// batch when the poll is over, and the error that broke the connection, if one did.
    pub(crate) async fn step(
        &mut self,
        stream: &mut dyn Stream,
        clock: &dyn Clock,
    ) -> (Option<IngestBatch>, Option<LinkError>) {
        if self.cursor == 0 && self.attempt == 0 {
            self.polled_at = clock.now_micros();
            self.poll_started = Instant::now();
            self.stats.count_poll();
        }
        let proto = self.poller.proto();
        match exchange(self, stream, proto, clock).await {
            Ok(outcome) => (advance(self, outcome), None),
            Err(error) => {
                self.stats.count_error();
                (advance(self, Outcome::Failed), Some(error))
            }
        }
    }
}

/// What one exchange came to.
enum Outcome {
    Answered,
    Failed,
}

/// `BACKOFF_MIN × 2^(n-1)`, at most `BACKOFF_MAX`.
pub(crate) fn backoff(n: u32) -> Duration {
    BACKOFF_MIN.saturating_mul(1 << n.saturating_sub(1).min(16)).min(BACKOFF_MAX)
}

/// Sends the slot's current request and waits for its answer until the slot's timeout.
async fn exchange(
    slot: &mut Slot,
    stream: &mut dyn Stream,
    proto: Proto,
    clock: &dyn Clock,
) -> Result<Outcome, LinkError> {
    let request = slot.poller.request(slot.cursor)?;
    if proto == Proto::Rtu {
        let stale = drain(stream, Duration::ZERO).await?;
        if stale > 0 {
            debug!(device = %slot.poller.device_id(), bytes = stale, "discarded late bytes on the RTU bus");
        }
    }
    stream.write_all(&request.frame).await?;
    stream.flush().await?;
    let deadline = Instant::now() + slot.timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, read_frame(stream, proto)).await {
            Err(_) => {
                slot.stats.count_timeout();
                slot.stats.set_last_error(format!("no answer within {} ms", slot.timeout.as_millis()));
                debug!(device = %slot.poller.device_id(), attempt = slot.attempt + 1, "Modbus request timed out");
                return Ok(Outcome::Failed);
            }
            Ok(Err(LinkError::Frame(error))) if proto == Proto::Rtu => {
                slot.stats.count_error();
                slot.stats.set_last_error(format!("bad RTU frame: {error}"));
                debug!(device = %slot.poller.device_id(), %error, "bad RTU frame");
                return Ok(Outcome::Failed);
            }
            Ok(result) => result?,
        };
        let received_at = clock.now_micros();
        match slot.poller.response(&request, &frame, slot.polled_at, received_at, &mut slot.batch) {
            Ok(counts) => {
                slot.stats.count_response(
                    counts.readings,
                    counts.dead_letters,
                    counts.exception.is_some(),
                    received_at,
                );
                log_exception(slot, counts.exception);
                return Ok(Outcome::Answered);
            }
            // A late answer to an earlier, timed-out request: skip it and keep waiting.
            Err(FrameError::Transaction { expected, got }) if proto == Proto::Tcp && got != expected => {
                debug!(device = %slot.poller.device_id(), got, expected, "skipped a late Modbus TCP response");
            }
            Err(error) if proto == Proto::Rtu => {
                slot.stats.count_error();
                debug!(device = %slot.poller.device_id(), %error, "unusable RTU response");
                return Ok(Outcome::Failed);
            }
            // On TCP an unusable frame means the stream is out of step: reconnect.
            Err(error) => return Err(LinkError::Frame(error)),
        }
    }
}

/// Logs an exception with its raw code (0x0A/0x0B included): at WARN when the block's code
/// changed, at DEBUG when it repeats, so a device that always refuses does not flood the log.
fn log_exception(slot: &mut Slot, exception: Option<u8>) {
    let Some(previous) = slot.exceptions.get_mut(slot.cursor) else { return };
    let repeated = *previous == exception;
    *previous = exception;
    let Some(code) = exception else { return };
    let request = slot.poller.blocks().get(slot.cursor).map(Block::describe).unwrap_or_default();
    let (device, code_hex, name) = (slot.poller.device_id(), format!("0x{code:02X}"), exception_name(code));
    slot.stats.set_last_error(format!("exception {code_hex} ({name}) on {request}"));
    if repeated {
        debug!(%device, code = %code_hex, %request, "Modbus exception again: {name}");
    } else {
        warn!(%device, code = %code_hex, %request, "Modbus exception: {name}");
    }
}

/// Moves the slot's schedule on after an exchange; returns the poll's batch when it is over.
fn advance(slot: &mut Slot, outcome: Outcome) -> Option<IngestBatch> {
    let now = Instant::now();
    match outcome {
        Outcome::Answered => {
            slot.attempt = 0;
            slot.cursor += 1;
            if slot.cursor < slot.poller.blocks().len() {
                slot.due = now;
                return None;
            }
            slot.failures = 0;
            slot.due = (slot.poll_started + slot.interval).max(now);
        }
        Outcome::Failed => {
            slot.attempt += 1;
            if slot.attempt <= slot.retries {
                slot.due = now + backoff(slot.attempt);
                return None;
            }
            slot.failures += 1;
            if slot.failures == 1 {
                warn!(device = %slot.poller.device_id(), attempts = slot.attempt, "Modbus poll given up; retrying with backoff");
            } else {
                debug!(device = %slot.poller.device_id(), failures = slot.failures, "Modbus poll given up again");
            }
            slot.due = (slot.poll_started + slot.interval).max(now + backoff(slot.failures));
        }
    }
    slot.cursor = 0;
    slot.attempt = 0;
    let batch = std::mem::take(&mut slot.batch);
    (!batch.is_empty()).then_some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::{DataType, Function, ModelConfig, PointConfig};

    fn slot(retries: u32) -> Slot {
        let points = vec![
            PointConfig::new("temp", Function::InputRegisters, 0, DataType::I16),
            PointConfig::new("door", Function::Coils, 0, DataType::Bool),
        ];
        let model = ModelConfig { name: "m".into(), points };
        let device = DeviceConfig { retries, ..DeviceConfig::tcp("d", "m", "h", 502, 1) };
        Slot::new(DevicePoller::new(&device, &model), &device, Arc::new(DeviceStats::default()))
    }

    #[test]
    fn backoff_doubles_from_100_ms_up_to_5_s() {
        let ms: Vec<u128> = (1..=8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn failures_are_retried_then_the_poll_is_given_up_and_answers_move_on() {
        let mut s = slot(2);
        assert_eq!(advance(&mut s, Outcome::Answered), None, "the next block follows at once");
        assert_eq!((s.cursor, s.attempt), (1, 0));
        assert_eq!(advance(&mut s, Outcome::Failed), None);
        assert_eq!(advance(&mut s, Outcome::Failed), None);
        assert_eq!((s.cursor, s.attempt, s.failures), (1, 2, 0), "two retries of the same block");
        assert_eq!(advance(&mut s, Outcome::Failed), None, "given up; nothing read, nothing sent");
        assert_eq!((s.cursor, s.attempt, s.failures), (0, 0, 1));
        assert!(s.due >= Instant::now() + Duration::from_millis(50));
        advance(&mut s, Outcome::Answered);
        advance(&mut s, Outcome::Answered);
        assert_eq!((s.cursor, s.failures), (0, 0), "a complete poll resets the failures");
    }
}
