//! Which wire format a port speaks: [`SerialCodec`] (chosen per port in the configuration)
//! builds the port's [`Framer`] and its [`FrameDecoder`], the two sans-I/O halves the driver
//! runs every read through.
//!
//! Adding a format (IHE PCD-01 over serial: MLLP framing + the HL7 v2 decoder) is one enum
//! variant, a `Framer` implementation for its framing and a `FrameDecoder` for its payload;
//! the driver does not change.

use serde::Deserialize;
use wardstream_pipeline::{IngestBatch, Micros, TimeError};

use super::framing::{Framer, LineFramer};
use crate::masimo::MasimoDecoder;

/// What decoding one frame came to, for the port's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Decoded (into readings, or dead letters for values the device marked invalid).
    Decoded,
    /// Malformed: the frame became one `invalid_payload` dead letter; the message says why.
    Malformed(String),
}

/// Turns one frame into readings and dead letters. Implementations never panic on any bytes
/// and never drop a frame silently: what is not a reading is a dead letter.
pub trait FrameDecoder: Send + std::fmt::Debug {
    /// Decodes `frame`, received at `received_at`, appending to `out`.
    fn decode(&mut self, frame: &[u8], received_at: Micros, out: &mut IngestBatch) -> FrameOutcome;
}

impl FrameDecoder for MasimoDecoder {
    fn decode(&mut self, frame: &[u8], received_at: Micros, out: &mut IngestBatch) -> FrameOutcome {
        match MasimoDecoder::decode(self, frame, received_at, out) {
            Ok(()) => FrameOutcome::Decoded,
            Err(e) => FrameOutcome::Malformed(e.to_string()),
        }
    }
}

/// The wire format of a port (`codec = "masimo_ascii1"` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SerialCodec {
    /// Masimo Radical/Rad "ASCII 1" text lines (9600 8N1, one line a second).
    #[default]
    MasimoAscii1,
    /// IHE PCD-01 (HL7 v2 ORU^R01) in MLLP frames, each answered with an ACK on the same line
    /// once durable: run by [`run_mllp_port`](super::run_mllp_port), not by the line driver.
    #[serde(rename = "pcd01-mllp", alias = "pcd01_mllp")]
    Pcd01Mllp,
}

/// The two halves a port's bytes go through: framing, then decoding.
#[derive(Debug)]
pub struct PortCodec {
    /// Cuts the byte stream into frames.
    pub framer: Box<dyn Framer>,
    /// Turns each frame into readings and dead letters.
    pub decoder: Box<dyn FrameDecoder>,
}

/// Everything a codec needs to know about its port.
#[derive(Debug, Clone, Copy)]
pub struct CodecSettings<'a> {
    /// The port path (each reading's origin).
    pub origin: &'a str,
    /// The device id for frames that do not name their device.
    pub device_id: &'a str,
    /// The IANA zone of device clocks that report local time.
    pub time_zone: &'a str,
    /// The longest frame accepted; longer ones are discarded.
    pub max_frame_bytes: usize,
}

impl SerialCodec {
    /// The name used in the configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            SerialCodec::MasimoAscii1 => "masimo_ascii1",
            SerialCodec::Pcd01Mllp => "pcd01-mllp",
        }
    }

    /// A fresh framer and decoder for one port.
    ///
    /// Errors: [`super::Error::InvalidConfig`] for a zone that is not an IANA name (`time_zone`),
    /// or a codec that answers its sender (`codec`: `pcd01-mllp` runs with
    /// [`run_mllp_port`](super::run_mllp_port)).
    pub fn build(self, settings: CodecSettings<'_>) -> Result<PortCodec, super::Error> {
        let zone_error = |e: TimeError| super::Error::InvalidConfig { field: "time_zone", message: e.to_string() };
        match self {
            SerialCodec::Pcd01Mllp => Err(super::Error::InvalidConfig {
                field: "codec",
                message: "pcd01-mllp ports acknowledge each message: run them with run_mllp_port".into(),
            }),
            SerialCodec::MasimoAscii1 => {
                let decoder =
                    MasimoDecoder::new(settings.origin, settings.device_id, settings.time_zone).map_err(zone_error)?;
                Ok(PortCodec {
                    framer: Box::new(LineFramer::new(settings.max_frame_bytes)),
                    decoder: Box::new(decoder),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masimo_codec_frames_lines_and_decodes_them() {
        let settings =
            CodecSettings { origin: "/dev/ttyS0", device_id: "spo2-1", time_zone: "UTC", max_frame_bytes: 512 };
        let PortCodec { mut framer, mut decoder } = SerialCodec::MasimoAscii1.build(settings).unwrap();
        framer.push(b"01/02/26 03:04:05 SN=---------- SPO2=095% ALARM=0000 EXC=000000\r\ngarbage\r\n");
        let mut out = IngestBatch::default();
        let first = framer.next_frame().unwrap();
        assert_eq!(decoder.decode(&first, 7, &mut out), FrameOutcome::Decoded);
        let second = framer.next_frame().unwrap();
        let outcome = decoder.decode(&second, 7, &mut out);
        let expected = "the line does not start with a valid MM/DD/YY HH:MM:SS time: \"garbage \"";
        assert_eq!(outcome, FrameOutcome::Malformed(expected.into()));
        assert_eq!((out.readings.len(), out.dead_letters.len()), (1, 1));
        let bad = CodecSettings { time_zone: "Mars/Olympus", ..settings };
        assert!(SerialCodec::MasimoAscii1.build(bad).is_err());
    }
}
