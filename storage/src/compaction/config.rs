//! [`CompactionConfig`]: which partitions are compacted and how large the merged files get.

use serde::Deserialize;

use super::error::{CompactionError, Result};

/// Configuration of compaction (the `[compaction]` section of the service config).
///
/// ```toml
/// [compaction]
/// min_files = 8                      # compact a partition once it has this many small files
/// target_file_bytes = 134217728      # files smaller than this (128 MiB) are "small"
/// max_rows_per_file = 8388608        # merged files hold at most this many rows
/// row_group_rows = 1048576           # rows per row group of merged files
/// zstd_level = 9                     # zstd level of merged files (1–22)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// A partition is compacted when it holds at least this many small files (at least 2).
    /// Default 8.
    pub min_files: usize,
    /// A file is small, and so a candidate for merging, when it is smaller than this many bytes
    /// and holds fewer than [`max_rows_per_file`](Self::max_rows_per_file) rows (a file that
    /// is full is never rewritten, so compaction converges). Default 128 MiB.
    pub target_file_bytes: u64,
    /// Most rows in one merged file. Default 8 388 608.
    pub max_rows_per_file: usize,
    /// Rows per Parquet row group of merged files. Default 1 048 576: eight times the writer's,
    /// since merged files are large and read often; fewer column chunks and a smaller footer
    /// save ~0.05 bytes a reading, and page indexes keep pruning fine-grained.
    pub row_group_rows: usize,
    /// zstd level of merged files, 1–22. Default 9: compaction runs off the ingest path, so it
    /// spends more CPU than the writer (level 3) for smaller files (`value` 0.24 → 0.20 bytes a
    /// reading on BENCHMARKS.md's data set).
    pub zstd_level: i32,
    /// Rows per record batch read from each input file and written to the output: with
    /// `k` input files, the merge holds at most `(k + 1) * batch_rows` rows. Default 8192.
    pub batch_rows: usize,
    /// Most files merged in one step; a partition with more candidates is merged in several
    /// steps of at most this many files (it bounds the memory above). Default 64.
    pub max_input_files: usize,
    /// Whether [`compact_all`](super::compact_all) also compacts today's (UTC) partition and
    /// later ones, which the writer is still adding files to. Files written during a
    /// compaction are never touched either way. Default false.
    pub include_today: bool,
    /// Rewrite every file of a partition, whatever its size (e.g. after changing the row
    /// group size or the writer's encodings); `min_files` does not apply. Default false.
    pub rewrite_all: bool,
    /// How long a swap waits for running queries to finish (the exclusive read lock) before
    /// it gives up, removes what it staged and reports an error, in milliseconds. New queries
    /// wait while a swap waits, so this is also the longest a query can be held up by a
    /// compaction. Default 5000.
    pub swap_timeout_ms: u64,
}

/// Default [`CompactionConfig::min_files`].
pub const fn default_min_files() -> usize {
    8
}

/// Default [`CompactionConfig::target_file_bytes`].
pub const fn default_target_file_bytes() -> u64 {
    128 * 1024 * 1024
}

/// Default [`CompactionConfig::max_rows_per_file`].
pub const fn default_max_rows_per_file() -> usize {
    8 * 1024 * 1024
}

/// Default [`CompactionConfig::row_group_rows`].
pub const fn default_row_group_rows() -> usize {
    1024 * 1024
}

/// Default [`CompactionConfig::zstd_level`].
pub const fn default_zstd_level() -> i32 {
    9
}

/// Default [`CompactionConfig::batch_rows`].
pub const fn default_batch_rows() -> usize {
    8 * 1024
}

/// Default [`CompactionConfig::max_input_files`].
pub const fn default_max_input_files() -> usize {
    64
}

/// Default [`CompactionConfig::swap_timeout_ms`].
pub const fn default_swap_timeout_ms() -> u64 {
    5_000
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            min_files: default_min_files(),
            target_file_bytes: default_target_file_bytes(),
            max_rows_per_file: default_max_rows_per_file(),
            row_group_rows: default_row_group_rows(),
            zstd_level: default_zstd_level(),
            batch_rows: default_batch_rows(),
            max_input_files: default_max_input_files(),
            include_today: false,
            rewrite_all: false,
            swap_timeout_ms: default_swap_timeout_ms(),
        }
    }
}

impl CompactionConfig {
    /// A configuration for tests: 2 files suffice, 1000 rows per file, 100 rows per row group
    /// and per batch.
    pub fn test_config() -> Self {
        CompactionConfig {
            min_files: 2,
            max_rows_per_file: 1_000,
            row_group_rows: 100,
            batch_rows: 100,
            ..CompactionConfig::default()
        }
    }

    /// [`CompactionConfig::swap_timeout_ms`] as a [`Duration`](std::time::Duration).
    pub const fn swap_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.swap_timeout_ms)
    }

    /// Checks the numbers are usable.
    pub fn validate(&self) -> Result<()> {
        let problem = if self.min_files < 2 {
            "min_files must be at least 2"
        } else if self.max_input_files < 2 {
            "max_input_files must be at least 2"
        } else if self.max_rows_per_file == 0 {
            "max_rows_per_file must be at least 1"
        } else if self.row_group_rows == 0 {
            "row_group_rows must be at least 1"
        } else if !(1..=22).contains(&self.zstd_level) {
            "zstd_level must be between 1 and 22"
        } else if self.batch_rows == 0 {
            "batch_rows must be at least 1"
        } else {
            return Ok(());
        };
        Err(CompactionError::Config(problem.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = CompactionConfig::default();
        assert_eq!((c.min_files, c.target_file_bytes, c.max_rows_per_file), (8, 134_217_728, 8_388_608));
        assert_eq!((c.row_group_rows, c.batch_rows, c.max_input_files), (1_048_576, 8_192, 64));
        assert_eq!(c.zstd_level, 9);
        assert_eq!((c.include_today, c.rewrite_all, c.swap_timeout_ms), (false, false, 5_000));
        assert!(c.validate().is_ok() && CompactionConfig::test_config().validate().is_ok());
    }

    #[test]
    fn a_partial_config_takes_defaults_and_unknown_keys_are_rejected() {
        let c: CompactionConfig = toml::from_str("min_files = 4\ninclude_today = true").unwrap();
        assert_eq!(c, CompactionConfig { min_files: 4, include_today: true, ..CompactionConfig::default() });
        let err = toml::from_str::<CompactionConfig>("min_file = 4").unwrap_err();
        assert!(err.to_string().contains("unknown field `min_file`"), "{err}");
    }

    #[test]
    fn unusable_numbers_are_rejected_with_their_name() {
        let c = CompactionConfig { min_files: 1, ..CompactionConfig::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid compaction configuration: min_files must be at least 2"
        );
        let c = CompactionConfig { batch_rows: 0, ..CompactionConfig::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid compaction configuration: batch_rows must be at least 1"
        );
    }
}
