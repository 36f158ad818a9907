//! Wall-clock helpers shared by both processes of a run: every time the harness compares across
//! processes (publish, receipt, visibility) is wall-clock µs since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, µs since the Unix epoch.
pub fn wall_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Sleeps until the wall clock reads `t_us` (returns at once if it already does).
pub async fn sleep_until_wall(t_us: i64) {
    let wait = t_us.saturating_sub(wall_us());
    if wait > 0 {
        tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
    }
}

/// Seconds between two wall-clock µs values (0 when `to` is not after `from`).
pub fn seconds_between(from_us: i64, to_us: i64) -> f64 {
    (to_us.saturating_sub(from_us)).max(0) as f64 / 1e6
}
