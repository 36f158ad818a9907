//! [`SkewCorrector`]: estimates each device's clock skew from device time against receive time,
//! corrects the `time` of devices that are persistently off, and flags future times.
//!
//! All times are UTC. A reading's offset is `received_at − device_time`: the device's skew (how
//! far its clock is behind ours; negative when ahead) plus the delay between measuring and
//! receiving, which is never negative. A corrected reading has `time = device_time + skew`,
//! keeps `device_time` as the device said it, and carries [`Flag::ClockCorrected`]. Readings
//! whose SenML time was relative (time = now at receipt) have an offset near zero and are
//! never corrected.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ConditionCounts, ConditioningConfig, micros};
use crate::observation::{Flag, Observation};
use crate::time::Micros;

/// How far the estimate must move before a device's correction follows (µs).
pub const RESTEP: Micros = 1_000_000;

/// Receipt jitter tolerated before readings count as a backlog replayed (µs).
pub const BACKLOG_SLACK: Micros = 250_000;

/// Per-device clock-skew estimation and correction (see the module docs).
///
/// Design (estimator): the estimate is a low quantile of the offsets of the device's last
/// `clock_skew_window` readings: the ⌊n/10⌋-th smallest of n (the minimum below ten). Delay
/// only ever adds to an offset, so the smallest offsets are the truest; skipping the lowest
/// tenth ignores a few readings stamped too late by a glitching clock. It is exact integer
/// arithmetic over the readings in arrival order, so the same input gives the same result.
/// Readings of one message (same device time and receive time) are one sample.
///
/// Design (persistence): the device's correction is decided anew after each sample once the
/// window holds `clock_skew_min_readings` samples: corrected by the estimate when its magnitude
/// exceeds `clock_skew_threshold`; a device already corrected stays so until the magnitude falls
/// to half the threshold (hysteresis, so jitter near the threshold does not flip it). Before
/// that (warm-up) the device is not corrected. A correction, once made, moves only when the
/// estimate leaves it by more than [`RESTEP`] (1 s): delay jitter never changes it, so a
/// device's corrected times keep its own order and spacing.
///
/// Design (backlogs): readings a broker queued while we were away arrive together, their
/// offsets being their age (shrinking as the replay nears the present), not skew. While the
/// device times of a device's last two samples, or of its last `clock_skew_min_readings`, span
/// more than twice their receive times plus [`BACKLOG_SLACK`] (250 ms, for receipt jitter), its
/// decision does not change: a device corrected before keeps its correction, one not corrected
/// stays so. A clock stepped forward looks the same for those few samples, so a fixed clock is
/// released once its last `clock_skew_min_readings` samples all follow the fix. (A device that
/// sends that many distinct times in every message always looks like a backlog and is never
/// corrected, which errs on the side of leaving its times as sent.)
///
/// Design (eviction): at most `clock_skew_max_devices` devices are tracked, each with a fixed
/// window. When a new device arrives at the cap, the least recently seen eighth of the devices
/// (at least one) are forgotten in one pass, which keeps eviction amortised O(1) per device; a
/// forgotten device that returns starts its warm-up again.
#[derive(Debug)]
pub struct SkewCorrector {
    threshold: Micros,
    future_tolerance: Micros,
    window: usize,
    min_samples: usize,
    max_devices: usize,
    devices: HashMap<Arc<str>, DeviceClock>,
    /// Readings seen so far: the "recently seen" clock of eviction.
    seq: u64,
    scratch: Vec<Micros>,
}

/// One device's recent samples and current decision.
#[derive(Debug)]
struct DeviceClock {
    /// `(device_time, received_at)` of the last samples, a ring of at most `window`.
    samples: Vec<(Micros, Micros)>,
    /// Where the next sample goes once the ring is full (its oldest sample).
    next: usize,
    last_seen: u64,
    /// The skew `time` is corrected by, when the device is judged off.
    correction: Option<Micros>,
}

impl SkewCorrector {
    /// A corrector with no devices yet.
    pub fn new(config: &ConditioningConfig) -> SkewCorrector {
        let window = config.clock_skew_window.max(1);
        SkewCorrector {
            threshold: micros(config.clock_skew_threshold),
            future_tolerance: micros(config.future_tolerance),
            window,
            min_samples: config.clock_skew_min_readings.clamp(1, window),
            max_devices: config.clock_skew_max_devices.max(1),
            devices: HashMap::new(),
            seq: 0,
            scratch: Vec::with_capacity(window),
        }
    }

    /// Learns from one reading, corrects its `time` when its device is judged off, flags it when
    /// it is in the future, and counts both.
    pub fn apply(&mut self, obs: &mut Observation, counts: &mut ConditionCounts) {
        self.seq += 1;
        if !self.devices.contains_key(&*obs.device_id) {
            if self.devices.len() >= self.max_devices {
                counts.clock_devices_evicted += self.evict_least_recent();
            }
            let state =
                DeviceClock { samples: Vec::with_capacity(self.window), next: 0, last_seen: 0, correction: None };
            self.devices.insert(Arc::clone(&obs.device_id), state);
        }
        if let Some(device) = self.devices.get_mut(&*obs.device_id) {
            device.last_seen = self.seq;
            if device.push(obs.device_time, obs.received_at, self.window) {
                device.decide(self.min_samples, self.threshold, &mut self.scratch);
            }
            if let Some(skew) = device.correction {
                obs.time = obs.device_time.saturating_add(skew);
                obs.flags.insert(Flag::ClockCorrected);
                counts.clock_corrected += 1;
            }
        }
        if obs.time.saturating_sub(obs.received_at) > self.future_tolerance {
            obs.flags.insert(Flag::FutureTime);
            counts.future_time += 1;
        }
    }

    /// The skew a device's readings are corrected by now, `None` when they are not corrected.
    pub fn correction(&self, device_id: &str) -> Option<Micros> {
        self.devices.get(device_id).and_then(|d| d.correction)
    }

    /// Devices tracked.
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// Forgets the least recently seen eighth of the devices (at least one); returns how many.
    fn evict_least_recent(&mut self) -> u64 {
        let mut seen: Vec<u64> = self.devices.values().map(|d| d.last_seen).collect();
        let k = (seen.len() / 8).max(1);
        let (_, cutoff, _) = seen.select_nth_unstable(k - 1);
        let cutoff = *cutoff;
        let before = self.devices.len();
        // `last_seen` values are distinct (one per reading), so exactly `k` go.
        self.devices.retain(|_, d| d.last_seen > cutoff);
        (before - self.devices.len()) as u64
    }
}

impl DeviceClock {
    /// Adds a sample; false when it is the same moment as the previous one (another record of
    /// the same message), which adds nothing.
    fn push(&mut self, device_time: Micros, received_at: Micros, window: usize) -> bool {
        let sample = (device_time, received_at);
        if self.newest() == Some(sample) {
            return false;
        }
        if self.samples.len() < window {
            self.samples.push(sample);
        } else {
            self.samples[self.next] = sample;
            self.next = (self.next + 1) % window;
        }
        true
    }

    fn newest(&self) -> Option<(Micros, Micros)> {
        self.nth_newest(0)
    }

    /// The sample `n` places before the newest (0 is the newest).
    fn nth_newest(&self, n: usize) -> Option<(Micros, Micros)> {
        let len = self.samples.len();
        if n >= len {
            return None;
        }
        self.samples.get((self.next + len - 1 - n) % len).copied()
    }

    /// Re-decides the correction from the window (see the type's design notes).
    fn decide(&mut self, min_samples: usize, threshold: Micros, scratch: &mut Vec<Micros>) {
        if self.samples.len() < min_samples {
            return; // warm-up
        }
        scratch.clear();
        scratch.extend(self.samples.iter().map(|&(device, received)| received.saturating_sub(device)));
        let k = scratch.len() / 10;
        let (_, estimate, _) = scratch.select_nth_unstable(k);
        let estimate = *estimate;
        let keep = self.correction.is_some() && estimate.saturating_abs() > threshold / 2;
        let proposal = match (self.correction, (estimate.saturating_abs() > threshold || keep).then_some(estimate)) {
            (Some(now), Some(new)) if new.abs_diff(now) <= RESTEP.unsigned_abs() => Some(now),
            (_, proposal) => proposal,
        };
        if proposal != self.correction && (self.replaying_backlog(2) || self.replaying_backlog(min_samples)) {
            return; // the offsets are a backlog's ages, not skew
        }
        self.correction = proposal;
    }

    /// True when the device times of the last `recent` samples (at least 2) advance more than
    /// twice as fast as their receive times, by more than [`BACKLOG_SLACK`].
    fn replaying_backlog(&self, recent: usize) -> bool {
        let recent = recent.max(2).min(self.samples.len());
        let (Some(old), Some(new)) = (self.nth_newest(recent.saturating_sub(1)), self.newest()) else { return false };
        let device_span = new.0.saturating_sub(old.0);
        let receive_span = new.1.saturating_sub(old.1);
        device_span.saturating_sub(receive_span.saturating_mul(2)) > BACKLOG_SLACK
    }
}

#[cfg(test)]
#[path = "skew_tests.rs"]
pub(crate) mod tests;
