//! [`Config`]: everything `wardstream run` needs, read from TOML. Each section belongs to the
//! crate that uses it (`StorageConfig` to storage, `MqttConfig` to protocols); this file only
//! gathers them and adds the hot-path sizes.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use wardstream_pipeline::FlowConfig;
use wardstream_protocols::mqtt::MqttConfig;
use wardstream_storage::StorageConfig;

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
}

/// Sizes of the hot path (`[pipeline]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Capacity of each queue, in batches. Default 1024.
    pub queue_capacity: usize,
    /// Normaliser threads. Default 1.
    pub workers: usize,
    /// How often the writer looks for buffers due to be flushed, in milliseconds. Default 100.
    pub tick_ms: u64,
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

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_capacity: default_queue_capacity(),
            workers: default_workers(),
            tick_ms: default_tick_ms(),
        }
    }
}

impl PipelineConfig {
    /// The pipeline crate's view of these sizes.
    pub fn flow(&self) -> FlowConfig {
        FlowConfig {
            queue_capacity: self.queue_capacity,
            workers: self.workers,
            tick: Duration::from_millis(self.tick_ms.max(1)),
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
