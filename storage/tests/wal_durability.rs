//! Group commit under concurrency, and crashes: many producers waiting for durability, a drop
//! without close, a real `kill -9` of a child process, and (ignored) the fsync latency here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod wal_common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use wal_common::{body, config, reopen};
use wardstream_storage::wal::{Wal, WalConfig, WalEvent};

#[test]
fn many_threads_appending_get_unique_dense_lsns_each_made_durable_exactly_once() {
    const THREADS: usize = 8;
    const EACH: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 16 * 1024);
    let (wal, _) = Wal::open(cfg.clone()).unwrap();
    let wal = Arc::new(wal);
    let events = wal.subscribe();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let b = format!("thread-{t}-record-{i}").into_bytes();
                        let lsn = wal.append(&b).unwrap();
                        wal.wait_durable(lsn).unwrap();
                        (lsn, b)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let appended: BTreeMap<u64, Vec<u8>> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let total = (THREADS * EACH) as u64;
    assert_eq!(appended.keys().copied().collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>(), "unique and dense");
    wal.close().unwrap();
    // Each Durable event covers (previous, n]: strictly increasing, ending at the last LSN,
    // so every LSN was reported durable exactly once.
    let durable: Vec<u64> =
        events.try_iter().map(|e| if let WalEvent::Durable(n) = e { n } else { panic!("{e:?}") }).collect();
    assert!(durable.windows(2).all(|w| w[0] < w[1]), "{durable:?}");
    assert_eq!(durable.last(), Some(&total));
    let stats = wal.stats().snapshot();
    assert_eq!(stats.records, total);
    assert!(stats.fsyncs < total, "group commit: {} fsyncs for {total} records", stats.fsyncs);
    assert_eq!((stats.io_errors, stats.failed_records), (0, 0));
    drop(wal);
    let (_, records) = reopen(&cfg);
    assert_eq!(records.into_iter().collect::<BTreeMap<_, _>>(), appended);
}

#[test]
fn dropping_the_log_without_close_loses_nothing_wait_durable_returned_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 4096);
    let (wal, _) = Wal::open(cfg.clone()).unwrap();
    let mut waited = Vec::new();
    for i in 1..=150 {
        let lsn = wal.append(&body(i, 30)).unwrap();
        wal.wait_durable(lsn).unwrap();
        waited.push((lsn, body(i, 30)));
    }
    for i in 151..=200 {
        wal.append(&body(i, 30)).unwrap();
    }
    drop(wal); // no close: no final fsync
    let (wal, records) = reopen(&cfg);
    assert_eq!(records[..150], waited[..]);
    for (lsn, b) in &records {
        assert_eq!(*b, body(*lsn as usize, 30), "whatever else survived is intact");
    }
    assert_eq!(wal.next_lsn(), records.len() as u64 + 1);
}

/// Not a test on its own: the child process of the `kill -9` test (does nothing unless
/// `WAL_CHILD_DIR` is set). Appends forever, printing each LSN once it is durable.
#[test]
fn child_process_appending_until_killed() {
    let Ok(dir) = std::env::var("WAL_CHILD_DIR") else { return };
    let (wal, _) = Wal::open(config(dir.as_ref(), 8192)).unwrap();
    let wal = Arc::new(wal);
    let background = Arc::clone(&wal);
    // Records nobody waits for keep the log busy while the process dies.
    std::thread::spawn(move || {
        for i in 1_000_000.. {
            let _ = background.append(&body(i, 100));
        }
    });
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let lsn = wal.append(&body(i, 50)).unwrap();
        wal.wait_durable(lsn).unwrap();
        writeln!(out, "durable {lsn} {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_kill_9_loses_nothing_that_was_reported_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_appending_until_killed", "--nocapture", "--test-threads=1"])
        .env("WAL_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut durable = BTreeMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("durable ") else { continue };
        let (lsn, i) = rest.split_once(' ').unwrap();
        durable.insert(lsn.parse::<u64>().unwrap(), body(i.parse().unwrap(), 50));
        if durable.len() == 300 {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    child.wait().unwrap();
    let (_, records) = reopen(&config(dir.path(), 8192));
    let replayed: BTreeMap<u64, Vec<u8>> = records.into_iter().collect();
    assert_eq!(durable.len(), 300);
    for (lsn, b) in &durable {
        assert_eq!(replayed.get(lsn), Some(b), "LSN {lsn} was reported durable");
    }
}

/// Prints the fsync latency of 1,000 small sequential group commits on this machine, with
/// fsync as soon as a record is pending and with the default 5 ms group-commit interval.
#[test]
#[ignore = "timing report, not an assertion: cargo test -p wardstream-storage --test wal_durability -- --ignored --nocapture"]
fn fsync_latency_of_1000_small_group_commits() {
    for interval_ms in [0, 5] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = WalConfig { group_commit_interval_ms: interval_ms, ..WalConfig::new(dir.path()) };
        let (wal, _) = Wal::open(cfg).unwrap();
        let mut commit_us = Vec::new();
        for i in 0..1_000 {
            let started = Instant::now();
            let lsn = wal.append(&body(i, 64)).unwrap();
            wal.wait_durable(lsn).unwrap();
            commit_us.push(started.elapsed().as_micros() as u64);
        }
        commit_us.sort_unstable();
        let s = wal.stats().snapshot().fsync_latency;
        println!(
            "interval {interval_ms} ms: fsync over {} group commits p50 {} µs, p99 {} µs, max {} µs, mean {} µs; \
             append→durable p50 {} µs, p99 {} µs",
            s.count, s.p50_us, s.p99_us, s.max_us, s.mean_us, commit_us[499], commit_us[989]
        );
    }
}
