//! A clinician's scope: the patients who are in one of their wards now, or were within the last
//! `clinician_recent_hours`, according to the association store's history.
//!
//! A patient is in a ward when a stay (ADT or an explicit bed association) puts them in one of
//! its beds, or when a device explicitly associated with them is placed at one of its beds. Any
//! overlap of that time with `[now - recent, now]` counts. Other roles: admins see every patient;
//! analysts and integrations see none through these routes (their routes refuse them first).

use wardstream_pipeline::Micros;
use wardstream_pipeline::association::AssociationSnapshot;

use super::{Principal, Role};

/// Whether `principal` may see `patient` at `now`, looking `recent` µs back.
pub fn may_see_patient(
    principal: &Principal,
    snapshot: &AssociationSnapshot,
    patient: &str,
    now: Micros,
    recent: Micros,
) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::Analyst | Role::Integration => false,
        Role::Clinician => {
            let from = now.saturating_sub(recent);
            let overlaps = |start: Micros, end: Option<Micros>| start <= now && end.is_none_or(|e| e > from);
            let mine = |ward: &str| principal.wards.iter().any(|w| w == ward);
            let in_stays = snapshot.stays_of(patient).iter().any(|s| overlaps(s.start, s.end) && mine(&s.bed.ward));
            in_stays
                || snapshot.patient_intervals(patient).iter().any(|i| {
                    if !overlaps(i.start, i.end) {
                        return false;
                    }
                    // The device's bed where the interval meets the window: at its start (or the
                    // window's) and at its end (or now).
                    let first = i.start.max(from);
                    let last = i.end.map_or(now, |e| e.saturating_sub(1)).min(now);
                    [first, last].iter().any(|t| snapshot.bed_of(&i.device_id, *t).is_some_and(|b| mine(&b.ward)))
                })
        }
    }
}

/// Whether `principal` may see the page of `ward`.
pub fn may_see_ward(principal: &Principal, ward: &str) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::Clinician => principal.wards.iter().any(|w| w == ward),
        Role::Analyst | Role::Integration => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wardstream_pipeline::association::{
        AssociationConfig, AssociationEvent, AssociationHub, BedRef, DevicePlacement, ExplicitAssociation, Subject,
    };

    use super::*;

    const HOUR: Micros = 3_600_000_000;
    const NOW: Micros = 1_000 * HOUR;

    fn bed(ward: &str, b: &str) -> BedRef {
        BedRef { ward: ward.into(), room: "1".into(), bed: b.into() }
    }

    fn associate(id: &str, subject: Subject, patient: &str, start: Micros, end: Option<Micros>) -> AssociationEvent {
        AssociationEvent::Associate(ExplicitAssociation {
            id: id.into(),
            subject,
            patient_id: patient.into(),
            encounter_id: None,
            start,
            end,
            recorded_at: NOW,
        })
    }

    fn clinician(wards: &[&str]) -> Principal {
        Principal { user: "n".into(), role: Role::Clinician, wards: wards.iter().map(|w| w.to_string()).collect() }
    }

    #[test]
    fn clinicians_see_patients_in_their_wards_now_or_recently_by_bed_or_by_device() {
        let hub = AssociationHub::new(AssociationConfig { retro_window: Duration::from_secs(100 * 3600) });
        let events = [
            associate("a", Subject::Bed(bed("ICU", "1")), "NOW", NOW - 2 * HOUR, None),
            associate("b", Subject::Bed(bed("ICU", "2")), "RECENT", NOW - 10 * HOUR, Some(NOW - 3 * HOUR)),
            associate("c", Subject::Bed(bed("ICU", "3")), "OLD", NOW - 50 * HOUR, Some(NOW - 30 * HOUR)),
            associate("d", Subject::Bed(bed("WARD", "1")), "ELSEWHERE", NOW - 2 * HOUR, None),
            AssociationEvent::Place(DevicePlacement {
                device_id: "mon".into(),
                bed: Some(bed("ICU", "9")),
                from: NOW - 5 * HOUR,
                recorded_at: NOW,
            }),
            associate("e", Subject::Device("mon".into()), "BY-DEVICE", NOW - HOUR, None),
        ];
        for event in events {
            hub.apply(event).unwrap();
        }
        let snapshot = hub.snapshot();
        let icu = clinician(&["ICU"]);
        let sees = |who: &Principal, patient: &str| may_see_patient(who, &snapshot, patient, NOW, 24 * HOUR);
        let seen: Vec<bool> =
            ["NOW", "RECENT", "OLD", "ELSEWHERE", "BY-DEVICE", "UNKNOWN"].iter().map(|p| sees(&icu, p)).collect();
        assert_eq!(seen, [true, true, false, false, true, false]);
        let admin = Principal { user: "a".into(), role: Role::Admin, wards: vec![] };
        assert!(sees(&admin, "OLD") && sees(&admin, "UNKNOWN"));
        let analyst = Principal { user: "x".into(), role: Role::Analyst, wards: vec!["ICU".into()] };
        assert!(!sees(&analyst, "NOW"));
        assert!(sees(&clinician(&["WARD"]), "ELSEWHERE"));
        assert_eq!(
            (may_see_ward(&icu, "ICU"), may_see_ward(&icu, "WARD"), may_see_ward(&admin, "WARD")),
            (true, false, true)
        );
    }
}
