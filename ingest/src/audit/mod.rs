//! # The audit trail: who saw which patient's data, durable and tamper-evident
//!
//! Every access to patient-identifiable data (timeline, FHIR search, live subscribe, SQL touching
//! identifiable columns, association changes) is recorded with [`AuditTrail::record`] **before**
//! the response is sent. Records are JSON lines in `<data_dir>/audit/audit.log`, each with `seq`,
//! `time` (UTC), `user`, `role`, `action`, `patient_ids`, `result_count`, `client`, `prev_hash`
//! and `hash` = SHA-256 over the canonical record including `prev_hash` ([`record`]), so a
//! deleted, altered, reordered or inserted record is found by [`verify`] (`wardstream audit
//! verify`), which names the first bad record.
//!
//! - [`trail`]: the writer (group commit, fsync before returning, fail closed, torn-tail repair).
//! - [`verify`](mod@verify): the chain check.
//! - [`table`]: the log as an Arrow table, registered as `audit` for `admin` SQL and for
//!   `wardstream query`. The table is read from the file when the query session is built (a
//!   snapshot; records written during the query are not in it).
//!
//! The chain is keyed by nothing: it detects edits by anyone who does not recompute every hash
//! after the edit and the head anchor. Protecting against an attacker with write access to the
//! data directory needs the log shipped elsewhere (out of scope here).
//!
//! ```
//! use wardstream_ingest::audit::{AuditEntry, AuditTrail, verify};
//! let dir = tempfile::tempdir()?;
//! let trail = AuditTrail::open(dir.path())?;
//! trail.record(AuditEntry {
//!     user: "alice".into(), role: "clinician".into(), action: "timeline".into(),
//!     patient_ids: vec!["P1".into()], result_count: 12, client: "10.0.0.7:51234".into(),
//! })?;
//! let report = verify(dir.path())?;
//! assert_eq!((report.records_checked, report.is_intact()), (1, true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

pub mod cli;
pub mod record;
pub mod table;
pub mod trail;
pub mod verify;

pub use record::AuditRecord;
pub use trail::{AuditTrail, OpenReport};
pub use verify::{BrokenRecord, TornTail, VerifyReport, verify};

/// What the caller knows about one access; the trail adds `seq`, `time` and the hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    /// The authenticated principal's name.
    pub user: String,
    /// Its role (`clinician`, `analyst`, `integration`, `admin`).
    pub role: String,
    /// What was done: `timeline`, `fhir_search`, `live_subscribe`, `sql`, `association_change`, …
    pub action: String,
    /// The patients whose data was returned or changed.
    pub patient_ids: Vec<String>,
    /// Rows or resources returned.
    pub result_count: u64,
    /// The client's address.
    pub client: String,
}

/// Why the trail could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file could not be read or written.
    #[error("audit trail {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file holds something that is not an audit record.
    #[error("audit trail {path}: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The log does not match its head anchor or numbering: records were removed or moved.
    #[error("audit trail tampered with: {0}")]
    Tampered(String),
    /// Another process has the trail open for writing.
    #[error("audit trail {0} is open in another process")]
    InUse(PathBuf),
    /// An earlier write failed; the trail accepts nothing more until the process restarts.
    #[error("audit trail closed after a failed write: {0}")]
    Closed(String),
}

impl AuditError {
    fn io(path: &Path, source: std::io::Error) -> AuditError {
        AuditError::Io { path: path.to_path_buf(), source }
    }
}
