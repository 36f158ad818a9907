//! [`MllpStats`]: lock-free counters of one MLLP listener, for display, metrics and tests.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use crate::hl7::ack::AckCode;

/// Counters (monotonic totals, except `connections_open`) of an MLLP listener. Share it in an
/// `Arc`.
#[derive(Debug, Default)]
pub struct MllpStats {
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    bytes_received: AtomicU64,
    bytes_discarded: AtomicU64,
    frames: AtomicU64,
    frames_oversize: AtomicU64,
    parse_errors: AtomicU64,
    acks: [AtomicU64; 3],
    idle_timeouts: AtomicU64,
    io_errors: AtomicU64,
    handler_panics: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

/// A copy of [`MllpStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MllpStatsSnapshot {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Bytes read from peers.
    pub bytes_received: u64,
    /// Bytes outside frames, and of unfinished frames (peer gave up or disconnected).
    pub bytes_discarded: u64,
    /// Complete frames received (oversize ones not included).
    pub frames: u64,
    /// Frames over `max_frame_bytes`, skipped.
    pub frames_oversize: u64,
    /// Frames that were not HL7 v2 messages.
    pub parse_errors: u64,
    /// `AA` acknowledgements sent.
    pub acks_aa: u64,
    /// `AE` acknowledgements sent.
    pub acks_ae: u64,
    /// `AR` acknowledgements sent.
    pub acks_ar: u64,
    /// Connections closed for sending nothing within `idle_timeout_s`.
    pub idle_timeouts: u64,
    /// Accept, read and write errors (each ends its connection, never the listener).
    pub io_errors: u64,
    /// Connections ended by a panicking handler (the message was not acknowledged).
    pub handler_panics: u64,
    /// Connections whose TLS handshake failed (TLS listeners only; each ends that connection).
    pub tls_handshake_failures: u64,
}

impl MllpStats {
    /// New counters, all zero.
    pub fn new() -> MllpStats {
        MllpStats::default()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MllpStatsSnapshot {
        MllpStatsSnapshot {
            connections_accepted: self.connections_accepted.load(Relaxed),
            connections_open: self.connections_open.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            bytes_discarded: self.bytes_discarded.load(Relaxed),
            frames: self.frames.load(Relaxed),
            frames_oversize: self.frames_oversize.load(Relaxed),
            parse_errors: self.parse_errors.load(Relaxed),
            acks_aa: self.acks[0].load(Relaxed),
            acks_ae: self.acks[1].load(Relaxed),
            acks_ar: self.acks[2].load(Relaxed),
            idle_timeouts: self.idle_timeouts.load(Relaxed),
            io_errors: self.io_errors.load(Relaxed),
            handler_panics: self.handler_panics.load(Relaxed),
            tls_handshake_failures: self.tls_handshake_failures.load(Relaxed),
        }
    }

    pub(crate) fn connection_opened(&self) {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn discarded(&self, bytes: u64) {
        self.bytes_discarded.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn frame(&self) {
        self.frames.fetch_add(1, Relaxed);
    }

    pub(crate) fn oversize(&self) {
        self.frames_oversize.fetch_add(1, Relaxed);
    }

    pub(crate) fn parse_error(&self) {
        self.parse_errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn ack(&self, code: AckCode) {
        let i = match code {
            AckCode::Accept => 0,
            AckCode::Error => 1,
            AckCode::Reject => 2,
        };
        self.acks[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn idle_timeout(&self) {
        self.idle_timeouts.fetch_add(1, Relaxed);
    }

    pub(crate) fn io_error(&self) {
        self.io_errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn tls_handshake_failure(&self) {
        self.tls_handshake_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn handler_panic(&self) {
        self.handler_panics.fetch_add(1, Relaxed);
    }
}
