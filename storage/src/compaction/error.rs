//! [`CompactionError`], what can stop a compaction, and its [`Result`] alias.
//!
//! Whatever the error, a failed compaction leaves the partition as it found it: the staged
//! files are removed and the old files stay (or, once the swap has begun, the intent file lets
//! recovery finish or undo it).

use std::path::PathBuf;

use super::swap::Step;

/// Why a compaction failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactionError {
    /// Reading, writing or renaming files failed.
    #[error(transparent)]
    Storage(#[from] crate::Error),
    /// Arrow failed while merging batches.
    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A Parquet file could not be read or written.
    #[error("Parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// An input file does not have the table's columns (it was not written by wardstream).
    #[error("{} does not have the columns of table {table}: {detail}", path.display())]
    SchemaMismatch {
        /// The file.
        path: PathBuf,
        /// Its table.
        table: crate::Table,
        /// What differs.
        detail: String,
    },
    /// An input file is not sorted by its table's sort key, so merging it would break the
    /// order of the output. It is left as it is.
    #[error("{} is not sorted by ({}) at row {row}", path.display(), key.join(", "))]
    UnsortedInput {
        /// The file.
        path: PathBuf,
        /// The sort key it breaks.
        key: &'static [&'static str],
        /// The first row out of order (0-based, in the file).
        row: usize,
    },
    /// Another compaction holds the data directory's compaction lock.
    #[error("another compaction is running on {}", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// Queries held the read lock longer than `swap_timeout_ms`; nothing was swapped.
    #[error("queries kept {} locked for {timeout_ms} ms; compaction abandoned, nothing swapped", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long it waited.
        timeout_ms: u64,
    },
    /// The configuration is unusable.
    #[error("invalid compaction configuration: {0}")]
    Config(String),
    /// A test hook stopped the compaction at this step, as a crash would (nothing cleaned up).
    #[error("compaction interrupted after step {0:?}")]
    Interrupted(Step),
}

/// `Result` with [`CompactionError`].
pub type Result<T, E = CompactionError> = std::result::Result<T, E>;

impl CompactionError {
    /// An I/O error about `path`.
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> CompactionError {
        CompactionError::Storage(crate::Error::io(path, source))
    }
}
