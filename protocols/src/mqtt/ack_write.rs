//! Writing acknowledgements straight onto rumqttc's connection from the task that polls its
//! event loop, instead of queueing them behind rumqttc's request channel (see [`super::acker`]
//! for why: the channel is drained one request per poll while reads come ten packets a poll).
//!
//! The poll task calls [`write_ready`] before every poll and whenever an ack becomes ready
//! while it waits in `EventLoop::poll` (that wait is then abandoned and restarted: safe here,
//! because the poll is waiting on a read, or on a flush of bytes that stay buffered, or on an
//! empty request channel — the write buffer was flushed before the poll began, so rumqttc's
//! own writes of a SUBSCRIBE, PINGREQ or DISCONNECT never wait).
//!
//! Each ack goes through `MqttState::handle_outgoing_packet`, exactly as `AsyncClient::ack`'s
//! request would inside the event loop, then into the connection's write buffer; one flush
//! covers every ack of the round. An ack whose connection is gone (an older CONNACK epoch, or
//! no connection) is skipped: the broker redelivers that message on the new connection.

use std::time::Duration;

use rumqttc::{EventLoop, PubAck, PubRec, QoS, Request};
use tokio::sync::mpsc::UnboundedReceiver;

use super::MqttStats;
use super::acker::ReadyAck;

/// Longest wait for the broker to take the acks of one round before the connection is
/// considered broken.
pub const ACK_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Writing to the connection failed; the caller drops it (the broker redelivers what is
/// unacknowledged).
#[derive(Debug, thiserror::Error)]
#[error("could not write PUBACKs to the broker: {0}")]
pub struct AckWriteError(String);

/// Writes `first` (if any) and every ack already waiting in `ready`, in order, for connection
/// `epoch`, then flushes once. Returns the number written.
pub async fn write_ready(
    events: &mut EventLoop,
    first: Option<ReadyAck>,
    ready: &mut UnboundedReceiver<ReadyAck>,
    epoch: u64,
    stats: &MqttStats,
) -> Result<usize, AckWriteError> {
    let mut written = 0;
    let mut next = first.or_else(|| ready.try_recv().ok());
    while let Some(ack) = next {
        let request = match ack.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Request::PubAck(PubAck::new(ack.pkid))),
            QoS::ExactlyOnce => Some(Request::PubRec(PubRec::new(ack.pkid))),
        };
        match (request, events.network.as_mut()) {
            (Some(request), Some(network)) if ack.epoch == epoch => {
                let packet = events.state.handle_outgoing_packet(request).map_err(|e| AckWriteError(e.to_string()))?;
                if let Some(packet) = packet {
                    network.write(packet).await.map_err(|e| AckWriteError(e.to_string()))?;
                }
                stats.count_ack();
                written += 1;
            }
            (None, _) => {}
            _ => stats.count_ack_skipped(),
        }
        next = ready.try_recv().ok();
    }
    if written > 0
        && let Some(network) = events.network.as_mut()
    {
        match tokio::time::timeout(ACK_FLUSH_TIMEOUT, network.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(AckWriteError(e.to_string())),
            Err(_) => return Err(AckWriteError("timed out".into())),
        }
    }
    Ok(written)
}

/// The next ready ack; never resolves when there is no ack channel (automatic acks) or it is
/// closed.
pub async fn next_ready(ready: &mut Option<UnboundedReceiver<ReadyAck>>) -> ReadyAck {
    match ready.as_mut() {
        Some(rx) => match rx.recv().await {
            Some(ack) => ack,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
