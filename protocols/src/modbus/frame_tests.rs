//! Tests of the Modbus codec with byte-annotated frames.

use super::*;

fn block(function: Function, start: u16, count: u16) -> Block {
    Block { function, start, count, points: vec![] }
}

/// Appends the RTU CRC.
fn rtu(body: &[u8]) -> Vec<u8> {
    let mut frame = body.to_vec();
    frame.extend_from_slice(&crc16(body).to_le_bytes());
    frame
}

#[test]
fn requests_are_built_by_rmodbus_with_our_transaction_id_and_crc() {
    let holdings = block(Function::HoldingRegisters, 0x006B, 3);
    assert_eq!(
        build_request(Proto::Tcp, 0x11, 0x0102, &holdings).unwrap(),
        // tr id   | protocol | length | unit | fn | address   | count
        [0x01, 0x02, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03]
    );
    // The Modbus over serial line spec's example: read holding registers 0x006B..0x006D of 0x11.
    assert_eq!(
        build_request(Proto::Rtu, 0x11, 0, &holdings).unwrap(),
        [0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87]
    );
    assert_eq!(crc16(&[0x11, 0x03, 0x00, 0x6B, 0x00, 0x03]), 0x8776);
    let coils = block(Function::Coils, 0x0013, 0x25);
    assert_eq!(build_request(Proto::Rtu, 0x11, 0, &coils).unwrap()[..6], [0x11, 0x01, 0x00, 0x13, 0x00, 0x25]);
    let inputs = block(Function::InputRegisters, 8, 1);
    assert_eq!(build_request(Proto::Tcp, 1, 7, &inputs).unwrap()[6..], [0x01, 0x04, 0x00, 0x08, 0x00, 0x01]);
    let discretes = block(Function::DiscreteInputs, 196, 22);
    assert_eq!(build_request(Proto::Tcp, 1, 7, &discretes).unwrap()[6..], [0x01, 0x02, 0x00, 0xC4, 0x00, 0x16]);
}

#[test]
fn register_and_bit_responses_parse_into_exact_counts() {
    let holdings = block(Function::HoldingRegisters, 0x006B, 3);
    //            tr id     | proto   | len    | unit| fn  | bytes| 0x022B   | 0x0000   | 0x0064
    let tcp = [0x00, 0x09, 0x00, 0x00, 0x00, 0x09, 0x11, 0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64];
    assert_eq!(response_len(Proto::Tcp, &tcp[..6]), Ok(15));
    assert_eq!(parse_response(Proto::Tcp, 0x11, 9, &holdings, &tcp), Ok(Response::Registers(vec![0x022B, 0, 0x64])));
    let rtu_frame = rtu(&[0x11, 0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64]);
    assert_eq!(response_len(Proto::Rtu, &rtu_frame[..3]), Ok(11));
    assert_eq!(
        parse_response(Proto::Rtu, 0x11, 0, &holdings, &rtu_frame),
        Ok(Response::Registers(vec![0x022B, 0, 0x64]))
    );
    // Coils 20..=29: 0xCD 0x01 → 1,0,1,1,0,0,1,1, 1,0 (least significant bit first).
    let coils = block(Function::Coils, 20, 10);
    let frame = rtu(&[0x11, 0x01, 0x02, 0xCD, 0x01]);
    let expected = [true, false, true, true, false, false, true, true, true, false];
    assert_eq!(parse_response(Proto::Rtu, 0x11, 0, &coils, &frame), Ok(Response::Bits(expected.to_vec())));
}

#[test]
fn each_parse_returns_its_own_values_never_the_previous_responses() {
    // PITFALLS: rmodbus appends to the Vec and stops at `count`, so a reused Vec would keep
    // returning the first response. Shown here with rmodbus directly, then with our parser.
    let b = block(Function::InputRegisters, 0, 2);
    let first = rtu(&[0x01, 0x04, 0x04, 0x00, 0x01, 0x00, 0x02]);
    let second = rtu(&[0x01, 0x04, 0x04, 0x00, 0x0A, 0x00, 0x0B]);
    let req = request(Proto::Rtu, 1, 0, &b);
    let mut reused = Vec::new();
    req.parse_u16(&first, &mut reused).unwrap();
    req.parse_u16(&second, &mut reused).unwrap();
    assert_eq!(reused, [1, 2], "the pitfall: the second response's values are lost");
    assert_eq!(parse_response(Proto::Rtu, 1, 0, &b, &first), Ok(Response::Registers(vec![1, 2])));
    assert_eq!(parse_response(Proto::Rtu, 1, 0, &b, &second), Ok(Response::Registers(vec![10, 11])));
    let bits = block(Function::DiscreteInputs, 0, 3);
    assert_eq!(
        parse_response(Proto::Rtu, 1, 0, &bits, &rtu(&[1, 2, 1, 0b101])),
        Ok(Response::Bits(vec![true, false, true]))
    );
    assert_eq!(
        parse_response(Proto::Rtu, 1, 0, &bits, &rtu(&[1, 2, 1, 0b010])),
        Ok(Response::Bits(vec![false, true, false]))
    );
}

#[test]
fn exceptions_keep_their_raw_code_including_gateway_codes() {
    let b = block(Function::HoldingRegisters, 100, 2);
    //         tr id     | proto   | len    | unit| fn|0x80 | code
    let tcp = [0x00, 0x05, 0x00, 0x00, 0x00, 0x03, 0x01, 0x83, 0x02];
    assert_eq!(parse_response(Proto::Tcp, 1, 5, &b, &tcp), Ok(Response::Exception(0x02)));
    for code in [0x0A, 0x0B, 0x04] {
        let frame = rtu(&[0x01, 0x83, code]);
        assert_eq!(response_len(Proto::Rtu, &frame[..2]), Ok(5));
        assert_eq!(parse_response(Proto::Rtu, 1, 0, &b, &frame), Ok(Response::Exception(code)));
    }
    assert_eq!(exception_name(0x0B), "gateway target device failed to respond");
    assert_eq!(exception_name(0x0A), "gateway path unavailable");
    assert_eq!(exception_name(0x42), "unknown exception");
}

#[test]
fn bad_frames_are_errors_never_panics() {
    let b = block(Function::HoldingRegisters, 0, 2);
    let good = rtu(&[0x01, 0x03, 0x04, 0x00, 0x01, 0x00, 0x02]);
    let mut bad_crc = good.clone();
    bad_crc[4] ^= 0xFF;
    assert!(matches!(parse_response(Proto::Rtu, 1, 0, &b, &bad_crc), Err(FrameError::Crc { .. })));
    assert!(matches!(
        parse_response(Proto::Rtu, 2, 0, &b, &good),
        Err(FrameError::Unexpected { unit: 1, function: 3 })
    ));
    // Trailing garbage after a complete frame.
    let mut long = good.clone();
    long.push(0x00);
    assert!(matches!(parse_response(Proto::Rtu, 1, 0, &b, &long), Err(FrameError::Malformed(_))));
    // A response with fewer registers than requested (byte count 2 of 4), correct CRC.
    let short = rtu(&[0x01, 0x03, 0x02, 0x00, 0x01]);
    assert_eq!(parse_response(Proto::Rtu, 1, 0, &b, &short), Err(FrameError::ByteCount { expected: 4, got: 2 }));
    // An empty data field: rmodbus's parser would underflow on it; we never call it.
    let empty_tcp = [0, 1, 0, 0, 0, 3, 1, 3, 0];
    assert_eq!(parse_response(Proto::Tcp, 1, 1, &b, &empty_tcp), Err(FrameError::ByteCount { expected: 4, got: 0 }));
    let stale = [0, 1, 0, 0, 0, 7, 1, 3, 4, 0, 1, 0, 2];
    assert_eq!(parse_response(Proto::Tcp, 1, 2, &b, &stale), Err(FrameError::Transaction { expected: 2, got: 1 }));
    assert!(matches!(response_len(Proto::Tcp, &[0, 1, 0, 7, 0, 3]), Err(FrameError::Malformed(_))));
    assert!(matches!(response_len(Proto::Tcp, &[0, 1, 0, 0, 1, 0]), Err(FrameError::Malformed(_))));
    assert_eq!(response_len(Proto::Tcp, &[0, 1]), Err(FrameError::Incomplete(4)));
    assert_eq!(response_len(Proto::Rtu, &[1]), Err(FrameError::Incomplete(2)));
    assert!(matches!(response_len(Proto::Rtu, &[1, 0x2B, 0]), Err(FrameError::Malformed(_))));
    for len in 0..good.len() {
        assert!(parse_response(Proto::Rtu, 1, 0, &b, &good[..len]).is_err(), "{len} bytes");
    }
    // Every single-byte corruption of a TCP frame is either rejected or parsed, never a panic.
    let tcp = [0, 1, 0, 0, 0, 7, 1, 3, 4, 0, 1, 0, 2];
    for i in 0..tcp.len() {
        for v in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
            let mut f = tcp;
            f[i] = v;
            let _ = parse_response(Proto::Tcp, 1, 1, &b, &f);
        }
    }
}
