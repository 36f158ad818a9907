//! Crash points of the swap and their recovery, the read lock during a swap, and failures
//! that must leave a partition as it was.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::test_support::{names, parquet_names, small_files, totals};
use super::*;
use crate::{ParquetStore, QuerySession, StorageConfig};

/// 4 files of 30 rows; the test config cuts the merge into files of 50, 50 and 20 rows.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let partition = small_files(dir.path(), 4, 30);
    assert_eq!(parquet_names(&partition).len(), 4);
    (dir, partition)
}

fn config() -> CompactionConfig {
    CompactionConfig { max_rows_per_file: 50, ..CompactionConfig::test_config() }
}

fn intent_of(partition: &Path) -> intent::Intent {
    serde_json::from_slice(&std::fs::read(partition.join(INTENT_FILE)).unwrap()).unwrap()
}

#[test]
fn every_crash_point_recovers_to_the_old_files_or_the_new_ones_with_every_row_once() {
    use Step::*;
    // (step, finished?): before the last rename recovery undoes the swap, after it finishes it.
    let cases = [
        (Staged, false),
        (IntentWritten, false),
        (Renamed(1), false),
        (Renamed(2), false),
        (Renamed(3), true),
        (AllRenamed, true),
        (Removed(1), true),
        (Removed(4), true),
        (AllRemoved, true),
    ];
    for (stop, finished) in cases {
        let (dir, partition) = setup();
        let before = totals(&partition);
        assert_eq!(before, (120, 7260.0));
        let old = parquet_names(&partition);
        let compactor = Compactor::new(dir.path(), config()).unwrap().with_hook(move |step| step == stop);
        let err = compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap_err();
        assert!(matches!(err, CompactionError::Interrupted(s) if s == stop), "{stop:?}: {err}");
        let new = if stop == Staged {
            let staged: Vec<String> = names(&partition).into_iter().filter(|n| n.ends_with(".compacting")).collect();
            assert_eq!(staged.len(), 3, "{stop:?}");
            staged
        } else {
            let intent = intent_of(&partition);
            assert_eq!((intent.old_files.clone(), intent.new_files.len()), (old.clone(), 3), "{stop:?}");
            intent.new_files
        };

        // The store's start-up recovery.
        let _store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
        let left = parquet_names(&partition);
        if finished {
            let mut new = new.clone();
            new.sort();
            assert_eq!(left, new, "{stop:?}: the swap was finished");
        } else {
            assert_eq!(left, old, "{stop:?}: the swap was undone");
        }
        assert_eq!(names(&partition), left, "{stop:?}: no intent, staged or temp file is left");
        assert_eq!(totals(&partition), before, "{stop:?}");
    }
}

#[test]
fn a_compaction_first_finishes_the_swap_a_crash_interrupted() {
    let (dir, partition) = setup();
    let crashed = Compactor::new(dir.path(), config()).unwrap().with_hook(|step| step == Step::Removed(1));
    crashed.compact_partition(Table::Vitals, "2024-05-01").unwrap_err();
    assert_eq!(totals(&partition).0, 120 + 90, "old files not yet deleted are seen twice by unlocked readers");

    let compactor = Compactor::new(dir.path(), config()).unwrap();
    let report = compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap();
    assert_eq!((report.merges, report.files_in), (0, 0), "50 + 50 + 20 rows: only one file is small");
    assert_eq!(totals(&partition), (120, 7260.0));
    assert_eq!(names(&partition).len(), 3);
    let stats = compactor.stats().snapshot();
    assert_eq!((stats.recoveries, stats.partitions_compacted, stats.errors), (1, 0, 0));
    assert_eq!(crashed.stats().snapshot().errors, 1, "the interrupted compaction counted as an error");
}

#[test]
fn a_query_during_the_swap_waits_for_it_and_sees_every_row_once() {
    let (dir, partition) = setup();
    let session = QuerySession::open(dir.path()).unwrap();
    let sql = "SELECT count(*) AS n, sum(value) AS s FROM vitals";
    let answer = |batches: Vec<arrow::array::RecordBatch>| {
        arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let before = answer(runtime.block_on(session.sql(sql)).unwrap());
    assert!(before.contains("| 120 | 7260.0 |"), "{before}");

    let seen = Arc::new(Mutex::new(None));
    let waiting = Arc::new(Mutex::new(None));
    let hook = {
        let (session, seen, waiting) = (session.clone(), Arc::clone(&seen), Arc::clone(&waiting));
        move |step: Step| {
            if step != Step::Renamed(1) {
                return false;
            }
            // Mid-swap: a locked query must wait; an unlocked one sees the first new file too.
            let locked = {
                let session = session.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Runtime::new().unwrap();
                    rt.block_on(session.sql(sql)).unwrap()
                })
            };
            let rt = tokio::runtime::Runtime::new().unwrap();
            let unlocked = rt.block_on(async { session.context().sql(sql).await.unwrap().collect().await.unwrap() });
            *seen.lock().unwrap() = Some(arrow::util::pretty::pretty_format_batches(&unlocked).unwrap().to_string());
            std::thread::sleep(Duration::from_millis(200));
            assert!(!locked.is_finished(), "the locked query waits for the swap");
            *waiting.lock().unwrap() = Some(locked);
            false
        }
    };
    let compactor = Compactor::new(dir.path(), config()).unwrap().with_hook(hook);
    let report = compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap();
    assert_eq!((report.files_in, report.files_out, report.rows), (4, 3, 120));

    let unlocked = seen.lock().unwrap().take().unwrap();
    assert!(unlocked.contains("| 170 |"), "without the lock the first new file's 50 rows show twice:\n{unlocked}");
    let locked = waiting.lock().unwrap().take().unwrap().join().unwrap();
    assert_eq!(answer(locked), before, "the query that waited saw every row once");
    assert_eq!(answer(runtime.block_on(session.sql(sql)).unwrap()), before);
    assert_eq!(parquet_names(&partition).len(), 3);
}

#[test]
fn queries_holding_the_lock_past_the_timeout_make_the_compaction_give_up_cleanly() {
    let (dir, partition) = setup();
    let old = names(&partition);
    let reader = ReadGuard::shared(dir.path());
    let config = CompactionConfig { swap_timeout_ms: 50, ..config() };
    let compactor = Compactor::new(dir.path(), config).unwrap();
    let err = compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap_err();
    assert!(matches!(err, CompactionError::LockTimeout { timeout_ms: 50, .. }), "{err}");
    assert_eq!(names(&partition), old, "staged files and intent removed, old files kept");
    assert_eq!(compactor.stats().snapshot().errors, 1);
    drop(reader);
    assert_eq!(compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap().files_out, 3);
}

#[test]
fn files_written_during_a_compaction_are_neither_merged_nor_deleted() {
    let (dir, partition) = setup();
    let data_dir = dir.path().to_path_buf();
    let hook = move |step: Step| {
        if step == Step::IntentWritten {
            small_files(&data_dir, 1, 7);
        }
        false
    };
    let compactor = Compactor::new(dir.path(), config()).unwrap().with_hook(hook);
    let report = compactor.compact_partition(Table::Vitals, "2024-05-01").unwrap();
    assert_eq!((report.files_in, report.files_out, report.rows), (4, 3, 120));
    assert_eq!(parquet_names(&partition).len(), 4, "3 merged files and the one written meanwhile");
    assert_eq!(totals(&partition), (127, 7260.0 + 28.0));
}

#[test]
fn an_unreadable_intent_is_left_alone_and_its_partition_is_not_compacted() {
    let (dir, partition) = setup();
    std::fs::write(
        partition.join(INTENT_FILE),
        b"{\"version\":1,\"table\":\"vitals\",\"new_files\":[\"../x.parquet\"],\"old_files\":[]}",
    )
    .unwrap();
    let before = names(&partition);
    let report = recover(dir.path()).unwrap();
    assert_eq!(report.unreadable, [partition.as_path()]);
    assert!(report.rolled_forward.is_empty() && report.rolled_back.is_empty());
    let err = compact_partition(dir.path(), Table::Vitals, "2024-05-01", &config()).unwrap_err();
    assert!(err.to_string().contains("unresolved compaction intent"), "{err}");
    assert_eq!(names(&partition), before);
}

#[test]
fn a_second_compaction_of_the_same_directory_is_refused_while_one_runs() {
    let (dir, _partition) = setup();
    let _running = lock::CompactionGuard::try_acquire(dir.path()).unwrap();
    let err = compact_partition(dir.path(), Table::Vitals, "2024-05-01", &config()).unwrap_err();
    assert!(matches!(err, CompactionError::Busy { .. }), "{err}");
    assert!(recover(dir.path()).unwrap() == RecoveryReport::default(), "nothing to recover, nothing locked");
}
