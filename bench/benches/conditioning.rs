//! criterion benchmarks of conditioning (`Conditioner::condition`: de-duplication, then
//! clock-skew correction) at flat-out load: every second, 2,000 monitors each send a SenML pack
//! of 10 readings (10 metrics at one device time), conditioned one pack (one `StoreBatch`) at a
//! time as the normaliser thread does. Time advances one second per iteration, and the
//! de-duplicator is warmed up until its key cap or its window is reached, so every new reading
//! also forgets one (steady state). Throughput is in readings; results in `BENCHMARKS.md`.
//!
//! Run: `cargo bench -p wardstream-bench --bench conditioning`.

use std::fmt;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wardstream_pipeline::flow::StoreBatch;
use wardstream_pipeline::{Catalogue, Conditioner, ConditioningConfig, Flags, Observation, Source};

const S: i64 = 1_000_000;
const T0: i64 = 1_700_000_000 * S;

/// How the de-duplicator's memory is bounded in steady state.
#[derive(Clone, Copy)]
enum Bound {
    /// The defaults (5 min window, 500,000 keys): the key cap is reached, each reading evicts one.
    KeyCap,
    /// A 10 s window under the cap: readings leave by expiry, in arrival order.
    Window,
}

/// `monitors` devices sending `readings` readings each per second; `Display` is the bench id.
struct Scenario {
    bound: Bound,
    monitors: usize,
    readings: usize,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bound = match self.bound {
            Bound::KeyCap => "at_key_cap",
            Bound::Window => "by_window",
        };
        write!(f, "{bound}_{}_monitors_x{}_readings_per_s", self.monitors, self.readings)
    }
}

impl Scenario {
    fn config(&self) -> ConditioningConfig {
        match self.bound {
            Bound::KeyCap => ConditioningConfig::default(),
            Bound::Window => {
                ConditioningConfig { dedup_window: Duration::from_secs(10), ..ConditioningConfig::default() }
            }
        }
    }

    /// One pack per monitor, for the second starting at `T0`.
    fn packs(&self, catalogue: &Catalogue) -> Vec<StoreBatch> {
        let metrics = catalogue.metrics();
        (0..self.monitors)
            .map(|m| {
                let device: Arc<str> = Arc::from(format!("monitor-{m:04}"));
                let observations = (0..self.readings)
                    .map(|i| {
                        let metric = Arc::clone(&metrics[i % metrics.len()]);
                        Observation {
                            time: T0,
                            device_time: T0,
                            received_at: T0 + S / 10,
                            device_id: Arc::clone(&device),
                            source_name: metric.name.clone(),
                            metric,
                            value: 72.0,
                            source_value: 72.0,
                            source_unit: None,
                            flags: Flags::NONE,
                            patient_id: None,
                            encounter_id: None,
                            ward: None,
                            bed: None,
                            source: Source::Mqtt,
                        }
                    })
                    .collect();
                StoreBatch { observations, dead_letters: vec![] }
            })
            .collect()
    }
}

/// Moves every pack to second `second` (device and receipt time), untimed.
fn advance(packs: &mut [StoreBatch], second: i64) {
    for obs in packs.iter_mut().flat_map(|p| p.observations.iter_mut()) {
        obs.device_time = T0 + second * S;
        obs.time = obs.device_time;
        obs.received_at = obs.device_time + S / 10;
    }
}

/// Conditions one second of packs; every reading is new, none may become a dead letter.
fn condition_second(conditioner: &mut Conditioner, packs: &mut [StoreBatch]) -> u64 {
    let mut evicted = 0;
    for pack in packs.iter_mut() {
        let counts = conditioner.condition(black_box(pack));
        evicted += counts.dedup_evicted;
    }
    evicted
}

fn condition(c: &mut Criterion) {
    let catalogue = Catalogue::builtin();
    let mut group = c.benchmark_group("condition");
    for scenario in [
        Scenario { bound: Bound::KeyCap, monitors: 2000, readings: 10 },
        Scenario { bound: Bound::Window, monitors: 2000, readings: 10 },
    ] {
        let config = scenario.config();
        let mut conditioner = Conditioner::new(&config);
        let mut packs = scenario.packs(&catalogue);
        let per_second = (scenario.monitors * scenario.readings) as u64;
        // Warm up past the cap (500,000 keys = 25 s) or the window (10 s).
        let mut second = 0;
        for _ in 0..30 {
            advance(&mut packs, second);
            condition_second(&mut conditioner, &mut packs);
            second += 1;
        }
        let remembered = conditioner.dedup().len();
        match scenario.bound {
            Bound::KeyCap => assert_eq!(remembered, config.dedup_max_keys, "{scenario}: the cap is reached"),
            Bound::Window => assert!(remembered < config.dedup_max_keys, "{scenario}: under the cap"),
        }
        assert!(packs.iter().all(|p| p.observations.len() == scenario.readings && p.dead_letters.is_empty()));
        group.throughput(Throughput::Elements(per_second));
        group.bench_function(scenario.to_string(), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    advance(&mut packs, second);
                    second += 1;
                    let start = Instant::now();
                    let evicted = condition_second(&mut conditioner, &mut packs);
                    timed += start.elapsed();
                    black_box(evicted);
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, condition);
criterion_main!(benches);
