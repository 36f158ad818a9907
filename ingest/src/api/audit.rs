//! The audit hook of the handlers: one record per access to patient-identifiable data, written
//! (durably, see [`crate::audit::AuditTrail::record`]) **before** the answer is sent. When the
//! record cannot be written the data is not returned: 503.
//!
//! Actions: `timeline`, `fhir_search`, `live_subscribe`, `association_create`, `association_end`,
//! `association_list`, `ward_page` and `device_list` (when they show a patient), `sql` (when a
//! statement read identifiable columns). A device placement shows no patient and is not
//! recorded; refused requests (401, 403, 400) are not recorded either.
//!
//! A change (association create/end) is recorded after it is durable: if the record then fails,
//! the answer is 503 although the change is stored; repeating the same request is a redelivery
//! (200) and is recorded then.

use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use crate::audit::AuditEntry;
use crate::auth::{Client, Principal};

/// Who asked: the principal and the client address, as the middleware put them in the request.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    /// The authenticated principal.
    pub principal: &'a Principal,
    /// The client address.
    pub client: &'a Client,
}

impl AppState {
    /// Records one access; 503 (and the data withheld) when the record cannot be written.
    pub async fn audit(
        &self,
        caller: Caller<'_>,
        action: &str,
        patient_ids: Vec<String>,
        result_count: u64,
    ) -> Result<(), ApiError> {
        let entry = AuditEntry {
            user: caller.principal.user.clone(),
            role: caller.principal.role.as_str().to_owned(),
            action: action.to_owned(),
            patient_ids,
            result_count,
            client: caller.client.0.clone(),
        };
        let trail = self.audit.clone();
        let written = tokio::task::spawn_blocking(move || trail.record(entry)).await;
        let failure = match written {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("audit task: {e}"),
        };
        tracing::error!(error = %failure, action, "audit record not written: the answer is withheld");
        Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the access could not be recorded in the audit trail; nothing is returned".into(),
        })
    }
}
