//! `POST /api/v1/query` `{"sql": "…"}`: read-only SQL for analysts (de-identified views) and
//! admins (identified tables and `audit`), through [`crate::sql_api::SqlEngine`] (one `SELECT`,
//! time and memory limits). Answer: `{"rows": [{column: value, …}], "row_count": n,
//! "deidentified": bool}`; a refused or invalid statement → 400, over the time limit → 408, over
//! the memory limit → 422, no pseudonym key for analysts → 503.
//!
//! A statement that read identifiable columns is audited (action `sql`, the patient ids the
//! result shows) before the rows are returned. Without an engine (the HTTP API built without
//! one) the endpoint answers 501.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::audit::Caller;
use super::body::ApiJson;
use super::error::ApiError;
use crate::auth::{Client, Principal};
use crate::sql_api::{SqlAccess, SqlError};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// One SQL `SELECT`.
    pub sql: String,
}

/// The handler.
pub async fn query(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    ApiJson(body): ApiJson<QueryBody>,
) -> Result<Json<Value>, ApiError> {
    let Some(engine) = state.sql.as_ref() else {
        return Err(ApiError { status: StatusCode::NOT_IMPLEMENTED, message: "the SQL endpoint is off".into() });
    };
    let access = SqlAccess::for_role(principal.role).ok_or_else(|| ApiError {
        status: StatusCode::FORBIDDEN,
        message: format!("the role {} may not use this endpoint", principal.role),
    })?;
    let output = engine.run(access, &body.sql).await.map_err(sql_error)?;
    if !output.identifiable_columns.is_empty() {
        let caller = Caller { principal: &principal, client: &client };
        state.audit(caller, "sql", output.patient_ids.clone(), output.row_count).await?;
    }
    let rows = output.json_rows().map_err(sql_error)?;
    Ok(Json(json!({"rows": rows, "row_count": output.row_count, "deidentified": output.deidentified})))
}

fn sql_error(e: SqlError) -> ApiError {
    let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return ApiError::internal(&anyhow::anyhow!(e));
    }
    ApiError { status, message: e.to_string() }
}
