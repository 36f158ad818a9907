//! `History`: every association event applied, in arrival order, with the indexes that
//! decide whether a new event is new, a redelivery, or rejected ([`Rejected`]).
//!
//! - ADT: a message control id (MSH-10) seen before is a **redelivery** when the content
//!   (everything but `recorded_at`) is the same, and rejected otherwise. A01, A02 and A12 need
//!   PV1-3; A17 needs a second, different patient; a cancel with nothing to cancel for that
//!   patient before its event time is rejected (the sender gets `AE`, nothing changes).
//! - Explicit associations: an id seen before with the same content (but `recorded_at`) is a
//!   redelivery, otherwise rejected; an end needs a known id and may not precede the start.
//! - Placements: the same device, bed and `from` again is a redelivery (so a configuration
//!   re-applied at every start changes nothing).
//!
//! Rejected events are not kept.

use std::collections::{HashMap, HashSet};

use super::config::AssociationConfig;
use super::event::{AdtEvent, AdtKind, AssociationEvent, BedRef, ExplicitAssociation, ExplicitEnd, Subject};
use super::ops::resolve_patient;
use crate::time::Micros;

/// Why an event was not applied. The text is what the ADT listener puts in its `AE` ACK and
/// what the API answers; it names no patient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// A required identifier is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which: `message control id (MSH-10)`, `patient id (PID-3)`, `association id`, `device id`.
        what: &'static str,
    },
    /// A01, A02 and A12 need an assigned location.
    #[error("{trigger} needs an assigned location (PV1-3)")]
    MissingLocation {
        /// The trigger event.
        trigger: &'static str,
    },
    /// A17 needs two different patients.
    #[error("A17 needs two different patients")]
    SwapNeedsTwoPatients,
    /// A cancel found nothing of its kind to cancel for the patient before its event time.
    #[error("{trigger}: nothing to cancel for this patient before the event time")]
    NothingToCancel {
        /// The trigger event.
        trigger: &'static str,
    },
    /// The message control id was applied before with a different content.
    #[error("message control id {message_id:?} was already used by a different message")]
    MessageIdReused {
        /// MSH-10.
        message_id: String,
    },
    /// The association id exists with a different content.
    #[error("association {id:?} already exists with different content")]
    AssociationIdReused {
        /// The id.
        id: String,
    },
    /// No association has this id.
    #[error("no association with id {id:?}")]
    UnknownAssociation {
        /// The id.
        id: String,
    },
    /// The association would end before it starts.
    #[error("association {id:?} would end before it starts")]
    EndBeforeStart {
        /// The id.
        id: String,
    },
}

impl Rejected {
    /// A short stable name for counters and logs (`nothing_to_cancel`, …).
    pub const fn kind(&self) -> &'static str {
        match self {
            Rejected::Empty { .. } => "empty_identifier",
            Rejected::MissingLocation { .. } => "missing_location",
            Rejected::SwapNeedsTwoPatients => "swap_needs_two_patients",
            Rejected::NothingToCancel { .. } => "nothing_to_cancel",
            Rejected::MessageIdReused { .. } => "message_id_reused",
            Rejected::AssociationIdReused { .. } => "association_id_reused",
            Rejected::UnknownAssociation { .. } => "unknown_association",
            Rejected::EndBeforeStart { .. } => "end_before_start",
        }
    }
}

/// What [`History::check`] found an acceptable event to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Novelty {
    /// Not seen before: it changes the history.
    New,
    /// Seen before: nothing to do.
    Redelivery,
}

/// The applied events and their indexes.
#[derive(Debug, Default)]
pub(crate) struct History {
    events: Vec<AssociationEvent>,
    adt_ids: HashMap<String, usize>,
    associations: HashMap<String, usize>,
    adt_by_patient: HashMap<String, Vec<usize>>,
    /// `(device, bed, from)` of every placement.
    places: HashSet<(String, Option<BedRef>, Micros)>,
    /// `(id, end)` of every association end.
    ends: HashSet<(String, Micros)>,
}

fn same_adt(a: &AdtEvent, b: &AdtEvent) -> bool {
    (a.kind, &a.visit, &a.other, a.event_time) == (b.kind, &b.visit, &b.other, b.event_time)
}

fn same_association(a: &ExplicitAssociation, b: &ExplicitAssociation) -> bool {
    (&a.subject, &a.patient_id, &a.encounter_id, a.start, a.end)
        == (&b.subject, &b.patient_id, &b.encounter_id, b.start, b.end)
}

impl History {
    /// Every applied event, in arrival order.
    pub(crate) fn events(&self) -> &[AssociationEvent] {
        &self.events
    }

    /// Whether `event` would be applied, and how.
    pub(crate) fn check(&self, config: &AssociationConfig, event: &AssociationEvent) -> Result<Novelty, Rejected> {
        match event {
            AssociationEvent::Adt(e) => self.check_adt(config, e),
            AssociationEvent::Associate(a) => self.check_associate(a),
            AssociationEvent::EndAssociation(e) => self.check_end(e),
            AssociationEvent::Place(p) => {
                if p.device_id.is_empty() {
                    return Err(Rejected::Empty { what: "device id" });
                }
                let again = self.places.contains(&(p.device_id.clone(), p.bed.clone(), p.from));
                Ok(if again { Novelty::Redelivery } else { Novelty::New })
            }
        }
    }

    fn check_adt(&self, config: &AssociationConfig, e: &AdtEvent) -> Result<Novelty, Rejected> {
        let trigger = e.kind.trigger();
        if e.message_id.is_empty() {
            return Err(Rejected::Empty { what: "message control id (MSH-10)" });
        }
        if let Some(AssociationEvent::Adt(seen)) = self.adt_ids.get(&e.message_id).and_then(|&i| self.events.get(i)) {
            return if same_adt(seen, e) {
                Ok(Novelty::Redelivery)
            } else {
                Err(Rejected::MessageIdReused { message_id: e.message_id.clone() })
            };
        }
        if e.visit.patient_id.is_empty() {
            return Err(Rejected::Empty { what: "patient id (PID-3)" });
        }
        match e.kind {
            AdtKind::Admit | AdtKind::Transfer | AdtKind::CancelTransfer if e.visit.location.is_none() => {
                Err(Rejected::MissingLocation { trigger })
            }
            AdtKind::SwapBeds => match &e.other {
                Some(o) if !o.patient_id.is_empty() && o.patient_id != e.visit.patient_id => Ok(Novelty::New),
                _ => Err(Rejected::SwapNeedsTwoPatients),
            },
            AdtKind::CancelAdmit | AdtKind::CancelTransfer | AdtKind::CancelDischarge => {
                let seq = self.events.len();
                let mut mine: Vec<(usize, &AdtEvent)> = self
                    .adt_by_patient
                    .get(&e.visit.patient_id)
                    .into_iter()
                    .flatten()
                    .filter_map(|&i| match self.events.get(i) {
                        Some(AssociationEvent::Adt(a)) => Some((i, a)),
                        _ => None,
                    })
                    .collect();
                mine.push((seq, e));
                let resolution = resolve_patient(config, &mut mine, &mut 0);
                if resolution.without_target.contains(&seq) {
                    Err(Rejected::NothingToCancel { trigger })
                } else {
                    Ok(Novelty::New)
                }
            }
            _ => Ok(Novelty::New),
        }
    }

    fn check_associate(&self, a: &ExplicitAssociation) -> Result<Novelty, Rejected> {
        if a.id.is_empty() {
            return Err(Rejected::Empty { what: "association id" });
        }
        if let Some(AssociationEvent::Associate(seen)) = self.associations.get(&a.id).and_then(|&i| self.events.get(i))
        {
            return if same_association(seen, a) {
                Ok(Novelty::Redelivery)
            } else {
                Err(Rejected::AssociationIdReused { id: a.id.clone() })
            };
        }
        if a.patient_id.is_empty() {
            return Err(Rejected::Empty { what: "patient id" });
        }
        if matches!(&a.subject, Subject::Device(d) if d.is_empty()) {
            return Err(Rejected::Empty { what: "device id" });
        }
        if a.end.is_some_and(|end| end < a.start) {
            return Err(Rejected::EndBeforeStart { id: a.id.clone() });
        }
        Ok(Novelty::New)
    }

    fn check_end(&self, e: &ExplicitEnd) -> Result<Novelty, Rejected> {
        let Some(AssociationEvent::Associate(a)) = self.associations.get(&e.id).and_then(|&i| self.events.get(i))
        else {
            return Err(Rejected::UnknownAssociation { id: e.id.clone() });
        };
        if e.end < a.start {
            return Err(Rejected::EndBeforeStart { id: e.id.clone() });
        }
        let again = a.end == Some(e.end) || self.ends.contains(&(e.id.clone(), e.end));
        Ok(if again { Novelty::Redelivery } else { Novelty::New })
    }

    /// Appends an event [`History::check`] found new.
    pub(crate) fn push(&mut self, event: AssociationEvent) {
        let seq = self.events.len();
        match &event {
            AssociationEvent::Adt(e) => {
                self.adt_ids.insert(e.message_id.clone(), seq);
                if e.kind != AdtKind::SwapBeds {
                    self.adt_by_patient.entry(e.visit.patient_id.clone()).or_default().push(seq);
                }
            }
            AssociationEvent::Associate(a) => {
                self.associations.insert(a.id.clone(), seq);
            }
            AssociationEvent::EndAssociation(e) => {
                self.ends.insert((e.id.clone(), e.end));
            }
            AssociationEvent::Place(p) => {
                self.places.insert((p.device_id.clone(), p.bed.clone(), p.from));
            }
        }
        self.events.push(event);
    }
}
