//! [`Deduplicator`]: a reading already stored (same device, metric and device time) within the
//! window is not stored again, so redeliveries (MQTT QoS 1 after a reconnect) and repeated polls
//! never double a row. The repeat is not dropped silently: it becomes a `duplicate` dead letter.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::{ConditionCounts, ConditioningConfig, micros};
use crate::catalogue::Metric;
use crate::dead_letter::{DeadLetter, Reason};
use crate::observation::Observation;
use crate::time::{Micros, format_rfc3339};

/// Remembers the readings stored recently and turns repeats into dead letters.
///
/// The key is (device id, catalogue metric, device time as sent): `HR` and `heart_rate` from
/// one device at one instant are the same reading. A repeat whose value differs is still a
/// duplicate (one row per device, metric and time); its dead letter shows both values.
///
/// Design (memory): a reading is remembered for `dedup_window` after its `received_at`. Time
/// advances with the newest `received_at` seen, not the wall clock, so the stage is
/// deterministic; entries leave in arrival order, each once the newest receipt is more than
/// the window past its own (one received out of order may stay a little longer, never less).
/// The map and queue shrink when three quarters of their room is unused. At most
/// `dedup_max_keys` readings are remembered (about 100 bytes each): at the cap the oldest is
/// forgotten before its window ends and counted in `dedup_evicted`; a repeat of it would then be
/// stored again. Across a restart, the service seeds the stage ([`Deduplicator::start_clock`],
/// [`Deduplicator::remember`]) with the readings stored in the last window, read back from
/// Parquet, so redeliveries and WAL replays of them are recognised too.
///
/// A duplicate's dead letter has the device id, source name, receipt time, a detail naming
/// the metric, device time and values, and empty `origin` and `payload`: an [`Observation`] no
/// longer carries them (the stored row holds everything the repeat said).
#[derive(Debug)]
pub struct Deduplicator {
    window: Micros,
    max_keys: usize,
    seen: HashMap<Key, Seen>,
    /// Keys in arrival order with their receipt time, for expiry.
    order: VecDeque<(Micros, Key)>,
    /// The newest `received_at` seen: the stage's "now".
    newest: Option<Micros>,
    empty_origin: Arc<str>,
    empty_payload: Arc<[u8]>,
}

/// What identifies a reading: device, metric (by name) and device time.
#[derive(Debug, Clone)]
struct Key {
    device: Arc<str>,
    metric: Arc<Metric>,
    device_time: Micros,
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.device_time == other.device_time && self.device == other.device && self.metric.name == other.metric.name
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.device.hash(state);
        self.metric.name.hash(state);
        self.device_time.hash(state);
    }
}

/// The stored reading a key stands for.
#[derive(Debug, Clone, Copy)]
struct Seen {
    received_at: Micros,
    value: f64,
}

impl Deduplicator {
    /// A de-duplicator that remembers nothing yet.
    pub fn new(config: &ConditioningConfig) -> Deduplicator {
        Deduplicator {
            window: micros(config.dedup_window),
            max_keys: config.dedup_max_keys.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
            newest: None,
            empty_origin: Arc::from(""),
            empty_payload: Arc::from(&b""[..]),
        }
    }

    /// Readings remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Checks one reading: `None` when it is new (and now remembered), its dead letter when it
    /// repeats one remembered. Counts duplicates and early evictions.
    pub fn check(&mut self, obs: &mut Observation, counts: &mut ConditionCounts) -> Option<DeadLetter> {
        let now = self.newest.map_or(obs.received_at, |n| n.max(obs.received_at));
        self.newest = Some(now);
        self.expire(now);
        let key =
            Key { device: Arc::clone(&obs.device_id), metric: Arc::clone(&obs.metric), device_time: obs.device_time };
        if let Some(first) = self.seen.get(&key) {
            counts.duplicates += 1;
            return Some(self.dead_letter(obs, *first));
        }
        while self.seen.len() >= self.max_keys {
            match self.order.pop_front() {
                Some((_, oldest)) => {
                    self.seen.remove(&oldest);
                    counts.dedup_evicted += 1;
                }
                None => break,
            }
        }
        self.seen.insert(key.clone(), Seen { received_at: obs.received_at, value: obs.value });
        // Stamped with the stage's clock, not the reading's own receipt: a reading replayed
        // from the WAL after a restart (old `received_at`) is remembered for a whole window from
        // now, so the broker's redelivery of it is still recognised.
        self.order.push_back((now, key));
        None
    }

    /// Starts the stage's clock at `now` (the wall clock at start-up), so that readings replayed
    /// with old receipt times are remembered for a window from now.
    pub fn start_clock(&mut self, now: Micros) {
        self.newest = Some(self.newest.map_or(now, |n| n.max(now)));
    }

    /// Remembers a reading already stored (read back from Parquet at start-up) without storing
    /// it: a repeat of it becomes a duplicate. Call after [`Deduplicator::start_clock`].
    pub fn remember(
        &mut self,
        device: Arc<str>,
        metric: Arc<Metric>,
        device_time: Micros,
        received_at: Micros,
        value: f64,
    ) {
        let now = self.newest.unwrap_or(received_at).max(received_at);
        if self.seen.len() >= self.max_keys {
            return;
        }
        let key = Key { device, metric, device_time };
        if self.seen.insert(key.clone(), Seen { received_at, value }).is_none() {
            self.order.push_back((now, key));
        }
    }

    /// Forgets every reading received more than the window before `now`, in arrival order.
    fn expire(&mut self, now: Micros) {
        let before = self.seen.len();
        while let Some((received_at, _)) = self.order.front() {
            if now.saturating_sub(*received_at) <= self.window {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
        let len = self.seen.len();
        if len < before && self.seen.capacity() > 64 && len * 4 < self.seen.capacity() {
            self.seen.shrink_to(len * 2);
            self.order.shrink_to(len * 2);
        }
    }

    fn dead_letter(&self, obs: &mut Observation, first: Seen) -> DeadLetter {
        let unit = &obs.metric.unit;
        let values = if first.value.to_bits() == obs.value.to_bits() {
            format!("value {} {unit}, as stored", obs.value)
        } else {
            format!("value {} {unit}, stored {} {unit}", obs.value, first.value)
        };
        let detail = format!(
            "{} at device time {} was already stored (received {}); {values}",
            obs.metric.name,
            format_rfc3339(obs.device_time),
            format_rfc3339(first.received_at),
        );
        DeadLetter {
            received_at: obs.received_at,
            source: obs.source,
            origin: Arc::clone(&self.empty_origin),
            device_id: Some(Arc::clone(&obs.device_id)),
            source_name: Some(std::mem::take(&mut obs.source_name)),
            reason: Reason::Duplicate,
            detail,
            payload: Arc::clone(&self.empty_payload),
        }
    }
}

#[cfg(test)]
#[path = "dedup_tests.rs"]
mod tests;
