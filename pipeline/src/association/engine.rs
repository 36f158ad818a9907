//! [`Engine`]: the hub's incremental derivation. Each new event updates indexes and marks what
//! it touches; [`Engine::publish`] then recomputes only that, on a copy of the previous
//! snapshot, and gives exactly what [`AssociationSnapshot::build`](super::AssociationSnapshot::build) gives from scratch (the
//! property tests check it after every event).
//!
//! What an event touches, in order:
//! - an ADT event: its **component** (the patient, joined with others by A17 swaps) is derived
//!   again; the beds of the stays that changed (before and after) are dirty;
//! - an explicit association or its end: its bed, or its device; a bed association also changes
//!   its patient's stays;
//! - a placement: its device;
//! - a dirty bed whose claims changed gets a new occupancy, which makes every device ever
//!   placed there dirty; a dirty device whose inputs changed gets a new timeline, which makes
//!   the patients of its old and new timeline dirty in the patient index.
//!
//! Design: snapshot maps hold `Arc`s, so the copy is one reference count per entry, and a
//! replaced snapshot shares everything unchanged with its successor.

use std::sync::Arc;

use super::build::{add_stats, claim_of, components_of, derive_component};
use super::config::AssociationConfig;
use super::event::{AdtEvent, AdtKind, AssociationEvent, BedRef, ExplicitAssociation, Subject};
use super::flatten::{Claim, Interner};
use super::hash::{FastMap, FastSet};
use super::intervals::OPEN;
use super::ops::effective;
use super::rules::DeriveStats;
use super::snapshot::Stay;
use crate::time::Micros;

/// What the engine knows about the applied events (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Engine {
    pub(super) config: AssociationConfig,
    pub(super) interner: Interner,
    /// Patient → index into the per-patient vectors.
    pub(super) ids: FastMap<Arc<str>, usize>,
    pub(super) names: Vec<Arc<str>>,
    /// Union-find over patients joined by swaps; `members` is valid at roots.
    pub(super) parent: Vec<usize>,
    pub(super) members: Vec<Vec<usize>>,
    /// ADT events naming each patient (arrival indices).
    pub(super) adt_events: Vec<Vec<usize>>,
    pub(super) adt_stays: Vec<Vec<Stay>>,
    pub(super) component_stats: FastMap<usize, DeriveStats>,
    /// ADT claims per bed.
    pub(super) bed_claims: FastMap<Arc<BedRef>, Vec<Claim>>,
    /// Explicit association id → its arrival index and its ends'.
    pub(super) explicit: FastMap<String, (usize, Vec<usize>)>,
    pub(super) explicit_clamped: FastMap<String, u64>,
    pub(super) explicit_by_bed: FastMap<Arc<BedRef>, Vec<String>>,
    pub(super) explicit_by_device: FastMap<Arc<str>, Vec<String>>,
    pub(super) explicit_by_patient: FastMap<Arc<str>, Vec<String>>,
    pub(super) placements: FastMap<Arc<str>, Vec<usize>>,
    pub(super) placement_clamped: FastMap<Arc<str>, u64>,
    pub(super) devices_by_bed: FastMap<Arc<BedRef>, FastSet<Arc<str>>>,
    pub(super) patient_devices: FastMap<Arc<str>, FastSet<Arc<str>>>,
    /// Counters over everything but conflicts and components (summed at publish).
    pub(super) clamped_explicit_total: u64,
    pub(super) clamped_placement_total: u64,
    pub(super) events: u64,
    pub(super) dirty_beds: FastSet<Arc<BedRef>>,
    pub(super) dirty_devices: FastSet<Arc<str>>,
    pub(super) dirty_stays: FastSet<Arc<str>>,
}

impl Engine {
    pub(crate) fn new(config: AssociationConfig) -> Engine {
        Engine { config, ..Engine::default() }
    }

    fn patient(&mut self, name: &str) -> usize {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len();
        let name = self.interner.get(name);
        self.ids.insert(Arc::clone(&name), i);
        self.names.push(name);
        self.parent.push(i);
        self.members.push(vec![i]);
        self.adt_events.push(Vec::new());
        self.adt_stays.push(Vec::new());
        i
    }

    fn find(&mut self, mut x: usize) -> usize {
        while let Some(&up) = self.parent.get(x)
            && up != x
        {
            let grand = self.parent.get(up).copied().unwrap_or(up);
            if let Some(slot) = self.parent.get_mut(x) {
                *slot = grand;
            }
            x = up;
        }
        x
    }

    /// Takes in the event at `seq` (already in `events`), marking what it touches.
    pub(crate) fn ingest(&mut self, events: &[AssociationEvent], seq: usize) {
        self.events += 1;
        match events.get(seq) {
            Some(AssociationEvent::Adt(e)) => self.ingest_adt(events, seq, e),
            Some(AssociationEvent::Associate(a)) => {
                self.explicit.insert(a.id.clone(), (seq, Vec::new()));
                match &a.subject {
                    Subject::Bed(bed) => {
                        let bed = self.interner.bed(bed);
                        self.explicit_by_bed.entry(bed).or_default().push(a.id.clone());
                        let patient = self.interner.get(&a.patient_id);
                        self.explicit_by_patient.entry(patient).or_default().push(a.id.clone());
                    }
                    Subject::Device(d) => {
                        let device = self.interner.get(d);
                        self.explicit_by_device.entry(device).or_default().push(a.id.clone());
                    }
                }
                self.touch_explicit(events, &a.id);
            }
            Some(AssociationEvent::EndAssociation(e)) => {
                if let Some((_, ends)) = self.explicit.get_mut(&e.id) {
                    ends.push(seq);
                    self.touch_explicit(events, &e.id);
                }
            }
            Some(AssociationEvent::Place(p)) => {
                let device = self.interner.get(&p.device_id);
                self.placements.entry(Arc::clone(&device)).or_default().push(seq);
                if let Some(bed) = &p.bed {
                    let bed = self.interner.bed(bed);
                    self.devices_by_bed.entry(Arc::clone(&bed)).or_default().insert(Arc::clone(&device));
                    self.dirty_beds.insert(bed);
                }
                self.dirty_devices.insert(device);
            }
            None => {}
        }
    }

    fn ingest_adt(&mut self, events: &[AssociationEvent], seq: usize, e: &AdtEvent) {
        let p = self.patient(&e.visit.patient_id);
        let mut roots = vec![self.find(p)];
        if let Some(a) = self.adt_events.get_mut(p) {
            a.push(seq);
        }
        if e.kind == AdtKind::SwapBeds
            && let Some(other) = &e.other
        {
            let q = self.patient(&other.patient_id);
            if let Some(a) = self.adt_events.get_mut(q).filter(|_| q != p) {
                a.push(seq);
            }
            let (ra, rb) = (self.find(p), self.find(q));
            if ra != rb {
                let (keep, join) = (ra.min(rb), ra.max(rb));
                let moved = self.members.get_mut(join).map(std::mem::take).unwrap_or_default();
                if let Some(m) = self.members.get_mut(keep) {
                    m.extend(moved);
                }
                if let Some(slot) = self.parent.get_mut(join) {
                    *slot = keep;
                }
                roots.push(rb);
            }
        }
        for root in roots {
            self.component_stats.remove(&root);
        }
        let root = self.find(p);
        let members = self.members.get(root).cloned().unwrap_or_default();
        let mut seqs: Vec<usize> = members.iter().filter_map(|&m| self.adt_events.get(m)).flatten().copied().collect();
        seqs.sort_unstable();
        seqs.dedup();
        let adt: Vec<(usize, &AdtEvent)> = seqs
            .into_iter()
            .filter_map(|s| match events.get(s) {
                Some(AssociationEvent::Adt(a)) => Some((s, a)),
                _ => None,
            })
            .collect();
        // One component by construction; components_of keeps the rule in one place.
        let mut derived_stats = DeriveStats::default();
        let mut stays: FastMap<Arc<str>, Vec<Stay>> = FastMap::default();
        for group in components_of(&adt) {
            let component = derive_component(&self.config, &group, &mut self.interner);
            add_stats(&mut derived_stats, &component.stats);
            for s in component.stays {
                stays.entry(Arc::clone(&s.patient_id)).or_default().push(s);
            }
        }
        self.component_stats.insert(root, derived_stats);
        for m in members {
            let Some(name) = self.names.get(m).cloned() else { continue };
            let new = stays.remove(&name).unwrap_or_default();
            let Some(old) = self.adt_stays.get_mut(m) else { continue };
            if *old == new {
                continue;
            }
            for s in old.iter() {
                if let Some(claims) = self.bed_claims.get_mut(&s.bed) {
                    claims.retain(|c| c.patient != name);
                }
                self.dirty_beds.insert(Arc::clone(&s.bed));
            }
            for s in &new {
                self.bed_claims.entry(Arc::clone(&s.bed)).or_default().push(claim_of(s));
                self.dirty_beds.insert(Arc::clone(&s.bed));
            }
            *old = new;
            self.dirty_stays.insert(name);
        }
    }

    fn touch_explicit(&mut self, events: &[AssociationEvent], id: &str) {
        let Some((a, _, clamped)) = explicit_state(&self.config, events, &self.explicit, id) else { return };
        let old = self.explicit_clamped.insert(id.to_string(), clamped).unwrap_or(0);
        self.clamped_explicit_total = self.clamped_explicit_total - old + clamped;
        match &a.subject {
            Subject::Bed(bed) => {
                let bed = self.interner.bed(bed);
                self.dirty_beds.insert(bed);
                let patient = self.interner.get(&a.patient_id);
                self.dirty_stays.insert(patient);
            }
            Subject::Device(d) => {
                let device = self.interner.get(d);
                self.dirty_devices.insert(device);
            }
        }
    }
}

/// An explicit association, its effective `[start, end)` when not empty, and its clamped times.
pub(crate) type ExplicitState<'e> = (&'e ExplicitAssociation, Option<(Micros, Micros)>, u64);

/// Explicit association `id`: the event, its effective `[start, end)` when not empty, and how
/// many of its times the window clamped (as [`AssociationSnapshot::build`](super::AssociationSnapshot::build) counts them).
pub(crate) fn explicit_state<'e>(
    config: &AssociationConfig,
    events: &'e [AssociationEvent],
    explicit: &FastMap<String, (usize, Vec<usize>)>,
    id: &str,
) -> Option<ExplicitState<'e>> {
    let (seq, ends) = explicit.get(id)?;
    let Some(AssociationEvent::Associate(a)) = events.get(*seq) else { return None };
    let start = effective(config, a.start, a.recorded_at);
    let mut clamped = u64::from(start > a.start);
    let mut end = OPEN;
    let inline = a.end.map(|e| (e, a.recorded_at));
    let others = ends.iter().filter_map(|&s| match events.get(s) {
        Some(AssociationEvent::EndAssociation(e)) => Some((e.end, e.recorded_at)),
        _ => None,
    });
    for (at, recorded_at) in inline.into_iter().chain(others) {
        let eff = effective(config, at, recorded_at);
        clamped += u64::from(eff > at);
        end = end.min(eff);
    }
    let span = (!a.patient_id.is_empty() && start < end).then_some((start, end));
    Some((a, span, clamped))
}
