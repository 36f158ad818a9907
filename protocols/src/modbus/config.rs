//! [`ModbusConfig`]: register maps per device model ([`ModelConfig`]) and the devices that use
//! them ([`DeviceConfig`]: unit id, poll interval, timeout, retries, [`Transport`]).
//! Deserialised from the service configuration (`[modbus]`, `[[modbus.models]]`,
//! `[[modbus.devices]]`); [`ModbusConfig::validate`] checks everything before the driver starts.
//!
//! ```toml
//! [[modbus.models]]
//! name = "blood-fridge"
//! points = [
//!   { metric = "temp", function = "input_registers", address = 0, type = "i16", scale = 0.1, unit = "Cel", no_value = 0x8000 },
//!   { metric = "door_open", function = "discrete_inputs", address = 0, type = "bool" },
//! ]
//!
//! [[modbus.devices]]
//! device_id = "fridge-3"
//! model = "blood-fridge"
//! unit_id = 1
//! transport = { kind = "tcp", host = "10.1.2.3", port = 502 }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use super::Error;
use super::point::PointConfig;

const fn default_unit_id() -> u8 {
    1
}
const fn default_poll_interval_ms() -> u64 {
    1000
}
const fn default_timeout_ms() -> u64 {
    1000
}
const fn default_retries() -> u32 {
    2
}
const fn default_tcp_port() -> u16 {
    502
}
const fn default_baud() -> u32 {
    9600
}
const fn default_data_bits() -> u8 {
    8
}
const fn default_stop_bits() -> u8 {
    1
}

/// The Modbus driver's configuration: register maps and devices. Empty by default.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModbusConfig {
    /// Register maps, one per device model.
    pub models: Vec<ModelConfig>,
    /// The devices polled.
    pub devices: Vec<DeviceConfig>,
}

/// A device model's register map.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name devices refer to it by.
    pub name: String,
    /// What is read, and where.
    pub points: Vec<PointConfig>,
}

/// One Modbus slave (server) to poll.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// The device id its readings carry (unique across all drivers).
    pub device_id: String,
    /// The [`ModelConfig::name`] of its register map.
    pub model: String,
    /// Its unit (slave) id, 1-247 (0 is broadcast; TCP devices behind no gateway often ignore
    /// it). Default 1.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// Time between the starts of two polls, in ms. Default 1000.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How long to wait for each response, in ms. Default 1000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Further attempts after a timeout or a bad frame, each after a backoff, before the poll
    /// is given up. Default 2.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// How it is reached. Devices with the same TCP host and port share one connection;
    /// devices on the same serial port share the bus.
    pub transport: Transport,
}

impl DeviceConfig {
    /// A TCP device with the defaults, for tests.
    pub fn tcp(device_id: &str, model: &str, host: &str, port: u16, unit_id: u8) -> DeviceConfig {
        DeviceConfig {
            device_id: device_id.to_owned(),
            model: model.to_owned(),
            unit_id,
            poll_interval_ms: default_poll_interval_ms(),
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
            transport: Transport::Tcp { host: host.to_owned(), port },
        }
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The response timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// How a device is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transport {
    /// Modbus TCP.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port (default 502).
        #[serde(default = "default_tcp_port")]
        port: u16,
    },
    /// Modbus RTU on a serial port (RS-485 or RS-232).
    Rtu(SerialConfig),
}

impl Transport {
    /// `tcp://host:port` or `rtu:/dev/ttyUSB0`: the bus key and the start of reading origins.
    pub fn describe(&self) -> String {
        match self {
            Transport::Tcp { host, port } if host.contains(':') => format!("tcp://[{host}]:{port}"),
            Transport::Tcp { host, port } => format!("tcp://{host}:{port}"),
            Transport::Rtu(serial) => format!("rtu:{}", serial.path),
        }
    }
}

/// Serial line settings of an RTU bus.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// The port: `/dev/ttyUSB0`, or better a `/dev/serial/by-id/…` path, which survives replugging.
    pub path: String,
    /// Baud rate (default 9600).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Parity (default none).
    #[serde(default)]
    pub parity: Parity,
    /// Data bits, 7 or 8 (default 8).
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Stop bits, 1 or 2 (default 1).
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
}

impl SerialConfig {
    /// 9600 baud, 8 data bits, no parity, 1 stop bit on `path`.
    pub fn new(path: &str) -> SerialConfig {
        SerialConfig {
            path: path.to_owned(),
            baud: default_baud(),
            parity: Parity::None,
            data_bits: default_data_bits(),
            stop_bits: default_stop_bits(),
        }
    }
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Even parity (the Modbus RTU default).
    Even,
    /// Odd parity.
    Odd,
}

impl ModbusConfig {
    /// Checks every model and device; the first problem found is the error, named by its path
    /// (`devices[1].unit_id`).
    pub fn validate(&self) -> Result<(), Error> {
        let mut models = BTreeSet::new();
        for (m, model) in self.models.iter().enumerate() {
            if model.name.trim().is_empty() || !models.insert(model.name.as_str()) {
                return Err(invalid(format!("models[{m}].name"), format!("{:?} is empty or not unique", model.name)));
            }
            if model.points.is_empty() {
                return Err(invalid(format!("models[{m}].points"), "a model needs at least one point".into()));
            }
            for (p, point) in model.points.iter().enumerate() {
                if let Some(problem) = point.problem() {
                    return Err(invalid(format!("models[{m}].points[{p}]"), problem));
                }
            }
        }
        let mut ids = BTreeSet::new();
        let mut units: BTreeMap<(String, u8), &str> = BTreeMap::new();
        let mut serial: BTreeMap<&str, &SerialConfig> = BTreeMap::new();
        for (d, device) in self.devices.iter().enumerate() {
            let at = |field: &str| format!("devices[{d}].{field}");
            if device.device_id.trim().is_empty() || !ids.insert(device.device_id.as_str()) {
                return Err(invalid(at("device_id"), format!("{:?} is empty or not unique", device.device_id)));
            }
            if !models.contains(device.model.as_str()) {
                return Err(invalid(at("model"), format!("no model is named {:?}", device.model)));
            }
            if !(1..=247).contains(&device.unit_id) && !matches!(device.transport, Transport::Tcp { .. }) {
                return Err(invalid(at("unit_id"), format!("{} is outside 1-247", device.unit_id)));
            }
            if device.poll_interval_ms == 0 || device.timeout_ms == 0 {
                return Err(invalid(at("poll_interval_ms"), "poll_interval_ms and timeout_ms must be above 0".into()));
            }
            if let Some(other) = units.insert((device.transport.describe(), device.unit_id), &device.device_id) {
                return Err(invalid(
                    at("unit_id"),
                    format!("unit {} on this bus is already {other:?}", device.unit_id),
                ));
            }
            match &device.transport {
                Transport::Tcp { host, port } if host.trim().is_empty() || *port == 0 => {
                    return Err(invalid(at("transport"), "a TCP transport needs a host and a port above 0".into()));
                }
                Transport::Tcp { .. } => {}
                Transport::Rtu(line) => {
                    if line.path.trim().is_empty() || line.baud == 0 {
                        return Err(invalid(at("transport"), "an RTU transport needs a path and a baud rate".into()));
                    }
                    if !matches!(line.data_bits, 7 | 8) || !matches!(line.stop_bits, 1 | 2) {
                        return Err(invalid(at("transport"), "data_bits must be 7 or 8, stop_bits 1 or 2".into()));
                    }
                    if serial.insert(&line.path, line).is_some_and(|first| first != line) {
                        return Err(invalid(
                            at("transport"),
                            format!("{} is configured with other line settings before", line.path),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The model named `name`.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }
}

fn invalid(field: String, message: String) -> Error {
    Error::InvalidConfig { field, message }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
