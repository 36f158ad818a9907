//! [`Outbox`]: the messages of one bed from frame to acknowledgement, without I/O.
//!
//! A message is *waiting* (not handed to the current MQTT client), *queued* (handed to it, not
//! yet written), *in flight* (written with a packet id, not acknowledged) or acknowledged (gone,
//! counted). The MQTT driver feeds the event loop's events in; the counters and the recorder
//! come out.
//!
//! Design: rumqttc's event loop is never reused after a connection error, because on reconnect it
//! resends and drops requests in ways its events do not show. With one event loop per
//! connection, rumqttc takes publishes from its request channel in order and reports each as
//! `Outgoing::Publish(pkid)` (or `AwaitAck(pkid)` when the id is still taken and it holds the
//! publish back until that id is acknowledged), so each event names the oldest queued message
//! and a PubAck names exactly one message in flight. When the connection breaks, every message
//! not acknowledged goes back to the front of the waiting queue, in order, to be sent again on
//! the next connection: at least once, duplicates carry the same SenML time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rumqttc::QoS;
use tracing::warn;

use super::recorder::Recorder;
use super::report::BedCounters;
use crate::senml::senml_pack;

/// One reading of a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub name: Arc<str>,
    pub unit: Arc<str>,
    pub value: f64,
}

/// One SenML pack of one bed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    /// Position in the bed's sequence of messages.
    pub seq: u64,
    pub time_micros: i64,
    pub readings: Vec<Reading>,
    pub payload: Vec<u8>,
    /// Whether it was handed to an MQTT client before (and so counted as published).
    handed_over: bool,
}

/// The messages of one bed; see the module documentation.
#[derive(Debug)]
pub(crate) struct Outbox {
    device: Arc<str>,
    qos: QoS,
    counters: Arc<BedCounters>,
    recorder: Option<Arc<Recorder>>,
    next_seq: u64,
    waiting: VecDeque<Message>,
    queued: VecDeque<Message>,
    inflight: HashMap<u16, Message>,
    collided: Option<(u16, Message)>,
}

impl Outbox {
    pub fn new(device: Arc<str>, qos: QoS, counters: Arc<BedCounters>, recorder: Option<Arc<Recorder>>) -> Self {
        Outbox {
            device,
            qos,
            counters,
            recorder,
            next_seq: 0,
            waiting: VecDeque::new(),
            queued: VecDeque::new(),
            inflight: HashMap::new(),
            collided: None,
        }
    }

    /// Adds a message for `readings` at `time_micros` to the end of the waiting queue.
    pub fn push(&mut self, time_micros: i64, readings: Vec<Reading>) {
        let fields: Vec<_> = readings.iter().map(|r| (&*r.name, &*r.unit, r.value)).collect();
        let payload = senml_pack(&self.device, time_micros, &fields).into_bytes();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.waiting.push_back(Message { seq, time_micros, readings, payload, handed_over: false });
    }

    /// Messages not yet handed to the current client.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// True when every message has been acknowledged.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.queued.is_empty() && self.inflight.is_empty() && self.collided.is_none()
    }

    /// Takes the oldest waiting message for the current client and returns its payload. The
    /// first hand-over of a message counts it as published; later ones as retransmissions.
    pub fn hand_over(&mut self) -> Option<Vec<u8>> {
        let mut message = self.waiting.pop_front()?;
        if message.handed_over {
            BedCounters::add(&self.counters.retransmissions, 1);
        } else {
            message.handed_over = true;
            BedCounters::add(&self.counters.messages_published, 1);
            BedCounters::add(&self.counters.readings_published, message.readings.len() as u64);
            if let Some(recorder) = &self.recorder {
                recorder.record_published(&self.device, &message);
            }
        }
        let payload = message.payload.clone();
        self.queued.push_back(message);
        Some(payload)
    }

    /// rumqttc wrote a publish with packet id `pkid` (`Outgoing::Publish`).
    pub fn on_outgoing_publish(&mut self, pkid: u16) {
        let message = match self.collided.take() {
            Some((held, message)) if held == pkid => message,
            other => {
                self.collided = other;
                let Some(message) = self.queued.pop_front() else {
                    warn!(device = %self.device, pkid, "Publish written that was never handed over");
                    return;
                };
                message
            }
        };
        if self.qos == QoS::AtMostOnce {
            self.acknowledged(message);
        } else if let Some(lost) = self.inflight.insert(pkid, message) {
            // Cannot happen with rumqttc's collision handling; resend rather than lose it.
            warn!(device = %self.device, pkid, "Packet id reused before its acknowledgement");
            self.requeue(vec![lost]);
        }
    }

    /// rumqttc holds a publish back until `pkid` is acknowledged (`Outgoing::AwaitAck`).
    pub fn on_await_ack(&mut self, pkid: u16) {
        if let Some(message) = self.queued.pop_front()
            && let Some((_, earlier)) = self.collided.replace((pkid, message))
        {
            warn!(device = %self.device, pkid, "Second collision before the first resolved");
            self.requeue(vec![earlier]);
        }
    }

    /// The broker acknowledged `pkid` (PubAck for QoS 1, PubComp for QoS 2).
    pub fn on_ack(&mut self, pkid: u16) {
        match self.inflight.remove(&pkid) {
            Some(message) => self.acknowledged(message),
            None => warn!(device = %self.device, pkid, "Acknowledgement for no publish in flight"),
        }
    }

    /// The connection is gone: every message not acknowledged waits again, oldest first.
    pub fn connection_lost(&mut self) {
        let mut unacked: Vec<Message> = self.queued.drain(..).chain(self.inflight.drain().map(|(_, m)| m)).collect();
        unacked.extend(self.collided.take().map(|(_, m)| m));
        self.requeue(unacked);
    }

    fn acknowledged(&mut self, message: Message) {
        BedCounters::add(&self.counters.messages_acked, 1);
        BedCounters::add(&self.counters.readings_acked, message.readings.len() as u64);
        if let Some(recorder) = &self.recorder {
            recorder.record_acked(&self.device, &message);
        }
    }

    /// Puts messages back into the waiting queue, keeping it ordered by sequence number.
    fn requeue(&mut self, messages: Vec<Message>) {
        self.waiting.extend(messages);
        self.waiting.make_contiguous().sort_by_key(|m| m.seq);
    }
}

#[cfg(test)]
mod tests;
