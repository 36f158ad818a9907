//! # wardstream-ingest: the `wardstream` binary's building blocks
//!
//! - [`config::Config`]: the service configuration (TOML, `deny_unknown_fields`), with a commented
//!   example printed by `wardstream config example`.
//! - [`service::Service`]: starts the Parquet store, the hot path and the MQTT drivers in
//!   dependency order, and stops them in reverse order, flushing everything buffered.
//! - [`broker::EmbeddedBroker`]: an in-process rumqttd MQTT broker on a loopback port, for the demo.
//! - [`demo`]: `wardstream demo`, a simulated ward replaying real ICU numerics end to end.
//! - [`query`]: `wardstream query`, SQL over the stored tables.
//! - [`quality`]: `wardstream quality`, the defect report per device and per metric.
//!
//! Domain logic lives below, in `wardstream-pipeline`, `wardstream-protocols` and
//! `wardstream-storage`; this crate wires them together.
//!
//! ```
//! let config: wardstream_ingest::config::Config = toml::from_str(wardstream_ingest::config::EXAMPLE)?;
//! assert_eq!(config.mqtt.len(), 1);
//! # Ok::<(), toml::de::Error>(())
//! ```

pub mod adt_listener;
pub mod api;
pub mod associations;
pub mod audit;
pub mod auth;
pub mod broker;
pub mod columns;
pub mod compaction_task;
pub mod config;
pub mod deid;
pub mod demo;
pub mod demo_adt;
pub mod device_board;
pub mod driver_state;
pub mod journal;
pub mod metrics;
pub mod pcd01_listener;
pub mod pcd01_serial;
pub mod quality;
pub mod query;
pub mod recovery;
pub mod replay_flush;
pub mod service;
pub mod serving;
pub mod settings;
pub mod sql_api;
pub mod sql_view;
pub mod timeline;
pub mod tls;

pub use config::Config;
pub use service::{Service, ServiceStats};
