//! The [`Normaliser`]: a [`RawReading`] becomes an [`Observation`] (catalogue metric, canonical
//! unit, plausibility status, source fields kept) or a [`DeadLetter`] saying why not.
//!
//! Rules, in order:
//! 1. the value must be a number (`non_numeric_value`) and finite (`non_finite_value`);
//! 2. the name must be a catalogue metric, MDC id/code or alias (`unknown_metric`);
//! 3. a unit, when sent, must be one that measures the metric's quantity (`unknown_unit`); it is
//!    converted into the metric's canonical UCUM unit ([`units::conversion_for`]). A reading
//!    without a unit is taken to be in the metric's canonical unit (the catalogue gives each
//!    metric exactly one), and keeps `source_unit` null so that this can be audited. A converted
//!    value that overflows is `non_finite_value`;
//! 4. the flags the driver set (device-reported quality, [`crate::device_quality`]) are kept, and
//!    a value outside the metric's plausible range adds `implausible`.
//!
//! Design: the hot path is [`Normaliser::normalise_batch`]. A device repeats the same few
//! (name, unit) pairs in every message, so a batch keeps a small open-addressing memo of
//! (name, unit) → (metric, conversion), on the stack, keyed by the exact bytes; a hit costs one
//! FxHash and two short comparisons instead of a catalogue lookup and a unit lookup. Nothing is
//! allocated per reading: names and units move from the reading into the observation, the
//! metric is an `Arc` clone, and only dead letters format a detail.

use std::hash::Hasher;
use std::sync::Arc;

use crate::catalogue::{Catalogue, Metric};
use crate::dead_letter::{DeadLetter, Reason};
use crate::flow::{IngestBatch, StoreBatch};
use crate::observation::{Flag, Observation};
use crate::reading::{RawReading, RawValue};
use crate::stats::PipelineStats;
use crate::units::{self, Conversion, FxHasher};

/// Turns raw readings into observations or dead letters. Cheap to clone; shares the catalogue.
#[derive(Debug, Clone)]
pub struct Normaliser {
    catalogue: Arc<Catalogue>,
}

/// What a (name, unit) pair resolves to.
#[derive(Debug, Clone, Copy)]
enum Resolved<'a> {
    Ok(&'a Arc<Metric>, Conversion),
    UnknownMetric,
    UnknownUnit(&'a Arc<Metric>),
}

impl Normaliser {
    /// A normaliser over `catalogue`.
    pub fn new(catalogue: Arc<Catalogue>) -> Normaliser {
        Normaliser { catalogue }
    }

    /// The catalogue it resolves names with.
    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// Normalises one reading.
    pub fn normalise(&self, raw: RawReading) -> Result<Observation, Box<DeadLetter>> {
        let resolved = self.resolve(&raw.name, raw.unit.as_deref());
        finish(raw, resolved)
    }

    /// Normalises a batch into `out`, counting every outcome in `stats`. Gives exactly what
    /// [`Normaliser::normalise`] gives for each reading, in order.
    pub fn normalise_batch(&self, batch: IngestBatch, out: &mut StoreBatch, stats: &PipelineStats) {
        let mut implausible = 0;
        let received = batch.readings.len() as u64;
        for dl in batch.dead_letters {
            stats.count_dead_letter(dl.reason);
            out.dead_letters.push(dl);
        }
        let before = out.observations.len();
        out.observations.reserve(batch.readings.len());
        // Below a few readings, setting up the memo costs more than it saves.
        let mut memo = (batch.readings.len() >= MEMO_MIN_BATCH).then(Memo::new);
        for raw in batch.readings {
            let (name, unit) = (raw.name.as_str(), raw.unit.as_deref());
            let resolved = match memo.as_mut() {
                Some(memo) => memo.resolve(name, unit, |n, u| self.resolve(n, u)),
                None => self.resolve(name, unit),
            };
            match finish(raw, resolved) {
                Ok(obs) => {
                    implausible += u64::from(obs.flags.contains(Flag::Implausible));
                    out.observations.push(obs);
                }
                Err(dl) => {
                    stats.count_dead_letter(dl.reason);
                    out.dead_letters.push(*dl);
                }
            }
        }
        stats.count_normalised(received, (out.observations.len() - before) as u64, implausible);
    }

    fn resolve(&self, name: &str, unit: Option<&str>) -> Resolved<'_> {
        let Some(metric) = self.catalogue.lookup(name) else {
            return Resolved::UnknownMetric;
        };
        match unit.map(|u| units::conversion_for(metric, u)) {
            None => Resolved::Ok(metric, Conversion::IDENTITY),
            Some(Some(conversion)) => Resolved::Ok(metric, conversion),
            Some(None) => Resolved::UnknownUnit(metric),
        }
    }
}

#[inline]
fn finish(raw: RawReading, resolved: Resolved<'_>) -> Result<Observation, Box<DeadLetter>> {
    let value = match raw.value {
        RawValue::Number(v) if v.is_finite() => v,
        RawValue::Number(v) => return Err(reject(raw, Reason::NonFiniteValue, format!("value {v} is not finite"))),
        RawValue::Text(_) | RawValue::Bool(_) | RawValue::Data(_) => {
            let kind = value_kind(&raw.value);
            return Err(reject(raw, Reason::NonNumericValue, format!("value is a {kind}, not a number")));
        }
    };
    let (metric, conversion) = match resolved {
        Resolved::Ok(metric, conversion) => (metric, conversion),
        Resolved::UnknownMetric => {
            let detail = format!("{:?} is not a catalogue metric or alias", raw.name);
            return Err(reject(raw, Reason::UnknownMetric, detail));
        }
        Resolved::UnknownUnit(metric) => {
            let unit = raw.unit.as_deref().unwrap_or_default();
            let why = if units::is_known(unit) { "does not measure" } else { "is not a known unit for" };
            let detail = format!("unit {unit:?} {why} {} ({})", metric.name, metric.unit);
            return Err(reject(raw, Reason::UnknownUnit, detail));
        }
    };
    let converted = conversion.apply(value);
    if !converted.is_finite() {
        let detail =
            format!("value {value:e} {} is {converted} {}", raw.unit.as_deref().unwrap_or_default(), metric.unit);
        return Err(reject(raw, Reason::NonFiniteValue, detail));
    }
    let mut flags = raw.flags;
    if !(metric.plausible_min..=metric.plausible_max).contains(&converted) {
        flags.insert(Flag::Implausible);
    }
    Ok(Observation {
        time: raw.device_time,
        device_time: raw.device_time,
        received_at: raw.received_at,
        device_id: raw.device_id,
        metric: Arc::clone(metric),
        value: converted,
        source_name: raw.name,
        source_value: value,
        source_unit: raw.unit,
        flags,
        patient_id: None,
        encounter_id: None,
        ward: None,
        bed: None,
        source: raw.source,
    })
}

/// Longest name and unit the memo holds (`MDC_PULS_OXIM_PULS_RATE`, an HL7 coded unit such as
/// `262688^MDC_DIM_PERCENT^MDC^%^%^UCUM`); longer ones are resolved every time.
const MEMO_NAME: usize = 32;
const MEMO_UNIT: usize = 40;
/// Slots of the memo: 2^5, more distinct (name, unit) pairs than a monitor sends in a message.
const MEMO_BITS: u32 = 5;
const MEMO_SLOTS: usize = 1 << MEMO_BITS;
/// Slots looked at before giving up (bounds the cost of a miss in a full memo).
const MEMO_PROBES: usize = 4;
/// Smallest batch that uses the memo.
const MEMO_MIN_BATCH: usize = 4;

/// One remembered resolution, with its key copied inline (no allocation).
#[derive(Clone, Copy)]
struct Slot<'a> {
    hash: u64,
    name: [u8; MEMO_NAME],
    unit: [u8; MEMO_UNIT],
    name_len: u8,
    /// `u8::MAX` for no unit.
    unit_len: u8,
    resolved: Resolved<'a>,
}

impl Slot<'_> {
    #[inline]
    fn is(&self, hash: u64, name: &[u8], unit: Option<&[u8]>, unit_len: u8) -> bool {
        self.hash == hash
            && self.unit_len == unit_len
            && &self.name[..usize::from(self.name_len)] == name
            && unit.is_none_or(|u| &self.unit[..u.len()] == u)
    }
}

/// A per-batch memo of (name, unit) → resolution: open addressing with up to [`MEMO_PROBES`]
/// linear probes, so a batch's few distinct pairs do not evict each other; when the probed slots
/// are all taken, the pair's home slot is overwritten.
struct Memo<'a> {
    slots: [Option<Slot<'a>>; MEMO_SLOTS],
    /// Lookups so far, and how many missed: a batch of mostly distinct names stops using the
    /// memo after [`MEMO_TRIAL`] lookups if at least half of them missed.
    lookups: u32,
    misses: u32,
}

/// Lookups after which a memo that mostly misses is given up for the rest of the batch.
const MEMO_TRIAL: u32 = 32;

impl<'a> Memo<'a> {
    fn new() -> Memo<'a> {
        Memo { slots: [None; MEMO_SLOTS], lookups: 0, misses: 0 }
    }

    #[inline]
    fn resolve(
        &mut self,
        name: &str,
        unit: Option<&str>,
        slow: impl FnOnce(&str, Option<&str>) -> Resolved<'a>,
    ) -> Resolved<'a> {
        let (n, u) = (name.as_bytes(), unit.map(str::as_bytes));
        let given_up = self.lookups >= MEMO_TRIAL && self.misses * 2 >= self.lookups;
        if given_up || n.len() > MEMO_NAME || u.is_some_and(|u| u.len() > MEMO_UNIT) {
            return slow(name, unit);
        }
        self.lookups += 1;
        let mut h = FxHasher::default();
        h.write(n);
        h.write_u8(0xff);
        h.write(u.unwrap_or(b"\xff\xfe"));
        let hash = h.finish();
        let unit_len = u.map_or(u8::MAX, |u| u.len() as u8);
        let home = (hash >> (64 - MEMO_BITS)) as usize;
        let mut free = home;
        for probe in 0..MEMO_PROBES {
            let index = (home + probe) % MEMO_SLOTS;
            match &self.slots[index] {
                Some(slot) if slot.is(hash, n, u, unit_len) => return slot.resolved,
                Some(_) => {}
                None => {
                    free = index;
                    break;
                }
            }
        }
        self.misses += 1;
        let resolved = slow(name, unit);
        let mut slot =
            Slot { hash, name: [0; MEMO_NAME], unit: [0; MEMO_UNIT], name_len: n.len() as u8, unit_len, resolved };
        slot.name[..n.len()].copy_from_slice(n);
        if let Some(u) = u {
            slot.unit[..u.len()].copy_from_slice(u);
        }
        self.slots[free] = Some(slot);
        resolved
    }
}

fn value_kind(v: &RawValue) -> &'static str {
    match v {
        RawValue::Number(_) => "number",
        RawValue::Text(_) => "string",
        RawValue::Bool(_) => "boolean",
        RawValue::Data(_) => "data value",
    }
}

fn reject(raw: RawReading, reason: Reason, detail: String) -> Box<DeadLetter> {
    Box::new(DeadLetter {
        received_at: raw.received_at,
        source: raw.source,
        origin: raw.origin,
        device_id: Some(raw.device_id),
        source_name: Some(raw.name),
        reason,
        detail,
        payload: raw.raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::Status;
    use crate::reading::Source;

    fn raw(name: &str, value: RawValue, unit: Option<&str>) -> RawReading {
        RawReading {
            device_id: Arc::from("dev-1"),
            name: name.into(),
            value,
            unit: unit.map(Into::into),
            device_time: 1_000_000,
            received_at: 2_000_000,
            source: Source::Mqtt,
            origin: Arc::from("ward/dev-1"),
            raw: Arc::from(&b"payload"[..]),
            flags: crate::Flags::NONE,
        }
    }

    fn normaliser() -> Normaliser {
        Normaliser::new(Arc::new(Catalogue::builtin()))
    }

    #[test]
    fn a_known_alias_and_unit_become_the_catalogue_metric_in_its_canonical_unit() {
        let obs = normaliser().normalise(raw("NBPSys", RawValue::Number(16.0), Some("kPa"))).unwrap();
        assert_eq!(obs.metric.name, "nibp_sys");
        assert_eq!(obs.value, 120.009_852_135_305_01);
        assert_eq!(
            (obs.source_name.as_str(), obs.source_value, obs.source_unit.as_deref()),
            ("NBPSys", 16.0, Some("kPa"))
        );
        assert_eq!((obs.time, obs.device_time, obs.received_at), (1_000_000, 1_000_000, 2_000_000));
        assert_eq!(obs.status(), Status::Valid);
    }

    #[test]
    fn a_missing_unit_is_the_canonical_unit_and_stays_null_at_the_source() {
        let obs = normaliser().normalise(raw("SpO2", RawValue::Number(97.0), None)).unwrap();
        assert_eq!((obs.value, obs.source_unit), (97.0, None));
    }

    #[test]
    fn an_out_of_range_value_is_kept_and_flagged_implausible() {
        let obs = normaliser().normalise(raw("HR", RawValue::Number(400.0), Some("/min"))).unwrap();
        assert_eq!((obs.value, obs.status()), (400.0, Status::Implausible));
    }

    #[test]
    fn rejections_carry_their_reason_and_the_raw_payload() {
        let n = normaliser();
        let cases = [
            (raw("voltage", RawValue::Number(1.0), Some("V")), Reason::UnknownMetric),
            (raw("HR", RawValue::Number(1.0), Some("furlong")), Reason::UnknownUnit),
            (raw("HR", RawValue::Number(1.0), Some("kPa")), Reason::UnknownUnit),
            (raw("HR", RawValue::Text("high".into()), None), Reason::NonNumericValue),
            (raw("HR", RawValue::Bool(true), None), Reason::NonNumericValue),
            (raw("HR", RawValue::Number(f64::NAN), None), Reason::NonFiniteValue),
            (raw("HR", RawValue::Number(f64::INFINITY), None), Reason::NonFiniteValue),
        ];
        for (reading, reason) in cases {
            let dl = n.normalise(reading).unwrap_err();
            assert_eq!(dl.reason, reason, "{}", dl.detail);
            assert_eq!(&*dl.payload, b"payload");
            assert_eq!(dl.device_id.as_deref(), Some("dev-1"));
        }
    }

    #[test]
    fn device_flags_are_kept_and_coded_and_empty_units_resolve() {
        let mut r = raw("NBPSys", RawValue::Number(140.0), Some("266016^MDC_DIM_MMHG^MDC"));
        r.flags = crate::Flags::of(Flag::Corrected);
        let obs = normaliser().normalise(r).unwrap();
        assert_eq!((obs.value, obs.status()), (140.0, Status::Corrected));
        let mut r = raw("SpO2", RawValue::Number(0.5), Some("1"));
        r.flags = crate::Flags::of(Flag::Questionable);
        let obs = normaliser().normalise(r).unwrap();
        assert_eq!((obs.value, obs.status(), obs.source_value), (50.0, Status::Questionable, 0.5));
        let obs = normaliser().normalise(raw("TEMP", RawValue::Number(37.5), Some(""))).unwrap();
        assert_eq!((obs.value, obs.source_unit.as_deref()), (37.5, Some("")));
    }

    #[test]
    fn a_conversion_that_overflows_is_a_non_finite_dead_letter() {
        let dl = normaliser().normalise(raw("NBPSys", RawValue::Number(1e308), Some("kPa"))).unwrap_err();
        assert_eq!((dl.reason, dl.detail.as_str()), (Reason::NonFiniteValue, "value 1e308 kPa is inf mm[Hg]"));
    }

    #[test]
    fn a_batch_counts_every_outcome() {
        let stats = PipelineStats::default();
        let mut out = StoreBatch::default();
        let batch = IngestBatch {
            readings: vec![
                raw("HR", RawValue::Number(70.0), None),
                raw("HR", RawValue::Number(999.0), None),
                raw("nope", RawValue::Number(1.0), None),
            ],
            dead_letters: vec![],
        };
        normaliser().normalise_batch(batch, &mut out, &stats);
        assert_eq!((out.observations.len(), out.dead_letters.len()), (2, 1));
        let snap = stats.snapshot();
        assert_eq!((snap.readings_received, snap.observations, snap.implausible), (3, 2, 1));
        assert_eq!(snap.dead_letters_by_reason(Reason::UnknownMetric), 1);
        assert_eq!(snap.dead_letters, 1);
    }
}
