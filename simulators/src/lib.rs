//! Realistic device simulators for wardstream: a ward of bedside monitors replaying real ICU
//! numerics as SenML JSON over MQTT.
//!
//! # Brief overview
//!
//! - [`adt_feed`] builds ADT admit/transfer/discharge messages and sends them over MLLP, reading
//!   the ACKs (the EMR side of the demo's admissions).
//! - [`wfdb`] reads PhysioNet WFDB records (text header, format-16 signal file), sans-I/O, and
//!   checks the header's checksums against the data.
//! - [`mimic`] turns a record into [`Numerics`]: per frame one `Option<f64>` per signal in
//!   physical units, `None` where the monitor recorded nothing. [`mimic2_numerics`] decodes the
//!   MIMIC-II record compiled into the crate (HR, ABP, PULSE, RESP, SpO2, NBP; one frame a
//!   minute, 1,936 frames; see `data/README.md` for source and licence).
//! - [`senml`] writes the SenML packs ([`senml_pack`]) and converts times exactly.
//! - [`ward`] runs the monitors: [`WardConfig`] → [`run_ward`] (or [`spawn_ward`] →
//!   [`WardHandle`]) → [`WardReport`], counting what was published and what the broker
//!   acknowledged; an optional [`Recorder`] lists every reading for set-equality tests.
//! - [`modbus`] is a Modbus slave (TCP, or RTU on a serial port or pty) on rmodbus's server
//!   side: a blood fridge and an incubator with moving values and fault injection
//!   ([`modbus::spawn_slave`] → [`modbus::SlaveHandle`], or [`modbus::run_slave`]).
//! - [`oximeter`] is a Masimo pulse oximeter on a serial port or pty: "ASCII 1" lines replaying
//!   the MIMIC-II SpO2 and pulse series, with fault injection ([`oximeter::run_oximeter`]; the
//!   `wardsim serial` binary), and a report of what a receiver must count.
//!
//! The demo starts a broker, then `spawn_ward(WardConfig::new(host, port))` (16 beds, one
//! frame a second) and stops it with [`WardHandle::stop`], printing the report; integration
//! tests run a few beds for a few frames with a recorder and compare with what was stored.
//!
//! ```
//! let numerics = wardstream_simulators::mimic2_numerics()?;
//! assert_eq!(numerics.frame_count(), 1936);
//! assert_eq!(numerics.signals()[0].name, "HR");
//! // Frame 1 has a heart rate of 62.8 /min and a respiration rate of 12.7 /min, nothing else.
//! let frame: Vec<_> = numerics.readings(1).map(|(s, v)| (s.name.as_str(), s.ucum_unit(), v)).collect();
//! assert_eq!(frame, [("HR", "beat/min", 62.8), ("RESP", "/min", 12.7)]);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod adt_feed;
pub mod mimic;
pub mod modbus;
pub mod oximeter;
pub mod pcd01;
pub mod senml;
pub mod ward;
pub mod wfdb;

pub use mimic::{Numerics, SignalInfo, mimic2_numerics};
pub use rumqttc::QoS;
pub use senml::senml_pack;
pub use ward::{BedReport, PublishedReading, Recorder, WardConfig, WardHandle, WardReport, run_ward, spawn_ward};
