//! Scope checks of the clinical handlers: a clinician asking for a patient or a ward outside
//! their scope ([`crate::auth::scope`]) gets 403; the FHIR handler turns it into an
//! OperationOutcome.

use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use crate::auth::Principal;
use crate::auth::scope::{may_see_patient, may_see_ward};

impl AppState {
    /// `Ok` when `principal` may see `patient` now; 403 otherwise.
    pub fn authorize_patient(&self, principal: &Principal, patient: &str) -> Result<(), ApiError> {
        let snapshot = self.associations.snapshot();
        let recent = self.access.clinician_recent_micros();
        if may_see_patient(principal, &snapshot, patient, self.now(), recent) {
            Ok(())
        } else {
            Err(forbidden("this patient is not in your wards"))
        }
    }

    /// `Ok` when `principal` may see the page of `ward`; 403 otherwise.
    pub fn authorize_ward(&self, principal: &Principal, ward: &str) -> Result<(), ApiError> {
        if may_see_ward(principal, ward) { Ok(()) } else { Err(forbidden("this ward is not one of yours")) }
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError { status: StatusCode::FORBIDDEN, message: message.to_owned() }
}
