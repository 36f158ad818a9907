//! The attach stage of the hot path: fills each [`Observation`]'s patient, encounter, ward and
//! bed from an [`AssociationSnapshot`], by the observation's `time` (after clock correction),
//! never its arrival time.
//!
//! A reading that is not attached keeps those fields `None` and gets [`Flag::Unassociated`]:
//! an unknown device, no association at its time, or a **conflict** (two patients at once: the
//! reading is attached to neither; counted apart in [`AttachCounts::conflict`]). `bed` holds
//! the whole location, `ward^room^bed`, so that beds of different rooms never mix.
//!
//! Design: a batch usually holds runs of readings of one device, so the device's timeline is
//! looked up once per run; each reading then costs one binary search and four `Arc` clones.

use std::sync::Arc;

use super::flatten::DeviceTimeline;
use super::snapshot::{AssociationSnapshot, Attach, Entry};
use crate::observation::{Flag, Observation};

/// What one [`attach`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachCounts {
    /// Readings attached to a patient.
    pub attached: u64,
    /// Readings of a known device with no association at their time.
    pub unassociated: u64,
    /// Readings of a device no placement or association names.
    pub unknown_device: u64,
    /// Readings at a time two patients are associated.
    pub conflict: u64,
}

impl AttachCounts {
    /// Readings flagged [`Flag::Unassociated`]: `unassociated + unknown_device + conflict`.
    pub fn flagged(&self) -> u64 {
        self.unassociated + self.unknown_device + self.conflict
    }

    /// Adds another call's counts.
    pub fn add(&mut self, other: AttachCounts) {
        self.attached += other.attached;
        self.unassociated += other.unassociated;
        self.unknown_device += other.unknown_device;
        self.conflict += other.conflict;
    }
}

/// Attaches every observation of `observations` (see the module docs).
pub fn attach(snapshot: &AssociationSnapshot, observations: &mut [Observation]) -> AttachCounts {
    let mut counts = AttachCounts::default();
    let mut run: Option<(Arc<str>, Option<&DeviceTimeline>)> = None;
    for obs in observations.iter_mut() {
        let timeline = match &run {
            Some((id, timeline)) if Arc::ptr_eq(id, &obs.device_id) || **id == *obs.device_id => *timeline,
            _ => {
                let timeline = snapshot.devices.get(&*obs.device_id).map(|d| &**d);
                run = Some((Arc::clone(&obs.device_id), timeline));
                timeline
            }
        };
        let answer = match timeline {
            None => Attach::UnknownDevice,
            Some(d) => match d.timeline.at(obs.time) {
                Some(Entry::Attached(a)) => Attach::Attached(a),
                Some(Entry::Conflict(p)) => Attach::Conflict(p),
                None => Attach::Unassociated,
            },
        };
        match answer {
            Attach::Attached(a) => {
                obs.patient_id = Some(Arc::clone(&a.patient_id));
                obs.encounter_id = a.encounter_id.clone();
                obs.ward = a.ward.clone();
                obs.bed = a.location.clone();
                obs.flags.remove(Flag::Unassociated);
                counts.attached += 1;
                continue;
            }
            Attach::Conflict(_) => counts.conflict += 1,
            Attach::Unassociated => counts.unassociated += 1,
            Attach::UnknownDevice => counts.unknown_device += 1,
        }
        obs.patient_id = None;
        obs.encounter_id = None;
        obs.ward = None;
        obs.bed = None;
        obs.flags.insert(Flag::Unassociated);
    }
    counts
}
