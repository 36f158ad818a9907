//! [`ReplayFlushSink`]: writes the rows replayed from the write-ahead log to Parquet at the first
//! tick instead of after the usual `flush_interval_ms`, so that the WAL can be checkpointed past
//! them promptly.
//!
//! Why: a service killed again and again within `flush_interval_ms` of its start would never
//! persist what it replayed, its checkpoint would stay where it was and every start would replay
//! more. With this wrapper the replayed records are in durable files one pipeline tick after they
//! reach the writer; [`spawn_replay_checkpoint`] then checkpoints the WAL as soon as the pipeline's
//! watermark covers the last replayed LSN (the periodic checkpointer would too, a second later).
//!
//! Once no buffered row comes from a replayed record, the wrapper behaves as the sink it wraps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wardstream_pipeline::{SeqTracker, Sink, SinkError, StoreBatch};
use wardstream_storage::wal::Wal;

/// See the module docs.
#[derive(Debug)]
pub struct ReplayFlushSink<S> {
    inner: S,
    /// The highest replayed LSN still possibly buffered; 0 once they are all written.
    replayed_through: u64,
}

impl<S: Sink> ReplayFlushSink<S> {
    /// Wraps `inner`; rows of records up to LSN `replayed_through` (0: none) are flushed at the
    /// first tick.
    pub fn new(inner: S, replayed_through: u64) -> ReplayFlushSink<S> {
        ReplayFlushSink { inner, replayed_through }
    }
}

impl<S: Sink> Sink for ReplayFlushSink<S> {
    fn write(&mut self, batch: StoreBatch) -> Result<(), SinkError> {
        self.inner.write(batch)
    }

    fn write_sequenced(&mut self, batch: StoreBatch, oldest_seq: Option<u64>) -> Result<(), SinkError> {
        self.inner.write_sequenced(batch, oldest_seq)
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        if self.replayed_through == 0 {
            return self.inner.tick();
        }
        match self.inner.oldest_buffered_seq() {
            Some(oldest) if oldest <= self.replayed_through => {
                self.inner.flush()?;
                if self.inner.oldest_buffered_seq().is_none_or(|o| o > self.replayed_through) {
                    self.replayed_through = 0;
                }
                Ok(())
            }
            _ => self.inner.tick(),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }

    fn oldest_buffered_seq(&self) -> Option<u64> {
        self.inner.oldest_buffered_seq()
    }
}

/// Checkpoints `wal` once the pipeline's watermark reaches `last_replayed` (polling every 10 ms,
/// for at most `patience`), and logs it. Returns at once when nothing was replayed.
pub fn spawn_replay_checkpoint(
    wal: Arc<Wal>,
    tracker: Arc<SeqTracker>,
    last_replayed: u64,
    patience: Duration,
) -> std::io::Result<()> {
    if last_replayed == 0 {
        return Ok(());
    }
    std::thread::Builder::new().name("wal-replay-checkpoint".into()).spawn(move || {
        let deadline = Instant::now() + patience;
        while tracker.persisted() < last_replayed {
            if Instant::now() > deadline {
                tracing::warn!(
                    last_replayed,
                    "replayed WAL records not yet in Parquet; the checkpointer will catch up"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        crate::journal::checkpoint_once(&wal, &tracker);
        tracing::info!(checkpoint = wal.checkpoint_lsn(), "WAL replay persisted to Parquet and checkpointed");
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink recording which calls reached it.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<&'static str>,
        buffered: Option<u64>,
    }

    impl Sink for Recorder {
        fn write(&mut self, _: StoreBatch) -> Result<(), SinkError> {
            self.calls.push("write");
            Ok(())
        }
        fn write_sequenced(&mut self, _: StoreBatch, seq: Option<u64>) -> Result<(), SinkError> {
            self.calls.push("write_sequenced");
            self.buffered = self.buffered.into_iter().chain(seq).min();
            Ok(())
        }
        fn tick(&mut self) -> Result<(), SinkError> {
            self.calls.push("tick");
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            self.calls.push("flush");
            self.buffered = None;
            Ok(())
        }
        fn oldest_buffered_seq(&self) -> Option<u64> {
            self.buffered
        }
    }

    #[test]
    fn replayed_rows_are_flushed_at_the_first_tick_then_ticks_pass_through() {
        let mut sink = ReplayFlushSink::new(Recorder::default(), 5);
        sink.tick().unwrap();
        sink.write_sequenced(StoreBatch::default(), Some(3)).unwrap();
        sink.tick().unwrap();
        assert_eq!(sink.replayed_through, 0);
        sink.write_sequenced(StoreBatch::default(), Some(4)).unwrap();
        sink.tick().unwrap();
        assert_eq!(sink.inner.calls, ["tick", "write_sequenced", "flush", "write_sequenced", "tick"]);
    }

    #[test]
    fn without_a_replay_every_call_passes_through() {
        let mut sink = ReplayFlushSink::new(Recorder::default(), 0);
        sink.write_sequenced(StoreBatch::default(), Some(1)).unwrap();
        sink.tick().unwrap();
        sink.flush().unwrap();
        assert_eq!(sink.inner.calls, ["write_sequenced", "tick", "flush"]);
    }
}
