//! The MLLP listener over real TCP: ACK only after the handler resolves, in-order handling,
//! garbage, unparsable and oversize frames, peers that vanish, panicking handlers, idle
//! connections and shutdown. None of them stops the listener.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use wardstream_protocols::hl7::Message;
use wardstream_protocols::mllp::{
    Decoded, ErrorCode, MllpConfig, MllpDecoder, MllpError, MllpHandler, MllpStats, MllpStatsSnapshot, Reply, encode,
    run, serve,
};

/// Records control ids; resolves each message only when a permit is available. Control id
/// `PANIC` panics, `BAD` is answered `AE`.
struct TestHandler {
    seen: Mutex<Vec<String>>,
    gate: Semaphore,
}

impl MllpHandler for TestHandler {
    async fn handle(&self, msg: Message, raw: Arc<[u8]>, _peer: SocketAddr) -> Reply {
        let id = msg.control_id().into_owned();
        assert_eq!(&*raw, msg.text().as_bytes());
        self.seen.lock().unwrap().push(id.clone());
        self.gate.acquire().await.unwrap().forget();
        match id.as_str() {
            "PANIC" => panic!("handler failure"),
            "BAD" => Reply::error(ErrorCode::RequiredFieldMissing, "PID-3 is empty"),
            _ => Reply::accept(),
        }
    }
}

struct Server {
    addr: SocketAddr,
    handler: Arc<TestHandler>,
    stats: Arc<MllpStats>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), MllpError>>,
}

async fn start(config: MllpConfig, permits: usize) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(TestHandler { seen: Mutex::new(Vec::new()), gate: Semaphore::new(permits) });
    let stats = Arc::new(MllpStats::new());
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn({
        let (handler, stats) = (Arc::clone(&handler), Arc::clone(&stats));
        async move { serve(listener, &config, handler, stats, shutdown).await }
    });
    Server { addr, handler, stats, stop, task }
}

fn msg(id: &str) -> Vec<u8> {
    encode(format!("MSH|^~\\&|ADT|H|WS|ICU|20260101||ADT^A01|{id}|P|2.5\rPID|||P1^^^H^MR\r").as_bytes())
}

/// Reads ACK frames until `n` arrived or `wait` passed; each as (MSA-1, MSA-2).
async fn acks(stream: &mut TcpStream, n: usize, wait: Duration) -> Vec<(String, String)> {
    let mut decoder = MllpDecoder::new(1 << 20);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    while out.len() < n {
        let Ok(Ok(read)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await else { break };
        if read == 0 {
            break;
        }
        decoder.push(&buf[..read]);
        while let Some(Decoded::Frame(frame)) = decoder.next() {
            let ack = Message::parse(&frame).unwrap();
            let msa = ack.segment("MSA").unwrap();
            out.push((msa.field(1).text().into_owned(), msa.field(2).text().into_owned()));
        }
    }
    out
}

/// Waits (up to 5 s) until `done` holds: timing-independent checks of what the server did.
async fn eventually(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + LONG;
    while !done() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn pair(code: &str, id: &str) -> (String, String) {
    (code.to_owned(), id.to_owned())
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

#[tokio::test]
async fn acks_wait_for_the_handler_and_messages_of_a_connection_are_handled_in_order() {
    let server = start(MllpConfig::test_config(), 0).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client.write_all(&[msg("M1"), msg("M2")].concat()).await.unwrap();
    eventually(|| !server.handler.seen.lock().unwrap().is_empty()).await;
    assert_eq!(acks(&mut client, 1, SHORT).await, []); // the handler has not resolved
    assert_eq!(*server.handler.seen.lock().unwrap(), ["M1"]); // M2 waits for M1's ACK
    server.handler.gate.add_permits(1);
    assert_eq!(acks(&mut client, 1, LONG).await, [pair("AA", "M1")]);
    eventually(|| server.handler.seen.lock().unwrap().len() == 2).await;
    assert_eq!(acks(&mut client, 1, SHORT).await, []);
    assert_eq!(*server.handler.seen.lock().unwrap(), ["M1", "M2"]);
    server.handler.gate.add_permits(1);
    assert_eq!(acks(&mut client, 1, LONG).await, [pair("AA", "M2")]);
    let s = server.stats.snapshot();
    assert_eq!((s.frames, s.acks_aa, s.connections_accepted, s.connections_open), (2, 2, 1, 1));
}

#[tokio::test]
async fn garbage_unparsable_oversize_and_rejected_frames_are_answered_and_the_connection_goes_on() {
    let config = MllpConfig { max_frame_bytes: 200, ..MllpConfig::test_config() };
    let server = start(config, 100).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    let mut big = b"MSH|^~\\&|ADT|H|WS|ICU|20260101||ADT^A01|BIG|P|2.5\rNTE|".to_vec();
    big.resize(500, b'x');
    let bytes =
        [b"noise\r\n".to_vec(), encode(b"not hl7"), encode(&big), b"\x00\x01".to_vec(), msg("BAD"), msg("OK")].concat();
    client.write_all(&bytes).await.unwrap();
    let got = acks(&mut client, 4, LONG).await;
    assert_eq!(got, [pair("AR", ""), pair("AR", "BIG"), pair("AE", "BAD"), pair("AA", "OK")]);
    let s = server.stats.snapshot();
    let expected = MllpStatsSnapshot {
        connections_accepted: 1,
        connections_open: 1,
        bytes_received: bytes.len() as u64,
        bytes_discarded: 7 + 2,
        frames: 3,
        frames_oversize: 1,
        parse_errors: 1,
        acks_aa: 1,
        acks_ae: 1,
        acks_ar: 2,
        ..MllpStatsSnapshot::default()
    };
    assert_eq!(s, expected);
    assert_eq!(*server.handler.seen.lock().unwrap(), ["BAD", "OK"]);
}

#[tokio::test]
async fn a_peer_leaving_mid_frame_and_a_panicking_handler_do_not_stop_the_listener() {
    let server = start(MllpConfig::test_config(), 100).await;
    let mut gone = TcpStream::connect(server.addr).await.unwrap();
    gone.write_all(b"\x0bMSH|^~\\&|cut").await.unwrap();
    drop(gone);
    let mut panicking = TcpStream::connect(server.addr).await.unwrap();
    panicking.write_all(&msg("PANIC")).await.unwrap();
    // The connection closes without an ACK.
    assert_eq!(acks(&mut panicking, 1, LONG).await, []);
    let mut fine = TcpStream::connect(server.addr).await.unwrap();
    fine.write_all(&msg("AFTER")).await.unwrap();
    assert_eq!(acks(&mut fine, 1, LONG).await, [pair("AA", "AFTER")]);
    drop(fine);
    eventually(|| server.stats.snapshot().connections_open == 0 && server.stats.snapshot().handler_panics == 1).await;
    let s = server.stats.snapshot();
    assert_eq!((s.connections_accepted, s.connections_open, s.handler_panics), (3, 0, 1));
    assert_eq!((s.bytes_discarded, s.frames, s.acks_aa), (13, 2, 1));
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_timeout() {
    let config = MllpConfig { idle_timeout_s: 1, ..MllpConfig::test_config() };
    let server = start(config, 100).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(LONG, client.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(read, 0);
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert_eq!(server.stats.snapshot().idle_timeouts, 1);
}

#[tokio::test]
async fn shutdown_stops_accepting_and_acknowledges_the_message_in_hand_first() {
    let server = start(MllpConfig::test_config(), 0).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client.write_all(&[msg("LAST"), msg("NEVER")].concat()).await.unwrap();
    eventually(|| !server.handler.seen.lock().unwrap().is_empty()).await;
    server.stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.task.is_finished()); // waiting for the message in hand
    server.handler.gate.add_permits(10);
    assert_eq!(acks(&mut client, 2, LONG).await, [pair("AA", "LAST")]);
    tokio::time::timeout(LONG, server.task).await.unwrap().unwrap().unwrap();
    assert_eq!(*server.handler.seen.lock().unwrap(), ["LAST"]);
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn an_invalid_configuration_or_an_unbindable_address_is_an_error() {
    let (_stop, shutdown) = watch::channel(false);
    let handler = Arc::new(TestHandler { seen: Mutex::new(Vec::new()), gate: Semaphore::new(0) });
    let stats = Arc::new(MllpStats::new());
    let zero = MllpConfig { max_frame_bytes: 0, ..MllpConfig::test_config() };
    let err = run(&zero, Arc::clone(&handler), Arc::clone(&stats), shutdown.clone()).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid MLLP configuration: max_frame_bytes: must be above 0");
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let busy = MllpConfig { listen: listen.clone(), ..MllpConfig::test_config() };
    let err = run(&busy, handler, stats, shutdown).await.unwrap_err();
    assert!(matches!(err, MllpError::Bind { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("cannot listen for MLLP on {listen}: ")), "{err}");
}
