//! [`WalConfig`]: where the write-ahead log lives, how large its segments grow and how often
//! it fsyncs (group commit).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::WalError;

/// Configuration of the write-ahead log (the `[wal]` section of the service config).
///
/// ```toml
/// [wal]
/// dir = "/var/lib/wardstream/wal"   # segment files and the checkpoint
/// segment_bytes = 67108864          # a new segment once the current one would exceed this
/// group_commit_interval_ms = 5      # at most one fsync this often while records are pending
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// Directory of the segment files (`<first_lsn:020>.wal`) and the `checkpoint` file.
    /// Created (durably) when missing. Default `./wardstream-data/wal`.
    pub dir: PathBuf,
    /// A segment is closed and a new one started when the next record would make it larger
    /// than this (a single larger record gets a segment of its own). Default 64 MiB.
    pub segment_bytes: u64,
    /// Group commit: while records are pending, the log fsyncs at most this often, and one
    /// fsync covers every record appended before it. 0 fsyncs as soon as anything is pending.
    /// At most 10. Default 5.
    pub group_commit_interval_ms: u64,
}

/// Default [`WalConfig::dir`].
pub const DEFAULT_WAL_DIR: &str = "./wardstream-data/wal";

/// Default [`WalConfig::segment_bytes`].
pub const fn default_segment_bytes() -> u64 {
    64 * 1024 * 1024
}

/// Default [`WalConfig::group_commit_interval_ms`].
pub const fn default_group_commit_interval_ms() -> u64 {
    5
}

/// Largest accepted [`WalConfig::group_commit_interval_ms`]: acks must not wait longer.
pub const MAX_GROUP_COMMIT_INTERVAL_MS: u64 = 10;

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            dir: PathBuf::from(DEFAULT_WAL_DIR),
            segment_bytes: default_segment_bytes(),
            group_commit_interval_ms: default_group_commit_interval_ms(),
        }
    }
}

impl WalConfig {
    /// Defaults with the given directory.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        WalConfig { dir: dir.as_ref().to_path_buf(), ..WalConfig::default() }
    }

    /// A configuration for tests: the given directory, 64 KiB segments, 1 ms group commit.
    pub fn test_config(dir: impl AsRef<Path>) -> Self {
        WalConfig { dir: dir.as_ref().to_path_buf(), segment_bytes: 64 * 1024, group_commit_interval_ms: 1 }
    }

    /// [`WalConfig::group_commit_interval_ms`] as a [`Duration`].
    pub const fn group_commit_interval(&self) -> Duration {
        Duration::from_millis(self.group_commit_interval_ms)
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), WalError> {
        if self.dir.as_os_str().is_empty() {
            return Err(WalError::Config("dir must not be empty".into()));
        }
        if self.segment_bytes == 0 {
            return Err(WalError::Config("segment_bytes must be at least 1".into()));
        }
        if self.group_commit_interval_ms > MAX_GROUP_COMMIT_INTERVAL_MS {
            return Err(WalError::Config(format!(
                "group_commit_interval_ms must be at most {MAX_GROUP_COMMIT_INTERVAL_MS}, not {}",
                self.group_commit_interval_ms
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones_and_unknown_keys_are_rejected() {
        let c: WalConfig = toml::from_str("dir = \"/var/lib/ws/wal\"").unwrap();
        assert_eq!(
            c,
            WalConfig { dir: "/var/lib/ws/wal".into(), segment_bytes: 67_108_864, group_commit_interval_ms: 5 }
        );
        assert!(c.validate().is_ok());
        let err = toml::from_str::<WalConfig>("group_commit_interval = 5").unwrap_err();
        assert!(err.to_string().contains("unknown field `group_commit_interval`"), "{err}");
    }

    #[test]
    fn intervals_above_ten_ms_and_zero_segments_are_rejected() {
        let c = WalConfig { group_commit_interval_ms: 11, ..WalConfig::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid WAL configuration: group_commit_interval_ms must be at most 10, not 11"
        );
        let c = WalConfig { segment_bytes: 0, ..WalConfig::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid WAL configuration: segment_bytes must be at least 1"
        );
    }
}
