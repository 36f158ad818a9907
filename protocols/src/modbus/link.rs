//! The byte transport of one bus: a TCP connection or a serial port, opened with
//! [`Endpoint::connect`], and [`read_frame`], which reads exactly one response frame using the
//! codec's length rules. No timeouts here: the bus wraps each exchange in its own deadline.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_serial::SerialPortBuilderExt;

use super::config::{Parity, SerialConfig, Transport};
use super::frame::{FrameError, Proto, response_len};

/// A connected byte stream (TCP socket or serial port).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// The peer closed the connection, or the serial port went away (`read` returned 0).
    #[error("connection closed by the peer")]
    Closed,
    /// A read or write failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a Modbus response frame.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
}

/// Where a bus connects to.
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    Tcp { host: String, port: u16 },
    Rtu(SerialConfig),
}

impl Endpoint {
    pub(crate) fn new(transport: &Transport) -> Endpoint {
        match transport {
            Transport::Tcp { host, port } => Endpoint::Tcp { host: host.clone(), port: *port },
            Transport::Rtu(serial) => Endpoint::Rtu(serial.clone()),
        }
    }

    /// Opens the connection or port, giving up after `timeout`.
    pub(crate) async fn connect(&self, timeout: Duration) -> io::Result<Box<dyn Stream>> {
        let open = async {
            match self {
                Endpoint::Tcp { host, port } => {
                    let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    stream.set_nodelay(true)?;
                    Ok::<Box<dyn Stream>, io::Error>(Box::new(stream))
                }
                Endpoint::Rtu(serial) => Ok(Box::new(open_serial(serial)?) as Box<dyn Stream>),
            }
        };
        tokio::time::timeout(timeout, open)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))
    }
}

fn open_serial(serial: &SerialConfig) -> io::Result<tokio_serial::SerialStream> {
    let parity = match serial.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let data_bits = if serial.data_bits == 7 { tokio_serial::DataBits::Seven } else { tokio_serial::DataBits::Eight };
    let stop_bits = if serial.stop_bits == 2 { tokio_serial::StopBits::Two } else { tokio_serial::StopBits::One };
    tokio_serial::new(serial.path.as_str(), serial.baud)
        .parity(parity)
        .data_bits(data_bits)
        .stop_bits(stop_bits)
        .open_native_async()
        .map_err(io::Error::from)
}

/// Reads one response frame: the header first, then exactly the bytes it announces.
pub(crate) async fn read_frame(stream: &mut dyn Stream, proto: Proto) -> Result<Vec<u8>, LinkError> {
    let mut frame = Vec::with_capacity(260);
    loop {
        match response_len(proto, &frame) {
            Ok(total) if total == frame.len() => return Ok(frame),
            Ok(total) => {
                let more = total.saturating_sub(frame.len());
                read_more(stream, &mut frame, more).await?;
            }
            Err(FrameError::Incomplete(more)) => read_more(stream, &mut frame, more).await?,
            Err(e) => return Err(e.into()),
        }
    }
}

async fn read_more(stream: &mut dyn Stream, frame: &mut Vec<u8>, more: usize) -> Result<(), LinkError> {
    let start = frame.len();
    frame.resize(start + more, 0);
    let mut filled = start;
    while filled < frame.len() {
        // An unplugged serial port reads as Ok(0), like a closed socket (PITFALLS).
        match stream.read(&mut frame[filled..]).await? {
            0 => return Err(LinkError::Closed),
            n => filled += n,
        }
    }
    Ok(())
}

/// Discards whatever is waiting to be read (a late answer on a serial bus), waiting at most
/// `quiet` for each chunk. Returns the bytes discarded.
pub(crate) async fn drain(stream: &mut dyn Stream, quiet: Duration) -> Result<usize, LinkError> {
    let mut scratch = [0u8; 256];
    let mut total = 0;
    while let Ok(read) = tokio::time::timeout(quiet, stream.read(&mut scratch)).await {
        match read? {
            0 => return Err(LinkError::Closed),
            n => total += n,
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn frames_are_cut_at_the_length_their_header_announces() {
        let (mut client, mut server) = tokio::io::duplex(64);
        // Two TCP frames back to back, written in odd pieces.
        let a = [0u8, 1, 0, 0, 0, 5, 1, 3, 2, 0, 7];
        let b = [0u8, 2, 0, 0, 0, 3, 1, 0x83, 2];
        let both: Vec<u8> = a.iter().chain(&b).copied().collect();
        for piece in both.chunks(4) {
            server.write_all(piece).await.unwrap();
        }
        assert_eq!(read_frame(&mut client, Proto::Tcp).await.unwrap(), a);
        assert_eq!(read_frame(&mut client, Proto::Tcp).await.unwrap(), b);
        server.write_all(&[1, 0x83, 2, 0xC0, 0xF1, 9, 9]).await.unwrap();
        assert_eq!(read_frame(&mut client, Proto::Rtu).await.unwrap(), [1, 0x83, 2, 0xC0, 0xF1]);
        assert_eq!(drain(&mut client, Duration::from_millis(20)).await.unwrap(), 2);
        server.write_all(&[0, 1, 0, 9, 0, 3]).await.unwrap();
        assert!(matches!(read_frame(&mut client, Proto::Tcp).await, Err(LinkError::Frame(FrameError::Malformed(_)))));
        server.write_all(&[0, 1, 0]).await.unwrap();
        drop(server);
        assert!(matches!(read_frame(&mut client, Proto::Tcp).await, Err(LinkError::Closed)));
    }
}
