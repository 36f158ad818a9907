//! [`decode`]: a SenML JSON pack in, resolved records out (RFC 8428 §4.6).

use std::borrow::Cow;

use wardstream_pipeline::Micros;
use wardstream_pipeline::time::seconds_to_micros;

use super::error::{RecordError, RecordErrorKind, SUPPORTED_VERSION, SenmlError};
use super::wire::WireRecord;

/// Times below 2^28 seconds are relative to "now" (RFC 8428 §4.5.3).
pub const RELATIVE_TIME_LIMIT_SECONDS: f64 = 268_435_456.0;

/// A record with every base field applied: absolute name, value, unit, sum and time.
///
/// Strings borrow from the payload where they can (no escapes, no concatenation).
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Position of the record in the pack (0-based), counting base-only records.
    pub index: usize,
    /// Base name + name.
    pub name: Cow<'a, str>,
    /// The unit, or the base unit when the record has none.
    pub unit: Option<Cow<'a, str>>,
    /// The value (for numbers: base value + value).
    pub value: Value<'a>,
    /// Base sum + sum, when either is present.
    pub sum: Option<f64>,
    /// Base time + time in µs since the epoch, relative times resolved against "now".
    pub time: Micros,
    /// The update time (`ut`), seconds, as sent.
    pub update_time: Option<f64>,
}

/// A resolved record's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `v` (plus `bv`).
    Number(f64),
    /// `vs`.
    Text(Cow<'a, str>),
    /// `vb`.
    Bool(bool),
    /// `vd`, base64url as sent.
    Data(Cow<'a, str>),
}

/// One item of a decoded pack: a resolved record, or why that record was rejected.
pub type Item<'a> = Result<Record<'a>, RecordError>;

/// Decodes a SenML JSON pack and resolves every record (RFC 8428 §4.5, §4.6).
///
/// `now` (µs since the epoch) is the "now" relative times count from: normally when the pack
/// was received. The result has one item per record, in pack order, except that records with
/// only base fields (they set context for later records) yield nothing; an empty array yields
/// nothing. A bad record is an `Err` item and does not affect the others. The whole pack is
/// rejected ([`SenmlError`]) when it is not a JSON array of record objects, when a record
/// declares a version above 10 or carries a must-understand (`_`-suffixed) label.
///
/// Pure and panic-free on any input.
pub fn decode(payload: &[u8], now: Micros) -> Result<Vec<Item<'_>>, SenmlError> {
    let records: Vec<WireRecord<'_>> = serde_json::from_slice(payload)?;
    check_pack(&records)?;
    let mut base = Base::default();
    let mut out = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        if let Some(item) = base.resolve(index, record, now) {
            out.push(item);
        }
    }
    Ok(out)
}

/// Pack-level rules: version and must-understand labels.
fn check_pack(records: &[WireRecord<'_>]) -> Result<(), SenmlError> {
    let mut version: Option<u64> = None;
    for (index, r) in records.iter().enumerate() {
        if let Some(label) = &r.must_understand {
            return Err(SenmlError::MustUnderstand { index, label: label.clone() });
        }
        let Some(v) = r.bver else { continue };
        if v > SUPPORTED_VERSION {
            return Err(SenmlError::UnsupportedVersion { version: v });
        }
        if v == 0 {
            return Err(SenmlError::InvalidVersion(format!("record {index} has bver 0; versions are positive")));
        }
        match version {
            Some(first) if first != v => {
                return Err(SenmlError::InvalidVersion(format!(
                    "record {index} has bver {v}, an earlier record {first}"
                )));
            }
            _ => version = Some(v),
        }
    }
    Ok(())
}

/// The base fields in force (RFC 8428 §4: a base field applies to its record and all later
/// ones until a record sets it again).
#[derive(Default)]
struct Base<'a> {
    name: Option<Cow<'a, str>>,
    time: Option<f64>,
    unit: Option<Cow<'a, str>>,
    value: Option<f64>,
    sum: Option<f64>,
}

impl<'a> Base<'a> {
    fn resolve(&mut self, index: usize, r: WireRecord<'a>, now: Micros) -> Option<Item<'a>> {
        let base_only = r.is_base_only();
        if r.bn.is_some() {
            self.name = r.bn;
        }
        self.time = r.bt.or(self.time);
        if r.bu.is_some() {
            self.unit = r.bu;
        }
        self.value = r.bv.or(self.value);
        self.sum = r.bs.or(self.sum);
        if base_only {
            return None;
        }

        let name = concat(self.name.as_ref(), r.n);
        let fail = |kind, name: Cow<'a, str>| Some(Err(RecordError { index, name: Some(name.into_owned()), kind }));
        if !is_valid_name(&name) {
            let kind = RecordErrorKind::InvalidName(name.to_string());
            return fail(kind, name);
        }
        let sum = match (self.sum, r.s) {
            (None, None) => None,
            (b, s) => Some(b.unwrap_or(0.0) + s.unwrap_or(0.0)),
        };
        let value = match (r.v, r.vs, r.vb, r.vd) {
            (Some(v), None, None, None) => Value::Number(self.value.unwrap_or(0.0) + v),
            (None, Some(s), None, None) => Value::Text(s),
            (None, None, Some(b), None) => Value::Bool(b),
            (None, None, None, Some(d)) => Value::Data(d),
            (None, None, None, None) if sum.is_some() => return fail(RecordErrorKind::OnlySum, name),
            (None, None, None, None) => return fail(RecordErrorKind::MissingValue, name),
            _ => return fail(RecordErrorKind::MultipleValues, name),
        };
        let seconds = self.time.unwrap_or(0.0) + r.t.unwrap_or(0.0);
        let Some(time) = resolve_time(seconds, now) else {
            return fail(RecordErrorKind::InvalidTime { seconds }, name);
        };
        let unit = r.u.or_else(|| self.unit.clone());
        Some(Ok(Record { index, name, unit, value, sum, time, update_time: r.ut }))
    }
}

/// Base name + name, borrowing when one of them is absent or empty.
fn concat<'a>(base: Option<&Cow<'a, str>>, name: Option<Cow<'a, str>>) -> Cow<'a, str> {
    match (base, name) {
        (None, None) => Cow::Borrowed(""),
        (Some(b), None) => b.clone(),
        (None, Some(n)) => n,
        (Some(b), Some(n)) if n.is_empty() => b.clone(),
        (Some(b), Some(n)) if b.is_empty() => n,
        (Some(b), Some(n)) => Cow::Owned([b.as_ref(), n.as_ref()].concat()),
    }
}

/// Seconds (base time + time) to µs since the epoch: below 2^28 relative to `now`.
pub(super) fn resolve_time(seconds: f64, now: Micros) -> Option<Micros> {
    if seconds < RELATIVE_TIME_LIMIT_SECONDS {
        now.checked_add(seconds_to_micros(seconds)?)
    } else {
        seconds_to_micros(seconds)
    }
}

/// RFC 8428 §4.5.1: `^[a-zA-Z0-9][a-zA-Z0-9:./_-]*$`.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric()) && bytes.all(is_name_byte)
}

/// A byte allowed after the first in a SenML name: `[a-zA-Z0-9:./_-]`.
pub(super) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'/' | b'_' | b'-')
}
