//! [`ModbusStats`]: lock-free counters and connection state per Modbus device, for the progress
//! display, the metrics endpoint and health checks.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64};
use std::sync::{Arc, Mutex};

use wardstream_pipeline::Micros;

/// The state of a device's connection (its bus's, for devices sharing one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionState {
    /// Not connected (before the first attempt, or after a failure, waiting to reconnect).
    #[default]
    Disconnected,
    /// Opening the TCP connection or the serial port.
    Connecting,
    /// The connection or port is open.
    Connected,
}

impl ConnectionState {
    /// `disconnected`, `connecting` or `connected`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
        }
    }

    const fn from_u8(v: u8) -> ConnectionState {
        match v {
            1 => ConnectionState::Connecting,
            2 => ConnectionState::Connected,
            _ => ConnectionState::Disconnected,
        }
    }
}

/// Counters (monotonic totals) and state of one device.
#[derive(Debug, Default)]
pub struct DeviceStats {
    state: AtomicU8,
    polls: AtomicU64,
    responses: AtomicU64,
    readings: AtomicU64,
    dead_letters: AtomicU64,
    exceptions: AtomicU64,
    timeouts: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    feed_failures: AtomicU64,
    /// µs since the epoch; 0 before the first reading.
    last_reading_at: AtomicI64,
    last_error: Mutex<Option<String>>,
}

/// A copy of one device's [`DeviceStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceStatsSnapshot {
    /// Connection state now.
    pub state: ConnectionState,
    /// Polls started (one per poll interval; retries are not polls).
    pub polls: u64,
    /// Well-formed responses received (exceptions included).
    pub responses: u64,
    /// Readings handed to the pipeline.
    pub readings: u64,
    /// Dead letters produced (exceptions, no-value markers, non-finite values).
    pub dead_letters: u64,
    /// Exception responses.
    pub exceptions: u64,
    /// Requests that got no complete response in time.
    pub timeouts: u64,
    /// Bad frames (CRC, wrong unit or length) and connection failures.
    pub errors: u64,
    /// Connection attempts after a failure.
    pub reconnects: u64,
    /// Attempts to hand a batch over that the write-ahead log refused (each retried).
    pub feed_failures: u64,
    /// When the last reading was received (µs since the epoch), `None` before the first.
    pub last_reading_at: Option<Micros>,
}

impl DeviceStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> DeviceStatsSnapshot {
        let last = self.last_reading_at.load(Relaxed);
        DeviceStatsSnapshot {
            state: ConnectionState::from_u8(self.state.load(Relaxed)),
            polls: self.polls.load(Relaxed),
            responses: self.responses.load(Relaxed),
            readings: self.readings.load(Relaxed),
            dead_letters: self.dead_letters.load(Relaxed),
            exceptions: self.exceptions.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            errors: self.errors.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            feed_failures: self.feed_failures.load(Relaxed),
            last_reading_at: (last != 0).then_some(last),
        }
    }

    pub(crate) fn set_state(&self, state: ConnectionState) {
        self.state.store(state as u8, Relaxed);
    }

    pub(crate) fn count_poll(&self) {
        self.polls.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_response(&self, readings: usize, dead_letters: usize, exception: bool, at: Micros) {
        self.responses.fetch_add(1, Relaxed);
        self.readings.fetch_add(readings as u64, Relaxed);
        self.dead_letters.fetch_add(dead_letters as u64, Relaxed);
        if exception {
            self.exceptions.fetch_add(1, Relaxed);
        }
        if readings > 0 {
            self.last_reading_at.store(at, Relaxed);
        }
    }

    pub(crate) fn count_timeout(&self) {
        self.timeouts.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }

    /// The latest error (connection, timeout, exception, bad frame), if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn set_last_error(&self, error: String) {
        *self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }

    pub(crate) fn count_feed_failure(&self) {
        self.feed_failures.fetch_add(1, Relaxed);
    }
}

/// The counters of every device of a Modbus driver, by device id. Share it in an `Arc`.
#[derive(Debug, Default)]
pub struct ModbusStats {
    devices: Mutex<BTreeMap<String, Arc<DeviceStats>>>,
}

impl ModbusStats {
    /// No devices yet; the driver adds each configured device when it starts.
    pub fn new() -> ModbusStats {
        ModbusStats::default()
    }

    /// The counters of `device_id`, created at zero if new.
    pub fn device(&self, device_id: &str) -> Arc<DeviceStats> {
        let mut devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(devices.entry(device_id.to_owned()).or_default())
    }

    /// Every device's counters, by device id.
    pub fn snapshot(&self) -> BTreeMap<String, DeviceStatsSnapshot> {
        let devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        devices.iter().map(|(id, stats)| (id.clone(), stats.snapshot())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_per_device() {
        let stats = ModbusStats::new();
        let a = stats.device("a");
        a.set_state(ConnectionState::Connected);
        a.count_poll();
        a.count_response(3, 1, false, 5_000);
        a.count_response(0, 2, true, 6_000);
        a.count_timeout();
        a.count_error();
        a.count_reconnect();
        a.count_feed_failure();
        stats.device("b").set_state(ConnectionState::Connecting);
        let snap = stats.snapshot();
        let s = snap["a"];
        assert_eq!(
            (s.state, s.polls, s.responses, s.readings, s.dead_letters),
            (ConnectionState::Connected, 1, 2, 3, 3)
        );
        assert_eq!(
            (s.exceptions, s.timeouts, s.errors, s.reconnects, s.feed_failures, s.last_reading_at),
            (1, 1, 1, 1, 1, Some(5_000))
        );
        assert_eq!(snap["b"], DeviceStatsSnapshot { state: ConnectionState::Connecting, ..Default::default() });
        assert_eq!(snap.len(), 2);
        assert!(Arc::ptr_eq(&stats.device("a"), &a));
        assert_eq!(ConnectionState::Connected.as_str(), "connected");
    }
}
