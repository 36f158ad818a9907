//! The de-identified views, built with the DataFrame API over the identified tables of a
//! session: the pseudonym and time-shift functions are embedded in the views' plans and never
//! registered by name, so SQL cannot call them (no guessing a pseudonym from a known id).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::{Column, DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use wardstream_storage::PARTITION_COLUMN;

use super::Deidentifier;

/// Columns of `vitals` replaced by pseudonyms.
pub const PSEUDONYMISED: [&str; 2] = ["patient_id", "encounter_id"];
/// Columns of `vitals` shifted when times are shifted.
pub const SHIFTED: [&str; 3] = ["time", "device_time", "received_at"];
/// Free-text columns of `dead_letters`, dropped.
pub const DROPPED_DEAD_LETTER_COLUMNS: [&str; 2] = ["detail", "payload"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Patient,
    Encounter,
}

struct PseudonymUdf {
    kind: Kind,
    deid: Deidentifier,
    signature: Signature,
}

impl std::fmt::Debug for PseudonymUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PseudonymUdf").field("kind", &self.kind).finish()
    }
}
impl PartialEq for PseudonymUdf {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.deid.key, &other.deid.key)
    }
}
impl Eq for PseudonymUdf {}
impl std::hash::Hash for PseudonymUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

impl ScalarUDFImpl for PseudonymUdf {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Patient => "deid_patient",
            Kind::Encounter => "deid_encounter",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(ids) = arrays.first() else {
            return Err(DataFusionError::Plan(format!("{} takes one argument", self.name())));
        };
        let ids = crate::columns::strings(ids).map_err(|e| DataFusionError::Execution(e.to_string()))?;
        let mut out = StringBuilder::with_capacity(ids.len(), ids.len() * 24);
        for i in 0..ids.len() {
            if ids.is_null(i) {
                out.append_null();
            } else {
                out.append_value(match self.kind {
                    Kind::Patient => self.deid.patient_pseudonym(ids.value(i)),
                    Kind::Encounter => self.deid.encounter_pseudonym(ids.value(i)),
                });
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

struct ShiftUdf {
    deid: Deidentifier,
    signature: Signature,
}

impl std::fmt::Debug for ShiftUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShiftUdf")
    }
}
impl PartialEq for ShiftUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.deid.key, &other.deid.key)
    }
}
impl Eq for ShiftUdf {}
impl std::hash::Hash for ShiftUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "deid_shift".hash(state);
    }
}

fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl ScalarUDFImpl for ShiftUdf {
    fn name(&self) -> &str {
        "deid_shift"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(timestamp_utc())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (Some(patients), Some(times)) = (arrays.first(), arrays.get(1)) else {
            return Err(DataFusionError::Plan("deid_shift takes (patient_id, time)".into()));
        };
        let patients = crate::columns::strings(patients).map_err(|e| DataFusionError::Execution(e.to_string()))?;
        let times = arrow::compute::cast(times, &timestamp_utc())?;
        let times = times
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| DataFusionError::Execution("deid_shift: time is not a timestamp".into()))?;
        let shifted: TimestampMicrosecondArray = (0..times.len())
            .map(|i| {
                if times.is_null(i) {
                    None
                } else if patients.is_null(i) {
                    Some(times.value(i))
                } else {
                    Some(times.value(i).saturating_add(self.deid.shift_micros(patients.value(i))))
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(shifted.with_timezone("UTC")) as ArrayRef))
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::from_name(name))
}

/// The de-identified `vitals`: over the session's (identified, attributed) `vitals`.
pub async fn vitals_view(ctx: &SessionContext, deid: &Deidentifier) -> DfResult<Arc<dyn TableProvider>> {
    let patient = ScalarUDF::new_from_impl(PseudonymUdf {
        kind: Kind::Patient,
        deid: deid.clone(),
        signature: Signature::string(1, Volatility::Immutable),
    });
    let encounter = ScalarUDF::new_from_impl(PseudonymUdf {
        kind: Kind::Encounter,
        deid: deid.clone(),
        signature: Signature::string(1, Volatility::Immutable),
    });
    let shift =
        ScalarUDF::new_from_impl(ShiftUdf { deid: deid.clone(), signature: Signature::any(2, Volatility::Immutable) });
    let frame = ctx.table("vitals").await?;
    let mut select = Vec::new();
    for field in frame.schema().fields() {
        let name = field.name().as_str();
        let expr = match name {
            "patient_id" => patient.call(vec![column(name)]).alias(name),
            "encounter_id" => encounter.call(vec![column(name)]).alias(name),
            n if deid.shifts_times() && SHIFTED.contains(&n) => {
                shift.call(vec![column("patient_id"), column(name)]).alias(name)
            }
            n if deid.shifts_times() && n == PARTITION_COLUMN => continue,
            _ => column(name),
        };
        select.push(expr);
    }
    Ok(frame.select(select)?.into_view())
}

/// The de-identified `dead_letters`: without its free-text columns.
pub async fn dead_letters_view(ctx: &SessionContext) -> DfResult<Arc<dyn TableProvider>> {
    let frame = ctx.table("dead_letters").await?;
    let select: Vec<Expr> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !DROPPED_DEAD_LETTER_COLUMNS.contains(n))
        .map(column)
        .collect();
    Ok(frame.select(select)?.into_view())
}
