//! The simulated devices' register maps and how their values move with time. Values are a
//! pure function of the seconds since the slave started, so tests can predict them.
//!
//! | device | table | address | type | content | catalogue metric |
//! |---|---|---|---|---|---|
//! | blood fridge | input registers | 0 | i16 × 0.1 °C | temperature, 4.0 ± 0.3 °C, rising up to 1.5 °C while the door is open | `temp_storage` |
//! | blood fridge | discrete inputs | 0 | bit | door open: 15 s in every 120 s, from second 60 | `door_open` |
//! | blood fridge | holding registers | 0 | i16 × 0.1 °C | set point, 40 (writable) | not mapped |
//! | incubator | input registers | 0-1 | f32, word order CDAB | air temperature, 37.0 ± 0.2 °C | `temp` |
//! | incubator | input registers | 2 | u16 × 0.1 % | relative humidity, 60 ± 5 % | `humidity_relative` |
//! | incubator | input registers | 3 | i16 × 0.01 °C | skin temperature, 36.5 ± 0.1 °C | `temp_skin` |
//! | incubator | coils | 0 | bit | heater on (air below 37.0 °C) | `heater_on` |
//! | incubator | holding registers | 0 | i16 × 0.1 °C | set point, 370 (writable) | not mapped |
//!
//! Every table has 16 entries; reading past them is answered with exception 0x02.
//! [`DeviceKind::register_map_json`] gives the same map as a wardstream Modbus model.

use std::f64::consts::TAU;

use rmodbus::server::storage::ModbusStorage;

use super::config::DeviceKind;

/// A unit's data tables: 16 coils, discrete inputs, input and holding registers.
pub type Storage = ModbusStorage<16, 16, 16, 16>;

/// The fridge's temperature in tenths of °C at `t` seconds.
pub fn fridge_temp_tenths(t: f64) -> i16 {
    let base = 4.0 + 0.3 * (TAU * t / 90.0).sin();
    let door = if fridge_door_open(t) { (0.1 * (t.rem_euclid(120.0) - 60.0)).min(1.5) } else { 0.0 };
    ((base + door) * 10.0).round() as i16
}

/// Whether the fridge door is open at `t` seconds.
pub fn fridge_door_open(t: f64) -> bool {
    (60.0..75.0).contains(&t.rem_euclid(120.0))
}

/// The incubator's air temperature (°C) at `t` seconds, as an `f32`.
pub fn incubator_air_temp(t: f64) -> f32 {
    (37.0 + 0.2 * (TAU * t / 60.0).sin()) as f32
}

/// The incubator's relative humidity in tenths of % at `t` seconds.
pub fn incubator_humidity_tenths(t: f64) -> u16 {
    ((60.0 + 5.0 * (TAU * t / 300.0).sin()) * 10.0).round() as u16
}

/// The incubator's skin temperature in hundredths of °C at `t` seconds.
pub fn incubator_skin_temp_hundredths(t: f64) -> i16 {
    ((36.5 + 0.1 * (TAU * t / 45.0).cos()) * 100.0).round() as i16
}

/// A unit's tables, initialised for `kind` (set points included).
pub fn new_storage(kind: DeviceKind) -> Storage {
    let mut storage = Storage::default();
    storage.holdings[0] = match kind {
        DeviceKind::BloodFridge => 40,
        DeviceKind::Incubator => 370,
    };
    storage
}

/// Writes the values of `kind` at `t` seconds into `storage` (the read-only tables only).
pub fn update(kind: DeviceKind, storage: &mut Storage, t: f64) {
    match kind {
        DeviceKind::BloodFridge => {
            storage.inputs[0] = fridge_temp_tenths(t) as u16;
            storage.discretes[0] = fridge_door_open(t);
        }
        DeviceKind::Incubator => {
            let air = incubator_air_temp(t);
            // Word order CDAB: the low word first.
            let bits = air.to_bits();
            storage.inputs[0] = bits as u16;
            storage.inputs[1] = (bits >> 16) as u16;
            storage.inputs[2] = incubator_humidity_tenths(t);
            storage.inputs[3] = incubator_skin_temp_hundredths(t) as u16;
            storage.coils[0] = air < 37.0;
        }
    }
}

impl DeviceKind {
    /// The register map as a wardstream Modbus model (`[[modbus.models]]` in JSON), named
    /// `blood-fridge` or `incubator`. Every point names a catalogue metric (the table above).
    pub fn register_map_json(self) -> &'static str {
        match self {
            DeviceKind::BloodFridge => {
                r#"{"name": "blood-fridge", "points": [
  {"metric": "temp_storage", "function": "input_registers", "address": 0, "type": "i16", "scale": 0.1, "unit": "Cel", "no_value": 32768},
  {"metric": "door_open", "function": "discrete_inputs", "address": 0, "type": "bool"}]}"#
            }
            DeviceKind::Incubator => {
                r#"{"name": "incubator", "points": [
  {"metric": "temp", "function": "input_registers", "address": 0, "type": "f32", "order": "CDAB", "unit": "Cel", "no_value": "NaN"},
  {"metric": "humidity_relative", "function": "input_registers", "address": 2, "type": "u16", "scale": 0.1, "unit": "%"},
  {"metric": "temp_skin", "function": "input_registers", "address": 3, "type": "i16", "scale": 0.01, "unit": "Cel"},
  {"metric": "heater_on", "function": "coils", "address": 0, "type": "bool"}]}"#
            }
        }
    }
}
