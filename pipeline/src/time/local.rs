//! [`LocalClock`]: naive local date-times from a device that reports the wall-clock time of an
//! IANA zone (`Europe/London`, `America/New_York`), turned into UTC microseconds.
//!
//! A local time maps to exactly one UTC instant except around daylight-saving changes:
//! - **fall back** (the wall clock repeats an hour): a local time in that hour has two UTC
//!   candidates. The clock picks the one that keeps the device's sequence monotonic: the
//!   earliest candidate not before the latest UTC time it has produced for this device. So a
//!   device's first pass through the hour maps to the earlier candidate, and once its local
//!   clock has gone back the repeated hour maps to the later one. Several readings at the same
//!   local time map to the same instant. When neither candidate is at or after that latest
//!   time (a late, out-of-order reading), the later candidate, the one nearer the sequence, is
//!   taken. A device's very first reading, with no sequence yet, takes the earlier candidate.
//! - **spring forward** (the wall clock skips an hour): a local time in the gap does not exist.
//!   It is read with the offset in force before the change, which is shifting it forward by the
//!   gap (`01:30` in London on 2026-03-29 becomes `01:30Z`, i.e. `02:30` BST). A device that
//!   follows the change never sends such a time; one that does not keeps its minute spacing.
//!
//! Neither case ever drops a reading: every local time converts.
//!
//! ```
//! use wardstream_pipeline::time::{LocalClock, NaiveDateTime};
//!
//! let mut clock = LocalClock::new("Europe/London").unwrap();
//! let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
//! let first = clock.to_utc(at("2026-10-25 01:30")); // BST, first pass
//! let again = clock.to_utc(at("2026-10-25 01:10")); // the clock went back: GMT
//! assert_eq!(again - first, 40 * 60 * 1_000_000);
//! ```

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::{MICROS_PER_SECOND, Micros, TimeError};

/// Converts one device's naive local times into UTC, keeping its sequence monotonic across
/// daylight-saving changes. Keep one per device: its state is that device's latest time.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalClock {
    zone: Tz,
    /// The latest UTC time this clock has produced: the reference for ambiguous local times.
    latest: Option<Micros>,
}

impl LocalClock {
    /// A clock for the IANA zone `name` (`Europe/London`), from the built-in zone database.
    pub fn new(name: &str) -> Result<LocalClock, TimeError> {
        let zone: Tz = name.parse().map_err(|_| TimeError::UnknownZone(name.to_owned()))?;
        Ok(LocalClock { zone, latest: None })
    }

    /// A clock whose local time is UTC (for devices whose zone is not configured).
    pub fn utc() -> LocalClock {
        LocalClock { zone: Tz::UTC, latest: None }
    }

    /// The zone's IANA name.
    pub fn zone(&self) -> &'static str {
        self.zone.name()
    }

    /// The latest UTC time produced so far, if any.
    pub fn latest(&self) -> Option<Micros> {
        self.latest
    }

    /// Converts a local date-time of this device into UTC microseconds (see the module docs for
    /// repeated and skipped local times) and remembers it as the device's latest time.
    pub fn to_utc(&mut self, local: NaiveDateTime) -> Micros {
        let utc = match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.timestamp_micros(),
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.timestamp_micros(), b.timestamp_micros());
                let (earlier, later) = (a.min(b), a.max(b));
                match self.latest {
                    Some(latest) if earlier < latest => later,
                    _ => earlier,
                }
            }
            LocalResult::None => self.across_gap(local),
        };
        self.latest = Some(self.latest.map_or(utc, |l| l.max(utc)));
        utc
    }

    /// A local time in a spring-forward gap, read with the offset in force before the gap.
    ///
    /// Design: the gap's two offsets are found without searching the transition table. Reading
    /// the local time as if it were UTC gives an instant within a day of the gap, whose offset
    /// `x` is one of the two; the instant `local − x` then lies on the other side unless `x`
    /// already is the earlier offset. Clocks go forward in a gap, so the offset before it is the
    /// smaller of the two.
    fn across_gap(&self, local: NaiveDateTime) -> Micros {
        let naive = local.and_utc().timestamp_micros();
        let first = self.offset_micros_at(naive).unwrap_or(0);
        let second = self.offset_micros_at(naive.saturating_sub(first)).unwrap_or(first);
        naive.saturating_sub(first.min(second))
    }

    /// The zone's UTC offset (µs) at a UTC instant, `None` outside chrono's range.
    fn offset_micros_at(&self, utc: Micros) -> Option<Micros> {
        let at = DateTime::from_timestamp_micros(utc)?.naive_utc();
        let seconds = self.zone.offset_from_utc_datetime(&at).fix().local_minus_utc();
        Some(i64::from(seconds) * MICROS_PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60 * MICROS_PER_SECOND;
    const HOUR: i64 = 60 * MINUTE;

    fn utc(s: &str) -> Micros {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap().and_utc().timestamp_micros()
    }

    fn naive(micros: Micros) -> NaiveDateTime {
        DateTime::from_timestamp_micros(micros).unwrap().naive_utc()
    }

    /// A device sending one reading a minute, from three hours before a transition at
    /// `change` (UTC) to three hours after, its wall clock `before` then `after` ahead of UTC.
    /// Local times are built by plain arithmetic, not by the zone database under test.
    fn device_across(zone: &str, change: Micros, before: i64, after: i64) {
        let mut clock = LocalClock::new(zone).unwrap();
        let start = change - 3 * HOUR;
        let expected: Vec<Micros> = (0..=360).map(|i| start + i * MINUTE).collect();
        let got: Vec<Micros> =
            expected.iter().map(|&t| clock.to_utc(naive(t + if t < change { before } else { after }))).collect();
        assert_eq!(got.len(), 361, "{zone}: no reading lost");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{zone}: UTC strictly increasing");
        assert_eq!(got, expected, "{zone}: exact UTC times");
    }

    #[test]
    fn london_spring_forward_2026_keeps_every_minute_in_order() {
        device_across("Europe/London", utc("2026-03-29 01:00"), 0, HOUR);
    }

    #[test]
    fn london_fall_back_2026_maps_the_repeated_hour_once_each_way() {
        device_across("Europe/London", utc("2026-10-25 01:00"), HOUR, 0);
    }

    #[test]
    fn new_york_spring_forward_2026_keeps_every_minute_in_order() {
        device_across("America/New_York", utc("2026-03-08 07:00"), -5 * HOUR, -4 * HOUR);
    }

    #[test]
    fn new_york_fall_back_2026_maps_the_repeated_hour_once_each_way() {
        device_across("America/New_York", utc("2026-11-01 06:00"), -4 * HOUR, -5 * HOUR);
    }

    #[test]
    fn the_repeated_hour_takes_the_earlier_instant_until_the_clock_goes_back() {
        let mut clock = LocalClock::new("Europe/London").unwrap();
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(clock.to_utc(at("2026-10-25 00:59")), utc("2026-10-24 23:59"));
        assert_eq!(clock.to_utc(at("2026-10-25 01:30")), utc("2026-10-25 00:30"));
        // Several metrics of one moment: the same instant.
        assert_eq!(clock.to_utc(at("2026-10-25 01:30")), utc("2026-10-25 00:30"));
        assert_eq!(clock.to_utc(at("2026-10-25 01:59")), utc("2026-10-25 00:59"));
        // The wall clock went back an hour: from now on the later instant.
        assert_eq!(clock.to_utc(at("2026-10-25 01:00")), utc("2026-10-25 01:00"));
        assert_eq!(clock.to_utc(at("2026-10-25 01:30")), utc("2026-10-25 01:30"));
        // A late reading from the first pass lands on the later instant, nearest the sequence.
        assert_eq!(clock.to_utc(at("2026-10-25 01:10")), utc("2026-10-25 01:10"));
        assert_eq!(clock.to_utc(at("2026-10-25 02:00")), utc("2026-10-25 02:00"));
        assert_eq!(clock.latest(), Some(utc("2026-10-25 02:00")));
    }

    #[test]
    fn a_time_in_the_spring_gap_is_shifted_forward_by_the_gap() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let mut london = LocalClock::new("Europe/London").unwrap();
        assert_eq!(london.to_utc(at("2026-03-29 01:00")), utc("2026-03-29 01:00"));
        assert_eq!(london.to_utc(at("2026-03-29 01:30")), utc("2026-03-29 01:30"));
        let mut new_york = LocalClock::new("America/New_York").unwrap();
        assert_eq!(new_york.to_utc(at("2026-03-08 02:30")), utc("2026-03-08 07:30"));
        assert_eq!(new_york.to_utc(at("2026-03-08 03:00")), utc("2026-03-08 07:00"));
    }

    #[test]
    fn zones_are_iana_names_and_utc_is_the_identity() {
        assert_eq!(LocalClock::new("Europe/Londn"), Err(TimeError::UnknownZone("Europe/Londn".into())));
        assert_eq!(LocalClock::new("America/New_York").unwrap().zone(), "America/New_York");
        let mut clock = LocalClock::utc();
        assert_eq!(clock.to_utc(naive(1_234_567_890_123_456)), 1_234_567_890_123_456);
    }
}
