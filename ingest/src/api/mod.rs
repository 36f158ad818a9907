//! The HTTP API (axum): clinician-facing timelines, FHIR R4, live streams, devices, wards and
//! bedside associations. Default address `127.0.0.1:8080`.
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | liveness |
//! | `GET /metrics` | Prometheus counters (WAL, fsync latency, acks, files, attach, errors) |
//! | `GET /api/v1/patients/{id}/timeline?from=&to=&metric=` | a patient's readings, JSON ([`timeline`]) |
//! | `GET /api/v1/patients/{id}/live` | Server-Sent Events as readings are attached ([`live`]) |
//! | `GET /fhir/r4/Observation?patient=&code=&date=&_count=` | FHIR R4 searchset Bundle ([`fhir_routes`]) |
//! | `GET /api/v1/devices` | devices: bed, patient, state, last seen, counters ([`devices`]) |
//! | `PUT /api/v1/devices/{id}` | place a device at a bed (device registry) |
//! | `GET /api/v1/wards/{ward}` | beds, patients and latest vitals ([`wards`]) |
//! | `POST /api/v1/associations`, `POST /api/v1/associations/{id}/end` | bedside association ([`associations`]) |
//!
//! Every handler reads the association snapshot once per request, so one answer is consistent.

pub mod associations;
pub mod devices;
pub mod error;
pub mod fhir;
pub mod fhir_routes;
pub mod fhir_search;
pub mod live;
pub mod timeline;
pub mod wards;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use tokio::sync::broadcast;
use wardstream_pipeline::{Catalogue, Clock, HotStore, Micros};
use wardstream_storage::QuerySession;

use crate::associations::Associations;
use crate::device_board::DeviceBoard;
use crate::timeline::{TimelineQuery, TimelineReading, patient_timeline};
use error::ApiError;
use live::LiveBatch;

/// What every handler shares (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// Association history and its snapshot.
    pub associations: Arc<Associations>,
    /// Recent observations per device.
    pub hot: Arc<HotStore>,
    /// SQL over the stored tables.
    pub session: QuerySession,
    /// The name of the stored vitals table in `session`.
    pub stored_table: Arc<str>,
    /// The metric catalogue.
    pub catalogue: Arc<Catalogue>,
    /// Attached readings as they are written.
    pub live: broadcast::Sender<LiveBatch>,
    /// Devices seen, with counters.
    pub devices: Arc<DeviceBoard>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Counters for `/metrics`.
    pub metrics: Arc<crate::metrics::MetricsRegistry>,
}

impl AppState {
    /// Now, in µs.
    pub fn now(&self) -> Micros {
        self.clock.now_micros()
    }

    /// The catalogue name of a metric given by name, alias or code.
    pub fn metric_name(&self, text: &str) -> Option<String> {
        self.catalogue.lookup(text).or_else(|| self.catalogue.by_name(text)).map(|m| m.name.clone())
    }

    /// A patient's readings: the device spans of the current snapshot, hot and stored.
    pub async fn patient_readings(
        &self,
        patient: &str,
        query: &TimelineQuery,
    ) -> Result<Vec<TimelineReading>, ApiError> {
        let spans = self.associations.spans(patient);
        patient_timeline(&spans, query, &self.hot, &self.session, &self.stored_table)
            .await
            .map_err(|e| ApiError::internal(&e))
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], state.metrics.render())
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/patients/{id}/timeline", get(timeline::timeline))
        .route("/api/v1/patients/{id}/live", get(live::live))
        .route("/fhir/r4/Observation", get(fhir_routes::search_observations))
        .route("/api/v1/devices", get(devices::list))
        .route("/api/v1/devices/{id}", put(devices::place))
        .route("/api/v1/wards/{ward}", get(wards::ward))
        .route("/api/v1/associations", post(associations::create).get(associations::list))
        .route("/api/v1/associations/{id}/end", post(associations::end))
        .with_state(state)
}
