//! [`AssociationConfig`]: the settings of association derivation (today only the retroactive
//! window).

use std::time::Duration;

use crate::time::Micros;

/// Settings of the association model. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssociationConfig {
    /// How far back before its receipt an event may re-attribute readings. An event takes
    /// effect at `max(event_time, recorded_at − retro_window)`; one moved that way is counted
    /// as clamped ([`DeriveStats::clamped`](super::DeriveStats::clamped)). Default 24 h.
    pub retro_window: Duration,
}

impl AssociationConfig {
    /// Default [`AssociationConfig::retro_window`].
    pub const DEFAULT_RETRO_WINDOW: Duration = Duration::from_secs(24 * 3600);

    /// The window in microseconds (saturating).
    pub fn retro_window_micros(&self) -> Micros {
        Micros::try_from(self.retro_window.as_micros()).unwrap_or(Micros::MAX)
    }

    /// The earliest time an event received at `recorded_at` may change: `recorded_at −
    /// retro_window` (saturating).
    pub fn floor(&self, recorded_at: Micros) -> Micros {
        recorded_at.saturating_sub(self.retro_window_micros())
    }
}

impl Default for AssociationConfig {
    fn default() -> Self {
        AssociationConfig { retro_window: Self::DEFAULT_RETRO_WINDOW }
    }
}
