//! [`FaultInjector`]: a hook called before each filesystem operation of the log, so tests can
//! make a write, an fsync or a segment creation fail without a broken disk.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A filesystem operation of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoOp {
    /// Creating a segment file.
    CreateSegment,
    /// Writing a record to a segment.
    Write,
    /// fsyncing a segment.
    Sync,
    /// fsyncing the log directory.
    SyncDir,
    /// Truncating a segment back to its last good offset after a failure.
    Truncate,
    /// Writing the checkpoint file.
    Checkpoint,
}

/// Called before each [`IoOp`]; an `Err` makes that operation fail with it (nothing is done).
/// Production code passes none ([`Wal::open`](crate::wal::Wal::open)).
pub trait FaultInjector: Send + Sync + 'static {
    /// Decides whether `op` on `path` fails.
    fn before(&self, op: IoOp, path: &Path) -> std::io::Result<()>;
}

/// The optional injector, cloned into every place that does I/O.
#[derive(Clone, Default)]
pub(crate) struct Faults(Option<Arc<dyn FaultInjector>>);

impl Faults {
    pub(crate) fn new(injector: Option<Arc<dyn FaultInjector>>) -> Self {
        Faults(injector)
    }

    /// `Ok` unless an injector says `op` fails.
    pub(crate) fn check(&self, op: IoOp, path: &Path) -> std::io::Result<()> {
        match &self.0 {
            Some(injector) => injector.before(op, path),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Faults(injected)" } else { "Faults(none)" })
    }
}
