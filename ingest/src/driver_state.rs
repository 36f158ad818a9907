//! [`DriverRegistry`]: the state of every driver the service runs — serial ports, Modbus devices,
//! MQTT connections, the PCD-01 listener — as `GET /api/v1/devices` shows it in each device's
//! `driver` object and `/metrics` exports it (serial and Modbus families).
//!
//! Drivers register their shared counters at start ([`DriverRegistry::add_serial`] …); nothing is
//! copied until a request reads them. A device maps to its driver by:
//! - serial: the port's configured `device_id`, its path (the fallback id of lines naming no
//!   device), or any device id its readings carried;
//! - Modbus: the configured device id (one entry per slave);
//! - MQTT and PCD-01: the transport of its latest reading (`mqtt`, `hl7`), since one connection
//!   carries many devices.
//!
//! The `driver` object: `kind`, `name` (port, bus device, broker, listen address), `state`
//! (`connected`, `reconnecting` while waiting to retry after a failure, `connecting`/`opening`
//! during an attempt, `disconnected` before the first one), `reconnects`, `last_error`,
//! `bytes_discarded`, `frames_decoded`, `last_reading_at` (RFC 3339), and per-kind extras.

use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use wardstream_pipeline::time::format_rfc3339;
use wardstream_protocols::mllp::MllpStats;
use wardstream_protocols::modbus::{ConnectionState, ModbusStats};
use wardstream_protocols::mqtt::MqttStats;
use wardstream_protocols::serial::{PortState, SerialStats};

use crate::metrics::Family;

/// One serial port.
#[derive(Debug)]
struct SerialPort {
    path: String,
    codec: String,
    device_id: Option<String>,
    stats: Arc<SerialStats>,
}

/// Every driver's counters (see the module docs).
#[derive(Debug, Default)]
pub struct DriverRegistry {
    parts: RwLock<Parts>,
}

#[derive(Debug, Default)]
struct Parts {
    serial: Vec<SerialPort>,
    modbus: Vec<Arc<ModbusStats>>,
    mqtt: Vec<(String, Arc<MqttStats>)>,
    pcd01: Option<(String, Arc<MllpStats>)>,
}

impl DriverRegistry {
    fn with(&self, f: impl FnOnce(&mut Parts)) {
        f(&mut self.parts.write().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Parts> {
        self.parts.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a serial port.
    pub fn add_serial(&self, path: &str, codec: &str, device_id: Option<&str>, stats: Arc<SerialStats>) {
        let port = SerialPort {
            path: path.to_owned(),
            codec: codec.to_owned(),
            device_id: device_id.map(str::to_owned),
            stats,
        };
        self.with(|p| p.serial.push(port));
    }

    /// Registers the Modbus devices' counters.
    pub fn add_modbus(&self, stats: Arc<ModbusStats>) {
        self.with(|p| p.modbus.push(stats));
    }

    /// Registers an MQTT connection to `broker`.
    pub fn add_mqtt(&self, broker: &str, stats: Arc<MqttStats>) {
        self.with(|p| p.mqtt.push((broker.to_owned(), stats)));
    }

    /// Registers the PCD-01 listener on `listen`.
    pub fn set_pcd01(&self, listen: &str, stats: Arc<MllpStats>) {
        self.with(|p| p.pcd01 = Some((listen.to_owned(), stats)));
    }

    /// Device ids the drivers know without having heard from them (configured serial and
    /// Modbus devices, and devices seen on a serial port).
    pub fn known_devices(&self) -> Vec<String> {
        let parts = self.read();
        let mut ids: Vec<String> = parts
            .serial
            .iter()
            .flat_map(|s| s.device_id.iter().cloned().chain(s.stats.devices()))
            .chain(parts.modbus.iter().flat_map(|m| m.snapshot().into_keys()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The `driver` object of `device_id`, whose latest reading came by `source` (if any).
    pub fn driver_of(&self, device_id: &str, source: Option<&str>) -> Value {
        let parts = self.read();
        if let Some(port) = parts.serial.iter().find(|s| {
            s.device_id.as_deref() == Some(device_id)
                || s.path == device_id
                || s.stats.devices().iter().any(|d| d == device_id)
        }) {
            return serial_json(port);
        }
        for modbus in &parts.modbus {
            if let Some(snapshot) = modbus.snapshot().get(device_id) {
                let error = modbus.device(device_id).last_error();
                let state = match snapshot.state {
                    ConnectionState::Connected => "connected",
                    ConnectionState::Connecting => "connecting",
                    ConnectionState::Disconnected if snapshot.reconnects > 0 => "reconnecting",
                    ConnectionState::Disconnected => "disconnected",
                };
                return json!({
                    "kind": "modbus",
                    "name": device_id,
                    "state": state,
                    "reconnects": snapshot.reconnects,
                    "last_error": error,
                    "bytes_discarded": 0,
                    "frames_decoded": snapshot.responses,
                    "last_reading_at": snapshot.last_reading_at.map(format_rfc3339),
                    "polls": snapshot.polls,
                    "timeouts": snapshot.timeouts,
                    "exceptions": snapshot.exceptions,
                    "errors": snapshot.errors,
                });
            }
        }
        match source {
            Some("mqtt") if !parts.mqtt.is_empty() => mqtt_json(&parts.mqtt),
            Some("hl7") => parts.pcd01.as_ref().map_or(Value::Null, |(listen, stats)| {
                let s = stats.snapshot();
                json!({
                    "kind": "pcd01",
                    "name": listen,
                    "state": if s.connections_open > 0 { "connected" } else { "listening" },
                    "reconnects": s.connections_accepted.saturating_sub(1),
                    "last_error": Value::Null,
                    "bytes_discarded": s.bytes_discarded,
                    "frames_decoded": s.frames,
                    "last_reading_at": Value::Null,
                    "connections_open": s.connections_open,
                    "acks_aa": s.acks_aa,
                    "acks_ae": s.acks_ae,
                    "acks_ar": s.acks_ar,
                })
            }),
            _ => Value::Null,
        }
    }

    /// `/metrics` families of the serial ports and Modbus devices.
    pub fn families(&self) -> Vec<Family> {
        let parts = self.read();
        let mut families = Vec::new();
        let serial: Vec<(String, wardstream_protocols::serial::SerialStatsSnapshot)> =
            parts.serial.iter().map(|s| (s.path.clone(), s.stats.snapshot())).collect();
        if !serial.is_empty() {
            let family =
                |name: &str,
                 help: &str,
                 kind: &'static str,
                 f: &dyn Fn(&wardstream_protocols::serial::SerialStatsSnapshot) -> f64| Family {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    kind,
                    samples: serial.iter().map(|(port, s)| (vec![("port".to_owned(), port.clone())], f(s))).collect(),
                };
            families.extend([
                family("wardstream_serial_connected", "1 while the serial port is open.", "gauge", &|s| {
                    f64::from(u8::from(s.state == PortState::Connected))
                }),
                family("wardstream_serial_bytes_read_total", "Bytes read from the serial port.", "counter", &|s| {
                    s.bytes_read as f64
                }),
                family(
                    "wardstream_serial_frames_total",
                    "Frames (lines, messages) read from the serial port.",
                    "counter",
                    &|s| s.frames as f64,
                ),
                family(
                    "wardstream_serial_malformed_frames_total",
                    "Frames that did not decode (dead letters).",
                    "counter",
                    &|s| s.malformed_frames as f64,
                ),
                family("wardstream_serial_readings_total", "Readings decoded from the serial port.", "counter", &|s| {
                    s.readings as f64
                }),
                family(
                    "wardstream_serial_bytes_discarded_total",
                    "Bytes outside any frame (garbage, cut lines).",
                    "counter",
                    &|s| s.discarded_bytes as f64,
                ),
                family("wardstream_serial_disconnects_total", "Times the serial port was lost.", "counter", &|s| {
                    s.disconnects as f64
                }),
                family("wardstream_serial_reconnects_total", "Times the serial port was reopened.", "counter", &|s| {
                    s.reconnects as f64
                }),
                family(
                    "wardstream_serial_open_failures_total",
                    "Failed attempts to open the serial port.",
                    "counter",
                    &|s| s.open_failures as f64,
                ),
            ]);
        }
        let modbus: Vec<(String, wardstream_protocols::modbus::DeviceStatsSnapshot)> =
            parts.modbus.iter().flat_map(|m| m.snapshot()).collect();
        if !modbus.is_empty() {
            let family =
                |name: &str,
                 help: &str,
                 kind: &'static str,
                 f: &dyn Fn(&wardstream_protocols::modbus::DeviceStatsSnapshot) -> f64| Family {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    kind,
                    samples: modbus.iter().map(|(d, s)| (vec![("device".to_owned(), d.clone())], f(s))).collect(),
                };
            families.extend([
                family(
                    "wardstream_modbus_connected",
                    "1 while the device's Modbus connection is open.",
                    "gauge",
                    &|s| f64::from(u8::from(s.state == ConnectionState::Connected)),
                ),
                family("wardstream_modbus_polls_total", "Polls started.", "counter", &|s| s.polls as f64),
                family(
                    "wardstream_modbus_responses_total",
                    "Responses received (exceptions included).",
                    "counter",
                    &|s| s.responses as f64,
                ),
                family(
                    "wardstream_modbus_readings_total",
                    "Readings decoded from Modbus responses.",
                    "counter",
                    &|s| s.readings as f64,
                ),
                family("wardstream_modbus_exceptions_total", "Modbus exception responses.", "counter", &|s| {
                    s.exceptions as f64
                }),
                family("wardstream_modbus_timeouts_total", "Requests without an answer in time.", "counter", &|s| {
                    s.timeouts as f64
                }),
                family("wardstream_modbus_errors_total", "Connection and framing errors.", "counter", &|s| {
                    s.errors as f64
                }),
                family("wardstream_modbus_reconnects_total", "Connections lost or failed.", "counter", &|s| {
                    s.reconnects as f64
                }),
            ]);
        }
        families
    }
}

fn serial_json(port: &SerialPort) -> Value {
    let s = port.stats.snapshot();
    let retry = port.stats.retry_in_ms();
    let state = match s.state {
        PortState::Connected => "connected",
        PortState::Opening => "opening",
        PortState::Disconnected if s.disconnects + s.open_failures > 0 => "reconnecting",
        PortState::Disconnected => "disconnected",
    };
    json!({
        "kind": "serial",
        "name": port.path,
        "codec": port.codec,
        "state": state,
        "retry_in_ms": if state == "reconnecting" { json!(retry) } else { Value::Null },
        "reconnects": s.reconnects,
        "last_error": port.stats.last_error(),
        "bytes_discarded": s.discarded_bytes,
        "frames_decoded": s.frames.saturating_sub(s.malformed_frames),
        "malformed_frames": s.malformed_frames,
        "bytes_read": s.bytes_read,
        "disconnects": s.disconnects,
        "open_failures": s.open_failures,
        "last_reading_at": s.last_reading_at.map(format_rfc3339),
    })
}

fn mqtt_json(sources: &[(String, Arc<MqttStats>)]) -> Value {
    let snapshots: Vec<_> = sources.iter().map(|(_, s)| s.snapshot()).collect();
    let connected = snapshots.iter().all(|s| s.connected);
    let reconnects: u64 = snapshots.iter().map(|s| s.reconnects).sum();
    let state = match (connected, reconnects) {
        (true, _) => "connected",
        (false, 0) => "connecting",
        (false, _) => "reconnecting",
    };
    let names: Vec<&str> = sources.iter().map(|(b, _)| b.as_str()).collect();
    json!({
        "kind": "mqtt",
        "name": names.join(","),
        "state": state,
        "reconnects": reconnects,
        "last_error": Value::Null,
        "bytes_discarded": 0,
        "frames_decoded": snapshots.iter().map(|s| s.messages_received).sum::<u64>(),
        "last_reading_at": snapshots.iter().filter_map(|s| s.last_message_at).max().map(format_rfc3339),
        "dead_letters": snapshots.iter().map(|s| s.dead_letters).sum::<u64>(),
    })
}
