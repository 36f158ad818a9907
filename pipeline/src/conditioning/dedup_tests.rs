//! Tests of [`Deduplicator`](super::Deduplicator): repeats, keys, the window, the cap.

use super::*;
use crate::conditioning::Conditioner;
use crate::conditioning::skew::tests::observation;
use crate::flow::StoreBatch;

const S: Micros = 1_000_000;
const T0: Micros = 1_774_000_000 * S;

fn dedup(window_secs: u64, max_keys: usize) -> Deduplicator {
    let config = ConditioningConfig {
        dedup_window: std::time::Duration::from_secs(window_secs),
        dedup_max_keys: max_keys,
        ..ConditioningConfig::default()
    };
    Deduplicator::new(&config)
}

/// Checks one reading of `dev` heart rate; true when it is a duplicate.
fn repeat(d: &mut Deduplicator, counts: &mut ConditionCounts, device_time: Micros, received_at: Micros) -> bool {
    d.check(&mut observation("dev", "HR", device_time, received_at), counts).is_some()
}

#[test]
fn the_same_reading_three_times_is_stored_once_and_dead_lettered_twice() {
    let mut conditioner = Conditioner::new(&ConditioningConfig::default());
    let mut batch = StoreBatch {
        observations: vec![
            observation("dev", "HR", T0, T0 + S),
            observation("dev", "HR", T0, T0 + 2 * S),
            observation("dev", "HR", T0 + S, T0 + 2 * S),
        ],
        dead_letters: vec![],
    };
    let counts = conditioner.condition(&mut batch);
    let mut again = StoreBatch { observations: vec![observation("dev", "HR", T0, T0 + 3 * S)], dead_letters: vec![] };
    let counts_again = conditioner.condition(&mut again);
    assert_eq!(batch.observations.iter().map(|o| o.device_time).collect::<Vec<_>>(), [T0, T0 + S]);
    assert!(again.observations.is_empty());
    assert_eq!((counts.duplicates, counts_again.duplicates), (1, 1));
    let dead: Vec<&DeadLetter> = batch.dead_letters.iter().chain(&again.dead_letters).collect();
    assert_eq!(dead.len(), 2);
    for (dl, received) in dead.iter().zip([T0 + 2 * S, T0 + 3 * S]) {
        assert_eq!(dl.reason, Reason::Duplicate);
        assert_eq!((dl.device_id.as_deref(), dl.source_name.as_deref()), (Some("dev"), Some("HR")));
        assert_eq!((dl.received_at, &*dl.origin, &*dl.payload), (received, "", &b""[..]));
        assert_eq!(
            dl.detail,
            "heart_rate at device time 2026-03-20T09:46:40.000000Z was already stored \
             (received 2026-03-20T09:46:41.000000Z); value 72 /min, as stored"
        );
    }
    assert_eq!(conditioner.dedup().len(), 2);
}

#[test]
fn the_key_is_device_catalogue_metric_and_device_time() {
    let mut d = dedup(300, 100);
    let mut counts = ConditionCounts::default();
    assert!(d.check(&mut observation("dev", "HR", T0, T0), &mut counts).is_none());
    // Another name of the same metric from the same device at the same time: a repeat.
    assert!(d.check(&mut observation("dev", "heart_rate", T0, T0), &mut counts).is_some());
    // Another device, metric or time: new readings.
    assert!(d.check(&mut observation("dev-2", "HR", T0, T0), &mut counts).is_none());
    assert!(d.check(&mut observation("dev", "SpO2", T0, T0), &mut counts).is_none());
    assert!(d.check(&mut observation("dev", "HR", T0 + 1, T0), &mut counts).is_none());
    assert_eq!((d.len(), counts.duplicates), (4, 1));
}

#[test]
fn a_repeat_with_another_value_is_a_duplicate_that_shows_both_values() {
    let mut d = dedup(300, 100);
    let mut counts = ConditionCounts::default();
    assert!(d.check(&mut observation("dev", "HR", T0, T0), &mut counts).is_none());
    let mut changed = observation("dev", "HR", T0, T0 + S);
    changed.value = 75.0;
    let dl = d.check(&mut changed, &mut counts).unwrap();
    assert!(dl.detail.ends_with("; value 75 /min, stored 72 /min"), "{}", dl.detail);
}

#[test]
fn after_the_window_a_reading_is_forgotten_and_its_memory_released() {
    let mut d = dedup(300, 1_000_000);
    let mut counts = ConditionCounts::default();
    for i in 0..10_000 {
        assert!(!repeat(&mut d, &mut counts, T0 + i * 1000, T0 + i * 1000));
    }
    assert_eq!(d.len(), 10_000);
    // Exactly the window after its receipt a repeat is still caught.
    assert!(repeat(&mut d, &mut counts, T0, T0 + 300 * S));
    assert_eq!(d.len(), 10_000);
    // A moment later the first one is forgotten (and remembered anew); later all of them.
    assert!(!repeat(&mut d, &mut counts, T0, T0 + 300 * S + 1));
    assert_eq!(d.len(), 10_000);
    assert!(!repeat(&mut d, &mut counts, T0 + 700 * S, T0 + 700 * S));
    assert_eq!((d.len(), d.order.len()), (1, 1));
    assert!(d.seen.capacity() < 100 && d.order.capacity() < 100, "{}", d.seen.capacity());
    assert_eq!((counts.duplicates, counts.dedup_evicted), (1, 0));
}

#[test]
fn at_the_key_cap_the_oldest_are_forgotten_early_and_counted() {
    let mut d = dedup(300, 100);
    let mut counts = ConditionCounts::default();
    for i in 0..250 {
        assert!(!repeat(&mut d, &mut counts, T0 + i * S, T0 + i * 1000));
    }
    assert_eq!((d.len(), d.order.len(), counts.dedup_evicted), (100, 100, 150));
    // The newest hundred are remembered; an older one, forgotten early, is stored again.
    assert!(repeat(&mut d, &mut counts, T0 + 249 * S, T0 + S));
    assert!(repeat(&mut d, &mut counts, T0 + 150 * S, T0 + S));
    assert!(!repeat(&mut d, &mut counts, T0 + 149 * S, T0 + S));
    assert_eq!((d.len(), counts.duplicates, counts.dedup_evicted), (100, 2, 151));
}

#[test]
fn after_a_restart_replayed_and_remembered_readings_catch_redeliveries_for_a_window_from_now() {
    // wardstream was down for an hour; the window is 10 minutes.
    let restart = T0 + 3600 * S;
    let mut d = dedup(600, 100);
    d.start_clock(restart);
    // Read back from Parquet at start-up: stored before the crash.
    let metric = observation("dev", "HR", T0, T0).metric;
    d.remember(Arc::from("dev"), metric, T0 - 5 * S, T0 - 4 * S, 60.0);
    let mut counts = ConditionCounts::default();
    // Replayed from the WAL: received an hour ago, new to this process.
    assert!(!repeat(&mut d, &mut counts, T0, T0 + S));
    // The broker redelivers both (never acked) nine minutes after the restart: duplicates.
    assert!(repeat(&mut d, &mut counts, T0, restart + 540 * S));
    assert!(repeat(&mut d, &mut counts, T0 - 5 * S, restart + 540 * S));
    assert_eq!(counts.duplicates, 2);
    // A window after the restart they are forgotten, as any other reading.
    assert!(!repeat(&mut d, &mut counts, T0, restart + 1200 * S));
}
