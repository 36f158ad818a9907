//! Time as wardstream stores it: microseconds since the Unix epoch, UTC, in an `i64`
//! ([`Micros`]), and an injectable [`Clock`] so that tests control "now".
//!
//! Every stored time is UTC. Devices that speak other clocks are converted on the way in:
//! - [`hl7`]: HL7 v2 `DTM` timestamps (`YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`), exact when they
//!   carry a UTC offset, otherwise read in the device's configured zone;
//! - [`local`]: [`LocalClock`], one per device reporting naive local time in an IANA zone
//!   (`Europe/London`), which turns it into UTC without reordering or dropping readings across
//!   daylight-saving changes.

use std::time::{SystemTime, UNIX_EPOCH};

pub mod hl7;
pub mod local;

pub use chrono::NaiveDateTime;
pub use hl7::Hl7Timestamp;
pub use local::LocalClock;

/// Why a time could not be read or converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The zone name is not an IANA time zone known to wardstream's built-in database.
    #[error("unknown time zone {0:?} (expected an IANA name such as \"Europe/London\")")]
    UnknownZone(String),
    /// An HL7 v2 timestamp that does not follow `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`
    /// or names a date or time that does not exist.
    #[error("invalid HL7 timestamp {text:?}: {why}")]
    InvalidHl7 {
        /// The text as received.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Microseconds since 1970-01-01T00:00:00Z. The unit of every time column.
pub type Micros = i64;

/// Microseconds in one second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// A source of the current time. Drivers stamp `received_at` with it; tests inject a fixed one.
pub trait Clock: Send + Sync + 'static {
    /// The current time in microseconds since the Unix epoch (UTC).
    fn now_micros(&self) -> Micros;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> Micros {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            // A wall clock before 1970 is a broken host; negative micros keep ordering intact.
            Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
        }
    }
}

/// Seconds (as SenML and most devices send them, fractional) to microseconds, rounded to the
/// nearest microsecond. `None` when the value is not finite or does not fit.
pub fn seconds_to_micros(seconds: f64) -> Option<Micros> {
    if !seconds.is_finite() {
        return None;
    }
    let micros = (seconds * MICROS_PER_SECOND as f64).round();
    // i64 range in µs is ±292,000 years; anything outside is not a time.
    if micros.abs() >= 9.0e18 {
        return None;
    }
    Some(micros as i64)
}

/// RFC 3339 in UTC with microseconds (`2026-03-29T01:30:00.000000Z`), for details and logs.
/// A time outside chrono's range is written as its microsecond count.
pub fn format_rfc3339(micros: Micros) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => format!("{micros} µs since the epoch"),
    }
}

/// Days since the Unix epoch of a time, for UTC date partitions (`date=YYYY-MM-DD`).
pub fn utc_day(micros: Micros) -> i64 {
    micros.div_euclid(86_400 * MICROS_PER_SECOND)
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), proleptic Gregorian calendar.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since the epoch to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_format_as_utc_calendar_dates() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(utc_day(1_276_020_076_001_000)), "2010-06-08");
        assert_eq!(format_day(utc_day(951_782_400 * MICROS_PER_SECOND)), "2000-02-29");
        assert_eq!(format_day(utc_day(-1)), "1969-12-31");
    }

    #[test]
    fn seconds_convert_to_rounded_micros() {
        assert_eq!(seconds_to_micros(1.276020076001e9), Some(1_276_020_076_001_000));
        assert_eq!(seconds_to_micros(-5.0), Some(-5_000_000));
        assert_eq!(seconds_to_micros(f64::NAN), None);
        assert_eq!(seconds_to_micros(1e300), None);
    }

    #[test]
    fn rfc3339_is_utc_with_microseconds() {
        assert_eq!(format_rfc3339(1_276_020_076_001_000), "2010-06-08T18:01:16.001000Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(format_rfc3339(i64::MAX), "9223372036854775807 µs since the epoch");
    }
}
