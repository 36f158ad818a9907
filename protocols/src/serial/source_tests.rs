//! Tests of the serial source's delivery to a feed whose write-ahead log fails.

use std::sync::Mutex;

use wardstream_pipeline::{Journal, SystemClock};

use super::*;

/// A log that refuses the first `failures` submissions, then keeps what it is given.
struct FlakyLog {
    failures: Mutex<u32>,
    taken: Mutex<Vec<IngestBatch>>,
}

impl Journal for FlakyLog {
    fn submit(&self, batch: IngestBatch) -> Result<u64, (FeedError, IngestBatch)> {
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err((FeedError::Log("disk full".into()), batch));
        }
        let mut taken = self.taken.lock().unwrap();
        taken.push(batch);
        Ok(taken.len() as u64)
    }
    fn wait_durable(&self, _seq: u64) -> Result<(), FeedError> {
        Ok(())
    }
}

fn source(log: &Arc<FlakyLog>) -> SerialSource {
    let config = SerialConfig::test_config("/dev/null-serial", "spo2");
    let feed = Feed::Journaled(Arc::clone(log) as Arc<dyn Journal>);
    SerialSource::new(&config, feed, Arc::new(SystemClock), Arc::new(SerialStats::new())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_log_refuses_is_retried_until_taken() {
    let log = Arc::new(FlakyLog { failures: Mutex::new(2), taken: Mutex::new(Vec::new()) });
    let mut s = source(&log);
    let batch = s.on_bytes(b"01/02/26 03:04:05 SN=---------- SPO2=095% BPM=070 ALARM=0000 EXC=000000\r\n");
    let (_stop, mut shutdown) = watch::channel(false);
    deliver(&s.feed, &s.stats, batch, &mut shutdown).await.unwrap();
    let taken = log.taken.lock().unwrap();
    assert_eq!((taken.len(), taken[0].readings.len()), (1, 2));
    let snap = s.stats.snapshot();
    assert_eq!((snap.feed_failures, snap.frames, snap.readings), (2, 1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_the_log_refuses_reports_what_was_not_delivered() {
    let log = Arc::new(FlakyLog { failures: Mutex::new(u32::MAX), taken: Mutex::new(Vec::new()) });
    let mut s = source(&log);
    let batch = s.on_bytes(b"garbage\n01/02/26 03:04:05 SN=---------- SPO2=095% ALARM=0000 EXC=000000\n");
    let (stop, mut shutdown) = watch::channel(false);
    stop.send(true).unwrap();
    let err = deliver(&s.feed, &s.stats, batch, &mut shutdown).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 readings and 1 dead letters were not delivered: the write-ahead log failed: disk full"
    );
    assert!(log.taken.lock().unwrap().is_empty());
}
