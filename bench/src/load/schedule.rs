//! [`Schedule`]: when each simulated device publishes, and the names the harness gives devices,
//! topics, beds and patients. The publishers (child process) and the timeline probe (wardstream's
//! process) compute the same times from the same start, so the probe knows when a sampled
//! device's next pack is due without being told.

use super::options::Rate;

/// Microseconds in a second.
pub const MICROS: i64 = 1_000_000;

/// The ward every simulated device is placed in.
pub const WARD: &str = "load";

/// A device's name as it publishes (`load-00042`).
pub fn device_name(device: u32) -> String {
    format!("load-{device:05}")
}

/// The device id wardstream derives from the pack's base name `urn:dev:ws:<name>:`.
pub fn device_id(device: u32) -> String {
    format!("urn:dev:ws:{}", device_name(device))
}

/// The topic a device publishes to: `wardstream/load/load-00042/vitals`.
pub fn topic(device: u32) -> String {
    format!("wardstream/{WARD}/{}/vitals", device_name(device))
}

/// The bed a device serves (`bed-00042`).
pub fn bed(device: u32) -> String {
    format!("bed-{device:05}")
}

/// The patient in a device's bed (`LP-00042`).
pub fn patient(device: u32) -> String {
    format!("LP-{device:05}")
}

/// When packs are due. At a target rate, device `d` publishes pack `k` at
/// `start + k·period + d·period/devices`: every device once a period, spread evenly over it.
/// Flat out there is no schedule: a pack is due whenever its connection is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Wall-clock start, µs since the Unix epoch.
    pub start_us: i64,
    /// Devices.
    pub devices: u32,
    /// One device's interval between packs, µs; `None` flat out.
    pub period_us: Option<i64>,
}

impl Schedule {
    /// The schedule of `devices` devices sending `readings_per_pack` readings a pack at `rate`.
    pub fn new(start_us: i64, devices: u32, readings_per_pack: u8, rate: Rate) -> Schedule {
        let period_us = match rate {
            Rate::Max => None,
            Rate::Target(per_s) => {
                let readings_per_period = i128::from(devices) * i128::from(readings_per_pack) * i128::from(MICROS);
                let period = readings_per_period / i128::from(per_s.max(1));
                Some(i64::try_from(period).unwrap_or(i64::MAX).max(1))
            }
        };
        Schedule { start_us, devices: devices.max(1), period_us }
    }

    /// When device `device` sends pack `k` (µs), or `None` flat out.
    pub fn due_us(&self, device: u32, k: u64) -> Option<i64> {
        let period = self.period_us?;
        let offset = i64::try_from(i128::from(device) * i128::from(period) / i128::from(self.devices)).ok()?;
        let k = i64::try_from(k).ok()?;
        Some(self.start_us.saturating_add(k.saturating_mul(period)).saturating_add(offset))
    }

    /// The device whose pack is due first at or after `t_us`, and when (at a target rate); flat
    /// out, `fallback` at `t_us`.
    pub fn first_due_at_or_after(&self, t_us: i64, fallback: u32) -> (u32, i64) {
        let Some(period) = self.period_us else { return (fallback, t_us) };
        let rel = t_us.saturating_sub(self.start_us).max(0);
        let (k, phase) = (rel / period, rel % period);
        let n = i128::from(self.devices);
        // The smallest d with ⌊d·period/n⌋ ≥ phase.
        let d = (i128::from(phase) * n + i128::from(period) - 1) / i128::from(period);
        let (d, k) = if d >= n { (0, k + 1) } else { (u32::try_from(d).unwrap_or(0), k) };
        let due = self
            .start_us
            .saturating_add(k.saturating_mul(period))
            .saturating_add(i64::try_from(i128::from(d) * i128::from(period) / n).unwrap_or(0));
        (d, due)
    }

    /// The first time at or after `t_us` when `device` is due to publish (flat out: `t_us`).
    pub fn next_due_at_or_after(&self, device: u32, t_us: i64) -> i64 {
        let (Some(period), Some(first)) = (self.period_us, self.due_us(device, 0)) else { return t_us };
        if t_us <= first {
            return first;
        }
        let k = (t_us - first + period - 1) / period;
        first.saturating_add(k.saturating_mul(period))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_scheme() {
        assert_eq!(
            (device_name(42), device_id(42), topic(42), bed(42), patient(42)),
            (
                "load-00042".into(),
                "urn:dev:ws:load-00042".into(),
                "wardstream/load/load-00042/vitals".into(),
                "bed-00042".into(),
                "LP-00042".into()
            )
        );
    }

    #[test]
    fn two_thousand_devices_at_twenty_thousand_readings_a_second_publish_once_a_second() {
        let s = Schedule::new(10 * MICROS, 2000, 10, Rate::Target(20_000));
        assert_eq!(s.period_us, Some(MICROS));
        assert_eq!(s.due_us(0, 0), Some(10 * MICROS));
        assert_eq!(s.due_us(1000, 0), Some(10 * MICROS + 500_000));
        assert_eq!(s.due_us(1999, 3), Some(13 * MICROS + 999_500));
        assert_eq!(s.next_due_at_or_after(1000, 0), 10 * MICROS + 500_000);
        assert_eq!(s.next_due_at_or_after(1000, 10 * MICROS + 500_000), 10 * MICROS + 500_000);
        assert_eq!(s.next_due_at_or_after(1000, 10 * MICROS + 500_001), 11 * MICROS + 500_000);
        assert_eq!(s.first_due_at_or_after(0, 7), (0, 10 * MICROS));
        assert_eq!(s.first_due_at_or_after(10 * MICROS + 500_000, 7), (1000, 10 * MICROS + 500_000));
        assert_eq!(s.first_due_at_or_after(10 * MICROS + 500_001, 7), (1001, 10 * MICROS + 500_500));
        assert_eq!(s.first_due_at_or_after(12 * MICROS + 999_501, 7), (0, 13 * MICROS));
        let (device, due) = s.first_due_at_or_after(11 * MICROS + 123_456, 7);
        assert_eq!((device, due, s.due_us(device, 1)), (247, 11 * MICROS + 123_500, Some(due)));
    }

    #[test]
    fn flat_out_has_no_due_times() {
        let s = Schedule::new(0, 10, 10, Rate::Max);
        assert_eq!((s.due_us(3, 1), s.next_due_at_or_after(3, 77)), (None, 77));
        assert_eq!(s.first_due_at_or_after(77, 4), (4, 77));
    }
}
