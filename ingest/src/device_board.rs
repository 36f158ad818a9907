//! [`DeviceBoard`]: every device wardstream has heard from, with when and how much — what
//! `GET /api/v1/devices` shows beside the registry (bed) and the association (patient).
//!
//! Updated by the pipeline's serving stage (`crate::serving`) once per batch (one lock per batch,
//! not per reading).
//! A device is `online` while its last reading arrived less than `online_for` ago.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use wardstream_pipeline::{DeadLetter, Micros, Observation};

/// What is known of one device's traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceTraffic {
    /// Transport of its latest reading.
    pub source: String,
    /// First reading received (µs).
    pub first_seen: Micros,
    /// Latest reading received (µs).
    pub last_seen: Micros,
    /// Readings stored.
    pub readings: u64,
    /// Readings stored without a patient (`unassociated`).
    pub unassociated: u64,
    /// Readings or payloads rejected (dead letters naming this device).
    pub dead_letters: u64,
}

/// Devices heard from (see the module docs).
#[derive(Debug, Default)]
pub struct DeviceBoard {
    devices: Mutex<HashMap<String, DeviceTraffic>>,
    /// The drivers' state, shown per device (see [`crate::driver_state`]).
    pub drivers: crate::driver_state::DriverRegistry,
}

impl DeviceBoard {
    /// Counts a written batch.
    pub fn record(&self, observations: &[Observation], dead_letters: &[DeadLetter]) {
        let mut devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for o in observations {
            let entry = entry(&mut devices, &o.device_id, o.received_at);
            entry.readings += 1;
            entry.unassociated += u64::from(o.patient_id.is_none());
            entry.source = o.source.as_str().to_owned();
        }
        for d in dead_letters {
            if let Some(device) = &d.device_id {
                let entry = entry(&mut devices, device, d.received_at);
                entry.dead_letters += 1;
                entry.source = d.source.as_str().to_owned();
            }
        }
    }

    /// A copy of every device's traffic, sorted by device id.
    pub fn snapshot(&self) -> Vec<(String, DeviceTraffic)> {
        let devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<(String, DeviceTraffic)> = devices.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

fn entry<'a>(devices: &'a mut HashMap<String, DeviceTraffic>, device: &str, at: Micros) -> &'a mut DeviceTraffic {
    if !devices.contains_key(device) {
        devices.insert(device.to_owned(), DeviceTraffic { first_seen: at, last_seen: at, ..DeviceTraffic::default() });
    }
    // Present now: no allocation per reading for a known device.
    let entry = devices.get_mut(device).unwrap_or_else(|| unreachable!("inserted above"));
    entry.first_seen = entry.first_seen.min(at);
    entry.last_seen = entry.last_seen.max(at);
    entry
}
