//! FHIR R4 rendering: vital-signs `Observation`s, `searchset` `Bundle`s with paging links, and
//! `OperationOutcome`s for errors.
//!
//! Each Observation follows the R4 vital-signs profile: category `vital-signs`; `code` with the
//! LOINC coding first (when the metric has one) and the IEEE 11073 MDC coding
//! (`urn:iso:std:iso:11073:10101`); `valueQuantity` in UCUM (`http://unitsofmeasure.org`);
//! `effectiveDateTime`; `subject` (the patient); `device` (the device id, as display and identifier).
//!
//! Status from the reading's validation state: `preliminary` → `preliminary`, `corrected` →
//! `corrected`, everything else → `final`. Quality flags (implausible, questionable,
//! clock_corrected, future_time, unassociated) are never hidden: each is a `meta.tag` in the
//! wardstream quality code system, and `implausible`/`questionable` also give an
//! `interpretation` text so that a viewer that ignores tags still warns.

use serde_json::{Value, json};
use wardstream_pipeline::time::format_rfc3339;

use crate::timeline::TimelineReading;

/// The code system of wardstream's quality flags in `meta.tag`.
pub const QUALITY_SYSTEM: &str = "https://wardstream.dev/fhir/CodeSystem/quality-flag";
/// The IEEE 11073-10101 (MDC) code system URI.
pub const MDC_SYSTEM: &str = "urn:iso:std:iso:11073:10101";
/// LOINC.
pub const LOINC_SYSTEM: &str = "http://loinc.org";
/// UCUM.
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";

/// What the catalogue says of a metric, for the code's display texts.
#[derive(Debug, Clone, Copy)]
pub struct MetricNames<'a> {
    /// Human display name (`Heart rate`).
    pub display: &'a str,
    /// MDC reference id (`MDC_ECG_HEART_RATE`).
    pub mdc_ref_id: &'a str,
}

/// A stable FHIR id (≤ 64 characters of `[A-Za-z0-9.-]`) for a stored reading: a hash of the row's
/// identity (device, metric, time, device time).
pub fn observation_id(reading: &TimelineReading) -> String {
    // FNV-1a 128 bits, written as two hex words: stable across runs and platforms.
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    let key =
        format!("{}\u{1f}{}\u{1f}{}\u{1f}{}", reading.device_id, reading.metric, reading.time, reading.device_time);
    for byte in key.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("ws-{hash:032x}")
}

/// The FHIR status of a reading.
pub fn fhir_status(status: &str) -> &'static str {
    match status {
        "preliminary" => "preliminary",
        "corrected" => "corrected",
        _ => "final",
    }
}

/// One vital-signs Observation.
pub fn observation(reading: &TimelineReading, names: MetricNames<'_>) -> Value {
    let mut coding = Vec::new();
    if let Some(loinc) = &reading.loinc {
        coding.push(json!({"system": LOINC_SYSTEM, "code": loinc, "display": names.display}));
    }
    coding.push(json!({"system": MDC_SYSTEM, "code": reading.mdc_code.to_string(), "display": names.mdc_ref_id}));
    let mut resource = json!({
        "resourceType": "Observation",
        "id": observation_id(reading),
        "status": fhir_status(&reading.status),
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs"
        }]}],
        "code": {"coding": coding, "text": names.display},
        "subject": {"reference": format!("Patient/{}", reading.patient_id)},
        "effectiveDateTime": format_rfc3339(reading.time),
        "issued": format_rfc3339(reading.received_at),
        "valueQuantity": {
            "value": reading.value,
            "unit": reading.unit,
            "system": UCUM_SYSTEM,
            "code": reading.unit
        },
        "device": {
            "identifier": {"system": "urn:wardstream:device", "value": &*reading.device_id},
            "display": &*reading.device_id
        }
    });
    if let Some(encounter) = &reading.encounter_id {
        resource["encounter"] = json!({"identifier": {"value": &**encounter}});
    }
    if !reading.flags.is_empty() {
        let tags: Vec<Value> =
            reading.flags.iter().map(|f| json!({"system": QUALITY_SYSTEM, "code": f, "display": f})).collect();
        resource["meta"] = json!({"tag": tags});
    }
    if reading.flags.iter().any(|f| f == "implausible" || f == "questionable") {
        resource["interpretation"] = json!([{"text": format!("wardstream quality: {}", reading.flags.join(", "))}]);
    }
    resource
}

/// A `searchset` Bundle: `total` matches, the page's resources, and paging links.
/// `base` is the server's FHIR base URL (`http://host/fhir/r4`), for each entry's `fullUrl`.
pub fn searchset(base: &str, total: usize, resources: Vec<Value>, links: &[(&str, String)]) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let full_url = format!("{base}/Observation/{}", r["id"].as_str().unwrap_or_default());
            json!({"fullUrl": full_url, "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links.iter().map(|(relation, url)| json!({"relation": relation, "url": url})).collect::<Vec<_>>(),
    });
    // FHIR JSON never holds an empty array: no matches, no `entry`.
    if !entry.is_empty() {
        bundle["entry"] = Value::Array(entry);
    }
    bundle
}

/// An `OperationOutcome` with one issue (`code` from the FHIR issue-type value set, e.g.
/// `invalid`, `not-found`, `processing`, `security`, `login`, `forbidden`).
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]
    })
}
