//! SQL attribution: `vitals` as analysts and the API query it is a view over the stored files
//! (`vitals_stored`) whose `patient_id`, `encounter_id`, `ward` and `bed` come from the **current**
//! association snapshot, by the reading's device and time — the same rule the timeline and FHIR
//! use — so the three agree on every reading's patient, including after a late transfer or a
//! cancelled admission. The stored columns (what a reader of the files alone sees) keep the
//! attribution known when each row was written; `status` and `flags` are as stored (a reading
//! written `unassociated` and attached later keeps that flag: it records what was known then).
//!
//! Functions registered: `patient_at(device_id, time)`, `encounter_at(…)`, `ward_at(…)`,
//! `bed_at(…)` (Utf8, null when not attached: unknown device, no association, or a conflict).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
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
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (Some(devices), Some(times)) = (arrays.first(), arrays.get(1)) else {
            return Err(DataFusionError::Plan(format!("{} takes (device_id, time)", self.name)));
        };
        let devices =
            crate::columns::strings(devices).map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.name)))?;
        let times = times
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| type_error(self.name, "time", "Timestamp(µs)"))?;
        let snapshot = (self.source)();
        let mut out = StringBuilder::with_capacity(devices.len(), devices.len() * 8);
        for i in 0..devices.len() {
            if devices.is_null(i) || times.is_null(i) {
                out.append_null();
                continue;
            }
            match snapshot.attach(devices.value(i), times.value(i)) {
                Attach::Attached(a) => match value(a, self.field) {
                    Some(v) => out.append_value(v),
                    None => out.append_null(),
                },
                _ => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
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
    let signature = Signature::exact(
        vec![DataType::Utf8, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))],
        Volatility::Volatile,
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
    let stored = ctx.deregister_table("vitals")?.ok_or_else(|| anyhow::anyhow!("the session has no vitals table"))?;
    ctx.register_table(STORED_VITALS, stored)?;
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
