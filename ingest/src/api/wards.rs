//! `GET /api/v1/wards/{ward}`: the ward page as JSON — every known bed of the ward, who is in it
//! now (or the patients in conflict), the devices serving it, and their latest vitals from the hot
//! store (newest value of each metric, with time and status).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use wardstream_pipeline::association::Occupant;
use wardstream_pipeline::time::format_rfc3339;

use super::AppState;

/// The handler.
pub async fn ward(State(state): State<AppState>, Path(ward): Path<String>) -> Json<Value> {
    let now = state.now();
    let snapshot = state.associations.snapshot();
    let beds: Vec<Value> = snapshot
        .ward_occupancy(&ward, now)
        .into_iter()
        .map(|(bed, occupant)| {
            let (patient, encounter, conflict) = match occupant {
                Occupant::Patient(a) => {
                    (Some(a.patient_id.to_string()), a.encounter_id.as_deref().map(str::to_owned), vec![])
                }
                Occupant::Conflict(ps) => (None, None, ps.iter().map(|p| p.to_string()).collect()),
                Occupant::Empty => (None, None, vec![]),
            };
            let devices: Vec<Value> = snapshot
                .devices_at(bed, now)
                .into_iter()
                .map(|device| {
                    let latest: Vec<Value> = state
                        .hot
                        .latest(device)
                        .iter()
                        .map(|e| {
                            json!({"metric": e.metric.name, "value": e.value, "unit": e.metric.unit,
                                   "time": format_rfc3339(e.time), "status": e.flags.status().as_str()})
                        })
                        .collect();
                    json!({"device_id": device, "latest": latest})
                })
                .collect();
            json!({
                "bed": bed.to_string(),
                "room": bed.room,
                "bed_label": bed.bed,
                "patient_id": patient,
                "encounter_id": encounter,
                "conflict_patients": conflict,
                "devices": devices,
            })
        })
        .collect();
    Json(json!({"ward": ward, "time": format_rfc3339(now), "beds": beds}))
}
