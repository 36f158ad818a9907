//! Parsing of the FHIR search parameters of `GET /fhir/r4/Observation`.
//!
//! Supported: `patient` (`P1` or `Patient/P1`; `subject` is a synonym), `code` (comma-separated
//! tokens `system|code`, `|code` or `code`), `date` (repeatable, prefixes `eq` (default), `ge`,
//! `gt`, `le`, `lt`; values `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or an RFC 3339 date-time; a partial
//! date means its whole period), `_count` (default 50, at most 1000), `_offset` (paging).
//! Other parameters are ignored, as FHIR's lenient handling prescribes, and left out of the
//! `self` link. A malformed value is an error (the caller answers 400 with an OperationOutcome).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use wardstream_pipeline::Micros;

use super::fhir::{LOINC_SYSTEM, MDC_SYSTEM};
use crate::timeline::TimelineReading;

/// Default and maximum page sizes.
pub const DEFAULT_COUNT: usize = 50;
/// The largest `_count` served.
pub const MAX_COUNT: usize = 1000;

/// One `code` token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeToken {
    /// The system, when given (`None` matches any system).
    pub system: Option<String>,
    /// The code.
    pub code: String,
}

impl CodeToken {
    /// True when the reading has this code.
    pub fn matches(&self, reading: &TimelineReading) -> bool {
        let loinc = reading.loinc.as_deref() == Some(self.code.as_str());
        let mdc = reading.mdc_code.to_string() == self.code;
        match self.system.as_deref() {
            None => loinc || mdc,
            Some(LOINC_SYSTEM) => loinc,
            Some(MDC_SYSTEM) => mdc,
            Some(_) => false,
        }
    }
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationSearch {
    /// The patient id.
    pub patient: String,
    /// Any of these codes (empty: every code).
    pub codes: Vec<CodeToken>,
    /// From (µs, inclusive).
    pub from: Micros,
    /// Until (µs, exclusive).
    pub to: Micros,
    /// Page size.
    pub count: usize,
    /// Page start.
    pub offset: usize,
    /// The recognised parameters, for paging links.
    pub canonical: Vec<(String, String)>,
}

/// Parses the query string's pairs.
pub fn parse(pairs: &[(String, String)]) -> Result<ObservationSearch, String> {
    let mut search = ObservationSearch {
        patient: String::new(),
        codes: Vec::new(),
        from: Micros::MIN,
        to: Micros::MAX,
        count: DEFAULT_COUNT,
        offset: 0,
        canonical: Vec::new(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "patient" | "subject" => {
                let id = value.strip_prefix("Patient/").unwrap_or(value);
                if id.is_empty() {
                    return Err(format!("{key}: empty patient reference"));
                }
                search.patient = id.to_owned();
            }
            "code" => search.codes.extend(value.split(',').map(code_token).collect::<Result<Vec<_>, _>>()?),
            "date" => {
                let (from, to) = date_bounds(value)?;
                search.from = search.from.max(from);
                search.to = search.to.min(to);
            }
            "_count" => {
                let n: usize = value.parse().map_err(|_| format!("_count: '{value}' is not a number"))?;
                search.count = n.min(MAX_COUNT);
            }
            "_offset" => {
                search.offset = value.parse().map_err(|_| format!("_offset: '{value}' is not a number"))?;
            }
            _ => continue,
        }
        if key != "_offset" {
            search.canonical.push((key.clone(), value.clone()));
        }
    }
    if search.patient.is_empty() {
        return Err("the patient parameter is required (searches are per patient)".into());
    }
    Ok(search)
}

fn code_token(text: &str) -> Result<CodeToken, String> {
    let (system, code) = match text.split_once('|') {
        Some(("", code)) => (None, code),
        Some((system, code)) => (Some(system.to_owned()), code),
        None => (None, text),
    };
    if code.is_empty() {
        return Err(format!("code: '{text}' has no code"));
    }
    Ok(CodeToken { system, code: code.to_owned() })
}

/// The `[from, to)` a `date` parameter allows.
fn date_bounds(value: &str) -> Result<(Micros, Micros), String> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
        Some("ne" | "sa" | "eb" | "ap") => return Err(format!("date: prefix '{}' is not supported", &value[..2])),
        _ => ("eq", value),
    };
    let (lo, hi) = period(rest).ok_or_else(|| format!("date: '{rest}' is not a FHIR date or dateTime"))?;
    Ok(match prefix {
        "ge" => (lo, Micros::MAX),
        "gt" => (hi, Micros::MAX),
        "le" => (Micros::MIN, hi),
        "lt" => (Micros::MIN, lo),
        _ => (lo, hi),
    })
}

/// The period a FHIR date/dateTime denotes: `[start, end)` in µs.
fn period(text: &str) -> Option<(Micros, Micros)> {
    let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d);
    let micros = |date: NaiveDate| -> Option<Micros> {
        Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?).timestamp_micros())
    };
    let parts: Vec<&str> = text.split('-').collect();
    match (text.len(), parts.as_slice()) {
        (4, [y]) => {
            let y: i32 = y.parse().ok()?;
            Some((micros(day(y, 1, 1)?)?, micros(day(y + 1, 1, 1)?)?))
        }
        (7, [y, m]) => {
            let start = day(y.parse().ok()?, m.parse().ok()?, 1)?;
            let next = if start.month() == 12 {
                day(start.year() + 1, 1, 1)?
            } else {
                day(start.year(), start.month() + 1, 1)?
            };
            Some((micros(start)?, micros(next)?))
        }
        (10, [y, m, d]) => {
            let start = day(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
            Some((micros(start)?, micros(start.succ_opt()?)?))
        }
        _ => {
            let t = DateTime::parse_from_rfc3339(text).ok()?.timestamp_micros();
            // A dateTime to the second covers that second.
            Some((t, t + 1_000_000))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn dates_prefixes_codes_and_paging() {
        let s = parse(&pairs(&[
            ("patient", "Patient/P1"),
            ("code", "http://loinc.org|8867-4,|150456"),
            ("date", "ge2026-11-22"),
            ("date", "lt2026-11-22T10:00:00Z"),
            ("_count", "5000"),
            ("_offset", "100"),
            ("_elements", "x"),
        ]))
        .unwrap();
        assert_eq!(s.patient, "P1");
        assert_eq!(s.codes[0], CodeToken { system: Some(LOINC_SYSTEM.into()), code: "8867-4".into() });
        assert_eq!(s.codes[1], CodeToken { system: None, code: "150456".into() });
        assert_eq!(s.from, 1_795_305_600_000_000);
        assert_eq!(s.to, 1_795_341_600_000_000);
        assert_eq!((s.count, s.offset), (MAX_COUNT, 100));
        assert_eq!(s.canonical.len(), 5);
        let month = parse(&pairs(&[("patient", "P"), ("date", "2024-12")])).unwrap();
        assert_eq!(month.to - month.from, 31 * 86_400_000_000);
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse(&pairs(&[("date", "ge2026")])).unwrap_err().contains("patient"));
        assert!(parse(&pairs(&[("patient", "P"), ("date", "ge22-11")])).is_err());
        assert!(parse(&pairs(&[("patient", "P"), ("date", "ap2026")])).unwrap_err().contains("not supported"));
        assert!(parse(&pairs(&[("patient", "P"), ("_count", "x")])).is_err());
        assert!(parse(&pairs(&[("patient", "P"), ("code", "http://loinc.org|")])).is_err());
    }
}
