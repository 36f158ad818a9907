//! `GET /api/v1/patients/{id}/live`: Server-Sent Events of the patient's observations as they are
//! attached (event `observation`, data = one timeline reading as JSON).
//!
//! The stream is fed by a bounded broadcast channel. A subscriber too slow to keep up is never
//! silently skipped ahead: it receives an event `gap` with the number of batches it missed, so the
//! client knows to re-read the timeline for that period. A comment keep-alive every 15 s holds
//! proxies open.
//!
//! A clinician may subscribe only to a patient of their scope ([`crate::auth::scope`]); the
//! scope is checked again with each batch, and the stream ends once the patient left it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::future;
use futures_util::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use super::audit::Caller;
use super::error::ApiError;
use crate::auth::{Client, Principal};
use crate::timeline::TimelineReading;

/// What the live channel carries: the attached readings of one written batch.
pub type LiveBatch = Arc<[TimelineReading]>;

/// The handler.
pub async fn live(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    Path(patient): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    state.authorize_patient(&principal, &patient)?;
    let caller = Caller { principal: &principal, client: &client };
    state.audit(caller, "live_subscribe", vec![patient.clone()], 0).await?;
    let receiver = state.live.subscribe();
    // The scope is checked again with every batch: a clinician's stream ends once the patient is
    // no longer (recently) in one of their wards.
    let in_scope = {
        let (state, patient) = (state.clone(), patient.clone());
        move |_: &_| future::ready(state.authorize_patient(&principal, &patient).is_ok())
    };
    let patient: Arc<str> = Arc::from(patient);
    let events = BroadcastStream::new(receiver).take_while(in_scope).flat_map(move |item| {
        let events: Vec<Result<Event, Infallible>> = match item {
            Ok(batch) => batch
                .iter()
                .filter(|r| r.patient_id == patient)
                .filter_map(|r| Event::default().event("observation").json_data(r).ok())
                .map(Ok)
                .collect(),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                vec![Ok(Event::default().event("gap").data(format!("{{\"missed_batches\":{missed}}}")))]
            }
        };
        stream::iter(events)
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
