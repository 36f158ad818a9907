//! criterion benchmarks of patient association on a hospital-sized day: the hot-path stage
//! `association::attach` (observations → patient, encounter, ward, bed from a snapshot) and the
//! `AssociationHub`'s work per event (`hub.apply`: check, history, incremental rebuild,
//! publish), plus replaying a whole day at start-up. Throughput is in readings (attach) or
//! events (hub); results and machine in `BENCHMARKS.md`.
//!
//! The hospital: 2,000 beds (50 wards × 20 rooms × 2 beds), one monitor placed at each, every
//! bed occupied by an admitted patient at midnight; then a day of 400 discharges and 200
//! transfers at random times, each vacated bed admitting a new patient 1–4 h later (a bed
//! turnover of 20 % a day, average stay about five days). Seeded: every run builds the same.
//!
//! Run: `cargo bench -p wardstream-bench --bench attach`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use wardstream_pipeline::association::{
    AdtEvent, AdtKind, AssociationConfig, AssociationEvent, AssociationHub, Attach, AttachCounts, BedRef,
    DevicePlacement, Location, PatientVisit, attach,
};
use wardstream_pipeline::{Catalogue, Flags, Micros, Observation, Source};

const BEDS: usize = 2_000;
const HOUR: Micros = 3_600_000_000;
const DAY: Micros = 24 * HOUR;
/// 2026-11-22T00:00:00Z: the benchmarked day starts here.
const T0: Micros = 1_795_305_600_000_000;
/// The monitor run's first reading.
const NOON: Micros = T0 + 12 * HOUR;
/// Events reach wardstream 2 s after they happen (well inside the 24 h retroactive window).
const DELAY: Micros = 2_000_000;

/// splitmix64: a seeded generator, so that every run simulates the same day.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The simulated hospital: who is in which bed, and the admissions due to vacated beds.
struct Hospital {
    rng: Rng,
    beds: Vec<BedRef>,
    devices: Vec<Arc<str>>,
    occupant: Vec<Option<usize>>,
    /// The admission scheduled for each vacant bed (cancelled by a transfer into it).
    pending: Vec<Option<Micros>>,
    due: BinaryHeap<Reverse<(Micros, usize)>>,
    patients: usize,
    messages: usize,
    events: Vec<AssociationEvent>,
}

impl Hospital {
    /// The hospital at `T0`: monitors placed 30 days before, patients admitted in the 5 days
    /// before (`4,000` events).
    fn new() -> Hospital {
        let beds: Vec<BedRef> = (0..BEDS)
            .map(|i| BedRef {
                ward: format!("W{:02}", i / 40 + 1),
                room: format!("{}", 100 + (i % 40) / 2),
                bed: ["A", "B"][i % 2].to_owned(),
            })
            .collect();
        let devices = beds.iter().map(|b| Arc::from(format!("mon-{}-{}-{}", b.ward, b.room, b.bed))).collect();
        let mut h = Hospital {
            rng: Rng(0x5EED_2026),
            beds,
            devices,
            occupant: vec![None; BEDS],
            pending: vec![None; BEDS],
            due: BinaryHeap::new(),
            patients: 0,
            messages: 0,
            events: Vec::new(),
        };
        for i in 0..BEDS {
            let (device_id, bed) = (h.devices[i].to_string(), Some(h.beds[i].clone()));
            let from = T0 - 30 * DAY;
            h.events.push(AssociationEvent::Place(DevicePlacement { device_id, bed, from, recorded_at: from }));
        }
        for i in 0..BEDS {
            let t = T0 - 1 - h.rng.below(5 * DAY as u64) as Micros;
            h.admit(i, t);
        }
        h
    }

    fn adt(&mut self, kind: AdtKind, patient: usize, to: usize, from: Option<usize>, t: Micros) {
        self.messages += 1;
        let location = |b: usize| Location { bed: self.beds[b].clone(), facility: Some("GENERAL".into()) };
        let visit = PatientVisit {
            patient_id: format!("PAT{patient:07}"),
            encounter_id: Some(format!("V{patient:07}")),
            location: Some(location(to)),
            prior_location: from.map(location),
        };
        let message_id = format!("ADT{:08}", self.messages);
        let event = AdtEvent { kind, message_id, visit, other: None, event_time: t, recorded_at: t + DELAY };
        self.events.push(AssociationEvent::Adt(event));
    }

    fn admit(&mut self, bed: usize, t: Micros) {
        self.patients += 1;
        self.occupant[bed] = Some(self.patients);
        self.pending[bed] = None;
        self.adt(AdtKind::Admit, self.patients, bed, None, t);
    }

    /// `bed` is vacated at `t`: a new patient is admitted there 1–4 h later.
    fn vacate(&mut self, bed: usize, t: Micros) {
        self.occupant[bed] = None;
        let at = t + HOUR + self.rng.below(3 * HOUR as u64) as Micros;
        self.pending[bed] = Some(at);
        self.due.push(Reverse((at, bed)));
    }

    fn admit_due(&mut self, until: Micros) {
        while let Some(&Reverse((at, bed))) = self.due.peek() {
            if at > until {
                break;
            }
            self.due.pop();
            if self.pending[bed] == Some(at) {
                self.admit(bed, at);
            }
        }
    }

    fn occupied_bed(&mut self) -> usize {
        loop {
            let bed = self.rng.below(BEDS as u64) as usize;
            if self.occupant[bed].is_some() {
                return bed;
            }
        }
    }

    /// The events of the day from `start`: `discharges` and `transfers` (to a vacant bed) at
    /// random times, and the admissions to vacated beds that fall in the day.
    fn day(&mut self, start: Micros, discharges: usize, transfers: usize) -> Vec<AssociationEvent> {
        let mut times: Vec<(Micros, bool)> = (0..discharges + transfers)
            .map(|i| (start + self.rng.below(DAY as u64) as Micros, i < transfers))
            .collect();
        times.sort_unstable();
        for (t, transfer) in times {
            self.admit_due(t);
            let src = self.occupied_bed();
            let patient = self.occupant[src].unwrap_or_default();
            let vacant: Vec<usize> = (0..BEDS).filter(|&b| self.occupant[b].is_none()).collect();
            if transfer && !vacant.is_empty() {
                let dst = vacant[self.rng.below(vacant.len() as u64) as usize];
                self.occupant[dst] = Some(patient);
                self.pending[dst] = None;
                self.adt(AdtKind::Transfer, patient, dst, Some(src), t);
            } else {
                self.adt(AdtKind::Discharge, patient, src, None, t);
            }
            self.vacate(src, t);
        }
        self.admit_due(start + DAY - 1);
        std::mem::take(&mut self.events)
    }
}

/// A hub that applied `events` (one rebuild, as at start-up).
fn hub_of(events: &[AssociationEvent]) -> AssociationHub {
    let hub = AssociationHub::new(AssociationConfig::default());
    let summary = hub.replay(events.iter().cloned());
    assert_eq!((summary.applied, summary.redeliveries), (events.len() as u64, 0), "{:?}", summary.rejected);
    hub
}

/// Where a batch's readings come from.
#[derive(Clone, Copy)]
enum Pattern {
    /// Each reading from a random one of the 2,000 monitors at a random time of the day.
    RandomDevices,
    /// One monitor's readings, one a second (a SenML pack, or a serial line's batch).
    MonitorRun,
}

/// A batch of `readings` observations; `Display` is the bench id.
struct Scenario {
    pattern: Pattern,
    readings: usize,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pattern = match self.pattern {
            Pattern::RandomDevices => "random_devices",
            Pattern::MonitorRun => "monitor_run",
        };
        write!(f, "{pattern}_{}_readings_per_batch", self.readings)
    }
}

impl Scenario {
    /// The batch; a monitor run is `monitor`'s, from noon.
    fn batch(&self, hospital: &Hospital, monitor: &Arc<str>, catalogue: &Catalogue, rng: &mut Rng) -> Vec<Observation> {
        let metrics: Vec<_> = ["heart_rate", "spo2", "resp_rate", "nibp_sys", "temp"]
            .iter()
            .map(|n| Arc::clone(catalogue.by_name(n).unwrap_or_else(|| panic!("{n} is not in the catalogue"))))
            .collect();
        (0..self.readings)
            .map(|i| {
                let (device_id, time) = match self.pattern {
                    Pattern::RandomDevices => (
                        Arc::clone(&hospital.devices[rng.below(BEDS as u64) as usize]),
                        T0 + rng.below(DAY as u64) as Micros,
                    ),
                    Pattern::MonitorRun => (Arc::clone(monitor), NOON + (i / 5) as Micros * 1_000_000),
                };
                let metric = Arc::clone(&metrics[i % metrics.len()]);
                Observation {
                    time,
                    device_time: time,
                    received_at: time + 500_000,
                    device_id,
                    source_name: metric.name.clone(),
                    source_unit: Some(metric.unit.clone()),
                    metric,
                    value: 72.0,
                    source_value: 72.0,
                    flags: Flags::NONE,
                    patient_id: None,
                    encounter_id: None,
                    ward: None,
                    bed: None,
                    source: Source::Mqtt,
                }
            })
            .collect()
    }
}

/// `attach` on fresh batches (patient fields empty, as the normaliser leaves them); cloning
/// the batch is setup and dropping it afterwards is outside the timing.
fn attach_stage(c: &mut Criterion) {
    let mut hospital = Hospital::new();
    let mut events = std::mem::take(&mut hospital.events);
    events.extend(hospital.day(T0, 400, 200));
    let snapshot = hub_of(&events).snapshot();
    let catalogue = Catalogue::builtin();
    let mut rng = Rng(42);
    // A monitor whose bed is occupied from noon for the next 1,000 readings (200 s).
    let monitor = hospital
        .devices
        .iter()
        .find(|d| [NOON, NOON + 200_000_000].iter().all(|&t| matches!(snapshot.attach(d, t), Attach::Attached(_))))
        .unwrap_or_else(|| panic!("no bed is occupied at noon"));
    let mut group = c.benchmark_group("attach");
    for scenario in [
        Scenario { pattern: Pattern::RandomDevices, readings: 100 },
        Scenario { pattern: Pattern::RandomDevices, readings: 1000 },
        Scenario { pattern: Pattern::MonitorRun, readings: 100 },
        Scenario { pattern: Pattern::MonitorRun, readings: 1000 },
    ] {
        let batch = scenario.batch(&hospital, monitor, &catalogue, &mut rng);
        let mut expected = AttachCounts::default();
        for obs in &batch {
            match snapshot.attach(&obs.device_id, obs.time) {
                Attach::Attached(_) => expected.attached += 1,
                Attach::Unassociated => expected.unassociated += 1,
                Attach::Conflict(_) => expected.conflict += 1,
                Attach::UnknownDevice => expected.unknown_device += 1,
            }
        }
        let mut probe = batch.clone();
        assert_eq!(attach(&snapshot, &mut probe), expected, "{scenario}");
        assert!(expected.attached * 10 >= scenario.readings as u64 * 9, "{scenario}: {expected:?}");
        eprintln!("{scenario}: {expected:?}");
        group.throughput(Throughput::Elements(scenario.readings as u64));
        group.bench_function(scenario.to_string(), |b| {
            b.iter_batched(|| batch.clone(), |mut batch| (attach(&snapshot, &mut batch), batch), BatchSize::SmallInput)
        });
    }
    group.finish();
}

/// The hub's work per new event: `hub.apply` of the next day's events one by one on a hub that
/// holds the benchmarked day. The hub is rebuilt (untimed) whenever the next day runs out, so
/// every timed event meets a hub of the same size.
fn hub(c: &mut Criterion) {
    let mut hospital = Hospital::new();
    let mut day = std::mem::take(&mut hospital.events);
    day.extend(hospital.day(T0, 400, 200));
    let next_day = hospital.day(T0 + DAY, 400, 200);
    eprintln!("hub: {} events up to the end of the day, {} events the next day", day.len(), next_day.len());
    let mut group = c.benchmark_group("hub");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("apply_one_event_on_{BEDS}_beds"), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let hub = hub_of(&day);
                let round = left.min(next_day.len());
                let events: Vec<AssociationEvent> = next_day[..round].to_vec();
                let start = Instant::now();
                for event in events {
                    if let Err(rejected) = hub.apply(event) {
                        panic!("rejected: {rejected}");
                    }
                }
                timed += start.elapsed();
                left -= round;
            }
            timed
        })
    });
    group.sample_size(10);
    group.throughput(Throughput::Elements(day.len() as u64));
    group.bench_function(format!("replay_{}_events_on_{BEDS}_beds", day.len()), |b| b.iter(|| hub_of(&day)));
    group.finish();
}

criterion_group!(benches, attach_stage, hub);
criterion_main!(benches);
