//! `GET /api/v1/patients/{id}/timeline?from=&to=&metric=`: a patient's readings as JSON, ordered
//! by time. `from`/`to` are RFC 3339 (default: the last hour up to now + 5 minutes); `metric` a
//! catalogue name, alias or code (`heart_rate`, `HR`, `8867-4`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use serde_json::{Value, json};
use wardstream_pipeline::Micros;
use wardstream_pipeline::time::format_rfc3339;

use super::AppState;
use super::audit::Caller;
use super::error::ApiError;
use crate::auth::{Client, Principal};
use crate::timeline::{TimelineQuery, TimelineReading};

/// The handler.
pub async fn timeline(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    Path(patient): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    state.authorize_patient(&principal, &patient)?;
    let now = state.now();
    let to = match params.get("to") {
        Some(t) => parse_time("to", t)?,
        None => now + 5 * 60 * 1_000_000,
    };
    let from = match params.get("from") {
        Some(t) => parse_time("from", t)?,
        None => to - 65 * 60 * 1_000_000,
    };
    if from >= to {
        return Err(ApiError::bad_request("from must be before to"));
    }
    let metric = match params.get("metric") {
        Some(m) => Some(state.metric_name(m).ok_or_else(|| ApiError::bad_request(format!("unknown metric '{m}'")))?),
        None => None,
    };
    let readings = state.patient_readings(&patient, &TimelineQuery { from, to, metric }).await?;
    let caller = Caller { principal: &principal, client: &client };
    state.audit(caller, "timeline", vec![patient.clone()], readings.len() as u64).await?;
    Ok(Json(timeline_json(&patient, from, to, &readings)))
}

/// The response body.
pub fn timeline_json(patient: &str, from: Micros, to: Micros, readings: &[TimelineReading]) -> Value {
    json!({
        "patient_id": patient,
        "from": format_rfc3339(from),
        "to": format_rfc3339(to),
        "count": readings.len(),
        "observations": readings,
    })
}

/// An RFC 3339 time parameter in µs.
pub fn parse_time(name: &str, text: &str) -> Result<Micros, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|e| ApiError::bad_request(format!("{name}: '{text}' is not an RFC 3339 time ({e})")))
}
