//! The `wardstream` binary as a user runs it: `demo`, `query`, `config example`, and `run`
//! flushing everything on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wardstream_ingest::Config;

use crate::support::mosquitto::Mosquitto;
use crate::support::{publish_lines, wardstream_bin};

fn wardstream(args: &[&str]) -> std::process::Output {
    Command::new(wardstream_bin()).args(args).output().unwrap()
}

#[test]
fn demo_stores_every_published_reading_once_and_query_reads_the_files() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let out = wardstream(&[
        "demo",
        "--data",
        dir,
        "--beds",
        "4",
        "--duration",
        "3",
        "--interval-ms",
        "200",
        "--http",
        "127.0.0.1:0",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("OK: published == stored, every reading exactly once"), "{stdout}");
    let published: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("published (acknowledged by the broker): "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no published count in:\n{stdout}"));
    assert!(published > 20, "4 beds × 15 frames publish far more than 20 readings, got {published}");
    let q = wardstream(&[
        "query",
        "--data",
        dir,
        "--format",
        "csv",
        "SELECT count(*) AS n, count(DISTINCT device_id) AS beds FROM vitals",
    ]);
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    assert_eq!(String::from_utf8_lossy(&q.stdout), format!("n,beds\n{published},4\n"));
    // Real ICU numerics: the replayed heart rates are human ones.
    let hr = wardstream(&[
        "query",
        "--data",
        dir,
        "--format",
        "json",
        "SELECT min(value) >= 30 AND max(value) <= 200 AS human FROM vitals WHERE metric = 'heart_rate'",
    ]);
    assert_eq!(String::from_utf8_lossy(&hr.stdout).trim(), r#"{"human":true}"#);
}

#[test]
fn query_with_bad_sql_fails_with_a_clear_message_and_a_non_zero_exit() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let out = wardstream(&["query", "--data", dir, "SELEC nonsense"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.to_lowercase().contains("sql"), "{stderr}");
    let missing = wardstream(&["query", "--data", dir, "SELECT * FROM no_such_table"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no_such_table"));
    let empty = wardstream(&["query", "--data", dir, "--format", "csv", "SELECT count(*) AS n FROM vitals"]);
    assert_eq!(String::from_utf8_lossy(&empty.stdout), "n\n0\n");
}

#[test]
fn config_example_is_a_config_that_run_accepts() {
    let out = wardstream(&["config", "example"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(Config::parse(&text).unwrap(), Config::parse(wardstream_ingest::config::EXAMPLE).unwrap());
    let data = tempfile::tempdir().unwrap();
    let bad = data.path().join("bad.toml");
    std::fs::write(&bad, "[storage]\ndata_dri = \"x\"\n").unwrap();
    let out = wardstream(&["run", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `data_dri`"));
}

#[test]
fn run_flushes_everything_buffered_on_sigterm() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("wardstream.toml");
    // A flush interval far longer than the test: rows reach Parquet only through the shutdown flush.
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = {:?}\nflush_interval_ms = 3600000\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[[mqtt]]\nurl = \"{}\"\nclient_id = \"ws-sigterm\"\n{}",
            data.path().join("tables"),
            broker.url(),
            crate::support::auth_toml()
        ),
    )
    .unwrap();
    let mut child = Command::new(wardstream_bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info,wardstream_protocols=debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut line = String::new();
    while !line.contains("subscribed") {
        line.clear();
        assert!(Instant::now() < deadline && stderr.read_line(&mut line).unwrap() > 0, "wardstream never subscribed");
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let packs: Vec<String> = (0..100)
        .map(|i| format!(r#"[{{"bn":"urn:dev:sig:m1:","bt":{},"n":"HR","v":{}}}]"#, 1_700_200_000 + i, 60 + i % 30))
        .collect();
    publish_lines(broker.port(), "wardstream/w/m1/vitals", "pub-sig", &packs);
    // The broker has acknowledged every message; give loopback delivery a moment.
    std::thread::sleep(Duration::from_secs(2));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let tables = data.path().join("tables");
    let q = wardstream(&[
        "query",
        "--data",
        tables.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT count(*) AS n, sum(value) AS s FROM vitals",
    ]);
    let expected_sum: i64 = (0..100).map(|i| 60 + i % 30).sum();
    assert_eq!(String::from_utf8_lossy(&q.stdout), format!("n,s\n100,{expected_sum}.0\n"));
}
