//! Tests of the device poller: requests in, response frames in, readings and dead letters out.

use super::*;
use crate::modbus::config::{SerialConfig, Transport};
use crate::modbus::frame::crc16;
use crate::modbus::point::{DataType, Function, Sentinel};

fn model() -> ModelConfig {
    let temp = PointConfig {
        scale: 0.1,
        unit: Some("Cel".into()),
        no_value: Some(Sentinel::Bits(0x8000)),
        ..PointConfig::new("temp", Function::InputRegisters, 0, DataType::I16)
    };
    let humidity = PointConfig {
        unit: Some("%".into()),
        ..PointConfig::new("humidity", Function::InputRegisters, 1, DataType::F32)
    };
    let door = PointConfig::new("door_open", Function::DiscreteInputs, 4, DataType::Bool);
    ModelConfig { name: "incubator".into(), points: vec![temp, humidity, door] }
}

fn rtu(body: &[u8]) -> Vec<u8> {
    let mut frame = body.to_vec();
    frame.extend_from_slice(&crc16(body).to_le_bytes());
    frame
}

#[test]
fn a_poll_reads_each_block_and_yields_exact_readings() {
    let device = DeviceConfig::tcp("inc-1", "incubator", "127.0.0.1", 1502, 5);
    let mut poller = DevicePoller::new(&device, &model());
    assert_eq!(&**poller.origin(), "tcp://127.0.0.1:1502 unit 5");
    assert_eq!(
        poller.blocks().iter().map(Block::describe).collect::<Vec<_>>(),
        ["discrete_inputs 4..=4", "input_registers 0..=2"]
    );
    let bits = poller.request(0).unwrap();
    let regs = poller.request(1).unwrap();
    assert_eq!((bits.tr_id, regs.tr_id), (1, 2));
    assert_eq!(regs.frame, [0, 2, 0, 0, 0, 6, 5, 0x04, 0, 0, 0, 3]);

    let mut batch = IngestBatch::default();
    let door = [0, 1, 0, 0, 0, 4, 5, 0x02, 1, 0x01];
    let counts = poller.response(&bits, &door, 10, 11, &mut batch).unwrap();
    assert_eq!(counts, ResponseCounts { readings: 1, dead_letters: 0, exception: None });
    // temp 0x016D = 365 × 0.1; humidity f32 0x42700000 = 60.0.
    let values = [0, 2, 0, 0, 0, 9, 5, 0x04, 6, 0x01, 0x6D, 0x42, 0x70, 0x00, 0x00];
    poller.response(&regs, &values, 10, 12, &mut batch).unwrap();
    let got: Vec<(&str, &RawValue, Option<&str>, Micros, Micros)> = batch
        .readings
        .iter()
        .map(|r| (r.name.as_str(), &r.value, r.unit.as_deref(), r.device_time, r.received_at))
        .collect();
    assert_eq!(
        got,
        [
            ("door_open", &RawValue::Number(1.0), None, 10, 11),
            ("temp", &RawValue::Number(36.5), Some("Cel"), 10, 12),
            ("humidity", &RawValue::Number(60.0), Some("%"), 10, 12),
        ]
    );
    let r = &batch.readings[1];
    assert_eq!(
        (&*r.device_id, &*r.origin, r.source, &*r.raw),
        ("inc-1", "tcp://127.0.0.1:1502 unit 5", Source::Modbus, &values[..])
    );
    assert!(batch.dead_letters.is_empty());
    // A late answer to an earlier request is refused and adds nothing.
    let again = poller.request(1).unwrap();
    assert_eq!(
        poller.response(&again, &values, 20, 21, &mut batch),
        Err(FrameError::Transaction { expected: 3, got: 2 })
    );
    assert_eq!(batch.readings.len(), 3);
}

#[test]
fn markers_and_exceptions_become_dead_letters_with_the_frame() {
    let path = "/dev/ttyUSB0";
    let device = DeviceConfig {
        transport: Transport::Rtu(SerialConfig::new(path)),
        ..DeviceConfig::tcp("inc-2", "incubator", "", 0, 9)
    };
    let mut poller = DevicePoller::new(&device, &model());
    let regs = poller.request(1).unwrap();
    assert_eq!(regs.frame[..6], [9, 0x04, 0, 0, 0, 3]);
    let mut batch = IngestBatch::default();
    // temp = the 0x8000 marker, humidity = +infinity.
    let frame = rtu(&[9, 0x04, 6, 0x80, 0x00, 0x7F, 0x80, 0x00, 0x00]);
    let counts = poller.response(&regs, &frame, 1, 2, &mut batch).unwrap();
    assert_eq!(counts, ResponseCounts { readings: 0, dead_letters: 2, exception: None });
    let dead: Vec<(Reason, Option<&str>, &str)> =
        batch.dead_letters.iter().map(|d| (d.reason, d.source_name.as_deref(), d.detail.as_str())).collect();
    assert_eq!(
        dead,
        [
            (
                Reason::MissingValue,
                Some("temp"),
                "no value: the device's no-value marker 0x8000 (temp at input_registers 0)"
            ),
            (Reason::NonFiniteValue, Some("humidity"), "the registers hold inf (humidity at input_registers 1)"),
        ]
    );
    assert_eq!(
        (&*batch.dead_letters[0].payload, &*batch.dead_letters[0].origin),
        (&frame[..], "rtu:/dev/ttyUSB0 unit 9")
    );

    let bits = poller.request(0).unwrap();
    let gateway = rtu(&[9, 0x82, 0x0B]);
    let counts = poller.response(&bits, &gateway, 3, 4, &mut batch).unwrap();
    assert_eq!(counts, ResponseCounts { readings: 0, dead_letters: 1, exception: Some(0x0B) });
    let d = &batch.dead_letters[2];
    assert_eq!(
        (d.reason, d.source_name.as_deref(), d.device_id.as_deref()),
        (Reason::InvalidPayload, Some("door_open"), Some("inc-2"))
    );
    assert_eq!(
        d.detail,
        "Modbus exception 0x0B (gateway target device failed to respond) reading discrete_inputs 4..=4 from unit 9"
    );
    assert_eq!((&*d.payload, d.received_at, d.source), (&gateway[..], 4, Source::Modbus));
}
