//! [`Acker`]: acknowledges QoS 1/2 messages to the broker only once their batch is durable.
//!
//! Design: the task that polls rumqttc's event loop must never wait (PITFALLS), so it hands each
//! received PUBLISH, in receive order, to this thread with the WAL sequence number of its batch.
//! The thread waits for each in turn (`Feed::wait_durable`: group commit wakes many at once) and
//! then queues the PUBACK with the non-blocking `try_ack`, preserving receive order as MQTT
//! requires. rumqttc's request channel is sized for every packet id a broker can have
//! outstanding (`REQUEST_CHANNEL_CAPACITY`), so `try_ack` is not refused for lack of room; if it
//! ever is (the event loop is momentarily behind, or gone), the thread retries rather than
//! dropping the ack: a dropped ack leaves the broker holding a message that is redelivered after
//! a restart, possibly past the de-duplication window (a duplicate row). If the ack still cannot
//! be queued after [`ACK_RETRY_LIMIT`], the connection is marked failed and dropped, so the broker
//! redelivers everything unacknowledged to a live service, whose de-duplicator absorbs it. Messages received before the latest CONNACK are never acked: rumqttc matches acks by
//! packet id alone, and the broker redelivers them anyway.
//!
//! If a batch can never be made durable (the log failed), nothing more of that connection is
//! acknowledged (acking later messages would break the order) and the connection is dropped, so
//! the broker redelivers every unacknowledged message after reconnecting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use rumqttc::{AsyncClient, Publish};
use tracing::{error, warn};
use wardstream_pipeline::Feed;

use super::MqttStats;

/// One message waiting for its ack.
#[derive(Debug)]
pub struct PendingAck {
    /// The message (its packet id and QoS are what the ack needs).
    pub publish: Publish,
    /// The WAL record of its batch; `None` when nothing was stored (an empty message).
    pub seq: Option<u64>,
    /// The connection it arrived on (CONNACK count).
    pub epoch: u64,
}

/// The acknowledging thread and its shared state.
#[derive(Debug)]
pub struct Acker {
    tx: Option<Sender<PendingAck>>,
    thread: Option<JoinHandle<()>>,
    /// The current connection (incremented on every CONNACK by the poll task).
    pub epoch: Arc<AtomicU64>,
    /// Set by the thread when a batch could not be made durable: the poll task drops the
    /// connection.
    pub failed: Arc<AtomicBool>,
}

impl Acker {
    /// Starts the thread. `capacity` bounds the queue of messages waiting for durability (the
    /// inflight window plus slack: the broker sends no more than that unacknowledged).
    pub fn start(client: AsyncClient, feed: Feed, stats: Arc<MqttStats>, capacity: usize) -> std::io::Result<Acker> {
        let (tx, rx) = bounded(capacity.max(1));
        let epoch = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let (e, f) = (Arc::clone(&epoch), Arc::clone(&failed));
        let thread = std::thread::Builder::new()
            .name("mqtt-acker".into())
            .spawn(move || ack_loop(&rx, &client, &feed, &stats, &e, &f))?;
        Ok(Acker { tx: Some(tx), thread: Some(thread), epoch, failed })
    }

    /// Queues a message for acknowledgement. Blocks while the queue is full (call inside
    /// `block_in_place`).
    pub fn push(&self, pending: PendingAck) {
        if let Some(tx) = &self.tx
            && tx.send(pending).is_err()
        {
            error!("the MQTT ack thread is gone; the message will be redelivered");
        }
    }

    /// Waits until every queued message is acknowledged (or skipped), then stops the thread.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the MQTT ack thread panicked");
        }
    }
}

fn ack_loop(
    rx: &Receiver<PendingAck>,
    client: &AsyncClient,
    feed: &Feed,
    stats: &MqttStats,
    epoch: &AtomicU64,
    failed: &AtomicBool,
) {
    let mut failed_epoch = None;
    while let Ok(pending) = rx.recv() {
        if failed_epoch == Some(pending.epoch) || pending.epoch != epoch.load(Ordering::Acquire) {
            stats.count_ack_skipped();
            continue;
        }
        if let Some(seq) = pending.seq
            && let Err(e) = feed.wait_durable(seq)
        {
            error!(error = %e, topic = %pending.publish.topic, "not durable: not acknowledging; reconnecting for redelivery");
            failed_epoch = Some(pending.epoch);
            failed.store(true, Ordering::Release);
            stats.count_ack_skipped();
            continue;
        }
        match queue_ack(client, &pending, epoch) {
            AckOutcome::Queued => stats.count_ack(),
            AckOutcome::ConnectionGone => stats.count_ack_skipped(),
            AckOutcome::Refused(e) => {
                warn!(error = %e, "could not queue a PUBACK; reconnecting so the broker redelivers");
                failed_epoch = Some(pending.epoch);
                failed.store(true, Ordering::Release);
                stats.count_ack_skipped();
            }
        }
    }
}

/// How long the thread keeps retrying an ack the client refuses before giving up on the
/// connection.
pub const ACK_RETRY_LIMIT: Duration = Duration::from_secs(5);

enum AckOutcome {
    Queued,
    /// The connection it arrived on is gone: the broker redelivers it on the new one.
    ConnectionGone,
    Refused(rumqttc::ClientError),
}

/// Queues the PUBACK, retrying with a short backoff while the client refuses it and the
/// connection it arrived on is still the current one.
fn queue_ack(client: &AsyncClient, pending: &PendingAck, epoch: &AtomicU64) -> AckOutcome {
    let started = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        match client.try_ack(&pending.publish) {
            Ok(()) => return AckOutcome::Queued,
            Err(e) => {
                if pending.epoch != epoch.load(Ordering::Acquire) {
                    return AckOutcome::ConnectionGone;
                }
                if started.elapsed() >= ACK_RETRY_LIMIT {
                    return AckOutcome::Refused(e);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}
