//! [`Recorder`]: an optional list of every reading the ward published and of those the broker
//! acknowledged, for tests that compare what was sent with what was stored.

use std::sync::{Arc, Mutex, PoisonError};

use super::outbox::Message;

/// One reading as a monitor published it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedReading {
    /// The monitor id (`monitor-icu-1-03`); the SenML base name is `urn:dev:ws:<device>:`.
    pub device: String,
    /// The SenML name (`HR`).
    pub name: String,
    /// The SenML unit (`beat/min`).
    pub unit: String,
    /// The value exactly as written into the JSON.
    pub value: f64,
    /// The SenML base time in microseconds since the Unix epoch (whole milliseconds).
    pub time_micros: i64,
}

impl PublishedReading {
    /// A key that orders readings and identifies them exactly: device, name, time, value bits.
    pub fn key(&self) -> (&str, &str, i64, u64) {
        (&self.device, &self.name, self.time_micros, self.value.to_bits())
    }
}

/// Collects readings as the ward publishes them (off unless set in the config).
///
/// A message appears in [`Recorder::published`] once, when first handed to the MQTT client, and
/// in [`Recorder::acked`] once, when the broker acknowledges it. For a run without broken
/// connections both lists hold the same readings once everything is acknowledged.
#[derive(Debug, Default)]
pub struct Recorder {
    published: Mutex<Vec<PublishedReading>>,
    acked: Mutex<Vec<PublishedReading>>,
}

impl Recorder {
    /// A new empty recorder, shared.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// Every reading published so far, in publication order per monitor.
    pub fn published(&self) -> Vec<PublishedReading> {
        self.published.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Every reading acknowledged so far, in acknowledgement order per monitor.
    pub fn acked(&self) -> Vec<PublishedReading> {
        self.acked.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn record_published(&self, device: &str, message: &Message) {
        Self::append(&self.published, device, message);
    }

    pub(crate) fn record_acked(&self, device: &str, message: &Message) {
        Self::append(&self.acked, device, message);
    }

    fn append(list: &Mutex<Vec<PublishedReading>>, device: &str, message: &Message) {
        let readings = message.readings.iter().map(|r| PublishedReading {
            device: device.to_owned(),
            name: r.name.to_string(),
            unit: r.unit.to_string(),
            value: r.value,
            time_micros: message.time_micros,
        });
        list.lock().unwrap_or_else(PoisonError::into_inner).extend(readings);
    }
}
