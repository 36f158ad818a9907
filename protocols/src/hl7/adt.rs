//! ADT messages (admit, transfer, discharge and their cancellations) as [`AdtEvent`]s.
//!
//! [`decode`] reads, in this order:
//! - **MSH-9**: MSH-9.1 must be `ADT`; the event is **MSH-9.2** (`A01`…), never EVN-1, which
//!   real feeds leave stale (the shared A02/A03 samples say `A01` there). Supported: A01, A02,
//!   A03, A04, A08, A11, A12, A13, A17 ([`AdtKind`]); anything else is
//!   [`AdtError::UnsupportedTrigger`].
//! - **PID/PV1 pairs**: each PID and the PV1 that follows it (before the next PID). The first
//!   pair is [`AdtEvent::visit`]; A17 (swap beds) needs a second, [`AdtEvent::other`].
//!   Patient from PID-3 and locations from PV1-3/PV1-6 by the rules of [`super::person`];
//!   encounter from PV1-19.1.
//! - **A location is required** (PV1-3 present) for A01 admit, A02 transfer, A12 cancel
//!   transfer (the bed the patient returns to) and A17 swap (both patients); the others may come
//!   without one (A03/A13 apply to wherever the patient is, A04/A08 only when a bed is given,
//!   A11 undoes the admission).
//! - **Event time**: the first of EVN-6 (event occurred), EVN-2 (recorded), MSH-7 that is sent.
//!   With a UTC offset it is exact; without one the `clock`'s zone applies (`LocalClock::utc()`
//!   for UTC). If that first one does not parse, the message is an error: a later field is not
//!   tried, because a wrong time would misplace every reading of the stay.
//!
//! Every failure is an [`AdtError`] whose [`AdtError::reply`] is the ACK to send: `AR` for a
//! message type or trigger wardstream does not take, `AE` for content it cannot apply.

use wardstream_pipeline::association::{AdtEvent, AdtKind, PatientVisit};
use wardstream_pipeline::time::{Hl7Timestamp, LocalClock, Micros, TimeError};

use super::ack::{ErrorCode, Reply};
use super::person::{encounter_id, location, patient_id};
use super::{Message, Segment};

/// Why an ADT message cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdtError {
    /// MSH-9.1 is not `ADT`.
    #[error("not an ADT message: MSH-9 is {message_type:?}")]
    NotAdt {
        /// MSH-9 as sent.
        message_type: String,
    },
    /// MSH-9.2 is not a trigger event wardstream applies.
    #[error("unsupported ADT trigger event {trigger:?} in MSH-9.2 (supported: A01 A02 A03 A04 A08 A11 A12 A13 A17)")]
    UnsupportedTrigger {
        /// MSH-9.2 as sent.
        trigger: String,
    },
    /// There is no PID segment for patient `pair` (1, or 2 for the second patient of an A17).
    #[error("no PID segment for patient {pair}")]
    MissingPid {
        /// 1 or 2.
        pair: usize,
    },
    /// PID-3 of patient `pair` holds no identifier.
    #[error("PID-3 of patient {pair} holds no patient identifier")]
    MissingPatientId {
        /// 1 or 2.
        pair: usize,
    },
    /// The event needs an assigned location and PV1-3 of patient `pair` is empty or absent.
    #[error("{trigger} needs an assigned location, but PV1-3 of patient {pair} is empty or there is no PV1")]
    MissingLocation {
        /// The trigger event (`A01`).
        trigger: &'static str,
        /// 1 or 2.
        pair: usize,
    },
    /// EVN-6, EVN-2 and MSH-7 are all empty.
    #[error("no event time: EVN-6, EVN-2 and MSH-7 are all empty")]
    MissingTime,
    /// The event time field does not hold a valid HL7 timestamp.
    #[error("{field} is not a valid event time: {error}")]
    InvalidTime {
        /// `EVN-6`, `EVN-2` or `MSH-7`.
        field: &'static str,
        /// The parser's reason.
        error: TimeError,
    },
}

impl AdtError {
    /// The acknowledgement for this error: `AR` (200/201) for a message wardstream does not
    /// take, `AE` for content it cannot apply (100 missing segment, 101 missing field, 102 bad
    /// time), with the error's text.
    pub fn reply(&self) -> Reply {
        let text = self.to_string();
        match self {
            AdtError::NotAdt { .. } => Reply::reject(ErrorCode::UnsupportedMessageType, text),
            AdtError::UnsupportedTrigger { .. } => Reply::reject(ErrorCode::UnsupportedEventCode, text),
            AdtError::MissingPid { .. } => Reply::error(ErrorCode::SegmentSequence, text),
            AdtError::MissingPatientId { .. } | AdtError::MissingLocation { .. } | AdtError::MissingTime => {
                Reply::error(ErrorCode::RequiredFieldMissing, text)
            }
            AdtError::InvalidTime { .. } => Reply::error(ErrorCode::DataType, text),
        }
    }
}

/// Decodes an ADT message received at `received_at` (rules in the module docs). `clock`
/// converts event times sent without a UTC offset.
pub fn decode(msg: &Message, received_at: Micros, clock: &mut LocalClock) -> Result<AdtEvent, AdtError> {
    if !msg.message_code().trim().eq_ignore_ascii_case("ADT") {
        return Err(AdtError::NotAdt { message_type: msg.msh().field(9).text().into_owned() });
    }
    let trigger = msg.trigger_event();
    let kind = AdtKind::from_trigger(&trigger.trim().to_ascii_uppercase())
        .ok_or_else(|| AdtError::UnsupportedTrigger { trigger: trigger.into_owned() })?;
    let pairs = pid_pv1_pairs(msg);
    let visit_of = |pair: usize| -> Result<PatientVisit, AdtError> {
        let (pid, pv1) = pairs.get(pair - 1).ok_or(AdtError::MissingPid { pair })?;
        patient_visit(pid, pv1.as_ref(), kind, pair)
    };
    let visit = visit_of(1)?;
    let other = if kind == AdtKind::SwapBeds { Some(visit_of(2)?) } else { None };
    Ok(AdtEvent {
        kind,
        message_id: msg.control_id().into_owned(),
        visit,
        other,
        event_time: event_time(msg, clock)?,
        recorded_at: received_at,
    })
}

/// Each PID with the PV1 that follows it before the next PID.
fn pid_pv1_pairs(msg: &Message) -> Vec<(Segment<'_>, Option<Segment<'_>>)> {
    let mut pairs: Vec<(Segment<'_>, Option<Segment<'_>>)> = Vec::new();
    for segment in msg.all_segments() {
        match (segment.name(), pairs.last_mut()) {
            ("PID", _) => pairs.push((segment, None)),
            ("PV1", Some((_, pv1 @ None))) => *pv1 = Some(segment),
            _ => {}
        }
    }
    pairs
}

fn patient_visit(
    pid: &Segment<'_>,
    pv1: Option<&Segment<'_>>,
    kind: AdtKind,
    pair: usize,
) -> Result<PatientVisit, AdtError> {
    let patient_id = patient_id(pid).ok_or(AdtError::MissingPatientId { pair })?;
    let assigned = pv1.and_then(|pv1| location(pv1.field(3)));
    let needs_location =
        matches!(kind, AdtKind::Admit | AdtKind::Transfer | AdtKind::CancelTransfer | AdtKind::SwapBeds);
    if needs_location && assigned.is_none() {
        return Err(AdtError::MissingLocation { trigger: kind.trigger(), pair });
    }
    Ok(PatientVisit {
        patient_id,
        encounter_id: pv1.and_then(encounter_id),
        location: assigned,
        prior_location: pv1.and_then(|pv1| location(pv1.field(6))),
    })
}

/// EVN-6, else EVN-2, else MSH-7 (TS: the date-time is component 1).
fn event_time(msg: &Message, clock: &mut LocalClock) -> Result<Micros, AdtError> {
    let evn = msg.segment("EVN");
    let candidates = [("EVN-6", evn, 6), ("EVN-2", evn, 2), ("MSH-7", Some(msg.msh()), 7)];
    for (field, segment, n) in candidates {
        let Some(segment) = segment else { continue };
        let text = segment.field(n).component(1).text();
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let ts = Hl7Timestamp::parse(text).map_err(|error| AdtError::InvalidTime { field, error })?;
        return Ok(ts.to_utc(clock));
    }
    Err(AdtError::MissingTime)
}
