//! [`DeadLetter`]: input wardstream could not turn into an observation, kept with the reason.
//!
//! Nothing is dropped silently: every rejected payload or record becomes a dead letter in the
//! `dead_letters` table (with the raw bytes) and increments a per-reason counter.

use std::sync::Arc;

use crate::reading::Source;
use crate::time::Micros;

/// Why input was rejected; stored in the `reason` column as [`Reason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The payload is not valid for its format (e.g. not SenML JSON).
    InvalidPayload,
    /// A record carries no value.
    MissingValue,
    /// The value is a string, boolean or data, not a number.
    NonNumericValue,
    /// The value is NaN or infinite.
    NonFiniteValue,
    /// The name is not a catalogue metric or alias.
    UnknownMetric,
    /// The unit is unknown or does not measure the metric's quantity.
    UnknownUnit,
    /// The time cannot be represented.
    InvalidTime,
    /// The payload declares a format version newer than wardstream understands.
    UnsupportedVersion,
    /// No device id could be derived.
    UnknownDevice,
    /// The same reading (device, metric, device time) was already stored within the
    /// de-duplication window: a redelivery or a repeated poll. Kept here instead of doubling a
    /// row. The detail names the metric, the device time and both values; `origin` and
    /// `payload` are empty because a normalised observation no longer carries them.
    Duplicate,
    /// The payload names a device other than the one its MQTT topic identifies (with
    /// `identity = "enforce"`): a device may only report for itself. The whole message is one
    /// dead letter; `device_id` is the topic's device, `source_name` the offending record name,
    /// the detail names both device ids. Nothing of the message is stored.
    IdentityMismatch,
}

impl Reason {
    /// Every reason, in counter order.
    pub const ALL: [Reason; 11] = [
        Reason::InvalidPayload,
        Reason::MissingValue,
        Reason::NonNumericValue,
        Reason::NonFiniteValue,
        Reason::UnknownMetric,
        Reason::UnknownUnit,
        Reason::InvalidTime,
        Reason::UnsupportedVersion,
        Reason::UnknownDevice,
        Reason::Duplicate,
        Reason::IdentityMismatch,
    ];

    /// The name stored in the `reason` column and used in metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidPayload => "invalid_payload",
            Reason::MissingValue => "missing_value",
            Reason::NonNumericValue => "non_numeric_value",
            Reason::NonFiniteValue => "non_finite_value",
            Reason::UnknownMetric => "unknown_metric",
            Reason::UnknownUnit => "unknown_unit",
            Reason::InvalidTime => "invalid_time",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::UnknownDevice => "unknown_device",
            Reason::Duplicate => "duplicate",
            Reason::IdentityMismatch => "identity_mismatch",
        }
    }

    /// Position in [`Reason::ALL`], for counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected payload or record.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// When wardstream received it (µs, UTC).
    pub received_at: Micros,
    /// The transport it came by.
    pub source: Source,
    /// Where on that transport (MQTT topic, port, …).
    pub origin: Arc<str>,
    /// The device, when it could be determined.
    pub device_id: Option<Arc<str>>,
    /// The record's name as sent, for record-level rejections.
    pub source_name: Option<String>,
    /// Why it was rejected.
    pub reason: Reason,
    /// A human-readable explanation (which name, which unit, the parser's message).
    pub detail: String,
    /// The whole message as received.
    pub payload: Arc<[u8]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_once_in_counter_order_with_distinct_names() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason}");
        }
        let mut names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
        assert_eq!(Reason::Duplicate.to_string(), "duplicate");
        assert_eq!((Reason::ALL.len(), Reason::IdentityMismatch.as_str()), (11, "identity_mismatch"));
        assert_eq!(Reason::IdentityMismatch.index(), 10, "appended: existing indices unchanged");
    }
}
