//! Conversion of domain rows into Arrow [`RecordBatch`]es of the [`schema`](crate::schema):
//! [`vitals_batch`] for [`Observation`]s and [`dead_letters_batch`] for [`DeadLetter`]s.
//!
//! Design: one pass per column over the rows (column at a time). Fixed-width columns are
//! collected into a `Vec` of exact capacity and handed to Arrow without copying; string and
//! binary columns first sum their lengths so their builders allocate once. Nothing is
//! allocated per row. Both functions take any exact-size iterator of references, so the
//! writer can pass a sorted view of its buffer without moving or cloning rows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Float64Array, Int32Array, ListBuilder, RecordBatch, StringBuilder,
    TimestampMicrosecondArray,
};
use wardstream_pipeline::{DeadLetter, Observation};

use crate::error::Result;
use crate::schema::{TIME_ZONE, dead_letters_schema, vitals_schema};

/// Builds a `vitals` batch from observations, in the order given.
pub fn vitals_batch<'a, I>(rows: I) -> Result<RecordBatch>
where
    I: IntoIterator<Item = &'a Observation>,
    I::IntoIter: ExactSizeIterator,
{
    let rows: Vec<&Observation> = rows.into_iter().collect();
    let columns: Vec<ArrayRef> = vec![
        timestamps(&rows, |o| o.time),
        timestamps(&rows, |o| o.device_time),
        timestamps(&rows, |o| o.received_at),
        strings(&rows, |o| Some(&*o.device_id)),
        strings(&rows, |o| Some(o.metric.name.as_str())),
        Arc::new(Int32Array::from(rows.iter().map(|o| o.metric.mdc_code).collect::<Vec<i32>>())),
        strings(&rows, |o| o.metric.loinc.as_deref()),
        floats(&rows, |o| o.value),
        strings(&rows, |o| Some(o.metric.unit.as_str())),
        strings(&rows, |o| Some(o.source_name.as_str())),
        source_values(&rows),
        strings(&rows, |o| o.source_unit.as_deref()),
        strings(&rows, |o| Some(o.status().as_str())),
        flag_lists(&rows),
        strings(&rows, |o| o.patient_id.as_deref()),
        strings(&rows, |o| o.encounter_id.as_deref()),
        strings(&rows, |o| o.ward.as_deref()),
        strings(&rows, |o| o.bed.as_deref()),
        strings(&rows, |o| Some(o.source.as_str())),
    ];
    Ok(RecordBatch::try_new(vitals_schema(), columns)?)
}

/// The `flags` column: each observation's flag names, most severe first.
fn flag_lists(rows: &[&Observation]) -> ArrayRef {
    let mut list = ListBuilder::with_capacity(StringBuilder::new(), rows.len());
    for o in rows {
        for flag in o.flags.iter() {
            list.values().append_value(flag.as_str());
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

/// Builds a `dead_letters` batch from dead letters, in the order given.
pub fn dead_letters_batch<'a, I>(rows: I) -> Result<RecordBatch>
where
    I: IntoIterator<Item = &'a DeadLetter>,
    I::IntoIter: ExactSizeIterator,
{
    let rows: Vec<&DeadLetter> = rows.into_iter().collect();
    let payload_bytes = rows.iter().map(|d| d.payload.len()).sum();
    let mut payload = BinaryBuilder::with_capacity(rows.len(), payload_bytes);
    for d in &rows {
        payload.append_value(&d.payload);
    }
    let columns: Vec<ArrayRef> = vec![
        timestamps(&rows, |d| d.received_at),
        strings(&rows, |d| Some(d.source.as_str())),
        strings(&rows, |d| Some(&*d.origin)),
        strings(&rows, |d| d.device_id.as_deref()),
        strings(&rows, |d| d.source_name.as_deref()),
        strings(&rows, |d| Some(d.reason.as_str())),
        strings(&rows, |d| Some(d.detail.as_str())),
        Arc::new(payload.finish()),
    ];
    Ok(RecordBatch::try_new(dead_letters_schema(), columns)?)
}

/// A `Timestamp(µs, UTC)` column; the `Vec` becomes the Arrow buffer without a copy.
fn timestamps<T>(rows: &[&T], get: impl Fn(&T) -> i64) -> ArrayRef {
    let values: Vec<i64> = rows.iter().map(|r| get(r)).collect();
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone(TIME_ZONE))
}

/// A non-null `Float64` column.
fn floats<T>(rows: &[&T], get: impl Fn(&T) -> f64) -> ArrayRef {
    let values: Vec<f64> = rows.iter().map(|r| get(r)).collect();
    Arc::new(Float64Array::from(values))
}

/// The `source_value` column: null where the value as sent is bit for bit the stored `value`
/// (no conversion changed it), so the common case costs a run in the validity bitmap instead of
/// a second copy of every value (0.24 bytes a reading on BENCHMARKS.md's data set).
fn source_values(rows: &[&Observation]) -> ArrayRef {
    let values = rows.iter().map(|o| (o.source_value.to_bits() != o.value.to_bits()).then_some(o.source_value));
    Arc::new(values.collect::<Float64Array>())
}

/// A `Utf8` column; `None` is null. The validity buffer is only materialised by Arrow when a
/// null is actually appended.
fn strings<'r, T: 'r>(rows: &[&'r T], get: impl Fn(&'r T) -> Option<&'r str>) -> ArrayRef {
    let bytes = rows.iter().map(|r| get(r).map_or(0, str::len)).sum();
    let mut builder = StringBuilder::with_capacity(rows.len(), bytes);
    for r in rows {
        builder.append_option(get(r));
    }
    Arc::new(builder.finish())
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use wardstream_pipeline::{Catalogue, Flag, Flags, Reason, Source};

    use super::*;

    fn observation(device: &str, value: f64, time: i64) -> Observation {
        let catalogue = Catalogue::builtin();
        let metric = catalogue.by_name("pap_sys").map(Arc::clone).unwrap();
        Observation {
            time,
            device_time: time - 1,
            received_at: time + 1,
            device_id: Arc::from(device),
            metric,
            value,
            source_name: "PAP-S".into(),
            source_value: value * 10.0,
            source_unit: None,
            flags: Flags::of(Flag::Implausible),
            patient_id: Some(Arc::from("p-1")),
            encounter_id: None,
            ward: Some(Arc::from("icu")),
            bed: None,
            source: Source::Modbus,
        }
    }

    #[test]
    fn observations_become_one_row_each_with_nulls_where_the_domain_has_none() {
        let rows = [observation("a", 25.0, 1_000), observation("b", 30.5, 2_000)];
        let batch = vitals_batch(&rows).unwrap();
        assert_eq!((batch.num_rows(), batch.num_columns()), (2, 19));
        assert_eq!(batch.schema(), vitals_schema());
        let time = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(time.values().to_vec(), vec![1_000, 2_000]);
        assert_eq!(batch.column(3).as_string::<i32>().value(1), "b");
        assert_eq!(batch.column(4).as_string::<i32>().value(0), "pap_sys");
        assert_eq!(batch.column(5).as_primitive::<arrow::datatypes::Int32Type>().value(0), 150_045);
        assert!(batch.column(6).is_null(0), "pap_sys has no LOINC code");
        assert_eq!(batch.column(10).as_primitive::<arrow::datatypes::Float64Type>().value(1), 305.0);
        assert_eq!(batch.column(11).null_count(), 2);
        assert_eq!(batch.column(12).as_string::<i32>().value(0), "implausible");
        let flags = batch.column(13).as_list::<i32>();
        assert_eq!(flags.value(0).as_string::<i32>().iter().collect::<Vec<_>>(), [Some("implausible")]);
        assert_eq!(batch.column(14).as_string::<i32>().value(0), "p-1");
        assert_eq!(batch.column(18).as_string::<i32>().value(0), "modbus");
    }

    #[test]
    fn source_value_is_null_exactly_where_it_equals_value_bit_for_bit() {
        let mut same = observation("a", 72.0, 1_000);
        same.source_value = 72.0;
        let converted = observation("b", 30.5, 2_000); // source_value 305.0
        let mut negative_zero = observation("c", 0.0, 3_000);
        negative_zero.source_value = -0.0; // equal as numbers, not as bits: kept
        let rows = [same, converted, negative_zero];
        let batch = vitals_batch(&rows).unwrap();
        let source_value = batch.column(10).as_primitive::<arrow::datatypes::Float64Type>();
        assert_eq!(source_value.iter().collect::<Vec<_>>(), [None, Some(305.0), Some(-0.0)]);
        assert!(source_value.value(2).is_sign_negative());
    }

    #[test]
    fn an_empty_input_gives_an_empty_batch_of_the_right_schema() {
        let batch = vitals_batch(&[]).unwrap();
        assert_eq!((batch.num_rows(), batch.schema()), (0, vitals_schema()));
        let batch = dead_letters_batch(&[]).unwrap();
        assert_eq!((batch.num_rows(), batch.schema()), (0, dead_letters_schema()));
    }

    #[test]
    fn dead_letters_keep_their_payload_bytes() {
        let letter = DeadLetter {
            received_at: 5,
            source: Source::Mqtt,
            origin: Arc::from("ward/3/m7"),
            device_id: None,
            source_name: Some("XX".into()),
            reason: Reason::UnknownMetric,
            detail: "no metric XX".into(),
            payload: Arc::from(&b"\x00\xffraw"[..]),
        };
        let batch = dead_letters_batch([&letter]).unwrap();
        assert_eq!(batch.column(3).null_count(), 1);
        assert_eq!(batch.column(5).as_string::<i32>().value(0), "unknown_metric");
        assert_eq!(batch.column(7).as_binary::<i32>().value(0), b"\x00\xffraw");
    }
}
