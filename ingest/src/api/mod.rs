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
//! | `POST /api/v1/query` | read-only SQL for analysts and admins ([`query`]) |
//!
//! Every route but `/healthz` requires `Authorization: Bearer <token>` (401 otherwise); the roles
//! admitted per route are in [`crate::auth`] (403 otherwise), and a clinician sees only the
//! patients and wards of their scope ([`scope`]). `/metrics` is for `admin` tokens (give the
//! Prometheus scraper one with `bearer_token_file`): a decision to keep operational counters
//! behind the same authentication as everything else rather than add a fifth role. Every access
//! showing patient data is written to the audit trail before the answer ([`audit`]). JSON bodies
//! are read by [`body`] (400/413/415 with the JSON error body).
//!
//! Every handler reads the association snapshot once per request, so one answer is consistent.

pub mod associations;
pub mod audit;
pub mod body;
pub mod devices;
pub mod error;
pub mod fhir;
pub mod fhir_routes;
pub mod fhir_search;
pub mod live;
pub mod query;
pub mod scope;
pub mod timeline;
pub mod wards;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};
use tokio::sync::broadcast;
use wardstream_pipeline::{Catalogue, Clock, HotStore, Micros};
use wardstream_storage::QuerySession;

use crate::associations::Associations;
use crate::auth::Access;
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
    /// Who may call the API ([`crate::auth`]).
    pub access: Arc<Access>,
    /// Largest request body accepted, bytes (larger: 413).
    pub max_body_bytes: usize,
    /// The audit trail: one record per identifiable access, before the answer ([`audit`]).
    pub audit: crate::audit::AuditTrail,
    /// The SQL engine of `POST /api/v1/query` (none: the endpoint answers 501).
    pub sql: Option<crate::sql_api::SqlEngine>,
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

/// The router with every route: `/healthz` open, everything else behind authentication and the
/// role checks of [`crate::auth::middleware`]; request bodies limited to `max_body_bytes` (413);
/// no CORS headers.
pub fn router(state: AppState) -> Router {
    use crate::auth::middleware::{ANALYTICS, CLINICAL, OPERATOR, REGISTRY, authenticate, require};
    let clinical = Router::new()
        .route("/api/v1/patients/{id}/timeline", get(timeline::timeline))
        .route("/api/v1/patients/{id}/live", get(live::live))
        .route("/fhir/r4/Observation", get(fhir_routes::search_observations))
        .route("/api/v1/wards/{ward}", get(wards::ward))
        .route_layer(from_fn_with_state(CLINICAL, require));
    let registry = Router::new()
        .route("/api/v1/devices", get(devices::list))
        .route("/api/v1/devices/{id}", put(devices::place))
        .route("/api/v1/associations", post(associations::create).get(associations::list))
        .route("/api/v1/associations/{id}/end", post(associations::end))
        .route_layer(from_fn_with_state(REGISTRY, require));
    let analytics =
        Router::new().route("/api/v1/query", post(query::query)).route_layer(from_fn_with_state(ANALYTICS, require));
    let operator = Router::new().route("/metrics", get(metrics)).route_layer(from_fn_with_state(OPERATOR, require));
    Router::new()
        .merge(clinical)
        .merge(registry)
        .merge(analytics)
        .merge(operator)
        .layer(from_fn_with_state(Arc::clone(&state.access), authenticate))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}
