//! The WAL record body of an [`IngestBatch`]: a compact, versioned binary encoding that keeps
//! every field of every [`RawReading`] and [`DeadLetter`] exactly (raw bytes, origin, flags,
//! source, NaN payloads included).
//!
//! Layout (version 1; varints are LEB128, times zigzag varints, strings UTF-8 with a varint
//! length):
//!
//! ```text
//! u8 version = 1
//! strings:   count, then each string                 device ids, names, units, origins,
//!                                                    source, reason and flag names: interned
//! blobs:     count, then each byte string            raw payloads, shared by a message's readings
//! flags:     count, then a string index each         bit i of a flag mask is that flag
//! readings:  count, then each: device·str, name·str, value, unit·(0 | 1+str), device_time,
//!            received_at, source·str, origin·str, raw·blob, flag mask
//!            value = 0 f64-LE-bits | 1 text | 2 false | 3 true | 4 data (text as sent)
//! dead:      count, then each: received_at, source·str, origin·str, device·(0 | 1+str),
//!            source_name·(0 | 1+str), reason·str, detail (inline text), payload·blob
//! ```
//!
//! Design: sources, reasons and flags are written by name (interned, so a byte per use), not
//! by enum position, so reordering or extending those enums in the pipeline never makes old
//! records decode into the wrong variant; an unknown name is a [`CodecError`]. Interning keeps
//! a message's readings from repeating the device id, origin and payload; decoding restores
//! the sharing (one `Arc` per distinct value). [`decode_batch`] is total: any bytes give a
//! batch or an error, never a panic, and never an allocation larger than the input.

use std::collections::HashMap;
use std::sync::Arc;

use wardstream_pipeline::{DeadLetter, Flag, Flags, IngestBatch, RawReading, RawValue, Reason, Source};

pub use super::codec_io::CodecError;
use super::codec_io::{Reader, put_bytes, put_varint, put_zigzag};

/// The version byte this module writes and reads.
pub const BATCH_CODEC_VERSION: u8 = 1;

/// Sources the decoder knows by name (`Source` has no list of its own).
const SOURCES: [Source; 4] = [Source::Mqtt, Source::Serial, Source::Modbus, Source::Hl7];

/// Interns values by content, numbering them in first-seen order.
struct Interner<'a, T: ?Sized + Eq + std::hash::Hash> {
    index: HashMap<&'a T, u64>,
    items: Vec<&'a T>,
}

impl<'a, T: ?Sized + Eq + std::hash::Hash> Interner<'a, T> {
    fn new() -> Self {
        Interner { index: HashMap::new(), items: Vec::new() }
    }
    fn id(&mut self, value: &'a T) -> u64 {
        let next = self.items.len() as u64;
        *self.index.entry(value).or_insert_with(|| {
            self.items.push(value);
            next
        })
    }
}

/// 0 for `None`, else 1 + the string's index.
fn opt_id<'a>(strings: &mut Interner<'a, str>, value: Option<&'a str>) -> u64 {
    value.map_or(0, |v| 1 + strings.id(v))
}

/// Encodes a batch (infallible; every value has an encoding).
pub fn encode_batch(batch: &IngestBatch) -> Vec<u8> {
    let mut strings: Interner<'_, str> = Interner::new();
    let mut blobs: Interner<'_, [u8]> = Interner::new();
    let mut body = Vec::with_capacity(64 + batch.readings.len() * 24);
    put_varint(&mut body, batch.readings.len() as u64);
    for r in &batch.readings {
        put_varint(&mut body, strings.id(&r.device_id));
        put_varint(&mut body, strings.id(&r.name));
        match &r.value {
            RawValue::Number(v) => {
                body.push(0);
                body.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            RawValue::Text(t) => {
                body.push(1);
                put_bytes(&mut body, t.as_bytes());
            }
            RawValue::Bool(b) => body.push(2 + u8::from(*b)),
            RawValue::Data(d) => {
                body.push(4);
                put_bytes(&mut body, d.as_bytes());
            }
        }
        let unit = r.unit.as_deref().map_or(0, |u| 1 + strings.id(u));
        put_varint(&mut body, unit);
        put_zigzag(&mut body, r.device_time);
        put_zigzag(&mut body, r.received_at);
        put_varint(&mut body, strings.id(r.source.as_str()));
        put_varint(&mut body, strings.id(&r.origin));
        put_varint(&mut body, blobs.id(&r.raw));
        let mask =
            Flag::ALL.iter().enumerate().filter(|(_, f)| r.flags.contains(**f)).fold(0u64, |m, (i, _)| m | 1 << i);
        put_varint(&mut body, mask);
    }
    put_varint(&mut body, batch.dead_letters.len() as u64);
    for d in &batch.dead_letters {
        put_zigzag(&mut body, d.received_at);
        put_varint(&mut body, strings.id(d.source.as_str()));
        put_varint(&mut body, strings.id(&d.origin));
        put_varint(&mut body, opt_id(&mut strings, d.device_id.as_deref()));
        put_varint(&mut body, opt_id(&mut strings, d.source_name.as_deref()));
        put_varint(&mut body, strings.id(d.reason.as_str()));
        put_bytes(&mut body, d.detail.as_bytes());
        put_varint(&mut body, blobs.id(&d.payload));
    }
    let any_flags = batch.readings.iter().any(|r| !r.flags.is_empty());
    let flag_ids: Vec<u64> =
        if any_flags { Flag::ALL.iter().map(|f| strings.id(f.as_str())).collect() } else { Vec::new() };
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(BATCH_CODEC_VERSION);
    put_varint(&mut out, strings.items.len() as u64);
    for s in &strings.items {
        put_bytes(&mut out, s.as_bytes());
    }
    put_varint(&mut out, blobs.items.len() as u64);
    for b in &blobs.items {
        put_bytes(&mut out, b);
    }
    put_varint(&mut out, flag_ids.len() as u64);
    for id in flag_ids {
        put_varint(&mut out, id);
    }
    out.extend_from_slice(&body);
    out
}

/// The tables at the head of a record.
struct Tables {
    strings: Vec<Arc<str>>,
    blobs: Vec<Arc<[u8]>>,
    flags: Vec<Flag>,
}

impl Tables {
    fn string(&self, r: &mut Reader<'_>) -> Result<Arc<str>, CodecError> {
        let i = r.varint()?;
        let len = self.strings.len();
        usize::try_from(i).ok().and_then(|i| self.strings.get(i)).cloned().ok_or(CodecError::BadIndex {
            what: "string",
            index: i,
            len,
        })
    }
    fn opt_string(&self, r: &mut Reader<'_>) -> Result<Option<Arc<str>>, CodecError> {
        let i = r.varint()?;
        let len = self.strings.len();
        match i.checked_sub(1) {
            None => Ok(None),
            Some(i) => usize::try_from(i)
                .ok()
                .and_then(|i| self.strings.get(i))
                .cloned()
                .map(Some)
                .ok_or(CodecError::BadIndex { what: "string", index: i, len }),
        }
    }
    fn blob(&self, r: &mut Reader<'_>) -> Result<Arc<[u8]>, CodecError> {
        let i = r.varint()?;
        let len = self.blobs.len();
        usize::try_from(i).ok().and_then(|i| self.blobs.get(i)).cloned().ok_or(CodecError::BadIndex {
            what: "blob",
            index: i,
            len,
        })
    }
    fn source(&self, r: &mut Reader<'_>) -> Result<Source, CodecError> {
        let name = self.string(r)?;
        SOURCES
            .into_iter()
            .find(|s| s.as_str() == &*name)
            .ok_or(CodecError::UnknownName { what: "source", name: name.to_string() })
    }
    fn reason(&self, r: &mut Reader<'_>) -> Result<Reason, CodecError> {
        let name = self.string(r)?;
        Reason::ALL
            .into_iter()
            .find(|s| s.as_str() == &*name)
            .ok_or(CodecError::UnknownName { what: "reason", name: name.to_string() })
    }
    fn flags(&self, r: &mut Reader<'_>) -> Result<Flags, CodecError> {
        let mask = r.varint()?;
        if self.flags.len() < 64 && mask >> self.flags.len() != 0 {
            return Err(CodecError::UnknownFlagBit(mask));
        }
        let mut flags = Flags::NONE;
        self.flags.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).for_each(|(_, f)| flags.insert(*f));
        Ok(flags)
    }
}

/// Decodes what [`encode_batch`] wrote. Total: any input gives a batch or a [`CodecError`].
pub fn decode_batch(bytes: &[u8]) -> Result<IngestBatch, CodecError> {
    let mut r = Reader::new(bytes);
    let version = r.u8().map_err(|_| CodecError::Empty)?;
    if version != BATCH_CODEC_VERSION {
        return Err(CodecError::UnsupportedVersion(version));
    }
    let n = r.count()?;
    let mut strings = Vec::with_capacity(n);
    for _ in 0..n {
        strings.push(Arc::from(r.str()?));
    }
    let n = r.count()?;
    let mut blobs = Vec::with_capacity(n);
    for _ in 0..n {
        blobs.push(Arc::from(r.bytes()?));
    }
    let mut tables = Tables { strings, blobs, flags: Vec::new() };
    let n = r.count()?;
    for _ in 0..n {
        let name = tables.string(&mut r)?;
        let flag = Flag::ALL.into_iter().find(|f| f.as_str() == &*name);
        tables.flags.push(flag.ok_or(CodecError::UnknownName { what: "flag", name: name.to_string() })?);
    }
    let n = r.count()?;
    let mut readings = Vec::with_capacity(n);
    for _ in 0..n {
        let device_id = tables.string(&mut r)?;
        let name = tables.string(&mut r)?.to_string();
        let value = match r.u8()? {
            0 => RawValue::Number(r.f64()?),
            1 => RawValue::Text(r.str()?.to_owned()),
            2 => RawValue::Bool(false),
            3 => RawValue::Bool(true),
            4 => RawValue::Data(r.str()?.to_owned()),
            tag => return Err(CodecError::UnknownValueTag(tag)),
        };
        let unit = tables.opt_string(&mut r)?.map(|u| u.to_string());
        let (device_time, received_at) = (r.zigzag()?, r.zigzag()?);
        let source = tables.source(&mut r)?;
        let origin = tables.string(&mut r)?;
        let raw = tables.blob(&mut r)?;
        let flags = tables.flags(&mut r)?;
        readings.push(RawReading {
            device_id,
            name,
            value,
            unit,
            device_time,
            received_at,
            source,
            origin,
            raw,
            flags,
        });
    }
    let n = r.count()?;
    let mut dead_letters = Vec::with_capacity(n);
    for _ in 0..n {
        let received_at = r.zigzag()?;
        let source = tables.source(&mut r)?;
        let origin = tables.string(&mut r)?;
        let device_id = tables.opt_string(&mut r)?;
        let source_name = tables.opt_string(&mut r)?.map(|s| s.to_string());
        let reason = tables.reason(&mut r)?;
        let detail = r.str()?.to_owned();
        let payload = tables.blob(&mut r)?;
        dead_letters.push(DeadLetter { received_at, source, origin, device_id, source_name, reason, detail, payload });
    }
    match r.remaining() {
        0 => Ok(IngestBatch { readings, dead_letters }),
        n => Err(CodecError::TrailingBytes(n)),
    }
}
