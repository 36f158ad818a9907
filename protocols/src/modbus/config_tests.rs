//! Tests of the Modbus configuration: parsing, defaults, unknown fields, validation.

use super::*;
use crate::modbus::point::{DataType, Function, Order, Sentinel};

const EXAMPLE: &str = r#"{
  "models": [{"name": "fridge", "points": [
    {"metric": "temp", "function": "input_registers", "address": 0, "type": "i16", "scale": 0.1, "unit": "Cel", "no_value": 32768},
    {"metric": "door", "function": "discrete_inputs", "address": 0, "type": "bool"},
    {"metric": "t2", "function": "holding_registers", "address": 10, "type": "f32", "order": "CDAB", "no_value": "NaN"},
    {"metric": "t3", "function": "holding_registers", "address": 12, "type": "u64", "no_value": "0xFFFF_FFFF_FFFF_FFFF"},
    {"metric": "t4", "function": "holding_registers", "address": 16, "type": "i16", "no_value": -32768}
  ]}],
  "devices": [
    {"device_id": "fridge-1", "model": "fridge", "transport": {"kind": "tcp", "host": "127.0.0.1"}},
    {"device_id": "fridge-2", "model": "fridge", "unit_id": 7, "poll_interval_ms": 250, "timeout_ms": 100, "retries": 0,
     "transport": {"kind": "rtu", "path": "/dev/ttyUSB0", "baud": 19200, "parity": "even"}}
  ]
}"#;

#[test]
fn a_full_configuration_parses_with_documented_defaults() {
    let c: ModbusConfig = serde_json::from_str(EXAMPLE).unwrap();
    c.validate().unwrap();
    let points = &c.models[0].points;
    assert_eq!(
        (points[0].function, points[0].data_type, points[0].order, points[0].scale, points[0].offset),
        (Function::InputRegisters, DataType::I16, Order::Abcd, 0.1, 0.0)
    );
    assert_eq!((points[0].unit.as_deref(), points[0].no_value), (Some("Cel"), Some(Sentinel::Bits(0x8000))));
    assert_eq!((points[2].order, points[2].no_value), (Order::Cdab, Some(Sentinel::NaN)));
    assert_eq!(points[3].no_value, Some(Sentinel::Bits(u64::MAX)));
    assert_eq!(points[4].no_value, Some(Sentinel::Bits(-32768i64 as u64)));
    let d = &c.devices[0];
    assert_eq!((d.unit_id, d.poll_interval_ms, d.timeout_ms, d.retries), (1, 1000, 1000, 2));
    assert_eq!(d.transport, Transport::Tcp { host: "127.0.0.1".into(), port: 502 });
    assert_eq!(d.transport.describe(), "tcp://127.0.0.1:502");
    let serial = SerialConfig { baud: 19200, parity: Parity::Even, ..SerialConfig::new("/dev/ttyUSB0") };
    assert_eq!(c.devices[1].transport, Transport::Rtu(serial));
    assert_eq!(c.devices[1].transport.describe(), "rtu:/dev/ttyUSB0");
    assert_eq!(c.model("fridge").map(|m| m.points.len()), Some(5));
    assert_eq!(serde_json::from_str::<ModbusConfig>("{}").unwrap(), ModbusConfig::default());
}

#[test]
fn unknown_fields_are_rejected_everywhere() {
    for (text, field) in [
        (r#"{"modells": []}"#, "modells"),
        (r#"{"models": [{"name": "m", "points": [], "vendor": "x"}]}"#, "vendor"),
        (
            r#"{"models": [{"name": "m", "points": [{"metric": "a", "function": "coils", "address": 0, "type": "bool", "sclae": 2}]}]}"#,
            "sclae",
        ),
        (
            r#"{"devices": [{"device_id": "d", "model": "m", "transport": {"kind": "tcp", "host": "h"}, "slave": 1}]}"#,
            "slave",
        ),
        (
            r#"{"devices": [{"device_id": "d", "model": "m", "transport": {"kind": "tcp", "host": "h", "baud": 1}}]}"#,
            "baud",
        ),
        (
            r#"{"devices": [{"device_id": "d", "model": "m", "transport": {"kind": "rtu", "path": "p", "host": "h"}}]}"#,
            "host",
        ),
    ] {
        let err = serde_json::from_str::<ModbusConfig>(text).unwrap_err().to_string();
        assert!(err.contains(&format!("unknown field `{field}`")), "{text}: {err}");
    }
    for bad in [r#""0xZZ""#, r#""none""#, "true"] {
        let text = format!(
            r#"{{"metric": "a", "function": "holding_registers", "address": 0, "type": "u16", "no_value": {bad}}}"#
        );
        assert!(serde_json::from_str::<PointConfig>(&text).is_err(), "{bad}");
    }
}

#[test]
fn invalid_settings_are_reported_by_path() {
    let base: ModbusConfig = serde_json::from_str(EXAMPLE).unwrap();
    let check = |edit: &dyn Fn(&mut ModbusConfig), path: &str| {
        let mut c = base.clone();
        edit(&mut c);
        match c.validate() {
            Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, path),
            other => panic!("{path}: {other:?}"),
        }
    };
    check(&|c| c.models.push(c.models[0].clone()), "models[1].name");
    check(&|c| c.models[0].points.clear(), "models[0].points");
    check(&|c| c.models[0].points[1].data_type = DataType::U16, "models[0].points[1]");
    check(&|c| c.models[0].points[0].data_type = DataType::Bool, "models[0].points[0]");
    check(&|c| c.models[0].points[2].address = 65_535, "models[0].points[2]");
    check(&|c| c.models[0].points[0].scale = 0.0, "models[0].points[0]");
    check(&|c| c.models[0].points[0].no_value = Some(Sentinel::NaN), "models[0].points[0]");
    check(&|c| c.models[0].points[0].no_value = Some(Sentinel::Bits(0x1_0000)), "models[0].points[0]");
    check(&|c| c.devices[1].device_id = "fridge-1".into(), "devices[1].device_id");
    check(&|c| c.devices[0].model = "nope".into(), "devices[0].model");
    check(&|c| c.devices[1].unit_id = 0, "devices[1].unit_id");
    check(&|c| c.devices[1].unit_id = 248, "devices[1].unit_id");
    check(&|c| c.devices[0].timeout_ms = 0, "devices[0].poll_interval_ms");
    check(&|c| c.devices[0].transport = Transport::Tcp { host: String::new(), port: 502 }, "devices[0].transport");
    check(
        &|c| {
            let mut d = c.devices[1].clone();
            d.device_id = "fridge-3".into();
            c.devices.push(d);
        },
        "devices[2].unit_id",
    );
    check(
        &|c| {
            let mut d = c.devices[1].clone();
            d.device_id = "fridge-3".into();
            d.unit_id = 8;
            d.transport = Transport::Rtu(SerialConfig::new("/dev/ttyUSB0"));
            c.devices.push(d);
        },
        "devices[2].transport",
    );
}
