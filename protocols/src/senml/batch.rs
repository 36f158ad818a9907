//! [`pack_to_batch`]: one SenML message becomes one [`IngestBatch`] of raw readings and dead
//! letters, with the device id of every reading chosen by the [`DeviceIdRule`].

use std::sync::Arc;

use wardstream_pipeline::{DeadLetter, IngestBatch, Micros, RawReading, RawValue, Reason, Source};

use super::device::DeviceIdRule;
use super::error::RecordError;
use super::resolve::{Record, Value, decode};

/// Decodes one SenML JSON message received on `topic` at `now` (µs) into a batch.
///
/// Every good record becomes a [`RawReading`] (`device_time` = resolved time, `received_at` =
/// `now`, `origin` = `topic`, `raw` = the whole payload, source MQTT). Every rejected record,
/// and a rejected payload, becomes a [`DeadLetter`] carrying the whole payload, the reason and
/// a detail. Nothing is dropped: a batch holds at least one item unless the pack is an empty
/// array or has only base fields.
///
/// The payload is copied once into an `Arc<[u8]>` shared by every item; each distinct device id
/// is allocated once per message.
pub fn pack_to_batch(payload: &[u8], topic: &str, rule: &DeviceIdRule, now: Micros) -> IngestBatch {
    let mut batch = IngestBatch::default();
    let ctx = Context { raw: Arc::from(payload), origin: Arc::from(topic), topic, now };
    let items = match decode(payload, now) {
        Ok(items) => items,
        Err(error) => {
            let device = rule.device_without_name(topic).map(Arc::from);
            batch.dead_letters.push(ctx.dead_letter(device, None, error.reason(), error.to_string()));
            return batch;
        }
    };
    batch.readings.reserve(items.len());
    let mut devices = Devices::default();
    for item in items {
        match item {
            Ok(record) => ctx.record(record, rule, &mut devices, &mut batch),
            Err(error) => ctx.record_error(error, rule, &mut devices, &mut batch),
        }
    }
    batch
}

/// What every item of one message shares.
struct Context<'t> {
    raw: Arc<[u8]>,
    origin: Arc<str>,
    topic: &'t str,
    now: Micros,
}

impl Context<'_> {
    fn record(&self, record: Record<'_>, rule: &DeviceIdRule, devices: &mut Devices, batch: &mut IngestBatch) {
        let split = rule.split(&record.name, self.topic);
        let Some(device) = split.device else {
            let detail = format!(
                "record {}: no device id in the name {:?} or at level {} of the topic",
                record.index, record.name, rule.topic_level
            );
            batch.dead_letters.push(self.dead_letter(
                None,
                Some(record.name.into_owned()),
                Reason::UnknownDevice,
                detail,
            ));
            return;
        };
        let device = devices.get(device);
        if split.metric.is_empty() {
            let detail = format!(
                "record {}: the name {:?} has no metric name after its last ':' or '/'",
                record.index, record.name
            );
            batch.dead_letters.push(self.dead_letter(
                Some(device),
                Some(record.name.into_owned()),
                Reason::UnknownMetric,
                detail,
            ));
            return;
        }
        batch.readings.push(RawReading {
            device_id: device,
            name: split.metric.to_owned(),
            value: match record.value {
                Value::Number(v) => RawValue::Number(v),
                Value::Text(s) => RawValue::Text(s.into_owned()),
                Value::Bool(b) => RawValue::Bool(b),
                Value::Data(d) => RawValue::Data(d.into_owned()),
            },
            unit: record.unit.map(|u| u.into_owned()),
            device_time: record.time,
            received_at: self.now,
            source: Source::Mqtt,
            origin: Arc::clone(&self.origin),
            raw: Arc::clone(&self.raw),
            flags: wardstream_pipeline::Flags::NONE,
        });
    }

    fn record_error(&self, error: RecordError, rule: &DeviceIdRule, devices: &mut Devices, batch: &mut IngestBatch) {
        let device = match &error.name {
            Some(name) if super::is_valid_name(name) => rule.split(name, self.topic).device,
            _ => rule.device_without_name(self.topic),
        };
        let device = device.map(|d| devices.get(d));
        let detail = error.to_string();
        batch.dead_letters.push(self.dead_letter(device, error.name, error.kind.reason(), detail));
    }

    fn dead_letter(
        &self,
        device_id: Option<Arc<str>>,
        source_name: Option<String>,
        reason: Reason,
        detail: String,
    ) -> DeadLetter {
        DeadLetter {
            received_at: self.now,
            source: Source::Mqtt,
            origin: Arc::clone(&self.origin),
            device_id,
            source_name,
            reason,
            detail,
            payload: Arc::clone(&self.raw),
        }
    }
}

/// The device ids of one message, each allocated once (messages rarely hold more than a few).
#[derive(Default)]
struct Devices(Vec<Arc<str>>);

impl Devices {
    fn get(&mut self, id: &str) -> Arc<str> {
        if let Some(known) = self.0.iter().find(|d| &***d == id) {
            return Arc::clone(known);
        }
        let new: Arc<str> = Arc::from(id);
        self.0.push(Arc::clone(&new));
        new
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
