//! The slave's protocol handling and I/O: [`Units::answer`] turns one request frame into the
//! response (rmodbus's server side over each unit's tables, or an injected fault), and the TCP
//! and RTU loops move frames between the wire and it.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rmodbus::server::ModbusFrame;
use rmodbus::{ModbusProto, guess_request_frame_len};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::debug;

use super::config::{DeviceKind, FaultControl, UnitConfig};
use super::model::{Storage, new_storage, update};

/// Silence that ends an incomplete RTU frame (far above 3.5 characters at 9600 baud).
const RTU_SILENCE: Duration = Duration::from_millis(50);

struct Unit {
    id: u8,
    kind: DeviceKind,
    storage: Storage,
    faults: Arc<FaultControl>,
}

/// Every unit of a slave and the moment it started (the models' time origin).
pub(crate) struct Units {
    started: Instant,
    units: Vec<Unit>,
}

/// A slave's units, shared by its connections.
pub(crate) type SharedUnits = Arc<Mutex<Units>>;

impl Units {
    /// The units of `config`, with their fault controls, starting now.
    pub(crate) fn new(config: &[UnitConfig]) -> (Units, Vec<(u8, Arc<FaultControl>)>) {
        let units: Vec<Unit> = config
            .iter()
            .map(|u| Unit {
                id: u.unit_id,
                kind: u.kind,
                storage: new_storage(u.kind),
                faults: Arc::new(FaultControl::new(u.faults)),
            })
            .collect();
        let controls = units.iter().map(|u| (u.id, Arc::clone(&u.faults))).collect();
        (Units { started: Instant::now(), units }, controls)
    }

    /// The response to one complete request frame, and how long to wait before sending it;
    /// `None` when the slave stays silent (silenced unit, unknown unit on RTU, broken frame).
    pub(crate) fn answer(&mut self, proto: ModbusProto, request: &[u8]) -> Option<(Vec<u8>, Duration)> {
        let at = if proto == ModbusProto::TcpUdp { 6 } else { 0 };
        let (unit_id, function) = (*request.get(at)?, *request.get(at + 1)?);
        let t = self.started.elapsed().as_secs_f64();
        let Some(unit) = self.units.iter_mut().find(|u| u.id == unit_id) else {
            // A TCP gateway says its target did not answer; an RTU bus is simply quiet.
            return (proto == ModbusProto::TcpUdp)
                .then(|| (exception(proto, request, unit_id, function, 0x0B), Duration::ZERO));
        };
        let n = unit.faults.count_request();
        let faults = unit.faults.get();
        if faults.silent {
            return None;
        }
        let delay = Duration::from_millis(faults.delay_ms);
        if faults.exception_every > 0 && n % u64::from(faults.exception_every) == 0 {
            let code = if faults.exception_code == 0 { 0x04 } else { faults.exception_code };
            return Some((exception(proto, request, unit_id, function, code), delay));
        }
        update(unit.kind, &mut unit.storage, t);
        let mut response = Vec::new();
        let mut frame = ModbusFrame::new(unit_id, request, proto, &mut response);
        frame.parse().ok()?;
        if frame.processing_required {
            let processed =
                if frame.readonly { frame.process_read(&unit.storage) } else { frame.process_write(&mut unit.storage) };
            processed.ok()?;
        }
        if !frame.response_required {
            return None;
        }
        frame.finalize_response().ok()?;
        Some((response, delay))
    }
}

/// An exception response with the raw `code` (rmodbus's own gateway codes are 0x09/0x0A,
/// one below the specification's 0x0A/0x0B, so exceptions are framed here).
fn exception(proto: ModbusProto, request: &[u8], unit: u8, function: u8, code: u8) -> Vec<u8> {
    let pdu = [unit, function | 0x80, code];
    match proto {
        ModbusProto::TcpUdp => {
            let mut frame = request.get(..2).unwrap_or(&[0, 0]).to_vec();
            frame.extend_from_slice(&[0, 0, 0, 3]);
            frame.extend_from_slice(&pdu);
            frame
        }
        _ => {
            let mut frame = pdu.to_vec();
            frame.extend_from_slice(&crc16(&pdu).to_le_bytes());
            frame
        }
    }
}

/// Modbus RTU CRC-16 (reflected polynomial 0xA001, initial 0xFFFF).
pub(crate) fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF_u16, |crc, &byte| {
        (0..8).fold(crc ^ u16::from(byte), |c, _| if c & 1 == 1 { (c >> 1) ^ 0xA001 } else { c >> 1 })
    })
}

fn answer(units: &SharedUnits, proto: ModbusProto, request: &[u8]) -> Option<(Vec<u8>, Duration)> {
    units.lock().unwrap_or_else(PoisonError::into_inner).answer(proto, request)
}

/// Accepts TCP connections until the listener fails; one task per connection.
pub(crate) async fn serve_tcp(listener: TcpListener, units: SharedUnits) -> io::Result<()> {
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = listener.accept().await?;
        debug!(%peer, "Modbus client connected to the simulator");
        connections.spawn(serve_tcp_connection(stream, Arc::clone(&units)));
        while connections.try_join_next().is_some() {}
    }
}

async fn serve_tcp_connection(mut stream: TcpStream, units: SharedUnits) {
    loop {
        let mut frame = vec![0u8; 6];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let length = usize::from(u16::from_be_bytes([frame[4], frame[5]]));
        if !(2..=254).contains(&length) {
            return; // not Modbus TCP: drop the connection
        }
        frame.resize(6 + length, 0);
        if stream.read_exact(&mut frame[6..]).await.is_err() {
            return;
        }
        if let Some((response, delay)) = answer(&units, ModbusProto::TcpUdp, &frame) {
            tokio::time::sleep(delay).await;
            if stream.write_all(&response).await.is_err() {
                return;
            }
        }
    }
}

/// Answers RTU requests on `port` until it closes or fails. Bytes that do not complete a frame
/// within [`RTU_SILENCE`] are discarded, as a real slave resynchronises on bus silence.
pub(crate) async fn serve_rtu<S>(mut port: S, units: SharedUnits) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        let read = if pending.is_empty() {
            port.read(&mut chunk).await
        } else {
            match tokio::time::timeout(RTU_SILENCE, port.read(&mut chunk)).await {
                Ok(read) => read,
                Err(_) => {
                    debug!(bytes = pending.len(), "discarded an incomplete RTU frame");
                    pending.clear();
                    continue;
                }
            }
        };
        match read? {
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the serial port closed")),
            n => pending.extend_from_slice(&chunk[..n]),
        }
        while let Ok(len) = guess_request_frame_len(&pending, ModbusProto::Rtu).map(usize::from) {
            if pending.len() < len {
                break;
            }
            let frame: Vec<u8> = pending.drain(..len).collect();
            if let Some((response, delay)) = answer(&units, ModbusProto::Rtu, &frame) {
                tokio::time::sleep(delay).await;
                port.write_all(&response).await?;
                port.flush().await?;
            }
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
