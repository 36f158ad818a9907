//! [`WardConfig`]: which broker, how many beds, how fast, and the names the monitors use.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, ensure};
use rumqttc::QoS;

use super::recorder::Recorder;
use crate::mimic::Numerics;

/// A simulated ward: `beds` bedside monitors, each its own MQTT client replaying numerics.
#[derive(Debug, Clone)]
pub struct WardConfig {
    /// Broker host name or address.
    pub broker_host: String,
    /// Broker TCP port (plain MQTT).
    pub broker_port: u16,
    /// Ward name, part of monitor ids and topics (`icu-1`); no `/`, `+`, `#` or blanks.
    pub ward: String,
    /// Number of beds, each a monitor with its own connection (1 to 100).
    pub beds: usize,
    /// Time between two frames of one monitor.
    pub interval: Duration,
    /// Stop after this many frames per bed; `None` runs until shut down.
    pub frames: Option<usize>,
    /// QoS of the publishes. For QoS 0, "acknowledged" means written to the connection.
    pub qos: QoS,
    /// First topic level (`wardstream`); no `+`, `#`, and not empty.
    pub topic_prefix: String,
    /// Publishes in flight per connection awaiting their acknowledgement (at least 1).
    pub inflight: u16,
    /// On stop, how long to wait for outstanding acknowledgements before disconnecting.
    pub drain_timeout: Duration,
    /// Longest wait between two connection attempts (the backoff doubles from 100 ms).
    pub max_reconnect_backoff: Duration,
    /// The numerics to replay; `None` uses the embedded MIMIC-II record.
    pub numerics: Option<Arc<Numerics>>,
    /// If set, every published and every acknowledged reading is recorded here.
    pub recorder: Option<Arc<Recorder>>,
}

impl Default for WardConfig {
    fn default() -> Self {
        WardConfig {
            broker_host: "127.0.0.1".to_owned(),
            broker_port: 1883,
            ward: "icu-1".to_owned(),
            beds: 16,
            interval: Duration::from_secs(1),
            frames: None,
            qos: QoS::AtLeastOnce,
            topic_prefix: "wardstream".to_owned(),
            inflight: 100,
            drain_timeout: Duration::from_secs(5),
            max_reconnect_backoff: Duration::from_secs(5),
            numerics: None,
            recorder: None,
        }
    }
}

/// Upper bound on `beds`: two-digit bed numbers in monitor ids.
pub const MAX_BEDS: usize = 100;

impl WardConfig {
    /// The defaults, for the broker at `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        WardConfig { broker_host: host.into(), broker_port: port, ..WardConfig::default() }
    }

    /// A small fast ward for tests: 4 beds, 5 frames each, 50 ms apart, a 5 s drain.
    pub fn test_config(host: impl Into<String>, port: u16) -> Self {
        WardConfig { beds: 4, frames: Some(5), interval: Duration::from_millis(50), ..WardConfig::new(host, port) }
    }

    /// The monitor id (and MQTT client id) of bed `bed` (0-based): `monitor-icu-1-03`.
    pub fn monitor_id(&self, bed: usize) -> String {
        format!("monitor-{}-{bed:02}", self.ward)
    }

    /// The topic bed `bed` publishes to: `wardstream/icu-1/monitor-icu-1-03/vitals`.
    pub fn topic(&self, bed: usize) -> String {
        format!("{}/{}/{}/vitals", self.topic_prefix, self.ward, self.monitor_id(bed))
    }

    /// The frame bed `bed` starts from in a record of `frame_count` frames: `bed * frame_count / beds`.
    pub fn start_frame(&self, bed: usize, frame_count: usize) -> usize {
        let offset = (bed as u128 * frame_count as u128).checked_div(self.beds as u128).unwrap_or(0);
        usize::try_from(offset).unwrap_or(0) % frame_count.max(1)
    }

    /// Checks the names and numbers before anything connects.
    pub fn validate(&self) -> Result<()> {
        ensure!(!self.broker_host.is_empty(), "broker_host is empty");
        ensure!((1..=MAX_BEDS).contains(&self.beds), "beds must be 1 to {MAX_BEDS}, got {}", self.beds);
        ensure!(!self.interval.is_zero(), "interval must be positive");
        ensure!(self.inflight > 0, "inflight must be at least 1");
        let bad_ward = |c: char| matches!(c, '/' | '+' | '#') || c.is_whitespace() || c.is_control();
        ensure!(
            !self.ward.is_empty() && !self.ward.contains(bad_ward),
            "ward {:?}: empty or has / + # or blanks",
            self.ward
        );
        let bad_prefix = |c: char| matches!(c, '+' | '#') || c.is_control();
        ensure!(
            !self.topic_prefix.is_empty() && !self.topic_prefix.contains(bad_prefix),
            "topic_prefix {:?}: empty or has + or #",
            self.topic_prefix
        );
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn monitor_ids_topics_and_offsets_follow_the_naming_scheme() {
        let config = WardConfig::default();
        assert_eq!(config.monitor_id(3), "monitor-icu-1-03");
        assert_eq!(config.topic(3), "wardstream/icu-1/monitor-icu-1-03/vitals");
        assert_eq!(config.start_frame(0, 1936), 0);
        assert_eq!(config.start_frame(3, 1936), 363);
        assert_eq!(config.start_frame(15, 1936), 1815);
        let four = WardConfig { beds: 4, ..config };
        assert_eq!([0, 1, 2, 3].map(|b| four.start_frame(b, 1936)), [0, 484, 968, 1452]);
        assert_eq!(four.start_frame(1, 0), 0);
    }

    #[test]
    fn defaults_are_as_documented() {
        let c = WardConfig::default();
        assert_eq!((c.ward.as_str(), c.beds, c.interval, c.frames), ("icu-1", 16, Duration::from_secs(1), None));
        assert_eq!((c.qos, c.topic_prefix.as_str(), c.inflight), (QoS::AtLeastOnce, "wardstream", 100));
        c.validate().unwrap();
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let base = WardConfig::default();
        let cases = [
            WardConfig { beds: 0, ..base.clone() },
            WardConfig { beds: 101, ..base.clone() },
            WardConfig { interval: Duration::ZERO, ..base.clone() },
            WardConfig { inflight: 0, ..base.clone() },
            WardConfig { ward: "icu/1".into(), ..base.clone() },
            WardConfig { ward: "icu 1".into(), ..base.clone() },
            WardConfig { ward: String::new(), ..base.clone() },
            WardConfig { topic_prefix: "a/#".into(), ..base.clone() },
            WardConfig { broker_host: String::new(), ..base.clone() },
        ];
        for config in cases {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
