//! Helpers shared by the `api_*` tests: a service with the HTTP API (and, when asked, the ADT
//! listener), placing devices and associating patients through the API, SenML packs, waiting for
//! readings, raw HTTP requests (bodies that are not JSON) and the Python peers in `peers/`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use chrono::DateTime;
use serde_json::{Value, json};
use wardstream_ingest::Service;
use wardstream_ingest::adt_listener::AdtSettings;
use wardstream_ingest::config::Config;

use crate::support::http::{self, Response};
use crate::support::mosquitto::Mosquitto;
use crate::support::{count, service_config};

/// One minute in µs.
pub const MINUTE: i64 = 60_000_000;

/// Starts a service on `data` with the HTTP API, reading MQTT from `broker` (none: no MQTT
/// source) and, when `adt`, with the ADT listener on a free port.
pub async fn start(data: &Path, broker: Option<&Mosquitto>, client_id: &str, adt: bool) -> Service {
    start_with(data, broker, client_id, adt, |_| {}).await
}

/// [`start`], with `tweak` applied to the configuration first.
pub async fn start_with(
    data: &Path,
    broker: Option<&Mosquitto>,
    client_id: &str,
    adt: bool,
    tweak: impl FnOnce(&mut Config),
) -> Service {
    let mut config =
        service_config(data, &broker.map_or_else(|| "mqtt://127.0.0.1:1".into(), Mosquitto::url), client_id);
    if broker.is_none() {
        config.mqtt.clear();
    }
    if adt {
        config.adt = Some(AdtSettings { listen: "127.0.0.1:0".into(), ..AdtSettings::default() });
    }
    tweak(&mut config);
    let service = Service::start(&config).await.unwrap();
    if broker.is_some() {
        service.wait_subscribed(Duration::from_secs(10)).await.unwrap();
    }
    service
}

/// A time as the API writes it: RFC 3339, UTC, six decimals.
pub fn rfc3339(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A whole minute about `minutes_ago` minutes before now.
pub fn minutes_ago(minutes: i64) -> i64 {
    (chrono::Utc::now().timestamp_micros() - minutes * MINUTE) / MINUTE * MINUTE
}

/// `PUT /api/v1/devices/{device}`: places it at `ward^room^bed` from `from` (µs); asserts 200.
pub fn place(api: SocketAddr, device: &str, (ward, room, bed): (&str, &str, &str), from: i64) {
    let body = json!({"ward": ward, "room": room, "bed": bed, "from": rfc3339(from)});
    let r = http::put(api, &format!("/api/v1/devices/{device}"), &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["bed"], format!("{ward}^{room}^{bed}"));
}

/// `POST /api/v1/associations` with `body`; asserts 201 and returns the answer.
pub fn associate(api: SocketAddr, body: &Value) -> Value {
    let r = http::post(api, "/api/v1/associations", body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// One SenML pack: one record `name` of `device` at `time` (µs).
pub fn senml(device: &str, time: i64, name: &str, unit: &str, value: f64) -> String {
    json!([{"bn": format!("{device}:"), "bt": time as f64 / 1e6, "n": name, "u": unit, "v": value}]).to_string()
}

/// Waits until `vitals` holds `n` rows (30 s at most), then asserts it holds exactly `n`.
pub async fn wait_readings(service: &Service, n: i64) {
    let session = &service.state().session;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(session, "SELECT count(*) FROM vitals").await < n {
        assert!(std::time::Instant::now() < deadline, "{n} readings not stored in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(session, "SELECT count(*) FROM vitals").await, n);
}

/// `GET /api/v1/associations?patient=…` (200) as JSON.
pub fn associations_of(api: SocketAddr, patient: &str) -> Value {
    let r = http::get(api, &format!("/api/v1/associations?patient={patient}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// An HTTP/1.0 request with any body and headers (HTTP/1.0: the answer is never chunked).
pub fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
        head.push_str(&format!("Authorization: Bearer {}\r\n", crate::support::ADMIN_TOKEN));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8(answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-type")))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Response { status, content_type, www_authenticate: None, body: body.to_owned() }
}

/// Runs the Python peer `peers/<script>` with `args`, feeding `stdin`; asserts it succeeded and
/// returns each line of its output as JSON.
pub fn python(script: &str, args: &[String], stdin: &str) -> Vec<Value> {
    let path = format!("{}/integration/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("python3")
        .arg(&path)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_owned();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "{script} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
