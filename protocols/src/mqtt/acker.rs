//! [`Acker`]: acknowledges QoS 1/2 messages to the broker only once their batch is durable.
//!
//! Design: the task that polls rumqttc's event loop must never wait for durability (PITFALLS),
//! so it hands each received PUBLISH, in receive order, to this thread with the WAL sequence
//! number of its batch. The thread waits for each in turn (`Feed::wait_durable`: group commit
//! wakes many at once) and passes it on, still in receive order, as a [`ReadyAck`] to the poll
//! task, which **writes the PUBACK to the socket itself** before its next read (see
//! `source::AckWriter`). PUBACKs therefore never queue behind rumqttc's request channel: rumqttc
//! reads up to ten packets per poll but takes one request per poll, so with a broker whose
//! inflight window is unlimited the acks used to fall ever further behind the reads at
//! flat-out rates, fill the channel, and force a reconnect whose redelivered backlog could
//! exceed the de-duplicator (issue 6). Now every ack ready is on the wire before the next
//! read, so the acks outstanding are only those still waiting for their fsync.
//!
//! Messages received before the latest CONNACK are never acked: rumqttc matches acks by
//! packet id alone, and the broker redelivers them anyway. If a batch can never be made durable
//! (the log failed), nothing more of that connection is acknowledged (acking later messages
//! would break the order) and the connection is dropped, so the broker redelivers every
//! unacknowledged message after reconnecting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
use rumqttc::Publish;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::error;
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

/// A message whose batch is durable: the poll task writes its ack if `epoch` is still the
/// current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyAck {
    /// The message's packet id.
    pub pkid: u16,
    /// Its QoS (1: PUBACK, 2: PUBREC).
    pub qos: rumqttc::QoS,
    /// The connection it arrived on.
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
    /// Starts the thread. `capacity` bounds the queue of messages waiting for durability; when
    /// it is full the poll task waits, so it stops reading and TCP holds the broker back. The
    /// returned receiver yields the acks to write, in receive order.
    pub fn start(
        feed: Feed,
        stats: Arc<MqttStats>,
        capacity: usize,
    ) -> std::io::Result<(Acker, UnboundedReceiver<ReadyAck>)> {
        let (tx, rx) = bounded(capacity.max(1));
        let (ready_tx, ready_rx) = unbounded_channel();
        let epoch = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let (e, f) = (Arc::clone(&epoch), Arc::clone(&failed));
        let thread = std::thread::Builder::new()
            .name("mqtt-acker".into())
            .spawn(move || ack_loop(&rx, &ready_tx, &feed, &stats, &e, &f))?;
        Ok((Acker { tx: Some(tx), thread: Some(thread), epoch, failed }, ready_rx))
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

    /// Waits until every queued message is passed on (or skipped), then stops the thread.
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
    ready: &UnboundedSender<ReadyAck>,
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
        let ack = ReadyAck { pkid: pending.publish.pkid, qos: pending.publish.qos, epoch: pending.epoch };
        if ready.send(ack).is_err() {
            // The poll task is gone: the broker redelivers the message on the next connection.
            stats.count_ack_skipped();
        }
    }
}
