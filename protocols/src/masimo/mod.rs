//! A sans-I/O codec for Masimo pulse oximeters' "ASCII 1" serial output (Radical, Rad-5/7/8,
//! Rad-57/97; 9600 baud 8N1, one line a second, CR LF after each line):
//!
//! ```text
//! 03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000
//! ```
//!
//! - [`parse_line`] (`line`) checks a line strictly (the link has no checksum) and splits it
//!   into its local time, serial number, measurement fields and exception bits, or says why it
//!   is malformed ([`LineError`]).
//! - [`MasimoDecoder`] (`decoder`) turns lines into `RawReading`s and dead letters: device id
//!   from the serial number, UTC time through a per-device `LocalClock`, `EXC` bits through
//!   `device_quality::masimo_exc` (the rules are in `decoder`'s documentation).
//! - [`KNOWN_FIELDS`] (`fields`): the measurement fields and their units.
//!
//! Bytes are split into lines by the serial driver's framing
//! ([`LineFramer`](crate::serial::LineFramer)); this module sees one line at a time.
//!
//! ```
//! use wardstream_pipeline::{Flag, RawValue, Reason};
//! use wardstream_protocols::masimo::MasimoDecoder;
//!
//! let mut decoder = MasimoDecoder::new("/dev/ttyUSB0", "bed-4-oximeter", "America/New_York").unwrap();
//! let line = b"03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% \
//!              SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000";
//! let batch = decoder.decode_to_batch(line, 1_458_256_777_000_000);
//! let spo2 = &batch.readings[0];
//! assert_eq!((&*spo2.device_id, spo2.name.as_str(), spo2.unit.as_deref()), ("bed-4-oximeter", "SPO2", Some("%")));
//! assert_eq!(spo2.value, RawValue::Number(98.0));
//! assert_eq!(spo2.device_time, 1_458_256_776_000_000); // 19:19:36 EDT = 23:19:36Z
//! assert!(spo2.flags.contains(Flag::Questionable)); // EXC 0x400: low signal IQ
//! assert_eq!(batch.readings.len(), 3); // SPO2, BPM, PI; the dashes are no value
//!
//! // Cut off before EXC=: rejected whole, kept as a dead letter.
//! let batch = decoder.decode_to_batch(b"03/17/16 19:19:37 SN=---------- SPO2=09", 1_458_256_778_000_000);
//! assert_eq!(batch.dead_letters[0].reason, Reason::InvalidPayload);
//! assert_eq!(batch.dead_letters[0].detail, "no EXC= field: the line is incomplete");
//! ```

mod decoder;
mod fields;
mod line;

#[cfg(test)]
mod tests;

pub use decoder::{DEVICE_ID_PREFIX, MasimoDecoder};
pub use fields::{EXCEPTION_BITS, KNOWN_FIELDS, KnownField, describe_exceptions, known_field};
pub use line::{EXCEPTIONS, Line, LineError, SERIAL_NUMBER, STATUS_KEYS, parse_line};
