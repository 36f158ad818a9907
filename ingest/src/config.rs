//! [`Config`]: everything `wardstream run` needs, read from TOML. Each section belongs to the
//! crate that uses it (`StorageConfig` to storage, `MqttConfig` to protocols); this file only
//! gathers them and adds the hot-path sizes.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use wardstream_pipeline::{ConditioningConfig, FlowConfig};
use wardstream_protocols::mqtt::MqttConfig;
use wardstream_storage::StorageConfig;

pub use crate::settings::{
    AssociationSettings, CompactionSettings, DeviceEntry, HotSettings, HttpSettings, RetentionSettings, WalSettings,
};

/// The commented example configuration printed by `wardstream config example`.
pub const EXAMPLE: &str = include_str!("../wardstream.example.toml");

/// The service configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where and how tables are written.
    pub storage: StorageConfig,
    /// Sizes of the hot path.
    pub pipeline: PipelineConfig,
    /// One entry per MQTT broker connection (`[[mqtt]]`).
    pub mqtt: Vec<MqttConfig>,
    /// Metrics and vendor aliases this site adds to the built-in catalogue (`[catalogue]`).
    #[serde(default)]
    pub catalogue: wardstream_pipeline::CatalogueConfig,
    /// The write-ahead log (`[wal]`).
    pub wal: WalSettings,
    /// The HTTP API (`[http]`).
    pub http: HttpSettings,
    /// Who may call the HTTP API (`[auth]`): required when the API is on.
    pub auth: crate::auth::AuthSettings,
    /// The association store (`[associations]`).
    pub associations: AssociationSettings,
    /// Devices placed at beds by configuration (`[[devices]]`).
    pub devices: Vec<DeviceEntry>,
    /// Recent observations in memory (`[hot]`).
    pub hot: HotSettings,
    /// How long partitions are kept (`[retention]`).
    pub retention: RetentionSettings,
    /// Merging small Parquet files into large sorted ones (`[compaction]`).
    pub compaction: CompactionSettings,
    /// De-identification for analysts (`[privacy]`).
    pub privacy: crate::settings::PrivacySettings,
    /// Limits of one SQL statement (`[sql]`).
    pub sql: crate::settings::SqlSettings,
    /// The ADT (HL7 over MLLP) listener, when configured (`[adt]`).
    pub adt: Option<crate::adt_listener::AdtSettings>,
    /// The PCD-01 (HL7 ORU^R01 over MLLP) listener for device gateways, when configured (`[pcd01]`).
    pub pcd01: Option<crate::pcd01_listener::Pcd01Settings>,
    /// One entry per serial port (`[[serial]]`: bedside monitors, oximeters).
    pub serial: Vec<wardstream_protocols::serial::SerialConfig>,
    /// Modbus devices and their register maps (`[modbus]`), when configured.
    pub modbus: Option<wardstream_protocols::modbus::ModbusConfig>,
}

/// Sizes of the hot path, de-duplication and clock-skew handling (`[pipeline]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Capacity of each queue, in batches. Default 1024.
    pub queue_capacity: usize,
    /// Normaliser threads. Default 1.
    pub workers: usize,
    /// How often the writer looks for buffers due to be flushed, in milliseconds. Default 100.
    pub tick_ms: u64,
    /// A device whose clock is persistently off by more than this (either way) has its readings'
    /// `time` corrected, in milliseconds. Default 120000 (2 min).
    pub clock_skew_threshold_ms: u64,
    /// Readings per device the clock skew is estimated over (records of one message count
    /// once). Default 32; at least 1.
    pub clock_skew_window_readings: usize,
    /// Readings a device must have sent before its clock is judged ("persistently" off).
    /// Default 8; 1 to `clock_skew_window_readings`.
    pub clock_skew_min_readings: usize,
    /// Devices whose clocks are tracked at once; past it the least recently seen are forgotten.
    /// Default 10000.
    pub clock_skew_max_devices: usize,
    /// A reading whose (corrected) time is further ahead of its receipt than this is flagged
    /// `future_time`, in milliseconds. Default 30000.
    pub future_tolerance_ms: u64,
    /// How long after its receipt a reading is remembered to catch redeliveries, in
    /// milliseconds. Default 300000 (5 min).
    pub dedup_window_ms: u64,
    /// Most readings remembered for de-duplication (about 100 bytes each); at the cap the oldest
    /// are forgotten early. Default 500000.
    pub dedup_max_keys: usize,
}

/// Default [`PipelineConfig::queue_capacity`].
pub const fn default_queue_capacity() -> usize {
    1024
}

/// Default [`PipelineConfig::workers`].
pub const fn default_workers() -> usize {
    1
}

/// Default [`PipelineConfig::tick_ms`].
pub const fn default_tick_ms() -> u64 {
    100
}

/// Default [`PipelineConfig::clock_skew_threshold_ms`] (the pipeline's default, 2 min).
pub const fn default_clock_skew_threshold_ms() -> u64 {
    ConditioningConfig::DEFAULT_CLOCK_SKEW_THRESHOLD.as_millis() as u64
}

/// Default [`PipelineConfig::clock_skew_window_readings`].
pub const fn default_clock_skew_window_readings() -> usize {
    ConditioningConfig::DEFAULT_CLOCK_SKEW_WINDOW
}

/// Default [`PipelineConfig::clock_skew_min_readings`].
pub const fn default_clock_skew_min_readings() -> usize {
    ConditioningConfig::DEFAULT_CLOCK_SKEW_MIN_READINGS
}

/// Default [`PipelineConfig::clock_skew_max_devices`].
pub const fn default_clock_skew_max_devices() -> usize {
    ConditioningConfig::DEFAULT_CLOCK_SKEW_MAX_DEVICES
}

/// Default [`PipelineConfig::future_tolerance_ms`] (30 s).
pub const fn default_future_tolerance_ms() -> u64 {
    ConditioningConfig::DEFAULT_FUTURE_TOLERANCE.as_millis() as u64
}

/// Default [`PipelineConfig::dedup_window_ms`] (5 min).
pub const fn default_dedup_window_ms() -> u64 {
    ConditioningConfig::DEFAULT_DEDUP_WINDOW.as_millis() as u64
}

/// Default [`PipelineConfig::dedup_max_keys`].
pub const fn default_dedup_max_keys() -> usize {
    ConditioningConfig::DEFAULT_DEDUP_MAX_KEYS
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_capacity: default_queue_capacity(),
            workers: default_workers(),
            tick_ms: default_tick_ms(),
            clock_skew_threshold_ms: default_clock_skew_threshold_ms(),
            clock_skew_window_readings: default_clock_skew_window_readings(),
            clock_skew_min_readings: default_clock_skew_min_readings(),
            clock_skew_max_devices: default_clock_skew_max_devices(),
            future_tolerance_ms: default_future_tolerance_ms(),
            dedup_window_ms: default_dedup_window_ms(),
            dedup_max_keys: default_dedup_max_keys(),
        }
    }
}

impl PipelineConfig {
    /// The pipeline crate's view of these settings. Counts below their minimum are raised to it
    /// (and `clock_skew_min_readings` capped at the window) by the pipeline.
    pub fn flow(&self) -> FlowConfig {
        FlowConfig {
            queue_capacity: self.queue_capacity,
            workers: self.workers,
            tick: Duration::from_millis(self.tick_ms.max(1)),
            conditioning: ConditioningConfig {
                clock_skew_threshold: Duration::from_millis(self.clock_skew_threshold_ms),
                clock_skew_window: self.clock_skew_window_readings,
                clock_skew_min_readings: self.clock_skew_min_readings,
                clock_skew_max_devices: self.clock_skew_max_devices,
                future_tolerance: Duration::from_millis(self.future_tolerance_ms),
                dedup_window: Duration::from_millis(self.dedup_window_ms),
                dedup_max_keys: self.dedup_max_keys,
            },
            journal: None,
            dedup_seed: None,
        }
    }
}

impl Config {
    /// Reads and checks a TOML configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses and checks a TOML configuration.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: sizes, URLs, duplicate client ids.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.storage.validate()?;
        self.wal.wal_config(&self.storage.data_dir).validate()?;
        if self.http.enabled {
            self.http
                .listen
                .parse::<std::net::SocketAddr>()
                .with_context(|| format!("http.listen {:?}", self.http.listen))?;
        }
        if let Some(adt) = &self.adt {
            adt.mllp().validate().context("adt")?;
            wardstream_pipeline::LocalClock::new(&adt.time_zone)
                .with_context(|| format!("adt.time_zone {:?}", adt.time_zone))?;
        }
        if let Some(pcd01) = &self.pcd01 {
            pcd01.mllp().validate().context("pcd01")?;
            wardstream_pipeline::LocalClock::new(&pcd01.time_zone)
                .with_context(|| format!("pcd01.time_zone {:?}", pcd01.time_zone))?;
        }
        for (i, serial) in self.serial.iter().enumerate() {
            serial.validate().with_context(|| format!("serial[{i}]"))?;
        }
        if let Some(modbus) = &self.modbus {
            modbus.validate().context("modbus")?;
        }
        self.compaction.config().validate().context("compaction")?;
        anyhow::ensure!(self.compaction.interval_ms >= 10, "compaction.interval_ms must be at least 10");
        if let Some(days) = self.retention.days {
            anyhow::ensure!(days >= 1, "retention.days must be at least 1");
        }
        anyhow::ensure!(self.pipeline.queue_capacity > 0, "pipeline.queue_capacity must be at least 1");
        anyhow::ensure!(self.pipeline.workers > 0, "pipeline.workers must be at least 1");
        for (i, mqtt) in self.mqtt.iter().enumerate() {
            mqtt.mqtt_options().with_context(|| format!("mqtt[{i}]"))?;
            let clash = self.mqtt[..i].iter().any(|m| m.url == mqtt.url && m.client_id == mqtt.client_id);
            anyhow::ensure!(!clash, "mqtt[{i}]: client_id {:?} is used twice on {}", mqtt.client_id, mqtt.url);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_to_the_defaults() {
        let config = Config::parse(EXAMPLE).unwrap();
        assert_eq!(config.storage, StorageConfig::default());
        assert_eq!(config.pipeline, PipelineConfig::default());
        assert_eq!(config.mqtt, vec![MqttConfig::default()]);
        assert_eq!(
            (&config.wal, &config.http, &config.associations, &config.hot, &config.retention),
            (
                &WalSettings::default(),
                &HttpSettings::default(),
                &AssociationSettings::default(),
                &HotSettings::default(),
                &RetentionSettings::default()
            )
        );
        assert_eq!(
            (config.adt.is_none(), config.devices.len(), config.serial.len(), config.modbus.is_none()),
            (true, 0, 0, true)
        );
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err = Config::parse("[storage]\nflush_intervl_ms = 5\n").unwrap_err();
        assert!(format!("{err:#}").contains("unknown field `flush_intervl_ms`"), "{err:#}");
        assert!(Config::parse("[nope]\n").is_err());
    }

    #[test]
    fn invalid_values_are_refused() {
        assert!(Config::parse("[pipeline]\nworkers = 0\n").is_err());
        assert!(Config::parse("[[mqtt]]\nurl = \"http://x\"\n").is_err());
        let twice = "[[mqtt]]\nclient_id = \"a\"\n[[mqtt]]\nclient_id = \"a\"\n";
        assert!(format!("{:#}", Config::parse(twice).unwrap_err()).contains("used twice"));
    }
}
