//! The fast path gives exactly the built-in's answer, and everything else goes to the built-in.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::*;

/// Instants around the epoch, before it, across a day and an hour, and far out.
fn instants() -> Vec<Option<i64>> {
    let mut v = vec![
        Some(0),
        Some(-1),
        Some(1),
        Some(-3_600_000_000),
        Some(-3_600_000_001),
        Some(1_795_392_000_000_000), // 2026-11-22T00:00:00Z
        Some(1_795_395_599_999_999),
        Some(1_795_395_600_000_000),
        None,
        Some(-2_208_988_800_000_000), // 1900-01-01
        Some(4_102_444_800_123_456),  // 2100-01-01 + 0.123456 s
    ];
    // a day of 1 Hz readings with sub-second jitter, every 997 s
    v.extend((0..87).map(|i| Some(1_795_392_000_000_000 + i * 997_000_123)));
    v
}

fn call(f: &dyn ScalarUDFImpl, unit: &str, tz: &str, values: &[Option<i64>]) -> ArrayRef {
    let array = TimestampMicrosecondArray::from(values.to_vec()).with_timezone(tz);
    let time_type = DataType::Timestamp(TimeUnit::Microsecond, Some(tz.into()));
    let args = ScalarFunctionArgs {
        args: vec![ColumnarValue::Scalar(ScalarValue::Utf8(Some(unit.into()))), ColumnarValue::Array(Arc::new(array))],
        arg_fields: vec![
            Arc::new(Field::new("u", DataType::Utf8, false)),
            Arc::new(Field::new("t", time_type.clone(), true)),
        ],
        number_rows: values.len(),
        return_field: Arc::new(Field::new("date_trunc", time_type, true)),
        config_options: Arc::new(ConfigOptions::default()),
    };
    match f.invoke_with_args(args).unwrap() {
        ColumnarValue::Array(a) => a,
        ColumnarValue::Scalar(s) => s.to_array().unwrap(),
    }
}

#[test]
fn fixed_offsets_truncate_exactly_as_the_builtin() {
    let fast = FastDateTrunc::new();
    let builtin = datafusion::functions::datetime::date_trunc();
    for tz in ["UTC", "+00:00", "+05:45", "-03:30", "+0100", "-11"] {
        for unit in ["microsecond", "millisecond", "second", "minute", "hour", "day", "HOUR"] {
            assert!(fast_path_taken(unit, tz), "{unit} in {tz} should take the fast path");
            let got = call(&fast, unit, tz, &instants());
            let want = call(builtin.inner().as_ref(), unit, tz, &instants());
            assert_eq!(got.as_ref(), want.as_ref(), "{unit} in {tz}");
        }
    }
}

#[test]
fn hour_in_utc_is_the_hour_and_nulls_stay_null() {
    let got = call(&FastDateTrunc::new(), "hour", "UTC", &[Some(1_795_395_599_999_999), None, Some(-1)]);
    let got = got.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
    assert_eq!(got.value(0), 1_795_392_000_000_000);
    assert!(got.is_null(1));
    assert_eq!(got.value(2), -3_600_000_000);
    assert_eq!(got.timezone(), Some("UTC"));
}

#[test]
fn named_zones_and_calendar_units_go_to_the_builtin() {
    assert!(!fast_path_taken("hour", "Europe/Berlin"));
    assert!(!fast_path_taken("week", "UTC"));
    assert!(!fast_path_taken("month", "UTC"));
    assert!(!fast_path_taken("hour", "+24:00"));
    assert!(!fast_path_taken("hour", "+5"));
    let fast = FastDateTrunc::new();
    let builtin = datafusion::functions::datetime::date_trunc();
    for (unit, tz) in [("hour", "Europe/Berlin"), ("day", "America/New_York"), ("week", "UTC"), ("month", "UTC")] {
        let got = call(&fast, unit, tz, &instants());
        let want = call(builtin.inner().as_ref(), unit, tz, &instants());
        assert_eq!(got.as_ref(), want.as_ref(), "{unit} in {tz}");
    }
}

#[test]
fn sql_in_a_session_uses_it_under_the_builtin_name() {
    let ctx = SessionContext::new();
    register(&ctx);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let batches = rt
        .block_on(async {
            ctx.sql("SELECT date_trunc('hour', arrow_cast(1795395599999999, 'Timestamp(Microsecond, Some(\"UTC\"))')) AS h, \
                     datetrunc('day', arrow_cast(1795395599999999, 'Timestamp(Microsecond, Some(\"UTC\"))')) AS d")
                .await?
                .collect()
                .await
        })
        .unwrap();
    let h = batches[0].column(0).as_any().downcast_ref::<TimestampMicrosecondArray>().map(|a| a.value(0));
    let d = batches[0].column(1).as_any().downcast_ref::<TimestampMicrosecondArray>().map(|a| a.value(0));
    assert_eq!(h, Some(1_795_392_000_000_000));
    assert_eq!(d, Some(1_795_392_000_000_000));
}

fn fast_path_taken(unit: &str, tz: &str) -> bool {
    let array = TimestampMicrosecondArray::from(vec![Some(0)]).with_timezone(tz);
    let args = [ColumnarValue::Scalar(ScalarValue::Utf8(Some(unit.into()))), ColumnarValue::Array(Arc::new(array))];
    fast_path(&args).is_some()
}
