//! Authentication through the real binary: `wardstream run` with tokens given as a hash, a file
//! and an environment variable; `/healthz` open, `/metrics` for the admin only; and a
//! configuration with the HTTP API but no `[auth]` refused at start with a clear error.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wardstream_ingest::auth::tokens::sha256_hex;

use crate::support::http::request_as;
use crate::support::wardstream_bin;

const ADMIN_FROM_ENV: &str = "admin-token-from-the-environment-01";
const CLINICIAN_FROM_FILE: &str = "clinician-token-from-a-file-0123";
const INTEGRATION_HASHED: &str = "integration-token-hashed-in-config";

#[test]
fn the_binary_requires_tokens_from_hashes_files_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("clinician.token");
    std::fs::write(&token_file, format!("{CLINICIAN_FROM_FILE}\n")).unwrap();
    let config = dir.path().join("wardstream.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = {:?}\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
             [[auth.tokens]]\nname = \"ops\"\nrole = \"admin\"\ntoken_env = \"WS_TEST_ADMIN_TOKEN\"\n\n\
             [[auth.tokens]]\nname = \"nurse\"\nrole = \"clinician\"\nwards = [\"ICU\"]\ntoken_file = {:?}\n\n\
             [[auth.tokens]]\nname = \"adt\"\nrole = \"integration\"\nsha256 = \"{}\"\n",
            dir.path().join("data"),
            token_file,
            sha256_hex(INTEGRATION_HASHED)
        ),
    )
    .unwrap();
    let log = dir.path().join("wardstream.log");
    let mut child = Command::new(wardstream_bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("WS_TEST_ADMIN_TOKEN", ADMIN_FROM_ENV)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let api = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let address = text
            .lines()
            .filter(|l| l.contains("HTTP API ready"))
            .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("address=")))
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok());
        if let Some(address) = address {
            break address;
        }
        assert!(child.try_wait().unwrap().is_none(), "wardstream exited:\n{text}");
        assert!(Instant::now() < deadline, "no HTTP API:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = |token: Option<&str>, path: &str| request_as(api, "GET", path, None, token).status;
    assert_eq!(status(None, "/healthz"), 200);
    assert_eq!(status(None, "/metrics"), 401);
    assert_eq!(status(Some(ADMIN_FROM_ENV), "/metrics"), 200);
    assert_eq!(status(Some(CLINICIAN_FROM_FILE), "/metrics"), 403);
    assert_eq!(status(Some(CLINICIAN_FROM_FILE), "/api/v1/wards/ICU"), 200);
    assert_eq!(status(Some(CLINICIAN_FROM_FILE), "/api/v1/wards/OTHER"), 403);
    assert_eq!(status(Some(INTEGRATION_HASHED), "/api/v1/devices"), 200);
    assert_eq!(status(Some(&sha256_hex(INTEGRATION_HASHED)), "/api/v1/devices"), 401, "the hash is not a token");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    for secret in [ADMIN_FROM_ENV, CLINICIAN_FROM_FILE, INTEGRATION_HASHED] {
        assert!(!text.contains(secret), "a token is in the log:\n{text}");
    }
}

#[test]
fn an_http_api_without_authentication_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wardstream.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = {:?}\n\n[http]\nlisten = \"127.0.0.1:0\"\n", dir.path().join("data")),
    )
    .unwrap();
    let out = Command::new(wardstream_bin()).args(["run", "--config"]).arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("the HTTP API requires authentication: define [[auth.tokens]] or [auth.jwt]"), "{stderr}");
}

#[test]
fn the_demo_prints_one_working_token_per_role() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(wardstream_bin())
        .args(["demo", "--beds", "2", "--duration", "30", "--interval-ms", "200", "--http", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut api = None;
    let mut tokens = Vec::new();
    while tokens.len() < 4 {
        let line = lines.next().expect("the demo ended before printing its tokens").unwrap();
        if let Some(rest) = line.strip_prefix("API on http://") {
            api = rest.split_whitespace().next().and_then(|a| a.parse::<std::net::SocketAddr>().ok());
        }
        if let Some(rest) = line.strip_prefix("token for ") {
            let (role, rest) = rest.split_once(": ").unwrap();
            let token = rest.split_whitespace().next().unwrap();
            assert!(rest.contains(&format!("Authorization: Bearer {token}")) && rest.contains("curl"), "{line}");
            tokens.push((role.to_owned(), token.to_owned()));
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let api = api.unwrap();
    let roles: Vec<&str> = tokens.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["clinician", "analyst", "integration", "admin"]);
    let sql = serde_json::json!({"sql": "SELECT count(*) AS n FROM vitals"});
    for (role, token) in &tokens {
        let (method, path, body) = match role.as_str() {
            "clinician" => ("GET", "/api/v1/patients/P-0001/timeline", None),
            "analyst" => ("POST", "/api/v1/query", Some(&sql)),
            "integration" => ("GET", "/api/v1/devices", None),
            _ => ("GET", "/metrics", None),
        };
        let r = request_as(api, method, path, body, Some(token));
        assert_eq!(r.status, 200, "{role}: {}", r.body);
        assert_eq!(
            request_as(api, "GET", "/api/v1/wards/icu-1", None, Some(token)).status,
            if ["clinician", "admin"].contains(&role.as_str()) { 200 } else { 403 },
            "{role}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
