//! [`Observation`]: a normalised reading, ready to store, with what the device originally said
//! kept beside the normalised value.

use std::sync::Arc;

use crate::catalogue::Metric;
use crate::reading::Source;
use crate::time::Micros;

/// The validation state of a stored reading (`status` column).
///
/// | value | meaning |
/// |---|---|
/// | `valid` | a known metric in a known unit, inside the metric's plausible range |
/// | `implausible` | outside the metric's plausible range: stored, flagged, counted — never dropped |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Known metric and unit, value inside the plausible range.
    Valid,
    /// Value outside the metric's plausible range.
    Implausible,
}

impl Status {
    /// The name stored in the `status` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Implausible => "implausible",
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
    /// Validation state.
    pub status: Status,
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
