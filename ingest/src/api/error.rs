//! API errors: JSON `{"error": …}` on `/api` routes, a FHIR `OperationOutcome` on `/fhir` routes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::fhir::operation_outcome;

/// An error answer of the JSON API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the caller.
    pub message: String,
}

impl ApiError {
    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    /// 500: logged with its cause; the caller sees a generic message (no internals leak).
    pub fn internal(error: &anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{error:#}"), "API request failed");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "internal error (see the server log)".into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({"error": self.message}))).into_response()
    }
}

/// An error answer of the FHIR API: an OperationOutcome.
#[derive(Debug)]
pub struct FhirError(pub ApiError);

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> FhirError {
        FhirError(e)
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let code = match self.0.status {
            StatusCode::BAD_REQUEST => "invalid",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::FORBIDDEN => "forbidden",
            _ => "exception",
        };
        let body = operation_outcome("error", code, &self.0.message);
        (self.0.status, [("content-type", "application/fhir+json")], Json(body)).into_response()
    }
}
