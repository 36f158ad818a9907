//! [`pack_to_batch`]: one SenML message becomes one [`IngestBatch`] of raw readings and dead
//! letters, with the device id of every reading chosen by the [`DeviceIdRule`].
//! [`pack_to_batch_with_identity`] does the same after checking, when the policy says so, that
//! the message names no device but its topic's (see [`identity`](super::identity)).

use std::sync::Arc;

use wardstream_pipeline::{DeadLetter, IngestBatch, Micros, RawReading, RawValue, Reason, Source};

use super::device::{DeviceIdRule, split_name, topic_level};
use super::error::RecordError;
use super::fast;
use super::identity::{IdentityPolicy, same_device};
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
    pack_to_batch_with_identity(payload, topic, rule, IdentityPolicy::Off, now)
}

/// [`pack_to_batch`] with the device-identity `policy`. With [`IdentityPolicy::Enforce`], when
/// any record (good or rejected) names a device that is not the one at level
/// `rule.topic_level` of `topic` (or the topic has no such level), the batch is a single dead
/// letter with the reason `identity_mismatch` (device id: the topic's device; source name: the
/// first offending record name; the detail names both) and no readings.
pub fn pack_to_batch_with_identity(
    payload: &[u8],
    topic: &str,
    rule: &DeviceIdRule,
    policy: IdentityPolicy,
    now: Micros,
) -> IngestBatch {
    let ctx = Context { raw: Arc::from(payload), origin: Arc::from(topic), topic, now };
    match fast::pack_to_batch(payload, &ctx, rule, policy) {
        Some(batch) => batch,
        None => reference(payload, &ctx, rule, policy),
    }
}

/// [`pack_to_batch_with_identity`] by the serde-based reference decoder only (no fast path):
/// the behaviour the fast path must match, for differential tests and fuzzing.
pub fn reference_pack_to_batch_with_identity(
    payload: &[u8],
    topic: &str,
    rule: &DeviceIdRule,
    policy: IdentityPolicy,
    now: Micros,
) -> IngestBatch {
    let ctx = Context { raw: Arc::from(payload), origin: Arc::from(topic), topic, now };
    reference(payload, &ctx, rule, policy)
}

/// The reference path: [`decode`] the whole pack, then turn its items into the batch.
fn reference(payload: &[u8], ctx: &Context<'_>, rule: &DeviceIdRule, policy: IdentityPolicy) -> IngestBatch {
    let mut batch = IngestBatch::default();
    let items = match decode(payload, ctx.now) {
        Ok(items) => items,
        Err(error) => {
            let device = rule.device_without_name(ctx.topic).map(Arc::from);
            batch.dead_letters.push(ctx.dead_letter(device, None, error.reason(), error.to_string()));
            return batch;
        }
    };
    if policy == IdentityPolicy::Enforce {
        let names = items.iter().map(|item| match item {
            Ok(record) => (record.index, Some(&*record.name)),
            Err(error) => (error.index, error.name.as_deref().filter(|n| super::is_valid_name(n))),
        });
        if let Some(mismatch) = ctx.identity_mismatch(names, rule) {
            batch.dead_letters.push(mismatch);
            return batch;
        }
    }
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
pub(super) struct Context<'t> {
    pub(super) raw: Arc<[u8]>,
    pub(super) origin: Arc<str>,
    pub(super) topic: &'t str,
    pub(super) now: Micros,
}

impl Context<'_> {
    pub(super) fn record(
        &self,
        record: Record<'_>,
        rule: &DeviceIdRule,
        devices: &mut Devices,
        batch: &mut IngestBatch,
    ) {
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

    pub(super) fn record_error(
        &self,
        error: RecordError,
        rule: &DeviceIdRule,
        devices: &mut Devices,
        batch: &mut IngestBatch,
    ) {
        let device = match &error.name {
            Some(name) if super::is_valid_name(name) => rule.split(name, self.topic).device,
            _ => rule.device_without_name(self.topic),
        };
        let device = device.map(|d| devices.get(d));
        let detail = error.to_string();
        batch.dead_letters.push(self.dead_letter(device, error.name, error.kind.reason(), detail));
    }

    /// The `identity_mismatch` dead letter of the first name (record index, name; `None`: a
    /// record without a readable name) that names a device other than the topic's.
    fn identity_mismatch<'n>(
        &self,
        names: impl Iterator<Item = (usize, Option<&'n str>)>,
        rule: &DeviceIdRule,
    ) -> Option<DeadLetter> {
        let topic_device = topic_level(self.topic, rule.topic_level);
        for (index, name) in names {
            let Some(name) = name else { continue };
            let Some(claimed) = split_name(name).0 else { continue };
            if topic_device.is_some_and(|t| same_device(claimed, t)) {
                continue;
            }
            let detail = match topic_device {
                Some(t) => format!(
                    "record {index}: the payload names device {claimed:?} but the topic names {t:?} \
                     (level {}); a device may only report for itself, the whole message is rejected",
                    rule.topic_level
                ),
                None => format!(
                    "record {index}: the payload names device {claimed:?} but the topic has no device id at \
                     level {} to verify it against; the whole message is rejected",
                    rule.topic_level
                ),
            };
            return Some(self.dead_letter(
                topic_device.map(Arc::from),
                Some(name.to_owned()),
                Reason::IdentityMismatch,
                detail,
            ));
        }
        None
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
pub(super) struct Devices(Vec<Arc<str>>);

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
