//! A patient's timeline from device spans: the hot store for what it holds, Parquet for the rest,
//! each reading once.

use std::collections::HashSet;
use std::sync::Arc;

use wardstream_pipeline::{HotStore, Micros};
use wardstream_storage::QuerySession;

use super::cold::stored_readings;
use super::reading::TimelineReading;

/// One device range of a patient: readings of `device_id` with `start <= time < end` are the
/// patient's (from the association snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpan {
    /// The device.
    pub device_id: Arc<str>,
    /// From (µs, inclusive).
    pub start: Micros,
    /// Until (µs, exclusive).
    pub end: Micros,
    /// The patient.
    pub patient_id: Arc<str>,
    /// The encounter, when known.
    pub encounter_id: Option<Arc<str>>,
    /// The ward of the bed, when through a bed.
    pub ward: Option<Arc<str>>,
    /// The bed, when through a bed.
    pub bed: Option<Arc<str>>,
}

impl DeviceSpan {
    /// The span clipped to `[from, to)`, if anything is left.
    pub fn clip(&self, from: Micros, to: Micros) -> Option<DeviceSpan> {
        let start = self.start.max(from);
        let end = self.end.min(to);
        (start < end).then(|| DeviceSpan { start, end, ..self.clone() })
    }
}

/// What a timeline request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineQuery {
    /// From (µs, inclusive).
    pub from: Micros,
    /// Until (µs, exclusive).
    pub to: Micros,
    /// Only this catalogue metric, when given.
    pub metric: Option<String>,
}

/// The earliest time a timeline reads (1900-01-01T00:00:00Z): open ranges are clipped to it
/// (SQL timestamp literals are nanoseconds, representable from 1677 to 2262).
pub const EARLIEST: Micros = -2_208_988_800_000_000;
/// The latest time a timeline reads (2200-01-01T00:00:00Z).
pub const LATEST: Micros = 7_258_118_400_000_000;

/// Every reading of the spans within the query's range, ordered by (time, device, metric), each
/// once. `table` is the stored vitals table of `session`.
pub async fn patient_timeline(
    spans: &[DeviceSpan],
    query: &TimelineQuery,
    hot: &HotStore,
    session: &QuerySession,
    table: &str,
) -> anyhow::Result<Vec<TimelineReading>> {
    let (from, to) = (query.from.max(EARLIEST), query.to.min(LATEST));
    let spans: Vec<DeviceSpan> = spans.iter().filter_map(|s| s.clip(from, to)).collect();
    let mut readings = stored_readings(session, table, &spans, query.metric.as_deref()).await?;
    // Read the hot store after Parquet: a reading flushed in between is in both, never in neither.
    let mut seen: HashSet<_> = readings.iter().map(TimelineReading::key).collect();
    for span in &spans {
        for entry in hot.range(&span.device_id, span.start, span.end) {
            if query.metric.as_deref().is_some_and(|m| m != entry.metric.name) {
                continue;
            }
            let mut reading = TimelineReading::from_hot(&span.device_id, &entry, &span.patient_id);
            reading.encounter_id = span.encounter_id.clone();
            reading.ward = span.ward.clone();
            reading.bed = span.bed.clone();
            if seen.insert(reading.key()) {
                readings.push(reading);
            }
        }
    }
    readings.sort_by(|a, b| (a.time, &a.device_id, &a.metric).cmp(&(b.time, &b.device_id, &b.metric)));
    Ok(readings)
}
