//! One OBX of a PCD-01 message → a raw reading, a dead letter, or a counted skip (rules in the
//! parent module's table).

use std::sync::Arc;

use wardstream_pipeline::device_quality::{
    DeviceNumber, obx8_abnormal_flags, obx11_result_status, parse_device_number,
};
use wardstream_pipeline::time::{Hl7Timestamp, LocalClock, Micros};
use wardstream_pipeline::{DeadLetter, Flags, RawReading, RawValue, Reason, Source};

use super::super::{Message, Segment};
use super::{Devices, Pcd01Result};

/// What every OBX of one message shares.
pub(super) struct Context<'m, 'c> {
    pub(super) msg: &'m Message,
    pub(super) raw: Arc<[u8]>,
    pub(super) origin: Arc<str>,
    pub(super) received_at: Micros,
    pub(super) clock: &'c mut LocalClock,
    pub(super) devices: Devices,
}

enum Outcome {
    Reading(RawReading),
    Dead(DeadLetter),
    Structural,
    NonNumeric,
}

impl<'m> Context<'m, '_> {
    /// Decodes the OBXs of one OBR group (`obr` is `None` for OBXs before any OBR).
    pub(super) fn group(&mut self, obr: Option<Segment<'m>>, obxs: &[Segment<'m>], result: &mut Pcd01Result) {
        self.devices.start_group(obxs);
        for obx in obxs {
            result.counts.obx += 1;
            match self.obx(obr.as_ref(), obx) {
                Outcome::Reading(reading) => result.batch.readings.push(reading),
                Outcome::Dead(dead) => result.batch.dead_letters.push(dead),
                Outcome::Structural => result.counts.structural += 1,
                Outcome::NonNumeric => result.counts.non_numeric += 1,
            }
        }
    }

    fn obx(&mut self, obr: Option<&Segment<'m>>, obx: &Segment<'m>) -> Outcome {
        let value_type = obx.field(2).text().trim().to_ascii_uppercase();
        let value = obx.field(5);
        let name = obx.field(3).coded_text();
        let label = format!("OBX {} ({name})", obx.field(1).text().trim());
        let source_name = (!name.is_empty()).then(|| name.clone());
        match (value_type.as_str(), value.is_empty()) {
            ("", true) => return Outcome::Structural,
            ("", false) => {
                let detail = format!("{label}: OBX-5 has a value but OBX-2 names no value type");
                return Outcome::Dead(self.dead_letter(None, source_name, Reason::InvalidPayload, detail));
            }
            ("NM", _) => {}
            _ => return Outcome::NonNumeric,
        }
        if name.is_empty() {
            let detail = format!("{label}: OBX-3 names no observation");
            let device = self.devices.of(obx);
            return Outcome::Dead(self.dead_letter(device, None, Reason::UnknownMetric, detail));
        }
        let Some(device) = self.devices.of(obx) else {
            let detail = format!("{label}: no device id in OBX-18, in the MDS-level OBX-18 or in MSH-3");
            return Outcome::Dead(self.dead_letter(None, source_name, Reason::UnknownDevice, detail));
        };
        let dead = |ctx: &Self, reason, detail| {
            Outcome::Dead(ctx.dead_letter(Some(device.clone()), source_name.clone(), reason, detail))
        };
        let number = match (value.repetitions().count(), parse_device_number(&value.text())) {
            (n, _) if n > 1 => {
                return dead(self, Reason::NonNumericValue, format!("{label}: NM value with {n} repetitions"));
            }
            (_, Ok(DeviceNumber::Value(v))) => v,
            (_, Ok(DeviceNumber::NoValue)) => {
                let detail = format!("{label}: OBX-5 {:?} is no value", value.text());
                return dead(self, Reason::MissingValue, detail);
            }
            (_, Err(_)) => {
                let detail = format!("{label}: OBX-5 {:?} is not a number", value.text());
                return dead(self, Reason::NonNumericValue, detail);
            }
        };
        let abnormal: Vec<String> = obx.field(8).repetitions().map(|r| r.text().into_owned()).collect();
        let (abnormal, status) = (abnormal.join("~"), obx.field(11).text());
        let verdict = obx8_abnormal_flags(&abnormal).and(obx11_result_status(&status));
        let Some(flags) = verdict.apply(Flags::NONE) else {
            let detail = format!("{label}: OBX-8 {abnormal:?} / OBX-11 {status:?} say there is no valid value");
            return dead(self, Reason::MissingValue, detail);
        };
        let device_time = match self.time(obr, obx) {
            Ok(time) => time,
            Err(why) => return dead(self, Reason::InvalidTime, format!("{label}: {why}")),
        };
        let unit = obx.field(6).coded_text();
        Outcome::Reading(RawReading {
            device_id: device,
            name,
            value: RawValue::Number(number),
            unit: (!unit.is_empty()).then_some(unit),
            device_time,
            received_at: self.received_at,
            source: Source::Hl7,
            origin: Arc::clone(&self.origin),
            raw: Arc::clone(&self.raw),
            flags,
        })
    }

    /// OBX-14, else OBR-7, else MSH-7, as UTC.
    fn time(&mut self, obr: Option<&Segment<'m>>, obx: &Segment<'m>) -> Result<Micros, String> {
        let msh = self.msg.msh();
        let candidates = [("OBX-14", Some(obx), 14), ("OBR-7", obr, 7), ("MSH-7", Some(&msh), 7)];
        for (field, segment, n) in candidates {
            let Some(segment) = segment else { continue };
            let text = segment.field(n).component(1).text();
            let text = text.trim();
            if !text.is_empty() {
                let ts = Hl7Timestamp::parse(text).map_err(|e| format!("{field}: {e}"))?;
                return Ok(ts.to_utc(self.clock));
            }
        }
        Err("no time in OBX-14, OBR-7 or MSH-7".to_owned())
    }
}
