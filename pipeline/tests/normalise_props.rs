//! Properties of units and normalisation, on random input:
//! - every conversion of the unit table round-trips through its inverse (written here);
//! - normalising an observation again (its metric name, canonical unit and value) changes nothing;
//! - the batch fast path (per-batch memo) agrees exactly with a plain reference implementation
//!   written here (linear scan of the unit table, no memo), dead letters and counters included.

use std::sync::Arc;

use proptest::prelude::*;
use wardstream_pipeline::units::{self, Applies, Conversion, FRACTION_METRICS, UNITS, WATER_COLUMN_METRICS};
use wardstream_pipeline::{
    Catalogue, Flag, Flags, IngestBatch, Metric, Normaliser, PipelineStats, RawReading, RawValue, Reason, Source,
    StoreBatch,
};

const ALIASES: &str = include_str!("../data/metric-aliases.csv");

fn catalogue() -> Arc<Catalogue> {
    Arc::new(Catalogue::builtin())
}

/// A metric with `canonical` as its unit that `applies` accepts.
fn metric_for(canonical: &str, applies: Applies) -> Metric {
    let c = Catalogue::builtin();
    let mut m =
        c.by_name("heart_rate").map(|m| (**m).clone()).unwrap_or_else(|| panic!("heart_rate is a catalogue metric"));
    m.unit = canonical.into();
    m.name = match applies {
        Applies::Always => "any".into(),
        Applies::Fractions => FRACTION_METRICS[0].into(),
        Applies::WaterColumn => WATER_COLUMN_METRICS[0].into(),
    };
    m
}

/// The inverse of a conversion: `value = canonical × div ÷ mul − offset`.
fn invert(c: Conversion, canonical: f64) -> f64 {
    canonical * c.div / c.mul - c.offset
}

fn raw(name: String, value: RawValue, unit: Option<String>, flags: Flags) -> RawReading {
    RawReading {
        device_id: Arc::from("dev"),
        name,
        value,
        unit,
        device_time: 1_700_000_000_000_000,
        received_at: 1_700_000_000_100_000,
        source: Source::Mqtt,
        origin: Arc::from("ward/dev"),
        raw: Arc::from(&b"payload"[..]),
        flags,
    }
}

/// Every name a device might send: catalogue names, MDC ids and codes, aliases, in other cases,
/// padded, too long for the memo, and junk.
fn names() -> Vec<String> {
    let c = Catalogue::builtin();
    let mut names: Vec<String> = c.metrics().iter().flat_map(|m| [m.name.clone(), m.mdc_ref_id.clone()]).collect();
    names.extend(c.metrics().iter().map(|m| m.mdc_code.to_string()));
    names.extend(ALIASES.lines().skip(1).filter_map(|l| l.split(',').next()).map(str::to_string));
    names.extend(
        ["hr", " SpO2 ", "MDC_PULS_OXIM_SAT_O2_AND_SOMETHING_LONGER", "voltage", "", "HR\u{e9}"].map(String::from),
    );
    names
}

/// Every unit a device might send: the table, coded forms, none, empty, too long, junk.
fn unit_choices() -> Vec<Option<String>> {
    let mut units: Vec<Option<String>> = UNITS.iter().map(|u| Some(u.alias.to_string())).collect();
    let more = [
        "266016^MDC_DIM_MMHG^MDC",
        "266016^MDC_DIM_MMHG^MDC^mm[Hg]^mm[Hg]^UCUM",
        "/min^/min^UCUM",
        "262688^MDC_DIM_PERCENT^MDC^%^%^UCUM",
        "mmHg^Unit",
    ];
    units.extend(more.iter().map(|u| Some(u.to_string())));
    units.extend(
        ["", " kPa", "PA", "furlong", "cm[H2O]^cm[H2O]^UCUM^^^", "mm[Hg]{a very long annotation}"]
            .map(|u| Some(u.into())),
    );
    units.push(None);
    units
}

fn value() -> impl Strategy<Value = RawValue> {
    prop_oneof![
        6 => (-500.0..500.0f64).prop_map(RawValue::Number),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e308, -1e308, -0.0, 5e-324])
            .prop_map(RawValue::Number),
        1 => any::<f64>().prop_map(RawValue::Number),
        1 => prop_oneof![
            Just(RawValue::Text("--".into())),
            Just(RawValue::Bool(true)),
            Just(RawValue::Data("AA==".into())),
        ],
    ]
}

fn flags() -> impl Strategy<Value = Flags> {
    prop::collection::vec(prop::sample::select(Flag::ALL.to_vec()), 0..3).prop_map(|fs| {
        let mut flags = Flags::NONE;
        fs.into_iter().for_each(|f| flags.insert(f));
        flags
    })
}

fn reading() -> impl Strategy<Value = RawReading> {
    (prop::sample::select(names()), value(), prop::sample::select(unit_choices()), flags())
        .prop_map(|(n, v, u, f)| raw(n, v, u, f))
}

/// The plain reference: catalogue lookup, a linear scan of [`UNITS`], no memo.
fn reference(c: &Catalogue, r: &RawReading) -> Result<(String, u64, Flags), Reason> {
    let v = match r.value {
        RawValue::Number(v) if v.is_finite() => v,
        RawValue::Number(_) => return Err(Reason::NonFiniteValue),
        _ => return Err(Reason::NonNumericValue),
    };
    let m = c.lookup(&r.name).ok_or(Reason::UnknownMetric)?;
    let conversion = match r.unit.as_deref().map(str::trim) {
        None | Some("") => Conversion::IDENTITY,
        Some(u) if u == m.unit => Conversion::IDENTITY,
        Some(u) if u.contains('^') => units::conversion_for(m, u).ok_or(Reason::UnknownUnit)?,
        Some(u) => {
            UNITS
                .iter()
                .find(|row| {
                    let applies = match row.applies {
                        Applies::Always => true,
                        Applies::Fractions => FRACTION_METRICS.contains(&m.name.as_str()),
                        Applies::WaterColumn => WATER_COLUMN_METRICS.contains(&m.name.as_str()),
                    };
                    row.alias == u && row.canonical == m.unit && applies
                })
                .ok_or(Reason::UnknownUnit)?
                .conversion
        }
    };
    let converted = (v + conversion.offset) * conversion.mul / conversion.div;
    if !converted.is_finite() {
        return Err(Reason::NonFiniteValue);
    }
    let mut flags = r.flags;
    if converted < m.plausible_min || converted > m.plausible_max {
        flags.insert(Flag::Implausible);
    }
    Ok((m.name.clone(), converted.to_bits(), flags))
}

proptest! {
    #[test]
    fn every_conversion_round_trips_through_its_inverse(
        row in prop::sample::select(UNITS.to_vec()),
        v in -1e6..1e6f64,
    ) {
        let metric = metric_for(row.canonical, row.applies);
        let conversion = units::conversion_for(&metric, row.alias);
        prop_assert_eq!(conversion, Some(row.conversion));
        let back = invert(row.conversion, row.conversion.apply(v));
        prop_assert!((back - v).abs() <= 1e-12 * v.abs().max(300.0), "{} {} -> {}", row.alias, v, back);
    }

    #[test]
    fn normalising_an_observation_again_changes_nothing(r in reading()) {
        let n = Normaliser::new(catalogue());
        if let Ok(first) = n.normalise(r) {
            let (name, unit) = (first.metric.name.clone(), Some(first.metric.unit.clone()));
            let again = raw(name, RawValue::Number(first.value), unit, first.flags);
            let second = n.normalise(again).unwrap();
            prop_assert_eq!(second.value.to_bits(), first.value.to_bits());
            prop_assert_eq!(&second.metric, &first.metric);
            prop_assert_eq!(second.flags, first.flags);
        }
    }

    #[test]
    fn the_batch_fast_path_agrees_exactly_with_the_plain_reference(
        random in prop::collection::vec(reading(), 0..60),
        pool in prop::collection::vec(reading(), 1..8),
        repeats in prop::collection::vec((0..8usize, value(), flags()), 0..120),
        small in 0..4usize,
    ) {
        // A device repeats a few (name, unit) pairs: that is what the memo is for.
        let repeated = repeats.into_iter().map(|(i, v, f)| {
            let p = &pool[i % pool.len()];
            raw(p.name.clone(), v, p.unit.clone(), f)
        });
        let mut readings = random;
        readings.extend(repeated);
        let c = catalogue();
        let expected: Vec<_> = readings.iter().map(|r| (r.name.clone(), reference(&c, r))).collect();
        let (stats, mut out) = (PipelineStats::default(), StoreBatch::default());
        // A first batch too small for the memo, then the rest, into the same output.
        let n = Normaliser::new(c);
        let rest = readings.split_off(small.min(readings.len()));
        n.normalise_batch(IngestBatch { readings, dead_letters: vec![] }, &mut out, &stats);
        n.normalise_batch(IngestBatch { readings: rest, dead_letters: vec![] }, &mut out, &stats);
        let (mut obs, mut dls) = (out.observations.iter(), out.dead_letters.iter());
        for (name, outcome) in &expected {
            match outcome {
                Ok((metric, bits, flags)) => {
                    let o = obs.next().unwrap();
                    let got = (&o.source_name, &o.metric.name, o.value.to_bits(), o.flags);
                    prop_assert_eq!(got, (name, metric, *bits, *flags));
                }
                Err(reason) => {
                    let d = dls.next().unwrap();
                    prop_assert_eq!((d.source_name.as_ref(), d.reason), (Some(name), *reason), "{}", d.detail);
                }
            }
        }
        prop_assert!(obs.next().is_none() && dls.next().is_none());
        let snap = stats.snapshot();
        let implausible = out.observations.iter().filter(|o| o.flags.contains(Flag::Implausible)).count() as u64;
        prop_assert_eq!(snap.readings_received, expected.len() as u64);
        prop_assert_eq!(snap.observations, out.observations.len() as u64);
        prop_assert_eq!((snap.implausible, snap.dead_letters), (implausible, out.dead_letters.len() as u64));
    }
}
