//! The association story, end to end through [`AssociationHub`] and [`attach`]: a ward's
//! devices send a reading every minute, ADT and bedside events arrive (late, twice, cancelled),
//! and after each step the patient of **every** reading is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use wardstream_pipeline::association::*;
use wardstream_pipeline::time::Micros;
use wardstream_pipeline::{Catalogue, Flag, Flags, Observation, Source};

const T0: Micros = 1_780_000_000_000_000;
const MIN: Micros = 60_000_000;

fn at(min: i64) -> Micros {
    T0 + min * MIN
}

fn bed(name: &str) -> BedRef {
    BedRef { ward: "ICU".into(), room: "1".into(), bed: name.into() }
}

struct Ward {
    hub: AssociationHub,
    messages: u32,
}

impl Ward {
    fn new() -> Ward {
        Ward { hub: AssociationHub::new(AssociationConfig::default()), messages: 0 }
    }

    fn visit(patient: &str, to: Option<&str>) -> PatientVisit {
        PatientVisit {
            patient_id: patient.into(),
            encounter_id: Some(format!("V-{patient}")),
            location: to.map(|b| Location { bed: bed(b), facility: None }),
            prior_location: None,
        }
    }

    /// An ADT message about `patient` (to bed `to`), happening at minute `event`, received at `recorded`.
    fn event(&mut self, kind: AdtKind, patient: &str, to: Option<&str>, event: i64, recorded: i64) -> AdtEvent {
        self.messages += 1;
        AdtEvent {
            kind,
            message_id: format!("MSG{}", self.messages),
            visit: Ward::visit(patient, to),
            other: None,
            event_time: at(event),
            recorded_at: at(recorded),
        }
    }

    fn adt(
        &mut self,
        kind: AdtKind,
        patient: &str,
        to: Option<&str>,
        event: i64,
        recorded: i64,
    ) -> Result<Applied, Rejected> {
        let e = self.event(kind, patient, to, event, recorded);
        self.hub.apply(AssociationEvent::Adt(e))
    }

    fn place(&self, device: &str, to: Option<&str>, from: i64) {
        let p = DevicePlacement { device_id: device.into(), bed: to.map(bed), from: at(from), recorded_at: at(from) };
        self.hub.apply(AssociationEvent::Place(p)).unwrap();
    }

    /// The patient of each minute's reading of `device` in `[from, to)`, through the hot-path stage.
    fn patients(&self, device: &str, from: i64, to: i64) -> Vec<Option<String>> {
        let hr = Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap());
        let mut observations: Vec<Observation> = (from..to)
            .map(|m| Observation {
                time: at(m),
                device_time: at(m),
                received_at: at(m),
                device_id: Arc::from(device),
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
            .collect();
        let snapshot = self.hub.snapshot();
        attach(&snapshot, &mut observations);
        for o in &observations {
            assert_eq!(o.patient_id.is_none(), o.flags.contains(Flag::Unassociated), "{o:?}");
            if o.patient_id.is_none() {
                assert_eq!((&o.encounter_id, &o.ward, &o.bed), (&None, &None, &None));
            }
        }
        observations.into_iter().map(|o| o.patient_id.map(|p| p.to_string())).collect()
    }
}

/// Per minute of `[from, to)`: the patient of the span that covers it, else `None`.
fn expect(from: i64, to: i64, spans: &[(i64, i64, &str)]) -> Vec<Option<String>> {
    (from..to).map(|m| spans.iter().find(|(s, e, _)| (*s..*e).contains(&m)).map(|(_, _, p)| (*p).to_string())).collect()
}

#[test]
fn a_day_on_the_ward_attaches_every_reading_to_the_patient_in_the_bed_at_its_time() {
    let mut w = Ward::new();
    w.place("D", Some("B"), -60);
    w.place("E", Some("C"), -60);
    assert_eq!(w.patients("D", -10, 10), expect(-10, 10, &[]));
    assert_eq!(w.hub.snapshot().attach("nobody", at(0)), Attach::UnknownDevice);

    // P1 admitted to B at minute 0.
    assert!(!w.adt(AdtKind::Admit, "P1", Some("B"), 0, 0).unwrap().redelivery);
    assert_eq!(w.patients("D", -10, 100), expect(-10, 100, &[(0, 100, "P1")]));

    // P1 transferred to C at minute 60; the message arrives at minute 90, after readings past 60.
    let late = w.event(AdtKind::Transfer, "P1", Some("C"), 60, 90);
    w.hub.apply(AssociationEvent::Adt(late.clone())).unwrap();
    assert_eq!(w.patients("D", -10, 100), expect(-10, 100, &[(0, 60, "P1")]));
    assert_eq!(w.patients("E", -10, 100), expect(-10, 100, &[(60, 100, "P1")]));

    // The same message delivered again: applied once, nothing changes.
    let version = w.hub.snapshot().version();
    let again = w.hub.apply(AssociationEvent::Adt(AdtEvent { recorded_at: at(95), ..late })).unwrap();
    assert_eq!(again, Applied { redelivery: true, version });
    assert_eq!(w.hub.stats().redeliveries, 1);

    // P2 admitted to B at 120; P1 discharged (from C) at 150.
    w.adt(AdtKind::Admit, "P2", Some("B"), 120, 120).unwrap();
    w.adt(AdtKind::Discharge, "P1", None, 150, 151).unwrap();
    assert_eq!(w.patients("D", -10, 200), expect(-10, 200, &[(0, 60, "P1"), (120, 200, "P2")]));
    assert_eq!(w.patients("E", -10, 200), expect(-10, 200, &[(60, 150, "P1")]));

    // P2 transferred to C at 180, the transfer cancelled (A12) at 200: readings revert to B.
    w.adt(AdtKind::Transfer, "P2", Some("C"), 180, 180).unwrap();
    assert_eq!(w.patients("D", 170, 200), expect(170, 200, &[(170, 180, "P2")]));
    assert_eq!(w.patients("E", 170, 200), expect(170, 200, &[(180, 200, "P2")]));
    w.adt(AdtKind::CancelTransfer, "P2", Some("B"), 200, 200).unwrap();
    assert_eq!(w.patients("D", -10, 240), expect(-10, 240, &[(0, 60, "P1"), (120, 240, "P2")]));
    assert_eq!(w.patients("E", -10, 240), expect(-10, 240, &[(60, 150, "P1")]));

    // A second A12 has no transfer left to cancel: rejected, nothing changes.
    let version = w.hub.snapshot().version();
    let err = w.adt(AdtKind::CancelTransfer, "P2", Some("B"), 210, 210).unwrap_err();
    assert_eq!(err, Rejected::NothingToCancel { trigger: "A12" });
    assert_eq!(w.hub.snapshot().version(), version);

    // The device moves from B to C at 300: it now serves whoever is in C (nobody).
    w.place("D", Some("C"), 300);
    assert_eq!(w.patients("D", 280, 320), expect(280, 320, &[(280, 300, "P2")]));
    // … and P3 is admitted to C at 310.
    w.adt(AdtKind::Admit, "P3", Some("C"), 310, 310).unwrap();
    assert_eq!(w.patients("D", 280, 320), expect(280, 320, &[(280, 300, "P2"), (310, 320, "P3")]));
    assert_eq!(w.patients("E", 280, 320), expect(280, 320, &[(310, 320, "P3")]));

    let snapshot = w.hub.snapshot();
    assert_eq!(snapshot.bed_of("D", at(299)), Some(&bed("B")));
    assert_eq!(snapshot.bed_of("D", at(300)), Some(&bed("C")));
    let p1: Vec<_> = snapshot.patient_intervals("P1").iter().map(|i| (&*i.device_id, i.start, i.end)).collect();
    assert_eq!(p1, [("D", at(0), Some(at(60))), ("E", at(60), Some(at(150)))]);
    let ward: Vec<_> = snapshot.ward_occupancy("ICU", at(315)).into_iter().map(|(b, o)| (b.bed.clone(), o)).collect();
    let Occupant::Patient(p3) = ward[1].1 else { panic!("{ward:?}") };
    assert_eq!((ward.len(), &*ward[0].0, &*p3.patient_id), (2, "B", "P3"));
    // P2 is still in B (the monitor left, the patient did not).
    assert!(matches!(ward[0].1, Occupant::Patient(p) if &*p.patient_id == "P2"));
    assert_eq!(snapshot.patient_at_bed(&bed("Z"), at(315)), Occupant::Empty);
    assert_eq!(snapshot.devices_at(&bed("C"), at(315)), ["D", "E"]);
    assert_eq!(snapshot.devices().iter().map(|d| &**d).collect::<Vec<_>>(), ["D", "E"]);
    assert_eq!(snapshot.stats().transfers_without_admission, 0);
}

#[test]
fn an_admission_received_after_its_readings_attaches_them_back_only_within_the_window() {
    let mut w = Ward::new();
    w.place("D", Some("B"), -3000);
    w.place("F", Some("F"), -3000);
    // P1 admitted at 0, the message received 2 h later: within the 24 h window.
    w.adt(AdtKind::Admit, "P1", Some("B"), 0, 120).unwrap();
    assert_eq!(w.patients("D", -5, 130), expect(-5, 130, &[(0, 130, "P1")]));
    // P2 admitted at minute −1500 (25 h before), received at 0: only the last 24 h are re-attributed.
    w.adt(AdtKind::Admit, "P2", Some("F"), -1500, 0).unwrap();
    assert_eq!(w.patients("F", -1500, -1430), expect(-1500, -1430, &[(-1440, -1430, "P2")]));
    assert_eq!(w.hub.snapshot().stats().clamped, 1);
}

#[test]
fn two_patients_derived_for_one_bed_leave_its_readings_attached_to_neither() {
    let mut w = Ward::new();
    w.place("D", Some("B"), -60);
    w.adt(AdtKind::Admit, "P1", Some("B"), 0, 0).unwrap();
    // P2 admitted to B at 30 while P1 was never transferred out.
    w.adt(AdtKind::Admit, "P2", Some("B"), 30, 30).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[(0, 30, "P1")]));
    let snapshot = w.hub.snapshot();
    let conflict: &[Arc<str>] = &[Arc::from("P1"), Arc::from("P2")];
    assert_eq!(snapshot.attach("D", at(45)), Attach::Conflict(conflict));
    assert_eq!(snapshot.stats().conflicts, 1);
    assert_eq!(
        snapshot.conflicts(),
        [ConflictInterval {
            subject: ConflictSubject::Bed(bed("B")),
            start: at(30),
            end: None,
            patients: conflict.into()
        }]
    );
    // P1's discharge at 40 resolves it from then on.
    w.adt(AdtKind::Discharge, "P1", None, 40, 41).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[(0, 30, "P1"), (40, 60, "P2")]));
}

#[test]
fn a_bed_swap_exchanges_the_beds_the_two_patients_occupy() {
    let mut w = Ward::new();
    w.place("DJ", Some("J"), -60);
    w.place("DK", Some("K"), -60);
    w.adt(AdtKind::Admit, "P7", Some("J"), 0, 0).unwrap();
    w.adt(AdtKind::Admit, "P8", Some("K"), 5, 5).unwrap();
    let mut swap = w.event(AdtKind::SwapBeds, "P7", Some("K"), 60, 60);
    swap.other = Some(Ward::visit("P8", Some("J")));
    w.hub.apply(AssociationEvent::Adt(swap)).unwrap();
    assert_eq!(w.patients("DJ", 0, 90), expect(0, 90, &[(0, 60, "P7"), (60, 90, "P8")]));
    assert_eq!(w.patients("DK", 0, 90), expect(0, 90, &[(5, 60, "P8"), (60, 90, "P7")]));
    // A swap naming one patient twice is rejected.
    let mut bad = w.event(AdtKind::SwapBeds, "P7", Some("K"), 70, 70);
    bad.other = Some(Ward::visit("P7", Some("J")));
    assert_eq!(w.hub.apply(AssociationEvent::Adt(bad)), Err(Rejected::SwapNeedsTwoPatients));
}

#[test]
fn an_explicit_device_association_overrides_the_bed_until_it_ends() {
    let mut w = Ward::new();
    w.place("D", Some("B"), -60);
    w.adt(AdtKind::Admit, "P1", Some("B"), 0, 0).unwrap();
    let scan = ExplicitAssociation {
        id: "scan-1".into(),
        subject: Subject::Device("D".into()),
        patient_id: "P9".into(),
        encounter_id: None,
        start: at(20),
        end: None,
        recorded_at: at(20),
    };
    w.hub.apply(AssociationEvent::Associate(scan.clone())).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[(0, 20, "P1"), (20, 60, "P9")]));
    let snapshot = w.hub.snapshot();
    let Attach::Attached(a) = snapshot.attach("D", at(30)) else { panic!() };
    assert_eq!((a.source, a.location.as_deref()), (AttachmentSource::ExplicitDevice, Some("ICU^1^B")));
    // Ended at 40 (recorded at 45): the bed's patient again.
    let end = ExplicitEnd { id: "scan-1".into(), end: at(40), recorded_at: at(45) };
    w.hub.apply(AssociationEvent::EndAssociation(end.clone())).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[(0, 20, "P1"), (20, 40, "P9"), (40, 60, "P1")]));
    assert!(w.hub.apply(AssociationEvent::EndAssociation(end)).unwrap().redelivery);
    let unknown = ExplicitEnd { id: "nope".into(), end: at(40), recorded_at: at(45) };
    assert_eq!(
        w.hub.apply(AssociationEvent::EndAssociation(unknown)),
        Err(Rejected::UnknownAssociation { id: "nope".into() })
    );
    // The same id with another patient is refused; the same content is a redelivery.
    assert!(w.hub.apply(AssociationEvent::Associate(scan.clone())).unwrap().redelivery);
    let other = ExplicitAssociation { patient_id: "P10".into(), ..scan };
    assert_eq!(
        w.hub.apply(AssociationEvent::Associate(other)),
        Err(Rejected::AssociationIdReused { id: "scan-1".into() })
    );
}

#[test]
fn two_explicit_device_associations_with_different_patients_are_a_conflict() {
    let w = Ward::new();
    w.place("D", Some("B"), -60);
    for (id, patient, start) in [("a", "P1", 0), ("b", "P2", 30)] {
        let a = ExplicitAssociation {
            id: id.into(),
            subject: Subject::Device("D".into()),
            patient_id: patient.into(),
            encounter_id: None,
            start: at(start),
            end: Some(at(60)),
            recorded_at: at(start),
        };
        w.hub.apply(AssociationEvent::Associate(a)).unwrap();
    }
    assert_eq!(w.patients("D", 0, 70), expect(0, 70, &[(0, 30, "P1")]));
    assert!(matches!(w.hub.snapshot().attach("D", at(45)), Attach::Conflict(p) if p.len() == 2));
    assert_eq!(w.hub.snapshot().conflicts()[0].subject, ConflictSubject::Device(Arc::from("D")));
}

#[test]
fn an_explicit_bed_association_is_a_stay_in_that_bed() {
    let w = Ward::new();
    w.place("D", Some("B"), -60);
    let a = ExplicitAssociation {
        id: "bed-1".into(),
        subject: Subject::Bed(bed("B")),
        patient_id: "P4".into(),
        encounter_id: Some("V4".into()),
        start: at(10),
        end: Some(at(50)),
        recorded_at: at(10),
    };
    w.hub.apply(AssociationEvent::Associate(a)).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[(10, 50, "P4")]));
    let snapshot = w.hub.snapshot();
    let Attach::Attached(att) = snapshot.attach("D", at(10)) else { panic!() };
    assert_eq!((att.source, att.encounter_id.as_deref()), (AttachmentSource::ExplicitBed, Some("V4")));
}

#[test]
fn cancels_undo_admissions_and_discharges_and_rejects_what_has_nothing_to_cancel() {
    let mut w = Ward::new();
    w.place("D", Some("B"), -60);
    assert_eq!(w.adt(AdtKind::CancelAdmit, "P1", None, 0, 0), Err(Rejected::NothingToCancel { trigger: "A11" }));
    w.adt(AdtKind::Admit, "P1", Some("B"), 0, 0).unwrap();
    w.adt(AdtKind::Discharge, "P1", None, 30, 30).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[(0, 30, "P1")]));
    w.adt(AdtKind::CancelDischarge, "P1", Some("B"), 40, 40).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[(0, 60, "P1")]));
    w.adt(AdtKind::CancelAdmit, "P1", None, 50, 50).unwrap();
    assert_eq!(w.patients("D", 0, 60), expect(0, 60, &[]));
    assert_eq!(w.hub.stats().rejected_nothing_to_cancel, 1);
}

#[test]
fn a_transfer_for_a_patient_never_admitted_is_an_arrival_and_is_counted() {
    let mut w = Ward::new();
    w.place("D", Some("C"), -60);
    w.adt(AdtKind::Transfer, "P1", Some("C"), 10, 10).unwrap();
    assert_eq!(w.patients("D", 0, 20), expect(0, 20, &[(10, 20, "P1")]));
    assert_eq!(w.hub.snapshot().stats().transfers_without_admission, 1);
}

#[test]
fn a_device_removed_from_its_bed_is_unassociated() {
    let mut w = Ward::new();
    w.place("D", Some("B"), -60);
    w.adt(AdtKind::Admit, "P1", Some("B"), 0, 0).unwrap();
    w.place("D", None, 20);
    assert_eq!(w.patients("D", 0, 30), expect(0, 30, &[(0, 20, "P1")]));
    assert_eq!(w.hub.snapshot().bed_of("D", at(25)), None);
    assert_eq!(w.hub.snapshot().attach("D", at(25)), Attach::Unassociated);
}
