//! The axum layers of authentication ([`authenticate`]: 401 without a valid bearer token) and of
//! role checks per group of routes ([`require`]: 403 for other roles). Errors are the API's JSON
//! `{"error": …}`, or a FHIR `OperationOutcome` on `/fhir` routes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Access, Client, Principal, Role};
use crate::api::error::{ApiError, FhirError};

/// Roles of the clinical routes (timeline, live, FHIR, wards).
pub const CLINICAL: &[Role] = &[Role::Clinician, Role::Admin];
/// Roles of the association and device-registry routes.
pub const REGISTRY: &[Role] = &[Role::Integration, Role::Admin];
/// Roles of the SQL endpoint.
pub const ANALYTICS: &[Role] = &[Role::Analyst, Role::Admin];
/// Roles of the operator routes (`/metrics`).
pub const OPERATOR: &[Role] = &[Role::Admin];

/// Authenticates the request's bearer token; puts the [`Principal`] and the [`Client`] into its
/// extensions, or answers 401.
pub async fn authenticate(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let fhir = is_fhir(&req);
    let header = req.headers().get(AUTHORIZATION).and_then(|h| h.to_str().ok());
    let Some(header) = header else {
        return unauthorized(fhir, "authentication required: send Authorization: Bearer <token>", false);
    };
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
        _ => return unauthorized(fhir, "authentication required: send Authorization: Bearer <token>", false),
    };
    match access.authenticate(token) {
        Ok(principal) => {
            let client = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |ConnectInfo(a)| a.ip().to_string());
            req.extensions_mut().insert(principal);
            req.extensions_mut().insert(Client(client));
            next.run(req).await
        }
        Err(reason) => {
            tracing::debug!(%reason, "HTTP request refused: bad credentials");
            unauthorized(fhir, &format!("invalid credentials: {reason}"), true)
        }
    }
}

/// Admits the request when its principal has one of `roles`; 403 otherwise.
pub async fn require(State(roles): State<&'static [Role]>, req: Request, next: Next) -> Response {
    let role = req.extensions().get::<Principal>().map(|p| p.role);
    match role {
        Some(role) if roles.contains(&role) => next.run(req).await,
        Some(role) => forbidden(is_fhir(&req), &format!("the role {role} may not use this endpoint")),
        None => unauthorized(is_fhir(&req), "authentication required", false),
    }
}

/// A 403 answer: JSON, or an OperationOutcome when `fhir`.
pub fn forbidden(fhir: bool, message: &str) -> Response {
    error(fhir, ApiError { status: StatusCode::FORBIDDEN, message: message.to_owned() })
}

fn unauthorized(fhir: bool, message: &str, bad_token: bool) -> Response {
    let mut response = error(fhir, ApiError { status: StatusCode::UNAUTHORIZED, message: message.to_owned() });
    let challenge =
        if bad_token { "Bearer realm=\"wardstream\", error=\"invalid_token\"" } else { "Bearer realm=\"wardstream\"" };
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

fn error(fhir: bool, e: ApiError) -> Response {
    if fhir { FhirError(e).into_response() } else { e.into_response() }
}

fn is_fhir(req: &Request) -> bool {
    let path = req.uri().path();
    path == "/fhir" || path.starts_with("/fhir/")
}
