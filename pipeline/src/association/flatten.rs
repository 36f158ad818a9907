//! The flattening steps of a snapshot, each a pure function of its inputs so that the builder
//! can reuse the previous result when the inputs did not change:
//! - [`occupancy`]: a bed's claims (stays and explicit bed associations) swept into its
//!   occupancy timeline — one patient → attached (the encounter only when the claims agree on
//!   it); two or more → **conflict**;
//! - [`device_timeline`]: a device's placements intersected with the occupancy of each bed they
//!   name, with its explicit device associations laid over that (they win where they hold;
//!   two patients at once → conflict).

use std::sync::Arc;

use super::event::BedRef;
use super::hash::{FastMap, FastSet};
use super::intervals::{Piece, end_option, merge_adjacent, overlay, sweep};
use super::snapshot::{
    Attachment, AttachmentSource, ConflictInterval, ConflictSubject, Entry, PatientInterval, Timeline,
};
use crate::time::Micros;

/// A patient's claim on a bed or a device over `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub start: Micros,
    pub end: Micros,
    pub patient: Arc<str>,
    pub encounter: Option<Arc<str>>,
    pub source: AttachmentSource,
}

impl Claim {
    fn sort_key(&self) -> (Micros, Micros, &str, Option<&str>, u8) {
        (self.start, self.end, &self.patient, self.encounter.as_deref(), self.source as u8)
    }
}

/// Sorts claims into the canonical order the caches compare.
pub(crate) fn sort_claims(claims: &mut [Claim]) {
    claims.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

/// One patient (encounter when the claims agree) or a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolved {
    One { patient: Arc<str>, encounter: Option<Arc<str>>, source: AttachmentSource },
    Conflict(Arc<[Arc<str>]>),
}

fn resolve(claims: &[&Claim]) -> Option<Resolved> {
    let first = *claims.first()?;
    if claims.iter().any(|c| c.patient != first.patient) {
        let mut patients: Vec<Arc<str>> = claims.iter().map(|c| Arc::clone(&c.patient)).collect();
        patients.sort_unstable();
        patients.dedup();
        return Some(Resolved::Conflict(patients.into()));
    }
    let mut encounters = claims.iter().filter_map(|c| c.encounter.as_ref());
    let encounter = encounters.next().filter(|e| encounters.all(|x| x == *e)).cloned();
    let adt = claims.iter().any(|c| c.source == AttachmentSource::Adt);
    let source = if adt { AttachmentSource::Adt } else { first.source };
    Some(Resolved::One { patient: Arc::clone(&first.patient), encounter, source })
}

/// A bed's ward, room, bed and `ward^room^bed` texts.
type Place = [Option<Arc<str>>; 4];

/// Shares one `Arc` per distinct text, bed, and set of location strings.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    strings: FastSet<Arc<str>>,
    beds: FastMap<BedRef, (Arc<BedRef>, Place)>,
}

impl Interner {
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(Arc::clone(&a));
        a
    }

    fn non_empty(&mut self, s: &str) -> Option<Arc<str>> {
        (!s.is_empty()).then(|| self.get(s))
    }

    fn bed_entry(&mut self, bed: &BedRef) -> (Arc<BedRef>, Place) {
        if let Some(known) = self.beds.get(bed) {
            return known.clone();
        }
        let place = [
            self.non_empty(&bed.ward),
            self.non_empty(&bed.room),
            self.non_empty(&bed.bed),
            Some(self.get(&bed.to_string())),
        ];
        let known = (Arc::new(bed.clone()), place);
        self.beds.insert(bed.clone(), known.clone());
        known
    }

    /// The shared copy of `bed`.
    pub(crate) fn bed(&mut self, bed: &BedRef) -> Arc<BedRef> {
        self.bed_entry(bed).0
    }

    /// ward, room, bed, `ward^room^bed` (all `None` without a bed).
    fn place(&mut self, bed: Option<&BedRef>) -> Place {
        bed.map_or([None, None, None, None], |b| self.bed_entry(b).1.clone())
    }

    fn entry(&mut self, resolved: &Resolved, bed: Option<&BedRef>) -> Entry {
        match resolved {
            Resolved::Conflict(patients) => Entry::Conflict(Arc::clone(patients)),
            Resolved::One { patient, encounter, source } => {
                let [ward, room, bed, location] = self.place(bed);
                let (patient_id, encounter_id, source) = (Arc::clone(patient), encounter.clone(), *source);
                Entry::Attached(Attachment { patient_id, encounter_id, ward, room, bed, location, source })
            }
        }
    }
}

/// A bed's occupancy, with the claims it was computed from.
#[derive(Debug, Clone, Default)]
pub(crate) struct BedOccupancy {
    pub claims: Vec<Claim>,
    pub timeline: Timeline,
    pub conflicts: Vec<ConflictInterval>,
}

/// The occupancy of `bed` from its sorted `claims`.
pub(crate) fn occupancy(bed: &Arc<BedRef>, claims: Vec<Claim>, interner: &mut Interner) -> BedOccupancy {
    let pieces: Vec<Piece<&Claim>> = claims.iter().map(|c| Piece::new(c.start, c.end, c)).collect();
    let resolved = merge_adjacent(sweep(&pieces, |set| resolve(&set.iter().map(|c| **c).collect::<Vec<_>>())));
    let mut conflicts = Vec::new();
    let mut entries = Vec::with_capacity(resolved.len());
    for p in resolved {
        if let Resolved::Conflict(patients) = &p.value {
            let subject = ConflictSubject::Bed((**bed).clone());
            conflicts.push(ConflictInterval {
                subject,
                start: p.start,
                end: end_option(p.end),
                patients: Arc::clone(patients),
            });
        }
        entries.push(Piece::new(p.start, p.end, interner.entry(&p.value, Some(bed))));
    }
    BedOccupancy { claims, timeline: Timeline::from_pieces(entries), conflicts }
}

/// What a device's timeline was computed from: equal inputs give an equal timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeviceInputs {
    /// Where it was, sorted.
    pub placements: Vec<Piece<Arc<BedRef>>>,
    /// Its explicit associations, sorted.
    pub explicit: Vec<Claim>,
    /// The occupancy of each placement's bed (pointer identity; `None` for a bed nobody
    /// occupied).
    pub beds: Vec<Option<usize>>,
}

/// A device's attachments, the beds it served, and what they were computed from.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeviceTimeline {
    pub inputs: DeviceInputs,
    pub timeline: Timeline,
    pub conflicts: Vec<ConflictInterval>,
    /// Where the timeline attaches each patient (merged where contiguous, same encounter).
    pub intervals: Vec<(Arc<str>, PatientInterval)>,
}

/// The timeline of `device` from its inputs and the occupancy of the beds it was placed at.
pub(crate) fn device_timeline(
    device: &Arc<str>,
    inputs: DeviceInputs,
    occupancy: &[Option<&BedOccupancy>],
    interner: &mut Interner,
) -> DeviceTimeline {
    let mut from_beds = Vec::new();
    for (p, bed) in inputs.placements.iter().zip(occupancy) {
        let Some(bed) = bed else { continue };
        for (start, end, entry) in bed.timeline.clip(p.start, p.end) {
            from_beds.push(Piece::new(start.max(p.start), end.min(p.end), entry.clone()));
        }
    }
    let pieces: Vec<Piece<&Claim>> = inputs.explicit.iter().map(|c| Piece::new(c.start, c.end, c)).collect();
    let explicit = merge_adjacent(sweep(&pieces, |set| resolve(&set.iter().map(|c| **c).collect::<Vec<_>>())));
    let mut conflicts = Vec::new();
    let mut over = Vec::new();
    for p in explicit {
        if let Resolved::Conflict(patients) = &p.value {
            let subject = ConflictSubject::Device(Arc::clone(device));
            conflicts.push(ConflictInterval {
                subject,
                start: p.start,
                end: end_option(p.end),
                patients: Arc::clone(patients),
            });
        }
        for (start, end, bed) in split_by_placement(&p, &inputs.placements) {
            over.push(Piece::new(start, end, interner.entry(&p.value, bed)));
        }
    }
    let timeline = Timeline::from_pieces(merge_adjacent(overlay(over, from_beds)));
    let intervals = patient_intervals(device, &timeline);
    DeviceTimeline { inputs, timeline, conflicts, intervals }
}

/// `piece` cut where the device's placement changes: `(start, end, bed served)`.
fn split_by_placement<'b, T>(
    piece: &Piece<T>,
    placed: &'b [Piece<Arc<BedRef>>],
) -> Vec<(Micros, Micros, Option<&'b BedRef>)> {
    let mut out = Vec::new();
    let mut cursor = piece.start;
    let first = placed.partition_point(|p| p.end <= piece.start);
    for p in placed.iter().skip(first).take_while(|p| p.start < piece.end) {
        if p.start > cursor {
            out.push((cursor, p.start, None));
        }
        let end = p.end.min(piece.end);
        out.push((cursor.max(p.start), end, Some(&*p.value)));
        cursor = end;
    }
    if cursor < piece.end {
        out.push((cursor, piece.end, None));
    }
    out
}

/// Where `timeline` attaches each patient, merged where contiguous with the same encounter.
fn patient_intervals(device: &Arc<str>, timeline: &Timeline) -> Vec<(Arc<str>, PatientInterval)> {
    let mut out: Vec<(Arc<str>, PatientInterval)> = Vec::new();
    for (start, end, entry) in timeline.iter() {
        let Entry::Attached(a) = entry else { continue };
        if let Some((patient, last)) = out.last_mut()
            && *patient == a.patient_id
            && last.end == Some(start)
            && last.encounter_id == a.encounter_id
        {
            last.end = end_option(end);
            continue;
        }
        let interval = PatientInterval {
            device_id: Arc::clone(device),
            start,
            end: end_option(end),
            encounter_id: a.encounter_id.clone(),
        };
        out.push((Arc::clone(&a.patient_id), interval));
    }
    out
}
