//! The device registry over HTTP.
//!
//! - `GET /api/v1/devices`: every device known (placed at a bed, explicitly associated) or heard
//!   from, with its bed, its patient now, its state (`online` when its latest reading arrived in
//!   the last 60 s, `offline` otherwise, `never_seen`), when it was last seen and its counters.
//!   A device heard from but never registered is listed with `registered: false`: its readings
//!   are stored `unassociated`.
//! - `PUT /api/v1/devices/{id}` `{"ward":…, "room":…, "bed":…, "from":RFC3339?}` places the device
//!   at a bed from `from` (default now); `{"bed": null}` (no ward) removes it from any bed. Durable
//!   before the answer, like every association change.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wardstream_pipeline::association::{AssociationEvent, Attach, BedRef, DevicePlacement};
use wardstream_pipeline::time::format_rfc3339;

use super::AppState;
use super::associations::record_error;
use super::audit::Caller;
use super::body::ApiJson;
use super::error::ApiError;
use super::timeline::parse_time;
use crate::auth::{Client, Principal};

/// A reading within this long makes a device `online`.
pub const ONLINE_FOR_MICROS: i64 = 60_000_000;

/// `GET /api/v1/devices`.
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let snapshot = state.associations.snapshot();
    let traffic: BTreeMap<String, _> = state.devices.snapshot().into_iter().collect();
    let mut ids: Vec<String> = snapshot.devices().iter().map(|d| d.to_string()).collect();
    ids.extend(traffic.keys().cloned());
    ids.extend(state.devices.drivers.known_devices());
    ids.sort();
    ids.dedup();
    let devices: Vec<Value> = ids
        .iter()
        .map(|id| {
            let registered = snapshot.devices().iter().any(|d| **d == **id);
            let bed = snapshot.bed_of(id, now);
            let patient = match snapshot.attach(id, now) {
                Attach::Attached(a) => json!(&*a.patient_id),
                Attach::Conflict(_) => json!(null),
                Attach::Unassociated | Attach::UnknownDevice => json!(null),
            };
            let seen = traffic.get(id);
            let state_text = match seen {
                None => "never_seen",
                Some(t) if now - t.last_seen <= ONLINE_FOR_MICROS => "online",
                Some(_) => "offline",
            };
            json!({
                "device_id": id,
                "registered": registered,
                "ward": bed.map(|b| b.ward.clone()),
                "bed": bed.map(ToString::to_string),
                "patient_id": patient,
                "conflict": matches!(snapshot.attach(id, now), Attach::Conflict(_)),
                "state": state_text,
                "source": seen.map(|t| t.source.clone()),
                "first_seen": seen.map(|t| format_rfc3339(t.first_seen)),
                "last_seen": seen.map(|t| format_rfc3339(t.last_seen)),
                "readings": seen.map_or(0, |t| t.readings),
                "unassociated_readings": seen.map_or(0, |t| t.unassociated),
                "dead_letters": seen.map_or(0, |t| t.dead_letters),
                "driver": state.devices.drivers.driver_of(id, seen.map(|t| t.source.as_str())),
            })
        })
        .collect();
    let mut patients: Vec<String> =
        devices.iter().filter_map(|d| d["patient_id"].as_str().map(str::to_owned)).collect();
    patients.sort();
    patients.dedup();
    if !patients.is_empty() {
        let caller = Caller { principal: &principal, client: &client };
        state.audit(caller, "device_list", patients, devices.len() as u64).await?;
    }
    Ok(Json(json!({ "time": format_rfc3339(now), "devices": devices })))
}

/// Body of `PUT /api/v1/devices/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Ward (point of care); absent or null removes the device from any bed.
    pub ward: Option<String>,
    /// Room (may be empty).
    #[serde(default)]
    pub room: String,
    /// Bed (may be empty).
    #[serde(default)]
    pub bed: Option<String>,
    /// From when (RFC 3339); default now.
    pub from: Option<String>,
}

/// `PUT /api/v1/devices/{id}`.
pub async fn place(
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    ApiJson(body): ApiJson<Placement>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = state.now();
    let from = match &body.from {
        Some(t) => parse_time("from", t)?,
        None => now,
    };
    let bed = body.ward.map(|ward| BedRef { ward, room: body.room, bed: body.bed.unwrap_or_default() });
    let event = AssociationEvent::Place(DevicePlacement {
        device_id: device_id.clone(),
        bed: bed.clone(),
        from,
        recorded_at: now,
    });
    let associations = state.associations.clone();
    let applied = tokio::task::spawn_blocking(move || associations.record(event))
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("placement task: {e}")))?
        .map_err(record_error)?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "device_id": device_id,
            "bed": bed.map(|b| b.to_string()),
            "from": format_rfc3339(from),
            "version": applied.version,
            "redelivery": applied.redelivery,
        })),
    ))
}
