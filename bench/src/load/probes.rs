//! The latency probes, run in wardstream's process against its HTTP API over loopback sockets.
//!
//! - **publish → timeline**: samples spread evenly over the run, one at a time. For each, the
//!   device whose pack is due next (flat out: a device spread over all) and that time; from then the probe
//!   polls `GET /api/v1/patients/{patient}/timeline?from=<due>&to=…` every `poll` until a
//!   reading appears. The latency is the wall time the answer showing it arrived minus the
//!   reading's device time, which is the instant it was published (see [`super::pack`]). So it
//!   includes up to one poll interval plus one request of measurement delay.
//! - **publish → live**: one SSE connection per followed patient; each `observation` event's
//!   latency is its receipt time minus its device time. `gap` events (a subscriber that fell
//!   behind the broadcast channel) are counted.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;
use wardstream_pipeline::time::format_rfc3339;

use super::clock::{sleep_until_wall, wall_us};
use super::http::{SseStream, get};
use super::schedule::{MICROS, Schedule, patient};

/// Longest a timeline sample is polled before it counts as timed out.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a probe measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Latencies, µs.
    pub latencies_us: Vec<i64>,
    /// Timeline samples never seen within the timeout.
    pub timed_out: u64,
    /// HTTP requests (timeline) or events (live) that failed or could not be read.
    pub errors: u64,
    /// Timeline requests made.
    pub requests: u64,
    /// Live `gap` events: batches a subscriber missed.
    pub missed_batches: u64,
}

/// The device of timeline sample `j`, spread over all devices.
fn sample_device(j: u32, devices: u32) -> u32 {
    ((u64::from(j) * 7919 + 13) % u64::from(devices.max(1))) as u32
}

/// An RFC 3339 time as a timeline query parameter.
fn parse_micros(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_micros())
}

/// Runs `samples` timeline samples spread over `[schedule.start_us, end_us)` (see the module
/// docs); stops early when `stop` turns true.
pub async fn timeline_probe(
    addr: SocketAddr,
    schedule: Schedule,
    end_us: i64,
    samples: u32,
    poll: Duration,
    stop: watch::Receiver<bool>,
) -> ProbeResult {
    let mut result = ProbeResult::default();
    let span = end_us.saturating_sub(schedule.start_us);
    for j in 0..samples {
        let target = schedule.start_us + (span * (2 * i64::from(j) + 1)) / (2 * i64::from(samples.max(1)));
        // The pack due first after the sample's time, so the probe hardly waits for it.
        let (device, due) = schedule.first_due_at_or_after(target.max(wall_us()), sample_device(j, schedule.devices));
        if due >= end_us || *stop.borrow() {
            break;
        }
        sleep_until_wall(due).await;
        let path = format!(
            "/api/v1/patients/{}/timeline?from={}&to={}",
            patient(device),
            format_rfc3339(due),
            format_rfc3339(due + 3600 * MICROS)
        );
        let give_up = tokio::time::Instant::now() + SAMPLE_TIMEOUT;
        loop {
            if *stop.borrow() {
                return result;
            }
            result.requests += 1;
            match get(addr, &path).await {
                Ok(response) if response.status == 200 => {
                    let seen_at = wall_us();
                    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
                    let first = body["observations"].as_array().and_then(|o| o.first()).cloned();
                    if let Some(time) = first.as_ref().and_then(|r| r["device_time"].as_str()).and_then(parse_micros) {
                        result.latencies_us.push(seen_at - time);
                        break;
                    }
                }
                Ok(_) | Err(_) => result.errors += 1,
            }
            if tokio::time::Instant::now() > give_up {
                result.timed_out += 1;
                break;
            }
            tokio::time::sleep(poll).await;
        }
    }
    result
}

/// Opens one live stream per patient of `devices` (the first device, then evenly spaced).
pub async fn open_live(addr: SocketAddr, devices: u32, followed: u32) -> anyhow::Result<Vec<SseStream>> {
    let followed = followed.min(devices);
    let mut streams = Vec::new();
    for i in 0..followed {
        let device = (u64::from(i) * u64::from(devices) / u64::from(followed.max(1))) as u32;
        streams.push(SseStream::open(addr, &format!("/api/v1/patients/{}/live", patient(device))).await?);
    }
    Ok(streams)
}

/// Reads every stream until `stop` turns true, timing the observations whose device time is at
/// or after `from_us`.
pub async fn live_probe(streams: Vec<SseStream>, from_us: i64, stop: watch::Receiver<bool>) -> ProbeResult {
    let mut tasks = JoinSet::new();
    for mut stream in streams {
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let mut result = ProbeResult::default();
            loop {
                let event = tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    event = stream.next_event() => event,
                };
                let received_at = wall_us();
                match event {
                    Ok(Some(event)) if event.name == "observation" => {
                        let value: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
                        match value["device_time"].as_str().and_then(parse_micros) {
                            Some(t) if t >= from_us => result.latencies_us.push(received_at - t),
                            Some(_) => {}
                            None => result.errors += 1,
                        }
                    }
                    Ok(Some(event)) if event.name == "gap" => {
                        let value: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
                        result.missed_batches += value["missed_batches"].as_u64().unwrap_or(1);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        result.errors += 1;
                        break;
                    }
                }
            }
            result
        });
    }
    let mut total = ProbeResult::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(r) => {
                total.latencies_us.extend(r.latencies_us);
                total.errors += r.errors;
                total.missed_batches += r.missed_batches;
            }
            Err(_) => total.errors += 1,
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_spread_over_the_devices_and_times_parse() {
        let devices: std::collections::HashSet<u32> = (0..200).map(|j| sample_device(j, 2000)).collect();
        assert_eq!(devices.len(), 200);
        assert_eq!(sample_device(5, 1), 0);
        assert_eq!(parse_micros("2026-11-22T08:00:00.000042Z"), Some(1_795_334_400_000_042));
        assert_eq!(parse_micros("yesterday"), None);
    }
}
