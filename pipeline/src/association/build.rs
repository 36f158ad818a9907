//! [`AssociationSnapshot::build`]: the whole event history → the immutable snapshot, from
//! scratch.
//!
//! 1. ADT events are grouped into **components**: a patient's events, joined with another
//!    patient's when an A17 swaps them (the rules couple patients only there). Each component's
//!    stays come from [`super::ops`] and [`super::rules`].
//! 2. Explicit associations take effect at `max(start, recorded_at − window)` and end at the
//!    earliest of their own end and every [`ExplicitEnd`] for them, each clamped the same way
//!    (an end only ever shortens an association). Bed associations are stays too.
//! 3. Per bed, the claims are swept into occupancy; per device, placements (each lasting until
//!    the device's next placement) meet the occupancy of their beds, under the device's
//!    explicit associations (the private `flatten` module).
//!
//! This is the reference derivation, from scratch: the hub's engine (the private `engine`
//! module) recomputes only what each new event touches, and the property tests check that both
//! always agree.
//!
//! Everything is a function of the set of events: arrival order only breaks exact ties of
//! `(effective time, event time, recorded_at)`. Repeated ADT message ids and association ids
//! keep the first (the hub never lets a second one in).
//!
//! [`ExplicitEnd`]: super::ExplicitEnd

use std::sync::Arc;

use super::config::AssociationConfig;
use super::event::{AdtEvent, AdtKind, AssociationEvent, BedRef, DevicePlacement, ExplicitAssociation, Subject};
use super::flatten::{BedOccupancy, Claim, DeviceInputs, Interner, device_timeline, occupancy, sort_claims};
use super::hash::{FastMap, FastSet};
use super::intervals::{OPEN, Piece, end_option};
use super::ops::{self, effective};
use super::rules::{self, DeriveStats};
use super::snapshot::{AssociationSnapshot, AttachmentSource, PatientInterval, Stay};
use crate::time::Micros;

/// The stays one component of ADT events derives, and what deriving them counted.
#[derive(Debug, Default)]
pub(crate) struct Component {
    pub stays: Vec<Stay>,
    pub stats: DeriveStats,
}

impl AssociationSnapshot {
    /// Derives the snapshot of `events` (in arrival order) under `config`, numbered `version`.
    pub fn build(events: &[AssociationEvent], config: &AssociationConfig, version: u64) -> AssociationSnapshot {
        build_from_scratch(events, config, version)
    }
}

fn build_from_scratch(events: &[AssociationEvent], config: &AssociationConfig, version: u64) -> AssociationSnapshot {
    let mut interner = Interner::default();
    let mut stats = DeriveStats { events: events.len() as u64, ..DeriveStats::default() };
    let mut adt: Vec<(usize, &AdtEvent)> = Vec::new();
    let mut message_ids = FastSet::default();
    let mut explicit: FastMap<&str, &ExplicitAssociation> = FastMap::default();
    let mut placements: FastMap<&str, Vec<(usize, &DevicePlacement)>> = FastMap::default();
    for (seq, event) in events.iter().enumerate() {
        match event {
            AssociationEvent::Adt(e) if message_ids.insert(e.message_id.as_str()) => adt.push((seq, e)),
            AssociationEvent::Associate(a) if !explicit.contains_key(a.id.as_str()) => {
                explicit.insert(&a.id, a);
            }
            AssociationEvent::Place(p) => placements.entry(&p.device_id).or_default().push((seq, p)),
            AssociationEvent::EndAssociation(_) => {}
            _ => stats.invalid += 1,
        }
    }

    let mut stays: FastMap<Arc<str>, Vec<Stay>> = FastMap::default();
    let mut bed_claims: FastMap<Arc<BedRef>, Vec<Claim>> = FastMap::default();
    for group in components_of(&adt) {
        let component = derive_component(config, &group, &mut interner);
        add_stats(&mut stats, &component.stats);
        for s in &component.stays {
            bed_claims.entry(Arc::clone(&s.bed)).or_default().push(claim_of(s));
            stays.entry(Arc::clone(&s.patient_id)).or_default().push(s.clone());
        }
    }

    let ends = explicit_ends(events, config, &explicit, &mut stats);
    let mut device_claims: FastMap<&str, Vec<Claim>> = FastMap::default();
    for a in explicit.values() {
        let start = effective(config, a.start, a.recorded_at);
        stats.clamped += u64::from(start > a.start);
        let end = ends.get(a.id.as_str()).copied().unwrap_or(OPEN);
        if a.patient_id.is_empty() || start >= end {
            continue;
        }
        let patient = interner.get(&a.patient_id);
        let encounter = a.encounter_id.as_deref().map(|e| interner.get(e));
        match &a.subject {
            Subject::Bed(bed) => {
                let bed = interner.bed(bed);
                let source = AttachmentSource::ExplicitBed;
                let claim = Claim { start, end, patient: Arc::clone(&patient), encounter: encounter.clone(), source };
                bed_claims.entry(Arc::clone(&bed)).or_default().push(claim);
                let stay = Stay {
                    patient_id: Arc::clone(&patient),
                    encounter_id: encounter,
                    bed,
                    start,
                    end: end_option(end),
                    source,
                };
                stays.entry(patient).or_default().push(stay);
            }
            Subject::Device(d) => {
                let source = AttachmentSource::ExplicitDevice;
                device_claims.entry(d.as_str()).or_default().push(Claim { start, end, patient, encounter, source });
            }
        }
    }

    let mut device_ids: Vec<&str> = placements.keys().chain(device_claims.keys()).copied().collect();
    device_ids.sort_unstable();
    device_ids.dedup();
    let mut placed: Vec<Vec<Piece<Arc<BedRef>>>> = Vec::with_capacity(device_ids.len());
    for device in &device_ids {
        let mine = placements.remove(device).unwrap_or_default();
        for bed in mine.iter().filter_map(|(_, p)| p.bed.as_ref()) {
            bed_claims.entry(interner.bed(bed)).or_default();
        }
        let pieces = placement_pieces(config, mine, &mut stats, &mut interner);
        placed.push(pieces);
    }

    let mut snapshot = AssociationSnapshot { version, ..AssociationSnapshot::default() };
    for (bed, mut claims) in bed_claims {
        sort_claims(&mut claims);
        let occupancy = Arc::new(occupancy(&bed, claims, &mut interner));
        snapshot.conflicts.extend(occupancy.conflicts.iter().cloned());
        snapshot.beds.insert(bed, occupancy);
    }

    let mut patients: FastMap<Arc<str>, Vec<PatientInterval>> = FastMap::default();
    for (device, placements) in device_ids.into_iter().zip(placed) {
        let mut explicit = device_claims.remove(device).unwrap_or_default();
        sort_claims(&mut explicit);
        let occupancies: Vec<Option<&BedOccupancy>> =
            placements.iter().map(|p| snapshot.beds.get(&*p.value).map(|o| &**o)).collect();
        let beds = occupancies.iter().map(|o| o.map(|o| o as *const BedOccupancy as usize)).collect();
        let inputs = DeviceInputs { placements, explicit, beds };
        let id = interner.get(device);
        let timeline = Arc::new(device_timeline(&id, inputs, &occupancies, &mut interner));
        snapshot.conflicts.extend(timeline.conflicts.iter().cloned());
        for (patient, interval) in &timeline.intervals {
            patients.entry(Arc::clone(patient)).or_default().push(interval.clone());
        }
        snapshot.devices.insert(Arc::clone(&id), timeline);
        snapshot.device_ids.push(id);
    }
    snapshot.patients = patients.into_iter().map(|(p, mut list)| (p, sort_intervals(&mut list).into())).collect();
    snapshot.stays = stays.into_iter().map(|(p, mut list)| (p, sort_stays(&mut list).into())).collect();
    snapshot.conflicts.sort_by(|a, b| (&a.subject, a.start).cmp(&(&b.subject, b.start)));
    stats.conflicts = snapshot.conflicts.len() as u64;
    snapshot.stats = stats;
    snapshot
}

/// Sorts a patient's intervals by start, then device.
pub(crate) fn sort_intervals(list: &mut [PatientInterval]) -> &mut [PatientInterval] {
    list.sort_by(|a, b| (a.start, &a.device_id).cmp(&(b.start, &b.device_id)));
    list
}

/// Sorts a patient's stays by start, then bed, then source.
pub(crate) fn sort_stays(list: &mut [Stay]) -> &mut [Stay] {
    list.sort_by(|a, b| (a.start, &a.bed, a.source as u8).cmp(&(b.start, &b.bed, b.source as u8)));
    list
}

pub(crate) fn claim_of(s: &Stay) -> Claim {
    Claim {
        start: s.start,
        end: s.end.unwrap_or(OPEN),
        patient: Arc::clone(&s.patient_id),
        encounter: s.encounter_id.clone(),
        source: s.source,
    }
}

pub(crate) fn add_stats(total: &mut DeriveStats, part: &DeriveStats) {
    total.clamped += part.clamped;
    total.admits_while_in_bed += part.admits_while_in_bed;
    total.transfers_without_admission += part.transfers_without_admission;
    total.discharges_without_stay += part.discharges_without_stay;
    total.updates_moved += part.updates_moved;
    total.updates_without_stay += part.updates_without_stay;
    total.cancels_without_target += part.cancels_without_target;
    total.swaps_partial += part.swaps_partial;
    total.swaps_without_beds += part.swaps_without_beds;
    total.invalid += part.invalid;
}

/// ADT events grouped by patient, joined across A17 swaps; groups in order of first arrival.
pub(crate) fn components_of<'a>(adt: &[(usize, &'a AdtEvent)]) -> Vec<Vec<(usize, &'a AdtEvent)>> {
    let mut ids: FastMap<&str, usize> = FastMap::default();
    let mut parent: Vec<usize> = Vec::new();
    let mut id = |p: &'a str, parent: &mut Vec<usize>| {
        *ids.entry(p).or_insert_with(|| {
            parent.push(parent.len());
            parent.len() - 1
        })
    };
    let find = |parent: &mut Vec<usize>, mut x: usize| {
        while let Some(&up) = parent.get(x)
            && up != x
        {
            let grand = parent.get(up).copied().unwrap_or(up);
            if let Some(slot) = parent.get_mut(x) {
                *slot = grand;
            }
            x = up;
        }
        x
    };
    let mut roots = Vec::with_capacity(adt.len());
    for (_, e) in adt {
        let a = id(&e.visit.patient_id, &mut parent);
        if e.kind == AdtKind::SwapBeds
            && let Some(other) = &e.other
        {
            let b = id(&other.patient_id, &mut parent);
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if let Some(slot) = parent.get_mut(ra.max(rb)) {
                *slot = ra.min(rb);
            }
        }
        roots.push(a);
    }
    let mut groups: FastMap<usize, Vec<(usize, &AdtEvent)>> = FastMap::default();
    let mut order = Vec::new();
    for (&event, member) in adt.iter().zip(roots) {
        let root = find(&mut parent, member);
        let group = groups.entry(root).or_insert_with(|| {
            order.push(root);
            Vec::new()
        });
        group.push(event);
    }
    order.into_iter().filter_map(|root| groups.remove(&root)).collect()
}

pub(crate) fn derive_component(
    config: &AssociationConfig,
    events: &[(usize, &AdtEvent)],
    interner: &mut Interner,
) -> Component {
    let mut stats = DeriveStats::default();
    let ops = ops::build(config, events);
    stats.clamped += ops.clamped;
    stats.cancels_without_target += ops.cancels_without_target;
    stats.invalid += ops.invalid;
    let stays = rules::play(ops.ops, ops.tokens, &mut stats)
        .into_iter()
        .map(|s| Stay {
            patient_id: interner.get(s.patient),
            encounter_id: s.encounter.map(|e| interner.get(e)),
            bed: interner.bed(s.bed),
            start: s.start,
            end: end_option(s.end),
            source: AttachmentSource::Adt,
        })
        .collect();
    Component { stays, stats }
}

/// The effective end of each explicit association: the earliest of its own and its ends'.
fn explicit_ends<'a>(
    events: &[AssociationEvent],
    config: &AssociationConfig,
    explicit: &FastMap<&'a str, &ExplicitAssociation>,
    stats: &mut DeriveStats,
) -> FastMap<&'a str, Micros> {
    let mut ends: FastMap<&str, Micros> = FastMap::default();
    let mut add = |id: &'a str, end: Micros, recorded_at: Micros, stats: &mut DeriveStats| {
        let eff = effective(config, end, recorded_at);
        stats.clamped += u64::from(eff > end);
        let slot = ends.entry(id).or_insert(OPEN);
        *slot = (*slot).min(eff);
    };
    for (&id, a) in explicit {
        if let Some(end) = a.end {
            add(id, end, a.recorded_at, stats);
        }
    }
    for event in events {
        if let AssociationEvent::EndAssociation(e) = event {
            match explicit.get_key_value(e.id.as_str()) {
                Some((&id, _)) => add(id, e.end, e.recorded_at, stats),
                None => stats.invalid += 1,
            }
        }
    }
    ends
}

/// A device's placements as pieces: each from its effective time to the next one's.
pub(crate) fn placement_pieces(
    config: &AssociationConfig,
    mut placements: Vec<(usize, &DevicePlacement)>,
    stats: &mut DeriveStats,
    interner: &mut Interner,
) -> Vec<Piece<Arc<BedRef>>> {
    let key =
        |(seq, p): &(usize, &DevicePlacement)| (effective(config, p.from, p.recorded_at), p.from, p.recorded_at, *seq);
    placements.sort_by_key(key);
    let mut out = Vec::new();
    for (i, placement) in placements.iter().enumerate() {
        let start = key(placement).0;
        stats.clamped += u64::from(start > placement.1.from);
        let end = placements.get(i + 1).map_or(OPEN, |next| key(next).0);
        if let Some(bed) = &placement.1.bed
            && start < end
        {
            out.push(Piece::new(start, end, interner.bed(bed)));
        }
    }
    out
}
