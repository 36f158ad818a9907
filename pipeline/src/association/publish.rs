//! [`Engine::publish`]: recomputes what ingested events marked dirty — beds, then the devices
//! they (or the events) touch, then the patients whose intervals or stays changed — on a copy of
//! the previous snapshot, reusing every unchanged part (see [`super::engine`]).

use std::sync::Arc;

use super::build::{add_stats, placement_pieces, sort_intervals, sort_stays};
use super::engine::{Engine, explicit_state};
use super::event::{AssociationEvent, BedRef, DevicePlacement, Subject};
use super::flatten::{BedOccupancy, Claim, DeviceInputs, device_timeline, occupancy, sort_claims};
use super::hash::FastSet;
use super::intervals::end_option;
use super::rules::DeriveStats;
use super::snapshot::{AssociationSnapshot, AttachmentSource, Stay};

impl Engine {
    /// The snapshot after everything ingested since the last publish, numbered `version`.
    /// `previous` must be the snapshot the last publish returned (or the empty one).
    pub(crate) fn publish(
        &mut self,
        events: &[AssociationEvent],
        previous: &AssociationSnapshot,
        version: u64,
    ) -> AssociationSnapshot {
        let mut snap = previous.clone();
        snap.version = version;
        self.publish_beds(events, previous, &mut snap);
        let patients = self.publish_devices(events, previous, &mut snap);
        for p in patients {
            let mut list = Vec::new();
            for d in self.patient_devices.get(&p).into_iter().flatten() {
                if let Some(t) = snap.devices.get(d) {
                    list.extend(t.intervals.iter().filter(|(q, _)| *q == p).map(|(_, i)| i.clone()));
                }
            }
            if list.is_empty() {
                snap.patients.remove(&p);
            } else {
                sort_intervals(&mut list);
                snap.patients.insert(p, list.into());
            }
        }
        self.publish_stays(events, &mut snap);

        snap.conflicts = snap.beds.values().flat_map(|b| b.conflicts.iter()).cloned().collect();
        snap.conflicts.extend(snap.devices.values().flat_map(|d| d.conflicts.iter()).cloned());
        snap.conflicts.sort_by(|a, b| (&a.subject, a.start).cmp(&(&b.subject, b.start)));
        let mut stats = DeriveStats { events: self.events, ..DeriveStats::default() };
        for part in self.component_stats.values() {
            add_stats(&mut stats, part);
        }
        stats.clamped += self.clamped_explicit_total + self.clamped_placement_total;
        stats.conflicts = snap.conflicts.len() as u64;
        snap.stats = stats;
        snap
    }

    fn publish_beds(
        &mut self,
        events: &[AssociationEvent],
        previous: &AssociationSnapshot,
        snap: &mut AssociationSnapshot,
    ) {
        let dirty: Vec<Arc<BedRef>> = self.dirty_beds.drain().collect();
        for bed in dirty {
            let mut claims = self.bed_claims.get(&bed).cloned().unwrap_or_default();
            for id in self.explicit_by_bed.get(&bed).into_iter().flatten() {
                if let Some((a, Some((start, end)), _)) = explicit_state(&self.config, events, &self.explicit, id) {
                    let patient = self.interner.get(&a.patient_id);
                    let encounter = a.encounter_id.as_deref().map(|e| self.interner.get(e));
                    claims.push(Claim { start, end, patient, encounter, source: AttachmentSource::ExplicitBed });
                }
            }
            if claims.is_empty() && !self.devices_by_bed.contains_key(&bed) {
                snap.beds.remove(&*bed);
                continue;
            }
            sort_claims(&mut claims);
            if previous.beds.get(&*bed).is_some_and(|known| known.claims == claims) {
                continue;
            }
            let occupancy = Arc::new(occupancy(&bed, claims, &mut self.interner));
            snap.beds.insert(Arc::clone(&bed), occupancy);
            for device in self.devices_by_bed.get(&bed).into_iter().flatten() {
                self.dirty_devices.insert(Arc::clone(device));
            }
        }
    }

    /// Recomputes dirty devices; returns the patients whose intervals may have changed.
    fn publish_devices(
        &mut self,
        events: &[AssociationEvent],
        previous: &AssociationSnapshot,
        snap: &mut AssociationSnapshot,
    ) -> FastSet<Arc<str>> {
        let mut patients = FastSet::default();
        let dirty: Vec<Arc<str>> = self.dirty_devices.drain().collect();
        for device in dirty {
            let seqs = self.placements.get(&device).map(Vec::as_slice).unwrap_or_default();
            let mine: Vec<(usize, &DevicePlacement)> = seqs
                .iter()
                .filter_map(|&s| match events.get(s) {
                    Some(AssociationEvent::Place(p)) => Some((s, p)),
                    _ => None,
                })
                .collect();
            let placed_at_all = !mine.is_empty();
            let mut counted = DeriveStats::default();
            let placements = placement_pieces(&self.config, mine, &mut counted, &mut self.interner);
            let old = self.placement_clamped.insert(Arc::clone(&device), counted.clamped).unwrap_or(0);
            self.clamped_placement_total = self.clamped_placement_total - old + counted.clamped;
            let mut explicit = Vec::new();
            for id in self.explicit_by_device.get(&device).into_iter().flatten() {
                if let Some((a, Some((start, end)), _)) = explicit_state(&self.config, events, &self.explicit, id) {
                    let patient = self.interner.get(&a.patient_id);
                    let encounter = a.encounter_id.as_deref().map(|e| self.interner.get(e));
                    explicit.push(Claim { start, end, patient, encounter, source: AttachmentSource::ExplicitDevice });
                }
            }
            sort_claims(&mut explicit);
            let old_timeline = previous.devices.get(&*device);
            for (p, _) in old_timeline.into_iter().flat_map(|t| t.intervals.iter()) {
                patients.insert(Arc::clone(p));
                if let Some(set) = self.patient_devices.get_mut(p) {
                    set.remove(&device);
                }
            }
            if !placed_at_all && explicit.is_empty() {
                // Known only through associations that never held: not a known device.
                snap.devices.remove(&*device);
                snap.device_ids.retain(|d| *d != device);
                continue;
            }
            let occupancies: Vec<Option<&BedOccupancy>> =
                placements.iter().map(|p| snap.beds.get(&*p.value).map(|o| &**o)).collect();
            let beds = occupancies.iter().map(|o| o.map(|o| o as *const BedOccupancy as usize)).collect();
            let inputs = DeviceInputs { placements, explicit, beds };
            let timeline = match old_timeline {
                Some(known) if known.inputs == inputs => Arc::clone(known),
                _ => Arc::new(device_timeline(&device, inputs, &occupancies, &mut self.interner)),
            };
            for (p, _) in &timeline.intervals {
                patients.insert(Arc::clone(p));
                self.patient_devices.entry(Arc::clone(p)).or_default().insert(Arc::clone(&device));
            }
            if snap.devices.insert(Arc::clone(&device), timeline).is_none() {
                let at = snap.device_ids.binary_search(&device).unwrap_or_else(|i| i);
                snap.device_ids.insert(at, device);
            }
        }
        patients
    }

    fn publish_stays(&mut self, events: &[AssociationEvent], snap: &mut AssociationSnapshot) {
        let dirty: Vec<Arc<str>> = self.dirty_stays.drain().collect();
        for patient in dirty {
            let adt = self.ids.get(&patient).and_then(|&i| self.adt_stays.get(i));
            let mut list: Vec<Stay> = adt.cloned().unwrap_or_default();
            for id in self.explicit_by_patient.get(&patient).into_iter().flatten() {
                let Some((a, Some((start, end)), _)) = explicit_state(&self.config, events, &self.explicit, id) else {
                    continue;
                };
                if let Subject::Bed(bed) = &a.subject {
                    list.push(Stay {
                        patient_id: Arc::clone(&patient),
                        encounter_id: a.encounter_id.as_deref().map(|e| self.interner.get(e)),
                        bed: self.interner.bed(bed),
                        start,
                        end: end_option(end),
                        source: AttachmentSource::ExplicitBed,
                    });
                }
            }
            if list.is_empty() {
                snap.stays.remove(&patient);
            } else {
                sort_stays(&mut list);
                snap.stays.insert(patient, list.into());
            }
        }
    }
}
