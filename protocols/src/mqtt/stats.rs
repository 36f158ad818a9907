//! [`MqttStats`]: lock-free counters and state of one MQTT source, for the progress display,
//! the metrics endpoint and health checks.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use wardstream_pipeline::Micros;

/// Counters (monotonic totals) and connection state of an MQTT source. Share it in an `Arc`.
#[derive(Debug, Default)]
pub struct MqttStats {
    messages_received: AtomicU64,
    bytes_received: AtomicU64,
    readings_decoded: AtomicU64,
    dead_letters: AtomicU64,
    connected: AtomicBool,
    subscribed: AtomicBool,
    reconnects: AtomicU64,
    acks_sent: AtomicU64,
    acks_skipped: AtomicU64,
    log_failures: AtomicU64,
    tls_failures: AtomicU64,
    auth_failures: AtomicU64,
    identity_mismatches: AtomicU64,
    /// µs since the epoch; 0 before the first message.
    last_message_at: AtomicI64,
}

/// A copy of [`MqttStats`] for display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MqttStatsSnapshot {
    /// PUBLISH messages received.
    pub messages_received: u64,
    /// Payload bytes of those messages.
    pub bytes_received: u64,
    /// Readings decoded and handed to the pipeline.
    pub readings_decoded: u64,
    /// Dead letters produced by decoding (rejected payloads and records).
    pub dead_letters: u64,
    /// Connected to the broker now (CONNACK received, no error since).
    pub connected: bool,
    /// Every topic filter of the current connection is subscribed (SUBACK without failures).
    pub subscribed: bool,
    /// Connection failures, each followed by a reconnection attempt.
    pub reconnects: u64,
    /// When the last message was received (µs since the epoch), `None` before the first.
    pub last_message_at: Option<Micros>,
    /// PUBACKs queued after the message's batch was durable (manual acks).
    pub acks_sent: u64,
    /// Messages left unacknowledged for the broker to redeliver (from an older connection, or
    /// not durable).
    pub acks_skipped: u64,
    /// Times the write-ahead log refused a batch (disk full, I/O error); the driver stopped
    /// reading and retried.
    pub log_failures: u64,
    /// Connection attempts that failed in the TLS handshake (broker certificate not trusted or
    /// not for this host, client certificate refused, TLS alert); each is also a reconnect.
    pub tls_failures: u64,
    /// Connection attempts the broker refused for bad credentials or lack of authorisation
    /// (CONNACK return code 4 or 5); each is also a reconnect.
    pub auth_failures: u64,
    /// Messages rejected because the payload named another device than the topic (one
    /// `identity_mismatch` dead letter each; also counted in `dead_letters`).
    pub identity_mismatches: u64,
}

impl MqttStats {
    /// New counters, all zero, disconnected.
    pub fn new() -> MqttStats {
        MqttStats::default()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MqttStatsSnapshot {
        let last = self.last_message_at.load(Relaxed);
        MqttStatsSnapshot {
            messages_received: self.messages_received.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            readings_decoded: self.readings_decoded.load(Relaxed),
            dead_letters: self.dead_letters.load(Relaxed),
            connected: self.connected.load(Relaxed),
            subscribed: self.subscribed.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            last_message_at: (last != 0).then_some(last),
            acks_sent: self.acks_sent.load(Relaxed),
            acks_skipped: self.acks_skipped.load(Relaxed),
            log_failures: self.log_failures.load(Relaxed),
            tls_failures: self.tls_failures.load(Relaxed),
            auth_failures: self.auth_failures.load(Relaxed),
            identity_mismatches: self.identity_mismatches.load(Relaxed),
        }
    }

    pub(crate) fn count_message(&self, bytes: usize, at: Micros, readings: usize, dead_letters: usize) {
        self.messages_received.fetch_add(1, Relaxed);
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
        self.readings_decoded.fetch_add(readings as u64, Relaxed);
        self.dead_letters.fetch_add(dead_letters as u64, Relaxed);
        self.last_message_at.store(at, Relaxed);
    }

    pub(crate) fn count_ack(&self) {
        self.acks_sent.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_ack_skipped(&self) {
        self.acks_skipped.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_tls_failure(&self) {
        self.tls_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_identity_mismatch(&self) {
        self.identity_mismatches.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_log_failure(&self) {
        self.log_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Relaxed);
        if !connected {
            self.subscribed.store(false, Relaxed);
        }
    }

    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Relaxed);
    }

    pub(crate) fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_and_the_last_message_time_is_kept() {
        for stats in [MqttStats::new(), MqttStats::default()] {
            assert_eq!(stats.snapshot(), MqttStatsSnapshot::default());
            stats.count_message(100, 5_000, 3, 1);
            stats.count_message(50, 6_000, 0, 1);
            stats.set_connected(true);
            stats.set_subscribed(true);
            stats.count_reconnect();
            stats.count_tls_failure();
            stats.count_auth_failure();
            stats.count_auth_failure();
            stats.count_identity_mismatch();
            let s = stats.snapshot();
            assert_eq!((s.tls_failures, s.auth_failures, s.identity_mismatches), (1, 2, 1));
            assert_eq!((s.messages_received, s.bytes_received, s.readings_decoded, s.dead_letters), (2, 150, 3, 2));
            assert_eq!((s.connected, s.subscribed, s.reconnects, s.last_message_at), (true, true, 1, Some(6_000)));
            stats.set_connected(false);
            assert!(!stats.snapshot().subscribed);
        }
    }
}
