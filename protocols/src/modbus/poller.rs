//! [`DevicePoller`]: the sans-I/O core of one Modbus device. It plans the device's requests,
//! numbers them (TCP transaction ids), and turns each response frame into `RawReading`s
//! (`Source::Modbus`, `device_time` = the poll time, `raw` = the response frame) or dead
//! letters. The bus task owns the transport and calls it; tests call it with bytes.

use std::sync::Arc;

use wardstream_pipeline::{DeadLetter, Flags, IngestBatch, Micros, RawReading, RawValue, Reason, Source};

use super::config::{DeviceConfig, ModelConfig};
use super::decode::{Decoded, decode_bit, decode_registers};
use super::frame::{FrameError, Proto, Response, build_request, exception_name, parse_response};
use super::plan::{Block, plan};
use super::point::PointConfig;

/// A request on its way: which block it reads, its transaction id and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Index into [`DevicePoller::blocks`].
    pub block: usize,
    /// The TCP transaction id (unused by RTU).
    pub tr_id: u16,
    /// The frame to send.
    pub frame: Vec<u8>,
}

/// What one response added to the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseCounts {
    /// Readings added.
    pub readings: usize,
    /// Dead letters added.
    pub dead_letters: usize,
    /// The exception code, when the device answered with one.
    pub exception: Option<u8>,
}

/// One device's register map, planned, and its request numbering.
#[derive(Debug, Clone)]
pub struct DevicePoller {
    device_id: Arc<str>,
    origin: Arc<str>,
    unit: u8,
    proto: Proto,
    points: Vec<PointConfig>,
    blocks: Vec<Block>,
    next_tr_id: u16,
}

impl DevicePoller {
    /// The poller of `device`, whose register map is `model` (both validated).
    pub fn new(device: &DeviceConfig, model: &ModelConfig) -> DevicePoller {
        let proto = match device.transport {
            super::Transport::Tcp { .. } => Proto::Tcp,
            super::Transport::Rtu(_) => Proto::Rtu,
        };
        DevicePoller {
            device_id: Arc::from(device.device_id.as_str()),
            origin: Arc::from(format!("{} unit {}", device.transport.describe(), device.unit_id)),
            unit: device.unit_id,
            proto,
            points: model.points.clone(),
            blocks: plan(&model.points),
            next_tr_id: 1,
        }
    }

    /// The device id its readings carry.
    pub fn device_id(&self) -> &Arc<str> {
        &self.device_id
    }

    /// `tcp://host:port unit 1` or `rtu:/dev/ttyUSB0 unit 3`: the readings' origin.
    pub fn origin(&self) -> &Arc<str> {
        &self.origin
    }

    /// The read requests one poll makes, in order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The framing this device uses.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// Builds the request for `blocks()[block]` with the next transaction id.
    pub fn request(&mut self, block: usize) -> Result<Request, FrameError> {
        let b = self.blocks.get(block).ok_or_else(|| FrameError::Malformed(format!("no block {block}")))?;
        let tr_id = self.next_tr_id;
        self.next_tr_id = self.next_tr_id.wrapping_add(1);
        let frame = build_request(self.proto, self.unit, tr_id, b)?;
        Ok(Request { block, tr_id, frame })
    }

    /// Decodes `frame`, the response to `request`, into `out`: a reading per point, or a dead
    /// letter per point for an exception, a no-value marker or a non-finite value. Readings
    /// carry `polled_at` as their device time and `received_at` as their receive time.
    ///
    /// Errors: the frame is not the answer to `request` (nothing is added to `out`).
    pub fn response(
        &self,
        request: &Request,
        frame: &[u8],
        polled_at: Micros,
        received_at: Micros,
        out: &mut IngestBatch,
    ) -> Result<ResponseCounts, FrameError> {
        let block = self.blocks.get(request.block).ok_or_else(|| FrameError::Malformed("unknown block".into()))?;
        let response = parse_response(self.proto, self.unit, request.tr_id, block, frame)?;
        let raw: Arc<[u8]> = Arc::from(frame);
        let mut counts = ResponseCounts::default();
        if let Response::Exception(code) = response {
            let detail = format!(
                "Modbus exception 0x{code:02X} ({}) reading {} from unit {}",
                exception_name(code),
                block.describe(),
                self.unit
            );
            for &i in &block.points {
                out.dead_letters.push(self.dead_letter(
                    &self.points[i],
                    Reason::InvalidPayload,
                    detail.clone(),
                    received_at,
                    &raw,
                ));
            }
            counts.dead_letters = block.points.len();
            counts.exception = Some(code);
            return Ok(counts);
        }
        for &i in &block.points {
            let point = &self.points[i];
            let offset = usize::from(point.address.saturating_sub(block.start));
            let decoded = match &response {
                Response::Bits(bits) => bits.get(offset).map(|&b| decode_bit(point, b)),
                Response::Registers(words) => {
                    words.get(offset..offset + usize::from(point.data_type.width())).map(|w| decode_registers(point, w))
                }
                Response::Exception(_) => None,
            };
            let (reason, detail) = match decoded {
                Some(Decoded::Value(value)) => {
                    out.readings.push(RawReading {
                        device_id: Arc::clone(&self.device_id),
                        name: point.metric.clone(),
                        value: RawValue::Number(value),
                        unit: point.unit.clone(),
                        device_time: polled_at,
                        received_at,
                        source: Source::Modbus,
                        origin: Arc::clone(&self.origin),
                        raw: Arc::clone(&raw),
                        flags: Flags::NONE,
                    });
                    counts.readings += 1;
                    continue;
                }
                Some(Decoded::NoValue(what)) => (Reason::MissingValue, format!("no value: {what}")),
                Some(Decoded::NonFinite(what)) => (Reason::NonFiniteValue, format!("the registers hold {what}")),
                None => (Reason::InvalidPayload, "the point lies outside the response".to_owned()),
            };
            let detail = format!("{detail} ({} at {} {})", point.metric, point.function.as_str(), point.address);
            out.dead_letters.push(self.dead_letter(point, reason, detail, received_at, &raw));
            counts.dead_letters += 1;
        }
        Ok(counts)
    }

    fn dead_letter(
        &self,
        point: &PointConfig,
        reason: Reason,
        detail: String,
        at: Micros,
        raw: &Arc<[u8]>,
    ) -> DeadLetter {
        DeadLetter {
            received_at: at,
            source: Source::Modbus,
            origin: Arc::clone(&self.origin),
            device_id: Some(Arc::clone(&self.device_id)),
            source_name: Some(point.metric.clone()),
            reason,
            detail,
            payload: Arc::clone(raw),
        }
    }
}

#[cfg(test)]
#[path = "poller_tests.rs"]
mod tests;
