//! The synthetic "1 Hz vitals" hospital that the pipeline bench, the Parquet layout measurement
//! and the analyst queries share: `devices` bedside monitors, each publishing one SenML pack of
//! ten vital signs a second (the load harness's [`VITALS`]), values a seeded random walk rounded
//! as monitors round them (whole numbers), each monitor placed at its own bed and every bed
//! occupied by an admitted patient. Halfway through, every tenth bed's patient is discharged and
//! a new one admitted, so that attribution changes over the data (the association join has
//! something to do).
//!
//! Everything is deterministic (splitmix64 seeded per device): two runs make the same bytes.
//! [`Hospital::association_events`] are the ADT and placement events (also what the association
//! log of a generated data directory holds); [`Hospital::pack`] is the SenML a monitor sends at a
//! second; [`Hospital::intervals`] lists who was in which bed when, for DuckDB's join.

use std::fmt::Write;

use wardstream_pipeline::Micros;
use wardstream_pipeline::association::{
    AdtEvent, AdtKind, AssociationEvent, BedRef, DevicePlacement, Location, PatientVisit,
};

use crate::load::pack::VITALS;

/// 2026-11-22T22:30:00Z: the first second of the data (a data set of more than 1.5 h spans two
/// UTC dates, so two partitions).
pub const START: Micros = 1_795_305_600_000_000 + 81_000 * SECOND;
/// One second.
pub const SECOND: Micros = 1_000_000;
/// Every `CHANGE_EVERY`-th bed changes patient halfway.
pub const CHANGE_EVERY: u32 = 10;

/// splitmix64: a seeded generator.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One monitor's state: its random generator and the current value of each vital sign.
#[derive(Debug, Clone)]
struct Monitor {
    rng: Rng,
    values: [f64; VITALS.len()],
}

/// The simulated hospital (see the module docs).
#[derive(Debug, Clone)]
pub struct Hospital {
    /// Monitors (one per bed).
    pub devices: u32,
    /// Seconds of data.
    pub seconds: u64,
    monitors: Vec<Monitor>,
}

/// Who was in a bed from `from` to `to` (exclusive; `None`: still there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// The monitor's device id as wardstream stores it.
    pub device_id: String,
    /// Patient.
    pub patient_id: String,
    /// Encounter.
    pub encounter_id: String,
    /// Ward of the bed.
    pub ward: String,
    /// The bed (`room-bed`, as in [`BedRef`]).
    pub bed: BedRef,
    /// Start, µs since the epoch.
    pub from: Micros,
    /// End, µs since the epoch, if any.
    pub to: Option<Micros>,
}

impl Hospital {
    /// The hospital of `devices` monitors for `seconds` seconds.
    pub fn new(devices: u32, seconds: u64) -> Hospital {
        let monitors = (0..devices)
            .map(|i| {
                let mut rng = Rng(0x5EED_0000 + u64::from(i));
                let mut values = [0.0; VITALS.len()];
                for (v, (_, _, base)) in values.iter_mut().zip(VITALS) {
                    *v = base + (rng.below(11) as f64 - 5.0);
                }
                Monitor { rng, values }
            })
            .collect();
        Hospital { devices, seconds, monitors }
    }

    /// Device name `i` as it appears in `bn` (`mon-00042`).
    pub fn device_name(i: u32) -> String {
        format!("mon-{i:05}")
    }

    /// Device id `i` as wardstream stores it (the SenML base name without its trailing colon).
    pub fn device_id(i: u32) -> String {
        format!("urn:dev:ws:{}", Hospital::device_name(i))
    }

    /// The bed of monitor `i`: 40 beds a ward, two a room.
    pub fn bed(i: u32) -> BedRef {
        BedRef {
            ward: format!("W{:02}", i / 40 + 1),
            room: format!("{}", 100 + (i % 40) / 2),
            bed: ["A", "B"][(i % 2) as usize].to_owned(),
        }
    }

    /// When bed `i` changes patient, if it does.
    pub fn change_at(&self, i: u32) -> Option<Micros> {
        (i.is_multiple_of(CHANGE_EVERY) && self.seconds >= 2).then(|| START + (self.seconds / 2) as Micros * SECOND)
    }

    /// Patients and encounters of bed `i`: the first one, and the one after the change.
    fn patients(&self, i: u32) -> [String; 2] {
        [format!("PAT{i:07}"), format!("PAT{:07}", i + self.devices)]
    }

    /// Who was where when (see [`Interval`]).
    pub fn intervals(&self) -> Vec<Interval> {
        let mut out = Vec::new();
        for i in 0..self.devices {
            let bed = Hospital::bed(i);
            let [first, second] = self.patients(i);
            let make = |patient: &str, from, to| Interval {
                device_id: Hospital::device_id(i),
                patient_id: patient.to_owned(),
                encounter_id: format!("V{}", &patient[3..]),
                ward: bed.ward.clone(),
                bed: bed.clone(),
                from,
                to,
            };
            match self.change_at(i) {
                None => out.push(make(&first, START - 86_400 * SECOND, None)),
                Some(t) => {
                    out.push(make(&first, START - 86_400 * SECOND, Some(t)));
                    out.push(make(&second, t + SECOND / 2, None));
                }
            }
        }
        out
    }

    /// Placements (a day before the data) and ADT events (admissions a day before, the
    /// halfway discharges and admissions), each recorded when it happened.
    pub fn association_events(&self) -> Vec<AssociationEvent> {
        let mut events = Vec::new();
        for i in 0..self.devices {
            let from = START - 2 * 86_400 * SECOND;
            let bed = Some(Hospital::bed(i));
            events.push(AssociationEvent::Place(DevicePlacement {
                device_id: Hospital::device_id(i),
                bed,
                from,
                recorded_at: from,
            }));
        }
        let mut message = 0u64;
        let mut adt = |kind, interval: &Interval, t: Micros| {
            message += 1;
            let visit = PatientVisit {
                patient_id: interval.patient_id.clone(),
                encounter_id: Some(interval.encounter_id.clone()),
                location: Some(Location { bed: interval.bed.clone(), facility: Some("GENERAL".into()) }),
                prior_location: None,
            };
            AssociationEvent::Adt(AdtEvent {
                kind,
                message_id: format!("ADT{message:08}"),
                visit,
                other: None,
                event_time: t,
                recorded_at: t,
            })
        };
        let intervals = self.intervals();
        for interval in intervals.iter().filter(|i| i.from < START) {
            events.push(adt(AdtKind::Admit, interval, interval.from));
        }
        // Discharges before the admissions that follow them, in time order.
        let mut timed: Vec<(Micros, u8, &Interval)> = Vec::new();
        for interval in intervals.iter() {
            if let Some(to) = interval.to {
                timed.push((to, 0, interval));
            }
            if interval.from >= START {
                timed.push((interval.from, 1, interval));
            }
        }
        timed.sort_by(|a, b| (a.0, a.1, &a.2.device_id).cmp(&(b.0, b.1, &b.2.device_id)));
        for (t, kind, interval) in timed {
            let kind = if kind == 0 { AdtKind::Discharge } else { AdtKind::Admit };
            events.push(adt(kind, interval, t));
        }
        events
    }

    /// The time monitor `i` publishes at second `s`: its own phase in the second, to the ms.
    pub fn publish_time(&self, i: u32, s: u64) -> Micros {
        START + s as Micros * SECOND + (u64::from(i) * 997 % 1000) as Micros * 1000
    }

    /// The SenML pack monitor `i` sends at second `s` (call with `s` increasing per monitor:
    /// the values walk one step each call), and a receive delay in µs (2–30 ms).
    pub fn pack(&mut self, i: u32, s: u64, out: &mut String) -> Micros {
        let t = self.publish_time(i, s);
        let monitor = &mut self.monitors[i as usize];
        out.clear();
        out.push('[');
        for (k, (name, unit, base)) in VITALS.iter().enumerate() {
            // A walk of whole steps that leans back to the base value.
            let r = monitor.rng.below(16);
            let v = &mut monitor.values[k];
            let pull = if *v > base + 8.0 {
                -1.0
            } else if *v < base - 8.0 {
                1.0
            } else {
                0.0
            };
            *v += match r {
                0 => -1.0,
                1 => 1.0,
                _ => 0.0,
            } + pull;
            if k == 0 {
                let _ = write!(
                    out,
                    r#"{{"bn":"urn:dev:ws:{}:","bt":{}.{:03},"#,
                    Hospital::device_name(i),
                    t / SECOND,
                    t % SECOND / 1000
                );
            } else {
                out.push_str(",{");
            }
            let _ = write!(out, r#""n":"{name}","u":"{unit}","v":{}}}"#, *v);
        }
        out.push(']');
        2_000 + monitor.rng.below(28_000) as Micros
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_is_ten_whole_vitals_of_the_device_at_its_phase() {
        let mut h = Hospital::new(3, 10);
        let mut out = String::new();
        let delay = h.pack(2, 4, &mut out);
        assert!((2_000..30_000).contains(&delay));
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 10);
        assert_eq!(parsed[0]["bn"], "urn:dev:ws:mon-00002:");
        assert_eq!(parsed[0]["bt"].as_f64().unwrap(), 1_795_386_604.994);
        assert!(parsed.as_array().unwrap().iter().all(|r| r["v"].as_f64().unwrap().fract() == 0.0));
    }

    #[test]
    fn every_tenth_bed_changes_patient_halfway() {
        let h = Hospital::new(20, 100);
        let intervals = h.intervals();
        assert_eq!(intervals.len(), 22);
        assert_eq!(intervals[0].to, Some(START + 50 * SECOND));
        assert_eq!(
            (intervals[1].patient_id.as_str(), intervals[1].from),
            ("PAT0000020", START + 50 * SECOND + SECOND / 2)
        );
        // 20 placements, 20 admissions before, 2 discharges and 2 admissions halfway.
        assert_eq!(h.association_events().len(), 44);
    }
}
