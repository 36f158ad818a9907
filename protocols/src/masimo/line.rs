//! [`parse_line`]: one Masimo "ASCII 1" line, checked and split into its parts, without
//! interpreting the values (that is [`MasimoDecoder`](super::MasimoDecoder)'s job).
//!
//! A line is `MM/DD/YY HH:MM:SS` (the device's local wall clock) followed by `KEY=VALUE` fields
//! separated by spaces. The checks are strict because the serial line has no checksum: a line
//! damaged by noise, a wrong baud rate, dropped bytes or a cut-off transmission must be rejected
//! whole rather than stored with a wrong number in it.
//!
//! - only printable ASCII (and spaces/tabs) — baud mismatches produce bytes above 0x7F;
//! - the date and time in exactly that fixed-width form, naming a real date and time;
//! - every further token `KEY=VALUE` with an upper-case key (`A`–`Z`, digits after the first
//!   letter), a non-empty value and no key twice — two lines run together repeat keys or leave a
//!   time token without `=`;
//! - an `EXC=` field (hex, at most 8 digits): every known firmware sends it, near the end of the
//!   line, so a line without it was cut off; without it the values' validity is unknown anyway;
//! - the known measurement fields ([`KNOWN_FIELDS`](super::KNOWN_FIELDS)) a number or dashes;
//! - `ALARM=` and `EXC1=` hex when present; `SN=` letters and digits, or dashes for "none".

use wardstream_pipeline::device_quality::parse_device_number;
use wardstream_pipeline::time::NaiveDateTime;

use super::fields::known_field;

/// The key of the serial-number field.
pub const SERIAL_NUMBER: &str = "SN";
/// The key of the exception bits.
pub const EXCEPTIONS: &str = "EXC";
/// Keys that describe the device or its state rather than carrying a measurement.
pub const STATUS_KEYS: [&str; 5] = [SERIAL_NUMBER, "ALARM", EXCEPTIONS, "EXC1", "RESVD"];

/// One well-formed line, borrowing from the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The device's local date and time (no zone: the zone is configured per port).
    pub local_time: NaiveDateTime,
    /// The serial number, `None` when the device sent dashes (`SN=----------`) or no `SN=`.
    pub serial_number: Option<&'a str>,
    /// The measurement fields (every key not in [`STATUS_KEYS`]), in line order, values as sent.
    pub fields: Vec<(&'a str, &'a str)>,
    /// The exception bits (`EXC=0000C00` → `0xC00`).
    pub exceptions: u32,
    /// The `EXC=` text as sent, for details and logs.
    pub exceptions_text: &'a str,
    /// The `ALARM=` hex text as sent, when present (not interpreted yet).
    pub alarm: Option<&'a str>,
}

/// Why a line was rejected (dead letter `invalid_payload`, the message is its detail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// A byte that is not printable ASCII (noise, a wrong baud rate or parity).
    #[error("byte {byte:#04x} at offset {offset} is not printable ASCII")]
    NotPrintable {
        /// The byte.
        byte: u8,
        /// Its position in the line.
        offset: usize,
    },
    /// The line does not start with `MM/DD/YY HH:MM:SS`, or that date or time does not exist.
    #[error("the line does not start with a valid MM/DD/YY HH:MM:SS time: {0:?}")]
    InvalidTime(String),
    /// A token that is not `KEY=VALUE` with an upper-case key and a value.
    #[error("{0:?} is not a KEY=VALUE field")]
    BadField(String),
    /// The same key twice (typically two lines run together).
    #[error("the field {0} appears twice")]
    DuplicateField(String),
    /// No `EXC=` field: the line was cut off, or is not Masimo ASCII 1.
    #[error("no EXC= field: the line is incomplete")]
    MissingExceptions,
    /// A known measurement field whose value is neither a number nor dashes (`SPO2=9?8%`).
    #[error("the field {key}={value} is neither a number nor dashes")]
    BadValue {
        /// The key.
        key: String,
        /// The value as sent.
        value: String,
    },
    /// A status field whose value has the wrong form (`EXC`/`ALARM`/`EXC1` not hex, `SN` not
    /// letters and digits).
    #[error("the field {key}={value} is malformed")]
    BadStatus {
        /// The key.
        key: &'static str,
        /// The value as sent.
        value: String,
    },
}

/// Parses one line (without its line terminator; surrounding white space is ignored).
pub fn parse_line(bytes: &[u8]) -> Result<Line<'_>, LineError> {
    if let Some((offset, &byte)) =
        bytes.iter().enumerate().find(|(_, b)| !(b.is_ascii_graphic() || **b == b' ' || **b == b'\t'))
    {
        return Err(LineError::NotPrintable { byte, offset });
    }
    // Only printable ASCII is left, so this cannot fail; the error path only keeps it panic-free.
    let text = std::str::from_utf8(bytes).map_err(|_| LineError::InvalidTime(String::new()))?;
    let mut tokens = text.split_ascii_whitespace();
    let date = tokens.next().unwrap_or_default();
    let time = tokens.next().unwrap_or_default();
    let local_time = parse_local_time(date, time)?;

    let mut line =
        Line { local_time, serial_number: None, fields: Vec::new(), exceptions: 0, exceptions_text: "", alarm: None };
    let mut seen: Vec<&str> = Vec::new();
    let mut have_exceptions = false;
    for token in tokens {
        let (key, value) = split_field(token).ok_or_else(|| LineError::BadField(token.to_owned()))?;
        if seen.contains(&key) {
            return Err(LineError::DuplicateField(key.to_owned()));
        }
        seen.push(key);
        match key {
            SERIAL_NUMBER => line.serial_number = serial_number(value)?,
            EXCEPTIONS => {
                line.exceptions = hex(EXCEPTIONS, value)?;
                line.exceptions_text = value;
                have_exceptions = true;
            }
            "ALARM" => {
                hex("ALARM", value)?;
                line.alarm = Some(value);
            }
            "EXC1" => {
                hex("EXC1", value)?;
            }
            "RESVD" => {}
            _ => {
                let numeric = parse_device_number(value).is_ok();
                if !numeric && known_field(key).is_some() {
                    return Err(LineError::BadValue { key: key.to_owned(), value: value.to_owned() });
                }
                line.fields.push((key, value));
            }
        }
    }
    if !have_exceptions {
        return Err(LineError::MissingExceptions);
    }
    Ok(line)
}

/// `MM/DD/YY` and `HH:MM:SS`, exactly those widths, as a real date and time.
fn parse_local_time(date: &str, time: &str) -> Result<NaiveDateTime, LineError> {
    let shape = |s: &str, sep: u8| {
        s.len() == 8 && s.bytes().enumerate().all(|(i, b)| if i == 2 || i == 5 { b == sep } else { b.is_ascii_digit() })
    };
    let both = format!("{date} {time}");
    if !(shape(date, b'/') && shape(time, b':')) {
        return Err(LineError::InvalidTime(both));
    }
    // `%y`: 00–68 are 2000–2068, 69–99 are 1969–1999 (POSIX), so `07` is 2007 and `16` is 2016.
    NaiveDateTime::parse_from_str(&both, "%m/%d/%y %H:%M:%S").map_err(|_| LineError::InvalidTime(both))
}

/// `KEY=VALUE` with `KEY` an upper-case letter followed by upper-case letters or digits.
fn split_field(token: &str) -> Option<(&str, &str)> {
    let (key, value) = token.split_once('=')?;
    let mut key_bytes = key.bytes();
    let key_ok = key_bytes.next().is_some_and(|b| b.is_ascii_uppercase())
        && key_bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    (key_ok && !value.is_empty() && !value.contains('=')).then_some((key, value))
}

fn hex(key: &'static str, value: &str) -> Result<u32, LineError> {
    let bad = || LineError::BadStatus { key, value: value.to_owned() };
    if value.len() > 8 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u32::from_str_radix(value, 16).map_err(|_| bad())
}

fn serial_number(value: &str) -> Result<Option<&str>, LineError> {
    if value.bytes().all(|b| b == b'-') {
        Ok(None)
    } else if value.len() <= 32 && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(Some(value))
    } else {
        Err(LineError::BadStatus { key: SERIAL_NUMBER, value: value.to_owned() })
    }
}
