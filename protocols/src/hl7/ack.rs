//! HL7 v2 acknowledgements: the `ACK` a receiver returns for each message.
//!
//! [`build`] answers a parsed message:
//!
//! ```text
//! MSH|^~\&|<MSH-5>|<MSH-6>|<MSH-3>|<MSH-4>|<now>||ACK^<MSH-9.2>^ACK|<new id>|<MSH-11>|<MSH-12>
//! MSA|<AA/AE/AR>|<MSH-10>|<text>
//! ERR|…                       (AE and AR only)
//! ```
//!
//! Sender and receiver are swapped, the version and processing id are the message's own
//! (`2.5` and `P` when it sent none), and the message's own separators are used, so copied
//! fields stay exactly as sent. The `ERR` segment carries the HL7 table 0357 code and the
//! reason: from v2.5 on as ERR-3 (code), ERR-4 severity `E` and ERR-8 (reason); for v2.1–v2.4,
//! which only have ERR-1, as ERR-1.4 (code & text & `HL70357`). MSA-3 carries the reason in
//! every version. [`build_unparsable`] answers bytes that are not a message at all: `AR` with an
//! empty MSA-2 (no control id is known), standard separators, version `2.5`.
//!
//! Segments end with `\r`; the result is ready for MLLP framing.

use wardstream_pipeline::Micros;
use wardstream_pipeline::time::format_rfc3339;

use super::delimiters::Delimiters;
use super::{Hl7Error, Message};

/// MSA-1 acknowledgement code (original mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckCode {
    /// `AA`: accepted (and, for wardstream, durable).
    Accept,
    /// `AE`: error: the message was understood but its content cannot be applied.
    Error,
    /// `AR`: reject: the message type, trigger or framing is not one this receiver takes.
    Reject,
}

impl AckCode {
    /// `AA`, `AE` or `AR`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
        }
    }
}

/// HL7 table 0357 message error condition codes (ERR-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 100: segment sequence error (e.g. no MSH first).
    SegmentSequence,
    /// 101: a required field is missing.
    RequiredFieldMissing,
    /// 102: data type error (a field is not what its type says).
    DataType,
    /// 103: table value not found.
    TableValueNotFound,
    /// 200: unsupported message type.
    UnsupportedMessageType,
    /// 201: unsupported event code.
    UnsupportedEventCode,
    /// 202: unsupported processing id.
    UnsupportedProcessingId,
    /// 203: unsupported version id.
    UnsupportedVersionId,
    /// 207: application internal error.
    ApplicationInternal,
}

impl ErrorCode {
    /// The numeric code (`207`).
    pub const fn code(self) -> u16 {
        match self {
            ErrorCode::SegmentSequence => 100,
            ErrorCode::RequiredFieldMissing => 101,
            ErrorCode::DataType => 102,
            ErrorCode::TableValueNotFound => 103,
            ErrorCode::UnsupportedMessageType => 200,
            ErrorCode::UnsupportedEventCode => 201,
            ErrorCode::UnsupportedProcessingId => 202,
            ErrorCode::UnsupportedVersionId => 203,
            ErrorCode::ApplicationInternal => 207,
        }
    }

    /// The code's text in table 0357.
    pub const fn text(self) -> &'static str {
        match self {
            ErrorCode::SegmentSequence => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataType => "Data type error",
            ErrorCode::TableValueNotFound => "Table value not found",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnsupportedEventCode => "Unsupported event code",
            ErrorCode::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCode::UnsupportedVersionId => "Unsupported version id",
            ErrorCode::ApplicationInternal => "Application internal error",
        }
    }
}

impl Hl7Error {
    /// The table 0357 code an `AR` for this error carries: 100 when there is no MSH first,
    /// 102 for unusable separators.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            Hl7Error::NoMsh { .. } => ErrorCode::SegmentSequence,
            _ => ErrorCode::DataType,
        }
    }
}

/// What to answer: the code, a text for MSA-3 (and ERR-8), and for `AE`/`AR` the error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// MSA-1.
    pub code: AckCode,
    /// MSA-3 text (may be empty for `AA`).
    pub text: String,
    /// ERR-3 code; `AE`/`AR` without one use 207 (application internal error).
    pub error: Option<ErrorCode>,
}

impl Reply {
    /// `AA` with no text.
    pub fn accept() -> Reply {
        Reply { code: AckCode::Accept, text: String::new(), error: None }
    }

    /// `AE` with an error code and a reason.
    pub fn error(error: ErrorCode, text: impl Into<String>) -> Reply {
        Reply { code: AckCode::Error, text: text.into(), error: Some(error) }
    }

    /// `AR` with an error code and a reason.
    pub fn reject(error: ErrorCode, text: impl Into<String>) -> Reply {
        Reply { code: AckCode::Reject, text: text.into(), error: Some(error) }
    }
}

/// Builds the ACK of `msg` (see the module docs). `control_id` is the ACK's own MSH-10 and
/// `now` its MSH-7.
pub fn build(msg: &Message, reply: &Reply, control_id: &str, now: Micros) -> String {
    let d = msg.delimiters();
    let msh = msg.msh();
    let raw = |n: usize| msh.field(n).raw();
    let or = |value: &'static str, n: usize| if raw(n).is_empty() { value } else { raw(n) };
    let (f, c) = (d.field, d.component);
    let mut out = String::with_capacity(256);
    out.push_str(&format!(
        "MSH{f}{enc}{f}{}{f}{}{f}{}{f}{}{f}{time}{f}{f}ACK{c}{trigger}{c}ACK{f}{id}{f}{}{f}{}\r",
        raw(5),
        raw(6),
        raw(3),
        raw(4),
        or("P", 11),
        or("2.5", 12),
        enc = d.encoding_characters(),
        time = hl7_time(now),
        trigger = msh.field(9).component(2).raw(),
        id = d.escape(control_id),
    ));
    msa_and_err(&mut out, d, reply, raw(10), &msg.version());
    out
}

/// Builds an `AR` for bytes that could not be parsed as a message (`reason`, e.g. the
/// [`Hl7Error`] text), with `error` as the table 0357 code and an empty MSA-2.
pub fn build_unparsable(error: ErrorCode, reason: &str, control_id: &str, now: Micros) -> String {
    let d = Delimiters::default();
    let mut out = format!("MSH|^~\\&|||||{}||ACK^^ACK|{}|P|2.5\r", hl7_time(now), d.escape(control_id));
    msa_and_err(&mut out, &d, &Reply::reject(error, reason), "", "2.5");
    out
}

fn msa_and_err(out: &mut String, d: &Delimiters, reply: &Reply, message_id: &str, version: &str) {
    let (f, c) = (d.field, d.component);
    let text = d.escape(&reply.text);
    out.push_str(&format!("MSA{f}{}{f}{message_id}", reply.code.as_str()));
    if !text.is_empty() {
        out.push_str(&format!("{f}{text}"));
    }
    out.push('\r');
    if reply.code == AckCode::Accept {
        return;
    }
    let error = reply.error.unwrap_or(ErrorCode::ApplicationInternal);
    let (code, code_text) = (error.code(), error.text());
    if before_v25(version) {
        let s = d.sub_component.unwrap_or(c);
        out.push_str(&format!("ERR{f}{c}{c}{c}{code}{s}{code_text}{s}HL70357\r"));
    } else {
        out.push_str(&format!("ERR{f}{f}{f}{code}{c}{code_text}{c}HL70357{f}E{f}{f}{f}{f}{text}\r"));
    }
}

/// v2.1 to v2.4 (ERR-1 only).
fn before_v25(version: &str) -> bool {
    matches!(version.trim(), "2.1" | "2.2" | "2.3" | "2.3.1" | "2.4")
}

/// `YYYYMMDDHHMMSS+0000`, the ACK's MSH-7 (empty for a time outside the calendar).
fn hl7_time(now: Micros) -> String {
    let iso = format_rfc3339(now);
    let digits: String = iso.chars().take(19).filter(char::is_ascii_digit).collect();
    if digits.len() == 14 { format!("{digits}+0000") } else { String::new() }
}

#[cfg(test)]
#[path = "ack_tests.rs"]
mod tests;
