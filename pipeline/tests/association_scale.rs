//! The association model at hospital scale: 2,000 beds with a monitor each and a day of ADT
//! traffic (10,000 events: admissions, transfers, discharges).
//!
//! - `a_hospital_day_attaches_every_monitor_to_its_bed_patient` checks the result (runs always);
//! - `rebuild_time_at_hospital_scale` prints how long one snapshot rebuild and one hot-path
//!   `attach` take (ignored: run it optimised,
//!   `CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test -p wardstream-pipeline --test association_scale -- --ignored --nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use wardstream_pipeline::association::*;
use wardstream_pipeline::time::Micros;
use wardstream_pipeline::{Catalogue, Flags, Observation, Source};

const T0: Micros = 1_780_000_000_000_000;
const SEC: Micros = 1_000_000;
const BEDS: usize = 2_000;

fn bed(i: usize) -> BedRef {
    BedRef { ward: format!("W{}", i / 40), room: format!("{}", i % 40 / 2), bed: format!("{}", i % 2) }
}

/// Placements, then a day in which each bed sees a discharge, an admission, and a transfer
/// (to the bed 1,000 further on, vacated by that bed's own discharge) and an A08 without a
/// move — 10,000 ADT events.
fn day() -> Vec<AssociationEvent> {
    let mut events: Vec<AssociationEvent> = (0..BEDS)
        .map(|i| {
            AssociationEvent::Place(DevicePlacement {
                device_id: format!("mon-{i}"),
                bed: Some(bed(i)),
                from: T0,
                recorded_at: T0,
            })
        })
        .collect();
    let mut n = 0;
    let mut adt = |kind, patient: String, to: Option<usize>, time: Micros| {
        n += 1;
        AssociationEvent::Adt(AdtEvent {
            kind,
            message_id: format!("M{n}"),
            visit: PatientVisit {
                patient_id: patient,
                encounter_id: None,
                location: to.map(|b| Location { bed: bed(b), facility: None }),
                prior_location: None,
            },
            other: None,
            event_time: time,
            recorded_at: time + SEC,
        })
    };
    for i in 0..BEDS {
        let t = T0 + i as i64 * SEC;
        events.push(adt(AdtKind::Admit, format!("A{i}"), Some(i), t));
    }
    for i in 0..BEDS {
        let t = T0 + 3_600 * SEC + i as i64 * SEC;
        events.push(adt(AdtKind::Discharge, format!("A{i}"), None, t));
        events.push(adt(AdtKind::Admit, format!("B{i}"), Some(i), t + 600 * SEC));
    }
    for i in 0..BEDS / 2 {
        let t = T0 + 7_200 * SEC + i as i64 * SEC;
        events.push(adt(AdtKind::Discharge, format!("B{}", i + BEDS / 2), None, t));
        events.push(adt(AdtKind::Transfer, format!("B{i}"), Some(i + BEDS / 2), t + 60 * SEC));
        events.push(adt(AdtKind::Admit, format!("C{i}"), Some(i), t + 120 * SEC));
        events.push(adt(AdtKind::Update, format!("C{i}"), Some(i), t + 180 * SEC));
    }
    events
}

fn readings(at: Micros) -> Vec<Observation> {
    let hr = Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap());
    (0..BEDS)
        .flat_map(|i| {
            let device: Arc<str> = Arc::from(format!("mon-{i}"));
            let hr = Arc::clone(&hr);
            (0..5).map(move |k| Observation {
                time: at + k,
                device_time: at + k,
                received_at: at + k,
                device_id: Arc::clone(&device),
                metric: Arc::clone(&hr),
                value: 70.0,
                source_name: "HR".into(),
                source_value: 70.0,
                source_unit: None,
                flags: Flags::NONE,
                patient_id: None,
                encounter_id: None,
                ward: None,
                bed: None,
                source: Source::Mqtt,
            })
        })
        .collect()
}

#[test]
fn a_hospital_day_attaches_every_monitor_to_its_bed_patient() {
    let events = day();
    assert_eq!(events.len(), BEDS + 10_000);
    let snapshot = AssociationSnapshot::build(&events, &AssociationConfig::default(), 1);
    let mut obs = readings(T0 + 12 * 3_600 * SEC);
    let counts = attach(&snapshot, &mut obs);
    assert_eq!(counts, AttachCounts { attached: 10_000, ..AttachCounts::default() });
    for (i, o) in obs.iter().enumerate() {
        let bed = i / 5;
        let expected = if bed < BEDS / 2 { format!("C{bed}") } else { format!("B{}", bed - BEDS / 2) };
        assert_eq!(o.patient_id.as_deref(), Some(expected.as_str()), "reading {i}");
    }
    assert_eq!(snapshot.stats().conflicts, 0);
    assert_eq!(snapshot.stays().len(), 2_000 + 2_000 + 1_000 + 1_000);
}

#[test]
#[ignore = "timing; run optimised with --ignored --nocapture"]
fn rebuild_time_at_hospital_scale() {
    let events = day();
    let config = AssociationConfig::default();
    let rounds = 20;
    let (mut rebuild, mut drop) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for v in 0..rounds {
        let started = Instant::now();
        let snapshot = std::hint::black_box(AssociationSnapshot::build(&events, &config, v));
        rebuild += started.elapsed() / rounds as u32;
        let started = Instant::now();
        std::mem::drop(snapshot);
        drop += started.elapsed() / rounds as u32;
    }
    let snapshot = AssociationSnapshot::build(&events, &config, 1);
    let mut obs = readings(T0 + 12 * 3_600 * SEC);
    let started = Instant::now();
    let rounds = 200;
    for _ in 0..rounds {
        attach(&snapshot, &mut obs);
    }
    let per_reading = started.elapsed() / (rounds * obs.len()) as u32;

    // The hub after a day: each further event rebuilds incrementally.
    let hub = AssociationHub::new(config);
    let replay = hub.replay(events.clone());
    assert_eq!((replay.applied, replay.rejected.len()), (events.len() as u64, 0));
    let rounds = 100;
    let started = Instant::now();
    for i in 0..rounds {
        let t = T0 + 20 * 3_600 * SEC + i as i64 * SEC;
        let transfer = AdtEvent {
            kind: AdtKind::Transfer,
            message_id: format!("late-{i}"),
            visit: PatientVisit {
                patient_id: format!("C{i}"),
                encounter_id: None,
                location: Some(Location { bed: bed(BEDS - 1 - i), facility: None }),
                prior_location: None,
            },
            other: None,
            event_time: t,
            recorded_at: t,
        };
        hub.apply(AssociationEvent::Adt(transfer)).unwrap();
    }
    let incremental = started.elapsed() / rounds as u32;
    eprintln!("incremental apply after a day: {incremental:?} per event");
    eprintln!("rebuild of {} events: {rebuild:?} (drop {drop:?}); attach: {per_reading:?} per reading", events.len());
}
