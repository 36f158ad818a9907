//! [`LatencySummary`]: percentiles of a set of latency samples (nearest rank), in milliseconds.

use serde::{Deserialize, Serialize};

/// Count, median, 99th percentile, maximum and mean of latency samples, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples.
    pub samples: u64,
    /// Median (nearest rank), ms.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank), ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

impl LatencySummary {
    /// The summary of `samples_us` (µs); all zero when there are none.
    pub fn of(mut samples_us: Vec<i64>) -> LatencySummary {
        if samples_us.is_empty() {
            return LatencySummary::default();
        }
        samples_us.sort_unstable();
        let n = samples_us.len();
        let rank = |p: f64| -> f64 {
            let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples_us.get(index).copied().unwrap_or_default() as f64 / 1000.0
        };
        let sum: i128 = samples_us.iter().map(|s| i128::from(*s)).sum();
        LatencySummary {
            samples: n as u64,
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: samples_us.last().copied().unwrap_or_default() as f64 / 1000.0,
            mean_ms: (sum as f64 / n as f64 / 1000.0 * 1000.0).round() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<i64> = (1..=200).map(|i| i * 1000).collect();
        let s = LatencySummary::of(samples);
        assert_eq!((s.samples, s.p50_ms, s.p99_ms, s.max_ms, s.mean_ms), (200, 100.0, 198.0, 200.0, 100.5));
        let one = LatencySummary::of(vec![2500]);
        assert_eq!((one.samples, one.p50_ms, one.p99_ms, one.max_ms), (1, 2.5, 2.5, 2.5));
        assert_eq!(LatencySummary::of(Vec::new()), LatencySummary::default());
    }
}
