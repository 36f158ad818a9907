//! The disk fills up: wardstream stops acknowledging (the broker keeps the messages), leaves no
//! corrupt file, and once space is freed stores every published reading exactly once.
//!
//! The data directory (WAL included) is an 8 MiB tmpfs, mounted by the test (root only: skipped
//! with a printed reason otherwise) and unmounted by a drop guard. 200,000 readings need about
//! three times that in WAL records, so the log runs out of space mid-stream. The test then
//! checks that acknowledgements stopped while rows are missing, that pyarrow reads every Parquet
//! file, remounts the tmpfs at 64 MiB without restarting anything and waits for the rest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{HEAVY, Tables, assert_exactly_once, publish_options, test_dir, workload, write_config};
use crate::support::persistent_mosquitto::{PersistentMosquitto, is_root};
use crate::support::publisher::publish_all;
use crate::support::wardstream_process::WardstreamProcess;

const READINGS: usize = 200_000;

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).output().unwrap();
        assert!(out.status.success(), "remount failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let done = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !done {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// pyarrow's view of the data directory: rows per table, unreadable files, temp files left.
fn pyarrow_check(data: &Path) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, pathlib, sys
import pyarrow.parquet as pq
root = pathlib.Path(sys.argv[1])
rows, bad = {}, []
for path in sorted(root.rglob("*.parquet")):
    table = path.relative_to(root).parts[0]
    try:
        rows[table] = rows.get(table, 0) + pq.ParquetFile(path).read().num_rows
    except Exception as e:
        bad.append(f"{path}: {e}")
temps = [str(p) for p in root.rglob("*.inprogress")]
print(json.dumps({"rows": rows, "bad": bad, "inprogress": temps}))
"#;
    let out = Command::new("python3").args(["-c", SCRIPT]).arg(data).output().unwrap();
    assert!(
        out.status.success(),
        "pyarrow check failed (scripts/test.sh installs pyarrow): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn df(dir: &Path) -> String {
    let out = Command::new("df").args(["-k", "--output=used,avail"]).arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" KiB used, ")
        + " KiB free"
}

#[test]
fn a_full_disk_stops_acknowledgements_and_once_freed_every_reading_is_stored_exactly_once() {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = "disk-full";
    if !is_root() {
        println!("{name}: skipped: mounting a tmpfs needs root");
        return;
    }
    let started = Instant::now();
    let dir = test_dir(name);
    let data = dir.path().join("data");
    let tmpfs = match Tmpfs::mount(&data, "8m") {
        Ok(t) => t,
        Err(e) => {
            println!("{name}: skipped: cannot mount a tmpfs here: {e}");
            return;
        }
    };
    let broker = PersistentMosquitto::start();
    let config = write_config(dir.path(), &data, &broker.url(), "ws-disk-full");
    let mut service = WardstreamProcess::spawn(&config, &dir.path().join("wardstream-0.log"));
    service.wait_log("subscribed", Duration::from_secs(60));
    let tables = Tables::open(&data);
    let (messages, expected) = workload(READINGS);
    let report = publish_all(&publish_options(broker.port(), "pub-disk-full", 0), &messages).unwrap();
    assert_eq!(report.acked, messages.len());
    println!("{name}: published at {:.1?}: {report:?}", started.elapsed());

    // The WAL runs out of space.
    let deadline = Instant::now() + Duration::from_secs(60);
    while service.metric("wardstream_wal_errors_total") == 0.0 {
        assert!(Instant::now() < deadline, "no WAL error within 60 s ({}):\n{}", df(&data), service.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("{name}: disk full at {:.1?} ({})", started.elapsed(), df(&data));
    std::thread::sleep(Duration::from_secs(2));
    let acks_full = service.metric("wardstream_mqtt_acks_total");
    let stored_full = tables.stored();
    std::thread::sleep(Duration::from_secs(3));
    let acks_later = service.metric("wardstream_mqtt_acks_total");
    let log_failures = service.log().matches("cannot store the message; not acknowledging").count();
    let held = broker.stored_messages();
    println!(
        "{name}: while full: {stored_full} rows, PUBACKs {acks_full} then {acks_later} 3 s later, \
         {log_failures} 'cannot store' errors, broker holds {held:?} messages"
    );
    assert_eq!(acks_later, acks_full, "no acknowledgement while the disk is full");
    assert!(stored_full < READINGS as i64, "the disk filled before everything was stored");
    assert!(log_failures > 0, "the driver reported that it cannot store");
    let while_full = pyarrow_check(&data);
    println!("{name}: pyarrow while full: {while_full}");
    assert_eq!(while_full["bad"], serde_json::json!([]), "every Parquet file readable while the disk is full");

    tmpfs.resize("64m");
    println!("{name}: remounted at 64 MiB at {:.1?}", started.elapsed());
    let stored = tables.wait_stable(READINGS as i64, Duration::from_secs(120));
    println!("{name}: {stored} rows stable at {:.1?} ({})", started.elapsed(), df(&data));
    let wal_errors = service.metric("wardstream_wal_errors_total");
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "wardstream exited with {status}");
    assert_eq!(stored, READINGS as i64);
    let dead = assert_exactly_once(&tables, &expected);
    let after = pyarrow_check(&data);
    println!("{name}: pyarrow after: {after}");
    assert_eq!(after["bad"], serde_json::json!([]));
    assert_eq!(after["rows"]["vitals"].as_i64(), Some(READINGS as i64));
    println!(
        "{name}: {READINGS} readings through a full disk: exactly once; {wal_errors} WAL errors; \
         {dead} duplicate dead letters; total {:.1?}",
        started.elapsed()
    );
    drop(tables);
    drop(tmpfs);
}
