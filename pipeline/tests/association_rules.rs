//! The edge cases of the association rules, each asserted on every minute's reading: cancels
//! older than the retroactive window, A08 moves, partial swaps, re-admission, encounters that
//! disagree; the attach stage's fields, flag and counts; the hub's rejections, `check` and replay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use wardstream_pipeline::association::*;
use wardstream_pipeline::time::Micros;
use wardstream_pipeline::{Catalogue, Flag, Flags, Observation, Source, Status};

const T0: Micros = 1_780_000_000_000_000;
const MIN: Micros = 60_000_000;

fn at(min: i64) -> Micros {
    T0 + min * MIN
}

fn bed(name: &str) -> BedRef {
    BedRef { ward: "ICU".into(), room: "1".into(), bed: name.into() }
}

fn visit(patient: &str, to: Option<&str>, encounter: Option<&str>) -> PatientVisit {
    PatientVisit {
        patient_id: patient.into(),
        encounter_id: encounter.map(String::from),
        location: to.map(|b| Location { bed: bed(b), facility: None }),
        prior_location: None,
    }
}

fn adt(id: &str, kind: AdtKind, visit: PatientVisit, event: i64, recorded: i64) -> AssociationEvent {
    AssociationEvent::Adt(AdtEvent {
        kind,
        message_id: id.into(),
        visit,
        other: None,
        event_time: at(event),
        recorded_at: at(recorded),
    })
}

fn place(device: &str, to: &str) -> AssociationEvent {
    AssociationEvent::Place(DevicePlacement {
        device_id: device.into(),
        bed: Some(bed(to)),
        from: at(-3000),
        recorded_at: at(-3000),
    })
}

fn hub(events: Vec<AssociationEvent>) -> AssociationHub {
    let hub = AssociationHub::new(AssociationConfig::default());
    for e in events {
        hub.apply(e).unwrap();
    }
    hub
}

fn observation(device: &str, min: i64) -> Observation {
    let hr = Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap());
    Observation {
        time: at(min),
        device_time: at(min),
        received_at: at(min),
        device_id: Arc::from(device),
        metric: hr,
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
    }
}

/// The patient of each minute's reading of `device` in `[from, to)` as `(first minute, patient)` runs.
fn runs(hub: &AssociationHub, device: &str, from: i64, to: i64) -> Vec<(i64, Option<String>)> {
    let mut observations: Vec<Observation> = (from..to).map(|m| observation(device, m)).collect();
    attach(&hub.snapshot(), &mut observations);
    let mut out: Vec<(i64, Option<String>)> = Vec::new();
    for (m, o) in (from..).zip(&observations) {
        let who = o.patient_id.as_deref().map(String::from);
        if out.last().is_none_or(|(_, last)| *last != who) {
            out.push((m, who));
        }
    }
    out
}

fn p(s: &str) -> Option<String> {
    Some(s.into())
}

#[test]
fn a_transfer_cancelled_after_the_window_reverts_only_from_the_window_floor() {
    let h = hub(vec![
        place("D", "B"),
        place("E", "C"),
        adt("1", AdtKind::Admit, visit("P1", Some("B"), None), 0, 0),
        adt("2", AdtKind::Transfer, visit("P1", Some("C"), None), 60, 60),
        // Received 25 h after the transfer: the floor is minute 60 + 1500 − 1440 = 120.
        adt("3", AdtKind::CancelTransfer, visit("P1", Some("B"), None), 1560, 1560),
    ]);
    assert_eq!(runs(&h, "D", -10, 200), [(-10, None), (0, p("P1")), (60, None), (120, p("P1"))]);
    assert_eq!(runs(&h, "E", -10, 200), [(-10, None), (60, p("P1")), (120, None)]);
    assert_eq!(h.snapshot().stats().clamped, 1);
}

#[test]
fn an_admission_cancelled_after_the_window_ends_its_stay_at_the_floor() {
    let h = hub(vec![
        place("D", "B"),
        adt("1", AdtKind::Admit, visit("P1", Some("B"), None), 0, 0),
        adt("2", AdtKind::CancelAdmit, visit("P1", None, None), 1500, 1500),
    ]);
    assert_eq!(runs(&h, "D", -10, 100), [(-10, None), (0, p("P1")), (60, None)]);
    assert_eq!(h.snapshot().stats().clamped, 1);
}

#[test]
fn an_update_moves_a_patient_with_a_stay_and_never_creates_one() {
    let h = hub(vec![
        place("D", "B"),
        place("E", "C"),
        adt("1", AdtKind::Admit, visit("P1", Some("B"), None), 0, 0),
        adt("2", AdtKind::Update, visit("P1", Some("C"), None), 30, 30),
        adt("3", AdtKind::Update, visit("P2", Some("B"), None), 40, 40),
        adt("4", AdtKind::Update, visit("P1", Some("C"), None), 50, 50),
    ]);
    assert_eq!(runs(&h, "D", 0, 60), [(0, p("P1")), (30, None)]);
    assert_eq!(runs(&h, "E", 0, 60), [(0, None), (30, p("P1"))]);
    let stats = *h.snapshot().stats();
    assert_eq!((stats.updates_moved, stats.updates_without_stay), (1, 1));
}

#[test]
fn a_swap_where_only_one_patient_has_a_bed_gives_that_bed_to_the_other() {
    let mut swap = AdtEvent {
        kind: AdtKind::SwapBeds,
        message_id: "2".into(),
        visit: visit("P1", Some("C"), None),
        other: Some(visit("P2", Some("B"), None)),
        event_time: at(30),
        recorded_at: at(30),
    };
    let h = hub(vec![place("D", "B"), adt("1", AdtKind::Admit, visit("P1", Some("B"), None), 0, 0)]);
    h.apply(AssociationEvent::Adt(swap.clone())).unwrap();
    assert_eq!(runs(&h, "D", 0, 60), [(0, p("P1")), (30, p("P2"))]);
    assert_eq!(h.snapshot().stats().swaps_partial, 1);
    // Neither in a bed: nothing changes, counted.
    swap.message_id = "3".into();
    swap.visit = visit("P7", None, None);
    swap.other = Some(visit("P8", None, None));
    h.apply(AssociationEvent::Adt(swap)).unwrap();
    assert_eq!(h.snapshot().stats().swaps_without_beds, 1);
}

#[test]
fn an_admission_to_another_bed_ends_the_previous_stay_and_is_counted() {
    let h = hub(vec![
        place("D", "B"),
        place("E", "C"),
        adt("1", AdtKind::Admit, visit("P1", Some("B"), None), 0, 0),
        adt("2", AdtKind::Admit, visit("P1", Some("C"), None), 20, 20),
        adt("3", AdtKind::Discharge, visit("P9", None, None), 25, 25),
    ]);
    assert_eq!(runs(&h, "D", 0, 40), [(0, p("P1")), (20, None)]);
    assert_eq!(runs(&h, "E", 0, 40), [(0, None), (20, p("P1"))]);
    let stats = *h.snapshot().stats();
    assert_eq!((stats.admits_while_in_bed, stats.discharges_without_stay), (1, 1));
}

#[test]
fn claims_of_one_patient_that_disagree_on_the_encounter_attach_without_one() {
    let explicit = |id: &str, encounter: Option<&str>| {
        AssociationEvent::Associate(ExplicitAssociation {
            id: id.into(),
            subject: Subject::Bed(bed("B")),
            patient_id: "P1".into(),
            encounter_id: encounter.map(String::from),
            start: at(10),
            end: Some(at(20)),
            recorded_at: at(10),
        })
    };
    let h = hub(vec![
        place("D", "B"),
        adt("1", AdtKind::Admit, visit("P1", Some("B"), Some("V1")), 0, 0),
        explicit("a", None),
    ]);
    let encounter = |min| match h.snapshot().attach("D", at(min)) {
        Attach::Attached(a) => a.encounter_id.as_deref().map(String::from),
        other => panic!("{other:?}"),
    };
    assert_eq!((encounter(5), encounter(15)), (p("V1"), p("V1")));
    h.apply(explicit("b", Some("V2"))).unwrap();
    assert_eq!((encounter(5), encounter(15), encounter(25)), (p("V1"), None, p("V1")));
}

#[test]
fn attach_fills_the_fields_flags_the_rest_and_counts_each_outcome() {
    let h = hub(vec![
        place("D", "B"),
        place("E", "C"),
        adt("1", AdtKind::Admit, visit("P1", Some("B"), Some("V1")), 0, 0),
        adt("2", AdtKind::Admit, visit("P2", Some("C"), None), 0, 0),
        adt("3", AdtKind::Admit, visit("P3", Some("C"), None), 10, 10),
    ]);
    let mut batch =
        vec![observation("D", 5), observation("D", -5), observation("X", 5), observation("E", 5), observation("E", 15)];
    batch[0].flags = Flags::of(Flag::Unassociated);
    let counts = attach(&h.snapshot(), &mut batch);
    assert_eq!(counts, AttachCounts { attached: 2, unassociated: 1, unknown_device: 1, conflict: 1 });
    assert_eq!(counts.flagged(), 3);
    let fields = |o: &Observation| (o.patient_id.clone(), o.encounter_id.clone(), o.ward.clone(), o.bed.clone());
    assert_eq!(fields(&batch[0]), (Some("P1".into()), Some("V1".into()), Some("ICU".into()), Some("ICU^1^B".into())));
    assert_eq!((batch[0].flags, batch[3].flags), (Flags::NONE, Flags::NONE));
    for o in [&batch[1], &batch[2], &batch[4]] {
        assert_eq!(
            (fields(o), o.status(), o.status().as_str()),
            ((None, None, None, None), Status::Unassociated, "unassociated")
        );
    }
    // Severity order: an unassociated reading outranks a clock correction but not a future time.
    let rank = |flag: Flag| Flag::ALL.iter().position(|f| *f == flag);
    assert_eq!(rank(Flag::Unassociated), Some(4));
    assert!(rank(Flag::FutureTime) < rank(Flag::Unassociated) && rank(Flag::Unassociated) < rank(Flag::ClockCorrected));
}

#[test]
fn the_hub_rejects_what_it_cannot_apply_and_check_changes_nothing() {
    let h = hub(vec![place("D", "B"), adt("1", AdtKind::Admit, visit("P1", Some("B"), None), 0, 0)]);
    let version = h.snapshot().version();
    let reused = adt("1", AdtKind::Discharge, visit("P1", None, None), 5, 5);
    assert_eq!(h.apply(reused), Err(Rejected::MessageIdReused { message_id: "1".into() }));
    let no_bed = adt("2", AdtKind::Transfer, visit("P1", None, None), 5, 5);
    assert_eq!(h.apply(no_bed), Err(Rejected::MissingLocation { trigger: "A02" }));
    let no_patient = adt("3", AdtKind::Admit, visit("", Some("B"), None), 5, 5);
    assert_eq!(h.apply(no_patient), Err(Rejected::Empty { what: "patient id (PID-3)" }));
    let cancel = adt("4", AdtKind::CancelDischarge, visit("P1", None, None), 5, 5);
    assert_eq!(h.check(&cancel), Err(Rejected::NothingToCancel { trigger: "A13" }));
    let discharge = adt("5", AdtKind::Discharge, visit("P1", None, None), 30, 30);
    assert_eq!(h.check(&discharge), Ok(Applied { redelivery: false, version }));
    assert_eq!((h.snapshot().version(), h.events().len()), (version, 2));
    assert_eq!(
        Rejected::NothingToCancel { trigger: "A13" }.to_string(),
        "A13: nothing to cancel for this patient before the event time"
    );
    let stats = h.stats();
    assert_eq!((stats.applied, stats.rejected, stats.rejected_nothing_to_cancel, stats.events), (2, 3, 0, 2));
}

#[test]
fn replay_applies_a_log_in_order_and_reports_what_it_rejected() {
    let h = AssociationHub::new(AssociationConfig::default());
    let admit = adt("1", AdtKind::Admit, visit("P1", Some("B"), None), 0, 0);
    let summary = h.replay(vec![
        place("D", "B"),
        admit.clone(),
        admit,
        adt("2", AdtKind::CancelTransfer, visit("P1", Some("B"), None), 5, 5),
        adt("3", AdtKind::Discharge, visit("P1", None, None), 30, 30),
    ]);
    assert_eq!(
        summary,
        ReplaySummary {
            applied: 3,
            redeliveries: 1,
            rejected: vec![(3, Rejected::NothingToCancel { trigger: "A12" })]
        }
    );
    // The version counts the events applied (3), so it survives a replay of the same log.
    assert_eq!(h.snapshot().version(), 3);
    assert_eq!(runs(&h, "D", -5, 40), [(-5, None), (0, p("P1")), (30, None)]);
}
