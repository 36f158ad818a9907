//! HL7 v2 timestamps (`DTM`, the first component of `TS`):
//! `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.
//!
//! Omitted parts take their lowest value (a timestamp names the start of the period it gives,
//! `202603` is 2026-03-01T00:00). A fraction is allowed only after the seconds, one to four
//! digits (`.1234` is 123,400 µs). With a UTC offset (`-0500` for EST) the instant is exact; without
//! one it is the wall-clock time of the device's configured zone, converted by its
//! [`LocalClock`]. Anything else is an error (`invalid_time` dead letter), never a guess: other
//! digit counts, a month 13, 30 February, an hour 24, a leap second `60`, spaces.
//!
//! ```
//! use wardstream_pipeline::time::{Hl7Timestamp, LocalClock};
//!
//! let mut clock = LocalClock::new("America/New_York").unwrap();
//! let exact = Hl7Timestamp::parse("20261101013000-0400").unwrap().to_utc(&mut clock);
//! let local = Hl7Timestamp::parse("20261101013000").unwrap().to_utc(&mut clock);
//! assert_eq!(exact, local); // first pass through the repeated hour: EDT
//! ```

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::local::LocalClock;
use super::{MICROS_PER_SECOND, Micros, TimeError};

/// A parsed HL7 v2 timestamp: the date-time as written and its UTC offset, if it had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hl7Timestamp {
    /// The date-time as written, omitted parts at their lowest value.
    pub local: NaiveDateTime,
    /// The `+/-ZZZZ` offset from UTC in seconds (`-0500` is −18,000), when present.
    pub utc_offset_secs: Option<i32>,
}

impl Hl7Timestamp {
    /// Parses `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]` exactly (no spaces, no other
    /// digit counts).
    pub fn parse(text: &str) -> Result<Hl7Timestamp, TimeError> {
        let bad = |why| TimeError::InvalidHl7 { text: text.to_owned(), why };
        let (body, offset) = match text.find(['+', '-']) {
            Some(i) => (&text[..i], Some(parse_offset(&text[i..]).ok_or_else(|| bad("bad UTC offset"))?)),
            None => (text, None),
        };
        let (digits, fraction) = match body.split_once('.') {
            Some((d, f)) => (d, Some(f)),
            None => (body, None),
        };
        if !matches!(digits.len(), 4 | 6 | 8 | 10 | 12 | 14) || !is_digits(digits) {
            return Err(bad("expected 4, 6, 8, 10, 12 or 14 digits"));
        }
        let micros = match fraction {
            None => 0,
            Some(f) if digits.len() == 14 && (1..=4).contains(&f.len()) && is_digits(f) => {
                number(f) * 10u32.pow(6 - f.len() as u32)
            }
            Some(_) => return Err(bad("a fraction takes 1 to 4 digits after the seconds")),
        };
        let part = |at: usize, default: u32| if digits.len() > at { number(&digits[at..at + 2]) } else { default };
        let date = NaiveDate::from_ymd_opt(number(&digits[..4]) as i32, part(4, 1), part(6, 1))
            .ok_or_else(|| bad("no such date"))?;
        let time = NaiveTime::from_hms_micro_opt(part(8, 0), part(10, 0), part(12, 0), micros)
            .ok_or_else(|| bad("no such time"))?;
        Ok(Hl7Timestamp { local: NaiveDateTime::new(date, time), utc_offset_secs: offset })
    }

    /// The UTC instant when the timestamp carried an offset.
    pub fn exact_utc(&self) -> Option<Micros> {
        let offset = i64::from(self.utc_offset_secs?) * MICROS_PER_SECOND;
        Some(self.local.and_utc().timestamp_micros() - offset)
    }

    /// The UTC instant: exact with an offset, otherwise the device's local time converted by
    /// its `clock` (which then remembers it, see [`LocalClock::to_utc`]).
    pub fn to_utc(&self, clock: &mut LocalClock) -> Micros {
        match self.exact_utc() {
            Some(utc) => utc,
            None => clock.to_utc(self.local),
        }
    }
}

/// `+HHMM` or `-HHMM`, hours below 24 and minutes below 60, as seconds.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, digits) = s.split_at_checked(1)?;
    if digits.len() != 4 || !is_digits(digits) {
        return None;
    }
    let (hours, minutes) = (number(&digits[..2]), number(&digits[2..]));
    if hours > 23 || minutes > 59 {
        return None;
    }
    let seconds = (hours * 3600 + minutes * 60) as i32;
    Some(if sign == "-" { -seconds } else { seconds })
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// The value of a short run of ASCII digits (checked by the caller).
fn number(s: &str) -> u32 {
    s.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Micros {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap().and_utc().timestamp_micros()
    }

    fn exact(text: &str) -> Micros {
        Hl7Timestamp::parse(text).unwrap().exact_utc().unwrap()
    }

    #[test]
    fn every_precision_parses_with_omitted_parts_at_their_start() {
        let mut clock = LocalClock::utc();
        let cases = [
            ("2026", "2026-01-01 00:00:00"),
            ("202603", "2026-03-01 00:00:00"),
            ("20260329", "2026-03-29 00:00:00"),
            ("2026032901", "2026-03-29 01:00:00"),
            ("202603290130", "2026-03-29 01:30:00"),
            ("20260329013015", "2026-03-29 01:30:15"),
            ("20260329013015.1", "2026-03-29 01:30:15.1"),
            ("20260329013015.12", "2026-03-29 01:30:15.12"),
            ("20260329013015.123", "2026-03-29 01:30:15.123"),
            ("20260329013015.1234", "2026-03-29 01:30:15.1234"),
        ];
        for (text, expected) in cases {
            let ts = Hl7Timestamp::parse(text).unwrap();
            assert_eq!((ts.utc_offset_secs, ts.to_utc(&mut clock)), (None, utc(expected)), "{text}");
        }
    }

    #[test]
    fn an_offset_gives_the_exact_instant() {
        assert_eq!(exact("20260308013000-0500"), utc("2026-03-08 06:30:00"));
        assert_eq!(exact("20261025013000+0100"), utc("2026-10-25 00:30:00"));
        assert_eq!(exact("20261025013000+0000"), utc("2026-10-25 01:30:00"));
        assert_eq!(exact("20260101000000.5+0530"), utc("2025-12-31 18:30:00.5"));
        assert_eq!(exact("2026-0930"), utc("2026-01-01 09:30:00"));
        let ts = Hl7Timestamp::parse("202610250130+0100").unwrap();
        // With an offset the zone is not consulted.
        assert_eq!(ts.to_utc(&mut LocalClock::new("America/New_York").unwrap()), utc("2026-10-25 00:30:00"));
    }

    #[test]
    fn without_an_offset_the_device_zone_decides_and_dst_keeps_the_order() {
        let mut clock = LocalClock::new("Europe/London").unwrap();
        let times: Vec<Micros> = ["20261025013000", "20261025015900", "20261025010000", "20261025013000"]
            .iter()
            .map(|t| Hl7Timestamp::parse(t).unwrap().to_utc(&mut clock))
            .collect();
        let expected = ["2026-10-25 00:30:00", "2026-10-25 00:59:00", "2026-10-25 01:00:00", "2026-10-25 01:30:00"];
        assert_eq!(times, expected.map(utc));
    }

    #[test]
    fn malformed_or_impossible_timestamps_are_errors() {
        for text in [
            "",
            "202",
            "20260",
            "2026032",
            "20260329013",
            "202603290130150",
            "2026x329",
            " 2026",
            "2026 ",
            "20261301",
            "20260230",
            "2026032924",
            "202603290160",
            "20260329013060",
            "20260329013015.",
            "20260329013015.12345",
            "202603290130.5",
            "20260329013015.1a",
            "20260329+01",
            "20260329+2400",
            "20260329+0160",
            "20260329+01000",
            "20260329-",
            "-2026",
            "2026+0100+0100",
        ] {
            let err = Hl7Timestamp::parse(text).unwrap_err();
            assert!(matches!(err, TimeError::InvalidHl7 { .. }), "{text:?}: {err}");
        }
    }
}
