//! PCD-01 over a serial line (`[[serial]] codec = "pcd01-mllp"`): the two real IHE samples sent
//! in MLLP frames on a real pseudo-terminal pair (`socat`), with garbage before, between and after
//! the frames. Each message is answered `AA` on the same line only once its readings are in the
//! fsynced WAL; the garbage is skipped and counted; the samples decode to exactly their readings
//! (the same ones the TCP gateway listener stores, see `pcd01_gateway.rs`).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wardstream_ingest::Service;
use wardstream_ingest::config::Config;

use crate::support::wardstream_process::metric_sum;
use crate::support::{count, http};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocols/tests/data/hl7");

struct Socat(Child);

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn frame(file: &str) -> Vec<u8> {
    let text = std::fs::read(Path::new(SAMPLES).join(file)).unwrap();
    let text = String::from_utf8(text).unwrap().replace("\r\n", "\r").replace('\n', "\r");
    let mut out = vec![0x0b];
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\x1c\r");
    out
}

/// Reads one MLLP frame's content from `peer`.
fn read_ack(peer: &mut std::fs::File) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = peer.read(&mut byte).unwrap();
        assert_eq!(n, 1, "the port closed before the ACK: {:?}", String::from_utf8_lossy(&got));
        got.push(byte[0]);
        if got.ends_with(b"\x1c\r") {
            break;
        }
    }
    let start = got.iter().position(|b| *b == 0x0b).unwrap();
    String::from_utf8(got[start + 1..got.len() - 2].to_vec()).unwrap()
}

fn msa(ack: &str) -> Vec<String> {
    let segment = ack.split('\r').find(|s| s.starts_with("MSA|")).unwrap_or_else(|| panic!("no MSA in {ack:?}"));
    segment.split('|').map(str::to_owned).collect()
}

fn control_id(frame: &[u8]) -> String {
    let text = String::from_utf8_lossy(frame);
    text.split('\r').next().unwrap().split('|').nth(9).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pcd01_on_a_serial_line_is_acknowledged_after_the_wal_and_decodes_to_exactly_its_readings() {
    let dir = tempfile::tempdir().unwrap();
    let (device, peer_path) = (dir.path().join("device"), dir.path().join("peer"));
    let _socat = Socat(
        Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", device.display()))
            .arg(format!("pty,raw,echo=0,link={}", peer_path.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat is needed"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(device.exists() && peer_path.exists()) {
        assert!(Instant::now() < deadline, "no ptys");
        std::thread::sleep(Duration::from_millis(10));
    }
    let data = dir.path().join("data");
    let text = format!(
        "mqtt = []\n[storage]\ndata_dir = {data:?}\nflush_interval_ms = 200\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [compaction]\nenabled = false\n[associations]\nretro_window_hours = 262800\n\
         [[serial]]\npath = {device:?}\ncodec = \"pcd01-mllp\"\ntime_zone = \"UTC\"\nbaud_rate = 115200\n{auth}",
        auth = crate::support::auth_toml()
    );
    let service = Service::start(&Config::parse(&text).unwrap()).await.unwrap();
    let api = service.http_address().unwrap();
    let wal = service.wal_stats().unwrap();
    let metrics = move || http::get(api, "/metrics").body;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric_sum(&tokio::task::spawn_blocking(metrics).await.unwrap(), "wardstream_serial_connected") != 1.0 {
        assert!(Instant::now() < deadline, "port not open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let first = frame("ipf-pcd01-request2.hl7");
    let second = frame("ipf-pcd01-maximum-request2.hl7");
    let mut peer = std::fs::OpenOptions::new().read(true).write(true).open(&peer_path).unwrap();
    let garbage: [&[u8]; 3] = [b"line noise\r\n", b"\x00\xff", b"\x1c\rjunk"];
    let records_before = wal.snapshot().records;
    let (ack1, ack2, records_at_first_ack) = tokio::task::spawn_blocking({
        let (first, second) = (first.clone(), second.clone());
        let wal = wal.clone();
        move || {
            peer.write_all(garbage[0]).unwrap();
            peer.write_all(&first).unwrap();
            peer.write_all(garbage[1]).unwrap();
            peer.flush().unwrap();
            let ack1 = read_ack(&mut peer);
            let records_at_first_ack = wal.snapshot().records;
            peer.write_all(&second).unwrap();
            peer.write_all(garbage[2]).unwrap();
            peer.flush().unwrap();
            let ack2 = read_ack(&mut peer);
            (ack1, ack2, records_at_first_ack)
        }
    })
    .await
    .unwrap();
    // AA for each, in order, naming the message; the first message's WAL record existed (and
    // was fsynced: the handler waited for it) when its ACK was read.
    assert_eq!(msa(&ack1)[1..3], ["AA".to_owned(), control_id(&first[1..])], "{ack1:?}");
    assert_eq!(msa(&ack2)[1..3], ["AA".to_owned(), control_id(&second[1..])], "{ack2:?}");
    assert_eq!(records_at_first_ack, records_before + 1);
    assert!(wal.snapshot().fsyncs >= 1);

    let session = service.state().session.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&session, "SELECT count(*) FROM vitals").await < 12 {
        assert!(Instant::now() < deadline, "PCD-01 readings not stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = tokio::task::spawn_blocking(metrics).await.unwrap();
    assert_eq!(metric_sum(&text, "wardstream_serial_frames_total"), 2.0, "{text}");
    assert_eq!(metric_sum(&text, "wardstream_serial_malformed_frames_total"), 0.0);
    assert_eq!(metric_sum(&text, "wardstream_serial_readings_total"), 13.0);
    // Outside frames: all of garbage 0 and 1, and "\x1c\rjunk" (an end block outside a frame
    // is garbage too).
    let discarded: usize = garbage.iter().map(|g| g.len()).sum();
    assert_eq!(metric_sum(&text, "wardstream_serial_bytes_discarded_total"), discarded as f64, "{text}");
    service.shutdown().await.unwrap();

    let session = wardstream_storage::QuerySession::open(&data).unwrap();
    // As over TCP: 9 readings of request2 + 4 of the maximum sample, two of which are NIBP
    // systolic at the same device time (one row, one `duplicate`), 3 OBX without a value.
    assert_eq!(count(&session, "SELECT count(*) FROM vitals WHERE source = 'hl7'").await, 12);
    assert_eq!(count(&session, "SELECT count(*) FROM vitals WHERE device_id = '080019FFFF4F6AC0'").await, 9);
    let reasons =
        crate::support::csv_rows(&session, "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason")
            .await;
    assert_eq!(reasons, ["duplicate,1", "missing_value,3"]);
}
