//! # Patient association: who was in which bed, and which device served which bed, over time
//!
//! A reading belongs to the patient associated with its device (directly, or through the bed the
//! device served) at the reading's observation time — never at its arrival time. A wrong patient
//! is the worst error this system can make, so when the events leave any doubt (two patients in
//! one bed, no association) a reading is left unattached and flagged, never guessed.
//!
//! - [`event`]: the vocabulary. [`AssociationEvent`] is everything that changes associations: an
//!   ADT event ([`AdtEvent`], from HL7 A01…A17 messages parsed in `wardstream-protocols`), an
//!   explicit bedside association and its end, a device placed at or removed from a bed. Events
//!   are serialisable: the durable association log (in `wardstream-storage`) stores them as they
//!   arrived and replays them at start.
//! - [`AssociationHub`] ([`hub`]): owns the history of applied events (redeliveries applied once,
//!   invalid events [`Rejected`] with a reason for the `AE` ACK) and publishes an immutable
//!   [`AssociationSnapshot`] after each change through an `ArcSwap`: readers never lock. It
//!   recomputes only what an event touches (its patients, their beds, the devices at those
//!   beds; the private `engine` and `publish` modules); [`AssociationSnapshot::build`] is the
//!   from-scratch reference the property tests compare it with. Durability: `check`, append to
//!   the association log (fsync), `apply`, then acknowledge; at start, `replay` the log.
//! - [`AssociationSnapshot`] ([`snapshot`], built by [`build`]): per device, sorted
//!   non-overlapping intervals, each an [`Attachment`] or a conflict. [`ops`] and [`rules`] turn
//!   ADT events into stays (the rules for each trigger, cancellations and their edge cases are
//!   documented there); [`build`] sweeps stays into bed occupancy, intersects it with device
//!   placements and lays explicit device associations over it.
//! - [`attach()`]: the hot-path stage that fills [`Observation`](crate::Observation)s' patient
//!   fields from a snapshot; an unknown device, no association, or a conflict leaves them empty
//!   and sets [`Flag::Unassociated`](crate::Flag::Unassociated).
//!
//! **Retroactive window.** Events arrive late and out of order; each is applied at its event
//! time, re-attributing readings back to it, but never further back than
//! [`AssociationConfig::retro_window`] (24 h) before its receipt: an event takes effect at
//! `max(event_time, recorded_at − retro_window)`, and such clamped events are counted
//! ([`DeriveStats::clamped`]). A snapshot is a function of the set of events, not of their
//! arrival order (ties of equal times aside).
//!
//! ```
//! use wardstream_pipeline::association::*;
//!
//! let hub = AssociationHub::new(AssociationConfig::default());
//! let bed = BedRef { ward: "ICU".into(), room: "1".into(), bed: "A".into() };
//! let place = DevicePlacement { device_id: "mon-1".into(), bed: Some(bed.clone()), from: 0, recorded_at: 0 };
//! hub.apply(AssociationEvent::Place(place)).unwrap();
//! let admit = AdtEvent {
//!     kind: AdtKind::Admit,
//!     message_id: "MSG1".into(),
//!     visit: PatientVisit {
//!         patient_id: "P1".into(),
//!         encounter_id: Some("V1".into()),
//!         location: Some(Location { bed, facility: None }),
//!         prior_location: None,
//!     },
//!     other: None,
//!     event_time: 1_000,
//!     recorded_at: 1_000,
//! };
//! assert!(!hub.apply(AssociationEvent::Adt(admit.clone())).unwrap().redelivery);
//! assert!(hub.apply(AssociationEvent::Adt(admit)).unwrap().redelivery);
//!
//! let snapshot = hub.snapshot();
//! assert_eq!(snapshot.attach("mon-1", 999), Attach::Unassociated);
//! let Attach::Attached(a) = snapshot.attach("mon-1", 1_000) else { panic!() };
//! assert_eq!((&*a.patient_id, a.location.as_deref()), ("P1", Some("ICU^1^A")));
//! assert_eq!(snapshot.attach("mon-2", 1_000), Attach::UnknownDevice);
//! ```

pub mod attach;
pub mod build;
pub mod config;
mod engine;
pub mod event;
mod flatten;
mod hash;
pub mod history;
pub mod hub;
mod intervals;
pub mod ops;
mod publish;
pub mod rules;
pub mod snapshot;

pub use attach::{AttachCounts, attach};
pub use config::AssociationConfig;
pub use event::{
    AdtEvent, AdtKind, AssociationEvent, BedRef, DevicePlacement, ExplicitAssociation, ExplicitEnd, Location,
    PatientVisit, Subject,
};
pub use history::Rejected;
pub use hub::{Applied, AssociationHub, HubStats, ReplaySummary};
pub use rules::DeriveStats;
pub use snapshot::{
    AssociationSnapshot, Attach, Attachment, AttachmentSource, ConflictInterval, ConflictSubject, Occupant,
    PatientInterval, Stay,
};
