//! SQL attribution: `vitals` as analysts and the API query it is a view over the stored files
//! (`vitals_stored`) whose `patient_id`, `encounter_id`, `ward` and `bed` come from the **current**
//! association snapshot, by the reading's device and time — the same rule the timeline and FHIR
//! use — so the three agree on every reading's patient, including after a late transfer or a
//! cancelled admission. The stored columns (what a reader of the files alone sees) keep the
//! attribution known when each row was written; `status` and `flags` are as stored (a reading
//! written `unassociated` and attached later keeps that flag: it records what was known then).
//!
//! Functions registered: `patient_at(device_id, time)`, `encounter_at(…)`, `ward_at(…)`,
//! `bed_at(…)` (`Utf8View`, as the session reads the stored text columns; null when not
//! attached: unknown device, no association, or a conflict). They take the device id as `Utf8`
//! or `Utf8View`.
//!
//! Speed: the functions are `Stable` (one snapshot per call, no side effects), so DataFusion
//! pushes filters through the view and evaluates them inside the Parquet scan ([`tune`]): a
//! filter on a stored column (`metric = 'heart_rate'`) keeps rows before any attribution is
//! computed. A call resolves runs of one device's readings (the files are sorted by device)
//! against that device's timeline, fetched once per run; within a run the answer at a row holds
//! over an interval (or the gap between two), and the following rows inside it take it without
//! a lookup. The result is appended a run of equal answers at a time (`ViewColumn`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringViewArray, StringViewBuilder};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionConfig;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use wardstream_pipeline::Micros;
use wardstream_pipeline::association::{AssociationSnapshot, Attach, Attachment};
use wardstream_storage::QuerySession;

/// Where the UDFs read the snapshot (the service's hub, or one built from the log by the CLI).
pub type SnapshotSource = Arc<dyn Fn() -> Arc<AssociationSnapshot> + Send + Sync>;

/// The name of the stored vitals table once the view is in place.
pub const STORED_VITALS: &str = "vitals_stored";

/// Which attachment field a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Patient,
    Encounter,
    Ward,
    Bed,
}

struct AttributionUdf {
    name: &'static str,
    field: Field,
    signature: Signature,
    source: SnapshotSource,
}

impl std::fmt::Debug for AttributionUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttributionUdf").field("name", &self.name).finish()
    }
}

impl PartialEq for AttributionUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.source, &other.source)
    }
}
impl Eq for AttributionUdf {}
impl std::hash::Hash for AttributionUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for AttributionUdf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8View)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (Some(devices), Some(times)) = (arrays.first(), arrays.get(1)) else {
            return Err(DataFusionError::Plan(format!("{} takes (device_id, time)", self.name)));
        };
        let devices = arrow::compute::cast(devices, &DataType::Utf8View)?;
        let devices = devices.as_string_view_opt().ok_or_else(|| type_error(self.name, "device_id", "text"))?;
        let times = times
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| type_error(self.name, "time", "Timestamp(µs)"))?;
        let snapshot = (self.source)();
        let mut out = ViewColumn::new(devices.len(), self.field);
        let mut i = 0;
        while i < devices.len() {
            if devices.is_null(i) || times.is_null(i) {
                out.push(None)?;
                i += 1;
                continue;
            }
            let device = devices.value(i);
            let run_end = (i + 1..devices.len())
                .find(|&j| devices.is_null(j) || times.is_null(j) || !same_device(devices, i, j))
                .unwrap_or(devices.len());
            if run_end - i == 1 {
                out.push(attached(snapshot.attach(device, times.value(i))))?;
            } else {
                let run = DeviceRun::new(&snapshot, device);
                let times = &times.values()[i..run_end];
                let mut j = 0;
                while let Some(&t) = times.get(j) {
                    // The answer at `t` holds on [from, until): extend it over the rows after
                    // `t` that fall there (within a metric the rows are in time order).
                    let (attachment, from, until) = run.span(t);
                    let span = times[j + 1..].iter().take_while(|&&u| from <= u && until.is_none_or(|e| u < e)).count();
                    out.push_n(attachment, span + 1)?;
                    j += span + 1;
                }
            }
            i = run_end;
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()?) as ArrayRef))
    }
}

/// The function's result as a `Utf8View` column, appended a run at a time: consecutive rows
/// under one attachment (a device's readings within one association interval) become one
/// [`StringViewBuilder::try_append_value_n`], which writes the text once (into the view itself
/// when at most 12 bytes) and repeats its 16-byte view. Building the views by hand and passing
/// them to `StringViewArray::try_new` would validate every row's UTF-8 again (a third of the
/// function's time, measured); the builder's views are valid by construction.
struct ViewColumn<'s> {
    field: Field,
    out: StringViewBuilder,
    /// The attachment of the rows not yet appended, and how many they are.
    pending: Option<(Option<&'s Attachment>, usize)>,
}

impl<'s> ViewColumn<'s> {
    fn new(rows: usize, field: Field) -> ViewColumn<'s> {
        ViewColumn { field, out: StringViewBuilder::with_capacity(rows), pending: None }
    }

    fn push(&mut self, attachment: Option<&'s Attachment>) -> DfResult<()> {
        self.push_n(attachment, 1)
    }

    fn push_n(&mut self, attachment: Option<&'s Attachment>, rows: usize) -> DfResult<()> {
        if let Some((current, n)) = &mut self.pending {
            let same = match (*current, attachment) {
                (Some(a), Some(b)) => std::ptr::eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same {
                *n += rows;
                return Ok(());
            }
        }
        self.flush()?;
        self.pending = Some((attachment, rows));
        Ok(())
    }

    fn flush(&mut self) -> DfResult<()> {
        let Some((attachment, n)) = self.pending.take() else {
            return Ok(());
        };
        match attachment.and_then(|a| value(a, self.field)) {
            Some(text) => self.out.try_append_value_n(text, n)?,
            None => (0..n).for_each(|_| self.out.append_null()),
        }
        Ok(())
    }

    fn finish(mut self) -> DfResult<StringViewArray> {
        self.flush()?;
        Ok(self.out.finish())
    }
}

/// Whether rows `i` and `j` (both valid) hold the same device id: equal views are equal text
/// (inline text, or the same bytes of the same buffer); unequal views differ when the text is
/// inline (at most 12 bytes: the view holds all of it, zero-padded as Arrow writes it), else
/// the text decides. A wrong "different" (a writer that pads otherwise) would only cut a run in
/// two, each attributed the same way; "same" is never wrong.
fn same_device(devices: &StringViewArray, i: usize, j: usize) -> bool {
    let views = devices.views();
    let (Some(&a), Some(&b)) = (views.get(i), views.get(j)) else {
        return false;
    };
    if a == b {
        return true;
    }
    if (a as u32) <= 12 || (a as u32) != (b as u32) {
        return false;
    }
    devices.value(i) == devices.value(j)
}

/// A run of readings of one device (the files are sorted by device, then metric, then time):
/// the device's timeline is looked up once. Gives exactly [`AssociationSnapshot::attach`]'s
/// answer (the intervals do not overlap, so the one holding `t` is unique).
struct DeviceRun<'s> {
    timeline: Vec<(Micros, Option<Micros>, Attach<'s>)>,
}

impl<'s> DeviceRun<'s> {
    fn new(snapshot: &'s AssociationSnapshot, device: &str) -> DeviceRun<'s> {
        DeviceRun { timeline: snapshot.device_timeline(device) }
    }

    /// The attachment in force at `t` (the interval with `start <= t < end`; none in a gap)
    /// and the times `[from, until)` over which that answer holds: the interval, or the gap
    /// between the intervals around `t` (`until` none: to the end of time).
    fn span(&self, t: Micros) -> (Option<&'s Attachment>, Micros, Option<Micros>) {
        let next = self.timeline.partition_point(|&(start, _, _)| start <= t);
        let next_start = self.timeline.get(next).map(|&(start, _, _)| start);
        let Some(&(start, end, answer)) = next.checked_sub(1).and_then(|i| self.timeline.get(i)) else {
            return (None, Micros::MIN, next_start);
        };
        match end {
            Some(end) if t >= end => (None, end, next_start),
            _ => (attached(answer), start, end),
        }
    }
}

fn attached(answer: Attach<'_>) -> Option<&Attachment> {
    match answer {
        Attach::Attached(a) => Some(a),
        Attach::Conflict(_) | Attach::Unassociated | Attach::UnknownDevice => None,
    }
}

fn value(a: &Attachment, field: Field) -> Option<&str> {
    match field {
        Field::Patient => Some(&a.patient_id),
        Field::Encounter => a.encounter_id.as_deref(),
        Field::Ward => a.ward.as_deref(),
        Field::Bed => a.location.as_deref(),
    }
}

fn type_error(name: &str, arg: &str, want: &str) -> DataFusionError {
    DataFusionError::Plan(format!("{name}: {arg} must be {want}"))
}

/// Registers the functions and turns `vitals` into the attributed view over `vitals_stored`.
pub async fn register_attribution(session: &QuerySession, source: SnapshotSource) -> anyhow::Result<()> {
    let ctx = session.context();
    tune(ctx.state_ref().write().config_mut());
    let time = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let signature = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Utf8View, time.clone()]),
            TypeSignature::Exact(vec![DataType::Utf8, time]),
        ],
        Volatility::Stable,
    );
    for (name, field) in [
        ("patient_at", Field::Patient),
        ("encounter_at", Field::Encounter),
        ("ward_at", Field::Ward),
        ("bed_at", Field::Bed),
    ] {
        let udf = AttributionUdf { name, field, signature: signature.clone(), source: Arc::clone(&source) };
        ctx.register_udf(ScalarUDF::new_from_impl(udf));
    }
    ctx.deregister_table("vitals")?.ok_or_else(|| anyhow::anyhow!("the session has no vitals table"))?;
    session.register_vitals_as(STORED_VITALS)?;
    let columns =
        ctx.table(STORED_VITALS).await?.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "patient_id" => "patient_at(device_id, time) AS patient_id".to_owned(),
            "encounter_id" => "encounter_at(device_id, time) AS encounter_id".to_owned(),
            "ward" => "ward_at(device_id, time) AS ward".to_owned(),
            "bed" => "bed_at(device_id, time) AS bed".to_owned(),
            other => format!("\"{other}\""),
        })
        .collect();
    let view = ctx.sql(&format!("SELECT {} FROM {STORED_VITALS}", select.join(", "))).await?.into_view();
    ctx.register_table("vitals", view)?;
    Ok(())
}

/// The session settings that make the `vitals` view fast (every session that serves it uses
/// them: [`register_attribution`] sets them, the API's per-statement sessions call this too):
///
/// - filters are evaluated inside the Parquet scan (`pushdown_filters`, cheapest first:
///   `reorder_filters`), so `metric = 'heart_rate'` decodes the other columns, and runs the
///   attribution functions, only for the rows it keeps;
/// - no statistics are collected at planning (`collect_statistics`): with them DataFusion derives
///   the files' sort order and then will not split a large file across partitions, so one core
///   scans most of the rows while the other idles.
pub fn tune(config: &mut SessionConfig) {
    let options = config.options_mut();
    options.execution.parquet.pushdown_filters = true;
    options.execution.parquet.reorder_filters = true;
    options.execution.collect_statistics = false;
}
