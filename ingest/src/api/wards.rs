//! `GET /api/v1/wards/{ward}`: the ward page as JSON — every known bed of the ward, who is in it
//! now (or the patients in conflict), the devices serving it, and their latest vitals from the hot
//! store (newest value of each metric, with time and status).

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Value, json};
use wardstream_pipeline::association::Occupant;
use wardstream_pipeline::time::format_rfc3339;

use super::AppState;
use super::audit::Caller;
use super::error::ApiError;
use crate::auth::{Client, Principal};

/// The handler.
pub async fn ward(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    Path(ward): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.authorize_ward(&principal, &ward)?;
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
    let mut patients: Vec<String> = beds
        .iter()
        .flat_map(|b| {
            let one = b["patient_id"].as_str().map(str::to_owned);
            let conflict =
                b["conflict_patients"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(str::to_owned));
            one.into_iter().chain(conflict)
        })
        .collect();
    patients.sort();
    patients.dedup();
    if !patients.is_empty() {
        let caller = Caller { principal: &principal, client: &client };
        state.audit(caller, "ward_page", patients, beds.len() as u64).await?;
    }
    Ok(Json(json!({"ward": ward, "time": format_rfc3339(now), "beds": beds})))
}
