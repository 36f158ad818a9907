//! The end-to-end load harness behind the `load` binary: a real Mosquitto, wardstream started
//! in-process, thousands of simulated devices publishing SenML over MQTT at a target rate or flat
//! out, and the figures the issue asks for as one JSON [`Report`].
//!
//! How the parts fit:
//! - [`options`]: the command line ([`LoadOptions`], [`Rate`], [`Durability`]).
//! - [`harness::run`]: one run, start to figures. It starts [`mosquitto::Mosquitto`] and the
//!   system under test ([`target`]), then the driver child process ([`child`] ↔ [`driver`]),
//!   which runs the [`publisher`] connections on the shared [`schedule`] with [`pack`] payloads,
//!   and the plain subscriber of the [`ceiling`]. Meanwhile the [`probes`] time publish →
//!   timeline and publish → live over the HTTP API ([`http`]), and [`progress`] follows the
//!   serving stage. [`procstat`] reads CPU and memory; [`latency`] summarises; [`report`] is the
//!   document.
//!
//! Publishers and the plain subscriber run in a child process so that the CPU and peak memory
//! of wardstream's process are its own (plus the probes' small HTTP clients).
//!
//! ```
//! use wardstream_bench::load::{LoadOptions, Rate, schedule::Schedule};
//! let options = LoadOptions::defaults();
//! assert_eq!((options.devices, options.rate), (2000, Rate::Target(20_000)));
//! // 2,000 devices × 10 readings a pack at 20,000 readings/s: each device once a second.
//! let schedule = Schedule::new(0, options.devices, options.readings_per_pack, options.rate);
//! assert_eq!(schedule.period_us, Some(1_000_000));
//! ```

pub mod ceiling;
pub mod child;
pub mod clock;
pub mod driver;
pub mod harness;
pub mod http;
pub mod latency;
pub mod mosquitto;
pub mod options;
pub mod pack;
pub mod probes;
pub mod procstat;
pub mod progress;
pub mod publisher;
pub mod report;
pub mod schedule;
pub mod target;

pub use options::{Durability, LoadOptions, Rate};
pub use report::Report;
