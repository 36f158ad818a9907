//! The events that change associations, as they arrived: ADT messages, bedside (barcode or
//! manual) associations, device placements. Derived state (intervals, snapshots) is computed from
//! the ordered history of these events and never stored on its own.

use serde::{Deserialize, Serialize};

use crate::time::Micros;

/// A bed, as HL7 PV1-3 names it: point of care (the ward) ^ room ^ bed. Two references are the
/// same bed when all three parts are equal (facility is informational).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BedRef {
    /// PV1-3.1 point of care: the ward or unit (`ICU`, `4WEST`).
    pub ward: String,
    /// PV1-3.2 room; empty when the feed has none.
    pub room: String,
    /// PV1-3.3 bed; empty when the feed has none.
    pub bed: String,
}

impl std::fmt::Display for BedRef {
    /// `ward^room^bed`, the HL7 form (empty parts kept, so the text is unambiguous).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}^{}^{}", self.ward, self.room, self.bed)
    }
}

/// An HL7 person location (PV1-3 or PV1-6): the bed and the facility it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Ward, room and bed.
    pub bed: BedRef,
    /// PV1-3.4 facility, when sent.
    pub facility: Option<String>,
}

/// The ADT trigger events wardstream applies (from MSH-9.2, never from EVN-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AdtKind {
    /// A01: admit; the patient occupies PV1-3 from the event time.
    Admit,
    /// A02: transfer from PV1-6 to PV1-3 at the event time.
    Transfer,
    /// A03: discharge; the patient leaves PV1-3 (or wherever they are) at the event time.
    Discharge,
    /// A04: register (outpatient/emergency); occupies PV1-3 when a bed is given.
    Register,
    /// A08: update patient information; applies a changed location only if PV1-3 differs.
    Update,
    /// A11: cancel admit (or register): the admission never happened.
    CancelAdmit,
    /// A12: cancel transfer: the latest transfer is undone (PV1-3 holds the location the patient
    /// returns to, PV1-6 the one the cancelled transfer had assigned).
    CancelTransfer,
    /// A13: cancel discharge: the patient is back in the bed they were discharged from.
    CancelDischarge,
    /// A17: swap beds: two patients exchange locations at the event time.
    SwapBeds,
}

impl AdtKind {
    /// The HL7 trigger event code (`A01`, …).
    pub const fn trigger(self) -> &'static str {
        match self {
            AdtKind::Admit => "A01",
            AdtKind::Transfer => "A02",
            AdtKind::Discharge => "A03",
            AdtKind::Register => "A04",
            AdtKind::Update => "A08",
            AdtKind::CancelAdmit => "A11",
            AdtKind::CancelTransfer => "A12",
            AdtKind::CancelDischarge => "A13",
            AdtKind::SwapBeds => "A17",
        }
    }

    /// The kind for a trigger event code, if wardstream applies it.
    pub fn from_trigger(code: &str) -> Option<AdtKind> {
        Some(match code {
            "A01" => AdtKind::Admit,
            "A02" => AdtKind::Transfer,
            "A03" => AdtKind::Discharge,
            "A04" => AdtKind::Register,
            "A08" => AdtKind::Update,
            "A11" => AdtKind::CancelAdmit,
            "A12" => AdtKind::CancelTransfer,
            "A13" => AdtKind::CancelDischarge,
            "A17" => AdtKind::SwapBeds,
            _ => return None,
        })
    }
}

/// One patient's part of an ADT message: PID-3 patient, PV1-19 encounter, PV1-3 and PV1-6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientVisit {
    /// PID-3: the medical-record identifier (see `wardstream_protocols::hl7::adt` for the rule
    /// when several repeat).
    pub patient_id: String,
    /// PV1-19 visit number, when sent.
    pub encounter_id: Option<String>,
    /// PV1-3 assigned location, when sent.
    pub location: Option<Location>,
    /// PV1-6 prior location, when sent.
    pub prior_location: Option<Location>,
}

/// An ADT message in domain terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdtEvent {
    /// What happened (from MSH-9).
    pub kind: AdtKind,
    /// MSH-10 message control id (the ACK echoes it; a repeated id is a redelivery).
    pub message_id: String,
    /// The patient the event is about.
    pub visit: PatientVisit,
    /// A17 only: the second patient of the swap (the second PID/PV1 pair).
    pub other: Option<PatientVisit>,
    /// When it happened: EVN-6, else EVN-2, else MSH-7, in UTC.
    pub event_time: Micros,
    /// When wardstream received it.
    pub recorded_at: Micros,
}

/// What an explicit association ties to a patient.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A device itself (barcode scan of the device and the patient's wristband).
    Device(String),
    /// A bed (every device serving it).
    Bed(BedRef),
}

/// An explicit association (`POST /api/v1/associations`): subject ↔ patient from a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplicitAssociation {
    /// Its id (given by the caller or generated), used to end it.
    pub id: String,
    /// What is associated.
    pub subject: Subject,
    /// The patient.
    pub patient_id: String,
    /// The encounter, when known.
    pub encounter_id: Option<String>,
    /// From when (UTC µs).
    pub start: Micros,
    /// Until when, if known already.
    pub end: Option<Micros>,
    /// When wardstream received it.
    pub recorded_at: Micros,
}

/// The end of an explicit association.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplicitEnd {
    /// The association's id.
    pub id: String,
    /// From when it no longer holds.
    pub end: Micros,
    /// When wardstream received it.
    pub recorded_at: Micros,
}

/// A device placed at a bed (from config or the device-registry API) from a time; `bed: None`
/// removes it from any bed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePlacement {
    /// The device id as readings carry it.
    pub device_id: String,
    /// The bed it serves from `from`, or none.
    pub bed: Option<BedRef>,
    /// From when.
    pub from: Micros,
    /// When wardstream received it.
    pub recorded_at: Micros,
}

/// Everything that changes associations, as stored in the durable association log.
///
/// Design: events are few (thousands a day) and short-lived outside the history, so the size
/// difference between variants (an ADT event is ~500 bytes) costs nothing worth a `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AssociationEvent {
    /// An ADT message.
    Adt(AdtEvent),
    /// An explicit association began.
    Associate(ExplicitAssociation),
    /// An explicit association ended.
    EndAssociation(ExplicitEnd),
    /// A device was placed at (or removed from) a bed.
    Place(DevicePlacement),
}
