//! `wardsim pcd01` (the binary) as a device gateway against the running service (on serial, with
//! line noise injected between frames, which must be skipped and counted): over TCP to the
//! `[pcd01]` listener (a real IHE sample, then generated messages) and over a real pseudo-terminal
//! pair to a `codec = "pcd01-mllp"` serial port; every message is answered `AA` and stored.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wardstream_ingest::Service;
use wardstream_ingest::config::Config;

use crate::support::count;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocols/tests/data/hl7");

fn wardsim_bin() -> PathBuf {
    let bin = crate::support::wardstream_bin().with_file_name("wardsim");
    assert!(bin.exists(), "{} missing: cargo build -p wardstream-simulators --bins", bin.display());
    bin
}

async fn wardsim(args: Vec<String>) -> (bool, Vec<serde_json::Value>, String) {
    let out =
        tokio::task::spawn_blocking(move || Command::new(wardsim_bin()).args(args).output().unwrap()).await.unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.success(), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wardsim_pcd01_sends_over_tcp_and_serial_and_every_message_is_acknowledged_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (device, peer) = (dir.path().join("device"), dir.path().join("peer"));
    let mut socat = Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", device.display()))
        .arg(format!("pty,raw,echo=0,link={}", peer.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat is needed");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(device.exists() && peer.exists()) {
        assert!(Instant::now() < deadline, "no ptys");
        std::thread::sleep(Duration::from_millis(10));
    }
    let data = dir.path().join("data");
    let text = format!(
        "mqtt = []\n[storage]\ndata_dir = {data:?}\nflush_interval_ms = 200\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [compaction]\nenabled = false\n[pcd01]\nlisten = \"127.0.0.1:0\"\n\
         [[serial]]\npath = {device:?}\ncodec = \"pcd01-mllp\"\nbaud_rate = 115200\n{auth}",
        auth = crate::support::auth_toml()
    );
    let service = Service::start(&Config::parse(&text).unwrap()).await.unwrap();
    let address = service.pcd01_address().unwrap().to_string();

    let (ok, acks, stderr) = wardsim(vec![
        "pcd01".into(),
        "--tcp".into(),
        address,
        "--file".into(),
        format!("{SAMPLES}/ipf-pcd01-request2.hl7"),
        "--count".into(),
        "3".into(),
    ])
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(acks.len(), 4, "{acks:?}");
    assert_eq!(acks[0]["control_id"], "12d15a9:11df9e61347:-7fee:30456965");
    for (k, ack) in acks.iter().enumerate() {
        assert_eq!((&ack["code"], &ack["acked_control_id"]), (&"AA".into(), &ack["control_id"]), "{k}: {ack}");
    }
    assert_eq!(acks[3]["control_id"], "SIM-0A0B0C0D0E0F1011-3");

    // The serial port may still be opening: wardsim's writes wait in the pty until it reads.
    let (ok, acks, stderr) = wardsim(vec![
        "pcd01".into(),
        "--serial".into(),
        peer.to_str().unwrap().into(),
        "--count".into(),
        "2".into(),
        "--device".into(),
        "1111222233334444".into(),
        "--garbage-every".into(),
        "1".into(),
    ])
    .await;
    assert!(ok, "{stderr}");
    let codes: Vec<(&str, &str)> =
        acks.iter().map(|a| (a["code"].as_str().unwrap(), a["acked_control_id"].as_str().unwrap())).collect();
    assert_eq!(codes, [("AA", "SIM-1111222233334444-1"), ("AA", "SIM-1111222233334444-2")]);

    // 9 readings of the sample, 2 of each generated message.
    let session = service.state().session.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&session, "SELECT count(*) FROM vitals").await < 19 {
        if Instant::now() > deadline {
            let rows =
                crate::support::csv_rows(&session, "SELECT device_id, metric, value FROM vitals ORDER BY 1, 2").await;
            let dead =
                crate::support::csv_rows(&session, "SELECT device_id, source_name, reason, detail FROM dead_letters")
                    .await;
            panic!("not stored: {rows:?}\ndead letters: {dead:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The line noise wardsim injected before each of its 2 serial messages: skipped and counted.
    let api = service.http_address().unwrap();
    let text = tokio::task::spawn_blocking(move || crate::support::http::get(api, "/metrics").body).await.unwrap();
    let noise = wardstream_simulators::pcd01::GARBAGE.len() as f64;
    assert_eq!(
        crate::support::wardstream_process::metric_sum(&text, "wardstream_serial_bytes_discarded_total"),
        2.0 * noise,
        "{text}"
    );
    service.shutdown().await.unwrap();
    let session = wardstream_storage::QuerySession::open(&data).unwrap();
    assert_eq!(count(&session, "SELECT count(*) FROM vitals").await, 19);
    let generated = "SELECT count(*) FROM vitals WHERE device_id IN ('0A0B0C0D0E0F1011', '1111222233334444') \
                     AND metric IN ('heart_rate', 'spo2')";
    assert_eq!(count(&session, generated).await, 10);
    let _ = socat.kill();
    let _ = socat.wait();
}
