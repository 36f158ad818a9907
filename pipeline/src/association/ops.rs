//! ADT events → the ordered operations that [`super::rules`] plays: each event's effective
//! time, and what its cancellations remove.
//!
//! **Order.** Operations are played by `(effective time, event time, recorded_at, arrival)`,
//! where the effective time is `max(event_time, recorded_at − retro_window)` (events moved
//! later that way are counted as clamped). For events recorded within the window this is the
//! order of event time, ties by receipt, then arrival.
//!
//! **Cancellations** pick their target in the order of the true history, `(event time,
//! recorded_at, arrival)`, among the same patient's events before the cancel:
//! - A11 cancel admit: the latest admit/register not yet cancelled; it is removed with the rest
//!   of that stay (the patient's transfers, updates and discharges between it and the cancel).
//! - A12 cancel transfer: the latest A02 not yet cancelled is removed.
//! - A13 cancel discharge: the latest A03 not yet cancelled is removed.
//! - Nothing to cancel: no change, counted ([`super::DeriveStats::cancels_without_target`]);
//!   the hub rejects such a cancel so the sender gets an `AE`.
//!
//! A cancel may not rewrite readings before its own floor (`recorded_at − retro_window`)
//! either: an operation it cancels that took effect before the floor stays in place until the
//! floor, and a corrective operation at the floor undoes it from there (A11: the stay ends;
//! A12/A13: the patient returns to where they were just before the cancelled transfer or
//! discharge). Those cancels are counted as clamped too.

use super::hash::FastMap;

use super::config::AssociationConfig;
use super::event::{AdtEvent, AdtKind, BedRef};
use crate::time::Micros;

/// Where an operation sits in the played order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    /// Effective time: when the operation takes effect.
    pub eff: Micros,
    /// The event's own time.
    pub event_time: Micros,
    /// When it was received.
    pub recorded_at: Micros,
    /// Arrival order in the history.
    pub seq: usize,
}

/// A patient and the encounter an event names for them.
pub(crate) type Who<'a> = (&'a str, Option<&'a str>);

/// What an operation does to the patients' locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action<'a> {
    /// A01 admit or A04 register with a bed: the patient occupies `bed`.
    Arrive { who: Who<'a>, bed: &'a BedRef },
    /// A02: the patient moves to `bed`; `remember` asks the player to keep the prior state.
    Transfer { who: Who<'a>, bed: &'a BedRef, remember: Option<usize> },
    /// A08 with a location: moves a patient who has a stay, if the bed differs.
    Update { who: Who<'a>, bed: &'a BedRef },
    /// A03: the patient's stay ends.
    Discharge { patient: &'a str, remember: Option<usize> },
    /// A17: the two patients exchange the beds they occupy.
    Swap { first: Who<'a>, second: Who<'a> },
    /// Corrective (clamped A11): the patient's stay ends, without counting anything.
    End { patient: &'a str },
    /// Corrective (clamped A12/A13): back to the state remembered under `token`.
    Restore { patient: &'a str, token: usize },
}

/// One operation to play.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op<'a> {
    /// Its place in the order.
    pub key: Key,
    /// What it does.
    pub action: Action<'a>,
}

/// The operations of a set of ADT events and what building them counted.
#[derive(Debug, Default)]
pub(crate) struct Ops<'a> {
    /// Unsorted; [`super::rules::play`] sorts them.
    pub ops: Vec<Op<'a>>,
    /// How many `remember` tokens were handed out.
    pub tokens: usize,
    /// Events whose effect was moved to their floor.
    pub clamped: u64,
    /// Cancels that found nothing to cancel.
    pub cancels_without_target: u64,
    /// Events that cannot be applied (no location where one is required, A17 without two
    /// different patients, no patient id).
    pub invalid: u64,
}

/// How the cancels of one patient's events resolved.
#[derive(Debug, Default)]
pub(crate) struct Resolution {
    /// Arrival indices of events removed.
    pub dead: Vec<usize>,
    /// Arrival index of a kept event → the token under which to remember its prior state.
    pub remember: Vec<(usize, usize)>,
    /// Corrective operations.
    pub corrective: Vec<(Key, CorrectiveKind, usize)>,
    /// Arrival indices of cancels with nothing to cancel.
    pub without_target: Vec<usize>,
    /// Cancels clamped to their floor.
    pub clamped: u64,
}

/// The corrective operation a clamped cancel leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CorrectiveKind {
    /// End the stay (A11).
    End,
    /// Restore a remembered state (A12, A13); the `usize` beside it is the token.
    Restore,
}

/// The effective time of an event: `max(event_time, recorded_at − window)`.
pub(crate) fn effective(config: &AssociationConfig, event_time: Micros, recorded_at: Micros) -> Micros {
    event_time.max(config.floor(recorded_at))
}

fn key_of(config: &AssociationConfig, seq: usize, e: &AdtEvent) -> Key {
    Key {
        eff: effective(config, e.event_time, e.recorded_at),
        event_time: e.event_time,
        recorded_at: e.recorded_at,
        seq,
    }
}

/// Resolves the cancels among one patient's events (`(arrival index, event)`, any order; A17s
/// excluded). `next_token` numbers the remember tokens.
pub(crate) fn resolve_patient(
    config: &AssociationConfig,
    events: &mut [(usize, &AdtEvent)],
    next_token: &mut usize,
) -> Resolution {
    events.sort_by_key(|(seq, e)| (e.event_time, e.recorded_at, *seq));
    let mut consumed = vec![false; events.len()];
    let mut res = Resolution::default();
    for i in 0..events.len() {
        let Some(&(cancel_seq, cancel)) = events.get(i) else { continue };
        let target_kinds: &[AdtKind] = match cancel.kind {
            AdtKind::CancelAdmit => &[AdtKind::Admit, AdtKind::Register],
            AdtKind::CancelTransfer => &[AdtKind::Transfer],
            AdtKind::CancelDischarge => &[AdtKind::Discharge],
            _ => continue,
        };
        let target = (0..i).rev().find(|&j| {
            !consumed.get(j).copied().unwrap_or(true)
                && events.get(j).is_some_and(|(_, e)| target_kinds.contains(&e.kind))
        });
        let Some(j) = target else {
            res.without_target.push(cancel_seq);
            continue;
        };
        let floor = config.floor(cancel.recorded_at);
        let mut undo = vec![j];
        if cancel.kind == AdtKind::CancelAdmit {
            undo.extend((j + 1..i).filter(|&k| {
                events.get(k).is_some_and(|(seq, e)| {
                    matches!(e.kind, AdtKind::Transfer | AdtKind::Update | AdtKind::Discharge)
                        && !res.dead.contains(seq)
                })
            }));
        }
        for k in undo {
            if let (Some(c), Some(&(seq, e))) = (consumed.get_mut(k), events.get(k)) {
                *c = true;
                if effective(config, e.event_time, e.recorded_at) >= floor {
                    res.dead.push(seq);
                }
            }
        }
        let Some(&(target_seq, target_event)) = events.get(j) else { continue };
        if effective(config, target_event.event_time, target_event.recorded_at) >= floor {
            continue;
        }
        res.clamped += 1;
        let key = Key { eff: floor, event_time: cancel.event_time, recorded_at: cancel.recorded_at, seq: cancel_seq };
        if cancel.kind == AdtKind::CancelAdmit {
            res.corrective.push((key, CorrectiveKind::End, 0));
        } else {
            let token = *next_token;
            *next_token += 1;
            res.remember.push((target_seq, token));
            res.corrective.push((key, CorrectiveKind::Restore, token));
        }
    }
    res
}

/// The operations of `events` (`(arrival index, event)`, each message id once).
pub(crate) fn build<'a>(config: &AssociationConfig, events: &[(usize, &'a AdtEvent)]) -> Ops<'a> {
    let mut out = Ops::default();
    let is_cancel = |k: AdtKind| matches!(k, AdtKind::CancelAdmit | AdtKind::CancelTransfer | AdtKind::CancelDischarge);
    // Only patients with a cancel need resolving; the others keep every event.
    let cancelling: FastMap<&str, ()> =
        events.iter().filter(|(_, e)| is_cancel(e.kind)).map(|(_, e)| (e.visit.patient_id.as_str(), ())).collect();
    let mut per_patient: FastMap<&str, Vec<(usize, &AdtEvent)>> = FastMap::default();
    for &(seq, e) in events {
        if e.kind != AdtKind::SwapBeds && cancelling.contains_key(e.visit.patient_id.as_str()) {
            per_patient.entry(e.visit.patient_id.as_str()).or_default().push((seq, e));
        }
    }
    let max_seq = events.iter().map(|(seq, _)| *seq + 1).max().unwrap_or(0);
    let mut dead = vec![false; max_seq];
    let mut remember: FastMap<usize, usize> = FastMap::default();
    let mut patients: Vec<_> = per_patient.into_iter().collect();
    patients.sort_by(|a, b| a.0.cmp(b.0));
    for (patient, mut evs) in patients {
        let res = resolve_patient(config, &mut evs, &mut out.tokens);
        out.clamped += res.clamped;
        out.cancels_without_target += res.without_target.len() as u64;
        for seq in res.dead {
            if let Some(d) = dead.get_mut(seq) {
                *d = true;
            }
        }
        remember.extend(res.remember);
        for (key, kind, token) in res.corrective {
            let action = match kind {
                CorrectiveKind::End => Action::End { patient },
                CorrectiveKind::Restore => Action::Restore { patient, token },
            };
            out.ops.push(Op { key, action });
        }
    }
    out.ops.reserve(events.len());
    for &(seq, e) in events {
        if dead.get(seq).copied().unwrap_or(false) {
            continue;
        }
        let key = key_of(config, seq, e);
        let who = (e.visit.patient_id.as_str(), e.visit.encounter_id.as_deref());
        let bed = e.visit.location.as_ref().map(|l| &l.bed);
        let remember = remember.get(&seq).copied();
        let action = match (e.kind, bed) {
            _ if who.0.is_empty() => None,
            (AdtKind::Admit | AdtKind::Register, Some(bed)) => Some(Action::Arrive { who, bed }),
            (AdtKind::Register | AdtKind::Update, None) => continue,
            (AdtKind::Transfer, Some(bed)) => Some(Action::Transfer { who, bed, remember }),
            (AdtKind::Update, Some(bed)) => Some(Action::Update { who, bed }),
            (AdtKind::Discharge, _) => Some(Action::Discharge { patient: who.0, remember }),
            (AdtKind::SwapBeds, _) => e
                .other
                .as_ref()
                .filter(|o| !o.patient_id.is_empty() && o.patient_id != who.0)
                .map(|o| Action::Swap { first: who, second: (o.patient_id.as_str(), o.encounter_id.as_deref()) }),
            (AdtKind::CancelAdmit | AdtKind::CancelTransfer | AdtKind::CancelDischarge, _) => continue,
            (AdtKind::Admit | AdtKind::Transfer, None) => None,
        };
        match action {
            Some(action) => {
                out.clamped += u64::from(key.eff > e.event_time);
                out.ops.push(Op { key, action });
            }
            None => out.invalid += 1,
        }
    }
    out
}
