//! Shared helpers: a real Mosquitto per test, publishing with `mosquitto_pub`, the `wardstream`
//! binary, in-process service start-up and SQL shortcuts.

pub mod http;
pub mod mosquitto;
pub mod persistent_mosquitto;
pub mod publisher;
pub mod tls_mosquitto;
pub mod wardstream_process;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wardstream_ingest::config::{Config, PipelineConfig};
use wardstream_protocols::mqtt::MqttConfig;
use wardstream_storage::{QuerySession, StorageConfig};

/// The `wardstream` binary built beside this test binary (`cargo build --bins` first; the
/// project's test script does).
pub fn wardstream_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("wardstream");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// The bearer token every test request sends unless it says otherwise (role `admin`); every test
/// configuration holds its hash ([`test_auth`], [`AUTH_TOML`]).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// `[auth]` for tests: [`ADMIN_TOKEN`] as `admin`.
pub fn test_auth() -> wardstream_ingest::auth::AuthSettings {
    wardstream_ingest::auth::AuthSettings {
        tokens: vec![wardstream_ingest::auth::settings::TokenEntry {
            name: "test-admin".into(),
            role: wardstream_ingest::auth::Role::Admin,
            wards: vec![],
            sha256: Some(wardstream_ingest::auth::tokens::sha256_hex(ADMIN_TOKEN)),
            token_file: None,
            token_env: None,
        }],
        ..Default::default()
    }
}

/// [`test_auth`] as TOML, for configuration files (the hash of [`ADMIN_TOKEN`]).
pub const AUTH_TOML: &str = "\n[[auth.tokens]]\nname = \"test-admin\"\nrole = \"admin\"\n\
     sha256 = \"ADMIN_SHA256\"\n";

/// [`AUTH_TOML`] with the hash filled in.
pub fn auth_toml() -> String {
    AUTH_TOML.replace("ADMIN_SHA256", &wardstream_ingest::auth::tokens::sha256_hex(ADMIN_TOKEN))
}

/// A service configuration for tests: one MQTT source on `url`, a fast flush, the HTTP API on a
/// free port with [`test_auth`].
pub fn service_config(data_dir: &Path, url: &str, client_id: &str) -> Config {
    Config {
        storage: StorageConfig { flush_interval_ms: 200, ..StorageConfig::test_config(data_dir) },
        pipeline: PipelineConfig { queue_capacity: 64, workers: 2, tick_ms: 20, ..PipelineConfig::default() },
        mqtt: vec![MqttConfig { client_id: client_id.into(), ..MqttConfig::test_config(url) }],
        // Tests run in parallel: every service gets its own free port.
        http: wardstream_ingest::config::HttpSettings {
            enabled: true,
            listen: "127.0.0.1:0".into(),
            ..wardstream_ingest::config::HttpSettings::default()
        },
        auth: test_auth(),
        ..Config::default()
    }
}

/// Publishes every line of `lines` as one QoS 1 message to `topic` with `mosquitto_pub -l`.
pub fn publish_lines(port: u16, topic: &str, client_id: &str, lines: &[String]) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-i", client_id, "-t", topic, "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub not found: install mosquitto-clients (scripts/test.sh does)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            assert!(!line.contains('\n'), "one message per line");
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "mosquitto_pub failed: {status}");
}

/// Publishes one message whose payload is the bytes of `file` (binary-safe).
pub fn publish_file(port: u16, topic: &str, file: &Path) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-f"])
        .arg(file)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Publishes one message with an empty payload.
pub fn publish_empty(port: u16, topic: &str) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-n"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The single integer of a one-row, one-column result.
pub async fn count(session: &QuerySession, sql: &str) -> i64 {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let col = batches[0].column(0);
    col.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap_or_else(|| panic!("{sql}: not Int64")).value(0)
}

/// Polls `sql` (a count) until it returns `expected` or `timeout` passes; returns the last value.
pub async fn wait_for_count(session: &QuerySession, sql: &str, expected: i64, timeout: Duration) -> i64 {
    let deadline = Instant::now() + timeout;
    loop {
        let n = count(session, sql).await;
        if n == expected || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CSV rows of a query (header dropped), for exact comparisons.
pub async fn csv_rows(session: &QuerySession, sql: &str) -> Vec<String> {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = wardstream_storage::format_batches(&batches, wardstream_storage::OutputFormat::Csv).unwrap();
    text.lines().skip(1).map(str::to_owned).collect()
}
