//! Every route of the HTTP API × every role (and no token, a wrong token): the exact status,
//! 401 with `WWW-Authenticate: Bearer`, FHIR routes answering 401/403 with an OperationOutcome,
//! the clinician's ward scope (patients now or recently in their wards), the body limit (413) and
//! no CORS headers. Through real sockets against an in-process service.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};
use wardstream_ingest::auth::settings::TokenEntry;
use wardstream_ingest::auth::tokens::sha256_hex;
use wardstream_ingest::auth::{AuthSettings, Role};

use crate::api_common::{MINUTE, associate, minutes_ago, place, raw, rfc3339, start_with};
use crate::support::ADMIN_TOKEN;
use crate::support::http::{Response, open_stream_as, request_as};

const CLIN_A: &str = "clinician-a-token-0123456789";
const CLIN_B: &str = "clinician-b-token-0123456789";
const ANALYST: &str = "analyst-token-0123456789";
const INTEGRATION: &str = "integration-token-0123456789";

/// The callers, in the order of the expected statuses of each row.
const CALLERS: [(&str, Option<&str>); 7] = [
    ("no token", None),
    ("wrong token", Some("not-a-token-of-this-server")),
    ("clinician ICU-A", Some(CLIN_A)),
    ("clinician ICU-B", Some(CLIN_B)),
    ("analyst", Some(ANALYST)),
    ("integration", Some(INTEGRATION)),
    ("admin", Some(ADMIN_TOKEN)),
];

fn entry(name: &str, role: Role, wards: &[&str], token: &str) -> TokenEntry {
    TokenEntry {
        name: name.into(),
        role,
        wards: wards.iter().map(|w| w.to_string()).collect(),
        sha256: Some(sha256_hex(token)),
        token_file: None,
        token_env: None,
    }
}

/// `[auth]` with one token per caller above.
pub fn matrix_auth() -> AuthSettings {
    AuthSettings {
        tokens: vec![
            entry("nurse-a", Role::Clinician, &["ICU-A"], CLIN_A),
            entry("nurse-b", Role::Clinician, &["ICU-B"], CLIN_B),
            entry("analyst", Role::Analyst, &[], ANALYST),
            entry("adt-engine", Role::Integration, &[], INTEGRATION),
            entry("admin", Role::Admin, &[], ADMIN_TOKEN),
        ],
        ..AuthSettings::default()
    }
}

/// Checks a refusal's body: JSON `{"error"}`, or an OperationOutcome on FHIR routes; 401s carry
/// the Bearer challenge.
fn check_refusal(path: &str, r: &Response) {
    if path.starts_with("/fhir/") {
        assert_eq!(r.content_type, "application/fhir+json", "{path}: {}", r.body);
        let outcome = r.json();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{path}: {outcome}");
        let code = if r.status == 401 { "login" } else { "forbidden" };
        assert_eq!(outcome["issue"][0]["code"], code, "{path}: {outcome}");
    } else {
        assert_eq!(r.content_type, "application/json", "{path}: {}", r.body);
        assert!(r.json()["error"].is_string(), "{path}: {}", r.body);
    }
    if r.status == 401 {
        assert!(r.www_authenticate.as_deref().is_some_and(|c| c.starts_with("Bearer ")), "{path}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_role_exactly_as_its_scope_allows() {
    let data = tempfile::tempdir().unwrap();
    let key = data.path().join("pseudonym.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    let service = start_with(data.path(), None, "ws-sec-matrix", false, |c| {
        c.auth = matrix_auth();
        c.associations.retro_window_hours = 72;
        c.privacy.pseudonym_key_file = Some(key.clone());
    })
    .await;
    let api = service.http_address().unwrap();
    let now = chrono::Utc::now().timestamp_micros() / MINUTE * MINUTE;
    let t0 = minutes_ago(120);
    // PA by a device in ICU-A, PB by a device in ICU-B (now); PR in an ICU-A bed until 2 h ago
    // (recent), PO until 30 h ago (not recent: outside the default 24 h).
    place(api, "mon-a", ("ICU-A", "1", "A1"), t0);
    place(api, "mon-b", ("ICU-B", "1", "B1"), t0);
    associate(api, &json!({"id": "as-a", "device_id": "mon-a", "patient_id": "PA", "start": rfc3339(t0)}));
    associate(api, &json!({"id": "as-b", "device_id": "mon-b", "patient_id": "PB", "start": rfc3339(t0)}));
    let bed = |b: &str| json!({"ward": "ICU-A", "room": "1", "bed": b});
    let hours = |h: i64| rfc3339(now - h * 60 * MINUTE);
    associate(api, &json!({"id": "as-r", "bed": bed("A2"), "patient_id": "PR", "start": hours(5), "end": hours(2)}));
    associate(api, &json!({"id": "as-o", "bed": bed("A3"), "patient_id": "PO", "start": hours(50), "end": hours(30)}));
    associate(api, &json!({"id": "as-e", "device_id": "mon-e", "patient_id": "PE", "start": rfc3339(t0)}));

    let query = json!({"sql": "SELECT count(*) FROM vitals"});
    let new_association = json!({"id": "as-new", "device_id": "mon-n", "patient_id": "PN", "start": rfc3339(t0)});
    let placement = json!({"ward": "ICU-A", "room": "1", "bed": "A9", "from": rfc3339(t0)});
    let end = json!({"end": rfc3339(now - MINUTE)});
    //            method  path                                       body               none bad  clA  clB  ana  int  adm
    let rows: Vec<(&str, String, Option<&Value>, [u16; 7])> = vec![
        ("GET", "/healthz".into(), None, [200, 200, 200, 200, 200, 200, 200]),
        ("GET", "/metrics".into(), None, [401, 401, 403, 403, 403, 403, 200]),
        ("GET", "/api/v1/patients/PA/timeline".into(), None, [401, 401, 200, 403, 403, 403, 200]),
        ("GET", "/api/v1/patients/PB/timeline".into(), None, [401, 401, 403, 200, 403, 403, 200]),
        ("GET", "/api/v1/patients/PR/timeline".into(), None, [401, 401, 200, 403, 403, 403, 200]),
        ("GET", "/api/v1/patients/PO/timeline".into(), None, [401, 401, 403, 403, 403, 403, 200]),
        ("GET", "/api/v1/patients/NOBODY/timeline".into(), None, [401, 401, 403, 403, 403, 403, 200]),
        ("GET", "/api/v1/patients/PA/live".into(), None, [401, 401, 200, 403, 403, 403, 200]),
        ("GET", "/fhir/r4/Observation?patient=PA".into(), None, [401, 401, 200, 403, 403, 403, 200]),
        ("GET", "/fhir/r4/Observation?patient=Patient/PB".into(), None, [401, 401, 403, 200, 403, 403, 200]),
        ("GET", "/fhir/r4/Observation?patient=PO".into(), None, [401, 401, 403, 403, 403, 403, 200]),
        ("GET", "/api/v1/wards/ICU-A".into(), None, [401, 401, 200, 403, 403, 403, 200]),
        ("GET", "/api/v1/wards/ICU-B".into(), None, [401, 401, 403, 200, 403, 403, 200]),
        ("GET", "/api/v1/devices".into(), None, [401, 401, 403, 403, 403, 200, 200]),
        ("PUT", "/api/v1/devices/mon-p".into(), Some(&placement), [401, 401, 403, 403, 403, 200, 200]),
        ("POST", "/api/v1/associations".into(), Some(&new_association), [401, 401, 403, 403, 403, 201, 200]),
        ("GET", "/api/v1/associations?patient=PA".into(), None, [401, 401, 403, 403, 403, 200, 200]),
        ("POST", "/api/v1/associations/as-e/end".into(), Some(&end), [401, 401, 403, 403, 403, 200, 200]),
        ("POST", "/api/v1/query".into(), Some(&query), [401, 401, 403, 403, 200, 403, 200]),
        ("GET", "/api/v1/nothing-here".into(), None, [401, 401, 404, 404, 404, 404, 404]),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &rows {
        for ((caller, token), want) in CALLERS.iter().zip(expected) {
            let live = path.ends_with("/live") && *want == 200;
            let status = if live {
                // A stream that opens (200) never ends: open it and drop it.
                drop(open_stream_as(api, path, token.unwrap()));
                200
            } else {
                let r = request_as(api, method, path, *body, *token);
                if [401, 403].contains(&r.status) {
                    check_refusal(path, &r);
                }
                r.status
            };
            if status != *want {
                wrong.push(format!("{method} {path} as {caller}: {status}, want {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_and_no_cors_headers_are_sent() {
    let data = tempfile::tempdir().unwrap();
    let service = start_with(data.path(), None, "ws-sec-limits", false, |c| {
        c.auth = matrix_auth();
        c.http.max_body_bytes = 1024;
    })
    .await;
    let api = service.http_address().unwrap();
    let auth = format!("Bearer {INTEGRATION}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let padding = "x".repeat(2000);
    let big = json!({"device_id": "m", "patient_id": "P", "id": padding}).to_string();
    let r = raw(api, "POST", "/api/v1/associations", &headers, big.as_bytes());
    assert_eq!((r.status, r.content_type.as_str()), (413, "application/json"), "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"error": "the request body is larger than this server accepts"})
    );
    let small = json!({"device_id": "m", "patient_id": "P", "id": "as-small"}).to_string();
    assert_eq!(raw(api, "POST", "/api/v1/associations", &headers, small.as_bytes()).status, 201);

    // A cross-origin request and a preflight: no Access-Control-* header in either answer.
    for request in [
        format!(
            "GET /api/v1/devices HTTP/1.0\r\nHost: {api}\r\nOrigin: http://elsewhere.example\r\nAuthorization: {auth}\r\n\r\n"
        ),
        format!(
            "OPTIONS /api/v1/devices HTTP/1.0\r\nHost: {api}\r\nOrigin: http://elsewhere.example\r\n\
             Access-Control-Request-Method: PUT\r\n\r\n"
        ),
    ] {
        let head = head_of(api, &request);
        assert!(!head.to_ascii_lowercase().contains("access-control-"), "{head}");
    }
    service.shutdown().await.unwrap();
}

/// The status line and headers of the answer to `request`.
fn head_of(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}
