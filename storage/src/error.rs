//! The crate's one error type, [`Error`], and its [`Result`] alias.

use std::path::{Path, PathBuf};

use wardstream_pipeline::SinkError;

/// Everything that can go wrong writing or querying the tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Building or formatting Arrow data failed.
    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Encoding a Parquet file failed.
    #[error("Parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A query could not be parsed, planned or run. The message is one line.
    #[error("SQL error: {0}")]
    Sql(String),
    /// The configuration is unusable.
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] about `path`.
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Error {
        Error::Sql(one_line_message(&e))
    }
}

impl From<Error> for SinkError {
    fn from(e: Error) -> SinkError {
        SinkError(e.to_string())
    }
}

/// DataFusion's message without its backtrace, its own `SQL error: ` prefix (ours is added by
/// [`Error::Sql`]) or line breaks, so that a CLI can print it on one line.
fn one_line_message(e: &datafusion::error::DataFusionError) -> String {
    let text = e.strip_backtrace();
    let text = text.strip_prefix("SQL error: ").unwrap_or(&text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
