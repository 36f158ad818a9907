//! [`HotStore`]: the recent observations of every device, in memory, for timelines that must
//! show a reading the moment it is attached (before its Parquet file is flushed) and answer
//! recent ranges without touching disk.
//!
//! Design: the store is kept **per device**, not per patient. A patient's timeline is the union of
//! the device ranges the association snapshot gives for that patient
//! (`AssociationSnapshot::patient_intervals`), read from here for the recent part and from Parquet
//! for the rest. Keeping devices as the key means a late transfer or a cancelled admission — which
//! changes who a reading belongs to — needs no rewrite here: the next timeline request reads the
//! same device ranges through the new snapshot. The timeline, FHIR and SQL therefore agree by
//! construction.
//!
//! Bounds: per device, entries older than `window` before the newest entry are evicted, and at
//! most `max_per_device` entries are kept (oldest evicted first).
//!
//! Memory: an entry is held as a 40-byte slot (the [`HotEntry`] handed out is 48: its metric is an
//! `Arc`, the slot's a 4-byte index into its device's table of the metrics it sent). A device's
//! ring grows by an eighth at a time instead of doubling, and gives memory back once it holds
//! less than four fifths of what it reserved, so a full ring costs at most ~12 % over its slots
//! (measured with `bench/src/bin/hot_rss.rs`: 2,000 monitors × 10 vitals at 1 Hz, 15-minute
//! window, 18 M entries; results in `bench/results/hot-store-2000-beds.json`). A doubling ring
//! held 9,010 entries in room for 16,384: 87 bytes an entry.
//!
//! Concurrency: the writer thread inserts; API readers copy ranges out. A read lock on the device
//! map plus a short mutex per device: readers of one device never wait for another device.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use crate::catalogue::Metric;
use crate::observation::{Flags, Observation};
use crate::reading::Source;
use crate::time::Micros;

/// One recent observation of a device (what a timeline shows).
#[derive(Debug, Clone, PartialEq)]
pub struct HotEntry {
    /// Observation time (µs, UTC).
    pub time: Micros,
    /// As the device said.
    pub device_time: Micros,
    /// When wardstream received it.
    pub received_at: Micros,
    /// The metric.
    pub metric: Arc<Metric>,
    /// Normalised value in the metric's unit.
    pub value: f64,
    /// Quality flags (status is the most severe).
    pub flags: Flags,
    /// Transport.
    pub source: Source,
}

impl HotEntry {
    /// The entry for an observation.
    pub fn of(observation: &Observation) -> HotEntry {
        HotEntry {
            time: observation.time,
            device_time: observation.device_time,
            received_at: observation.received_at,
            metric: Arc::clone(&observation.metric),
            value: observation.value,
            flags: observation.flags,
            source: observation.source,
        }
    }
}

/// Bounds of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotConfig {
    /// Time span kept per device, before its newest entry (µs). Default 15 minutes.
    pub window: Micros,
    /// Most entries kept per device. Default 20,000 (enough for 15 min of 20 metrics at 1 Hz).
    pub max_per_device: usize,
}

impl Default for HotConfig {
    fn default() -> Self {
        HotConfig { window: 15 * 60 * 1_000_000, max_per_device: 20_000 }
    }
}

/// How an entry is held: a [`HotEntry`] whose metric is an index into its ring's `metrics`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    time: Micros,
    device_time: Micros,
    received_at: Micros,
    value: f64,
    metric: u32,
    flags: Flags,
    source: Source,
}

/// One device's entries, sorted by time, and the metrics they refer to.
#[derive(Debug, Default)]
struct Ring {
    slots: VecDeque<Slot>,
    /// The distinct metrics (by `Arc` identity) this device's slots point at.
    metrics: Vec<Arc<Metric>>,
}

impl Ring {
    /// The index of `metric` in `metrics`, added if new. The table is pruned of metrics no slot
    /// uses whenever it reaches 1,024, 2,048, … entries (never, with one catalogue: a metric is
    /// one `Arc` for the process's life).
    fn metric_index(&mut self, metric: &Arc<Metric>) -> u32 {
        // Most devices send a handful of metrics, and a catalogue metric's `id` is its position:
        // try that place, then scan.
        let hint = usize::from(metric.id);
        if self.metrics.get(hint).is_some_and(|m| Arc::ptr_eq(m, metric)) {
            return u32::from(metric.id);
        }
        if let Some(i) = self.metrics.iter().position(|m| Arc::ptr_eq(m, metric)) {
            return i as u32;
        }
        if self.metrics.len() >= 1024 && self.metrics.len().is_power_of_two() {
            self.compact_metrics();
        }
        self.metrics.push(Arc::clone(metric));
        (self.metrics.len() - 1) as u32
    }

    /// Drops the metrics no slot refers to any more, renumbering the slots.
    fn compact_metrics(&mut self) {
        let mut renumber: HashMap<u32, u32> = HashMap::new();
        let mut kept: Vec<Arc<Metric>> = Vec::new();
        for slot in self.slots.iter_mut() {
            let new = *renumber.entry(slot.metric).or_insert_with(|| {
                kept.push(Arc::clone(&self.metrics[slot.metric as usize]));
                (kept.len() - 1) as u32
            });
            slot.metric = new;
        }
        self.metrics = kept;
    }

    fn slot(&mut self, observation: &Observation) -> Slot {
        Slot {
            time: observation.time,
            device_time: observation.device_time,
            received_at: observation.received_at,
            value: observation.value,
            metric: self.metric_index(&observation.metric),
            flags: observation.flags,
            source: observation.source,
        }
    }

    fn entry(&self, slot: &Slot) -> HotEntry {
        HotEntry {
            time: slot.time,
            device_time: slot.device_time,
            received_at: slot.received_at,
            metric: Arc::clone(&self.metrics[slot.metric as usize]),
            value: slot.value,
            flags: slot.flags,
            source: slot.source,
        }
    }

    /// Inserts keeping time order; equal times keep arrival order. Appending is the common case.
    /// The ring grows by an eighth of its length when full (not by doubling).
    fn insert(&mut self, slot: Slot) {
        let len = self.slots.len();
        if len == self.slots.capacity() {
            self.slots.reserve_exact((len / 8).max(16));
        }
        if self.slots.back().is_none_or(|last| last.time <= slot.time) {
            self.slots.push_back(slot);
        } else {
            let at = self.slots.partition_point(|e| e.time <= slot.time);
            self.slots.insert(at, slot);
        }
    }

    /// Applies the bounds, then gives back memory the ring no longer needs.
    fn evict(&mut self, config: &HotConfig) {
        let slots = &mut self.slots;
        if slots.len() > config.max_per_device {
            slots.drain(..slots.len() - config.max_per_device);
        }
        if let Some(newest) = slots.back().map(|e| e.time) {
            // From the front, not by binary search: a few entries leave at a time, and they share
            // a cache line or two where a search would touch a dozen.
            let horizon = newest.saturating_sub(config.window);
            while slots.front().is_some_and(|e| e.time < horizon) {
                slots.pop_front();
            }
        }
        let len = slots.len();
        if slots.capacity() > len + len / 4 + 16 {
            slots.shrink_to(len + len / 8);
        }
    }

    /// Bytes this ring reserved (slots and metric table).
    fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.metrics.capacity() * std::mem::size_of::<Arc<Metric>>()
    }
}

type SharedRing = Arc<Mutex<Ring>>;

/// Recent observations per device (see the module docs).
#[derive(Debug, Default)]
pub struct HotStore {
    config: HotConfig,
    devices: RwLock<HashMap<Arc<str>, SharedRing>>,
}

impl HotStore {
    /// Bytes one held entry takes in its ring (before the ring's spare room).
    pub const ENTRY_BYTES: usize = std::mem::size_of::<Slot>();

    /// An empty store with these bounds.
    pub fn new(config: HotConfig) -> HotStore {
        HotStore { config, devices: RwLock::new(HashMap::new()) }
    }

    /// The bounds.
    pub fn config(&self) -> HotConfig {
        self.config
    }

    /// Adds observations (in any order; each device's entries stay sorted by time).
    pub fn insert(&self, observations: &[Observation]) {
        let mut i = 0;
        while i < observations.len() {
            // Runs of the same device share one lock acquisition.
            let device = &observations[i].device_id;
            let shared = self.ring(device);
            let mut ring = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            while i < observations.len() && observations[i].device_id == *device {
                let slot = ring.slot(&observations[i]);
                ring.insert(slot);
                i += 1;
            }
            ring.evict(&self.config);
        }
    }

    /// Entries of `device` with `from <= time < to`, ordered by time.
    pub fn range(&self, device: &str, from: Micros, to: Micros) -> Vec<HotEntry> {
        let Some(shared) = self.find(device) else { return Vec::new() };
        let ring = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = ring.slots.partition_point(|e| e.time < from);
        ring.slots.iter().skip(start).take_while(|e| e.time < to).map(|s| ring.entry(s)).collect()
    }

    /// The newest entry of each metric of `device` (for a ward page), ordered by metric name.
    pub fn latest(&self, device: &str) -> Vec<HotEntry> {
        let Some(shared) = self.find(device) else { return Vec::new() };
        let ring = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut newest: HashMap<u16, &Slot> = HashMap::new();
        for slot in ring.slots.iter() {
            newest.insert(ring.metrics[slot.metric as usize].id, slot);
        }
        let mut out: Vec<HotEntry> = newest.into_values().map(|s| ring.entry(s)).collect();
        out.sort_by(|a, b| a.metric.name.cmp(&b.metric.name));
        out
    }

    /// The oldest time still held for `device`, if any: ranges from here on are complete in
    /// memory for everything this process received.
    pub fn oldest(&self, device: &str) -> Option<Micros> {
        let shared = self.find(device)?;
        let ring = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ring.slots.front().map(|e| e.time)
    }

    /// Number of entries held (all devices).
    pub fn len(&self) -> usize {
        let devices = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        devices.values().map(|r| r.lock().unwrap_or_else(std::sync::PoisonError::into_inner).slots.len()).sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the entries' storage has reserved (all devices' rings and metric tables; not the
    /// device map), for a gauge of what the store costs.
    pub fn heap_bytes(&self) -> usize {
        let devices = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        devices.values().map(|r| r.lock().unwrap_or_else(std::sync::PoisonError::into_inner).heap_bytes()).sum()
    }

    fn find(&self, device: &str) -> Option<SharedRing> {
        let devices = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        devices.get(device).map(Arc::clone)
    }

    fn ring(&self, device: &Arc<str>) -> SharedRing {
        if let Some(ring) = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(device) {
            return Arc::clone(ring);
        }
        let mut devices = self.devices.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(devices.entry(Arc::clone(device)).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogue;

    fn obs(catalogue: &Catalogue, device: &str, metric: &str, time: Micros, value: f64) -> Observation {
        Observation {
            time,
            device_time: time,
            received_at: time + 5,
            device_id: Arc::from(device),
            metric: Arc::clone(catalogue.lookup(metric).unwrap()),
            value,
            source_name: metric.to_owned(),
            source_value: value,
            source_unit: None,
            flags: Flags::NONE,
            patient_id: None,
            encounter_id: None,
            ward: None,
            bed: None,
            source: Source::Mqtt,
        }
    }

    #[test]
    fn ranges_are_sorted_half_open_and_per_device() {
        let c = Catalogue::builtin();
        let store = HotStore::new(HotConfig::default());
        store.insert(&[obs(&c, "a", "HR", 30, 3.0), obs(&c, "a", "HR", 10, 1.0), obs(&c, "b", "HR", 20, 9.0)]);
        store.insert(&[obs(&c, "a", "HR", 20, 2.0)]);
        let values: Vec<f64> = store.range("a", 10, 30).iter().map(|e| e.value).collect();
        assert_eq!(values, [1.0, 2.0]);
        assert_eq!(store.range("a", 0, 100).len(), 3);
        assert_eq!(store.range("b", 0, 100)[0].value, 9.0);
        assert!(store.range("zzz", 0, 100).is_empty());
        assert_eq!(store.oldest("a"), Some(10));
        assert_eq!(store.len(), 4);
    }

    #[test]
    fn window_and_count_bound_each_device() {
        let c = Catalogue::builtin();
        let store = HotStore::new(HotConfig { window: 100, max_per_device: 5 });
        let batch: Vec<Observation> = (0..10).map(|i| obs(&c, "a", "HR", i * 10, i as f64)).collect();
        store.insert(&batch);
        // Count bound: the 5 newest (50..=90); the window (90 - 100 < 0) keeps them all.
        assert_eq!(store.range("a", 0, 1000).iter().map(|e| e.time).collect::<Vec<_>>(), [50, 60, 70, 80, 90]);
        store.insert(&[obs(&c, "a", "HR", 175, 0.0)]);
        // Window bound: newest 175, so entries before 75 go.
        assert_eq!(store.range("a", 0, 1000).iter().map(|e| e.time).collect::<Vec<_>>(), [80, 90, 175]);
    }

    #[test]
    fn latest_gives_the_newest_value_of_each_metric() {
        let c = Catalogue::builtin();
        let store = HotStore::new(HotConfig::default());
        store.insert(&[obs(&c, "a", "HR", 1, 70.0), obs(&c, "a", "SpO2", 1, 97.0), obs(&c, "a", "HR", 2, 71.0)]);
        let latest: Vec<(String, f64)> =
            store.latest("a").into_iter().map(|e| (e.metric.name.clone(), e.value)).collect();
        assert_eq!(latest, [("heart_rate".to_owned(), 71.0), ("spo2".to_owned(), 97.0)]);
    }

    #[test]
    fn a_full_ring_reserves_at_most_an_eighth_more_than_it_holds_and_gives_memory_back() {
        let c = Catalogue::builtin();
        assert_eq!(HotStore::ENTRY_BYTES, 40);
        let store = HotStore::new(HotConfig { window: 900, max_per_device: 20_000 });
        for second in 0..1000 {
            let batch: Vec<Observation> = ["HR", "SpO2"].iter().map(|m| obs(&c, "a", m, second, 1.0)).collect();
            store.insert(&batch);
        }
        // Times 99..=999 kept (the window reaches 900 before the newest, 999), two metrics each.
        assert_eq!(store.len(), 1802);
        let slots = store.heap_bytes() - 2 * std::mem::size_of::<Arc<crate::catalogue::Metric>>();
        assert!(slots <= 1802 * 40 + 1802 * 40 / 8 + 16 * 40, "{slots} bytes reserved");
        // A jump ahead evicts all but the newest entry: the ring gives back what it no longer needs.
        store.insert(&[obs(&c, "a", "HR", 2000, 1.0)]);
        assert_eq!(store.len(), 1);
        assert!(store.heap_bytes() <= 17 * 40 + 2 * 8, "{} bytes reserved", store.heap_bytes());
    }

    #[test]
    fn each_entry_keeps_its_own_metric_when_two_catalogues_share_ids() {
        let (first, second) = (Catalogue::builtin(), Catalogue::builtin());
        let store = HotStore::new(HotConfig::default());
        store.insert(&[
            obs(&first, "a", "HR", 1, 1.0),
            obs(&second, "a", "HR", 2, 2.0),
            obs(&first, "a", "HR", 3, 3.0),
        ]);
        let metrics: Vec<Arc<crate::catalogue::Metric>> =
            store.range("a", 0, 10).into_iter().map(|e| e.metric).collect();
        let hr = |c: &Catalogue| Arc::clone(c.lookup("HR").unwrap());
        assert!(Arc::ptr_eq(&metrics[0], &hr(&first)));
        assert!(Arc::ptr_eq(&metrics[1], &hr(&second)));
        assert!(Arc::ptr_eq(&metrics[2], &hr(&first)));
    }
}
