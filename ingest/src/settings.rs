//! The serving and durability sections of the configuration: `[wal]`, `[http]`,
//! `[associations]`, `[[devices]]`, `[hot]`, `[retention]`. Every field has a default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wardstream_pipeline::HotConfig;
use wardstream_pipeline::association::AssociationConfig;
use wardstream_storage::wal::WalConfig;

/// `[wal]`: the write-ahead log. With it on, MQTT messages are acknowledged only once their
/// readings are fsynced, and a crash loses nothing acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalSettings {
    /// Default true.
    pub enabled: bool,
    /// Directory of the segments; default `<storage.data_dir>/wal`.
    pub dir: Option<PathBuf>,
    /// Longest wait before an fsync covers a record, ms (at most 10). Default 5.
    pub group_commit_interval_ms: u64,
    /// Segment size before a new one starts, bytes. Default 64 MiB.
    pub segment_bytes: u64,
    /// How often segments whose rows are in Parquet are deleted, ms. Default 1000.
    pub checkpoint_interval_ms: u64,
}

impl Default for WalSettings {
    fn default() -> Self {
        let wal = WalConfig::default();
        WalSettings {
            enabled: true,
            dir: None,
            group_commit_interval_ms: wal.group_commit_interval_ms,
            segment_bytes: wal.segment_bytes,
            checkpoint_interval_ms: 1000,
        }
    }
}

impl WalSettings {
    /// The storage crate's configuration, with the directory resolved against `data_dir`.
    pub fn wal_config(&self, data_dir: &Path) -> WalConfig {
        WalConfig {
            dir: self.dir.clone().unwrap_or_else(|| data_dir.join("wal")),
            segment_bytes: self.segment_bytes,
            group_commit_interval_ms: self.group_commit_interval_ms,
        }
    }
}

/// `[http]`: the API server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Default true.
    pub enabled: bool,
    /// Listen address. Default `127.0.0.1:8080`.
    pub listen: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { enabled: true, listen: "127.0.0.1:8080".into() }
    }
}

/// `[associations]`: the association store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssociationSettings {
    /// Directory of the association log; default `<storage.data_dir>/associations`.
    pub dir: Option<PathBuf>,
    /// How far back before its receipt an event may re-attribute readings, hours. Default 24.
    pub retro_window_hours: u64,
}

impl Default for AssociationSettings {
    fn default() -> Self {
        AssociationSettings { dir: None, retro_window_hours: 24 }
    }
}

impl AssociationSettings {
    /// The log directory, resolved against `data_dir`.
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data_dir.join("associations"))
    }

    /// The pipeline's association settings.
    pub fn config(&self) -> AssociationConfig {
        AssociationConfig { retro_window: Duration::from_secs(self.retro_window_hours.saturating_mul(3600)) }
    }
}

/// `[[devices]]`: a device placed at a bed by configuration (from the service's start, unless it
/// is already placed there).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// The device id as its readings carry it.
    pub device_id: String,
    /// Ward (point of care).
    pub ward: String,
    /// Room (may be empty).
    #[serde(default)]
    pub room: String,
    /// Bed.
    pub bed: String,
}

/// `[hot]`: recent observations kept in memory for timelines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotSettings {
    /// Minutes kept per device. Default 15.
    pub window_minutes: u64,
    /// Most entries per device. Default 20000.
    pub max_per_device: usize,
}

impl Default for HotSettings {
    fn default() -> Self {
        let d = HotConfig::default();
        HotSettings { window_minutes: (d.window / 60_000_000) as u64, max_per_device: d.max_per_device }
    }
}

impl HotSettings {
    /// The pipeline's hot-store bounds.
    pub fn config(&self) -> HotConfig {
        HotConfig {
            window: (self.window_minutes as i64).saturating_mul(60_000_000),
            max_per_device: self.max_per_device.max(1),
        }
    }
}

/// `[retention]`: how long partitions are kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Whole UTC days kept, today included; none (the default) keeps everything.
    pub days: Option<u32>,
}
