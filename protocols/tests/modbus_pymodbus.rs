//! The Modbus driver against pymodbus (an independent implementation, `peers/modbus_peer.py`)
//! over TCP and over RTU on a `socat` pty pair, feeding a real pipeline: every data type in
//! every byte order decodes to the value the peer encoded, scale/offset/unit apply, exceptions
//! and no-value markers become dead letters, and a frozen or restarted peer is counted and
//! recovered from while the other devices keep being polled.
//! Needs python3 with pymodbus 3.x and socat (installed by scripts/test.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "peers/modbus_harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::sync::Arc;

use harness::{Harness, PtyPair, PyPeer, free_port};
use wardstream_pipeline::{Observation, Reason};
use wardstream_protocols::modbus::{
    ConnectionState, DataType, DeviceConfig, Function, ModbusConfig, ModelConfig, Order, PointConfig, Sentinel,
    SerialConfig, Transport,
};

/// The peer's values, the same in all four units (each in its own byte order):
/// (metric, type, holding address, unit sent, value).
const TYPED: [(&str, DataType, u16, &str, f64); 8] = [
    ("heart_rate", DataType::U16, 0, "/min", 51_234.0),
    ("bp_sys", DataType::I16, 1, "mm[Hg]", -12_345.0),
    ("resp_rate", DataType::U32, 2, "/min", 3_000_000_123.0),
    ("cvp", DataType::I32, 4, "mm[Hg]", -2_000_000_123.0),
    ("temp", DataType::F32, 6, "Cel", 36.6f32 as f64),
    ("pulse_rate", DataType::U64, 8, "/min", 1_234_567_890_123_456.0),
    ("icp", DataType::I64, 12, "mm[Hg]", -1_234_567_890_123.0),
    ("temp_core", DataType::F64, 16, "Cel", 98.765_432_101_23),
];
const ORDERS: [(u8, Order); 4] = [(1, Order::Abcd), (2, Order::Cdab), (3, Order::Badc), (4, Order::Dcba)];

fn point(metric: &str, function: Function, address: u16, data_type: DataType, unit: Option<&str>) -> PointConfig {
    PointConfig { unit: unit.map(str::to_owned), ..PointConfig::new(metric, function, address, data_type) }
}

/// One model per byte order; the ABCD one also reads unit 1's extras.
fn models() -> Vec<ModelConfig> {
    ORDERS
        .iter()
        .map(|&(unit, order)| {
            let mut points: Vec<PointConfig> = TYPED
                .iter()
                .map(|&(m, t, a, u, _)| PointConfig { order, ..point(m, Function::HoldingRegisters, a, t, Some(u)) })
                .collect();
            if unit == 1 {
                let hr = Function::HoldingRegisters;
                points.extend([
                    point("temp_skin", hr, 20, DataType::MderSfloat, Some("Cel")),
                    point("temp_body", hr, 21, DataType::MderFloat, Some("Cel")),
                    PointConfig {
                        scale: 1.8,
                        offset: 32.0,
                        ..point("temp_oral", hr, 23, DataType::I16, Some("[degF]"))
                    },
                    PointConfig {
                        no_value: Some(Sentinel::Bits(0x8000)),
                        ..point("temp_tympanic", hr, 24, DataType::I16, None)
                    },
                    PointConfig { no_value: Some(Sentinel::NaN), ..point("temp_blood", hr, 25, DataType::F32, None) },
                    PointConfig {
                        no_value: Some(Sentinel::Bits(0xFFFF)),
                        ..point("pvi", hr, 27, DataType::U16, Some("%"))
                    },
                    point("abp_sys", hr, 50, DataType::U16, None), // exception 0x0B
                    point("abp_dia", hr, 60, DataType::U16, None), // exception 0x02
                    point("pvc_count", Function::Coils, 0, DataType::Bool, None),
                    point("pvc_rate", Function::Coils, 1, DataType::Bool, None),
                    point("spo2", Function::DiscreteInputs, 1, DataType::Bool, None),
                    PointConfig { scale: 0.01, ..point("etco2", Function::InputRegisters, 0, DataType::U16, None) },
                ]);
            }
            ModelConfig { name: format!("{order:?}"), points }
        })
        .collect()
}

fn config(transport: impl Fn(u8) -> Transport) -> ModbusConfig {
    let devices = ORDERS
        .iter()
        .map(|&(unit, order)| DeviceConfig {
            poll_interval_ms: 100,
            timeout_ms: 500,
            transport: transport(unit),
            ..DeviceConfig::tcp(&format!("dev-{order:?}"), &format!("{order:?}"), "", 0, unit)
        })
        .collect();
    ModbusConfig { models: models(), devices }
}

/// Polls until every device has completed 3 polls, then checks every stored value.
async fn every_value_decodes_exactly(config: ModbusConfig, origin_prefix: &str, tcp: bool) {
    let h = Harness::start(config);
    for (_, order) in ORDERS {
        let per_poll = if order == Order::Abcd { 15 } else { 8 };
        h.wait_for(&format!("dev-{order:?}"), "3 polls", |s| s.readings >= 3 * per_poll).await;
    }
    let stats = Arc::clone(&h.stats);
    let (observations, dead) = h.finish().await;
    let stats = stats.snapshot();
    let mut by_device: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for o in &observations {
        by_device.entry(&o.device_id).or_default().push(o);
    }
    for (unit, order) in ORDERS {
        let id = format!("dev-{order:?}");
        let got = &by_device[id.as_str()];
        let polls = got.iter().map(|o| o.device_time).collect::<std::collections::BTreeSet<_>>().len();
        assert!(polls >= 3, "{id}: {polls} polls");
        let per_poll = if unit == 1 { 15 } else { 8 };
        assert_eq!(got.len(), polls * per_poll, "{id}: every poll stores every point");
        for o in got {
            assert!(o.received_at >= o.device_time, "{id}");
            assert!(o.flags.iter().all(|f| f.as_str() == "implausible"), "{id} {:?}", o.flags);
            let expected = TYPED.iter().find(|t| t.0 == o.source_name);
            match expected {
                Some(&(_, _, _, unit_sent, value)) => {
                    assert_eq!(
                        (o.source_value, o.value, o.source_unit.as_deref()),
                        (value, value, Some(unit_sent)),
                        "{id} {}",
                        o.source_name
                    );
                }
                None => {
                    let (value, unit_sent) = match o.source_name.as_str() {
                        "temp_skin" => (36.6, Some("Cel")),
                        "temp_body" => (37.2, Some("Cel")),
                        "temp_oral" => (37.0 * 1.8 + 32.0, Some("[degF]")),
                        "pvc_count" | "spo2" => (1.0, None),
                        "pvc_rate" => (0.0, None),
                        "etco2" => (12.34, None),
                        other => panic!("{id}: unexpected metric {other}"),
                    };
                    assert_eq!(
                        (o.source_value, o.source_unit.as_deref()),
                        (value, unit_sent),
                        "{id} {}",
                        o.source_name
                    );
                    if o.source_name == "temp_oral" {
                        assert!((o.value - 37.0).abs() < 1e-9, "98.6 °F is 37 °C, got {}", o.value);
                        assert_eq!(o.metric.unit, "Cel");
                    }
                }
            }
        }
        assert!(got.iter().all(|o| o.source.as_str() == "modbus"));
        let s = stats[&id];
        assert_eq!(
            (s.readings, s.timeouts, s.errors, s.state),
            (got.len() as u64, 0, 0, ConnectionState::Disconnected),
            "{id}"
        );
        assert_eq!(s.polls, polls as u64, "{id}: polls are delivered whole, even at shutdown");
        assert_eq!(s.responses, s.polls * if unit == 1 { 6 } else { 1 }, "{id}: one response per block");
        assert_eq!(s.exceptions, if unit == 1 { 2 * s.polls } else { 0 }, "{id}");
    }
    // Unit 1's dead letters: per poll, two exceptions and three no-value markers.
    let mut kinds: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for d in &dead {
        assert_eq!(d.device_id.as_deref(), Some("dev-Abcd"));
        assert!(d.origin.starts_with(origin_prefix), "{}", d.origin);
        *kinds.entry((d.reason.as_str(), d.source_name.clone().unwrap())).or_default() += 1;
    }
    let polls = kinds[&("missing_value", "temp_tympanic".to_owned())];
    assert!(polls >= 3);
    let expected: BTreeMap<(&str, String), usize> = [
        (Reason::InvalidPayload, "abp_sys"),
        (Reason::InvalidPayload, "abp_dia"),
        (Reason::MissingValue, "temp_tympanic"),
        (Reason::MissingValue, "temp_blood"),
        (Reason::MissingValue, "pvi"),
    ]
    .into_iter()
    .map(|(r, n): (Reason, &str)| ((r.as_str(), n.to_owned()), polls))
    .collect();
    assert_eq!(kinds, expected);
    let detail = |name: &str| dead.iter().find(|d| d.source_name.as_deref() == Some(name)).unwrap().detail.clone();
    assert_eq!(
        detail("abp_sys"),
        "Modbus exception 0x0B (gateway target device failed to respond) reading holding_registers 50..=50 from unit 1"
    );
    assert_eq!(
        detail("abp_dia"),
        "Modbus exception 0x02 (illegal data address) reading holding_registers 60..=60 from unit 1"
    );
    assert_eq!(
        detail("temp_tympanic"),
        "no value: the device's no-value marker 0x8000 (temp_tympanic at holding_registers 24)"
    );
    assert_eq!(detail("temp_blood"), "no value: the device's no-value marker NaN (temp_blood at holding_registers 25)");
    let exception = &dead.iter().find(|d| d.source_name.as_deref() == Some("abp_dia")).unwrap().payload;
    let pdu = if tcp { &exception[6..] } else { &exception[..3] };
    assert_eq!(pdu, [0x01, 0x83, 0x02], "the exception frame is kept as the payload");
    assert_eq!(stats["dev-Abcd"].dead_letters, dead.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_and_byte_order_decodes_exactly_from_pymodbus_over_tcp() {
    let port = free_port();
    let _peer = PyPeer::tcp(port);
    let config = config(|_| Transport::Tcp { host: "127.0.0.1".into(), port });
    every_value_decodes_exactly(config, &format!("tcp://127.0.0.1:{port} unit 1"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_and_byte_order_decodes_exactly_from_pymodbus_over_rtu_on_a_pty() {
    let pty = PtyPair::new();
    let _peer = PyPeer::rtu(&pty.a);
    let path = pty.b.display().to_string();
    let config = config(|_| Transport::Rtu(SerialConfig::new(&path)));
    every_value_decodes_exactly(config, &format!("rtu:{path} unit 1"), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_peer_times_out_while_the_other_keeps_being_polled_and_both_recover() {
    let (port_a, port_b) = (free_port(), free_port());
    let (mut peer_a, _peer_b) = (PyPeer::tcp(port_a), PyPeer::tcp(port_b));
    let model = ModelConfig {
        name: "m".into(),
        points: vec![point("heart_rate", Function::HoldingRegisters, 0, DataType::U16, None)],
    };
    let device = |id: &str, port| DeviceConfig {
        poll_interval_ms: 50,
        timeout_ms: 200,
        retries: 1,
        ..DeviceConfig::tcp(id, "m", "127.0.0.1", port, 2)
    };
    let h =
        Harness::start(ModbusConfig { models: vec![model], devices: vec![device("a", port_a), device("b", port_b)] });
    let stats = Arc::clone(&h.stats);
    h.wait_for("a", "readings", |s| s.readings >= 3).await;
    h.wait_for("b", "readings", |s| s.readings >= 3).await;

    peer_a.pause();
    let frozen = h.wait_for("a", "timeouts", |s| s.timeouts >= 3).await;
    let b_before = h.device("b").readings;
    h.wait_for("b", "polls while a is frozen", |s| s.readings >= b_before + 10).await;
    let a = h.device("a");
    assert_eq!(a.readings, frozen.readings, "nothing read from a frozen peer");
    assert_eq!(
        (a.state, a.errors, a.exceptions),
        (ConnectionState::Connected, 0, 0),
        "a timeout is not a broken connection"
    );

    peer_a.resume();
    h.wait_for("a", "recovery after SIGCONT", |s| s.readings > a.readings).await;

    peer_a.kill();
    let gone = h.wait_for("a", "the lost connection", |s| s.reconnects >= 1).await;
    assert!(gone.errors >= 1, "{gone:?}");
    let b_before = h.device("b").readings;
    h.wait_for("b", "polls while a is down", |s| s.readings >= b_before + 5).await;
    peer_a.restart();
    let back = h
        .wait_for("a", "recovery after a restart", |s| {
            s.readings > gone.readings && s.state == ConnectionState::Connected
        })
        .await;
    assert_eq!(back.exceptions, 0);

    let (observations, dead) = h.finish().await;
    assert!(dead.is_empty(), "timeouts and reconnections carry no data: {dead:?}");
    assert!(observations.iter().all(|o| o.source_value == 51_234.0 && o.metric.name == "heart_rate"));
    let count = |id: &str| observations.iter().filter(|o| &*o.device_id == id).count() as u64;
    let stats = stats.snapshot();
    assert_eq!(
        (count("a"), count("b")),
        (stats["a"].readings, stats["b"].readings),
        "every reading counted was stored"
    );
    assert_eq!(
        (stats["b"].timeouts, stats["b"].errors, stats["b"].reconnects),
        (0, 0, 0),
        "b never noticed a's trouble"
    );
}
