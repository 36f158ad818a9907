//! [`AssociationHub`]: owns the event history, applies events, and publishes a new
//! [`AssociationSnapshot`] after each change.
//!
//! Design: writers (the ADT listener, the association API, start-up replay) take the history's
//! `Mutex`, apply, rebuild the snapshot (recomputing only what the event touched, see
//! [`super::build`]) and swap it in with [`ArcSwap`]; readers (the hot path, the HTTP API) call
//! [`AssociationHub::snapshot`], an atomic pointer load that never waits for a writer. A
//! snapshot is published while the lock is held, so versions appear in the order events were
//! applied. Replaced snapshots are kept until no reader holds them and freed by a writer, so a
//! reader dropping the last reference never pays for freeing a snapshot.
//!
//! Durability is the caller's: with the log in `wardstream-storage`, call
//! [`AssociationHub::check`], append a new event to the log (fsync), then
//! [`AssociationHub::apply`] it and acknowledge. At start, [`AssociationHub::replay`] the log.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwap;

use super::config::AssociationConfig;
use super::engine::Engine;
use super::event::AssociationEvent;
use super::history::{History, Novelty, Rejected};
use super::snapshot::AssociationSnapshot;

/// An event the hub accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// It had been applied before (same ADT message id, same association, same placement):
    /// nothing changed, acknowledge it again.
    pub redelivery: bool,
    /// The version of the snapshot that reflects it.
    pub version: u64,
}

/// What [`AssociationHub::replay`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Events applied.
    pub applied: u64,
    /// Events that repeated an earlier one.
    pub redeliveries: u64,
    /// Events rejected, with their position in the replayed sequence.
    pub rejected: Vec<(usize, Rejected)>,
}

/// Counters of the hub (monotonic totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Events applied (new).
    pub applied: u64,
    /// Redeliveries acknowledged without change.
    pub redeliveries: u64,
    /// Events rejected.
    pub rejected: u64,
    /// Of those, cancels with nothing to cancel.
    pub rejected_nothing_to_cancel: u64,
    /// Snapshots built.
    pub rebuilds: u64,
    /// Duration of the latest rebuild, µs.
    pub last_rebuild_micros: u64,
    /// Events in the history.
    pub events: u64,
}

#[derive(Debug, Default)]
struct Counters {
    applied: AtomicU64,
    redeliveries: AtomicU64,
    rejected: AtomicU64,
    nothing_to_cancel: AtomicU64,
    rebuilds: AtomicU64,
    last_rebuild_micros: AtomicU64,
    events: AtomicU64,
}

/// What writers share under the lock.
#[derive(Debug)]
struct State {
    history: History,
    engine: Engine,
    /// Replaced snapshots some reader may still hold.
    retired: Vec<Arc<AssociationSnapshot>>,
}

/// The owner of association state (see the module docs).
#[derive(Debug)]
pub struct AssociationHub {
    config: AssociationConfig,
    state: Mutex<State>,
    current: ArcSwap<AssociationSnapshot>,
    counters: Counters,
}

impl AssociationHub {
    /// A hub with no events, publishing [`AssociationSnapshot::empty`] (version 0). A snapshot's
    /// version is the number of events applied (see `rebuild`).
    pub fn new(config: AssociationConfig) -> AssociationHub {
        AssociationHub {
            config,
            state: Mutex::new(State { history: History::default(), engine: Engine::new(config), retired: Vec::new() }),
            current: ArcSwap::from_pointee(AssociationSnapshot::empty()),
            counters: Counters::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &AssociationConfig {
        &self.config
    }

    /// The current snapshot: an atomic load, no lock. Hold it for a batch, not forever (an old
    /// snapshot keeps its memory alive).
    pub fn snapshot(&self) -> Arc<AssociationSnapshot> {
        self.current.load_full()
    }

    /// Whether `event` would be applied (and whether as a redelivery), without applying it.
    /// `version` is the current one.
    pub fn check(&self, event: &AssociationEvent) -> Result<Applied, Rejected> {
        let state = self.lock();
        let novelty = state.history.check(&self.config, event)?;
        Ok(Applied { redelivery: novelty == Novelty::Redelivery, version: self.current.load().version() })
    }

    /// Applies `event`: a new one joins the history and a new snapshot is published before
    /// this returns; a redelivery changes nothing; a rejected one is not kept.
    pub fn apply(&self, event: AssociationEvent) -> Result<Applied, Rejected> {
        let mut state = self.lock();
        match self.admit(&mut state, event) {
            Ok(true) => Ok(Applied { redelivery: false, version: self.rebuild(&mut state) }),
            Ok(false) => Ok(Applied { redelivery: true, version: self.current.load().version() }),
            Err(rejected) => Err(rejected),
        }
    }

    /// Applies `events` in order (the association log at start-up), rebuilding once at the end.
    pub fn replay(&self, events: impl IntoIterator<Item = AssociationEvent>) -> ReplaySummary {
        let mut state = self.lock();
        let mut summary = ReplaySummary::default();
        for (i, event) in events.into_iter().enumerate() {
            match self.admit(&mut state, event) {
                Ok(true) => summary.applied += 1,
                Ok(false) => summary.redeliveries += 1,
                Err(rejected) => summary.rejected.push((i, rejected)),
            }
        }
        self.rebuild(&mut state);
        summary
    }

    /// Every event applied, in arrival order (a copy).
    pub fn events(&self) -> Vec<AssociationEvent> {
        self.lock().history.events().to_vec()
    }

    /// The counters.
    pub fn stats(&self) -> HubStats {
        let c = &self.counters;
        HubStats {
            applied: c.applied.load(Relaxed),
            redeliveries: c.redeliveries.load(Relaxed),
            rejected: c.rejected.load(Relaxed),
            rejected_nothing_to_cancel: c.nothing_to_cancel.load(Relaxed),
            rebuilds: c.rebuilds.load(Relaxed),
            last_rebuild_micros: c.last_rebuild_micros.load(Relaxed),
            events: c.events.load(Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A writer that panicked mid-apply left the history as it was before its push, or with
        // the event pushed and the snapshot not yet rebuilt (the next rebuild includes it).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks, pushes and hands a new event to the engine; `Ok(true)` when new.
    fn admit(&self, state: &mut State, event: AssociationEvent) -> Result<bool, Rejected> {
        match state.history.check(&self.config, &event) {
            Ok(Novelty::New) => {
                state.history.push(event);
                let seq = state.history.events().len() - 1;
                state.engine.ingest(state.history.events(), seq);
                self.counters.applied.fetch_add(1, Relaxed);
                self.counters.events.fetch_add(1, Relaxed);
                Ok(true)
            }
            Ok(Novelty::Redelivery) => {
                self.counters.redeliveries.fetch_add(1, Relaxed);
                Ok(false)
            }
            Err(rejected) => {
                self.counters.rejected.fetch_add(1, Relaxed);
                if matches!(rejected, Rejected::NothingToCancel { .. }) {
                    self.counters.nothing_to_cancel.fetch_add(1, Relaxed);
                }
                Err(rejected)
            }
        }
    }

    /// Builds and publishes the next snapshot; returns its version.
    ///
    /// Design: the version is the number of events in the history (never less than the previous
    /// one), not a count of rebuilds, so that a process that replays the durable log at start
    /// answers the same version as the one that wrote it, and versions never go back across a
    /// restart. Each new event adds exactly one.
    fn rebuild(&self, state: &mut State) -> u64 {
        let started = Instant::now();
        let previous = self.current.load_full();
        let events = u64::try_from(state.history.events().len()).unwrap_or(u64::MAX);
        let version = events.max(previous.version());
        let snapshot = state.engine.publish(state.history.events(), &previous, version);
        self.current.store(Arc::new(snapshot));
        state.retired.push(previous);
        // Only the hub holds these any more: free them here, on the writer.
        state.retired.retain(|s| Arc::strong_count(s) > 1);
        let c = &self.counters;
        c.rebuilds.fetch_add(1, Relaxed);
        c.last_rebuild_micros.store(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX), Relaxed);
        version
    }
}
