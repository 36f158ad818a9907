//! [`MasimoDecoder`]: turns Masimo "ASCII 1" lines from one serial port into the pipeline's
//! [`RawReading`]s and [`DeadLetter`]s.
//!
//! - **Device id**: `masimo-<SN>` when the line carries a serial number (`SN=0000093112` →
//!   `masimo-0000093112`), else the port's configured fallback id (`SN=----------`).
//! - **Time**: the line's local wall-clock time read in the port's IANA zone by a
//!   [`LocalClock`] kept per device id (DST-safe: see `wardstream_pipeline::time::local`).
//! - **Values**: each field with a number becomes a reading named as sent (`SPO2`, `BPM`, …) with
//!   the field's unit ([`KNOWN_FIELDS`](super::KNOWN_FIELDS); unknown fields travel without a
//!   unit and text values as text, for the normaliser to judge). Dashes are no value: no reading.
//! - **Exceptions** (`EXC=`), as `device_quality::masimo_exc` decides: `001` no sensor, `002`
//!   defective sensor, `020` sensor off and `080` unrecognised sensor mean no valid measurement,
//!   so any number on such a line becomes a dead letter `missing_value` (named after its field,
//!   the detail naming the bits) instead of a reading; `800` SET mode is informational; every
//!   other bit (low perfusion, pulse search, interference, ambient light, low signal IQ, unknown
//!   bits) keeps the value with the flag `questionable`.
//! - **Nothing dropped**: a line with no number at all (all dashes, sensor off) becomes one dead
//!   letter `missing_value`; a malformed line one dead letter `invalid_payload` whose detail is
//!   the [`LineError`]. Dead letters carry the line's bytes and the fallback device id.

use std::sync::Arc;

use wardstream_pipeline::device_quality::{DeviceNumber, masimo_exc, parse_device_number};
use wardstream_pipeline::{
    DeadLetter, Flags, IngestBatch, LocalClock, Micros, RawReading, RawValue, Reason, Source, TimeError,
};

use super::fields::{describe_exceptions, known_field};
use super::line::{Line, LineError, parse_line};

/// Per-device clocks kept per port; a port normally serves one device at a time, so this only
/// bounds memory when serial numbers change (a device swapped, or noise in `SN=`).
const MAX_DEVICES: usize = 8;

/// Prefix of device ids built from a serial number.
pub const DEVICE_ID_PREFIX: &str = "masimo-";

/// Decodes the lines of one port. Keep one per port: it holds each device's local clock.
#[derive(Debug, Clone)]
pub struct MasimoDecoder {
    origin: Arc<str>,
    fallback_device: Arc<str>,
    zone: LocalClock,
    /// Most recently used first.
    devices: Vec<(Arc<str>, LocalClock)>,
}

impl MasimoDecoder {
    /// A decoder for the port `origin` (stored as each reading's origin), naming devices without
    /// a serial number `fallback_device_id`, reading device times in the IANA zone `time_zone`.
    ///
    /// Errors: [`TimeError::UnknownZone`] when the zone is not an IANA name.
    pub fn new(origin: &str, fallback_device_id: &str, time_zone: &str) -> Result<MasimoDecoder, TimeError> {
        Ok(MasimoDecoder {
            origin: Arc::from(origin),
            fallback_device: Arc::from(fallback_device_id),
            zone: LocalClock::new(time_zone)?,
            devices: Vec::new(),
        })
    }

    /// Decodes one line (without its terminator) received at `received_at`, appending its
    /// readings and dead letters to `out`. Never panics, whatever the bytes.
    ///
    /// Errors: the [`LineError`] of a malformed line, whose `invalid_payload` dead letter is
    /// already in `out`; returned so the caller can count and log it.
    pub fn decode(&mut self, bytes: &[u8], received_at: Micros, out: &mut IngestBatch) -> Result<(), LineError> {
        let raw: Arc<[u8]> = Arc::from(bytes);
        match parse_line(bytes) {
            Ok(line) => {
                self.emit(&line, &raw, received_at, out);
                Ok(())
            }
            Err(error) => {
                out.dead_letters.push(self.dead_letter(
                    None,
                    &raw,
                    received_at,
                    Reason::InvalidPayload,
                    error.to_string(),
                ));
                Err(error)
            }
        }
    }

    /// [`decode`](Self::decode) into a new batch, ignoring the error (its dead letter is in it).
    pub fn decode_to_batch(&mut self, bytes: &[u8], received_at: Micros) -> IngestBatch {
        let mut batch = IngestBatch::default();
        let _ = self.decode(bytes, received_at, &mut batch);
        batch
    }

    fn emit(&mut self, line: &Line<'_>, raw: &Arc<[u8]>, received_at: Micros, out: &mut IngestBatch) {
        let device = match line.serial_number {
            Some(sn) => Arc::from(format!("{DEVICE_ID_PREFIX}{sn}")),
            None => Arc::clone(&self.fallback_device),
        };
        let device_time = self.clock(&device).to_utc(line.local_time);
        let verdict = masimo_exc(line.exceptions);
        let exc = || format!("EXC={} ({})", line.exceptions_text, describe_exceptions(line.exceptions));
        let before = (out.readings.len(), out.dead_letters.len());
        for &(key, text) in &line.fields {
            let value = match parse_device_number(text) {
                Ok(DeviceNumber::NoValue) => continue,
                Ok(DeviceNumber::Value(v)) => RawValue::Number(v),
                // `parse_line` only lets unknown fields through with text values.
                Err(_) => RawValue::Text(text.to_owned()),
            };
            match verdict.apply(Flags::NONE) {
                Some(flags) => out.readings.push(RawReading {
                    device_id: Arc::clone(&device),
                    name: key.to_owned(),
                    value,
                    unit: known_field(key).and_then(|f| f.unit).map(str::to_owned),
                    device_time,
                    received_at,
                    source: Source::Serial,
                    origin: Arc::clone(&self.origin),
                    raw: Arc::clone(raw),
                    flags,
                }),
                None => {
                    let detail = format!("{key}={text} is not a valid measurement: {}", exc());
                    let mut dead = self.dead_letter(Some(&device), raw, received_at, Reason::MissingValue, detail);
                    dead.source_name = Some(key.to_owned());
                    out.dead_letters.push(dead);
                }
            }
        }
        if (out.readings.len(), out.dead_letters.len()) == before {
            let detail = format!("no value in the line (every field is dashes); {}", exc());
            out.dead_letters.push(self.dead_letter(Some(&device), raw, received_at, Reason::MissingValue, detail));
        }
    }

    /// The clock of `device`, created on first use; the least recently used one is forgotten
    /// beyond [`MAX_DEVICES`].
    fn clock(&mut self, device: &Arc<str>) -> &mut LocalClock {
        let entry = match self.devices.iter().position(|(d, _)| d == device) {
            Some(i) => self.devices.remove(i),
            None => {
                self.devices.truncate(MAX_DEVICES - 1);
                (Arc::clone(device), self.zone.clone())
            }
        };
        self.devices.insert(0, entry);
        &mut self.devices[0].1
    }

    fn dead_letter(
        &self,
        device: Option<&Arc<str>>,
        raw: &Arc<[u8]>,
        received_at: Micros,
        reason: Reason,
        detail: String,
    ) -> DeadLetter {
        DeadLetter {
            received_at,
            source: Source::Serial,
            origin: Arc::clone(&self.origin),
            device_id: Some(Arc::clone(device.unwrap_or(&self.fallback_device))),
            source_name: None,
            reason,
            detail,
            payload: Arc::clone(raw),
        }
    }
}
