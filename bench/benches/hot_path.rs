//! criterion benchmarks of the hot-path stages: SenML decode (payload → `IngestBatch`),
//! normalisation (`RawReading` → `Observation`: name lookup, unit conversion, plausibility) and
//! its two lookups alone. Throughput is in readings; results and machine in `BENCHMARKS.md`.
//!
//! Run: `cargo bench -p wardstream-bench --bench hot_path`.

use std::fmt;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use wardstream_pipeline::flow::StoreBatch;
use wardstream_pipeline::{
    Catalogue, Flags, IngestBatch, Normaliser, PipelineStats, RawReading, RawValue, Source, units,
};
use wardstream_protocols::senml::{DeviceIdFrom, DeviceIdRule, pack_to_batch};

/// What a batch holds.
#[derive(Clone, Copy)]
enum Mix {
    /// A bedside monitor's SenML pack: five vitals in canonical or same-scale units, repeated.
    Monitor,
    /// The same five vitals in units that need converting, MDC codes and HL7 coded units.
    Converting,
    /// Every catalogue name, MDC id and code in turn: the per-batch memo hardly ever hits.
    Distinct,
}

/// A batch of `readings` readings of one mix; `Display` is the bench id.
struct Scenario {
    mix: Mix,
    readings: usize,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mix = match self.mix {
            Mix::Monitor => "monitor",
            Mix::Converting => "converting",
            Mix::Distinct => "distinct_names",
        };
        write!(f, "{mix}_{}_readings_per_batch", self.readings)
    }
}

const MONITOR: [(&str, &str, f64); 5] = [
    ("HR", "beat/min", 72.5),
    ("SpO2", "%", 97.0),
    ("RESP", "/min", 14.0),
    ("NBPSys", "mm[Hg]", 120.0),
    ("TEMP", "Cel", 37.1),
];
const CONVERTING: [(&str, &str, f64); 5] = [
    ("147842", "264864^MDC_DIM_BEAT_PER_MIN^MDC", 72.5),
    ("SpO2", "1", 0.97),
    ("MDC_RESP_RATE", "1/s", 0.25),
    ("NBPSys", "kPa", 16.0),
    ("TEMP", "[degF]", 98.6),
];

impl Scenario {
    /// The SenML pack a monitor publishes (monitor mix only).
    fn payload(&self) -> Vec<u8> {
        let records: Vec<String> = (0..self.readings)
            .map(|i| {
                let (n, u, v) = MONITOR[i % MONITOR.len()];
                let base = if i == 0 { r#""bn":"urn:dev:ws:monitor-icu-1-03:","bt":1700000000.5,"# } else { "" };
                format!(r#"{{{base}"n":"{n}","u":"{u}","t":{},"v":{v}}}"#, i / MONITOR.len())
            })
            .collect();
        format!("[{}]", records.join(",")).into_bytes()
    }

    fn batch(&self, catalogue: &Catalogue) -> IngestBatch {
        let rule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
        let triples: Vec<(String, String, f64)> = match self.mix {
            Mix::Monitor => return pack_to_batch(&self.payload(), "t", &rule, 1_700_000_001_000_000),
            Mix::Converting => CONVERTING.iter().map(|(n, u, v)| (n.to_string(), u.to_string(), *v)).collect(),
            Mix::Distinct => catalogue
                .metrics()
                .iter()
                .flat_map(|m| {
                    [m.name.clone(), m.mdc_ref_id.clone(), m.mdc_code.to_string()].map(|n| (n, m.unit.clone()))
                })
                .map(|(n, u)| (n, u, 1.0))
                .collect(),
        };
        let (device, origin, payload): (Arc<str>, Arc<str>, Arc<[u8]>) =
            (Arc::from("monitor-icu-1-03"), Arc::from("t"), Arc::from(&b"{}"[..]));
        let readings = (0..self.readings)
            .map(|i| {
                let (name, unit, value) = &triples[i % triples.len()];
                RawReading {
                    device_id: Arc::clone(&device),
                    name: name.clone(),
                    value: RawValue::Number(*value),
                    unit: Some(unit.clone()),
                    device_time: 1_700_000_000_000_000 + i as i64,
                    received_at: 1_700_000_001_000_000,
                    source: Source::Hl7,
                    origin: Arc::clone(&origin),
                    raw: Arc::clone(&payload),
                    flags: Flags::NONE,
                }
            })
            .collect();
        IngestBatch { readings, dead_letters: vec![] }
    }
}

fn senml_decode(c: &mut Criterion) {
    let rule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
    let mut group = c.benchmark_group("senml_decode");
    for scenario in [Scenario { mix: Mix::Monitor, readings: 10 }, Scenario { mix: Mix::Monitor, readings: 100 }] {
        let payload = scenario.payload();
        group.throughput(Throughput::Elements(scenario.readings as u64));
        group.bench_function(scenario.to_string(), |b| {
            b.iter(|| {
                pack_to_batch(
                    black_box(&payload),
                    "wardstream/icu-1/monitor-icu-1-03/vitals",
                    &rule,
                    1_700_000_001_000_000,
                )
            })
        });
    }
    group.finish();
}

/// `normalise_batch` as the normaliser threads call it: a new output batch each time, allocated
/// (and its fresh pages touched) inside the timing. Cloning the input batch is setup, untimed.
fn normalise(c: &mut Criterion) {
    let catalogue = Arc::new(Catalogue::builtin());
    let normaliser = Normaliser::new(Arc::clone(&catalogue));
    let stats = PipelineStats::default();
    let mut group = c.benchmark_group("normalise");
    let scenarios = [
        Scenario { mix: Mix::Monitor, readings: 1 },
        Scenario { mix: Mix::Monitor, readings: 100 },
        Scenario { mix: Mix::Converting, readings: 100 },
        Scenario { mix: Mix::Distinct, readings: 100 },
        Scenario { mix: Mix::Monitor, readings: 1000 },
    ];
    for scenario in scenarios {
        let batch = scenario.batch(&catalogue);
        assert_eq!(batch.readings.len(), scenario.readings);
        let mut probe = StoreBatch::default();
        normaliser.normalise_batch(batch.clone(), &mut probe, &stats);
        assert_eq!(probe.observations.len(), scenario.readings, "{scenario}: every reading normalises");
        group.throughput(Throughput::Elements(scenario.readings as u64));
        group.bench_function(scenario.to_string(), |b| {
            b.iter_batched(
                || batch.clone(),
                |batch| {
                    let mut out = StoreBatch::default();
                    normaliser.normalise_batch(batch, &mut out, &stats);
                    out
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// `normalise_batch` into output batches that were used before (cleared, capacity kept), as the
/// lookup + conversion + plausibility figure: the first touch of fresh output memory (page
/// faults) and dropping the observations afterwards are left out. Inputs are cloned untimed.
fn normalise_warm(c: &mut Criterion) {
    let catalogue = Arc::new(Catalogue::builtin());
    let normaliser = Normaliser::new(Arc::clone(&catalogue));
    let stats = PipelineStats::default();
    let mut group = c.benchmark_group("normalise_warm");
    for scenario in [
        Scenario { mix: Mix::Monitor, readings: 100 },
        Scenario { mix: Mix::Converting, readings: 100 },
        Scenario { mix: Mix::Distinct, readings: 100 },
    ] {
        const ROUND: u64 = 64;
        let batch = scenario.batch(&catalogue);
        let mut outs: Vec<StoreBatch> = (0..ROUND).map(|_| StoreBatch::default()).collect();
        for out in &mut outs {
            normaliser.normalise_batch(batch.clone(), out, &stats);
            out.observations.clear();
        }
        group.throughput(Throughput::Elements(scenario.readings as u64));
        group.bench_function(scenario.to_string(), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let round = left.min(ROUND) as usize;
                    let inputs: Vec<IngestBatch> = (0..round).map(|_| batch.clone()).collect();
                    let start = Instant::now();
                    for (input, out) in inputs.into_iter().zip(outs.iter_mut()) {
                        normaliser.normalise_batch(black_box(input), out, &stats);
                    }
                    timed += start.elapsed();
                    outs.iter_mut().for_each(|out| out.observations.clear());
                    left -= round as u64;
                }
                timed
            })
        });
    }
    group.finish();
}

/// The two lookups of the normaliser alone, per name: the catalogue's (someone else's code:
/// SipHash over the lower-cased name) and the unit table's.
fn lookups(c: &mut Criterion) {
    let catalogue = Catalogue::builtin();
    let names: Vec<String> =
        Scenario { mix: Mix::Distinct, readings: 75 }.batch(&catalogue).readings.into_iter().map(|r| r.name).collect();
    let metric =
        |name: &str| catalogue.by_name(name).cloned().unwrap_or_else(|| panic!("{name} is not in the catalogue"));
    let (spo2, pressure) = (metric("spo2"), metric("nibp_sys"));
    let unit_cases = [(&spo2, "%"), (&spo2, "1"), (&pressure, "kPa"), (&pressure, "266016^MDC_DIM_MMHG^MDC")];
    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(names.len() as u64));
    group.bench_function("catalogue_lookup_75_names", |b| {
        b.iter(|| names.iter().filter(|n| catalogue.lookup(black_box(n)).is_some()).count())
    });
    group.throughput(Throughput::Elements(unit_cases.len() as u64));
    group.bench_function("unit_conversion_for_4_units", |b| {
        b.iter(|| unit_cases.iter().filter(|(m, u)| units::conversion_for(m, black_box(u)).is_some()).count())
    });
    group.finish();
}

criterion_group!(benches, senml_decode, normalise, normalise_warm, lookups);
criterion_main!(benches);
