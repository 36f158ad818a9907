//! Every identifiable access through the API leaves exactly one audit record, written before the
//! answer, with the caller's name, role, the action, the patients, the result count and the
//! client address; refused requests (401, 403) and accesses that show no patient leave none.

use serde_json::json;
use wardstream_ingest::audit::table::read_records;

use crate::api_common::{minutes_ago, rfc3339, start_with};
use crate::security_matrix::matrix_auth;
use crate::support::ADMIN_TOKEN;
use crate::support::http::{open_stream_as, request_as};

const CLIN_A: &str = "clinician-a-token-0123456789";
const INTEGRATION: &str = "integration-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_identifiable_access_leaves_exactly_one_audit_record_before_its_answer() {
    let data = tempfile::tempdir().unwrap();
    let service = start_with(data.path(), None, "ws-sec-audit", false, |c| c.auth = matrix_auth()).await;
    let api = service.http_address().unwrap();
    let t0 = minutes_ago(60);
    let call = |token: &str, method: &str, path: &str, body: Option<serde_json::Value>| {
        request_as(api, method, path, body.as_ref(), Some(token))
    };

    // Device placement shows no patient: not recorded.
    let placement = json!({"ward": "ICU-A", "room": "1", "bed": "A1", "from": rfc3339(t0)});
    assert_eq!(call(INTEGRATION, "PUT", "/api/v1/devices/mon-a", Some(placement)).status, 200);
    let association = json!({"id": "as-1", "device_id": "mon-a", "patient_id": "PA", "start": rfc3339(t0)});
    assert_eq!(call(INTEGRATION, "POST", "/api/v1/associations", Some(association)).status, 201);
    // PW in a bed of ICU-A: the ward page shows PW (PA is tied to a device, not to a bed).
    let bed = json!({"ward": "ICU-A", "room": "1", "bed": "A2"});
    let in_bed = json!({"id": "as-2", "bed": bed, "patient_id": "PW", "start": rfc3339(t0)});
    assert_eq!(call(INTEGRATION, "POST", "/api/v1/associations", Some(in_bed)).status, 201);
    assert_eq!(call(INTEGRATION, "GET", "/api/v1/associations?patient=PA", None).status, 200);
    assert_eq!(call(INTEGRATION, "GET", "/api/v1/devices", None).status, 200);
    assert_eq!(call(CLIN_A, "GET", "/api/v1/patients/PA/timeline", None).status, 200);
    assert_eq!(call(CLIN_A, "GET", "/fhir/r4/Observation?patient=PA", None).status, 200);
    assert_eq!(call(CLIN_A, "GET", "/api/v1/wards/ICU-A", None).status, 200);
    drop(open_stream_as(api, "/api/v1/patients/PA/live", CLIN_A));
    // Refused: no record.
    assert_eq!(call(CLIN_A, "GET", "/api/v1/patients/PB/timeline", None).status, 403);
    assert_eq!(call("nobody-knows-this", "GET", "/api/v1/patients/PA/timeline", None).status, 401);
    assert_eq!(call(CLIN_A, "GET", "/api/v1/associations?patient=PA", None).status, 403);
    // SQL over identifiable columns (admin) is recorded; one that reads none is not.
    let sql = json!({"sql": "SELECT device_id, count(*) AS n FROM vitals GROUP BY device_id"});
    assert_eq!(call(ADMIN_TOKEN, "POST", "/api/v1/query", Some(sql)).status, 200);
    let sql = json!({"sql": "SELECT patient_id, count(*) AS n FROM vitals GROUP BY patient_id"});
    assert_eq!(call(ADMIN_TOKEN, "POST", "/api/v1/query", Some(sql)).status, 200);
    let end = json!({"end": rfc3339(t0 + 60_000_000)});
    assert_eq!(call(INTEGRATION, "POST", "/api/v1/associations/as-1/end", Some(end)).status, 200);

    let records = read_records(data.path()).unwrap();
    let seen: Vec<(String, String, String, Vec<String>, u64, String)> = records
        .iter()
        .map(|r| {
            (r.user.clone(), r.role.clone(), r.action.clone(), r.patient_ids.clone(), r.result_count, r.client.clone())
        })
        .collect();
    let row = |user: &str, role: &str, action: &str, patients: &[&str], count: u64| {
        let patients = patients.iter().map(|p| p.to_string()).collect();
        (user.to_owned(), role.to_owned(), action.to_owned(), patients, count, "127.0.0.1".to_owned())
    };
    assert_eq!(
        seen,
        vec![
            row("adt-engine", "integration", "association_create", &["PA"], 1),
            row("adt-engine", "integration", "association_create", &["PW"], 1),
            row("adt-engine", "integration", "association_list", &["PA"], 1),
            row("adt-engine", "integration", "device_list", &["PA"], 1),
            row("nurse-a", "clinician", "timeline", &["PA"], 0),
            row("nurse-a", "clinician", "fhir_search", &["PA"], 0),
            row("nurse-a", "clinician", "ward_page", &["PW"], 2),
            row("nurse-a", "clinician", "live_subscribe", &["PA"], 0),
            row("admin", "admin", "sql", &[], 0),
            row("adt-engine", "integration", "association_end", &["PA"], 1),
        ]
    );
    let report = wardstream_ingest::audit::verify(data.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    service.shutdown().await.unwrap();
}

/// When the audit record cannot be written, the data is withheld: 503 (JSON error, or an
/// OperationOutcome on FHIR routes). The trail's directory is removed under the running service,
/// so its next durable write (the head anchor beside the log) fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_that_cannot_be_audited_is_503_and_returns_no_data() {
    let data = tempfile::tempdir().unwrap();
    let service = start_with(data.path(), None, "ws-sec-audit-fail", false, |c| c.auth = matrix_auth()).await;
    let api = service.http_address().unwrap();
    let t0 = minutes_ago(60);
    let association = json!({"id": "as-f", "device_id": "mon-f", "patient_id": "PF", "start": rfc3339(t0)});
    assert_eq!(request_as(api, "POST", "/api/v1/associations", Some(&association), Some(INTEGRATION)).status, 201);
    std::fs::remove_dir_all(data.path().join("audit")).unwrap();
    let r = request_as(api, "GET", "/api/v1/patients/PF/timeline", None, Some(ADMIN_TOKEN));
    assert_eq!((r.status, r.content_type.as_str()), (503, "application/json"), "{}", r.body);
    assert_eq!(r.json(), json!({"error": "the access could not be recorded in the audit trail; nothing is returned"}));
    let r = request_as(api, "GET", "/fhir/r4/Observation?patient=PF", None, Some(ADMIN_TOKEN));
    assert_eq!((r.status, r.json()["resourceType"].as_str()), (503, Some("OperationOutcome")), "{}", r.body);
    let r = request_as(api, "GET", "/api/v1/associations?patient=PF", None, Some(INTEGRATION));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(!r.body.contains("mon-f"), "{}", r.body);
    service.shutdown().await.unwrap();
}
