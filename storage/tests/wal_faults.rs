//! I/O errors: injected write, fsync, segment-creation and directory-fsync failures, and a
//! real full disk (a 1 MiB tmpfs, when running as root). A failed record is reported to its
//! waiter and subscribers, counted, never replayed, and the log resumes by itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod wal_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use wal_common::{Switch, body, config, reopen, segment_firsts};
use wardstream_storage::wal::{Durability, FaultInjector, IoOp, Lsn, Wal, WalError, WalEvent};

fn open_with(dir: &Path, switch: &Arc<Switch>) -> Wal {
    let injector: Arc<dyn FaultInjector> = switch.clone();
    Wal::open_with_faults(config(dir, 1 << 20), Some(injector)).unwrap().0
}

fn failed_lsns(events: &[WalEvent]) -> Vec<Lsn> {
    events
        .iter()
        .filter_map(|e| if let WalEvent::Failed { first, last, .. } = e { Some(*first..=*last) } else { None })
        .flatten()
        .collect()
}

#[test]
fn a_failed_fsync_fails_every_waiter_of_its_records_and_none_of_them_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Arc::new(Switch::default());
    let wal = open_with(dir.path(), &switch);
    let events = wal.subscribe();
    switch.fail(IoOp::Sync);
    let lsns: Vec<Lsn> = (1..=3).map(|i| wal.append(&body(i, 20)).unwrap()).collect();
    for lsn in &lsns {
        let err = wal.wait_durable(*lsn).unwrap_err();
        assert!(matches!(err, WalError::NotDurable { first, last, .. } if first <= *lsn && *lsn <= last), "{err}");
        assert!(err.to_string().contains("injected Sync failure"), "{err}");
        assert_eq!(wal.state_of(*lsn), Durability::Failed);
    }
    switch.heal();
    let ok: Vec<Lsn> = (4..=5).map(|i| wal.append(&body(i, 20)).unwrap()).collect();
    assert_eq!(ok, [4, 5], "failed LSNs are never reused");
    wal.wait_durable(5).unwrap();
    assert_eq!((wal.state_of(2), wal.state_of(4)), (Durability::Failed, Durability::Durable));
    let stats = wal.stats().snapshot();
    assert_eq!(stats.failed_records, 3);
    assert!(stats.fsync_errors >= 1 && stats.io_errors >= stats.fsync_errors);
    wal.close().unwrap(); // events are delivered just after waiters are released: join first
    let events: Vec<WalEvent> = events.try_iter().collect();
    assert_eq!(failed_lsns(&events), [1, 2, 3]);
    assert_eq!(events.last(), Some(&WalEvent::Durable(5)));
    // Each failed round cuts and abandons its segment (1, and 2 or 3 if the appends straddled
    // rounds); LSN 4 starts a fresh one.
    let firsts = segment_firsts(dir.path());
    assert_eq!((firsts.first(), firsts.last()), (Some(&1), Some(&4)), "{firsts:?}");
    let (_, records) = reopen(&config(dir.path(), 1 << 20));
    assert_eq!(records, vec![(4, body(4, 20)), (5, body(5, 20))]);
}

#[test]
fn a_failed_write_appends_nothing_and_the_next_append_takes_the_same_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Arc::new(Switch::default());
    let wal = open_with(dir.path(), &switch);
    assert_eq!(wal.append(b"one").unwrap(), 1);
    switch.fail(IoOp::Write);
    assert!(matches!(wal.append(b"lost"), Err(WalError::Io { op: "write", .. })));
    switch.heal();
    assert_eq!(wal.append(b"two").unwrap(), 2);
    wal.wait_durable(2).unwrap();
    assert_eq!(wal.stats().snapshot().io_errors, 1);
    wal.close().unwrap();
    let (_, records) = reopen(&config(dir.path(), 1 << 20));
    assert_eq!(records, vec![(1, b"one".to_vec()), (2, b"two".to_vec())]);
}

#[test]
fn a_failed_write_that_cannot_be_cut_abandons_the_segment_and_skips_its_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Arc::new(Switch::default());
    let wal = open_with(dir.path(), &switch);
    assert_eq!(wal.append(b"one").unwrap(), 1);
    switch.fail(IoOp::Write);
    switch.fail(IoOp::Truncate);
    assert!(wal.append(b"lost").is_err());
    switch.heal();
    assert_eq!(wal.state_of(2), Durability::Failed);
    assert_eq!(wal.append(b"three").unwrap(), 3);
    wal.wait_durable(3).unwrap();
    wal.wait_durable(1).unwrap();
    wal.close().unwrap();
    assert_eq!(segment_firsts(dir.path()), [1, 3]);
    let (_, records) = reopen(&config(dir.path(), 1 << 20));
    assert_eq!(records, vec![(1, b"one".to_vec()), (3, b"three".to_vec())]);
}

#[test]
fn segment_creation_and_directory_fsync_failures_are_reported_and_the_log_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let switch = Arc::new(Switch::default());
    let wal = open_with(dir.path(), &switch);
    switch.fail(IoOp::CreateSegment);
    assert!(matches!(wal.append(b"a"), Err(WalError::Io { op: "create segment", .. })));
    assert!(matches!(wal.append(b"a"), Err(WalError::Io { op: "create segment", .. })));
    switch.heal();
    switch.fail(IoOp::SyncDir);
    let lsn = wal.append(b"in a new segment").unwrap();
    assert_eq!(lsn, 1);
    assert!(matches!(wal.wait_durable(lsn), Err(WalError::NotDurable { first: 1, last: 1, .. })));
    switch.heal();
    let lsn = wal.append(b"retried").unwrap();
    wal.wait_durable(lsn).unwrap();
    assert_eq!(wal.stats().snapshot().io_errors, 3);
    wal.close().unwrap();
    let (_, records) = reopen(&config(dir.path(), 1 << 20));
    assert_eq!(records, vec![(2, b"retried".to_vec())]);
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn on_a_real_full_disk_failed_records_are_never_acked_or_replayed_and_appends_resume_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(dir.path()).output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!("SKIPPED: cannot mount a tmpfs (needs root): {}", String::from_utf8_lossy(&out.stderr).trim());
            return;
        }
        Err(e) => {
            println!("SKIPPED: cannot run mount: {e}");
            return;
        }
    }
    let _unmount = Mounted(dir.path());
    let cfg = config(dir.path(), 128 * 1024);
    let (wal, _) = Wal::open(cfg.clone()).unwrap();
    // Fill the disk: every record either becomes durable or fails, never both.
    let mut durable = BTreeMap::new();
    let mut failures = 0;
    for i in 0..2_000 {
        match wal.append(&body(i, 3_000)).map(|lsn| (lsn, wal.wait_durable(lsn))) {
            Ok((lsn, Ok(()))) => drop(durable.insert(lsn, body(i, 3_000))),
            Ok((_, Err(WalError::NotDurable { .. }))) | Err(WalError::Io { .. }) => failures += 1,
            other => panic!("{other:?}"),
        }
        if failures >= 5 {
            break;
        }
    }
    assert_eq!(failures, 5, "a 1 MiB disk must fill up");
    assert!(durable.len() > 250, "{} records fit", durable.len());
    let stats = wal.stats().snapshot();
    assert!(stats.io_errors >= 5);
    println!("tmpfs 1 MiB: {} records durable, then {failures} failures; {stats:?}", durable.len());
    drop(wal);
    // What comes back is exactly what was acknowledged: no failed or half-written record.
    let (wal, records) = reopen(&cfg);
    assert_eq!(records.into_iter().collect::<BTreeMap<_, _>>(), durable);
    // Still full; a checkpoint frees the covered segments and the log resumes by itself.
    let last = *durable.keys().last().unwrap();
    assert!(wal.checkpoint(last).unwrap() >= 5);
    let mut after = BTreeMap::new();
    for i in 0..50 {
        let lsn = wal.append(&body(i, 3_000)).unwrap();
        wal.wait_durable(lsn).unwrap();
        after.insert(lsn, body(i, 3_000));
    }
    wal.close().unwrap();
    let (_, records) = reopen(&cfg);
    assert_eq!(records.into_iter().collect::<BTreeMap<_, _>>(), after);
}
