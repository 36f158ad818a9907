//! [`Ceiling`]: the plain subscriber that drains the same load as wardstream, to tell how fast a
//! client that does nothing with the messages can take them from this broker on this machine.
//! It subscribes to `wardstream/#` at QoS 1 (rumqttc acknowledges each message itself),
//! counts the messages and discards them.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::clock::wall_us;
use super::publisher::MAX_PACKET_BYTES;

/// What the plain subscriber received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeilingCount {
    /// Messages received.
    pub messages: u64,
    /// Wall-clock µs of the first message (0 if none).
    pub first_us: i64,
    /// Wall-clock µs of the last message (0 if none).
    pub last_us: i64,
    /// Connection errors.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    messages: AtomicU64,
    first_us: AtomicI64,
    last_us: AtomicI64,
    errors: AtomicU64,
}

/// A subscribed plain subscriber.
#[derive(Debug)]
pub struct Ceiling {
    client: AsyncClient,
    poller: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl Ceiling {
    /// Connects, subscribes to `wardstream/#` and waits (up to 10 s) for the SubAck.
    pub async fn start(port: u16) -> anyhow::Result<Ceiling> {
        let mut options = MqttOptions::new("load-ceiling", "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let counters = Arc::new(Counters::default());
        let (subscribed, mut is_subscribed) = watch::channel(false);
        let task_counters = Arc::clone(&counters);
        let task_client = client.clone();
        let poller = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(_))) => {
                        let now = wall_us();
                        let _ = task_counters.first_us.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                        task_counters.last_us.store(now, Ordering::Relaxed);
                        task_counters.messages.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        // A clean session has no subscription after a (re)connect: (re)subscribe,
                        // from the channel without waiting (never block the polling task).
                        if task_client.try_subscribe("wardstream/#", QoS::AtLeastOnce).is_err() {
                            task_counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subscribed.send_replace(true);
                    }
                    // Our own disconnect: the connection closing next is no error.
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(error) => {
                        task_counters.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("load: ceiling subscriber: {error}; reconnecting");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let wait = is_subscribed.wait_for(|s| *s);
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(Ok(_)) => Ok(Ceiling { client, poller, counters }),
            _ => {
                poller.abort();
                bail!("the ceiling subscriber got no SubAck from the broker on port {port} within 10 s")
            }
        }
    }

    /// The counts now.
    pub fn count(&self) -> CeilingCount {
        CeilingCount {
            messages: self.counters.messages.load(Ordering::Relaxed),
            first_us: self.counters.first_us.load(Ordering::Relaxed),
            last_us: self.counters.last_us.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
        }
    }

    /// Waits until `messages` were received or `timeout` passes, disconnects, and returns the
    /// counts.
    pub async fn finish(self, messages: u64, timeout: Duration) -> CeilingCount {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.counters.messages.load(Ordering::Relaxed) < messages && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let count = self.count();
        let _ = self.client.try_disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.poller.abort();
        count
    }
}
