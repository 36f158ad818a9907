//! The Parquet part of a timeline: the stored readings of several device ranges in one
//! DataFusion query over the stored `vitals` files.
//!
//! The query names each range as `device_id = '…' AND time >= … AND time < …` and bounds the
//! `date` partition column by the overall range, so DataFusion lists only the day directories
//! involved and prunes row groups by the files' sort order (device, metric, time).

use std::sync::Arc;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, TimestampMicrosecondType};
use wardstream_pipeline::Micros;
use wardstream_pipeline::time::{format_day, utc_day};
use wardstream_storage::QuerySession;

use super::merge::DeviceSpan;
use super::reading::TimelineReading;

/// Rows of `table` (the stored vitals) for every span, optionally one metric only, ordered by
/// time. Each row carries the patient fields of the span it fell in.
pub async fn stored_readings(
    session: &QuerySession,
    table: &str,
    spans: &[DeviceSpan],
    metric: Option<&str>,
) -> anyhow::Result<Vec<TimelineReading>> {
    let Some(sql) = range_query(table, spans, metric) else { return Ok(Vec::new()) };
    let batches = session.sql(&sql).await.context("reading stored vitals")?;
    let mut out = Vec::new();
    for batch in &batches {
        read_batch(batch, spans, &mut out)?;
    }
    Ok(out)
}

/// The SQL for the spans, or `None` when there is nothing to read.
fn range_query(table: &str, spans: &[DeviceSpan], metric: Option<&str>) -> Option<String> {
    let first = spans.iter().map(|s| s.start).min()?;
    let last = spans.iter().map(|s| s.end).max()?;
    let ranges: Vec<String> = spans
        .iter()
        .filter(|s| s.start < s.end)
        .map(|s| {
            format!(
                "(device_id = {} AND time >= {} AND time < {})",
                literal(&s.device_id),
                timestamp(s.start),
                timestamp(s.end)
            )
        })
        .collect();
    if ranges.is_empty() {
        return None;
    }
    let metric_filter = metric.map(|m| format!(" AND metric = {}", literal(m))).unwrap_or_default();
    Some(format!(
        "SELECT time, device_time, received_at, device_id, metric, mdc_code, loinc, value, unit, status, flags, source \
         FROM {table} WHERE date >= '{}' AND date <= '{}'{metric_filter} AND ({}) ORDER BY time, device_id, metric",
        format_day(utc_day(first)),
        format_day(utc_day(last.saturating_sub(1).max(first))),
        ranges.join(" OR ")
    ))
}

/// A SQL timestamp literal (UTC) for a time in µs, clamped to the timeline's range.
pub fn timestamp(micros: Micros) -> String {
    // SQL timestamp literals are parsed as nanoseconds: keep within 1677–2262.
    let clamped = micros.clamp(super::merge::EARLIEST, super::merge::LATEST);
    format!("TIMESTAMP '{}'", wardstream_pipeline::time::format_rfc3339(clamped))
}

/// A SQL string literal (single quotes doubled).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn read_batch(batch: &RecordBatch, spans: &[DeviceSpan], out: &mut Vec<TimelineReading>) -> anyhow::Result<()> {
    let col = |name: &str| batch.column_by_name(name).with_context(|| format!("column {name} missing"));
    let time = col("time")?.as_primitive_opt::<TimestampMicrosecondType>().context("time type")?;
    let device_time = col("device_time")?.as_primitive_opt::<TimestampMicrosecondType>().context("device_time")?;
    let received_at = col("received_at")?.as_primitive_opt::<TimestampMicrosecondType>().context("received_at")?;
    let device_id = crate::columns::strings(col("device_id")?)?;
    let metric = crate::columns::strings(col("metric")?)?;
    let mdc_code = col("mdc_code")?.as_primitive_opt::<Int32Type>().context("mdc_code type")?;
    let loinc = crate::columns::strings(col("loinc")?)?;
    let value = col("value")?.as_primitive_opt::<Float64Type>().context("value type")?;
    let unit = crate::columns::strings(col("unit")?)?;
    let status = crate::columns::strings(col("status")?)?;
    let flags = col("flags")?.as_list_opt::<i32>().context("flags type")?;
    let source = crate::columns::strings(col("source")?)?;
    for row in 0..batch.num_rows() {
        let t = time.value(row);
        let device = device_id.value(row);
        // The span this row fell in (spans of one device do not overlap).
        let Some(span) = spans.iter().find(|s| &*s.device_id == device && s.start <= t && t < s.end) else {
            continue;
        };
        let row_flags = crate::columns::strings(&flags.value(row))?;
        out.push(TimelineReading {
            time: t,
            device_time: device_time.value(row),
            received_at: received_at.value(row),
            device_id: Arc::clone(&span.device_id),
            metric: metric.value(row).to_owned(),
            mdc_code: mdc_code.value(row),
            loinc: (!loinc.is_null(row)).then(|| loinc.value(row).to_owned()),
            value: value.value(row),
            unit: unit.value(row).to_owned(),
            status: status.value(row).to_owned(),
            flags: (0..row_flags.len()).map(|i| row_flags.value(i).to_owned()).collect(),
            source: source.value(row).to_owned(),
            patient_id: Arc::clone(&span.patient_id),
            encounter_id: span.encounter_id.clone(),
            ward: span.ward.clone(),
            bed: span.bed.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_quoted_and_days_bound_the_partitions() {
        let span = |d: &str, s: Micros, e: Micros| DeviceSpan {
            device_id: Arc::from(d),
            start: s,
            end: e,
            patient_id: Arc::from("P1"),
            encounter_id: None,
            ward: None,
            bed: None,
        };
        let day = 86_400_000_000;
        let sql =
            range_query("vitals", &[span("o'brien", 10, day + 5), span("m2", 0, day)], Some("heart_rate")).unwrap();
        assert!(sql.contains("device_id = 'o''brien' AND time >= TIMESTAMP '1970-01-01T00:00:00.000010Z'"), "{sql}");
        assert!(sql.contains("date >= '1970-01-01' AND date <= '1970-01-02'"), "{sql}");
        assert!(sql.contains("AND metric = 'heart_rate'"), "{sql}");
        assert!(range_query("vitals", &[], None).is_none());
        assert!(range_query("vitals", &[span("a", 5, 5)], None).is_none());
    }
}
