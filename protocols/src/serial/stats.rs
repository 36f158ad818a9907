//! [`SerialStats`]: lock-free counters and connection state of one serial port, for the progress
//! display, the metrics endpoint and health checks.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64};

use wardstream_pipeline::Micros;

/// Where a port is in its connection cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PortState {
    /// Not open: never opened yet, lost (unplugged), or failed to open and waiting to retry.
    #[default]
    Disconnected,
    /// An open attempt is under way.
    Opening,
    /// Open and being read.
    Connected,
}

impl PortState {
    /// The state's name for display and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            PortState::Disconnected => "disconnected",
            PortState::Opening => "opening",
            PortState::Connected => "connected",
        }
    }

    const fn from_u8(v: u8) -> PortState {
        match v {
            1 => PortState::Opening,
            2 => PortState::Connected,
            _ => PortState::Disconnected,
        }
    }
}

/// Counters (monotonic totals) and state of one serial port. Share it in an `Arc`.
#[derive(Debug, Default)]
pub struct SerialStats {
    state: AtomicU8,
    bytes_read: AtomicU64,
    frames: AtomicU64,
    readings: AtomicU64,
    dead_letters: AtomicU64,
    malformed_frames: AtomicU64,
    discarded_bytes: AtomicU64,
    disconnects: AtomicU64,
    reconnects: AtomicU64,
    open_failures: AtomicU64,
    feed_failures: AtomicU64,
    /// µs since the epoch; 0 before the first reading.
    last_reading_at: AtomicI64,
    retry_in_ms: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
    devices: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// A copy of [`SerialStats`] for display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SerialStatsSnapshot {
    /// The connection state now.
    pub state: PortState,
    /// Bytes read from the port.
    pub bytes_read: u64,
    /// Frames (lines) cut from those bytes, well-formed or not.
    pub frames: u64,
    /// Readings decoded and handed to the pipeline.
    pub readings: u64,
    /// Dead letters produced while decoding (malformed frames, values marked invalid, lines
    /// without any value).
    pub dead_letters: u64,
    /// Frames rejected as malformed (each also one dead letter).
    pub malformed_frames: u64,
    /// Bytes that belonged to no frame: over-long lines, partial lines cut by a disconnect.
    pub discarded_bytes: u64,
    /// Times an open port was lost (read error or end of file: unplugged).
    pub disconnects: u64,
    /// Successful opens after the first.
    pub reconnects: u64,
    /// Open attempts that failed (port missing, busy, settings refused).
    pub open_failures: u64,
    /// Attempts to hand a batch over that the write-ahead log refused (each retried).
    pub feed_failures: u64,
    /// When the last reading was received (µs since the epoch), `None` before the first.
    pub last_reading_at: Option<Micros>,
}

impl SerialStats {
    /// New counters, all zero, disconnected.
    pub fn new() -> SerialStats {
        SerialStats::default()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> SerialStatsSnapshot {
        let last = self.last_reading_at.load(Relaxed);
        SerialStatsSnapshot {
            state: PortState::from_u8(self.state.load(Relaxed)),
            bytes_read: self.bytes_read.load(Relaxed),
            frames: self.frames.load(Relaxed),
            readings: self.readings.load(Relaxed),
            dead_letters: self.dead_letters.load(Relaxed),
            malformed_frames: self.malformed_frames.load(Relaxed),
            discarded_bytes: self.discarded_bytes.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            open_failures: self.open_failures.load(Relaxed),
            feed_failures: self.feed_failures.load(Relaxed),
            last_reading_at: (last != 0).then_some(last),
        }
    }

    /// The connection state now.
    pub fn state(&self) -> PortState {
        PortState::from_u8(self.state.load(Relaxed))
    }

    pub(crate) fn set_state(&self, state: PortState) {
        self.state.store(state as u8, Relaxed);
    }

    pub(crate) fn count_read(&self, bytes: usize) {
        self.bytes_read.fetch_add(bytes as u64, Relaxed);
    }

    /// One read's decoding: frames cut, of which malformed, readings and dead letters made.
    pub(crate) fn count_frames(&self, frames: u64, malformed: u64, readings: usize, dead_letters: usize, at: Micros) {
        self.frames.fetch_add(frames, Relaxed);
        self.malformed_frames.fetch_add(malformed, Relaxed);
        self.readings.fetch_add(readings as u64, Relaxed);
        self.dead_letters.fetch_add(dead_letters as u64, Relaxed);
        if readings > 0 {
            self.last_reading_at.store(at, Relaxed);
        }
    }

    pub(crate) fn count_discarded(&self, bytes: u64) {
        self.discarded_bytes.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn count_disconnect(&self) {
        self.disconnects.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_open_failure(&self) {
        self.open_failures.fetch_add(1, Relaxed);
    }

    /// The latest error (port lost, open failure), if any; kept after a reconnect.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The pause before the next open attempt while the port is down, ms (0 when open).
    pub fn retry_in_ms(&self) -> u64 {
        self.retry_in_ms.load(Relaxed)
    }

    /// The device ids the port's readings carried so far, sorted.
    pub fn devices(&self) -> Vec<String> {
        self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }

    /// Records readings a handler stored for this port (ports whose frames are decoded by the
    /// handler, such as `pcd01-mllp`): `readings` readings of `devices` received at `at`.
    pub fn record_readings<'a>(&self, readings: u64, devices: impl Iterator<Item = &'a str>, at: Micros) {
        self.readings.fetch_add(readings, Relaxed);
        if readings > 0 {
            self.last_reading_at.store(at, Relaxed);
        }
        self.note_devices(devices);
    }

    pub(crate) fn note_devices<'a>(&self, ids: impl Iterator<Item = &'a str>) {
        let mut devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in ids {
            if !devices.contains(id) {
                devices.insert(id.to_owned());
            }
        }
    }

    pub(crate) fn set_last_error(&self, error: String) {
        *self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }

    pub(crate) fn set_retry_in(&self, ms: u64) {
        self.retry_in_ms.store(ms, Relaxed);
    }

    pub(crate) fn count_feed_failure(&self) {
        self.feed_failures.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_and_the_state_round_trips() {
        let stats = SerialStats::new();
        assert_eq!(stats.snapshot(), SerialStatsSnapshot::default());
        for state in [PortState::Opening, PortState::Connected, PortState::Disconnected] {
            stats.set_state(state);
            assert_eq!(stats.state(), state);
        }
        stats.count_read(100);
        stats.count_frames(3, 1, 4, 2, 5_000);
        stats.count_frames(1, 1, 0, 1, 6_000);
        stats.count_discarded(7);
        stats.count_disconnect();
        stats.count_reconnect();
        stats.count_open_failure();
        stats.count_open_failure();
        stats.count_feed_failure();
        let s = stats.snapshot();
        assert_eq!((s.bytes_read, s.frames, s.malformed_frames, s.readings, s.dead_letters), (100, 4, 2, 4, 3));
        assert_eq!((s.discarded_bytes, s.disconnects, s.reconnects, s.open_failures), (7, 1, 1, 2));
        assert_eq!((s.feed_failures, s.last_reading_at, PortState::Connected.as_str()), (1, Some(5_000), "connected"));
    }
}
