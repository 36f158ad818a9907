//! The fast path of [`pack_to_batch`](super::pack_to_batch): scan the pack once with
//! [`Scanner`], resolve each record's base fields on the fly and write its reading (or dead
//! letter) straight into the batch, with no intermediate record vector and one reused buffer
//! for the resolved name (`bn` + `n`).
//!
//! It gives up (`None`) whenever the result is not a plain batch it can build exactly as the
//! reference does: the scanner bailed (unusual or invalid JSON), a pack-level rule failed
//! (`bver`, must-understand labels), or, under [`IdentityPolicy::Enforce`], a record names
//! another device than the topic. The caller then runs the serde-based reference path on the
//! same payload, which yields the rejection with its exact message. Record-level rejections
//! (bad name, no value, bad time, unknown device or metric) are handled here, through the same
//! [`Context`] code as the reference.

use std::borrow::Cow;

use wardstream_pipeline::{IngestBatch, Micros};

use super::batch::{Context, Devices};
use super::device::{DeviceIdRule, split_name, topic_level};
use super::error::{RecordError, RecordErrorKind, SUPPORTED_VERSION};
use super::identity::{IdentityPolicy, same_device};
use super::resolve::{Record, Value, is_name_byte, is_valid_name, resolve_time};
use super::scan::{Bail, ScannedRecord, Scanner};

/// The batch of one message, or `None` when the reference path must decide.
pub(super) fn pack_to_batch(
    payload: &[u8],
    ctx: &Context<'_>,
    rule: &DeviceIdRule,
    policy: IdentityPolicy,
) -> Option<IngestBatch> {
    build(payload, ctx, rule, policy).ok()
}

/// The base fields in force (as the reference's `Base`, strings borrowed from the payload).
#[derive(Default)]
struct Base<'a> {
    name: Option<&'a str>,
    /// `is_valid_name(name)`, computed once per base name.
    name_is_valid: bool,
    time: Option<f64>,
    unit: Option<&'a str>,
    value: Option<f64>,
    sum: Option<f64>,
}

fn build(payload: &[u8], ctx: &Context<'_>, rule: &DeviceIdRule, policy: IdentityPolicy) -> Result<IngestBatch, Bail> {
    let mut scanner = Scanner::new(payload)?;
    let mut batch = IngestBatch::default();
    // A monitor's record (`{"n":"HR","u":"beat/min","t":0,"v":72.5}`) takes about 45 bytes.
    batch.readings.reserve(payload.len() / 40 + 1);
    let mut devices = Devices::default();
    let mut base = Base::default();
    let mut version: Option<u64> = None;
    let mut name = String::new();
    let topic_device = (policy == IdentityPolicy::Enforce).then(|| topic_level(ctx.topic, rule.topic_level));
    let mut index = 0;
    let mut r = ScannedRecord::default();
    while scanner.next_record(&mut r)? {
        if let Some(v) = r.bver {
            if v > SUPPORTED_VERSION || v == 0 || version.is_some_and(|first| first != v) {
                return Err(Bail);
            }
            version = Some(v);
        }
        if let Some(item) = resolve(&mut base, index, &r, &mut name, ctx.now) {
            if let Some(topic_device) = topic_device {
                let item_name = match &item {
                    Ok(record) => &*record.name,
                    Err(error) => error.name.as_deref().unwrap_or_default(),
                };
                if (item.is_ok() || is_valid_name(item_name))
                    && let Some(claimed) = split_name(item_name).0
                    && !topic_device.is_some_and(|t| same_device(claimed, t))
                {
                    return Err(Bail);
                }
            }
            match item {
                Ok(record) => ctx.record(record, rule, &mut devices, &mut batch),
                Err(error) => ctx.record_error(error, rule, &mut devices, &mut batch),
            }
        }
        index += 1;
    }
    Ok(batch)
}

/// Applies a record's base fields and, unless it has only base fields, resolves it (the
/// name into the reused `name` buffer): the same rules, in the same order, as the reference's
/// `Base::resolve`.
fn resolve<'x, 'a: 'x>(
    base: &mut Base<'a>,
    index: usize,
    r: &ScannedRecord<'a>,
    name: &'x mut String,
    now: Micros,
) -> Option<Result<Record<'x>, RecordError>> {
    if let Some(bn) = r.bn {
        base.name = Some(bn);
        base.name_is_valid = is_valid_name(bn);
    }
    base.time = r.bt.or(base.time);
    if r.bu.is_some() {
        base.unit = r.bu;
    }
    base.value = r.bv.or(base.value);
    base.sum = r.bs.or(base.sum);
    if r.is_base_only() {
        return None;
    }

    name.clear();
    name.push_str(base.name.unwrap_or_default());
    name.push_str(r.n.unwrap_or_default());
    let resolved = (|| {
        // RFC 8428 §4.5.1 on `bn` + `n`, the base name checked once when it was set.
        let valid = match base.name {
            Some(bn) if !bn.is_empty() => base.name_is_valid && r.n.unwrap_or_default().bytes().all(is_name_byte),
            _ => is_valid_name(name),
        };
        if !valid {
            return Err(RecordErrorKind::InvalidName(name.clone()));
        }
        let sum = match (base.sum, r.s) {
            (None, None) => None,
            (b, s) => Some(b.unwrap_or(0.0) + s.unwrap_or(0.0)),
        };
        let value = match (r.v, r.vs, r.vb, r.vd) {
            (Some(v), None, None, None) => Value::Number(base.value.unwrap_or(0.0) + v),
            (None, Some(s), None, None) => Value::Text(Cow::Borrowed(s)),
            (None, None, Some(b), None) => Value::Bool(b),
            (None, None, None, Some(d)) => Value::Data(Cow::Borrowed(d)),
            (None, None, None, None) if sum.is_some() => return Err(RecordErrorKind::OnlySum),
            (None, None, None, None) => return Err(RecordErrorKind::MissingValue),
            _ => return Err(RecordErrorKind::MultipleValues),
        };
        let seconds = base.time.unwrap_or(0.0) + r.t.unwrap_or(0.0);
        let time = resolve_time(seconds, now).ok_or(RecordErrorKind::InvalidTime { seconds })?;
        Ok((value, sum, time))
    })();
    Some(match resolved {
        Ok((value, sum, time)) => {
            let unit = r.u.or(base.unit).map(Cow::Borrowed);
            Ok(Record { index, name: Cow::Borrowed(name.as_str()), unit, value, sum, time, update_time: r.ut })
        }
        Err(kind) => Err(RecordError { index, name: Some(name.clone()), kind }),
    })
}
