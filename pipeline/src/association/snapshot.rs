//! [`AssociationSnapshot`]: everything the associations say, flattened into immutable lookup
//! tables. The hot path asks [`AssociationSnapshot::attach`] for each reading; the timeline,
//! FHIR and SQL layers ask [`AssociationSnapshot::patient_intervals`], which lists exactly the
//! spans where `attach` answers that patient, so every view agrees by construction.
//!
//! Per device: a sorted vector of non-overlapping `[start, end)` intervals, each an
//! [`Attachment`] or a conflict; a gap is "unassociated". A lookup hashes the device id and
//! binary-searches the interval starts: no allocation, no lock.

use std::sync::Arc;

use super::event::BedRef;
use super::flatten::{BedOccupancy, DeviceTimeline};
use super::hash::FastMap;
use super::intervals::{Piece, end_option};
use super::rules::DeriveStats;
use crate::time::Micros;

/// What tied a reading to its patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachmentSource {
    /// A stay derived from ADT events, through the bed the device served.
    Adt,
    /// An explicit association of the bed the device served.
    ExplicitBed,
    /// An explicit association of the device itself (it takes precedence over the bed).
    ExplicitDevice,
}

/// The patient (and where they were) a reading is attached to. Cloning is cheap (`Arc`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The patient (PID-3).
    pub patient_id: Arc<str>,
    /// The encounter (PV1-19), when known and not contradicted.
    pub encounter_id: Option<Arc<str>>,
    /// Ward of the bed the device served (none for a device association without a bed).
    pub ward: Option<Arc<str>>,
    /// Room of that bed, when the feed names one.
    pub room: Option<Arc<str>>,
    /// Bed of that room, when the feed names one.
    pub bed: Option<Arc<str>>,
    /// The whole location as `ward^room^bed` (unambiguous; what the `bed` column stores).
    pub location: Option<Arc<str>>,
    /// What tied the reading to the patient.
    pub source: AttachmentSource,
}

/// One interval of a device's or a bed's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// One patient.
    Attached(Attachment),
    /// Several patients at once: none is attached. Sorted patient ids.
    Conflict(Arc<[Arc<str>]>),
}

/// The answer for one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach<'a> {
    /// The reading belongs to this patient.
    Attached(&'a Attachment),
    /// Two or more patients are associated at that time (listed): attached to none of them.
    Conflict(&'a [Arc<str>]),
    /// The device is known, but nobody is associated with it at that time.
    Unassociated,
    /// No placement and no explicit association ever named the device.
    UnknownDevice,
}

/// Who occupies a bed at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupant<'a> {
    /// One patient.
    Patient(&'a Attachment),
    /// Two or more patients at once (a conflict).
    Conflict(&'a [Arc<str>]),
    /// Nobody.
    Empty,
}

/// A span over which [`AssociationSnapshot::attach`] answers one patient for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientInterval {
    /// The device.
    pub device_id: Arc<str>,
    /// First instant (µs).
    pub start: Micros,
    /// First instant after it; `None` while it lasts.
    pub end: Option<Micros>,
    /// The encounter over the span.
    pub encounter_id: Option<Arc<str>>,
}

/// A patient in a bed over `[start, end)`: derived from ADT, or an explicit bed association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay {
    /// The patient.
    pub patient_id: Arc<str>,
    /// The encounter, when known.
    pub encounter_id: Option<Arc<str>>,
    /// The bed.
    pub bed: Arc<BedRef>,
    /// First instant (µs).
    pub start: Micros,
    /// First instant after it; `None` while it lasts.
    pub end: Option<Micros>,
    /// [`AttachmentSource::Adt`] or [`AttachmentSource::ExplicitBed`].
    pub source: AttachmentSource,
}

/// What a conflict is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConflictSubject {
    /// Two patients derived for one bed.
    Bed(BedRef),
    /// Two explicit associations of one device with different patients.
    Device(Arc<str>),
}

/// An interval during which readings are not attached because two patients claim them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictInterval {
    /// The bed or device.
    pub subject: ConflictSubject,
    /// First instant (µs).
    pub start: Micros,
    /// First instant after it; `None` while it lasts.
    pub end: Option<Micros>,
    /// The patients involved, sorted.
    pub patients: Arc<[Arc<str>]>,
}

/// Sorted non-overlapping intervals, stored column-wise for the binary search.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    starts: Vec<Micros>,
    ends: Vec<Micros>,
    entries: Vec<Entry>,
}

impl Timeline {
    pub(crate) fn from_pieces(pieces: Vec<Piece<Entry>>) -> Timeline {
        let mut t = Timeline::default();
        for p in pieces {
            t.starts.push(p.start);
            t.ends.push(p.end);
            t.entries.push(p.value);
        }
        t
    }

    /// The entry covering `t`, if any.
    #[inline]
    pub(crate) fn at(&self, t: Micros) -> Option<&Entry> {
        let i = self.starts.partition_point(|&s| s <= t).checked_sub(1)?;
        if t < *self.ends.get(i)? { self.entries.get(i) } else { None }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Micros, Micros, &Entry)> {
        self.starts.iter().zip(&self.ends).zip(&self.entries).map(|((s, e), v)| (*s, *e, v))
    }

    /// The intervals overlapping `[start, end)` (unclipped).
    pub(crate) fn clip(&self, start: Micros, end: Micros) -> impl Iterator<Item = (Micros, Micros, &Entry)> {
        let first = self.ends.partition_point(|&e| e <= start);
        self.iter().skip(first).take_while(move |(s, _, _)| *s < end)
    }
}

/// The immutable association tables (see the module docs). Build one with
/// [`AssociationSnapshot::build`]; the [`AssociationHub`](super::AssociationHub) publishes them.
#[derive(Debug, Clone, Default)]
pub struct AssociationSnapshot {
    pub(crate) version: u64,
    pub(crate) devices: FastMap<Arc<str>, Arc<DeviceTimeline>>,
    pub(crate) device_ids: Vec<Arc<str>>,
    pub(crate) beds: FastMap<Arc<BedRef>, Arc<BedOccupancy>>,
    pub(crate) patients: FastMap<Arc<str>, Arc<[PatientInterval]>>,
    pub(crate) stays: FastMap<Arc<str>, Arc<[Stay]>>,
    pub(crate) conflicts: Vec<ConflictInterval>,
    pub(crate) stats: DeriveStats,
}

impl Entry {
    fn attach(&self) -> Attach<'_> {
        match self {
            Entry::Attached(a) => Attach::Attached(a),
            Entry::Conflict(p) => Attach::Conflict(p),
        }
    }
}

impl AssociationSnapshot {
    /// A snapshot with no associations (version 0): every device is unknown.
    pub fn empty() -> AssociationSnapshot {
        AssociationSnapshot::default()
    }

    /// Its version: the number of events the hub had applied when it published it (monotonic,
    /// also across restarts, since the log is replayed).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// What deriving it counted.
    pub fn stats(&self) -> &DeriveStats {
        &self.stats
    }

    /// Whom a reading of `device_id` at observation time `t` belongs to. No allocation, no lock.
    #[inline]
    pub fn attach(&self, device_id: &str, t: Micros) -> Attach<'_> {
        match self.devices.get(device_id) {
            None => Attach::UnknownDevice,
            Some(d) => d.timeline.at(t).map_or(Attach::Unassociated, Entry::attach),
        }
    }

    /// The device's timeline: `(start, end, answer)` for each interval with an attachment or a
    /// conflict, sorted (gaps are [`Attach::Unassociated`]). Empty for an unknown device.
    pub fn device_timeline(&self, device_id: &str) -> Vec<(Micros, Option<Micros>, Attach<'_>)> {
        let Some(d) = self.devices.get(device_id) else { return Vec::new() };
        d.timeline.iter().map(|(s, e, v)| (s, end_option(e), v.attach())).collect()
    }

    /// Where `attach` answers `patient_id`: per device, sorted by start then device.
    pub fn patient_intervals(&self, patient_id: &str) -> &[PatientInterval] {
        self.patients.get(patient_id).map_or(&[], |l| l)
    }

    /// The bed `device_id` served at `t`.
    pub fn bed_of(&self, device_id: &str, t: Micros) -> Option<&BedRef> {
        let placements = &self.devices.get(device_id)?.inputs.placements;
        let i = placements.partition_point(|p| p.start <= t).checked_sub(1)?;
        placements.get(i).filter(|p| t < p.end).map(|p| &*p.value)
    }

    /// Every known device id (placed, or explicitly associated, at any time), sorted.
    pub fn devices(&self) -> &[Arc<str>] {
        &self.device_ids
    }

    /// The devices serving `bed` at `t`, sorted.
    pub fn devices_at(&self, bed: &BedRef, t: Micros) -> Vec<&str> {
        self.device_ids.iter().filter(|d| self.bed_of(d, t) == Some(bed)).map(|d| &**d).collect()
    }

    /// Who occupies `bed` at `t` (ADT stays and explicit bed associations; a device's own
    /// explicit association does not occupy a bed).
    pub fn patient_at_bed(&self, bed: &BedRef, t: Micros) -> Occupant<'_> {
        match self.beds.get(bed).and_then(|b| b.timeline.at(t)) {
            None => Occupant::Empty,
            Some(Entry::Attached(a)) => Occupant::Patient(a),
            Some(Entry::Conflict(p)) => Occupant::Conflict(p),
        }
    }

    /// The ward page: every known bed of `ward` (occupied at some time, or served by a device)
    /// with its occupant at `t`, sorted by bed.
    pub fn ward_occupancy(&self, ward: &str, t: Micros) -> Vec<(&BedRef, Occupant<'_>)> {
        let mut beds: Vec<&BedRef> = self.beds.keys().map(|b| &**b).filter(|b| b.ward == ward).collect();
        beds.sort();
        beds.into_iter().map(|b| (b, self.patient_at_bed(b, t))).collect()
    }

    /// Every stay (ADT-derived and explicit bed associations), sorted by patient, then start.
    pub fn stays(&self) -> Vec<&Stay> {
        let mut patients: Vec<&Arc<str>> = self.stays.keys().collect();
        patients.sort_unstable();
        patients.into_iter().flat_map(|p| self.stays_of(p)).collect()
    }

    /// The stays of one patient, sorted by start, then bed.
    pub fn stays_of(&self, patient_id: &str) -> &[Stay] {
        self.stays.get(patient_id).map_or(&[], |l| l)
    }

    /// Every conflict interval, beds first (by bed, then start), then devices.
    pub fn conflicts(&self) -> &[ConflictInterval] {
        &self.conflicts
    }
}
