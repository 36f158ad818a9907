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

#[test]
fn a_reading_remembered_twice_is_remembered_once_with_the_later_receipt_and_value() {
    let mut d = dedup(300, 100);
    d.start_clock(T0);
    let metric = observation("dev", "HR", T0, T0).metric;
    d.remember(Arc::from("dev"), Arc::clone(&metric), T0, T0 - 2 * S, 60.0);
    d.remember(Arc::from("dev"), metric, T0, T0 - S, 61.0);
    assert_eq!((d.len(), d.order.len()), (1, 1));
    let mut counts = ConditionCounts::default();
    let dl = d.check(&mut observation("dev", "HR", T0, T0 + S), &mut counts).unwrap();
    assert_eq!(
        dl.detail,
        "heart_rate at device time 2026-03-20T09:46:40.000000Z was already stored \
         (received 2026-03-20T09:46:39.000000Z); value 72 /min, stored 61 /min"
    );
}

/// The de-duplicator's rules written plainly (owned string keys, a map and a queue of keys),
/// to compare the real one against.
#[derive(Default)]
struct Model {
    window: Micros,
    max_keys: usize,
    seen: std::collections::HashMap<(String, String, Micros), (Micros, f64)>,
    order: std::collections::VecDeque<(Micros, (String, String, Micros))>,
    newest: Option<Micros>,
}

impl Model {
    fn expire(&mut self, now: Micros) {
        while let Some((stamp, _)) = self.order.front() {
            if now.saturating_sub(*stamp) <= self.window {
                break;
            }
            let (_, key) = self.order.pop_front().unwrap();
            self.seen.remove(&key);
        }
    }

    /// The stored (receipt, value) a reading repeats, or `None` when it is new; counts evictions.
    fn check(
        &mut self,
        key: (String, String, Micros),
        received_at: Micros,
        value: f64,
        evicted: &mut u64,
    ) -> Option<(Micros, f64)> {
        let now = self.newest.map_or(received_at, |n| n.max(received_at));
        self.newest = Some(now);
        self.expire(now);
        if let Some(first) = self.seen.get(&key) {
            return Some(*first);
        }
        while self.seen.len() >= self.max_keys {
            let (_, oldest) = self.order.pop_front().unwrap();
            self.seen.remove(&oldest);
            *evicted += 1;
        }
        self.seen.insert(key.clone(), (received_at, value));
        self.order.push_back((now, key));
        None
    }

    fn remember(&mut self, key: (String, String, Micros), received_at: Micros, value: f64) {
        let now = self.newest.unwrap_or(received_at).max(received_at);
        if self.seen.len() >= self.max_keys {
            return;
        }
        if self.seen.insert(key.clone(), (received_at, value)).is_none() {
            self.order.push_back((now, key));
        }
    }
}

proptest::proptest! {
    /// Any mix of checks and start-up seeds, with names that are aliases of one metric, times
    /// out of order, small windows and caps: the same duplicates (and dead-letter details), the
    /// same evictions and the same number remembered as the plain rules.
    #[test]
    fn it_decides_exactly_as_the_plain_rules(
        window_secs in 1u64..6,
        max_keys in 1usize..12,
        start in proptest::option::of(0i64..5),
        ops in proptest::collection::vec((0u8..4, 0usize..3, 0usize..3, 0i64..6, -3i64..4, 0u8..3), 1..200),
    ) {
        const NAMES: [&str; 3] = ["HR", "heart_rate", "SpO2"];
        let mut d = dedup(window_secs, max_keys);
        let mut model = Model { window: window_secs as Micros * S, max_keys, ..Model::default() };
        if let Some(start) = start {
            d.start_clock(T0 + start * S);
            model.newest = Some(T0 + start * S);
        }
        let mut counts = ConditionCounts::default();
        let mut evicted = 0;
        let mut clock = T0;
        for (kind, device, name, device_time, step, value) in ops {
            clock += step * S / 2;
            let mut obs = observation(&format!("dev-{device}"), NAMES[name], T0 + device_time * S, clock);
            obs.value = f64::from(value);
            let key = (obs.device_id.to_string(), obs.metric.name.clone(), obs.device_time);
            if kind == 0 {
                d.remember(Arc::clone(&obs.device_id), Arc::clone(&obs.metric), obs.device_time, clock, obs.value);
                model.remember(key, clock, obs.value);
            } else {
                let expected = model.check(key, clock, obs.value, &mut evicted);
                let mut copy = obs.clone();
                let got = d.check(&mut obs, &mut counts);
                proptest::prop_assert_eq!(got.is_some(), expected.is_some());
                if let (Some(dl), Some((received, stored))) = (got, expected) {
                    let mut reference = dedup(1_000_000, 1);
                    reference.remember(Arc::clone(&copy.device_id), Arc::clone(&copy.metric), copy.device_time, received, stored);
                    let want = reference.check(&mut copy, &mut ConditionCounts::default()).unwrap();
                    proptest::prop_assert_eq!(dl.detail, want.detail);
                    proptest::prop_assert_eq!(dl.reason, Reason::Duplicate);
                }
            }
            proptest::prop_assert_eq!(d.len(), model.seen.len());
            proptest::prop_assert_eq!(d.order.len(), model.order.len());
            proptest::prop_assert_eq!(counts.dedup_evicted, evicted);
        }
    }
}
