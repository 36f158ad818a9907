//! The serving and durability sections of the configuration: `[wal]`, `[http]`,
//! `[associations]`, `[[devices]]`, `[hot]`, `[retention]`, `[compaction]`. Every field has a default.

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

/// `[http]`: the API server. It always requires authentication (`[auth]`); no CORS headers are
/// sent (browsers on other origins cannot call it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Default true.
    pub enabled: bool,
    /// Listen address. Default `127.0.0.1:8080`.
    pub listen: String,
    /// Largest request body accepted, bytes (larger: 413). Default 65536 (64 KiB).
    pub max_body_bytes: usize,
    /// PEM certificate (chain) for HTTPS; with `tls_key_file`, the API speaks only TLS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_key_file: Option<PathBuf>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            tls_cert_file: None,
            tls_key_file: None,
        }
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

/// `[compaction]`: merging each partition's small files into large sorted ones, periodically
/// in the service (and on demand with `wardstream compact`).
///
/// ```toml
/// [compaction]
/// enabled = true
/// interval_ms = 600000        # every 10 minutes
/// min_files = 8               # compact a partition once it has this many small files
/// target_file_bytes = 134217728
/// include_today = false       # past (UTC) days only
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionSettings {
    /// Whether the service compacts periodically. Default true.
    pub enabled: bool,
    /// Time between two compaction runs, ms (the first run starts one interval after start).
    /// Default 600000 (10 min).
    pub interval_ms: u64,
    /// A partition is compacted when it holds at least this many small files (at least 2).
    /// Default 8.
    pub min_files: usize,
    /// Files smaller than this many bytes are small. Default 128 MiB.
    pub target_file_bytes: u64,
    /// Most rows in one merged file. Default 8388608.
    pub max_rows_per_file: usize,
    /// Most files merged in one step (bounds memory). Default 64.
    pub max_input_files: usize,
    /// Also compact today's (UTC) partition, which the writer still adds to. Default false.
    pub include_today: bool,
    /// Longest a swap waits for running queries, ms. Default 5000.
    pub swap_timeout_ms: u64,
}

impl Default for CompactionSettings {
    fn default() -> Self {
        let c = wardstream_storage::compaction::CompactionConfig::default();
        CompactionSettings {
            enabled: true,
            interval_ms: 600_000,
            min_files: c.min_files,
            target_file_bytes: c.target_file_bytes,
            max_rows_per_file: c.max_rows_per_file,
            max_input_files: c.max_input_files,
            include_today: c.include_today,
            swap_timeout_ms: c.swap_timeout_ms,
        }
    }
}

impl CompactionSettings {
    /// The storage crate's configuration.
    pub fn config(&self) -> wardstream_storage::compaction::CompactionConfig {
        wardstream_storage::compaction::CompactionConfig {
            min_files: self.min_files,
            target_file_bytes: self.target_file_bytes,
            max_rows_per_file: self.max_rows_per_file,
            max_input_files: self.max_input_files,
            include_today: self.include_today,
            swap_timeout_ms: self.swap_timeout_ms,
            ..wardstream_storage::compaction::CompactionConfig::default()
        }
    }
}

/// `[privacy]`: de-identification for `analyst` SQL and `wardstream query --deidentified` (see
/// [`crate::deid`]). The pseudonym key comes from a file or an environment variable (never the
/// configuration itself, never logged); without one, analysts cannot query.
///
/// ```toml
/// [privacy]
/// pseudonym_key_file = "/etc/wardstream/pseudonym.key"   # e.g. `openssl rand -hex 32 > …`
/// # pseudonym_key_env = "WARDSTREAM_PSEUDONYM_KEY"
/// shift_times = false
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// File holding the pseudonym key (at least 16 bytes; surrounding whitespace trimmed).
    pub pseudonym_key_file: Option<PathBuf>,
    /// Environment variable holding the key (used when no file is set).
    pub pseudonym_key_env: Option<String>,
    /// Shift each patient's times by a keyed whole number of days. Default false.
    pub shift_times: bool,
}

impl PrivacySettings {
    /// The de-identifier, when a key is configured (`None` when neither source is set).
    pub fn deidentifier(&self) -> Result<Option<crate::deid::Deidentifier>, crate::deid::KeyError> {
        use crate::deid::Deidentifier;
        if let Some(file) = &self.pseudonym_key_file {
            return Deidentifier::from_key_file(file, self.shift_times).map(Some);
        }
        if let Some(var) = &self.pseudonym_key_env {
            return Deidentifier::from_env(var, self.shift_times).map(Some);
        }
        Ok(None)
    }
}

/// `[sql]`: limits of one SQL statement (`POST /api/v1/query`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlSettings {
    /// Longest a statement may run, seconds. Default 30.
    pub timeout_secs: u64,
    /// Most memory one statement's operators may hold, MiB (sorts, joins, aggregations; no
    /// spilling to disk). Default 512.
    pub memory_limit_mib: u64,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings { timeout_secs: 30, memory_limit_mib: 512 }
    }
}

impl SqlSettings {
    /// The engine's limits.
    pub fn limits(&self) -> crate::sql_api::SqlLimits {
        crate::sql_api::SqlLimits {
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            memory_limit_bytes: usize::try_from(self.memory_limit_mib.max(1).saturating_mul(1024 * 1024))
                .unwrap_or(usize::MAX),
        }
    }
}
