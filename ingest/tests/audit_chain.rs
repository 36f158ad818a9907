//! The audit trail's hash chain: every kind of tampering is found and named, a torn tail is
//! reported and then cut off with the chain continuing, concurrent writers make one valid chain
//! holding every record exactly once, and the log reads back as the SQL table `audit`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::prelude::SessionContext;
use wardstream_ingest::audit::{AuditEntry, AuditError, AuditRecord, AuditTrail, table, verify};

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        user: format!("user-{i}"),
        role: "clinician".into(),
        action: "timeline".into(),
        patient_ids: vec![format!("P{i}")],
        result_count: i as u64,
        client: "10.0.0.7".into(),
    }
}

/// A trail with `n` records (user-1 … user-n).
fn trail_with(dir: &Path, n: usize) {
    let trail = AuditTrail::open(dir).unwrap();
    for i in 1..=n {
        trail.record(entry(i)).unwrap();
    }
}

fn log(dir: &Path) -> std::path::PathBuf {
    dir.join("audit").join("audit.log")
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(log(dir)).unwrap().lines().map(str::to_owned).collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(log(dir), text).unwrap();
}

fn broken(dir: &Path) -> (u64, String) {
    let report = verify(dir).unwrap();
    let b = report.broken.expect("a broken record");
    (b.seq, b.reason)
}

#[test]
fn an_untouched_trail_verifies_with_every_record() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records_checked, report.broken, report.torn_tail), (5, None, None));
    let records = table::read_records(dir.path()).unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(records[0].prev_hash, "0".repeat(64));
    assert_eq!(records[1].prev_hash, records[0].hash);
    assert_eq!(records[2].user, "user-3");
    assert_eq!(records[2].patient_ids, ["P3"]);
    assert!(records[2].time.ends_with('Z'));
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 3);
    let trail = AuditTrail::open(dir.path()).unwrap();
    trail.record(entry(4)).unwrap();
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records_checked, report.is_intact()), (4, true));
}

#[test]
fn an_altered_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let mut l = lines(dir.path());
    l[2] = l[2].replace("\"result_count\":3", "\"result_count\":0");
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 3);
    assert_eq!(reason, "hash does not match the record's content (altered)");
}

#[test]
fn an_altered_record_with_a_recomputed_hash_breaks_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let mut l = lines(dir.path());
    let mut r = AuditRecord::parse(l[2].as_bytes()).unwrap();
    r.patient_ids = vec!["SOMEONE-ELSE".into()];
    r.hash = r.compute_hash();
    l[2] = String::from_utf8(r.to_line()).unwrap().trim_end().to_owned();
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 4);
    assert!(reason.starts_with("prev_hash does not match the hash of record seq 3"), "{reason}");
}

#[test]
fn a_deleted_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let mut l = lines(dir.path());
    l.remove(2);
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 3);
    assert_eq!(reason, "found seq 4 where seq 3 belongs: record seq 3 is missing (deleted or moved)");
}

#[test]
fn reordered_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let mut l = lines(dir.path());
    l.swap(1, 2);
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 2);
    assert_eq!(reason, "found seq 3 where seq 2 belongs: record seq 2 is missing (deleted or moved)");
}

#[test]
fn an_inserted_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let mut l = lines(dir.path());
    // A well-formed forgery chained to record 2, claiming seq 3: the real record 3 then sits
    // where seq 4 belongs.
    let prev = AuditRecord::parse(l[1].as_bytes()).unwrap();
    let mut forged = AuditRecord::parse(l[2].as_bytes()).unwrap();
    forged.user = "nobody".into();
    forged.prev_hash = prev.hash;
    forged.hash = forged.compute_hash();
    l.insert(2, String::from_utf8(forged.to_line()).unwrap().trim_end().to_owned());
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 4);
    assert_eq!(reason, "found seq 3 where seq 4 belongs: a record was inserted or moved here");

    // A duplicate of record 2 inserted after it.
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let mut l = lines(dir.path());
    l.insert(2, l[1].clone());
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 3);
    assert_eq!(reason, "found seq 2 where seq 3 belongs: a record was inserted or moved here");
}

#[test]
fn records_cut_off_the_end_are_found_by_the_head_anchor_and_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 5);
    let mut l = lines(dir.path());
    l.truncate(3);
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 4);
    assert_eq!(reason, "missing: the log ends at seq 3 but head.json anchors seq 5 (records 4..=5 were removed)");
    match AuditTrail::open(dir.path()) {
        Err(AuditError::Tampered(m)) => assert!(m.contains("ends at seq 3") && m.contains("anchors seq 5"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_garbled_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 3);
    let mut l = lines(dir.path());
    l[1] = "{not json".into();
    write_lines(dir.path(), &l);
    let (seq, reason) = broken(dir.path());
    assert_eq!(seq, 2);
    assert!(reason.starts_with("not a valid record:"), "{reason}");
}

#[test]
fn a_torn_tail_is_reported_then_cut_off_on_open_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 3);
    let intact_len = std::fs::metadata(log(dir.path())).unwrap().len();
    let mut bytes = std::fs::read(log(dir.path())).unwrap();
    bytes.extend_from_slice(b"{\"seq\":4,\"time\":\"2026-");
    std::fs::write(log(dir.path()), &bytes).unwrap();

    let report = verify(dir.path()).unwrap();
    assert_eq!(report.records_checked, 3);
    assert_eq!(report.broken, None);
    let torn = report.torn_tail.clone().expect("a torn tail");
    assert_eq!((torn.offset, torn.bytes), (intact_len, 22));
    assert!(!report.is_intact());
    assert_eq!(wardstream_ingest::audit::cli::describe(&report).1, 2);

    let (trail, opened) = AuditTrail::open_with_report(dir.path()).unwrap();
    assert_eq!((opened.records, opened.truncated_bytes), (3, 22));
    assert_eq!(std::fs::metadata(log(dir.path())).unwrap().len(), intact_len);
    trail.record(entry(4)).unwrap();
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records_checked, report.is_intact()), (4, true));
}

#[test]
fn concurrent_writers_make_one_valid_chain_with_every_record_once() {
    const THREADS: usize = 16;
    const EACH: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::open(dir.path()).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let trail = trail.clone();
            s.spawn(move || {
                for i in 0..EACH {
                    let mut e = entry(i);
                    e.user = format!("thread-{t}");
                    e.patient_ids = vec![format!("T{t}-{i}")];
                    trail.record(e).unwrap();
                }
            });
        }
    });
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records_checked, report.is_intact()), ((THREADS * EACH) as u64, true));
    let records = table::read_records(dir.path()).unwrap();
    let ids: Vec<String> = records.iter().flat_map(|r| r.patient_ids.clone()).collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (THREADS * EACH, THREADS * EACH));
    for t in 0..THREADS {
        // Each thread's records appear in the order it made them.
        let mine: Vec<u64> =
            records.iter().filter(|r| r.user == format!("thread-{t}")).map(|r| r.result_count).collect();
        assert_eq!(mine, (0..EACH as u64).collect::<Vec<_>>());
    }
}

#[test]
fn a_missing_trail_verifies_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records_checked, report.is_intact()), (0, true));
}

#[tokio::test]
async fn the_trail_is_the_sql_table_audit() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 4);
    let ctx = SessionContext::new();
    table::register(&ctx, dir.path()).unwrap();
    let batches: Vec<RecordBatch> = ctx
        .sql("SELECT seq, user, result_count FROM audit WHERE array_has(patient_ids, 'P3') ORDER BY seq")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert_eq!(batches[0].column(0).as_primitive::<UInt64Type>().value(0), 3);
    assert_eq!(wardstream_ingest::columns::strings(batches[0].column(1)).unwrap().value(0), "user-3");
    let count = ctx.sql("SELECT count(*) FROM audit WHERE time IS NOT NULL").await.unwrap().collect().await.unwrap();
    assert_eq!(count[0].column(0).as_primitive::<Int64Type>().value(0), 4);
}

#[test]
fn opening_twice_in_one_process_shares_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let a = AuditTrail::open(dir.path()).unwrap();
    let b = AuditTrail::open(dir.path()).unwrap();
    for i in 1..=3 {
        a.record(entry(i)).unwrap();
        b.record(entry(i + 10)).unwrap();
    }
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records_checked, report.is_intact()), (6, true));
}

#[test]
fn a_log_locked_by_another_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    trail_with(dir.path(), 1);
    let other = std::fs::File::open(log(dir.path())).unwrap();
    other.lock().unwrap();
    match AuditTrail::open(dir.path()) {
        Err(AuditError::InUse(path)) => assert!(path.ends_with("audit/audit.log"), "{}", path.display()),
        other => panic!("{other:?}"),
    }
    drop(other);
    AuditTrail::open(dir.path()).unwrap().record(entry(2)).unwrap();
    assert_eq!(verify(dir.path()).unwrap().records_checked, 2);
}

#[test]
fn a_failed_write_closes_the_trail_for_every_later_record() {
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::open(dir.path()).unwrap();
    trail.record(entry(1)).unwrap();
    // The directory disappears under the open log: the head anchor can no longer be written.
    std::fs::remove_dir_all(dir.path().join("audit")).unwrap();
    for i in 2..=3 {
        match trail.record(entry(i)) {
            Err(AuditError::Closed(reason)) => assert!(reason.contains("head.json.tmp"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
