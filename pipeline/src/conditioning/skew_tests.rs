//! Tests of [`SkewCorrector`](super::SkewCorrector): warm-up, exact corrections, jitter,
//! hysteresis, backlogs, future times, one sample per message, device eviction.

use std::sync::{Arc, LazyLock};

use super::*;
use crate::catalogue::Catalogue;
use crate::observation::Flags;
use crate::reading::Source;

const S: Micros = 1_000_000;
const T0: Micros = 1_774_000_000 * S;

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(Catalogue::builtin);

/// An observation of `metric` (a catalogue name or alias) from `device`.
pub(crate) fn observation(device: &str, metric: &str, device_time: Micros, received_at: Micros) -> Observation {
    Observation {
        time: device_time,
        device_time,
        received_at,
        device_id: Arc::from(device),
        metric: CATALOGUE.lookup(metric).map(Arc::clone).unwrap(),
        value: 72.0,
        source_name: "HR".into(),
        source_value: 72.0,
        source_unit: Some("/min".into()),
        flags: Flags::NONE,
        patient_id: None,
        encounter_id: None,
        ward: None,
        bed: None,
        source: Source::Mqtt,
    }
}

fn obs(device: &str, device_time: Micros, received_at: Micros) -> Observation {
    observation(device, "HR", device_time, received_at)
}

/// Runs readings of one device, one a second: the device clock `skew(i)` behind ours and each
/// reading received `delay(i)` after it was taken. Returns the observations and the counts.
fn run(
    corrector: &mut SkewCorrector,
    n: i64,
    skew: impl Fn(i64) -> Micros,
    delay: impl Fn(i64) -> Micros,
) -> (Vec<Observation>, ConditionCounts) {
    let mut counts = ConditionCounts::default();
    let out = (0..n)
        .map(|i| {
            let taken = T0 + i * S;
            let mut o = obs("dev", taken - skew(i), taken + delay(i));
            corrector.apply(&mut o, &mut counts);
            o
        })
        .collect();
    (out, counts)
}

fn corrector() -> SkewCorrector {
    SkewCorrector::new(&ConditioningConfig::default())
}

/// A deterministic delay between 100 and 900 ms.
fn jitter(i: i64) -> Micros {
    (100 + (i * 7919 % 9) * 100) * 1000
}

/// The reference estimate after reading `i`: the ⌊n/10⌋-th smallest of the last 32 offsets.
fn reference_estimate(out: &[Observation], i: usize) -> Micros {
    let mut window: Vec<Micros> = out[i.saturating_sub(31)..=i].iter().map(|o| o.received_at - o.device_time).collect();
    window.sort_unstable();
    window[window.len() / 10]
}

#[test]
fn a_device_five_minutes_behind_is_corrected_after_warm_up_by_exactly_the_estimate() {
    let mut c = corrector();
    let (out, counts) = run(&mut c, 100, |_| 300 * S, jitter);
    // Decided at the 8th reading, by the estimate then: 300 s plus the least delay, 100 ms.
    let estimate = reference_estimate(&out, 7);
    assert_eq!(estimate, 300 * S + 100_000);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.device_time, T0 + i as i64 * S - 300 * S, "device_time kept raw");
        if i < 7 {
            assert_eq!((o.time, o.flags), (o.device_time, Flags::NONE), "warm-up reading {i}");
        } else {
            assert_eq!((o.time - o.device_time, o.flags), (estimate, Flags::of(Flag::ClockCorrected)), "{i}");
            // Later estimates move with the jitter, within a second: the correction stays.
            assert!(reference_estimate(&out, i).abs_diff(estimate) <= RESTEP as u64);
        }
    }
    assert!((7..100).any(|i| reference_estimate(&out, i) != estimate), "the jitter did move the estimate");
    assert_eq!(counts, ConditionCounts { clock_corrected: 93, ..ConditionCounts::default() });
    assert_eq!(c.correction("dev"), Some(estimate));
    // Corrected times keep the device's order and spacing.
    assert!(out[7..].windows(2).all(|w| w[1].time - w[0].time == S));
}

#[test]
fn a_correction_follows_a_clock_that_moves_by_more_than_a_second() {
    let mut c = corrector();
    let (out, _) = run(&mut c, 80, |i| if i < 40 { 300 * S } else { 303 * S }, |_| 0);
    let correction = |i: usize| out[i].time - out[i].device_time;
    // 3 s more behind from reading 40: a rise, taken once the window's 4th-smallest offset is
    // new, at reading 68 (only 3 of the last 32 are old).
    assert!((7..68).all(|i| correction(i) == 300 * S));
    assert!((68..80).all(|i| correction(i) == 303 * S));
}

#[test]
fn a_constant_delay_is_corrected_to_the_receive_time_exactly() {
    let mut c = corrector();
    let (out, counts) = run(&mut c, 20, |_| 300 * S, |_| 200_000);
    assert!(out[7..].iter().all(|o| o.time == o.received_at && o.time == o.device_time + 300_200_000));
    assert_eq!(counts.clock_corrected, 13);
}

#[test]
fn a_device_ten_seconds_off_is_never_corrected_whatever_the_jitter() {
    for skew in [10 * S, -10 * S] {
        let mut c = corrector();
        let (out, counts) = run(&mut c, 200, |_| skew, jitter);
        assert!(out.iter().all(|o| o.time == o.device_time && o.flags.is_empty()));
        assert_eq!((counts, c.correction("dev")), (ConditionCounts::default(), None));
    }
}

#[test]
fn jitter_around_the_threshold_does_not_flip_a_corrected_device_until_its_clock_is_fixed() {
    let mut c = corrector();
    // 20 s at 125 s behind, 40 s straddling the 120 s threshold, then the clock is fixed.
    let skew = |i: i64| match i {
        0..20 => 125 * S,
        20..60 if i % 2 == 0 => 118 * S,
        20..60 => 125 * S,
        _ => 2 * S,
    };
    let (out, counts) = run(&mut c, 100, skew, |_| 0);
    let corrected: Vec<bool> = out.iter().map(|o| o.flags.contains(Flag::ClockCorrected)).collect();
    // Warm-up 7, corrected through the straddling phase, and after the fix until the last 8
    // readings are all after the 116 s step (before, they look like a backlog replayed).
    assert_eq!(corrected.iter().position(|c| *c), Some(7));
    assert!(corrected[7..67].iter().all(|c| *c));
    assert!(corrected[67..].iter().all(|c| !*c));
    // Those 7 were corrected by the old 118 s: 116 s in the future, and flagged so.
    assert_eq!((counts.clock_corrected, counts.future_time), (60, 7));
    assert_eq!(out[60].time - out[60].received_at, 116 * S);
    assert_eq!(c.correction("dev"), None);
}

#[test]
fn a_device_ahead_is_flagged_future_until_corrected_and_one_slightly_ahead_always() {
    let mut c = corrector();
    let (out, counts) = run(&mut c, 20, |_| -300 * S, |_| 500_000);
    assert!(out[..7].iter().all(|o| o.flags == Flags::of(Flag::FutureTime)));
    assert!(out[7..].iter().all(|o| o.flags == Flags::of(Flag::ClockCorrected) && o.time == o.received_at));
    assert_eq!((counts.future_time, counts.clock_corrected), (7, 13));

    let mut c = corrector();
    let (out, counts) = run(&mut c, 20, |_| -60 * S, |_| 0);
    assert!(out.iter().all(|o| o.flags == Flags::of(Flag::FutureTime) && o.time == o.device_time));
    assert_eq!((counts.future_time, counts.clock_corrected), (20, 0));
    // 30 s ahead is within the tolerance.
    let (_, counts) = run(&mut corrector(), 20, |_| -30 * S, |_| 0);
    assert_eq!(counts, ConditionCounts::default());
}

#[test]
fn a_replayed_backlog_is_not_mistaken_for_skew_and_keeps_an_earlier_decision() {
    // A correct clock; 600 readings queued for ten minutes arrive within 0.6 s.
    let backlog = |skew: Micros| {
        let mut c = corrector();
        let mut counts = ConditionCounts::default();
        let out: Vec<Observation> = (0..600)
            .map(|i| {
                let mut o = obs("dev", T0 + i * S - skew, T0 + 600 * S + i * 1000);
                c.apply(&mut o, &mut counts);
                o
            })
            .collect();
        (out, counts)
    };
    let (_, counts) = backlog(0);
    assert_eq!(counts, ConditionCounts::default());
    // Received paced at first (a broker stalled), then replayed fast: the correction taken
    // while paced is not dragged along as the ages shrink, so times never collapse.
    let mut c = corrector();
    let mut counts = ConditionCounts::default();
    let times: Vec<Micros> = (0..600)
        .map(|i| {
            let received = if i < 10 { T0 + 600 * S + i * S } else { T0 + 610 * S + i * 1000 };
            let mut o = obs("dev", T0 + i * S, received);
            c.apply(&mut o, &mut counts);
            o.time
        })
        .collect();
    assert!(times[..7].iter().enumerate().all(|(i, t)| *t == T0 + i as i64 * S), "warm-up");
    assert!(times[7..].windows(2).all(|w| w[1] - w[0] == S), "order and spacing kept");
    assert_eq!(counts.clock_corrected, 593);
    assert_eq!(c.correction("dev"), Some(600 * S));
    // A device 5 min behind, corrected live, then replaying a backlog: the old estimate holds.
    let mut c = corrector();
    run(&mut c, 40, |_| 300 * S, |_| 0);
    let mut counts = ConditionCounts::default();
    for i in 0..600 {
        let mut o = obs("dev", T0 + (100 + i) * S - 300 * S, T0 + 800 * S + i * 1000);
        c.apply(&mut o, &mut counts);
        assert_eq!(o.time - o.device_time, 300 * S, "backlog reading {i}");
    }
    assert_eq!(counts.clock_corrected, 600);
}

#[test]
fn records_of_one_message_are_one_sample_and_share_the_correction() {
    let mut c = corrector();
    let mut counts = ConditionCounts::default();
    let mut flagged = Vec::new();
    for m in 0..10 {
        for _record in 0..5 {
            let mut o = obs("dev", T0 + m * S - 300 * S, T0 + m * S);
            c.apply(&mut o, &mut counts);
            flagged.push(o.flags.contains(Flag::ClockCorrected));
        }
    }
    // Eight messages (not eight records) end the warm-up: messages 7, 8 and 9 are corrected.
    assert_eq!(flagged.iter().position(|f| *f), Some(35));
    assert_eq!(counts.clock_corrected, 15);
}

#[test]
fn past_the_device_cap_the_least_recently_seen_eighth_is_forgotten() {
    let config = ConditioningConfig { clock_skew_max_devices: 16, ..ConditioningConfig::default() };
    let mut c = SkewCorrector::new(&config);
    let mut counts = ConditionCounts::default();
    for i in 0..8 {
        for d in 0..16 {
            let mut o = obs(&format!("dev-{d}"), T0 + i * S - 300 * S, T0 + i * S);
            c.apply(&mut o, &mut counts);
        }
    }
    assert_eq!((c.devices(), counts.clock_devices_evicted), (16, 0));
    assert!((0..16).all(|d| c.correction(&format!("dev-{d}")) == Some(300 * S)));
    c.apply(&mut obs("dev-new", T0, T0), &mut counts);
    assert_eq!((c.devices(), counts.clock_devices_evicted), (15, 2));
    assert_eq!((c.correction("dev-0"), c.correction("dev-1"), c.correction("dev-2")), (None, None, Some(300 * S)));
    // A forgotten device warms up again.
    let mut o = obs("dev-0", T0 + 9 * S - 300 * S, T0 + 9 * S);
    c.apply(&mut o, &mut counts);
    assert_eq!((o.flags, c.devices()), (Flags::NONE, 16));
}

#[test]
fn a_fast_device_whose_messages_arrive_bunched_is_still_judged_after_its_warm_up() {
    // Ten messages 25 ms apart from a clock 10 min behind, received within 10 ms: receipt
    // jitter, not a backlog (within BACKLOG_SLACK).
    let mut c = corrector();
    let mut counts = ConditionCounts::default();
    for i in 0..10 {
        let mut o = obs("dev", T0 + i * 25_000 - 600 * S, T0 + 200_000 + i * 1000);
        c.apply(&mut o, &mut counts);
        assert_eq!(o.flags.contains(Flag::ClockCorrected), i >= 7, "message {i}");
    }
    // The least offset of the eight: the last one, 600 s + 200 ms + 7 ms − 7 × 25 ms.
    assert_eq!(c.correction("dev"), Some(600 * S + 32_000));
}
