//! The ADT feed: an MLLP listener whose handler turns each ADT message into an association event
//! and records it durably before acknowledging.
//!
//! ACK codes: `AA` once the event is in the fsynced association log and applied (also for a
//! redelivered message: same control id, same content); `AE` with the reason for a message it
//! cannot apply (missing patient or location, a cancel with nothing to cancel, a reused control
//! id); `AR` for a message that is not an ADT event it handles; `AE` 207 "retry" when the log
//! could not store it (the sender resends). Nothing a sender does stops the listener.
//!
//! Event times without a UTC offset are read in the configured time zone (`[adt] time_zone`,
//! default UTC).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use wardstream_pipeline::association::AssociationEvent;
use wardstream_pipeline::{Clock, LocalClock};
use wardstream_protocols::hl7::{Message, adt};
use wardstream_protocols::mllp::{ErrorCode, MllpConfig, MllpHandler, Reply};

use crate::associations::{Associations, RecordError};

/// `[adt]`: the ADT listener (off unless configured).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdtSettings {
    /// Listen address, e.g. `0.0.0.0:2575` (the HL7 port).
    pub listen: String,
    /// Largest frame accepted, bytes. Default 1 MiB.
    pub max_frame_bytes: usize,
    /// A connection silent this long is closed, seconds (0: never). Default 300.
    pub idle_timeout_s: u64,
    /// PEM certificate (chain) for MLLP over TLS; with `tls_key_file`, the listener speaks only TLS.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key for MLLP over TLS.
    pub tls_key_file: Option<std::path::PathBuf>,
    /// IANA zone of event times sent without a UTC offset. Default `UTC`.
    pub time_zone: String,
}

impl Default for AdtSettings {
    fn default() -> Self {
        let m = MllpConfig::default();
        AdtSettings {
            listen: m.listen,
            max_frame_bytes: m.max_frame_bytes,
            idle_timeout_s: m.idle_timeout_s,
            tls_cert_file: None,
            tls_key_file: None,
            time_zone: "UTC".into(),
        }
    }
}

impl AdtSettings {
    /// The listener's configuration.
    pub fn mllp(&self) -> MllpConfig {
        MllpConfig {
            listen: self.listen.clone(),
            max_frame_bytes: self.max_frame_bytes,
            idle_timeout_s: self.idle_timeout_s,
        }
    }
}

/// The handler (see the module docs).
pub struct AdtHandler {
    associations: Arc<Associations>,
    clock: Arc<dyn Clock>,
    zone: Mutex<LocalClock>,
}

impl AdtHandler {
    /// A handler recording into `associations`; `zone` reads times without an offset.
    pub fn new(associations: Arc<Associations>, clock: Arc<dyn Clock>, zone: LocalClock) -> AdtHandler {
        AdtHandler { associations, clock, zone: Mutex::new(zone) }
    }
}

impl MllpHandler for AdtHandler {
    async fn handle(&self, msg: Message, _raw: Arc<[u8]>, _peer: SocketAddr) -> Reply {
        let now = self.clock.now_micros();
        let event = {
            let mut zone = self.zone.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match adt::decode(&msg, now, &mut zone) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(reason = %e, "ADT message not applied");
                    return e.reply();
                }
            }
        };
        let associations = Arc::clone(&self.associations);
        match tokio::task::spawn_blocking(move || associations.record(AssociationEvent::Adt(event))).await {
            Ok(Ok(_applied)) => Reply::accept(),
            Ok(Err(RecordError::Rejected(r))) => {
                tracing::warn!(reason = %r, "ADT event rejected");
                Reply::error(ErrorCode::TableValueNotFound, r.to_string())
            }
            Ok(Err(RecordError::Storage(e))) => {
                tracing::error!(error = %e, "ADT event not stored; the sender will retry");
                Reply::error(ErrorCode::ApplicationInternal, "could not store the event; retry")
            }
            Err(e) => {
                tracing::error!(error = %e, "ADT task failed");
                Reply::error(ErrorCode::ApplicationInternal, "internal error; retry")
            }
        }
    }
}
