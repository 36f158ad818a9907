//! [`Deduplicator`]: a reading already stored (same device, metric and device time) within the
//! window is not stored again, so redeliveries (MQTT QoS 1 after a reconnect) and repeated polls
//! never double a row. The repeat is not dropped silently: it becomes a `duplicate` dead letter.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

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
/// The table and queue shrink when three quarters of their room is unused. At most
/// `dedup_max_keys` readings are remembered (about 100 bytes each): at the cap the oldest is
/// forgotten before its window ends and counted in `dedup_evicted`; a repeat of it would then be
/// stored again. Across a restart, the service seeds the stage ([`Deduplicator::start_clock`],
/// [`Deduplicator::remember`]) with the readings stored in the last window, read back from
/// Parquet, so redeliveries and WAL replays of them are recognised too.
///
/// Design (speed: it sees every reading at flat-out load): the remembered readings live once,
/// in arrival order, in a queue; the hash table holds only their sequence numbers, found by a
/// hash of the key computed once per reading and kept in the entry. The hash is foldhash with
/// a random per-process seed (fast, and device-chosen ids cannot aim at collisions); keys hold
/// the reading's `Arc`s (no string is copied). Forgetting the oldest (expiry or the cap) pops
/// the queue's front and removes its sequence number from the table by the kept hash, comparing
/// numbers, not strings.
///
/// A duplicate's dead letter has the device id, source name, receipt time, a detail naming
/// the metric, device time and values, and empty `origin` and `payload`: an [`Observation`] no
/// longer carries them (the stored row holds everything the repeat said).
#[derive(Debug)]
pub struct Deduplicator {
    window: Micros,
    max_keys: usize,
    /// Sequence numbers of the remembered readings (index in `order` plus `head`), by key hash.
    seen: HashTable<u64>,
    /// The remembered readings in arrival order, with their receipt stamp, for expiry.
    order: VecDeque<Entry>,
    /// Sequence number of `order`'s front.
    head: u64,
    hasher: RandomState,
    /// The newest `received_at` seen: the stage's "now".
    newest: Option<Micros>,
    empty_origin: Arc<str>,
    empty_payload: Arc<[u8]>,
}

/// One remembered reading: its key (device, metric by name, device time), the key's hash, the
/// stage's clock when it was remembered (for expiry) and what was stored.
#[derive(Debug)]
struct Entry {
    hash: u64,
    stamp: Micros,
    device: Arc<str>,
    metric: Arc<Metric>,
    device_time: Micros,
    seen: Seen,
}

impl Entry {
    /// True when this entry's key is (device, metric by name, device time).
    fn is(&self, device: &Arc<str>, metric: &Arc<Metric>, device_time: Micros) -> bool {
        self.device_time == device_time
            && (Arc::ptr_eq(&self.device, device) || *self.device == **device)
            && (Arc::ptr_eq(&self.metric, metric) || self.metric.name == metric.name)
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
            seen: HashTable::new(),
            order: VecDeque::new(),
            head: 0,
            hasher: RandomState::default(),
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
        let hash = self.hash(&obs.device_id, &obs.metric, obs.device_time);
        if let Some(first) = self.find(hash, &obs.device_id, &obs.metric, obs.device_time) {
            let first = first.seen;
            counts.duplicates += 1;
            return Some(self.dead_letter(obs, first));
        }
        while self.seen.len() >= self.max_keys {
            if !self.forget_oldest() {
                break;
            }
            counts.dedup_evicted += 1;
        }
        // Stamped with the stage's clock, not the reading's own receipt: a reading replayed
        // from the WAL after a restart (old `received_at`) is remembered for a whole window from
        // now, so the broker's redelivery of it is still recognised.
        self.push(Entry {
            hash,
            stamp: now,
            device: Arc::clone(&obs.device_id),
            metric: Arc::clone(&obs.metric),
            device_time: obs.device_time,
            seen: Seen { received_at: obs.received_at, value: obs.value },
        });
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
        let hash = self.hash(&device, &metric, device_time);
        let (head, order) = (self.head, &mut self.order);
        let found = self.seen.find(hash, |&seq| order[index(seq, head)].is(&device, &metric, device_time)).copied();
        match found {
            // Remembered twice: the later one stands (its receipt and value), the first stamp stays.
            Some(seq) => order[index(seq, head)].seen = Seen { received_at, value },
            None => {
                self.push(Entry { hash, stamp: now, device, metric, device_time, seen: Seen { received_at, value } })
            }
        }
    }

    /// The key's hash: device id, metric name and device time, as [`Entry::is`] compares them.
    fn hash(&self, device: &str, metric: &Metric, device_time: Micros) -> u64 {
        self.hasher.hash_one((device, metric.name.as_str(), device_time))
    }

    /// The remembered reading with this key, if any.
    fn find(&self, hash: u64, device: &Arc<str>, metric: &Arc<Metric>, device_time: Micros) -> Option<&Entry> {
        let (head, order) = (self.head, &self.order);
        let seq = self.seen.find(hash, |&seq| order[index(seq, head)].is(device, metric, device_time))?;
        order.get(index(*seq, head))
    }

    /// Remembers a reading not remembered yet, newest in arrival order.
    fn push(&mut self, entry: Entry) {
        let hash = entry.hash;
        let seq = self.head + self.order.len() as u64;
        self.order.push_back(entry);
        let (head, order) = (self.head, &self.order);
        self.seen.insert_unique(hash, seq, |&seq| order[index(seq, head)].hash);
    }

    /// Forgets the oldest remembered reading; false when there is none.
    fn forget_oldest(&mut self) -> bool {
        let Some(oldest) = self.order.pop_front() else {
            return false;
        };
        let seq = self.head;
        self.head += 1;
        if let Ok(entry) = self.seen.find_entry(oldest.hash, |&s| s == seq) {
            entry.remove();
        }
        true
    }

    /// Forgets every reading received more than the window before `now`, in arrival order.
    fn expire(&mut self, now: Micros) {
        let before = self.seen.len();
        while let Some(oldest) = self.order.front() {
            if now.saturating_sub(oldest.stamp) <= self.window {
                break;
            }
            self.forget_oldest();
        }
        let len = self.seen.len();
        if len < before && self.seen.capacity() > 64 && len * 4 < self.seen.capacity() {
            let (head, order) = (self.head, &self.order);
            self.seen.shrink_to(len * 2, |&seq| order[index(seq, head)].hash);
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

/// Position in the queue of the entry with sequence number `seq`, the front's being `head`.
fn index(seq: u64, head: u64) -> usize {
    (seq - head) as usize
}

#[cfg(test)]
#[path = "dedup_tests.rs"]
mod tests;
