//! [`RawReading`]: one value exactly as a driver received it, before normalisation.

use std::sync::Arc;

use crate::observation::Flags;
use crate::time::Micros;

/// The transport a reading arrived by; stored in the `source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// MQTT (SenML payloads).
    Mqtt,
    /// An RS-232 serial port.
    Serial,
    /// Modbus TCP or RTU.
    Modbus,
    /// HL7 v2 over MLLP.
    Hl7,
}

impl Source {
    /// The name stored in the `source` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Mqtt => "mqtt",
            Source::Serial => "serial",
            Source::Modbus => "modbus",
            Source::Hl7 => "hl7",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value as the device sent it. Only numbers become observations; the other kinds are kept
/// as dead letters with the reason `non_numeric_value` so nothing a device said is lost.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// A number (SenML `v`).
    Number(f64),
    /// A string (SenML `vs`).
    Text(String),
    /// A boolean (SenML `vb`).
    Bool(bool),
    /// Opaque data, base64 as sent (SenML `vd`).
    Data(String),
}

/// One reading as received: nothing normalised, nothing guessed.
#[derive(Debug, Clone, PartialEq)]
pub struct RawReading {
    /// The device that produced it (shared by all readings of one message).
    pub device_id: Arc<str>,
    /// The metric name as the device sent it (`HR`, `MDC_ECG_HEART_RATE`, `147842`, …).
    pub name: String,
    /// The value as sent.
    pub value: RawValue,
    /// The unit as sent, if any.
    pub unit: Option<String>,
    /// The observation time as the device stated it (µs, UTC).
    pub device_time: Micros,
    /// When wardstream received it (µs, UTC).
    pub received_at: Micros,
    /// The transport it came by.
    pub source: Source,
    /// Where on that transport: the MQTT topic, the serial port, the Modbus slave.
    pub origin: Arc<str>,
    /// The whole message it came in, shared by all its readings, for dead letters and audit.
    pub raw: Arc<[u8]>,
    /// Quality conditions the device itself reported (sensor off, result not final, …), mapped
    /// by the driver; the normaliser adds its own.
    pub flags: Flags,
}
