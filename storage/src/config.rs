//! [`StorageConfig`]: where the tables live and when buffered rows become files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Configuration of the Parquet store (the `[storage]` section of the service config).
///
/// ```toml
/// [storage]
/// data_dir = "/var/lib/wardstream"   # tables go in <data_dir>/vitals and <data_dir>/dead_letters
/// flush_interval_ms = 5000           # a reading is queryable at most this long after it arrives
/// max_rows_per_file = 1000000        # a buffer this large is written at once
/// row_group_rows = 131072            # rows per Parquet row group
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Root directory of the tables: `<data_dir>/vitals/date=YYYY-MM-DD/*.parquet` and
    /// `<data_dir>/dead_letters/date=YYYY-MM-DD/*.parquet`. Default `./wardstream-data`.
    pub data_dir: PathBuf,
    /// Longest time a row waits in memory before it is written to a file and becomes
    /// queryable, in milliseconds (checked on every `tick`). Default 5000.
    pub flush_interval_ms: u64,
    /// Most rows in one file; a buffer (one table, one date) that reaches this many rows is
    /// written at once. Default 1 000 000.
    pub max_rows_per_file: usize,
    /// Most rows in one Parquet row group (the unit of statistics-based pruning). Default
    /// 131 072.
    pub row_group_rows: usize,
}

/// Default [`StorageConfig::data_dir`].
pub const DEFAULT_DATA_DIR: &str = "./wardstream-data";

/// Default [`StorageConfig::flush_interval_ms`].
pub const fn default_flush_interval_ms() -> u64 {
    5_000
}

/// Default [`StorageConfig::max_rows_per_file`].
pub const fn default_max_rows_per_file() -> usize {
    1_000_000
}

/// Default [`StorageConfig::row_group_rows`].
pub const fn default_row_group_rows() -> usize {
    128 * 1024
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            flush_interval_ms: default_flush_interval_ms(),
            max_rows_per_file: default_max_rows_per_file(),
            row_group_rows: default_row_group_rows(),
        }
    }
}

impl StorageConfig {
    /// A configuration for tests: the given directory, a 50 ms flush interval, 1000 rows per
    /// file and 100 rows per row group.
    pub fn test_config(data_dir: impl AsRef<Path>) -> Self {
        StorageConfig {
            data_dir: data_dir.as_ref().to_path_buf(),
            flush_interval_ms: 50,
            max_rows_per_file: 1_000,
            row_group_rows: 100,
        }
    }

    /// [`StorageConfig::flush_interval_ms`] as a [`Duration`].
    pub const fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    /// Checks the sizes are usable (not zero).
    pub fn validate(&self) -> Result<()> {
        if self.max_rows_per_file == 0 {
            return Err(Error::Config("max_rows_per_file must be at least 1".into()));
        }
        if self.row_group_rows == 0 {
            return Err(Error::Config("row_group_rows must be at least 1".into()));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(Error::Config("data_dir must not be empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = StorageConfig::default();
        assert_eq!(c.data_dir, PathBuf::from("./wardstream-data"));
        assert_eq!((c.flush_interval_ms, c.max_rows_per_file, c.row_group_rows), (5_000, 1_000_000, 131_072));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_partial_config_takes_defaults_and_unknown_keys_are_rejected() {
        let c: StorageConfig = toml::from_str("data_dir = \"/var/lib/ws\"\nflush_interval_ms = 1000").unwrap();
        let expected =
            StorageConfig { data_dir: "/var/lib/ws".into(), flush_interval_ms: 1_000, ..StorageConfig::default() };
        assert_eq!(c, expected);
        let err = toml::from_str::<StorageConfig>("flush_interval = 1000").unwrap_err();
        assert!(err.to_string().contains("unknown field `flush_interval`"), "{err}");
    }

    #[test]
    fn zero_sizes_are_rejected() {
        let c = StorageConfig { max_rows_per_file: 0, ..StorageConfig::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid storage configuration: max_rows_per_file must be at least 1"
        );
        let c = StorageConfig { row_group_rows: 0, ..StorageConfig::default() };
        assert!(c.validate().is_err());
    }
}
