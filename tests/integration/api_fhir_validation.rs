//! The FHIR search read by an independent library: every Bundle (and every page of a paged
//! search) and every OperationOutcome the API returns is parsed by `fhir.resources` (R4B models,
//! `peers/fhir_validate.py`, which also applies the FHIR JSON rules the models skip), and the
//! values that library reads are checked exactly against the readings sent.
//!
//! Story: monitor `mon-f1` placed at `ICU-F^1^F1` (`PUT /api/v1/devices`), patient `PF1` in that
//! bed (`POST /api/v1/associations`, encounter `V-F1`), and over MQTT, every 5 s from T0: heart
//! rate `60+k` and SpO2 `94+k` (k = 0..5), then at T0+30 s a heart rate of 400 (implausible) and a
//! pulse rate of 70 (a metric without LOINC code): 14 readings.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::api_common::{associate, place, python, rfc3339, senml, start, wait_readings};
use crate::support::http;
use crate::support::mosquitto::Mosquitto;
use crate::support::publish_lines;

const SECOND: i64 = 1_000_000;

/// One expected Observation: (effective µs, LOINC, MDC, value, unit, tags).
type Expected = (i64, Option<String>, String, f64, String, Vec<String>);

fn expected(t: i64, loinc: Option<&str>, mdc: &str, value: f64, unit: &str, tags: &[&str]) -> Expected {
    (t, loinc.map(str::to_owned), mdc.into(), value, unit.into(), tags.iter().map(|t| t.to_string()).collect())
}

fn readings(t0: i64) -> Vec<Expected> {
    let mut out = Vec::new();
    for k in 0..6 {
        let t = t0 + k * 5 * SECOND;
        out.push(expected(t, Some("8867-4"), "147842", 60.0 + k as f64, "/min", &[]));
        out.push(expected(t, Some("59408-5"), "150456", 94.0 + k as f64, "%", &[]));
    }
    let t = t0 + 30 * SECOND;
    out.push(expected(t, Some("8867-4"), "147842", 400.0, "/min", &["implausible"]));
    out.push(expected(t, None, "149514", 70.0, "/min", &[]));
    out.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    out
}

/// What the Python peer read of one Observation, in the shape of [`Expected`].
fn read(o: &Value) -> Expected {
    let text_of = |v: &Value| v.as_str().unwrap().to_owned();
    assert_eq!(o["subject"], "Patient/PF1", "{o}");
    assert_eq!(o["encounter"], "V-F1", "{o}");
    assert_eq!(o["device"], "mon-f1", "{o}");
    assert_eq!(o["category"], json!(["vital-signs"]), "{o}");
    assert_eq!(o["status"], "final", "{o}");
    assert_eq!(o["unit_system"], "http://unitsofmeasure.org", "{o}");
    let implausible = o["tags"] == json!(["implausible"]);
    let text = if implausible { json!(["wardstream quality: implausible"]) } else { json!([]) };
    assert_eq!(o["interpretation"], text, "{o}");
    let loinc = o["loinc"].as_str().map(str::to_owned);
    let systems = if loinc.is_some() {
        json!(["http://loinc.org", "urn:iso:std:iso:11073:10101"])
    } else {
        json!(["urn:iso:std:iso:11073:10101"])
    };
    assert_eq!(o["coding_systems"], systems, "LOINC first, then MDC: {o}");
    let tags = o["tags"].as_array().unwrap().iter().map(text_of).collect();
    (
        o["effective"].as_i64().unwrap(),
        loinc,
        text_of(&o["mdc"]),
        o["value"].as_f64().unwrap(),
        text_of(&o["unit"]),
        tags,
    )
}

/// Fetches a search and every page its `next` links lead to; returns the raw bodies.
fn pages(api: SocketAddr, first: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(p) = path.take() {
        let r = http::get(api, &p);
        assert_eq!((r.status, r.content_type.as_str()), (200, "application/fhir+json"), "{p}: {}", r.body);
        let bundle = r.json();
        path = bundle["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").map(|l| {
            let url = l["url"].as_str().unwrap();
            let at = url.find("/fhir/r4/").unwrap();
            assert!(url.starts_with(&format!("http://{api}/")), "{url}");
            url[at..].to_owned()
        });
        out.push(r.body);
        assert!(out.len() <= 20, "paging does not end");
    }
    out
}

/// Validates `docs` with the peer; asserts each one passed and returns what it read.
fn validate(docs: &[String]) -> Vec<Value> {
    let input: String = docs.iter().map(|d| format!("{}\n", d.replace('\n', ""))).collect();
    let out = python("fhir_validate.py", &[], &input);
    assert_eq!(out.len(), docs.len());
    for (doc, read) in docs.iter().zip(&out) {
        assert_eq!(read["ok"], true, "{read}\nfor {doc}");
    }
    out
}

fn observations(read: &[Value]) -> Vec<Expected> {
    read.iter().flat_map(|b| b["observations"].as_array().unwrap().iter().map(self::read).collect::<Vec<_>>()).collect()
}

/// The link relations of a Bundle as the peer read them, sorted.
fn relations(bundle: &Value) -> Vec<String> {
    let mut list: Vec<String> = bundle["links"].as_object().unwrap().keys().cloned().collect();
    list.sort_unstable();
    list
}

fn sorted(mut list: Vec<Expected>) -> Vec<Expected> {
    list.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bundle_page_and_operation_outcome_parses_with_fhir_resources_and_holds_the_readings() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let service = start(data.path(), Some(&broker), "ws-api-fhir", false).await;
    let api = service.http_address().unwrap();
    let t0 = (chrono::Utc::now().timestamp_micros() - 90 * SECOND) / SECOND * SECOND;
    place(api, "mon-f1", ("ICU-F", "1", "F1"), t0 - 3600 * SECOND);
    associate(
        api,
        &json!({"bed": {"ward": "ICU-F", "room": "1", "bed": "F1"}, "patient_id": "PF1", "encounter_id": "V-F1",
                "start": rfc3339(t0 - 1800 * SECOND)}),
    );
    let mut lines = Vec::new();
    for k in 0..6 {
        let t = t0 + k * 5 * SECOND;
        lines.push(senml("mon-f1", t, "HR", "/min", 60.0 + k as f64));
        lines.push(senml("mon-f1", t, "SpO2", "%", 94.0 + k as f64));
    }
    lines.push(senml("mon-f1", t0 + 30 * SECOND, "HR", "/min", 400.0));
    lines.push(senml("mon-f1", t0 + 30 * SECOND, "pulse_rate", "/min", 70.0));
    publish_lines(broker.port(), "wardstream/icu/mon-f1/vitals", "pub-fhir", &lines);
    wait_readings(&service, 14).await;
    let all = readings(t0);

    // Everything in one page, then by code (LOINC, MDC system), then by date range.
    let whole = pages(api, "/fhir/r4/Observation?patient=PF1&_count=1000");
    let hr = pages(api, "/fhir/r4/Observation?patient=Patient/PF1&code=http://loinc.org%7C8867-4&_count=1000");
    let pulse = pages(api, "/fhir/r4/Observation?subject=PF1&code=urn:iso:std:iso:11073:10101%7C149514");
    let (from, to) = (rfc3339(t0 + 10 * SECOND), rfc3339(t0 + 20 * SECOND));
    let range = pages(api, &format!("/fhir/r4/Observation?patient=PF1&date=ge{from}&date=le{to}"));
    let read = validate(&[whole.clone(), hr.clone(), pulse.clone(), range.clone()].concat());
    assert_eq!((whole.len(), hr.len(), pulse.len(), range.len()), (1, 1, 1, 1));
    for (b, total) in read.iter().zip([14, 7, 1, 6]) {
        assert_eq!((b["type"].as_str(), b["total"].as_i64()), (Some("searchset"), Some(total)), "{b}");
        assert_eq!(relations(b), ["first", "self"], "{b}");
    }
    let got = observations(&read[..1]);
    assert_eq!(got, all, "oldest first, as fhir.resources reads them");
    let want = |keep: &dyn Fn(&Expected) -> bool| all.iter().filter(|e| keep(e)).cloned().collect::<Vec<_>>();
    assert_eq!(sorted(observations(&read[1..2])), want(&|e| e.2 == "147842"));
    assert_eq!(observations(&read[2..3]), want(&|e| e.2 == "149514"));
    // `le` with a time to the second covers that second: readings at T0+10, +15 and +20 s.
    assert_eq!(sorted(observations(&read[3..4])), want(&|e| (t0 + 10 * SECOND..=t0 + 20 * SECOND).contains(&e.0)));

    // Paged by two: every page valid, the pages together hold each reading exactly once.
    for (query, total) in [("patient=PF1&_count=2", 14_usize), ("patient=PF1&code=8867-4&_count=2", 7)] {
        let bodies = pages(api, &format!("/fhir/r4/Observation?{query}"));
        assert_eq!(bodies.len(), total.div_ceil(2), "{query}");
        let read = validate(&bodies);
        let mut ids = BTreeSet::new();
        for (i, page) in read.iter().enumerate() {
            let n = page["observations"].as_array().unwrap().len();
            assert_eq!((page["total"].as_u64(), n), (Some(total as u64), 2.min(total - 2 * i)), "{query} page {i}");
            let mut want = vec!["first", "self"];
            if i > 0 {
                want.push("previous");
            }
            if i + 1 < read.len() {
                want.push("next");
            }
            want.sort_unstable();
            assert_eq!(relations(page), want, "{query} page {i}");
            for o in page["observations"].as_array().unwrap() {
                assert!(ids.insert(o["id"].as_str().unwrap().to_owned()), "{query}: {} twice", o["id"]);
            }
        }
        assert_eq!(ids.len(), total, "{query}");
        let every = sorted(observations(&read));
        let expected = if total == 14 { all.clone() } else { want(&|e| e.2 == "147842") };
        assert_eq!(every, expected, "{query}");
    }

    // Bad requests: 400 with an OperationOutcome.
    let bad = [
        ("/fhir/r4/Observation?code=8867-4", "the patient parameter is required (searches are per patient)"),
        ("/fhir/r4/Observation?patient=PF1&date=ge2026-13-45", "date: '2026-13-45' is not a FHIR date or dateTime"),
        ("/fhir/r4/Observation?patient=PF1&_count=x", "_count: 'x' is not a number"),
    ];
    let mut bodies = Vec::new();
    for (path, _) in bad {
        let r = http::get(api, path);
        assert_eq!((r.status, r.content_type.as_str()), (400, "application/fhir+json"), "{path}: {}", r.body);
        bodies.push(r.body);
    }
    for (outcome, (path, text)) in validate(&bodies).iter().zip(bad) {
        let issue = json!([{"severity": "error", "code": "invalid", "diagnostics": text}]);
        assert_eq!((&outcome["resourceType"], &outcome["issues"]), (&json!("OperationOutcome"), &issue), "{path}");
    }
    service.shutdown().await.unwrap();
}

/// FHIR JSON never holds an empty array ("JSON representation": arrays, objects and strings are
/// never empty): a search that matches nothing should leave `entry` out, not send `"entry": []`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_matches_nothing_is_a_valid_empty_bundle() {
    let data = tempfile::tempdir().unwrap();
    let service = start(data.path(), None, "ws-api-fhir-empty", false).await;
    let api = service.http_address().unwrap();
    let body = pages(api, "/fhir/r4/Observation?patient=NOBODY");
    let read = validate(&body);
    assert_eq!((read[0]["total"].as_i64(), read[0]["observations"].as_array().map(Vec::len)), (Some(0), Some(0)));
    service.shutdown().await.unwrap();
}
