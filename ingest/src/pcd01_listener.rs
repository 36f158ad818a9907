//! PCD-01 device results (IHE PCD DEC, HL7 v2 ORU^R01) from device gateways over MLLP/TCP.
//!
//! Each message is decoded into readings (`wardstream_protocols::hl7::pcd01`), submitted to the
//! durable feed (the WAL when on), and acknowledged `AA` only once the WAL record is fsynced;
//! `AE` 207 when it could not be stored (the gateway resends), `AR` for a message that is not
//! ORU^R01.
//!
//! **Hints are checked, never trusted.** The message's PID-3 (the patient the gateway believes
//! the data is about) is compared with the association store for each reading's device at the
//! reading's time. When the store attaches another patient, or nobody, the reading is flagged
//! `patient_mismatch` (status shows it first), counted, and logged with the device id only (no
//! patient identifiers in the log). The patient it is stored under is the store's, by the same
//! rule as every other reading.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use wardstream_pipeline::association::Attach;
use wardstream_pipeline::{Clock, Feed, FeedError, Flag, LocalClock};
use wardstream_protocols::hl7::{Message, pcd01};
use wardstream_protocols::mllp::{ErrorCode, MllpConfig, MllpHandler, Reply};

use crate::associations::Associations;

/// `[pcd01]`: the MLLP listener for device gateways (off unless configured).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pcd01Settings {
    /// Listen address, e.g. `0.0.0.0:2576`.
    pub listen: String,
    /// Largest frame accepted, bytes. Default 1 MiB.
    pub max_frame_bytes: usize,
    /// A connection silent this long is closed, seconds (0: never). Default 300.
    pub idle_timeout_s: u64,
    /// PEM certificate (chain) for MLLP over TLS; with `tls_key_file`, the listener speaks only TLS.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key for MLLP over TLS.
    pub tls_key_file: Option<std::path::PathBuf>,
    /// IANA zone of times sent without a UTC offset. Default `UTC`.
    pub time_zone: String,
}

impl Default for Pcd01Settings {
    fn default() -> Self {
        let m = MllpConfig::default();
        Pcd01Settings {
            listen: "0.0.0.0:2576".into(),
            max_frame_bytes: m.max_frame_bytes,
            idle_timeout_s: m.idle_timeout_s,
            tls_cert_file: None,
            tls_key_file: None,
            time_zone: "UTC".into(),
        }
    }
}

impl Pcd01Settings {
    /// The listener's configuration.
    pub fn mllp(&self) -> MllpConfig {
        MllpConfig {
            listen: self.listen.clone(),
            max_frame_bytes: self.max_frame_bytes,
            idle_timeout_s: self.idle_timeout_s,
        }
    }
}

/// Counters of the PCD-01 handler.
#[derive(Debug, Default)]
pub struct Pcd01Stats {
    /// Messages stored and acknowledged.
    pub messages: AtomicU64,
    /// Readings submitted.
    pub readings: AtomicU64,
    /// Readings whose PID-3 hint disagreed with the association store.
    pub patient_mismatches: AtomicU64,
    /// Messages not stored (log failure).
    pub not_stored: AtomicU64,
}

/// The handler (see the module docs).
pub struct Pcd01Handler {
    feed: Feed,
    associations: Arc<Associations>,
    clock: Arc<dyn Clock>,
    zone: Mutex<LocalClock>,
    stats: Arc<Pcd01Stats>,
}

impl Pcd01Handler {
    /// A handler submitting to `feed`, checking hints against `associations`.
    pub fn new(
        feed: Feed,
        associations: Arc<Associations>,
        clock: Arc<dyn Clock>,
        zone: LocalClock,
        stats: Arc<Pcd01Stats>,
    ) -> Pcd01Handler {
        Pcd01Handler { feed, associations, clock, zone: Mutex::new(zone), stats }
    }
}

impl MllpHandler for Pcd01Handler {
    async fn handle(&self, msg: Message, raw: Arc<[u8]>, _peer: SocketAddr) -> Reply {
        if msg.message_code() != "ORU" || msg.trigger_event() != "R01" {
            let text =
                format!("{}^{} is not a PCD-01 device result (ORU^R01)", msg.message_code(), msg.trigger_event());
            return Reply::reject(ErrorCode::UnsupportedMessageType, text);
        }
        let now = self.clock.now_micros();
        let mut result = {
            let mut zone = self.zone.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            pcd01::decode(&msg, raw, now, &mut zone)
        };
        if let Some(hint) = result.patient_hint.as_deref().filter(|h| !h.is_empty()) {
            let snapshot = self.associations.snapshot();
            for reading in &mut result.batch.readings {
                let agrees = matches!(snapshot.attach(&reading.device_id, reading.device_time), Attach::Attached(a) if &*a.patient_id == hint);
                if !agrees {
                    reading.flags.insert(Flag::PatientMismatch);
                    self.stats.patient_mismatches.fetch_add(1, Relaxed);
                    tracing::warn!(device = %reading.device_id, "PCD-01 patient hint disagrees with the association store; reading flagged");
                }
            }
        }
        let readings = result.batch.readings.len() as u64;
        if result.batch.is_empty() {
            self.stats.messages.fetch_add(1, Relaxed);
            return Reply::accept();
        }
        let feed = self.feed.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let seq = feed.submit(result.batch).map_err(|(e, _)| e)?;
            match seq {
                Some(seq) => feed.wait_durable(seq),
                None => Ok(()),
            }
        })
        .await;
        match stored {
            Ok(Ok(())) => {
                self.stats.messages.fetch_add(1, Relaxed);
                self.stats.readings.fetch_add(readings, Relaxed);
                Reply::accept()
            }
            Ok(Err(FeedError::Closed)) | Err(_) => {
                self.stats.not_stored.fetch_add(1, Relaxed);
                Reply::error(ErrorCode::ApplicationInternal, "shutting down; resend later")
            }
            Ok(Err(FeedError::Log(e))) => {
                self.stats.not_stored.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "PCD-01 message not stored; the gateway will resend");
                Reply::error(ErrorCode::ApplicationInternal, "could not store the results; retry")
            }
        }
    }
}
