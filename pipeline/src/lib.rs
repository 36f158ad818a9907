//! # wardstream-pipeline: the domain and the hot path
//!
//! Everything wardstream knows about readings, independent of any wire or file format. No
//! module here opens a socket or a file.
//!
//! - [`RawReading`]: what a driver saw (device, name, value, unit, device time, receive time,
//!   source, a reference to the raw bytes). Drivers in `wardstream-protocols` produce them.
//! - [`Catalogue`]: the one table of metrics (name, IEEE 11073 MDC code, LOINC, UCUM unit,
//!   plausible range) with the aliases devices really send, built into the binary.
//! - [`units`]: unit aliases and conversion into each metric's canonical UCUM unit.
//! - [`device_quality`]: device no-value markers, IEEE 11073 FLOAT/SFLOAT special values, HL7
//!   OBX-8/OBX-11 and Masimo exception bits, turned into quality [`Flags`] or "no value".
//! - [`Normaliser`]: turns a [`RawReading`] into an [`Observation`] or a [`DeadLetter`] with a
//!   [`Reason`]; bad input is never dropped silently.
//! - [`flow`]: the threaded hot path. Drivers push [`IngestBatch`]es into a bounded
//!   crossbeam queue through an [`Inlet`]; normaliser threads turn them into [`StoreBatch`]es
//!   for one writer thread that owns a [`Sink`] (the Parquet store in `wardstream-storage`).
//!   Every queue is bounded: a full queue blocks the producer (back-pressure), nothing is dropped.
//! - [`Conditioner`] ([`conditioning`]): turns repeated readings into `duplicate` dead letters
//!   and corrects the time of devices whose clocks are persistently off; on the normaliser
//!   thread when there is exactly one normaliser (the default), on the writer thread when there
//!   are several.
//! - [`HotStore`] ([`hot`]): the recent observations of every device in memory, for timelines.
//! - [`association`]: who was in which bed and which device served it, over time; the
//!   immutable snapshot the hot path attaches readings with.
//! - [`Feed`] ([`feed`]): how drivers hand batches in — directly, or through a durable
//!   [`Journal`] (the WAL) that tells them when to acknowledge.
//! - [`SeqTracker`] ([`journal`]): which write-ahead-log records are safely in Parquet.
//! - [`time`]: UTC microseconds, HL7 v2 timestamps and [`LocalClock`] (IANA zones, DST-safe).
//!
//! ```
//! use std::sync::Arc;
//! use wardstream_pipeline::{Catalogue, Normaliser, RawReading, RawValue, Source, Status};
//!
//! let normaliser = Normaliser::new(Arc::new(Catalogue::builtin()));
//! let raw = RawReading {
//!     device_id: Arc::from("monitor-7"),
//!     name: "HR".into(),
//!     value: RawValue::Number(72.0),
//!     unit: Some("beat/min".into()),
//!     device_time: 1_700_000_000_000_000,
//!     received_at: 1_700_000_000_100_000,
//!     source: Source::Mqtt,
//!     origin: Arc::from("ward/3/monitor-7"),
//!     raw: Arc::from(&b"..."[..]),
//!     flags: wardstream_pipeline::Flags::NONE,
//! };
//! let obs = normaliser.normalise(raw).unwrap();
//! assert_eq!(obs.metric.name, "heart_rate");
//! assert_eq!((obs.value, obs.metric.unit.as_str()), (72.0, "/min"));
//! assert_eq!(obs.status(), Status::Valid);
//! ```

pub mod association;
pub mod catalogue;
pub mod catalogue_config;
pub mod conditioning;
pub mod dead_letter;
pub mod device_quality;
pub mod feed;
pub mod flow;
pub mod hot;
pub mod journal;
pub mod normalise;
pub mod observation;
pub mod reading;
pub mod stats;
pub mod time;
pub mod units;

pub use catalogue::{Catalogue, CatalogueError, Metric};
pub use catalogue_config::{CatalogueConfig, SiteMetric};
pub use conditioning::{ConditionCounts, Conditioner, ConditioningConfig};
pub use dead_letter::{DeadLetter, Reason};
pub use device_quality::{DeviceNumber, Verdict};
pub use feed::{Feed, FeedError, Journal};
pub use flow::{BatchStage, DedupSeed, FlowConfig, IngestBatch, Inlet, Pipeline, Sink, SinkError, StoreBatch};
pub use hot::{HotConfig, HotEntry, HotStore};
pub use journal::SeqTracker;
pub use normalise::Normaliser;
pub use observation::{Flag, Flags, Observation, Status};
pub use reading::{RawReading, RawValue, Source};
pub use stats::PipelineStats;
pub use time::{Clock, Hl7Timestamp, LocalClock, Micros, SystemClock, TimeError};
