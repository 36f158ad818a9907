//! HL7 v2 (v2.3–v2.8): a sans-I/O parser, acknowledgements, and the two message families
//! wardstream reads.
//!
//! - [`Message`] (`message`): [`Message::parse`] reads a message from bytes (UTF-8, else
//!   Latin-1) with the separators it declares in MSH-1/MSH-2 ([`Delimiters`]). Segments are
//!   found by name ([`Message::segments`]) and read by path with [`Value`]
//!   (`seg.field(5).repetition(0).component(1).sub_component(1)`), escape sequences replaced on
//!   access. Missing parts read as empty. It never panics on any input (fuzzed, and a property
//!   test in the normal suite).
//! - [`ack`]: builds the `ACK` for a message ([`ack::build`]) with `AA`/`AE`/`AR`, and the
//!   `AR` for a frame that could not be parsed at all ([`ack::build_unparsable`]).
//! - [`adt`]: an ADT message (A01–A17) as the pipeline's
//!   [`AdtEvent`](wardstream_pipeline::association::AdtEvent).
//! - [`pcd01`]: an IHE PCD-01 `ORU^R01` as an [`IngestBatch`](wardstream_pipeline::IngestBatch)
//!   of raw readings and dead letters, plus the patient and bed it claims to be about.
//! - [`person`]: the rules shared by both: which PID-3 identifier is the patient, how a PV1
//!   location (PL) becomes a [`Location`](wardstream_pipeline::association::Location).
//!
//! ```
//! use wardstream_protocols::hl7::Message;
//!
//! let msg = Message::parse(b"MSH|^~\\&|MON|ICU|||20260329013000||ORU^R01|42|P|2.6\r\
//!                           OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|%|||||F\r\
//!                           NTE|1||A\\T\\E note").unwrap();
//! assert_eq!((&*msg.message_code(), &*msg.trigger_event(), &*msg.control_id()), ("ORU", "R01", "42"));
//! let obx = msg.segment("OBX").unwrap();
//! assert_eq!(obx.field(3).component(2).text(), "MDC_PULS_OXIM_SAT_O2");
//! assert_eq!(obx.field(5).text(), "97");
//! assert_eq!(obx.field(99).text(), ""); // missing parts are empty
//! assert_eq!(msg.segment("NTE").unwrap().field(3).text(), "A&E note");
//! ```

pub mod ack;
pub mod adt;
mod delimiters;
mod message;
pub mod pcd01;
pub mod person;
mod value;

pub use delimiters::Delimiters;
pub use message::{Message, Segment};
pub use value::Value;

/// Why bytes are not an HL7 v2 message. Only the start of a message can make it unreadable;
/// everything after a valid `MSH` header is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Hl7Error {
    /// The message does not start with an `MSH` segment.
    #[error("not an HL7 v2 message: it must start with an MSH segment, but starts with {found:?}")]
    NoMsh {
        /// The first three characters (a segment id at most: never enough to carry patient data
        /// into a log or an ACK).
        found: String,
    },
    /// The `MSH` segment ends before its field separator or its encoding characters.
    #[error("the MSH segment is too short: {found:?} ends before MSH-1 and MSH-2 (the separators)")]
    MshTooShort {
        /// The start of the segment (at most 16 characters).
        found: String,
    },
    /// MSH-1 is not a usable field separator.
    #[error("bad field separator {found:?} in MSH-1: expected printable ASCII punctuation such as '|'")]
    BadFieldSeparator {
        /// The character after `MSH`.
        found: char,
    },
    /// MSH-2 is not a usable set of encoding characters.
    #[error("bad encoding characters {found:?} in MSH-2 (expected e.g. ^~\\&): {why}")]
    BadEncodingCharacters {
        /// MSH-2 as sent.
        found: String,
        /// What is wrong with it.
        why: String,
    },
}
