//! [`SerialConfig`]: one serial port — where it is, its line settings, the wire format spoken on
//! it, and how its devices are named and their clocks read. Deserialised from the service
//! configuration (one `[[serial]]` TOML table per port).

use std::time::Duration;

use serde::Deserialize;
use wardstream_pipeline::LocalClock;

use super::Error;
use super::codec::{CodecSettings, SerialCodec};
use super::framing::DEFAULT_MAX_LINE_BYTES;

const fn default_baud_rate() -> u32 {
    9600
}
const fn default_data_bits() -> u8 {
    8
}
const fn default_stop_bits() -> u8 {
    1
}
const fn default_reconnect_max_ms() -> u64 {
    5_000
}
/// The zone used when none is configured.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// Parity bit setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    /// No parity bit (the `N` of 8N1).
    #[default]
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// Flow control setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    /// None (Masimo ASCII 1).
    #[default]
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// One serial port's configuration. Every field but `path` has a default (9600 8N1, no flow
/// control, Masimo ASCII 1, UTC).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SerialConfig {
    /// The device path (`/dev/ttyUSB0`; prefer `/dev/serial/by-id/...`, which survives replugs).
    pub path: String,
    /// Line speed in baud (9600).
    pub baud_rate: u32,
    /// Data bits: 5, 6, 7 or 8 (8).
    pub data_bits: u8,
    /// Parity: `none`, `odd` or `even` (`none`).
    pub parity: Parity,
    /// Stop bits: 1 or 2 (1).
    pub stop_bits: u8,
    /// Flow control: `none`, `software` or `hardware` (`none`).
    pub flow_control: FlowControl,
    /// The wire format: `masimo_ascii1`.
    pub codec: SerialCodec,
    /// The device id of readings whose frame does not name its device (a Masimo line with
    /// `SN=----------`). Defaults to the path.
    pub device_id: Option<String>,
    /// The IANA zone of the device's clock (`Europe/London`); `UTC` by default.
    pub time_zone: String,
    /// The longest frame accepted, in bytes; longer ones are discarded and counted (512).
    pub max_frame_bytes: usize,
    /// The longest pause between attempts to reopen a lost or missing port, in ms (5000).
    /// Attempts start 100 ms apart and double up to this.
    pub reconnect_max_ms: u64,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig {
            path: String::new(),
            baud_rate: default_baud_rate(),
            data_bits: default_data_bits(),
            parity: Parity::default(),
            stop_bits: default_stop_bits(),
            flow_control: FlowControl::default(),
            codec: SerialCodec::default(),
            device_id: None,
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
            max_frame_bytes: DEFAULT_MAX_LINE_BYTES,
            reconnect_max_ms: default_reconnect_max_ms(),
        }
    }
}

impl SerialConfig {
    /// A configuration for tests: the defaults on `path`, with the fallback device id `device_id`.
    pub fn test_config(path: &str, device_id: &str) -> SerialConfig {
        SerialConfig { path: path.to_owned(), device_id: Some(device_id.to_owned()), ..SerialConfig::default() }
    }

    /// The fallback device id: `device_id`, or else the path.
    pub fn device_id(&self) -> &str {
        self.device_id.as_deref().unwrap_or(&self.path)
    }

    /// The longest reconnection pause.
    pub fn reconnect_max(&self) -> Duration {
        Duration::from_millis(self.reconnect_max_ms)
    }

    /// The settings the codec is built with.
    pub fn codec_settings(&self) -> CodecSettings<'_> {
        CodecSettings {
            origin: &self.path,
            device_id: self.device_id(),
            time_zone: &self.time_zone,
            max_frame_bytes: self.max_frame_bytes,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.path.is_empty() {
            return Err(invalid("path", "must not be empty".into()));
        }
        if self.baud_rate == 0 || self.baud_rate > 4_000_000 {
            return Err(invalid("baud_rate", format!("{} is not 1-4000000", self.baud_rate)));
        }
        if !(5..=8).contains(&self.data_bits) {
            return Err(invalid("data_bits", format!("{} is not 5, 6, 7 or 8", self.data_bits)));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(invalid("stop_bits", format!("{} is not 1 or 2", self.stop_bits)));
        }
        if self.device_id().is_empty() {
            return Err(invalid("device_id", "must not be empty".into()));
        }
        if let Err(e) = LocalClock::new(&self.time_zone) {
            return Err(invalid("time_zone", e.to_string()));
        }
        if !(16..=1 << 20).contains(&self.max_frame_bytes) {
            return Err(invalid("max_frame_bytes", format!("{} is not 16-1048576", self.max_frame_bytes)));
        }
        if self.reconnect_max_ms < 100 {
            return Err(invalid("reconnect_max_ms", format!("{} is below 100", self.reconnect_max_ms)));
        }
        Ok(())
    }

    /// The tokio-serial builder for these line settings (checked first).
    pub fn port_builder(&self) -> Result<tokio_serial::SerialPortBuilder, Error> {
        self.validate()?;
        let data_bits = match self.data_bits {
            5 => tokio_serial::DataBits::Five,
            6 => tokio_serial::DataBits::Six,
            7 => tokio_serial::DataBits::Seven,
            _ => tokio_serial::DataBits::Eight,
        };
        let stop_bits = if self.stop_bits == 2 { tokio_serial::StopBits::Two } else { tokio_serial::StopBits::One };
        let parity = match self.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
        };
        let flow_control = match self.flow_control {
            FlowControl::None => tokio_serial::FlowControl::None,
            FlowControl::Software => tokio_serial::FlowControl::Software,
            FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
        };
        Ok(tokio_serial::new(&self.path, self.baud_rate)
            .data_bits(data_bits)
            .stop_bits(stop_bits)
            .parity(parity)
            .flow_control(flow_control))
    }
}

fn invalid(field: &'static str, message: String) -> Error {
    Error::InvalidConfig { field, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_with_only_a_path_gets_9600_8n1_masimo_in_utc() {
        let c: SerialConfig = serde_json::from_str(r#"{"path":"/dev/ttyUSB0"}"#).unwrap();
        assert_eq!(c, SerialConfig { path: "/dev/ttyUSB0".into(), ..SerialConfig::default() });
        assert_eq!((c.baud_rate, c.data_bits, c.parity, c.stop_bits), (9600, 8, Parity::None, 1));
        assert_eq!(
            (c.flow_control, c.codec, c.device_id(), c.time_zone.as_str()),
            (FlowControl::None, SerialCodec::MasimoAscii1, "/dev/ttyUSB0", "UTC")
        );
        assert_eq!((c.max_frame_bytes, c.reconnect_max()), (512, Duration::from_secs(5)));
        let b = c.port_builder().unwrap();
        drop(b);
    }

    #[test]
    fn every_field_is_read_and_unknown_ones_rejected() {
        let text = r#"{"path":"/dev/serial/by-id/usb-FTDI","baud_rate":19200,"data_bits":7,"parity":"even","stop_bits":2,
            "flow_control":"hardware","codec":"masimo_ascii1","device_id":"bed-3-spo2","time_zone":"Europe/London",
            "max_frame_bytes":256,"reconnect_max_ms":1000}"#;
        let c: SerialConfig = serde_json::from_str(text).unwrap();
        assert_eq!(
            (c.baud_rate, c.data_bits, c.parity, c.stop_bits, c.flow_control),
            (19200, 7, Parity::Even, 2, FlowControl::Hardware)
        );
        assert_eq!(
            (c.device_id(), c.time_zone.as_str(), c.max_frame_bytes, c.reconnect_max_ms),
            ("bed-3-spo2", "Europe/London", 256, 1000)
        );
        c.validate().unwrap();
        let err = serde_json::from_str::<SerialConfig>(r#"{"path":"x","baud":9600}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `baud`"), "{err}");
        let err = serde_json::from_str::<SerialConfig>(r#"{"path":"x","codec":"pcd01"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `pcd01`"), "{err}");
    }

    #[test]
    fn invalid_settings_are_reported_by_field() {
        let ok = SerialConfig::test_config("/dev/ttyS0", "spo2");
        let check = |c: SerialConfig, field: &str| {
            let err = c.port_builder().unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig { field: f, .. } if f == &field), "{err}");
        };
        check(SerialConfig { path: String::new(), ..ok.clone() }, "path");
        check(SerialConfig { baud_rate: 0, ..ok.clone() }, "baud_rate");
        check(SerialConfig { data_bits: 9, ..ok.clone() }, "data_bits");
        check(SerialConfig { stop_bits: 3, ..ok.clone() }, "stop_bits");
        check(SerialConfig { device_id: Some(String::new()), ..ok.clone() }, "device_id");
        check(SerialConfig { time_zone: "Europe/Londn".into(), ..ok.clone() }, "time_zone");
        check(SerialConfig { max_frame_bytes: 8, ..ok.clone() }, "max_frame_bytes");
        check(SerialConfig { reconnect_max_ms: 10, ..ok }, "reconnect_max_ms");
    }
}
