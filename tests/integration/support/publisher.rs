//! A minimal MQTT 3.1.1 QoS 1 publisher over a plain `TcpStream`, for the durability tests.
//!
//! It keeps a window of unacknowledged PUBLISHes, returns only once the broker has sent a PUBACK
//! for every message (so the broker holds each one for wardstream's persistent session), and
//! survives broker restarts: on any connection error it reconnects (same port) and sends every
//! message not yet acknowledged again with the DUP flag. Re-sent messages are the same readings,
//! which wardstream must store once. An optional rate spreads the messages over time so that the
//! faults the tests inject land mid-stream.

use std::collections::VecDeque;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One message: topic and payload.
pub type Message = (String, Vec<u8>);

/// What one [`publish_all`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Messages the broker acknowledged (always all of them when `publish_all` returns `Ok`).
    pub acked: usize,
    /// Connections re-established after an error.
    pub reconnects: usize,
    /// Messages sent again after a reconnect.
    pub resent: usize,
}

/// Publishing options.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Broker port on 127.0.0.1.
    pub port: u16,
    /// MQTT client id (clean session).
    pub client_id: String,
    /// Most unacknowledged messages at once.
    pub window: usize,
    /// Messages per second (0: as fast as the broker acknowledges).
    pub rate_per_sec: u64,
    /// Give up when the whole run takes longer than this.
    pub timeout: Duration,
}

/// Publishes every message at QoS 1 in order and returns once all are acknowledged (see the
/// module docs). Errors only when `timeout` passes or the broker refuses the connection.
pub fn publish_all(options: &PublishOptions, messages: &[Message]) -> Result<PublishReport, String> {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let mut report = PublishReport::default();
    let mut next = 0usize;
    let mut next_pid: u16 = 0;
    // (packet id, message index), oldest first.
    let mut inflight: VecDeque<(u16, usize)> = VecDeque::new();
    let mut resend: Vec<usize> = Vec::new();
    let mut conn = connect(options, deadline)?;
    loop {
        let result = (|| -> std::io::Result<bool> {
            let mut wrote = false;
            while let Some(index) = resend.first().copied() {
                next_pid = next_pid.checked_add(1).unwrap_or(1);
                conn.1.write_all(&publish_packet(&messages[index], next_pid, true))?;
                inflight.push_back((next_pid, index));
                resend.remove(0);
                report.resent += 1;
                wrote = true;
            }
            while inflight.len() < options.window && next < messages.len() {
                if options.rate_per_sec > 0 {
                    let due = started + Duration::from_secs_f64(next as f64 / options.rate_per_sec as f64);
                    if due > Instant::now() {
                        if !inflight.is_empty() {
                            break; // read acks meanwhile
                        }
                        conn.1.flush()?;
                        std::thread::sleep(due - Instant::now());
                    }
                }
                next_pid = next_pid.checked_add(1).unwrap_or(1);
                conn.1.write_all(&publish_packet(&messages[next], next_pid, false))?;
                inflight.push_back((next_pid, next));
                next += 1;
                wrote = true;
            }
            if wrote {
                conn.1.flush()?;
            }
            if inflight.is_empty() {
                return Ok(next == messages.len());
            }
            let pid = read_puback(&mut conn.0)?;
            if let Some(pos) = inflight.iter().position(|(p, _)| *p == pid) {
                inflight.remove(pos);
                report.acked += 1;
            }
            Ok(false)
        })();
        match result {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => {
                if Instant::now() > deadline {
                    return Err(format!("publishing timed out after {:?}: {error}", options.timeout));
                }
                resend = inflight.drain(..).map(|(_, i)| i).collect();
                conn = connect(options, deadline)?;
                report.reconnects += 1;
            }
        }
        if Instant::now() > deadline {
            return Err(format!("publishing timed out after {:?} ({} acked)", options.timeout, report.acked));
        }
    }
    let _ = conn.1.write_all(&[0xE0, 0x00]).and_then(|()| conn.1.flush());
    Ok(report)
}

type Connection = (BufReader<TcpStream>, BufWriter<TcpStream>);

/// Connects (retrying every 100 ms until `deadline`: the broker may be restarting) and waits for
/// a successful CONNACK.
fn connect(options: &PublishOptions, deadline: Instant) -> Result<Connection, String> {
    loop {
        match try_connect(options) {
            Ok(conn) => return Ok(conn),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(e.to_string()),
            Err(e) if Instant::now() > deadline => return Err(format!("cannot connect to the broker: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn try_connect(options: &PublishOptions) -> std::io::Result<Connection> {
    let stream = TcpStream::connect(("127.0.0.1", options.port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = BufWriter::with_capacity(64 * 1024, stream.try_clone()?);
    let id = options.client_id.as_bytes();
    // Variable header: "MQTT", level 4, flags clean session, keep-alive 0 (no pings needed).
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id);
    writer.write_all(&packet(0x10, &body))?;
    writer.flush()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut connack = [0u8; 4];
    reader.read_exact(&mut connack)?;
    if connack[0] != 0x20 || connack[3] != 0 {
        let error = format!("broker refused the connection: CONNACK {connack:02x?}");
        return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, error));
    }
    Ok((reader, writer))
}

/// Reads packets until a PUBACK; returns its packet id.
fn read_puback(reader: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    loop {
        let mut first = [0u8; 1];
        reader.read_exact(&mut first)?;
        let len = read_remaining_length(reader)?;
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        if first[0] >> 4 == 4 && body.len() >= 2 {
            return Ok(u16::from_be_bytes([body[0], body[1]]));
        }
    }
}

fn read_remaining_length(reader: &mut impl Read) -> std::io::Result<usize> {
    let mut value = 0usize;
    for shift in [0, 7, 14, 21] {
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte)?;
        value |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "remaining length longer than 4 bytes"))
}

fn publish_packet((topic, payload): &Message, pid: u16, dup: bool) -> Vec<u8> {
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&pid.to_be_bytes());
    body.extend_from_slice(payload);
    packet(if dup { 0x3A } else { 0x32 }, &body)
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn remaining_lengths_encode_as_mqtt_varints() {
    assert_eq!(packet(0xE0, &[]), vec![0xE0, 0x00]);
    assert_eq!(&packet(0x30, &[0; 127])[..2], &[0x30, 0x7f]);
    assert_eq!(&packet(0x30, &[0; 128])[..3], &[0x30, 0x80, 0x01]);
    assert_eq!(&packet(0x30, &[0; 16_384])[..4], &[0x30, 0x80, 0x80, 0x01]);
    let mut cursor = std::io::Cursor::new(vec![0x80, 0x80, 0x01]);
    assert_eq!(read_remaining_length(&mut cursor).unwrap(), 16_384);
}
