//! `GET /api/v1/patients/{id}/live`: Server-Sent Events of the patient's observations as they are
//! attached (event `observation`, data = one timeline reading as JSON).
//!
//! The stream is fed by a bounded broadcast channel. A subscriber too slow to keep up is never
//! silently skipped ahead: it receives an event `gap` with the number of batches it missed, so the
//! client knows to re-read the timeline for that period. A comment keep-alive every 15 s holds
//! proxies open.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use crate::timeline::TimelineReading;

/// What the live channel carries: the attached readings of one written batch.
pub type LiveBatch = Arc<[TimelineReading]>;

/// The handler.
pub async fn live(
    State(state): State<AppState>,
    Path(patient): Path<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.live.subscribe();
    let patient: Arc<str> = Arc::from(patient);
    let events = BroadcastStream::new(receiver).flat_map(move |item| {
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
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
