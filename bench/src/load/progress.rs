//! [`Progress`]: watches wardstream's serving stage count (readings attached or not: every
//! reading written to the hot store, the live stream and the Parquet buffers) every 5 ms, and
//! remembers when it last moved and the process CPU time then, so the time and CPU to "all
//! stored" are known to within 5 ms however late the harness asks.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use wardstream_ingest::serving::AttachStats;

use super::clock::wall_us;
use super::procstat::{Process, cpu_seconds};

/// Sampling period.
const PERIOD: Duration = Duration::from_millis(5);

/// The count and when it last changed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mark {
    /// Readings through the serving stage.
    pub readings: u64,
    /// Wall-clock µs when `readings` was first seen at its value.
    pub at_us: i64,
    /// This process's CPU seconds then.
    pub cpu_s: f64,
}

/// A running sampler (stops when dropped).
#[derive(Debug)]
pub struct Progress {
    mark: Arc<Mutex<Mark>>,
    task: JoinHandle<()>,
}

fn through(stats: &AttachStats) -> u64 {
    stats.attached.load(Ordering::Relaxed) + stats.unassociated.load(Ordering::Relaxed)
}

impl Progress {
    /// Starts sampling `stats`.
    pub fn spawn(stats: Arc<AttachStats>) -> Progress {
        let first =
            Mark { readings: through(&stats), at_us: wall_us(), cpu_s: cpu_seconds(Process::Current).unwrap_or(0.0) };
        let mark = Arc::new(Mutex::new(first));
        let shared = Arc::clone(&mark);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(PERIOD).await;
                let readings = through(&stats);
                let mut mark = shared.lock().unwrap_or_else(PoisonError::into_inner);
                if readings != mark.readings {
                    *mark =
                        Mark { readings, at_us: wall_us(), cpu_s: cpu_seconds(Process::Current).unwrap_or(mark.cpu_s) };
                }
            }
        });
        Progress { mark, task }
    }

    /// The latest mark.
    pub fn mark(&self) -> Mark {
        *self.mark.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at least `readings` went through or `timeout` passes; returns the mark.
    pub async fn wait_for(&self, readings: u64, timeout: Duration) -> Mark {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.mark().readings < readings && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(PERIOD).await;
        }
        self.mark()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}
