//! Counters of one bed ([`BedCounters`], atomics, readable while the ward runs) and the
//! snapshots taken from them ([`BedReport`], [`WardReport`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one bed. Updated by the bed's tasks; read without locks.
#[derive(Debug, Default)]
pub(crate) struct BedCounters {
    pub frames_replayed: AtomicU64,
    pub messages_published: AtomicU64,
    pub readings_published: AtomicU64,
    pub messages_acked: AtomicU64,
    pub readings_acked: AtomicU64,
    pub retransmissions: AtomicU64,
    pub connections: AtomicU64,
    pub connection_errors: AtomicU64,
}

impl BedCounters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self, monitor_id: &str) -> BedReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BedReport {
            monitor_id: monitor_id.to_owned(),
            frames_replayed: get(&self.frames_replayed),
            messages_published: get(&self.messages_published),
            readings_published: get(&self.readings_published),
            messages_acked: get(&self.messages_acked),
            readings_acked: get(&self.readings_acked),
            retransmissions: get(&self.retransmissions),
            connections: get(&self.connections),
            connection_errors: get(&self.connection_errors),
        }
    }
}

/// What one monitor did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BedReport {
    /// The monitor id (`monitor-icu-1-03`).
    pub monitor_id: String,
    /// Frames taken from the numerics, including frames with no value (which send nothing).
    pub frames_replayed: u64,
    /// SenML messages handed to the MQTT client, each counted once however often it was sent.
    pub messages_published: u64,
    /// Readings (SenML records) in those messages.
    pub readings_published: u64,
    /// Messages the broker acknowledged (QoS 1 PubAck, QoS 2 PubComp).
    pub messages_acked: u64,
    /// Readings in the acknowledged messages.
    pub readings_acked: u64,
    /// Messages sent again on a new connection because the old one broke before their ack.
    pub retransmissions: u64,
    /// Successful connections (ConnAck received).
    pub connections: u64,
    /// Failed connection attempts and broken connections.
    pub connection_errors: u64,
}

/// What the whole ward did: the sums over the beds, and each bed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WardReport {
    /// Sum of [`BedReport::frames_replayed`].
    pub frames_replayed: u64,
    /// Sum of [`BedReport::messages_published`].
    pub messages_published: u64,
    /// Sum of [`BedReport::readings_published`].
    pub readings_published: u64,
    /// Sum of [`BedReport::messages_acked`].
    pub messages_acked: u64,
    /// Sum of [`BedReport::readings_acked`].
    pub readings_acked: u64,
    /// Sum of [`BedReport::retransmissions`].
    pub retransmissions: u64,
    /// One report per bed, in bed order.
    pub per_bed: Vec<BedReport>,
}

impl WardReport {
    /// Sums the bed reports.
    pub fn from_beds(per_bed: Vec<BedReport>) -> WardReport {
        let sum = |f: fn(&BedReport) -> u64| per_bed.iter().map(f).sum();
        WardReport {
            frames_replayed: sum(|b| b.frames_replayed),
            messages_published: sum(|b| b.messages_published),
            readings_published: sum(|b| b.readings_published),
            messages_acked: sum(|b| b.messages_acked),
            readings_acked: sum(|b| b.readings_acked),
            retransmissions: sum(|b| b.retransmissions),
            per_bed,
        }
    }

    /// Messages published but not (yet) acknowledged.
    pub fn messages_unacked(&self) -> u64 {
        self.messages_published.saturating_sub(self.messages_acked)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ward_report_sums_the_beds() {
        let counters = [BedCounters::default(), BedCounters::default()];
        BedCounters::add(&counters[0].messages_published, 3);
        BedCounters::add(&counters[0].messages_acked, 2);
        BedCounters::add(&counters[1].messages_published, 4);
        BedCounters::add(&counters[1].readings_acked, 7);
        let report = WardReport::from_beds(vec![counters[0].snapshot("a"), counters[1].snapshot("b")]);
        assert_eq!((report.messages_published, report.messages_acked, report.readings_acked), (7, 2, 7));
        assert_eq!(report.messages_unacked(), 5);
        assert_eq!(report.per_bed[1].monitor_id, "b");
    }
}
