//! The ADT rules: plays the ordered operations of [`super::ops`] and derives each patient's
//! stays (patient, encounter, bed, `[start, end)`).
//!
//! At an operation's effective time `t`:
//! - **A01 admit / A04 register** with PV1-3: the patient occupies that bed from `t` (a patient
//!   still in another bed leaves it at `t`; counted as `admits_while_in_bed`). A04 without a bed
//!   changes nothing.
//! - **A02 transfer**: the patient moves to PV1-3 at `t`. A patient with no stay (never
//!   admitted, or discharged) arrives there: counted as `transfers_without_admission`.
//! - **A03 discharge**: the stay ends at `t`, whatever bed PV1-3 names. Nothing to end:
//!   counted as `discharges_without_stay`.
//! - **A08 update** with PV1-3: a patient with a stay in another bed moves there at `t`
//!   (`updates_moved`); A08 never creates a stay (`updates_without_stay`), because updates also
//!   flow for patients who are not in a bed.
//! - **A17 swap**: at `t` the first patient takes the bed the second one occupies (as derived,
//!   never as PV1-3 says: feeds disagree on whether it holds the old or the new bed) and the
//!   second takes the first one's. If only one of them has a bed, that patient leaves it and
//!   the other takes it (`swaps_partial`); with neither, nothing changes (`swaps_without_beds`).
//! - The encounter is PV1-19 when the event sends one; transfers, updates and swaps without
//!   one keep the stay's encounter, admissions without one have none.
//! - A move to the bed and encounter the patient already has changes nothing. Zero-length
//!   stays are dropped.

use super::hash::FastMap;

use super::event::BedRef;
use super::intervals::OPEN;
use super::ops::{Action, Op, Who};
use crate::time::Micros;

/// What deriving a snapshot counted. Each is an edge case the rules resolved in a documented
/// way; none is an error, and none attaches a reading to a patient by guess.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeriveStats {
    /// Events in the history the snapshot was built from.
    pub events: u64,
    /// Events (and cancels) whose effect was moved to `recorded_at − retro_window`.
    pub clamped: u64,
    /// A01/A04 for a patient still in another bed (the old stay ends).
    pub admits_while_in_bed: u64,
    /// A02 for a patient with no stay (treated as arrival in PV1-3).
    pub transfers_without_admission: u64,
    /// A03 for a patient with no stay (no change).
    pub discharges_without_stay: u64,
    /// A08 that moved a patient to another bed.
    pub updates_moved: u64,
    /// A08 with a location for a patient with no stay (no change).
    pub updates_without_stay: u64,
    /// A11/A12/A13 with nothing to cancel (no change).
    pub cancels_without_target: u64,
    /// A17 where only one of the two patients had a bed.
    pub swaps_partial: u64,
    /// A17 where neither patient had a bed (no change).
    pub swaps_without_beds: u64,
    /// Events that cannot be applied (required location or patient missing, unknown
    /// association ended, repeated message id); the hub rejects these before they get here.
    pub invalid: u64,
    /// Conflict intervals: a bed with two patients at once, or a device explicitly associated
    /// with two patients at once.
    pub conflicts: u64,
}

/// A stay as the rules derive it (borrowing the events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawStay<'a> {
    pub patient: &'a str,
    pub encounter: Option<&'a str>,
    pub bed: &'a BedRef,
    pub start: Micros,
    pub end: Micros,
}

#[derive(Debug, Clone, Copy)]
struct Current<'a> {
    bed: &'a BedRef,
    encounter: Option<&'a str>,
    start: Micros,
}

type Remembered<'a> = Option<(&'a BedRef, Option<&'a str>)>;

struct Player<'a> {
    now: FastMap<&'a str, Current<'a>>,
    stays: Vec<RawStay<'a>>,
    memory: Vec<Option<Remembered<'a>>>,
}

impl<'a> Player<'a> {
    fn close(&mut self, patient: &'a str, t: Micros) {
        if let Some(c) = self.now.remove(patient)
            && c.start < t
        {
            self.stays.push(RawStay { patient, encounter: c.encounter, bed: c.bed, start: c.start, end: t });
        }
    }

    fn move_to(&mut self, patient: &'a str, bed: &'a BedRef, encounter: Option<&'a str>, t: Micros) {
        if let Some(c) = self.now.get(patient)
            && c.bed == bed
            && c.encounter == encounter
        {
            return;
        }
        self.close(patient, t);
        self.now.insert(patient, Current { bed, encounter, start: t });
    }

    fn state(&self, patient: &str) -> Remembered<'a> {
        self.now.get(patient).map(|c| (c.bed, c.encounter))
    }

    fn remember(&mut self, token: Option<usize>, patient: &str) {
        let state = self.state(patient);
        if let Some(slot) = token.and_then(|t| self.memory.get_mut(t)) {
            *slot = Some(state);
        }
    }

    fn encounter_of(&self, (patient, encounter): Who<'a>) -> Option<&'a str> {
        encounter.or_else(|| self.now.get(patient).and_then(|c| c.encounter))
    }
}

/// Plays `ops` in order and returns every stay (open ones end at [`OPEN`]).
pub(crate) fn play<'a>(mut ops: Vec<Op<'a>>, tokens: usize, stats: &mut DeriveStats) -> Vec<RawStay<'a>> {
    ops.sort_by_key(|op| op.key);
    let mut p = Player { now: FastMap::default(), stays: Vec::new(), memory: vec![None; tokens] };
    for op in ops {
        let t = op.key.eff;
        match op.action {
            Action::Arrive { who, bed } => {
                if p.now.get(who.0).is_some_and(|c| c.bed != bed) {
                    stats.admits_while_in_bed += 1;
                }
                p.move_to(who.0, bed, who.1, t);
            }
            Action::Transfer { who, bed, remember } => {
                p.remember(remember, who.0);
                if !p.now.contains_key(who.0) {
                    stats.transfers_without_admission += 1;
                }
                let encounter = p.encounter_of(who);
                p.move_to(who.0, bed, encounter, t);
            }
            Action::Update { who, bed } => match p.now.get(who.0) {
                Some(c) => {
                    stats.updates_moved += u64::from(c.bed != bed);
                    let encounter = p.encounter_of(who);
                    p.move_to(who.0, bed, encounter, t);
                }
                None => stats.updates_without_stay += 1,
            },
            Action::Discharge { patient, remember } => {
                p.remember(remember, patient);
                if !p.now.contains_key(patient) {
                    stats.discharges_without_stay += 1;
                }
                p.close(patient, t);
            }
            Action::Swap { first, second } => swap(&mut p, first, second, t, stats),
            Action::End { patient } => p.close(patient, t),
            Action::Restore { patient, token } => match p.memory.get(token).copied().flatten() {
                Some(Some((bed, encounter))) => p.move_to(patient, bed, encounter, t),
                Some(None) => p.close(patient, t),
                None => {}
            },
        }
    }
    let mut open: Vec<_> = p.now.drain().collect();
    open.sort_by(|a, b| a.0.cmp(b.0));
    for (patient, c) in open {
        p.stays.push(RawStay { patient, encounter: c.encounter, bed: c.bed, start: c.start, end: OPEN });
    }
    p.stays
}

fn swap<'a>(p: &mut Player<'a>, first: Who<'a>, second: Who<'a>, t: Micros, stats: &mut DeriveStats) {
    let (a, b) = (p.state(first.0), p.state(second.0));
    let (enc_a, enc_b) = (p.encounter_of(first), p.encounter_of(second));
    match (a, b) {
        (None, None) => {
            stats.swaps_without_beds += 1;
            return;
        }
        (Some(_), None) | (None, Some(_)) => stats.swaps_partial += 1,
        (Some(_), Some(_)) => {}
    }
    p.close(first.0, t);
    p.close(second.0, t);
    if let Some((bed, _)) = b {
        p.now.insert(first.0, Current { bed, encounter: enc_a, start: t });
    }
    if let Some((bed, _)) = a {
        p.now.insert(second.0, Current { bed, encounter: enc_b, start: t });
    }
}
