//! The normaliser's hot path allocates nothing per reading: normalising a batch of 1,000
//! readings makes exactly as many heap allocations as a batch of 10 (per-batch work only), and
//! with the output already sized, none. Counted by a counting global allocator
//! (`allocation-counter`), so this test needs no timing.

use std::sync::Arc;

use wardstream_pipeline::flow::StoreBatch;
use wardstream_pipeline::{Catalogue, Flags, IngestBatch, Normaliser, PipelineStats, RawReading, RawValue, Source};

/// A monitor's batch: five vitals in several units (some converted), repeated.
fn batch(n: usize) -> IngestBatch {
    let device: Arc<str> = Arc::from("urn:dev:ws:monitor-1");
    let origin: Arc<str> = Arc::from("wardstream/icu-1/monitor-1/vitals");
    let raw: Arc<[u8]> = Arc::from(&b"[...]"[..]);
    let kinds = [
        ("HR", "beat/min", 72.0),
        ("SpO2", "%", 97.0),
        ("RESP", "/min", 14.0),
        ("NBPSys", "kPa", 16.0),
        ("TEMP", "[degF]", 98.6),
    ];
    let readings = (0..n)
        .map(|i| {
            let (name, unit, value) = kinds[i % kinds.len()];
            RawReading {
                device_id: Arc::clone(&device),
                name: name.to_string(),
                value: RawValue::Number(value),
                unit: Some(unit.to_string()),
                device_time: 1_700_000_000_000_000 + i as i64,
                received_at: 1_700_000_000_100_000,
                source: Source::Mqtt,
                origin: Arc::clone(&origin),
                raw: Arc::clone(&raw),
                flags: Flags::NONE,
            }
        })
        .collect();
    IngestBatch { readings, dead_letters: Vec::new() }
}

fn allocations_to_normalise(n: usize, presize: bool) -> u64 {
    let normaliser = Normaliser::new(Arc::new(Catalogue::builtin()));
    let stats = PipelineStats::default();
    let input = batch(n);
    let mut out = StoreBatch::default();
    if presize {
        out.observations.reserve(n);
    }
    let info = allocation_counter::measure(|| {
        normaliser.normalise_batch(input, &mut out, &stats);
    });
    assert_eq!(out.observations.len(), n, "every reading normalised");
    assert!(out.dead_letters.is_empty());
    info.count_total
}

// One test, measured in sequence: the counter is process-wide, so a second test running in
// parallel would count its own allocations here.
#[test]
fn normalising_allocates_nothing_per_reading() {
    // The first call builds lazily-initialised tables once per process: not per reading.
    allocations_to_normalise(1, false);
    let small = allocations_to_normalise(10, false);
    let large = allocations_to_normalise(1_000, false);
    assert_eq!(small, large, "allocations grow with the batch: {small} for 10 readings, {large} for 1000");
    assert!(large <= 2, "{large} allocations per batch");
    assert_eq!(allocations_to_normalise(1_000, true), 0, "with the output sized, none at all");
}
