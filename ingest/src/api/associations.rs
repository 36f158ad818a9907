//! Bedside (barcode or manual) associations over HTTP.
//!
//! - `POST /api/v1/associations` `{"id"?, "device_id" | "bed": {"ward","room","bed"}, "patient_id",
//!   "encounter_id"?, "start"?: RFC3339 (default now), "end"?: RFC3339}` → 201 `{"id", "version"}`.
//!   The same request again (same id and content) → 200 (a redelivery); the id with other content
//!   → 409.
//! - `POST /api/v1/associations/{id}/end` `{"end"?: RFC3339 (default now)}` → 200; an empty body
//!   means now; an unknown id → 404.
//! - `GET /api/v1/associations?patient=P` → the patient's stays (beds) and device intervals.
//!
//! Every change is in the fsynced association log before the answer (see
//! [`Associations::record`](crate::associations::Associations::record)).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wardstream_pipeline::association::{AssociationEvent, BedRef, ExplicitAssociation, ExplicitEnd, Rejected, Subject};
use wardstream_pipeline::time::format_rfc3339;

use super::AppState;
use super::audit::Caller;
use super::body::{ApiJson, OptionalApiJson};
use super::error::ApiError;
use super::timeline::parse_time;
use crate::associations::RecordError;
use crate::auth::{Client, Principal};

/// A bed in a request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedBody {
    /// Ward.
    pub ward: String,
    /// Room (may be empty).
    #[serde(default)]
    pub room: String,
    /// Bed (may be empty).
    #[serde(default)]
    pub bed: String,
}

/// Body of `POST /api/v1/associations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssociation {
    /// Id (generated when absent).
    pub id: Option<String>,
    /// The device scanned (or `bed`).
    pub device_id: Option<String>,
    /// The bed (or `device_id`).
    pub bed: Option<BedBody>,
    /// The patient (wristband).
    pub patient_id: String,
    /// The encounter, when known.
    pub encounter_id: Option<String>,
    /// From (default now).
    pub start: Option<String>,
    /// Until, if known.
    pub end: Option<String>,
}

/// Body of `POST /api/v1/associations/{id}/end`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndBody {
    /// Until (default now).
    pub end: Option<String>,
}

/// The HTTP answer for a change that was not recorded.
pub fn record_error(e: RecordError) -> ApiError {
    match e {
        RecordError::Rejected(r @ (Rejected::AssociationIdReused { .. } | Rejected::MessageIdReused { .. })) => {
            ApiError { status: StatusCode::CONFLICT, message: r.to_string() }
        }
        RecordError::Rejected(r @ Rejected::UnknownAssociation { .. }) => ApiError::not_found(r.to_string()),
        RecordError::Rejected(r) => ApiError::bad_request(r.to_string()),
        RecordError::Storage(m) => {
            tracing::error!(error = %m, "association change not stored");
            ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: "could not store the change; retry".into() }
        }
    }
}

/// `POST /api/v1/associations`.
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    ApiJson(body): ApiJson<NewAssociation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = state.now();
    let subject = match (body.device_id, body.bed) {
        (Some(d), None) if !d.is_empty() => Subject::Device(d),
        (None, Some(b)) => Subject::Bed(BedRef { ward: b.ward, room: b.room, bed: b.bed }),
        _ => return Err(ApiError::bad_request("give exactly one of device_id and bed")),
    };
    let start = body.start.as_deref().map(|t| parse_time("start", t)).transpose()?.unwrap_or(now);
    let end = body.end.as_deref().map(|t| parse_time("end", t)).transpose()?;
    if end.is_some_and(|e| e <= start) {
        return Err(ApiError::bad_request("end must be after start"));
    }
    let id = body.id.unwrap_or_else(|| generated_id(now));
    let patient = body.patient_id.clone();
    let event = AssociationEvent::Associate(ExplicitAssociation {
        id: id.clone(),
        subject,
        patient_id: body.patient_id,
        encounter_id: body.encounter_id,
        start,
        end,
        recorded_at: now,
    });
    let applied = record(&state, event).await?;
    let status = if applied.redelivery { StatusCode::OK } else { StatusCode::CREATED };
    let caller = Caller { principal: &principal, client: &client };
    state.audit(caller, "association_create", vec![patient], 1).await?;
    Ok((status, Json(json!({"id": id, "start": format_rfc3339(start), "version": applied.version}))))
}

/// `POST /api/v1/associations/{id}/end`.
pub async fn end(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    OptionalApiJson(body): OptionalApiJson<EndBody>,
) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let body = body.unwrap_or_default();
    let end = body.end.as_deref().map(|t| parse_time("end", t)).transpose()?.unwrap_or(now);
    let event = AssociationEvent::EndAssociation(ExplicitEnd { id: id.clone(), end, recorded_at: now });
    let applied = record(&state, event).await?;
    let caller = Caller { principal: &principal, client: &client };
    let patient = patient_of_association(&state, &id).into_iter().collect();
    state.audit(caller, "association_end", patient, 1).await?;
    Ok(Json(json!({"id": id, "end": format_rfc3339(end), "version": applied.version})))
}

/// `GET /api/v1/associations?patient=P`.
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let patient = params.get("patient").ok_or_else(|| ApiError::bad_request("the patient parameter is required"))?;
    let snapshot = state.associations.snapshot();
    let time = |t: Option<i64>| t.map(format_rfc3339);
    let stays: Vec<Value> = snapshot
        .stays_of(patient)
        .iter()
        .map(|s| {
            json!({"bed": s.bed.to_string(), "ward": s.bed.ward, "encounter_id": s.encounter_id.as_deref(),
                   "start": format_rfc3339(s.start), "end": time(s.end), "source": format!("{:?}", s.source)})
        })
        .collect();
    let devices: Vec<Value> = snapshot
        .patient_intervals(patient)
        .iter()
        .map(|i| json!({"device_id": &*i.device_id, "start": format_rfc3339(i.start), "end": time(i.end)}))
        .collect();
    let caller = Caller { principal: &principal, client: &client };
    state.audit(caller, "association_list", vec![patient.clone()], (stays.len() + devices.len()) as u64).await?;
    Ok(Json(json!({"patient_id": patient, "version": snapshot.version(), "stays": stays, "devices": devices})))
}

async fn record(
    state: &AppState,
    event: AssociationEvent,
) -> Result<wardstream_pipeline::association::Applied, ApiError> {
    let associations = state.associations.clone();
    tokio::task::spawn_blocking(move || associations.record(event))
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("association task: {e}")))?
        .map_err(record_error)
}

/// The patient of the explicit association `id`, from the applied events.
fn patient_of_association(state: &AppState, id: &str) -> Option<String> {
    state.associations.hub().events().into_iter().find_map(|e| match e {
        AssociationEvent::Associate(a) if a.id == id => Some(a.patient_id),
        _ => None,
    })
}

fn generated_id(now: i64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("assoc-{now}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
