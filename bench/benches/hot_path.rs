//! criterion benchmarks of the hot-path stages that exist so far: SenML decode (payload →
//! `IngestBatch`) and normalisation (`RawReading` → `Observation`). Throughput is in readings.
//!
//! Run: `cargo bench -p wardstream-bench --bench hot_path`.

use std::fmt;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use wardstream_pipeline::flow::StoreBatch;
use wardstream_pipeline::{Catalogue, Normaliser, PipelineStats};
use wardstream_protocols::senml::{DeviceIdFrom, DeviceIdRule, pack_to_batch};

/// A SenML pack of `records` vital-sign readings, as a bedside monitor sends it each second.
struct Scenario {
    records: usize,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_records_per_pack", self.records)
    }
}

impl Scenario {
    fn payload(&self) -> Vec<u8> {
        let names = [
            ("HR", "beat/min", 72.5),
            ("SpO2", "%", 97.0),
            ("RESP", "/min", 14.0),
            ("NBPSys", "mm[Hg]", 120.0),
            ("TEMP", "Cel", 37.1),
        ];
        let records: Vec<String> = (0..self.records)
            .map(|i| {
                let (n, u, v) = names[i % names.len()];
                let base = if i == 0 { r#""bn":"urn:dev:ws:monitor-icu-1-03:","bt":1700000000.5,"# } else { "" };
                format!(r#"{{{base}"n":"{n}","u":"{u}","t":{},"v":{v}}}"#, i / names.len())
            })
            .collect();
        format!("[{}]", records.join(",")).into_bytes()
    }
}

fn senml_decode(c: &mut Criterion) {
    let rule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
    let mut group = c.benchmark_group("senml_decode");
    for scenario in [Scenario { records: 10 }, Scenario { records: 100 }] {
        let payload = scenario.payload();
        group.throughput(Throughput::Elements(scenario.records as u64));
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

fn normalise(c: &mut Criterion) {
    let rule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
    let normaliser = Normaliser::new(Arc::new(Catalogue::builtin()));
    let stats = PipelineStats::default();
    let mut group = c.benchmark_group("normalise");
    {
        let scenario = Scenario { records: 100 };
        let batch = pack_to_batch(&scenario.payload(), "t", &rule, 1_700_000_001_000_000);
        assert_eq!(batch.readings.len(), scenario.records);
        group.throughput(Throughput::Elements(scenario.records as u64));
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

criterion_group!(benches, senml_decode, normalise);
criterion_main!(benches);
