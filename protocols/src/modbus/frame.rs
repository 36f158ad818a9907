//! The sans-I/O Modbus codec: read requests built and responses parsed with rmodbus, plus the
//! checks rmodbus leaves to its caller (PITFALLS): frame length before any parse (its parsers
//! underflow on an empty data field), the RTU CRC of exception frames, transaction ids, byte
//! counts, and exception codes read from the raw byte (rmodbus maps 0x0A/0x0B to
//! `UnknownError`). Every parse writes into a fresh `Vec`: rmodbus appends to the vector it is
//! given and stops at `count`, so a reused one returns the previous response's values.

use rmodbus::client::ModbusRequest;
use rmodbus::consts::ModbusFunction;
use rmodbus::{ModbusProto, guess_response_frame_len};

use super::plan::Block;
use super::point::Function;

/// The framing on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Modbus TCP: MBAP header (transaction id, protocol 0, length), no CRC.
    Tcp,
    /// Modbus RTU: unit, PDU, CRC-16 (little-endian).
    Rtu,
}

impl Proto {
    const fn rmodbus(self) -> ModbusProto {
        match self {
            Proto::Tcp => ModbusProto::TcpUdp,
            Proto::Rtu => ModbusProto::Rtu,
        }
    }
}

/// A response that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// More bytes are needed to know the frame's length or to complete it.
    #[error("incomplete frame: {0} more bytes needed")]
    Incomplete(usize),
    /// The header or length is impossible (not a Modbus response).
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The RTU CRC does not match.
    #[error("CRC mismatch: frame says 0x{got:04X}, computed 0x{expected:04X}")]
    Crc {
        /// Computed over the frame.
        expected: u16,
        /// As received.
        got: u16,
    },
    /// A TCP response to another request (a late answer to a timed-out one).
    #[error("transaction id {got} does not match the request's {expected}")]
    Transaction {
        /// The request's id.
        expected: u16,
        /// The response's id.
        got: u16,
    },
    /// The response is from another unit or for another function.
    #[error("unexpected response: unit {unit}, function 0x{function:02X}")]
    Unexpected {
        /// The unit id in the response.
        unit: u8,
        /// The function code in the response.
        function: u8,
    },
    /// The data does not hold the requested count.
    #[error("byte count {got} where {expected} were requested")]
    ByteCount {
        /// Bytes the request asks for.
        expected: usize,
        /// Bytes the response carries.
        got: usize,
    },
    /// rmodbus refused the request or the frame.
    #[error("rmodbus: {0}")]
    Rmodbus(String),
}

/// What a well-formed response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Register values, exactly the requested count.
    Registers(Vec<u16>),
    /// Bit values, exactly the requested count.
    Bits(Vec<bool>),
    /// A Modbus exception, with the raw exception code.
    Exception(u8),
}

/// The name of a Modbus exception code (Modbus Application Protocol 1.1b3, section 7).
pub const fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}

fn rmodbus_function(function: Function) -> ModbusFunction {
    match function {
        Function::Coils => ModbusFunction::GetCoils,
        Function::DiscreteInputs => ModbusFunction::GetDiscretes,
        Function::HoldingRegisters => ModbusFunction::GetHoldings,
        Function::InputRegisters => ModbusFunction::GetInputs,
    }
}

fn request(proto: Proto, unit: u8, tr_id: u16, block: &Block) -> ModbusRequest {
    let mut req = ModbusRequest::new(unit, proto.rmodbus());
    req.tr_id = tr_id;
    req.func = rmodbus_function(block.function);
    req.reg = block.start;
    req.count = block.count;
    req
}

/// The request frame reading `block` from `unit` (`tr_id` is used by TCP only).
pub fn build_request(proto: Proto, unit: u8, tr_id: u16, block: &Block) -> Result<Vec<u8>, FrameError> {
    let mut req = request(proto, unit, tr_id, block);
    let mut frame = Vec::with_capacity(12);
    let result = match block.function {
        Function::Coils => req.generate_get_coils(block.start, block.count, &mut frame),
        Function::DiscreteInputs => req.generate_get_discretes(block.start, block.count, &mut frame),
        Function::HoldingRegisters => req.generate_get_holdings(block.start, block.count, &mut frame),
        Function::InputRegisters => req.generate_get_inputs(block.start, block.count, &mut frame),
    };
    result.map_err(|e| FrameError::Rmodbus(e.to_string()))?;
    Ok(frame)
}

/// The total length of the response frame starting at `buf[0]`, or how many more bytes are
/// needed to tell. TCP needs the 6-byte MBAP header; RTU needs 2 bytes (an exception frame is
/// always 5), else 3 (the byte count).
pub fn response_len(proto: Proto, buf: &[u8]) -> Result<usize, FrameError> {
    let need = match proto {
        Proto::Tcp => 6,
        Proto::Rtu if buf.len() >= 2 && buf[1] & 0x80 != 0 => return Ok(5),
        Proto::Rtu => 3,
    };
    if buf.len() < need {
        return Err(FrameError::Incomplete(need - buf.len()));
    }
    if proto == Proto::Tcp {
        let length = u16::from_be_bytes([buf[4], buf[5]]);
        if buf[2..4] != [0, 0] || !(3..=254).contains(&length) {
            return Err(FrameError::Malformed(format!("MBAP header {:02X?}", &buf[..6])));
        }
        return Ok(6 + usize::from(length));
    }
    guess_response_frame_len(buf, proto.rmodbus())
        .map(usize::from)
        .map_err(|_| FrameError::Malformed(format!("RTU function 0x{:02X}", buf[1])))
}

/// Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), sent low byte first.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF_u16, |crc, &byte| {
        (0..8).fold(crc ^ u16::from(byte), |c, _| if c & 1 == 1 { (c >> 1) ^ 0xA001 } else { c >> 1 })
    })
}

/// Parses the response `frame` (exactly one frame) to the request for `block` sent to `unit`
/// with `tr_id`. Exceptions are a [`Response`], not an error; everything else that is not the
/// expected answer is a [`FrameError`].
pub fn parse_response(proto: Proto, unit: u8, tr_id: u16, block: &Block, frame: &[u8]) -> Result<Response, FrameError> {
    let expected_len = response_len(proto, frame)?;
    if frame.len() != expected_len {
        return Err(FrameError::Malformed(format!("{} bytes where the header says {expected_len}", frame.len())));
    }
    let pdu_start = match proto {
        Proto::Tcp => {
            let got = u16::from_be_bytes([frame[0], frame[1]]);
            if got != tr_id {
                return Err(FrameError::Transaction { expected: tr_id, got });
            }
            6
        }
        Proto::Rtu => {
            let body = frame.len() - 2;
            let got = u16::from_le_bytes([frame[body], frame[body + 1]]);
            let expected = crc16(&frame[..body]);
            if got != expected {
                return Err(FrameError::Crc { expected, got });
            }
            0
        }
    };
    let data_end = frame.len() - if proto == Proto::Rtu { 2 } else { 0 };
    let (got_unit, got_function) = (frame[pdu_start], frame[pdu_start + 1]);
    let code = block.function.code();
    if got_unit != unit || (got_function != code && got_function != code | 0x80) {
        return Err(FrameError::Unexpected { unit: got_unit, function: got_function });
    }
    if got_function == code | 0x80 {
        return match frame.get(pdu_start + 2) {
            Some(&exception) if data_end == pdu_start + 3 => Ok(Response::Exception(exception)),
            _ => Err(FrameError::Malformed("exception frame of the wrong length".into())),
        };
    }
    let count = usize::from(block.count);
    let expected = if block.function.is_bits() { count.div_ceil(8) } else { count * 2 };
    let byte_count = usize::from(frame[pdu_start + 2]);
    let carried = data_end - (pdu_start + 3);
    if byte_count != expected || carried != expected {
        return Err(FrameError::ByteCount { expected, got: carried.min(byte_count) });
    }
    let req = request(proto, unit, tr_id, block);
    let rm = |e: rmodbus::ErrorKind| FrameError::Rmodbus(e.to_string());
    // Fresh vectors for every parse (PITFALLS: rmodbus appends and stops at `count`).
    let response = if block.function.is_bits() {
        let mut bits = Vec::with_capacity(count);
        req.parse_bool(frame, &mut bits).map_err(rm)?;
        (bits.len() == count).then_some(Response::Bits(bits))
    } else {
        let mut words = Vec::with_capacity(count);
        req.parse_u16(frame, &mut words).map_err(rm)?;
        (words.len() == count).then_some(Response::Registers(words))
    };
    response.ok_or(FrameError::ByteCount { expected, got: carried })
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
