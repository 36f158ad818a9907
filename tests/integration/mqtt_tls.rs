//! MQTT over TLS against a real Mosquitto (TLS listener, password authentication, certificates
//! made by the test): `wardstream run` connects with its CA file and password file and stores
//! what `mosquitto_pub` sends over TLS; with mutual TLS it presents its client certificate; a
//! wardstream trusting another CA, holding a wrong password, or lacking the client certificate
//! the broker requires, never connects, stores nothing, keeps running and logs (ERROR) and
//! counts each failed attempt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wardstream_storage::QuerySession;

use crate::support::tls_mosquitto::{Pki, TlsMosquitto};
use crate::support::wardstream_process::WardstreamProcess;
use crate::support::{count, csv_rows, wait_for_count};

const SERVICE_USER: &str = "wardstream";
const SERVICE_PASSWORD: &str = "svc-Pa55-7f3e";
const DEVICE_USER: &str = "monitor-7";
const DEVICE_PASSWORD: &str = "dev-Pa55-19ab";
const TOPIC: &str = "wardstream/icu/monitor-7/vitals";

/// Writes a config for `wardstream run`: WAL on, the HTTP API on a free port, one `[[mqtt]]`
/// entry with `mqtt` (TOML lines) added.
fn write_config(dir: &Path, data: &Path, mqtt: &str) -> PathBuf {
    let config = dir.join("wardstream.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = {data:?}\nflush_interval_ms = 200\n\n[wal]\nenabled = true\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n[[mqtt]]\nclient_id = \"ws-tls\"\ntopics = [\"wardstream/#\"]\n\
             qos = 1\nkeep_alive_secs = 5\n{mqtt}\n{auth}",
            auth = crate::support::auth_toml()
        ),
    )
    .unwrap();
    config
}

/// A password file holding `password` and a line break, as an editor writes it.
fn password_file(dir: &Path, password: &str) -> PathBuf {
    let file = dir.join("mqtt-password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    file
}

fn mqtt_toml(url: &str, ca: &Path, password_file: &Path) -> String {
    format!("url = \"{url}\"\nca_file = {ca:?}\nusername = \"{SERVICE_USER}\"\npassword_file = {password_file:?}\n")
}

/// Publishes two messages over TLS as the device and waits until wardstream stored their three
/// readings; returns the stored rows (device, metric, value).
async fn publish_and_read_back(broker: &TlsMosquitto, data: &Path) -> Vec<String> {
    broker.publish(
        DEVICE_USER,
        DEVICE_PASSWORD,
        TOPIC,
        r#"[{"bn":"urn:dev:ws:monitor-7:","n":"HR","u":"/min","v":71},{"n":"SpO2","u":"%","v":97}]"#,
    );
    broker.publish(DEVICE_USER, DEVICE_PASSWORD, TOPIC, r#"[{"n":"HR","u":"/min","v":73}]"#);
    let session = QuerySession::open(data).unwrap();
    assert_eq!(wait_for_count(&session, "SELECT count(*) FROM vitals", 3, Duration::from_secs(60)).await, 3);
    csv_rows(&session, "SELECT device_id, metric, value FROM vitals ORDER BY metric, value").await
}

fn expected_rows() -> Vec<String> {
    vec![
        "urn:dev:ws:monitor-7,heart_rate,71.0".to_owned(),
        "monitor-7,heart_rate,73.0".to_owned(),
        "urn:dev:ws:monitor-7,spo2,97.0".to_owned(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_password_wardstream_stores_what_mosquitto_pub_sends() {
    let broker = TlsMosquitto::start(&[(SERVICE_USER, SERVICE_PASSWORD), (DEVICE_USER, DEVICE_PASSWORD)], false);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = password_file(dir.path(), SERVICE_PASSWORD);
    let config = write_config(dir.path(), &data, &mqtt_toml(&broker.url(), &broker.pki().ca(), &secret));
    let mut service = WardstreamProcess::spawn(&config, &dir.path().join("wardstream.log"));
    service.wait_log("subscribed", Duration::from_secs(60));

    let mut rows = publish_and_read_back(&broker, &data).await;
    rows.sort();
    let mut expected = expected_rows();
    expected.sort();
    assert_eq!(rows, expected);
    assert_eq!(service.metric("wardstream_mqtt_connected"), 1.0);
    assert_eq!(service.metric("wardstream_mqtt_tls_failures_total"), 0.0);
    assert_eq!(service.metric("wardstream_mqtt_auth_failures_total"), 0.0);
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(dir.path().join("wardstream.log")).unwrap();
    assert!(!log.contains(SERVICE_PASSWORD), "the password is never logged:\n{log}");
    assert!(log.contains("tls=true"), "the driver's span says TLS:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mutual_tls_wardstream_presents_its_client_certificate() {
    let broker = TlsMosquitto::start(&[(SERVICE_USER, SERVICE_PASSWORD), (DEVICE_USER, DEVICE_PASSWORD)], true);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = password_file(dir.path(), SERVICE_PASSWORD);
    let (cert, key) = broker.pki().cert_and_key("wardstream");
    let mqtt = format!(
        "{}client_cert_file = {cert:?}\nclient_key_file = {key:?}\n",
        mqtt_toml(&broker.url(), &broker.pki().ca(), &secret)
    );
    let config = write_config(dir.path(), &data, &mqtt);
    let mut service = WardstreamProcess::spawn(&config, &dir.path().join("wardstream.log"));
    service.wait_log("subscribed", Duration::from_secs(60));
    let mut rows = publish_and_read_back(&broker, &data).await;
    rows.sort();
    let mut expected = expected_rows();
    expected.sort();
    assert_eq!(rows, expected);
    assert_eq!(service.metric("wardstream_mqtt_tls_failures_total"), 0.0);
    assert!(service.terminate(Duration::from_secs(60)).success());
}

/// Waits until the `/metrics` family `name` reaches `at_least` (each attempt is one more).
fn wait_metric(service: &mut WardstreamProcess, name: &str, at_least: f64) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = service.metric(name);
        if value >= at_least || std::time::Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Publishes a message the broker accepts, stops wardstream and checks it stored nothing and
/// never connected.
async fn assert_nothing_stored(broker: &TlsMosquitto, service: WardstreamProcess, data: &Path, log: &Path) {
    broker.publish(DEVICE_USER, DEVICE_PASSWORD, TOPIC, r#"[{"bn":"urn:dev:ws:monitor-7:","n":"HR","v":70}]"#);
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(!log.contains("connected to the MQTT broker"), "never connected:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(SERVICE_PASSWORD), "the password is never logged:\n{log}");
    let session = QuerySession::open(data).unwrap();
    assert_eq!(count(&session, "SELECT count(*) FROM vitals").await, 0);
    assert_eq!(count(&session, "SELECT count(*) FROM dead_letters").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_another_ca_is_refused_logged_counted_and_retried() {
    let broker = TlsMosquitto::start(&[(SERVICE_USER, SERVICE_PASSWORD), (DEVICE_USER, DEVICE_PASSWORD)], false);
    let other = Pki::generate("some other CA");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = password_file(dir.path(), SERVICE_PASSWORD);
    let config = write_config(dir.path(), &data, &mqtt_toml(&broker.url(), &other.ca(), &secret));
    let log = dir.path().join("wardstream.log");
    let mut service = WardstreamProcess::spawn(&config, &log);
    let line = service.wait_log("MQTT TLS handshake failed", Duration::from_secs(60));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("UnknownIssuer"), "the reason is named: {line}");
    // Retried with backoff, each attempt counted; never connected, never authenticated.
    assert!(wait_metric(&mut service, "wardstream_mqtt_tls_failures_total", 3.0) >= 3.0);
    assert!(service.metric("wardstream_mqtt_reconnects_total") >= 3.0);
    assert_eq!(service.metric("wardstream_mqtt_connected"), 0.0);
    assert_eq!(service.metric("wardstream_mqtt_auth_failures_total"), 0.0);
    assert_nothing_stored(&broker, service, &data, &log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_logged_counted_and_retried() {
    let broker = TlsMosquitto::start(&[(SERVICE_USER, SERVICE_PASSWORD), (DEVICE_USER, DEVICE_PASSWORD)], false);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = password_file(dir.path(), "not-the-password");
    let config = write_config(dir.path(), &data, &mqtt_toml(&broker.url(), &broker.pki().ca(), &secret));
    let log = dir.path().join("wardstream.log");
    let mut service = WardstreamProcess::spawn(&config, &log);
    let line = service.wait_log("refused wardstream's credentials", Duration::from_secs(60));
    assert!(line.contains("ERROR"), "{line}");
    assert!(!line.contains("not-the-password"), "{line}");
    assert!(wait_metric(&mut service, "wardstream_mqtt_auth_failures_total", 2.0) >= 2.0);
    assert_eq!(service.metric("wardstream_mqtt_connected"), 0.0);
    assert_eq!(service.metric("wardstream_mqtt_tls_failures_total"), 0.0);
    assert_nothing_stored(&broker, service, &data, &log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_client_certificate_wardstream_is_refused_by_a_broker_that_requires_one() {
    let broker = TlsMosquitto::start(&[(SERVICE_USER, SERVICE_PASSWORD), (DEVICE_USER, DEVICE_PASSWORD)], true);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = password_file(dir.path(), SERVICE_PASSWORD);
    let config = write_config(dir.path(), &data, &mqtt_toml(&broker.url(), &broker.pki().ca(), &secret));
    let log = dir.path().join("wardstream.log");
    let mut service = WardstreamProcess::spawn(&config, &log);
    // With TLS 1.3 the broker's refusal arrives as an alert after the handshake: still TLS.
    let line = service.wait_log("MQTT TLS handshake failed", Duration::from_secs(60));
    assert!(line.contains("ERROR") && line.contains("CertificateRequired"), "{line}");
    assert!(wait_metric(&mut service, "wardstream_mqtt_tls_failures_total", 3.0) >= 3.0);
    assert_eq!(service.metric("wardstream_mqtt_connected"), 0.0);
    assert_eq!(service.metric("wardstream_mqtt_auth_failures_total"), 0.0);
    assert_nothing_stored(&broker, service, &data, &log).await;
}
