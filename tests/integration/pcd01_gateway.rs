//! PCD-01 device results from a gateway over MLLP/TCP, sent by the Python `hl7` package's MLLP
//! client (`peers/mllp_send.py`), into the running service: every numeric OBX of the two real IHE
//! samples is stored once, acknowledged `AA` only after it is durable, and the message's PID-3
//! patient hint is checked against the association store — a hint the store disagrees with flags
//! the readings `patient_mismatch`, never re-attributes them.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use wardstream_ingest::Service;
use wardstream_ingest::pcd01_listener::Pcd01Settings;

use crate::support::mosquitto::Mosquitto;
use crate::support::{count, http, service_config};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocols/tests/data/hl7");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_results_are_stored_once_and_a_disagreeing_patient_hint_is_flagged() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let mut config = service_config(data.path(), &broker.url(), "ws-pcd01");
    config.pcd01 = Some(Pcd01Settings { listen: "127.0.0.1:0".into(), ..Pcd01Settings::default() });
    // The samples are from 2008: let associations reach that far back.
    config.associations.retro_window_hours = 24 * 365 * 30;
    let service = Service::start(&config).await.unwrap();
    let api = service.http_address().unwrap();
    // The monitor of request2 (MSH-3 EUI-64) in bed 3 WEST ICU^3001^1, where AB60001 lies.
    let r = http::put(
        api,
        "/api/v1/devices/080019FFFF4F6AC0",
        &json!({"ward": "3 WEST ICU", "room": "3001", "bed": "1", "from": "2008-12-11T00:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http::post(
        api,
        "/api/v1/associations",
        &json!({"id": "scan-1", "bed": {"ward": "3 WEST ICU", "room": "3001", "bed": "1"},
                "patient_id": "AB60001", "start": "2008-12-11T00:00:00Z"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let address = service.pcd01_address().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/integration/peers/mllp_send.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(address.ip().to_string())
        .arg(address.port().to_string())
        .arg(format!("{SAMPLES}/ipf-pcd01-request2.hl7"))
        .arg(format!("{SAMPLES}/ipf-pcd01-maximum-request2.hl7"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let acks: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(acks.len(), 2, "{acks:?}");
    for ack in &acks {
        assert_eq!(ack["code"], "AA", "{ack}");
        assert_eq!(ack["control_id"], ack["sent_control_id"], "{ack}");
    }

    let session = service.state().session.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while count(&session, "SELECT count(*) FROM vitals").await < 12 {
        if std::time::Instant::now() > deadline {
            let rows = crate::support::csv_rows(&session, "SELECT reason, detail FROM dead_letters").await;
            let n = count(&session, "SELECT count(*) FROM vitals").await;
            panic!("PCD-01 readings not stored: {n} rows; dead letters {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.shutdown().await.unwrap();
    let session = wardstream_storage::QuerySession::open(data.path()).unwrap();
    // 9 readings of request2 + 4 of the maximum sample (its other OBX are dead letters or nodes),
    // two of which are NIBP systolic at the same device time with different values (120, 80): one
    // row per device, metric and time, the other a `duplicate` dead letter showing both values.
    assert_eq!(count(&session, "SELECT count(*) FROM vitals WHERE source = 'hl7'").await, 12);
    let reasons =
        crate::support::csv_rows(&session, "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason")
            .await;
    assert_eq!(reasons, ["duplicate,1", "missing_value,3"]);
    // request2: the store agrees with the hint (AB60001): attached, not flagged.
    let agreeing = "SELECT count(*) FROM vitals WHERE device_id = '080019FFFF4F6AC0' AND patient_id = 'AB60001' \
                    AND NOT array_has(flags, 'patient_mismatch')";
    assert_eq!(count(&session, agreeing).await, 9);
    // The maximum sample names patient 111222333444, whom the store does not associate with its
    // devices: flagged, and not attributed to the hinted patient.
    let flagged = "SELECT count(*) FROM vitals WHERE status = 'patient_mismatch' AND patient_id IS NULL";
    assert_eq!(count(&session, flagged).await, 3);
    assert_eq!(count(&session, "SELECT count(*) FROM vitals WHERE patient_id = '111222333444'").await, 0);
}
