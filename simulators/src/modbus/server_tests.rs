//! Tests of the slave's request handling (no I/O).

use super::super::config::Faults;
use super::*;

fn rtu(body: &[u8]) -> Vec<u8> {
    let mut frame = body.to_vec();
    frame.extend_from_slice(&crc16(body).to_le_bytes());
    frame
}

fn units() -> (Units, Vec<(u8, Arc<FaultControl>)>) {
    Units::new(&UnitConfig::ward_pair())
}

#[test]
fn reads_are_answered_from_the_models_tables() {
    let (mut units, _) = units();
    // TCP: read input registers 0..=3 of the incubator (unit 2).
    let request = [0, 7, 0, 0, 0, 6, 2, 0x04, 0, 0, 0, 4];
    let (response, delay) = units.answer(ModbusProto::TcpUdp, &request).unwrap();
    assert_eq!(delay, Duration::ZERO);
    assert_eq!(response[..9], [0, 7, 0, 0, 0, 11, 2, 0x04, 8]);
    let word = |i: usize| u16::from_be_bytes([response[9 + 2 * i], response[10 + 2 * i]]);
    let air = f32::from_bits(u32::from(word(1)) << 16 | u32::from(word(0)));
    assert!((36.79..=37.21).contains(&air), "{air}");
    assert!((550..=650).contains(&word(2)), "{}", word(2));
    assert!((3639..=3661).contains(&(word(3) as i16)), "{}", word(3));
    // RTU: the fridge's door (unit 1, discrete input 0) is closed in the first minute.
    let (response, _) = units.answer(ModbusProto::Rtu, &rtu(&[1, 0x02, 0, 0, 0, 1])).unwrap();
    assert_eq!(response, rtu(&[1, 0x02, 1, 0]));
    let (response, _) = units.answer(ModbusProto::Rtu, &rtu(&[1, 0x04, 0, 0, 0, 1])).unwrap();
    let temp = i16::from_be_bytes([response[3], response[4]]);
    assert!((37..=43).contains(&temp), "{temp}");
}

#[test]
fn unmapped_addresses_unknown_units_and_broken_frames() {
    let (mut units, _) = units();
    let (response, _) = units.answer(ModbusProto::Rtu, &rtu(&[1, 0x03, 0, 15, 0, 2])).unwrap();
    assert_eq!(response, rtu(&[1, 0x83, 0x02]));
    assert_eq!(units.answer(ModbusProto::Rtu, &rtu(&[9, 0x03, 0, 0, 0, 1])), None);
    let (response, _) = units.answer(ModbusProto::TcpUdp, &[0, 3, 0, 0, 0, 6, 9, 0x03, 0, 0, 0, 1]).unwrap();
    assert_eq!(response, [0, 3, 0, 0, 0, 3, 9, 0x83, 0x0B]);
    let mut bad_crc = rtu(&[1, 0x03, 0, 0, 0, 1]);
    bad_crc[7] ^= 1;
    assert_eq!(units.answer(ModbusProto::Rtu, &bad_crc), None);
    assert_eq!(units.answer(ModbusProto::Rtu, &[1]), None);
    // Writing the set point, then reading it back.
    let write = rtu(&[1, 0x06, 0, 0, 0, 35]);
    assert_eq!(units.answer(ModbusProto::Rtu, &write).unwrap().0, write);
    assert_eq!(units.answer(ModbusProto::Rtu, &rtu(&[1, 0x03, 0, 0, 0, 1])).unwrap().0, rtu(&[1, 0x03, 2, 0, 35]));
}

#[test]
fn faults_are_injected_and_adjustable_while_running() {
    let (mut units, controls) = units();
    let fridge = &controls[0].1;
    let read = rtu(&[1, 0x04, 0, 0, 0, 1]);
    fridge.set(Faults { exception_every: 2, exception_code: 0x0B, delay_ms: 30, silent: false });
    let first = units.answer(ModbusProto::Rtu, &read).unwrap();
    assert_eq!((first.0[1], first.1), (0x04, Duration::from_millis(30)));
    assert_eq!(units.answer(ModbusProto::Rtu, &read).unwrap().0, rtu(&[1, 0x84, 0x0B]));
    fridge.set_silent(true);
    assert_eq!(units.answer(ModbusProto::Rtu, &read), None);
    fridge.set(Faults::default());
    assert!(units.answer(ModbusProto::Rtu, &read).is_some());
    assert_eq!(fridge.requests(), 4);
    assert_eq!(controls[1].1.requests(), 0);
}
