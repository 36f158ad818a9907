//! The write-ahead log on a real directory: append and replay across segment rotation, torn
//! tails, corrupt records in the middle, checkpoints, events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod wal_common;

use std::fs;

use wal_common::{body, config, reopen, segment_files, segment_firsts};
use wardstream_storage::wal::record::HEADER_BYTES;
use wardstream_storage::wal::{CorruptRegion, Durability, TornTail, Wal, WalError, WalEvent};

/// 40-byte bodies make 56-byte records: 3 fit a 200-byte segment.
const BODY: usize = 40;
const RECORD: u64 = (HEADER_BYTES + BODY) as u64;

fn write_records(cfg: &wardstream_storage::wal::WalConfig, n: usize) {
    let (wal, replay) = Wal::open(cfg.clone()).unwrap();
    assert_eq!(replay.count(), 0);
    for i in 1..=n {
        assert_eq!(wal.append(&body(i, BODY)).unwrap(), i as u64);
    }
    wal.close().unwrap();
}

#[test]
fn records_come_back_in_lsn_order_across_segment_rotation_and_lsns_continue() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 200);
    write_records(&cfg, 100);
    let firsts = segment_firsts(dir.path());
    assert_eq!(firsts, (0..34).map(|i| 1 + 3 * i).collect::<Vec<u64>>());
    let (wal, records) = reopen(&cfg);
    assert_eq!(records, (1..=100).map(|i| (i as u64, body(i, BODY))).collect::<Vec<_>>());
    assert_eq!(wal.next_lsn(), 101);
    assert_eq!(wal.append(b"after restart").unwrap(), 101);
    wal.close().unwrap();
    assert_eq!(segment_firsts(dir.path()).last(), Some(&101), "a restart starts a new segment");
    let (_, records) = reopen(&cfg);
    assert_eq!(records.len(), 101);
    assert_eq!(records[100], (101, b"after restart".to_vec()));
}

#[test]
fn a_torn_last_record_cut_at_any_offset_is_truncated_and_exactly_the_intact_records_return() {
    let source = tempfile::tempdir().unwrap();
    write_records(&config(source.path(), 1 << 20), 5);
    let segment = segment_files(source.path()).pop().unwrap();
    let bytes = fs::read(&segment).unwrap();
    let last_start = 4 * RECORD;
    assert_eq!(bytes.len() as u64, 5 * RECORD);
    for cut in last_start + 1..5 * RECORD {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(segment.file_name().unwrap());
        fs::write(&copy, &bytes[..cut as usize]).unwrap();
        let (wal, replay) = Wal::open(config(dir.path(), 1 << 20)).unwrap();
        let report = replay.report().clone();
        assert_eq!(
            report.torn_tails,
            vec![TornTail { segment: copy.clone(), offset: last_start, bytes_cut: cut - last_start }]
        );
        assert_eq!((report.records, report.next_lsn, report.corrupt.len()), (4, 5, 0), "cut at {cut}");
        let records: Vec<_> = replay.map(|r| r.unwrap()).map(|r| (r.lsn, r.body)).collect();
        assert_eq!(records, (1..=4).map(|i| (i as u64, body(i, BODY))).collect::<Vec<_>>(), "cut at {cut}");
        assert_eq!(fs::metadata(&copy).unwrap().len(), last_start, "the tail is cut from the file");
        let stats = wal.stats().snapshot();
        assert_eq!((stats.torn_tails, stats.torn_bytes_cut), (1, cut - last_start));
        assert_eq!(wal.append(b"next").unwrap(), 5);
    }
}

#[test]
fn a_flipped_byte_anywhere_in_a_middle_record_skips_and_reports_only_that_record() {
    let source = tempfile::tempdir().unwrap();
    write_records(&config(source.path(), 1 << 20), 5);
    let segment = segment_files(source.path()).pop().unwrap();
    let bytes = fs::read(&segment).unwrap();
    let third = 2 * RECORD;
    for at in third..third + RECORD {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(segment.file_name().unwrap());
        let mut damaged = bytes.clone();
        damaged[at as usize] ^= 0x10;
        fs::write(&copy, &damaged).unwrap();
        let (wal, replay) = Wal::open(config(dir.path(), 1 << 20)).unwrap();
        let report = replay.report().clone();
        let expected = CorruptRegion { segment: copy.clone(), offset: third, bytes: RECORD, lsns: Some((3, 3)) };
        assert_eq!(report.corrupt, vec![expected], "flip at {at}");
        assert_eq!((report.records, report.next_lsn, report.torn_tails.len()), (4, 6, 0));
        let lsns: Vec<(u64, Vec<u8>)> = replay.map(|r| r.unwrap()).map(|r| (r.lsn, r.body)).collect();
        assert_eq!(lsns, [1, 2, 4, 5].map(|i| (i as u64, body(i, BODY))).to_vec(), "flip at {at}");
        assert_eq!(wal.stats().snapshot().corrupt_regions, 1);
        assert_eq!(fs::read(&copy).unwrap(), damaged, "a corrupt middle record is reported, not cut");
    }
}

#[test]
fn a_segment_left_without_intact_records_is_reused_and_replay_yields_only_what_was_there() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1 << 20);
    write_records(&cfg, 3);
    // Created for LSN 4, then the process died before the record reached it.
    fs::write(dir.path().join("00000000000000000004.wal"), b"").unwrap();
    let (wal, replay) = Wal::open(cfg.clone()).unwrap();
    assert_eq!((replay.report().next_lsn, replay.report().segments), (4, 2));
    assert_eq!(wal.append(b"new").unwrap(), 4);
    wal.wait_durable(4).unwrap();
    let replayed: Vec<u64> = replay.map(|r| r.unwrap().lsn).collect();
    assert_eq!(replayed, [1, 2, 3], "the record appended meanwhile is not replayed");
    assert_eq!(segment_firsts(dir.path()), [1, 4]);
}

#[test]
fn a_checkpoint_deletes_exactly_the_segments_it_covers_and_replay_starts_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 200);
    let (wal, _) = Wal::open(cfg.clone()).unwrap();
    for i in 1..=10 {
        wal.append(&body(i, BODY)).unwrap();
    }
    wal.wait_durable(10).unwrap();
    assert_eq!(segment_firsts(dir.path()), [1, 4, 7, 10]);
    assert_eq!(wal.checkpoint(5).unwrap(), 1, "[1..=3] is covered, [4..=6] is not");
    assert_eq!(segment_firsts(dir.path()), [4, 7, 10]);
    assert_eq!(wal.checkpoint(9).unwrap(), 2);
    assert_eq!(segment_firsts(dir.path()), [10], "the newest segment is kept");
    assert_eq!(wal.checkpoint(9).unwrap(), 0, "the same checkpoint again does nothing");
    assert!(matches!(wal.checkpoint(11), Err(WalError::UnknownLsn { lsn: 11, next: 11 })));
    let stats = wal.stats().snapshot();
    assert_eq!((stats.checkpoints, stats.segments_deleted), (2, 3));
    wal.close().unwrap();
    let (wal, records) = reopen(&cfg);
    assert_eq!(records, vec![(10, body(10, BODY))]);
    assert_eq!((wal.checkpoint_lsn(), wal.next_lsn()), (9, 11));
}

#[test]
fn after_a_checkpoint_that_deletes_nothing_a_restart_replays_only_what_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1 << 20);
    write_records(&cfg, 10);
    let (wal, records) = reopen(&cfg);
    assert_eq!(records.len(), 10);
    assert_eq!(wal.checkpoint(7).unwrap(), 0);
    assert_eq!(segment_firsts(dir.path()), [1]);
    drop(wal);
    let (wal, records) = reopen(&cfg);
    assert_eq!(records, (8..=10).map(|i| (i as u64, body(i, BODY))).collect::<Vec<_>>());
    assert_eq!((wal.checkpoint_lsn(), wal.next_lsn()), (7, 11));
    drop(wal);
    // A damaged checkpoint file is reported and everything is replayed (duplicates, not loss).
    fs::write(dir.path().join("checkpoint"), b"garbage!garbage!").unwrap();
    let (_wal, replay) = Wal::open(cfg.clone()).unwrap();
    assert!(replay.report().checkpoint_corrupt);
    assert_eq!(replay.count(), 10);
}

#[test]
fn subscribers_and_callbacks_see_durable_lsns_in_order_up_to_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(config(dir.path(), 1 << 20)).unwrap();
    let rx = wal.subscribe();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    wal.on_event(move |e| sink.lock().unwrap().push(e.clone()));
    for i in 1..=50 {
        wal.append(&body(i, 10)).unwrap();
    }
    wal.wait_durable(50).unwrap();
    assert_eq!((wal.durable_lsn(), wal.state_of(50), wal.state_of(51)), (50, Durability::Durable, Durability::Unknown));
    assert!(matches!(wal.wait_durable(0), Err(WalError::UnknownLsn { lsn: 0, next: 51 })));
    wal.close().unwrap(); // events are delivered just after waiters are released: join first
    let events: Vec<WalEvent> = rx.try_iter().collect();
    let lsns: Vec<u64> =
        events.iter().map(|e| if let WalEvent::Durable(n) = e { *n } else { panic!("{e:?}") }).collect();
    assert!(lsns.windows(2).all(|w| w[0] < w[1]), "{lsns:?}");
    assert_eq!(lsns.last(), Some(&50));
    assert_eq!(*seen.lock().unwrap(), events);
    assert!(matches!(wal.append(b"late"), Err(WalError::Closed)));
    assert!(matches!(
        wal.append(&vec![0; wardstream_storage::wal::MAX_BODY_BYTES + 1]),
        Err(WalError::RecordTooLarge { .. })
    ));
}
