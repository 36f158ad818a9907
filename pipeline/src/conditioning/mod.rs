//! Conditioning: the stages between normalisation and storage that need each device's history,
//! run by the [`Conditioner`] that one thread owns: the normaliser thread when the flow has
//! exactly one normaliser ([`FlowConfig::workers`] of 0 or 1; 1 is the default), the writer
//! thread when it has several (see [`crate::flow`]).
//!
//! For every [`StoreBatch`], in arrival order:
//! 1. [`Deduplicator`] ([`dedup`]): a reading already stored (same device, metric and device time)
//!    within [`ConditioningConfig::dedup_window`] becomes a [`Reason::Duplicate`] dead letter
//!    instead of a second row;
//! 2. [`SkewCorrector`] ([`skew`]): a device whose clock is persistently off by more than
//!    [`ConditioningConfig::clock_skew_threshold`] has `time` corrected by the estimated skew
//!    ([`Flag::ClockCorrected`]); a time still further ahead of `received_at` than
//!    [`ConditioningConfig::future_tolerance`] is flagged [`Flag::FutureTime`].
//!
//! Design: both stages keep per-device state, so one thread owns the [`Conditioner`] outright:
//! no locks, no shared maps, and one order of arrival that makes every decision deterministic.
//! With one normaliser that thread is the normaliser, which sees every batch in the drivers'
//! order and spares the writer (the stage that bounds the flat-out rate); with several, whose
//! batches interleave, it is the one writer thread, just before the sink. Both stages are
//! bounded: fixed-size state per device with a cap on devices, and a time window with a cap on
//! remembered readings. Neither uses the wall clock; time advances with the readings' own
//! `received_at`.
//!
//! [`FlowConfig::workers`]: crate::FlowConfig::workers
//! [`Reason::Duplicate`]: crate::Reason::Duplicate
//! [`Flag::ClockCorrected`]: crate::Flag::ClockCorrected
//! [`Flag::FutureTime`]: crate::Flag::FutureTime

use std::time::Duration;

use crate::flow::StoreBatch;
use crate::time::Micros;

pub mod dedup;
pub mod skew;

pub use dedup::Deduplicator;
pub use skew::SkewCorrector;

/// Settings of the [`Conditioner`]. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditioningConfig {
    /// A device whose estimated clock skew exceeds this (either way) is corrected. Default 2 min.
    pub clock_skew_threshold: Duration,
    /// Readings per device the skew is estimated over (readings of one message that share
    /// device time and receive time count once). At least 1. Default 32.
    pub clock_skew_window: usize,
    /// Readings a device must have sent before its skew is judged: a skew is "persistent" when
    /// the estimate over at least this many readings exceeds the threshold. 1 to
    /// `clock_skew_window` (clamped). Default 8.
    pub clock_skew_min_readings: usize,
    /// Devices whose clocks are tracked at once; past it the least recently seen are
    /// forgotten. At least 1. Default 10,000.
    pub clock_skew_max_devices: usize,
    /// A (corrected) time further ahead of `received_at` than this is flagged `future_time`.
    /// Default 30 s.
    pub future_tolerance: Duration,
    /// How long after its receipt a reading is remembered for de-duplication. Default 5 min.
    pub dedup_window: Duration,
    /// Most readings remembered for de-duplication (about 100 bytes each); at the cap the
    /// oldest are forgotten early. At least 1. Default 500,000.
    pub dedup_max_keys: usize,
}

impl ConditioningConfig {
    /// Default [`ConditioningConfig::clock_skew_threshold`].
    pub const DEFAULT_CLOCK_SKEW_THRESHOLD: Duration = Duration::from_secs(120);
    /// Default [`ConditioningConfig::clock_skew_window`].
    pub const DEFAULT_CLOCK_SKEW_WINDOW: usize = 32;
    /// Default [`ConditioningConfig::clock_skew_min_readings`].
    pub const DEFAULT_CLOCK_SKEW_MIN_READINGS: usize = 8;
    /// Default [`ConditioningConfig::clock_skew_max_devices`].
    pub const DEFAULT_CLOCK_SKEW_MAX_DEVICES: usize = 10_000;
    /// Default [`ConditioningConfig::future_tolerance`].
    pub const DEFAULT_FUTURE_TOLERANCE: Duration = Duration::from_secs(30);
    /// Default [`ConditioningConfig::dedup_window`].
    pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(300);
    /// Default [`ConditioningConfig::dedup_max_keys`].
    pub const DEFAULT_DEDUP_MAX_KEYS: usize = 500_000;
}

impl Default for ConditioningConfig {
    fn default() -> Self {
        ConditioningConfig {
            clock_skew_threshold: Self::DEFAULT_CLOCK_SKEW_THRESHOLD,
            clock_skew_window: Self::DEFAULT_CLOCK_SKEW_WINDOW,
            clock_skew_min_readings: Self::DEFAULT_CLOCK_SKEW_MIN_READINGS,
            clock_skew_max_devices: Self::DEFAULT_CLOCK_SKEW_MAX_DEVICES,
            future_tolerance: Self::DEFAULT_FUTURE_TOLERANCE,
            dedup_window: Self::DEFAULT_DEDUP_WINDOW,
            dedup_max_keys: Self::DEFAULT_DEDUP_MAX_KEYS,
        }
    }
}

/// What conditioning did to one batch; added to [`crate::PipelineStats`] once per batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConditionCounts {
    /// Readings turned into `duplicate` dead letters.
    pub duplicates: u64,
    /// Readings whose time was corrected for clock skew.
    pub clock_corrected: u64,
    /// Readings flagged `future_time`.
    pub future_time: u64,
    /// Readings forgotten by de-duplication before their window ended (the key cap was reached).
    pub dedup_evicted: u64,
    /// Devices whose clock history was forgotten (the device cap was reached).
    pub clock_devices_evicted: u64,
}

/// The per-device stages: de-duplication, then clock-skew correction and future-time flagging.
/// Owned by one thread (the single normaliser, or the writer when normalisers are several);
/// not shared.
#[derive(Debug)]
pub struct Conditioner {
    dedup: Deduplicator,
    skew: SkewCorrector,
}

impl Conditioner {
    /// A conditioner with empty history.
    pub fn new(config: &ConditioningConfig) -> Conditioner {
        Conditioner { dedup: Deduplicator::new(config), skew: SkewCorrector::new(config) }
    }

    /// Conditions a batch in place: duplicates move from `observations` to `dead_letters`
    /// (appended, in order), the rest keep their order and may gain a corrected `time` and
    /// flags. Returns what it did, for the counters.
    pub fn condition(&mut self, batch: &mut StoreBatch) -> ConditionCounts {
        let mut counts = ConditionCounts::default();
        let (dedup, dead_letters) = (&mut self.dedup, &mut batch.dead_letters);
        batch.observations.retain_mut(|obs| match dedup.check(obs, &mut counts) {
            None => true,
            Some(dead) => {
                dead_letters.push(dead);
                false
            }
        });
        for obs in &mut batch.observations {
            self.skew.apply(obs, &mut counts);
        }
        counts
    }

    /// The de-duplication stage, for inspection.
    pub fn dedup(&self) -> &Deduplicator {
        &self.dedup
    }

    /// The de-duplication stage, for seeding at start-up ([`Deduplicator::start_clock`],
    /// [`Deduplicator::remember`]).
    pub fn dedup_mut(&mut self) -> &mut Deduplicator {
        &mut self.dedup
    }

    /// The clock-skew stage, for inspection.
    pub fn skew(&self) -> &SkewCorrector {
        &self.skew
    }
}

/// A duration as whole microseconds, saturating (a configured duration is never negative).
pub(crate) fn micros(d: Duration) -> Micros {
    Micros::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}
