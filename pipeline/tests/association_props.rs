//! Properties of the association model on random event histories (a few patients, beds and
//! devices, distinct event times, some received late and some beyond the retroactive window):
//! - the snapshot does not depend on the order events arrived in (through the hub, and through
//!   [`AssociationSnapshot::build`] with cancels and association ends included);
//! - the hub's incremental rebuild after each event equals a build from scratch (cancels,
//!   rejected events and association ends included);
//! - a patient is never derived in two beds at once;
//! - `attach` agrees exactly with a plain reference written here from the derived stays, the
//!   placements and the explicit device associations: it never answers a patient whose stay
//!   does not cover the reading's time, never one of two claimants, and explicit device
//!   associations win;
//! - `patient_intervals` lists exactly where `attach` answers that patient.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use wardstream_pipeline::association::*;
use wardstream_pipeline::time::Micros;

const T0: Micros = 1_780_000_000_000_000;
const MIN: Micros = 60_000_000;
const PATIENTS: [&str; 4] = ["P0", "P1", "P2", "P3"];
const DEVICES: [&str; 3] = ["D0", "D1", "D2"];

fn bed(i: usize) -> BedRef {
    BedRef { ward: "W".into(), room: String::new(), bed: format!("B{i}") }
}

#[derive(Debug, Clone)]
enum Spec {
    Adt(AdtKind, usize, usize, usize),
    Place(usize, Option<usize>),
    Device(usize, usize, Option<i64>),
    Bed(usize, usize, Option<i64>),
    End(usize),
}

fn spec(cancels: bool) -> BoxedStrategy<Spec> {
    let adt_kinds = if cancels {
        vec![
            AdtKind::Admit,
            AdtKind::Transfer,
            AdtKind::Discharge,
            AdtKind::Update,
            AdtKind::Register,
            AdtKind::SwapBeds,
            AdtKind::CancelAdmit,
            AdtKind::CancelTransfer,
            AdtKind::CancelDischarge,
        ]
    } else {
        vec![AdtKind::Admit, AdtKind::Transfer, AdtKind::Discharge, AdtKind::Update, AdtKind::SwapBeds]
    };
    let duration = prop::option::of(1i64..600);
    let common = prop_oneof![
        6 => (prop::sample::select(adt_kinds), 0..4usize, 0..4usize, 0..3usize).prop_map(|(k, p, q, b)| Spec::Adt(k, p, q, b)),
        2 => (0..3usize, prop::option::weighted(0.85, 0..3usize)).prop_map(|(d, b)| Spec::Place(d, b)),
        1 => (0..3usize, 0..4usize, duration.clone()).prop_map(|(d, p, e)| Spec::Device(d, p, e)),
        1 => (0..3usize, 0..4usize, duration).prop_map(|(b, p, e)| Spec::Bed(b, p, e)),
    ];
    if cancels { prop_oneof![10 => common, 1 => (0..40usize).prop_map(Spec::End)].boxed() } else { common.boxed() }
}

/// Events with distinct times: slot minutes plus the index in µs; some received late.
fn history(cancels: bool) -> impl Strategy<Value = Vec<AssociationEvent>> {
    let delays = prop::sample::select(vec![0i64, 30, 180, 1800]);
    prop::collection::vec((spec(cancels), 0..1500i64, delays), 1..40).prop_map(|specs| {
        specs
            .iter()
            .enumerate()
            .map(|(i, (s, slot, delay))| event(i, s, T0 + slot * MIN + i as i64, delay * MIN))
            .collect()
    })
}

fn event(i: usize, spec: &Spec, time: Micros, delay: Micros) -> AssociationEvent {
    let recorded_at = time + delay;
    let visit = |p: usize, b: usize| PatientVisit {
        patient_id: PATIENTS[p].into(),
        encounter_id: Some(format!("V{p}")),
        location: Some(Location { bed: bed(b), facility: None }),
        prior_location: None,
    };
    let explicit = |subject, p: usize, e: &Option<i64>| {
        AssociationEvent::Associate(ExplicitAssociation {
            id: format!("x{i}"),
            subject,
            patient_id: PATIENTS[p].into(),
            encounter_id: None,
            start: time,
            end: e.map(|m| time + m * MIN),
            recorded_at,
        })
    };
    match spec {
        Spec::Adt(kind, p, q, b) => AssociationEvent::Adt(AdtEvent {
            kind: *kind,
            message_id: format!("M{i}"),
            visit: visit(*p, *b),
            other: (*kind == AdtKind::SwapBeds).then(|| visit(*q, (*b + 1) % 3)),
            event_time: time,
            recorded_at,
        }),
        Spec::Place(d, b) => AssociationEvent::Place(DevicePlacement {
            device_id: DEVICES[*d].into(),
            bed: b.map(bed),
            from: time,
            recorded_at,
        }),
        Spec::Device(d, p, e) => explicit(Subject::Device(DEVICES[*d].into()), *p, e),
        Spec::Bed(b, p, e) => explicit(Subject::Bed(bed(*b)), *p, e),
        Spec::End(j) => AssociationEvent::EndAssociation(ExplicitEnd { id: format!("x{j}"), end: time, recorded_at }),
    }
}

fn shuffled<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        out.swap(i, (seed >> 33) as usize % (i + 1));
    }
    out
}

/// Everything observable about a snapshot (but its version).
fn fingerprint(s: &AssociationSnapshot) -> String {
    let devices: Vec<_> = s.devices().iter().map(|d| (d.clone(), s.device_timeline(d))).collect();
    let patients: Vec<_> = PATIENTS.iter().map(|p| s.patient_intervals(p).to_vec()).collect();
    format!("{devices:?}\n{:?}\n{:?}\n{patients:?}\n{:?}", s.stays(), s.conflicts(), s.stats())
}

fn covers(start: Micros, end: Option<Micros>, t: Micros) -> bool {
    start <= t && end.is_none_or(|e| t < e)
}

/// The plain reference of `attach` (see the module docs).
fn reference<'a>(events: &'a [AssociationEvent], s: &'a AssociationSnapshot, device: &str, t: Micros) -> Vec<&'a str> {
    let window = AssociationConfig::default().retro_window_micros();
    let eff = |time: Micros, recorded: Micros| time.max(recorded - window);
    let mut explicit: Vec<&str> = Vec::new();
    for e in events {
        let AssociationEvent::Associate(a) = e else { continue };
        if a.subject != Subject::Device(device.into()) {
            continue;
        }
        let ends = events.iter().filter_map(|x| match x {
            AssociationEvent::EndAssociation(end) if end.id == a.id => Some(eff(end.end, end.recorded_at)),
            _ => None,
        });
        let end = a.end.map(|e| eff(e, a.recorded_at)).into_iter().chain(ends).min();
        if covers(eff(a.start, a.recorded_at), end, t) {
            explicit.push(&a.patient_id);
        }
    }
    let claimants = if explicit.is_empty() {
        match s.bed_of(device, t) {
            None => vec![],
            Some(b) => s
                .stays()
                .into_iter()
                .filter(|st| *st.bed == *b && covers(st.start, st.end, t))
                .map(|st| &*st.patient_id)
                .collect(),
        }
    } else {
        explicit
    };
    let mut claimants = claimants;
    claimants.sort_unstable();
    claimants.dedup();
    claimants
}

fn check_against_reference(events: &[AssociationEvent], s: &AssociationSnapshot) {
    // A patient is never derived (by ADT) in two beds at once.
    let adt: Vec<&Stay> = s.stays().into_iter().filter(|st| st.source == AttachmentSource::Adt).collect();
    for pair in adt.windows(2) {
        if pair[0].patient_id == pair[1].patient_id {
            assert!(pair[0].end.is_some_and(|e| e <= pair[1].start), "{pair:?}");
        }
    }
    for device in DEVICES {
        for minute in (-1500..3200).step_by(7) {
            let t = T0 + minute * MIN;
            let expected = reference(events, s, device, t);
            match s.attach(device, t) {
                Attach::Attached(a) => assert_eq!(expected, [&*a.patient_id], "{device} at {minute}"),
                Attach::Conflict(p) => {
                    assert!(expected.len() > 1, "{device} at {minute}");
                    assert_eq!(p.iter().map(|x| &**x).collect::<Vec<_>>(), expected);
                }
                Attach::Unassociated | Attach::UnknownDevice => {
                    assert!(expected.is_empty(), "{device} at {minute}: {expected:?}")
                }
            }
            for p in PATIENTS {
                let listed =
                    s.patient_intervals(p).iter().any(|i| &*i.device_id == device && covers(i.start, i.end, t));
                assert_eq!(listed, expected == [p], "{p} {device} at {minute}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_hub_gives_the_same_snapshot_whatever_the_arrival_order(events in history(false), a: u64, b: u64) {
        let snapshot = |order: Vec<AssociationEvent>| {
            let hub = AssociationHub::new(AssociationConfig::default());
            let mut applied = Vec::new();
            for e in order {
                // Only an A17 naming one patient twice is rejected, whatever the order.
                match hub.apply(e.clone()) {
                    Ok(_) => applied.push(e),
                    Err(rejected) => assert_eq!(rejected, Rejected::SwapNeedsTwoPatients),
                }
                // Rebuilt incrementally after each event, it equals a build from scratch.
                let full = AssociationSnapshot::build(&applied, &AssociationConfig::default(), 0);
                assert_eq!(fingerprint(&hub.snapshot()), fingerprint(&full));
            }
            hub.snapshot()
        };
        let first = snapshot(shuffled(&events, a));
        let second = snapshot(shuffled(&events, b));
        prop_assert_eq!(fingerprint(&first), fingerprint(&second));
        prop_assert_eq!(first.version(), second.version());
        check_against_reference(&events, &first);
    }

    #[test]
    fn the_hub_incremental_snapshot_equals_a_full_build_with_cancels_and_ends(events in history(true)) {
        let hub = AssociationHub::new(AssociationConfig::default());
        let mut applied = Vec::new();
        for e in events {
            let before = hub.snapshot().version();
            match hub.apply(e.clone()) {
                Ok(a) => {
                    prop_assert!(!a.redelivery);
                    prop_assert_eq!(a.version, before + 1);
                    applied.push(e);
                }
                Err(_) => prop_assert_eq!(hub.snapshot().version(), before),
            }
            let full = AssociationSnapshot::build(&applied, &AssociationConfig::default(), 0);
            prop_assert_eq!(fingerprint(&hub.snapshot()), fingerprint(&full));
        }
        prop_assert_eq!(hub.events(), applied.clone());
        check_against_reference(&applied, &hub.snapshot());
    }

    #[test]
    fn build_is_independent_of_order_with_cancels_and_ends(events in history(true), a: u64) {
        let config = AssociationConfig::default();
        let first = AssociationSnapshot::build(&events, &config, 1);
        let second = AssociationSnapshot::build(&shuffled(&events, a), &config, 1);
        prop_assert_eq!(fingerprint(&first), fingerprint(&second));
        check_against_reference(&events, &first);
    }
}
