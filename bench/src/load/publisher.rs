//! One publisher connection: a rumqttc client that publishes the SenML packs of its share of the
//! devices (device `d` goes to connection `d mod connections`) at QoS 1, on schedule or flat out,
//! and counts what it published and what the broker acknowledged.
//!
//! As PITFALLS says, the task that polls the event loop never publishes: [`Publisher::run`]
//! publishes from its own task while a spawned task polls and counts PUBACKs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::clock::{sleep_until_wall, wall_us};
use super::pack::senml_pack;
use super::schedule::{Schedule, device_name, topic};

/// Largest packet either way.
pub const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// Unacknowledged QoS 1 messages per connection (flat out, the window is what limits a
/// connection's rate).
const INFLIGHT: u16 = 1000;

/// Counters of one connection.
#[derive(Debug, Default)]
pub struct PublisherCounters {
    /// Messages handed to the client.
    pub published: AtomicU64,
    /// PUBACKs received.
    pub acked: AtomicU64,
    /// Connection errors (each followed by a reconnect attempt).
    pub errors: AtomicU64,
    /// Wall-clock µs of the first publish (0 before it).
    pub first_us: AtomicI64,
    /// Wall-clock µs of the last publish.
    pub last_us: AtomicI64,
}

/// A connected publisher connection.
#[derive(Debug)]
pub struct Publisher {
    index: u16,
    client: AsyncClient,
    poller: JoinHandle<()>,
    counters: Arc<PublisherCounters>,
}

impl Publisher {
    /// Connects connection `index` to the broker on `port` and waits (up to 10 s) for its ConnAck.
    pub async fn connect(index: u16, port: u16) -> anyhow::Result<Publisher> {
        let mut options = MqttOptions::new(format!("load-pub-{index}"), "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_inflight(INFLIGHT)
            .set_clean_session(true)
            .set_request_channel_capacity(usize::from(INFLIGHT));
        let (client, mut eventloop) = AsyncClient::new(options, usize::from(INFLIGHT));
        let counters = Arc::new(PublisherCounters::default());
        let (connected, mut is_connected) = watch::channel(false);
        let task_counters = Arc::clone(&counters);
        let poller = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        task_counters.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected.send_replace(true);
                    }
                    // Our own disconnect: the connection closing next is no error.
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(error) => {
                        task_counters.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("load: publisher {index}: {error}; reconnecting");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let wait = is_connected.wait_for(|c| *c);
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(Ok(_)) => Ok(Publisher { index, client, poller, counters }),
            _ => {
                poller.abort();
                bail!("publisher connection {index} got no ConnAck from the broker on port {port} within 10 s")
            }
        }
    }

    /// Its counters.
    pub fn counters(&self) -> Arc<PublisherCounters> {
        Arc::clone(&self.counters)
    }

    /// Publishes the packs of its devices until `end_us` (wall clock), then waits up to
    /// `ack_timeout` for every PUBACK and disconnects.
    pub async fn run(
        self,
        schedule: Schedule,
        connections: u16,
        readings_per_pack: usize,
        end_us: i64,
        ack_timeout: Duration,
    ) -> anyhow::Result<()> {
        let devices: Vec<u32> =
            (u32::from(self.index)..schedule.devices).step_by(usize::from(connections.max(1))).collect();
        let names: Vec<String> = devices.iter().map(|d| device_name(*d)).collect();
        let topics: Vec<String> = devices.iter().map(|d| topic(*d)).collect();
        let mut last_time = vec![i64::MIN; devices.len()];
        let mut k: u64 = 0;
        'rounds: loop {
            for (i, device) in devices.iter().enumerate() {
                match schedule.due_us(*device, k) {
                    Some(due) if due >= end_us => break 'rounds,
                    Some(due) => sleep_until_wall(due).await,
                    None if wall_us() >= end_us => break 'rounds,
                    None => {}
                }
                let (Some(name), Some(topic), Some(last)) = (names.get(i), topics.get(i), last_time.get_mut(i)) else {
                    continue;
                };
                // Strictly increasing per device, so no two packs of a device share a time.
                let now = wall_us().max(last.saturating_add(1));
                *last = now;
                let payload = senml_pack(name, now, k, readings_per_pack);
                self.client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, payload)
                    .await
                    .with_context(|| format!("publisher {}: the client stopped", self.index))?;
                let _ = self.counters.first_us.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                self.counters.last_us.store(now, Ordering::Relaxed);
                self.counters.published.fetch_add(1, Ordering::Relaxed);
            }
            if devices.is_empty() {
                break;
            }
            k += 1;
        }
        let deadline = tokio::time::Instant::now() + ack_timeout;
        while self.counters.acked.load(Ordering::Relaxed) < self.counters.published.load(Ordering::Relaxed)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.client.try_disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.poller.abort();
        Ok(())
    }
}
