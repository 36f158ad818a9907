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
//! most `max_per_device` entries are kept (oldest evicted first). An entry is ~56 bytes.
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

type Ring = Arc<Mutex<VecDeque<HotEntry>>>;

/// Recent observations per device (see the module docs).
#[derive(Debug, Default)]
pub struct HotStore {
    config: HotConfig,
    devices: RwLock<HashMap<Arc<str>, Ring>>,
}

impl HotStore {
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
            let ring = self.ring(device);
            let mut entries = ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            while i < observations.len() && observations[i].device_id == *device {
                insert_sorted(&mut entries, HotEntry::of(&observations[i]));
                i += 1;
            }
            self.evict(&mut entries);
        }
    }

    /// Entries of `device` with `from <= time < to`, ordered by time.
    pub fn range(&self, device: &str, from: Micros, to: Micros) -> Vec<HotEntry> {
        let ring = {
            let devices = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            match devices.get(device) {
                Some(ring) => Arc::clone(ring),
                None => return Vec::new(),
            }
        };
        let entries = ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = entries.partition_point(|e| e.time < from);
        entries.iter().skip(start).take_while(|e| e.time < to).cloned().collect()
    }

    /// The newest entry of each metric of `device` (for a ward page), ordered by metric name.
    pub fn latest(&self, device: &str) -> Vec<HotEntry> {
        let ring = {
            let devices = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            match devices.get(device) {
                Some(ring) => Arc::clone(ring),
                None => return Vec::new(),
            }
        };
        let entries = ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut newest: HashMap<u16, &HotEntry> = HashMap::new();
        for entry in entries.iter() {
            newest.insert(entry.metric.id, entry);
        }
        let mut out: Vec<HotEntry> = newest.into_values().cloned().collect();
        out.sort_by(|a, b| a.metric.name.cmp(&b.metric.name));
        out
    }

    /// The oldest time still held for `device`, if any: ranges from here on are complete in
    /// memory for everything this process received.
    pub fn oldest(&self, device: &str) -> Option<Micros> {
        let devices = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ring = devices.get(device)?;
        let entries = ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.front().map(|e| e.time)
    }

    /// Number of entries held (all devices).
    pub fn len(&self) -> usize {
        let devices = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        devices.values().map(|r| r.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()).sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn ring(&self, device: &Arc<str>) -> Ring {
        if let Some(ring) = self.devices.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(device) {
            return Arc::clone(ring);
        }
        let mut devices = self.devices.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(devices.entry(Arc::clone(device)).or_default())
    }

    fn evict(&self, entries: &mut VecDeque<HotEntry>) {
        while entries.len() > self.config.max_per_device {
            entries.pop_front();
        }
        let Some(newest) = entries.back().map(|e| e.time) else { return };
        let horizon = newest.saturating_sub(self.config.window);
        while entries.front().is_some_and(|e| e.time < horizon) {
            entries.pop_front();
        }
    }
}

/// Inserts keeping time order; equal times keep arrival order. Appending is the common case.
fn insert_sorted(entries: &mut VecDeque<HotEntry>, entry: HotEntry) {
    if entries.back().is_none_or(|last| last.time <= entry.time) {
        entries.push_back(entry);
    } else {
        let at = entries.partition_point(|e| e.time <= entry.time);
        entries.insert(at, entry);
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
}
