//! [`LoadOptions`]: the command line of the `load` binary (devices, rate, duration, durability,
//! how many publisher connections and latency probes), parsed with clap.

use std::fmt;
use std::str::FromStr;

use clap::Parser;
use serde::{Deserialize, Serialize};

/// The most readings one SenML pack of the harness carries (one per vital sign it knows).
pub const MAX_READINGS_PER_PACK: usize = 10;

/// How fast the simulated devices publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rate {
    /// This many readings per second in total, spread evenly over the devices and the second.
    Target(u64),
    /// As fast as the publisher connections can get acknowledgements from the broker.
    Max,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        if text.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match text.replace('_', "").parse::<u64>() {
            Ok(0) => Err("the rate must be at least 1 reading/s (or `max`)".into()),
            Ok(n) => Ok(Rate::Target(n)),
            Err(_) => Err(format!("'{text}' is neither a number of readings/s nor `max`")),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Target(n) => write!(f, "{n}"),
            Rate::Max => f.write_str("max"),
        }
    }
}

/// Whether wardstream's write-ahead log is on (acks after fsync) or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// The WAL is on (the default): an MQTT message is acknowledged once its readings are fsynced.
    On,
    /// The WAL is off: messages are acknowledged when handed to the pipeline.
    Off,
}

/// `load [OPTIONS]`: drives a real Mosquitto and an in-process wardstream with simulated devices
/// and prints the figures as JSON on stdout (a summary on stderr).
#[derive(Debug, Clone, Parser)]
#[command(name = "load", about = "wardstream end-to-end load harness (JSON on stdout)")]
pub struct LoadOptions {
    /// Simulated devices, one patient each.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub devices: u32,
    /// Readings per SenML pack (1 to 10).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub readings_per_pack: u8,
    /// Readings per second in total, or `max` (flat out).
    #[arg(long, default_value = "20000")]
    pub rate: Rate,
    /// How long the devices publish, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub seconds: u32,
    /// wardstream's write-ahead log.
    #[arg(long, value_enum, default_value_t = Durability::On)]
    pub durability: Durability,
    /// MQTT connections the devices publish through (each with its own client task).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub connections: u16,
    /// Readings whose publish → timeline latency is measured (polled one at a time).
    #[arg(long, default_value_t = 200)]
    pub timeline_samples: u32,
    /// Pause between two timeline polls of one sample, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub poll_ms: u64,
    /// Patients followed over the live stream (one SSE connection each).
    #[arg(long, default_value_t = 20)]
    pub live_patients: u32,
    /// The broker's `max_inflight_messages` towards each subscriber, wardstream included (0:
    /// unlimited, the window that used to starve wardstream's PUBACKs; see README, Durability).
    #[arg(long, default_value_t = 1000)]
    pub broker_inflight: u32,
    /// Longest wait, after the devices stop, for everything published to be stored, in seconds.
    #[arg(long, default_value_t = 300)]
    pub drain_timeout_s: u64,
}

impl LoadOptions {
    /// The options with every default, as the binary would parse an empty command line.
    pub fn defaults() -> LoadOptions {
        LoadOptions::parse_from(["load"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_numbers_or_max() {
        assert_eq!("20000".parse::<Rate>(), Ok(Rate::Target(20_000)));
        assert_eq!("20_000".parse::<Rate>(), Ok(Rate::Target(20_000)));
        assert_eq!("MAX".parse::<Rate>(), Ok(Rate::Max));
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert_eq!(Rate::Target(5).to_string(), "5");
    }

    #[test]
    fn the_defaults_are_the_issue_s_scenario() {
        let o = LoadOptions::defaults();
        assert_eq!(
            (o.devices, o.readings_per_pack, o.rate, o.seconds, o.durability, o.connections),
            (2000, 10, Rate::Target(20_000), 30, Durability::On, 8)
        );
        assert_eq!((o.timeline_samples, o.poll_ms, o.live_patients, o.drain_timeout_s), (200, 5, 20, 300));
        assert_eq!(o.broker_inflight, 1000);
        let max = LoadOptions::parse_from(["load", "--rate", "max", "--durability", "off", "--seconds", "2"]);
        assert_eq!((max.rate, max.durability, max.seconds), (Rate::Max, Durability::Off, 2));
        assert!(LoadOptions::try_parse_from(["load", "--readings-per-pack", "11"]).is_err());
    }
}
