//! [`Observation`]: a normalised reading, ready to store, with what the device originally said
//! kept beside the normalised value.

use std::sync::Arc;

use crate::catalogue::Metric;
use crate::reading::Source;
use crate::time::Micros;

/// One quality condition of a reading. A reading can carry several ([`Flags`]); the `status`
/// column shows the most severe, the `flags` column lists them all, so that counts per condition
/// stay exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flag {
    /// Outside the metric's plausible range: stored, flagged, counted, never dropped.
    Implausible,
    /// The device itself reported a measurement problem (sensor off, low perfusion,
    /// interference, low signal quality, …).
    Questionable,
    /// The time is further in the future than the configured tolerance, even after correction.
    FutureTime,
    /// No patient could be attached: the device is unknown, no association covers the reading's
    /// time, or two patients are associated at once (a conflict is never resolved by guessing).
    Unassociated,
    /// The device's clock is persistently off; `time` was corrected by the estimated skew and
    /// `device_time` keeps what the device said.
    ClockCorrected,
    /// The device marked the result as not final (HL7 OBX-11 `P`, `R`, `S`, `I`).
    Preliminary,
    /// The device marked the result as a correction of an earlier one (HL7 OBX-11 `C`).
    Corrected,
    /// The sender named a patient (HL7 PID-3 of a PCD-01 message) other than the one the
    /// association store attaches the reading to: never silently trusted, always shown.
    PatientMismatch,
}

impl Flag {
    /// Every flag, most severe first: the order that decides `status`.
    pub const ALL: [Flag; 8] = [
        Flag::PatientMismatch,
        Flag::Implausible,
        Flag::Questionable,
        Flag::FutureTime,
        Flag::Unassociated,
        Flag::ClockCorrected,
        Flag::Preliminary,
        Flag::Corrected,
    ];

    /// The name stored in the `flags` column (and, for the most severe, in `status`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Flag::Implausible => "implausible",
            Flag::Questionable => "questionable",
            Flag::FutureTime => "future_time",
            Flag::Unassociated => "unassociated",
            Flag::ClockCorrected => "clock_corrected",
            Flag::Preliminary => "preliminary",
            Flag::Corrected => "corrected",
            Flag::PatientMismatch => "patient_mismatch",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The set of [`Flag`]s of one reading (a bit set; copying it is free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No flag: a valid reading.
    pub const NONE: Flags = Flags(0);

    /// The set holding just `flag`.
    pub const fn of(flag: Flag) -> Flags {
        Flags(flag.bit())
    }

    /// Adds a flag.
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= flag.bit();
    }

    /// Removes a flag.
    pub fn remove(&mut self, flag: Flag) {
        self.0 &= !flag.bit();
    }

    /// True when `flag` is set.
    pub const fn contains(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// True when no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flags set, most severe first.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The status these flags give: the most severe flag, or `valid`.
    pub fn status(self) -> Status {
        match self.iter().next() {
            None => Status::Valid,
            Some(Flag::Implausible) => Status::Implausible,
            Some(Flag::Questionable) => Status::Questionable,
            Some(Flag::FutureTime) => Status::FutureTime,
            Some(Flag::Unassociated) => Status::Unassociated,
            Some(Flag::ClockCorrected) => Status::ClockCorrected,
            Some(Flag::Preliminary) => Status::Preliminary,
            Some(Flag::Corrected) => Status::Corrected,
            Some(Flag::PatientMismatch) => Status::PatientMismatch,
        }
    }
}

/// The validation state of a stored reading (`status` column): its most severe [`Flag`], or
/// `valid`. Precedence, most severe first:
///
/// | value | meaning |
/// |---|---|
/// | `patient_mismatch` | the sender named another patient than the association store |
/// | `implausible` | outside the metric's plausible range |
/// | `questionable` | the device reported a measurement problem |
/// | `future_time` | time beyond the future tolerance |
/// | `unassociated` | no patient attached (unknown device, no association, or a conflict) |
/// | `clock_corrected` | time corrected for the device's clock skew |
/// | `preliminary` | the device marked the result not final |
/// | `corrected` | the device marked the result a correction |
/// | `valid` | none of the above |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// No quality flag.
    Valid,
    /// See [`Flag::Implausible`].
    Implausible,
    /// See [`Flag::Questionable`].
    Questionable,
    /// See [`Flag::FutureTime`].
    FutureTime,
    /// See [`Flag::Unassociated`].
    Unassociated,
    /// See [`Flag::PatientMismatch`].
    PatientMismatch,
    /// See [`Flag::ClockCorrected`].
    ClockCorrected,
    /// See [`Flag::Preliminary`].
    Preliminary,
    /// See [`Flag::Corrected`].
    Corrected,
}

impl Status {
    /// The name stored in the `status` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Implausible => "implausible",
            Status::Questionable => "questionable",
            Status::FutureTime => "future_time",
            Status::Unassociated => "unassociated",
            Status::ClockCorrected => "clock_corrected",
            Status::Preliminary => "preliminary",
            Status::Corrected => "corrected",
            Status::PatientMismatch => "patient_mismatch",
        }
    }
}

/// A normalised reading: catalogue metric, canonical unit, validation status, and the source
/// name/value/unit/time as the device sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Observation time (µs, UTC); equal to `device_time` until clock-skew handling corrects it.
    pub time: Micros,
    /// The time as the device said (µs, UTC).
    pub device_time: Micros,
    /// When wardstream received it (µs, UTC).
    pub received_at: Micros,
    /// The device that produced it.
    pub device_id: Arc<str>,
    /// The catalogue metric.
    pub metric: Arc<Metric>,
    /// The value in the metric's canonical UCUM unit.
    pub value: f64,
    /// The name as sent.
    pub source_name: String,
    /// The value as sent.
    pub source_value: f64,
    /// The unit as sent.
    pub source_unit: Option<String>,
    /// Quality conditions; `status()` is the most severe.
    pub flags: Flags,
    /// Patient the reading is attached to, when associated.
    pub patient_id: Option<Arc<str>>,
    /// Encounter (visit) of that patient.
    pub encounter_id: Option<Arc<str>>,
    /// Ward of the bed the device served.
    pub ward: Option<Arc<str>>,
    /// Bed the device served.
    pub bed: Option<Arc<str>>,
    /// The transport it came by.
    pub source: Source,
}

impl Observation {
    /// The validation state: the most severe flag, or `valid`.
    pub fn status(&self) -> Status {
        self.flags.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_the_most_severe_flag() {
        let mut flags = Flags::NONE;
        assert_eq!(flags.status(), Status::Valid);
        flags.insert(Flag::Corrected);
        flags.insert(Flag::ClockCorrected);
        assert_eq!(flags.status(), Status::ClockCorrected);
        flags.insert(Flag::Implausible);
        assert_eq!(flags.status(), Status::Implausible);
        assert_eq!(flags.iter().map(Flag::as_str).collect::<Vec<_>>(), ["implausible", "clock_corrected", "corrected"]);
        flags.remove(Flag::Implausible);
        assert_eq!(flags.status().as_str(), "clock_corrected");
    }
}
