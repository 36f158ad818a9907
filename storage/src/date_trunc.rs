//! `date_trunc` for the query sessions: DataFusion's function with a fast path for timestamps in
//! UTC (or another fixed offset), which every wardstream timestamp column is.
//!
//! Why: DataFusion 55 truncates with integer arithmetic only when the timestamp has no time
//! zone; a `Timestamp(µs, "UTC")` goes through a per-row chrono conversion, about 60 ns a row
//! (6.5 s of the 100-million-row `GROUP BY date_trunc('hour', time)` in BENCHMARKS.md §4, against
//! 0.7 s for `date_bin`). Upstream issue: apache/datafusion#25325 ("Optimize date_trunc on
//! fixed-offset timezones"). In a fixed offset an hour, a day, a minute, … have a fixed length,
//! so `trunc(t) = floor((t + offset) / unit) · unit − offset`, exactly what the chrono path
//! computes.
//!
//! How: [`FastDateTrunc`] wraps DataFusion's own `date_trunc` and delegates everything to it
//! (signature, return type, ordering, documentation, every other case: named zones with DST,
//! week and coarser units, other time units, scalars) except microsecond timestamp arrays in a
//! fixed offset truncated to a unit of at most a day. [`register`] installs it under the
//! built-in's name in a session.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, FieldRef, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Registers [`FastDateTrunc`] as `date_trunc` (and its alias `datetrunc`) in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(FastDateTrunc::new()));
}

/// DataFusion's `date_trunc` with integer arithmetic for fixed-offset microsecond timestamps.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FastDateTrunc {
    inner: Arc<ScalarUDF>,
}

impl Default for FastDateTrunc {
    fn default() -> Self {
        Self::new()
    }
}

impl FastDateTrunc {
    /// Wraps the session's built-in `date_trunc`.
    pub fn new() -> FastDateTrunc {
        FastDateTrunc { inner: datafusion::functions::datetime::date_trunc() }
    }
}

impl ScalarUDFImpl for FastDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(truncated) = fast_path(&args.args) {
            return Ok(ColumnarValue::Array(truncated));
        }
        self.inner.invoke_with_args(args)
    }
}

/// The truncated array when the arguments are a unit of at most a day and a microsecond
/// timestamp array in a fixed offset, and no value overflows; `None` sends the call to the
/// built-in.
fn fast_path(args: &[ColumnarValue]) -> Option<ArrayRef> {
    let [ColumnarValue::Scalar(unit), ColumnarValue::Array(times)] = args else {
        return None;
    };
    let unit = match unit {
        ScalarValue::Utf8(Some(u)) | ScalarValue::Utf8View(Some(u)) | ScalarValue::LargeUtf8(Some(u)) => {
            unit_micros(u)?
        }
        _ => return None,
    };
    let DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) = times.data_type() else {
        return None;
    };
    let offset = fixed_offset_micros(tz)?;
    let times = times.as_primitive_opt::<TimestampMicrosecondType>()?;
    let truncated = times
        .try_unary::<_, TimestampMicrosecondType, ()>(|t| {
            let local = t.checked_add(offset).ok_or(())?;
            local.div_euclid(unit).checked_mul(unit).and_then(|l| l.checked_sub(offset)).ok_or(())
        })
        .ok()?
        .with_timezone(Arc::clone(tz));
    Some(Arc::new(truncated) as ArrayRef)
}

/// The length of a truncation unit of fixed length (a day at most), as DataFusion names them.
fn unit_micros(unit: &str) -> Option<i64> {
    match unit.to_ascii_lowercase().as_str() {
        "microsecond" => Some(1),
        "millisecond" => Some(1_000),
        "second" => Some(MICROS_PER_SECOND),
        "minute" => Some(60 * MICROS_PER_SECOND),
        "hour" => Some(3_600 * MICROS_PER_SECOND),
        "day" => Some(86_400 * MICROS_PER_SECOND),
        _ => None,
    }
}

/// The offset of a time zone that has one offset for all time: `UTC` (and its spellings) or
/// `±HH`, `±HHMM`, `±HH:MM` as Arrow writes fixed offsets. Named zones (with DST) give `None`.
fn fixed_offset_micros(tz: &str) -> Option<i64> {
    if matches!(tz, "UTC" | "utc" | "Z" | "Etc/UTC" | "GMT" | "Etc/GMT") {
        return Some(0);
    }
    let (sign, rest) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) || rest.len() > 5 {
        return None;
    }
    let hours: i64 = digits.get(0..2)?.parse().ok()?;
    let minutes: i64 = digits.get(2..).filter(|m| !m.is_empty()).map_or(Some(0), |m| m.parse().ok())?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3_600 + minutes * 60) * MICROS_PER_SECOND)
}

#[cfg(test)]
#[path = "date_trunc_tests.rs"]
mod tests;
