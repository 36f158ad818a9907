//! The service's stages before the sink — SenML decode → normalise → condition (de-duplication,
//! clock skew) → attach — with their state, run over [`crate::dataset`]'s hospital: what the
//! `pipeline` criterion bench measures and what `hot_rss` feeds into the hot store.

use std::sync::Arc;

use wardstream_pipeline::association::{AssociationConfig, AssociationHub, AssociationSnapshot, attach};
use wardstream_pipeline::{Catalogue, Conditioner, ConditioningConfig, Normaliser, PipelineStats, StoreBatch};
use wardstream_protocols::senml::{DeviceIdFrom, DeviceIdRule, pack_to_batch};

use crate::dataset::Hospital;

/// The topic the hospital's monitors publish on (the device id comes from the SenML name).
const TOPIC: &str = "wardstream/ward/monitor/vitals";

/// The stages, with their state (as the service's pipeline holds them).
pub struct Stages {
    rule: DeviceIdRule,
    normaliser: Normaliser,
    stats: PipelineStats,
    conditioner: Conditioner,
    snapshot: Arc<AssociationSnapshot>,
}

impl Stages {
    /// The stages with the default settings and `hospital`'s associations.
    ///
    /// Errors: an association event of the hospital is rejected.
    pub fn new(hospital: &Hospital) -> anyhow::Result<Stages> {
        let hub = AssociationHub::new(AssociationConfig::default());
        let summary = hub.replay(hospital.association_events());
        anyhow::ensure!(summary.rejected.is_empty(), "association events rejected: {:?}", summary.rejected);
        Ok(Stages {
            rule: DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 },
            normaliser: Normaliser::new(Arc::new(Catalogue::builtin())),
            stats: PipelineStats::default(),
            conditioner: Conditioner::new(&ConditioningConfig::default()),
            snapshot: hub.snapshot(),
        })
    }

    /// Decodes and normalises one pack received at `received_at` into `out`.
    pub fn decode(&self, payload: &[u8], received_at: i64, out: &mut StoreBatch) {
        let batch = pack_to_batch(payload, TOPIC, &self.rule, received_at);
        self.normaliser.normalise_batch(batch, out, &self.stats);
    }

    /// Conditions and attaches what [`decode`](Self::decode) gathered in `out`.
    pub fn condition_and_attach(&mut self, out: &mut StoreBatch) {
        self.conditioner.condition(out);
        attach(&self.snapshot, &mut out.observations);
    }

    /// decode → normalise → condition → attach of `packs` (payload, receive time), into `out`.
    pub fn run(&mut self, packs: &[(String, i64)], out: &mut StoreBatch) {
        for (payload, received_at) in packs {
            self.decode(payload.as_bytes(), *received_at, out);
        }
        self.condition_and_attach(out);
    }
}

/// Every monitor's pack of second `s` (of the first `monitors`), with its receive time.
pub fn second_of_packs(hospital: &mut Hospital, monitors: u32, s: u64) -> Vec<(String, i64)> {
    (0..monitors)
        .map(|i| {
            let mut text = String::new();
            let delay = hospital.pack(i, s, &mut text);
            (text, hospital.publish_time(i, s) + delay)
        })
        .collect()
}
