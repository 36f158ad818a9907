//! [`TimelineReading`]: one reading as a timeline, FHIR or the ward page shows it.

use std::sync::Arc;

use serde::Serialize;
use wardstream_pipeline::time::format_rfc3339;
use wardstream_pipeline::{HotEntry, Micros};

/// One reading of a patient's timeline, with the association it was read through.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineReading {
    /// Observation time (µs, UTC).
    #[serde(serialize_with = "rfc3339")]
    pub time: Micros,
    /// The time as the device said (µs, UTC).
    #[serde(serialize_with = "rfc3339")]
    pub device_time: Micros,
    /// When wardstream received it.
    #[serde(serialize_with = "rfc3339")]
    pub received_at: Micros,
    /// The device.
    pub device_id: Arc<str>,
    /// Catalogue metric name (`heart_rate`).
    pub metric: String,
    /// IEEE 11073 MDC code.
    pub mdc_code: i32,
    /// LOINC code, when the metric has one.
    pub loinc: Option<String>,
    /// Normalised value.
    pub value: f64,
    /// UCUM unit.
    pub unit: String,
    /// Validation state (most severe flag, or `valid`).
    pub status: String,
    /// Every quality flag.
    pub flags: Vec<String>,
    /// Transport (`mqtt`, `serial`, `modbus`, `hl7`).
    pub source: String,
    /// The patient.
    pub patient_id: Arc<str>,
    /// The encounter, when known.
    pub encounter_id: Option<Arc<str>>,
    /// Ward of the bed, when the association went through a bed.
    pub ward: Option<Arc<str>>,
    /// Bed (`ward^room^bed`), when the association went through a bed.
    pub bed: Option<Arc<str>>,
}

impl TimelineReading {
    /// The identity of the stored row: the same reading read from memory and from Parquet has the
    /// same key.
    pub fn key(&self) -> (Arc<str>, String, Micros, Micros) {
        (Arc::clone(&self.device_id), self.metric.clone(), self.time, self.device_time)
    }

    /// A reading from the hot store, with no patient fields yet.
    pub fn from_hot(device_id: &Arc<str>, entry: &HotEntry, patient_id: &Arc<str>) -> TimelineReading {
        TimelineReading {
            time: entry.time,
            device_time: entry.device_time,
            received_at: entry.received_at,
            device_id: Arc::clone(device_id),
            metric: entry.metric.name.clone(),
            mdc_code: entry.metric.mdc_code,
            loinc: entry.metric.loinc.clone(),
            value: entry.value,
            unit: entry.metric.unit.clone(),
            status: entry.flags.status().as_str().to_owned(),
            flags: entry.flags.iter().map(|f| f.as_str().to_owned()).collect(),
            source: entry.source.as_str().to_owned(),
            patient_id: Arc::clone(patient_id),
            encounter_id: None,
            ward: None,
            bed: None,
        }
    }
}

fn rfc3339<S: serde::Serializer>(micros: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*micros))
}
