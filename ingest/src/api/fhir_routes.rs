//! `GET /fhir/r4/Observation?patient=…&code=…&date=…&_count=…`: a FHIR R4 `searchset` Bundle of
//! the patient's vital-signs Observations (the same readings as the timeline), oldest first, with
//! `self`, `first`, `previous` and `next` links.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::Value;

use super::AppState;
use super::audit::Caller;
use super::error::{ApiError, FhirError};
use super::fhir::{MetricNames, observation, searchset};
use super::fhir_search::{self, ObservationSearch};
use crate::auth::{Client, Principal};
use crate::timeline::TimelineQuery;

/// The handler.
pub async fn search_observations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, FhirError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let search = fhir_search::parse(&pairs).map_err(ApiError::bad_request)?;
    state.authorize_patient(&principal, &search.patient)?;
    let timeline = TimelineQuery { from: search.from, to: search.to, metric: None };
    let mut readings = state.patient_readings(&search.patient, &timeline).await?;
    if !search.codes.is_empty() {
        readings.retain(|r| search.codes.iter().any(|c| c.matches(r)));
    }
    let total = readings.len();
    let page: Vec<Value> = readings
        .iter()
        .skip(search.offset)
        .take(search.count)
        .map(|r| {
            let metric = state.catalogue.by_name(&r.metric);
            let names = MetricNames {
                display: metric.map_or(r.metric.as_str(), |m| m.display.as_str()),
                mdc_ref_id: metric.map_or("", |m| m.mdc_ref_id.as_str()),
            };
            observation(r, names)
        })
        .collect();
    let caller = Caller { principal: &principal, client: &client };
    state.audit(caller, "fhir_search", vec![search.patient.clone()], page.len() as u64).await?;
    let base = fhir_base(&headers);
    let links = paging_links(&base, &search, total);
    let links: Vec<(&str, String)> = links.iter().map(|(r, u)| (*r, u.clone())).collect();
    let bundle = searchset(&base, total, page, &links);
    Ok(([("content-type", "application/fhir+json")], Json(bundle)))
}

/// `http://{Host}/fhir/r4`.
fn fhir_base(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}/fhir/r4")
}

fn paging_links(base: &str, search: &ObservationSearch, total: usize) -> Vec<(&'static str, String)> {
    let url = |offset: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &search.canonical {
            query.append_pair(k, v);
        }
        query.append_pair("_offset", &offset.to_string());
        format!("{base}/Observation?{}", query.finish())
    };
    let mut links = vec![("self", url(search.offset)), ("first", url(0))];
    if search.offset > 0 {
        links.push(("previous", url(search.offset.saturating_sub(search.count))));
    }
    if search.count > 0 && search.offset + search.count < total {
        links.push(("next", url(search.offset + search.count)));
    }
    links
}
