//! IHE PCD-01 (Communicate PCD Data, `ORU^R01`) messages as [`IngestBatch`]es.
//!
//! [`decode`] reads every OBX of an `ORU^R01` message, grouped under the OBR before it, into a
//! [`RawReading`](wardstream_pipeline::RawReading) (source `hl7`) or a
//! [`DeadLetter`] carrying the whole message:
//!
//! | OBX | becomes |
//! |---|---|
//! | OBX-2 empty and OBX-5 empty | nothing: a containment node (MDS, VMD, channel) that only structures the tree; counted in [`Pcd01Counts::structural`] |
//! | OBX-2 `NM` | a reading, or a dead letter saying why not (below) |
//! | OBX-2 any other type (`ST`, `CWE`, `SN`, `NA`, …) | nothing: settings, states and waveforms are not vital-sign numerics; counted in [`Pcd01Counts::non_numeric`] |
//! | OBX-2 empty but OBX-5 sent | dead letter `invalid_payload` (a value whose type is not stated) |
//!
//! For an `NM` OBX:
//! - **name**: OBX-3 whole, components joined with `^` (`150456^MDC_PULS_OXIM_SAT_O2^MDC`), as
//!   the catalogue looks coded elements up (code, MDC reference id, alternates). Empty: dead
//!   letter `unknown_metric`.
//! - **device**: OBX-18 (EI.1 of its first repetition that has one); else OBX-18 of the
//!   MDS-level OBX of its containment tree (the OBX of the same OBR group whose OBX-4 is the MDS
//!   number alone, `1` or `1.0.0.0`, when the reading's OBX-4 is `1.x.y.z`); else MSH-3, the
//!   sending application (HD.2 universal id, the gateway's EUI-64, else HD.1). None: dead letter
//!   `unknown_device`.
//! - **value**: OBX-5 through
//!   [`parse_device_number`](wardstream_pipeline::device_quality::parse_device_number): a number;
//!   a no-value marker (empty, `""`, dashes, `NaN`) → dead letter `missing_value`; other text or
//!   a repeated OBX-5 → `non_numeric_value`.
//! - **flags**: OBX-8 abnormal flags and OBX-11 result status through
//!   [`device_quality`](wardstream_pipeline::device_quality) (`QUES` → questionable, `P`/`R`/`S`
//!   → preliminary, `C` → corrected, …). A status that means there is no valid value (`X`, `D`,
//!   `TEST`, `NAV`, …) → dead letter `missing_value` naming it.
//! - **time**: OBX-14, else OBR-7 of its group, else MSH-7. Exact with a UTC offset, else in the
//!   `clock`'s zone. Unparsable (or none at all): dead letter `invalid_time`.
//! - **unit**: OBX-6 whole, components joined with `^` (`262688^MDC_DIM_PERCENT^MDC`), or none.
//!
//! `origin` is MSH-3 (the sending application) as sent. A message that is not `ORU^R01` is one
//! dead letter `invalid_payload`. For an `ORU^R01`, `counts.obx == readings + dead_letters +
//! structural + non_numeric`.
//!
//! The patient (PID-3, by the rule of [`super::person`]) and bed (PV1-3) the message names are
//! returned as hints beside the batch, not attached to readings: association decides who a
//! reading belongs to, and may check them.

mod device;
mod obx;

use std::sync::Arc;

use wardstream_pipeline::association::Location;
use wardstream_pipeline::time::{LocalClock, Micros};
use wardstream_pipeline::{DeadLetter, IngestBatch, Reason, Source};

use super::Message;
use super::person::{location, patient_id};
use device::Devices;

/// What one PCD-01 message gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcd01Result {
    /// The readings and dead letters, for the pipeline.
    pub batch: IngestBatch,
    /// PID-3 of the first PID: the patient the sender believes the data is about.
    pub patient_hint: Option<String>,
    /// PV1-3 of the first PV1: the bed the sender believes the device serves.
    pub bed_hint: Option<Location>,
    /// What happened to the OBX segments.
    pub counts: Pcd01Counts,
}

/// Counts of one message's OBX segments by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pcd01Counts {
    /// OBX segments read.
    pub obx: usize,
    /// Readings produced.
    pub readings: usize,
    /// Dead letters produced (one for a message that is not `ORU^R01`).
    pub dead_letters: usize,
    /// Containment nodes (no value type, no value): not readings.
    pub structural: usize,
    /// OBX with a value type other than `NM`: skipped.
    pub non_numeric: usize,
}

/// Decodes a PCD-01 message (rules in the module docs). `raw` is the message as received,
/// shared by every reading and dead letter; `clock` converts times sent without a UTC offset.
pub fn decode(msg: &Message, raw: Arc<[u8]>, received_at: Micros, clock: &mut LocalClock) -> Pcd01Result {
    let origin: Arc<str> = Arc::from(msg.msh().field(3).coded_text());
    let mut ctx = obx::Context { msg, raw, origin, received_at, clock, devices: Devices::new(msg) };
    let mut result = Pcd01Result {
        batch: IngestBatch::default(),
        patient_hint: msg.segment("PID").and_then(|pid| patient_id(&pid)),
        bed_hint: msg.segment("PV1").and_then(|pv1| location(pv1.field(3))),
        counts: Pcd01Counts::default(),
    };
    let (code, trigger) = (msg.message_code(), msg.trigger_event());
    if !code.trim().eq_ignore_ascii_case("ORU") || !trigger.trim().eq_ignore_ascii_case("R01") {
        let detail = format!("MSH-9 is {:?}; a PCD-01 message is ORU^R01", msg.msh().field(9).text());
        result.batch.dead_letters.push(ctx.dead_letter(None, None, Reason::InvalidPayload, detail));
        result.counts.dead_letters = 1;
        return result;
    }
    let mut group = Vec::new();
    let mut obr = None;
    for segment in msg.all_segments() {
        match segment.name() {
            "OBR" => {
                ctx.group(obr, &group, &mut result);
                group.clear();
                obr = Some(segment);
            }
            "OBX" => group.push(segment),
            _ => {}
        }
    }
    ctx.group(obr, &group, &mut result);
    result.counts.readings = result.batch.readings.len();
    result.counts.dead_letters = result.batch.dead_letters.len();
    result
}

impl obx::Context<'_, '_> {
    fn dead_letter(
        &self,
        device_id: Option<Arc<str>>,
        source_name: Option<String>,
        reason: Reason,
        detail: String,
    ) -> DeadLetter {
        DeadLetter {
            received_at: self.received_at,
            source: Source::Hl7,
            origin: Arc::clone(&self.origin),
            device_id,
            source_name,
            reason,
            detail,
            payload: Arc::clone(&self.raw),
        }
    }
}
