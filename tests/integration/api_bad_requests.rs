//! Bad requests to the association API get a status that says what is wrong and a JSON body
//! `{"error": "…"}`, and change nothing: malformed bodies (400), a reused association id with
//! other content (409), an end for an unknown id (404).

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::api_common::{associations_of, raw, rfc3339, start};
use crate::support::http::{self, Response};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn error_of(r: &Response) -> String {
    assert_eq!(r.content_type, "application/json", "status {}: {}", r.status, r.body);
    let body: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body));
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    body["error"].as_str().unwrap_or_else(|| panic!("no error text: {body}")).to_owned()
}

fn post_raw(api: SocketAddr, path: &str, body: &str) -> Response {
    raw(api, "POST", path, &[JSON], body.as_bytes())
}

async fn service() -> (tempfile::TempDir, wardstream_ingest::Service, SocketAddr) {
    let data = tempfile::tempdir().unwrap();
    let service = start(data.path(), None, "ws-api-bad", false).await;
    let api = service.http_address().unwrap();
    (data, service, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_associations_are_400_conflicting_ids_409_unknown_ends_404_each_with_a_json_error() {
    let (_data, service, api) = service().await;
    let start = rfc3339(chrono::Utc::now().timestamp_micros() - 3_600_000_000);
    let bed = json!({"ward": "W", "room": "1", "bed": "A"});
    let cases = [
        (json!({"device_id": "m", "bed": bed, "patient_id": "P"}), "give exactly one of device_id and bed"),
        (json!({"patient_id": "P"}), "give exactly one of device_id and bed"),
        (json!({"device_id": "", "patient_id": "P"}), "give exactly one of device_id and bed"),
        (json!({"device_id": "m", "patient_id": ""}), "patient id is empty"),
        (
            json!({"device_id": "m", "patient_id": "P", "start": "yesterday"}),
            "start: 'yesterday' is not an RFC 3339 time (premature end of input)",
        ),
        (json!({"device_id": "m", "patient_id": "P", "start": start, "end": start}), "end must be after start"),
    ];
    for (body, text) in cases {
        let r = http::post(api, "/api/v1/associations", &body);
        assert_eq!((r.status, error_of(&r)), (400, text.to_owned()), "{body}");
    }

    // The same id: the same content again is a redelivery (200), other content a conflict (409).
    let first = json!({"id": "as-1", "device_id": "m", "patient_id": "P", "start": start});
    let r = http::post(api, "/api/v1/associations", &first);
    assert_eq!(r.status, 201, "{}", r.body);
    let version = r.json()["version"].clone();
    let r = http::post(api, "/api/v1/associations", &first);
    assert_eq!((r.status, &r.json()["version"]), (200, &version), "{}", r.body);
    let other = json!({"id": "as-1", "device_id": "m", "patient_id": "P-OTHER", "start": start});
    let r = http::post(api, "/api/v1/associations", &other);
    assert_eq!((r.status, error_of(&r)), (409, "association \"as-1\" already exists with different content".into()));

    // Ends: an unknown id, an end before the start.
    let r = http::post(api, "/api/v1/associations/nope/end", &json!({}));
    assert_eq!((r.status, error_of(&r)), (404, "no association with id \"nope\"".into()));
    let r = http::post(api, "/api/v1/associations/as-1/end", &json!({"end": "2000-01-01T00:00:00Z"}));
    assert_eq!((r.status, error_of(&r)), (400, "association \"as-1\" would end before it starts".into()));

    // Nothing above changed anything: one device interval, open, for P; none for P-OTHER.
    let p = associations_of(api, "P");
    assert_eq!(p["devices"], json!([{"device_id": "m", "start": start, "end": null}]), "{p}");
    assert_eq!(p["version"], version);
    assert_eq!(associations_of(api, "P-OTHER")["devices"], json!([]));
    let r = http::get(api, "/api/v1/associations");
    assert_eq!((r.status, error_of(&r)), (400, "the patient parameter is required".into()));
    service.shutdown().await.unwrap();
}

/// Bodies that are not the expected JSON (broken JSON, a missing or unknown field, a field of
/// the wrong type) are a 400 with the API's JSON error body; a body without a JSON content type
/// is a 415 (the right status) with the same JSON error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_association_bodies_are_400_with_a_json_error() {
    let (_data, service, api) = service().await;
    let bodies = [
        r#"{"device_id": "m", "patient_id": "#,
        r#"{"device_id": "m"}"#,
        r#"{"device_id": "m", "patient_id": "P", "room": "3"}"#,
        r#"{"device_id": "m", "patient_id": 7}"#,
        r#"[]"#,
    ];
    let mut answers = Vec::new();
    for body in bodies {
        let r = post_raw(api, "/api/v1/associations", body);
        answers.push((body, 400, r.status, r.content_type.clone(), r.body.clone()));
    }
    let r = raw(api, "POST", "/api/v1/associations", &[], br#"{"device_id": "m", "patient_id": "P"}"#);
    answers.push(("(no Content-Type)", 415, r.status, r.content_type.clone(), r.body.clone()));
    let wrong: Vec<String> = answers
        .iter()
        .filter(|(_, want, status, content_type, text)| {
            let json_error = serde_json::from_str::<Value>(text).is_ok_and(|v| v["error"].is_string());
            (*status, content_type.as_str(), json_error) != (*want, "application/json", true)
        })
        .map(|(body, want, status, content_type, text)| {
            format!("{body} → {status} {content_type} {text} (want {want})")
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(associations_of(api, "P")["devices"], json!([]));
    service.shutdown().await.unwrap();
}

/// An end whose body the server cannot read must not end the association at another time than
/// the one asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_body_without_content_type_is_refused_not_replaced_by_now() {
    let (_data, service, api) = service().await;
    let now = chrono::Utc::now().timestamp_micros();
    let (start, end) = (rfc3339(now - 3_600_000_000), rfc3339(now - 1_800_000_000));
    let r = http::post(
        api,
        "/api/v1/associations",
        &json!({"id": "as-2", "device_id": "m", "patient_id": "P", "start": start}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let body = json!({"end": end}).to_string();
    let r = raw(api, "POST", "/api/v1/associations/as-2/end", &[], body.as_bytes());
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (415, "the request body must be JSON, sent with Content-Type: application/json")
    );
    let devices = associations_of(api, "P")["devices"].clone();
    assert_eq!(devices[0]["end"], Value::Null, "the refused end changed nothing");
    // With the content type, the same body ends it at the time asked; an empty body ends it now.
    let r = raw(api, "POST", "/api/v1/associations/as-2/end", &[JSON], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(associations_of(api, "P")["devices"][0]["end"], json!(end));
    let r = http::post(
        api,
        "/api/v1/associations",
        &json!({"id": "as-3", "device_id": "m2", "patient_id": "P3", "start": start}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = raw(api, "POST", "/api/v1/associations/as-3/end", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(associations_of(api, "P3")["devices"][0]["end"].is_string());
    service.shutdown().await.unwrap();
}
