//! Driver state in `GET /api/v1/devices` (each device's `driver` object) and in `/metrics`,
//! after real traffic: a Masimo oximeter on a real pseudo-terminal pair (`socat`) with garbage
//! between its lines, then unplugged; a Modbus TCP device whose address nobody listens on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wardstream_ingest::Service;
use wardstream_ingest::config::Config;

use crate::support::http;
use crate::support::wardstream_process::metric_sum;

/// Two linked ptys from socat: the service opens `device`, the test writes to `peer`.
struct Pty {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Pty {
    fn start() -> Pty {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", dir.path().join("device").display()))
            .arg(format!("pty,raw,echo=0,link={}", dir.path().join("peer").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat is needed (scripts/install-test-peers.sh installs it)");
        let pty = Pty { dir, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(pty.device().exists() && pty.peer().exists()) {
            assert!(Instant::now() < deadline, "socat made no ptys");
            std::thread::sleep(Duration::from_millis(10));
        }
        pty
    }
    fn device(&self) -> PathBuf {
        self.dir.path().join("device")
    }
    fn peer(&self) -> PathBuf {
        self.dir.path().join("peer")
    }
    fn unplug(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.device());
        let _ = std::fs::remove_file(self.peer());
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.unplug();
    }
}

/// A Masimo ASCII 1 line `i` seconds after 12:00:00 two minutes ago is not needed: the device
/// clock is local (UTC here) and clock-skew handling leaves recent times alone.
fn masimo_line(at: chrono::DateTime<chrono::Utc>, spo2: u32, bpm: u32) -> String {
    format!(
        "{} SN=0000093112 SPO2={spo2:03}% BPM={bpm:03} PI=01.25 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=000000 EXC1=00000000\r\n",
        at.format("%m/%d/%y %H:%M:%S")
    )
}

fn devices(api: std::net::SocketAddr) -> Value {
    let r = http::get(api, "/api/v1/devices");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn device<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {body}"))
}

async fn poll(api: std::net::SocketAddr, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = tokio::task::spawn_blocking(move || devices(api)).await.unwrap();
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn config(data: &Path, pty: &Pty, modbus_port: u16) -> Config {
    let text = format!(
        "mqtt = []\n[storage]\ndata_dir = {data:?}\nflush_interval_ms = 200\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [compaction]\nenabled = false\n\
         [[serial]]\npath = {device:?}\ncodec = \"masimo_ascii1\"\ntime_zone = \"UTC\"\nreconnect_max_ms = 200\n\
         [modbus]\n[[modbus.models]]\nname = \"fridge\"\n\
         points = [{{ metric = \"temp_storage\", function = \"input_registers\", address = 0, type = \"i16\", scale = 0.1, unit = \"Cel\" }}]\n\
         [[modbus.devices]]\ndevice_id = \"fridge-x\"\nmodel = \"fridge\"\nunit_id = 1\n\
         transport = {{ kind = \"tcp\", host = \"127.0.0.1\", port = {modbus_port} }}\n{auth}",
        device = pty.device(),
        auth = crate::support::auth_toml()
    );
    Config::parse(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devices_show_serial_and_modbus_driver_state_after_real_traffic() {
    let data = tempfile::tempdir().unwrap();
    let mut pty = Pty::start();
    // A port nobody listens on: bound then released.
    let modbus_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let service = Service::start(&config(data.path(), &pty, modbus_port)).await.unwrap();
    let api = service.http_address().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = tokio::task::spawn_blocking(move || http::get(api, "/metrics").body).await.unwrap();
        if metric_sum(&text, "wardstream_serial_connected") == 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "serial port not open: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A garbage line (one malformed frame, a dead letter) and three good lines.
    let now = chrono::Utc::now() - chrono::Duration::seconds(5);
    let mut peer = std::fs::OpenOptions::new().write(true).open(pty.peer()).unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"\x00\xff\x13garbage\r\n");
    bytes.extend_from_slice(masimo_line(now - chrono::Duration::seconds(2), 97, 71).as_bytes());
    bytes.extend_from_slice(masimo_line(now - chrono::Duration::seconds(1), 96, 72).as_bytes());
    bytes.extend_from_slice(masimo_line(now, 95, 73).as_bytes());
    peer.write_all(&bytes).unwrap();
    peer.flush().unwrap();

    let body = poll(api, "readings not counted", |b| {
        b["devices"].as_array().unwrap().iter().any(|d| d["device_id"] == "masimo-0000093112" && d["readings"] == 9)
    })
    .await;
    let oximeter = device(&body, "masimo-0000093112");
    let driver = &oximeter["driver"];
    assert_eq!(oximeter["registered"], false, "{oximeter}");
    assert_eq!(driver["kind"], "serial");
    assert_eq!(driver["name"], pty.device().to_str().unwrap());
    assert_eq!(driver["codec"], "masimo_ascii1");
    assert_eq!(driver["state"], "connected");
    assert_eq!(driver["reconnects"], 0);
    assert_eq!(driver["last_error"], Value::Null);
    assert_eq!(driver["bytes_read"], bytes.len());
    assert_eq!(driver["frames_decoded"], 3, "{driver}");
    assert_eq!(driver["malformed_frames"], 1, "{driver}");
    assert_eq!(driver["bytes_discarded"], 0, "{driver}");
    assert!(driver["last_reading_at"].is_string(), "{driver}");
    // The garbage line is a dead letter of the port's fallback device id (its path), same driver.
    let port = device(&body, pty.device().to_str().unwrap());
    assert_eq!(
        (&port["dead_letters"], &port["driver"]["name"]),
        (&Value::from(1), &Value::from(pty.device().to_str().unwrap()))
    );

    // The Modbus device: listed though never heard from, reconnecting with its error.
    let body =
        poll(api, "modbus not failing", |b| device(b, "fridge-x")["driver"]["reconnects"].as_u64() >= Some(1)).await;
    let fridge = &device(&body, "fridge-x")["driver"];
    assert_eq!(fridge["kind"], "modbus");
    assert!(["reconnecting", "connecting"].contains(&fridge["state"].as_str().unwrap()), "{fridge}");
    assert!(fridge["last_error"].as_str().unwrap().starts_with("cannot connect: "), "{fridge}");
    assert_eq!(fridge["frames_decoded"], 0);
    assert_eq!(fridge["last_reading_at"], Value::Null);

    let metrics = tokio::task::spawn_blocking(move || http::get(api, "/metrics").body).await.unwrap();
    assert_eq!(metric_sum(&metrics, "wardstream_serial_frames_total"), 4.0, "{metrics}");
    assert_eq!(metric_sum(&metrics, "wardstream_serial_malformed_frames_total"), 1.0);
    assert_eq!(metric_sum(&metrics, "wardstream_serial_readings_total"), 9.0);
    assert_eq!(metric_sum(&metrics, "wardstream_serial_bytes_discarded_total"), 0.0);
    assert_eq!(metric_sum(&metrics, "wardstream_serial_connected"), 1.0);
    assert_eq!(metric_sum(&metrics, "wardstream_modbus_readings_total"), 0.0);
    assert!(metric_sum(&metrics, "wardstream_modbus_reconnects_total") >= 1.0);
    assert!(metrics.contains("wardstream_modbus_connected{device=\"fridge-x\"} 0\n"), "{metrics}");

    // Half a line, then unplugged: its bytes are discarded and counted; reconnecting, with the
    // error that took it down.
    let line = masimo_line(now, 94, 74);
    peer.write_all(&line.as_bytes()[..40]).unwrap();
    peer.flush().unwrap();
    poll(api, "half line not read", |b| device(b, "masimo-0000093112")["driver"]["bytes_read"] == bytes.len() + 40)
        .await;
    drop(peer);
    pty.unplug();
    let body =
        poll(api, "unplug not seen", |b| device(b, "masimo-0000093112")["driver"]["state"] == "reconnecting").await;
    let driver = &device(&body, "masimo-0000093112")["driver"];
    assert!(driver["last_error"].as_str().unwrap().starts_with("port lost: "), "{driver}");
    assert!(driver["retry_in_ms"].as_u64().is_some(), "{driver}");
    assert_eq!(driver["frames_decoded"], 3);
    assert_eq!(driver["bytes_discarded"], 40, "{driver}");
    service.shutdown().await.unwrap();
}
