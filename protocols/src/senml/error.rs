//! Why a SenML pack, or one record of it, was rejected, and the dead-letter [`Reason`] each
//! rejection is stored under.

use wardstream_pipeline::Reason;

/// The highest SenML version (`bver`) this decoder understands: RFC 8428's.
pub const SUPPORTED_VERSION: u64 = 10;

/// A rejection of the whole pack: none of its records is used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SenmlError {
    /// Not a JSON array of SenML record objects: bad JSON, invalid UTF-8, a wrong field type,
    /// a label given twice, trailing bytes. The message is serde_json's.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A record declares a version newer than [`SUPPORTED_VERSION`] (RFC 8428 §4.4: the pack
    /// MUST NOT be used).
    #[error("SenML version {version} is newer than the supported version {SUPPORTED_VERSION}")]
    UnsupportedVersion {
        /// The `bver` found.
        version: u64,
    },
    /// A record carries an unknown label ending in `_`, which RFC 8428 §4.4 says must be
    /// understood or the pack rejected: an extension this decoder does not implement.
    #[error("record {index} has the must-understand label {label:?}, which this decoder does not implement")]
    MustUnderstand {
        /// Position of the record in the pack (0-based).
        index: usize,
        /// The label.
        label: String,
    },
    /// `bver` is 0, or records of one pack declare different versions (RFC 8428 §4.4: all
    /// records of a pack MUST have the same version).
    #[error("invalid SenML version: {0}")]
    InvalidVersion(String),
}

impl SenmlError {
    /// The dead-letter reason of this rejection.
    pub fn reason(&self) -> Reason {
        match self {
            SenmlError::UnsupportedVersion { .. } | SenmlError::MustUnderstand { .. } => Reason::UnsupportedVersion,
            SenmlError::Json(_) | SenmlError::InvalidVersion(_) => Reason::InvalidPayload,
        }
    }
}

/// A rejection of one record; the other records of its pack are still used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("record {index}: {kind}")]
pub struct RecordError {
    /// Position of the record in the pack (0-based).
    pub index: usize,
    /// The resolved name (base name + name), when the record has one.
    pub name: Option<String>,
    /// What is wrong with it.
    pub kind: RecordErrorKind,
}

impl RecordError {
    /// The dead-letter reason of this rejection.
    pub fn reason(&self) -> Reason {
        self.kind.reason()
    }
}

/// What is wrong with a rejected record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// The resolved name breaks RFC 8428 §4.5.1: it must match
    /// `^[a-zA-Z0-9][a-zA-Z0-9:./_-]*$` (an empty name does not).
    #[error("the resolved name {0:?} is not a valid SenML name (it must match ^[a-zA-Z0-9][a-zA-Z0-9:./_-]*$)")]
    InvalidName(String),
    /// None of `v`, `vs`, `vb`, `vd`.
    #[error("no value (none of v, vs, vb, vd)")]
    MissingValue,
    /// A sum (`s`, or an inherited `bs`) but no value: wardstream stores values, not integrals.
    #[error("only a sum (s/bs), no value (none of v, vs, vb, vd)")]
    OnlySum,
    /// More than one of `v`, `vs`, `vb`, `vd` (RFC 8428 §4.2: exactly one).
    #[error("more than one value field (v, vs, vb, vd)")]
    MultipleValues,
    /// The resolved time cannot be represented in microseconds since the epoch.
    #[error("time {seconds} s cannot be represented")]
    InvalidTime {
        /// Base time + time, in seconds as sent (relative or absolute).
        seconds: f64,
    },
}

impl RecordErrorKind {
    /// The dead-letter reason of this rejection.
    pub fn reason(&self) -> Reason {
        match self {
            RecordErrorKind::InvalidName(_) | RecordErrorKind::MultipleValues => Reason::InvalidPayload,
            RecordErrorKind::MissingValue | RecordErrorKind::OnlySum => Reason::MissingValue,
            RecordErrorKind::InvalidTime { .. } => Reason::InvalidTime,
        }
    }
}
