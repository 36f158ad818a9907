//! criterion benchmarks of the device decoders other than SenML (which `hot_path` measures):
//! Masimo ASCII-1 lines (`MasimoDecoder::decode`), IHE PCD-01 messages (`Message::parse` +
//! `hl7::pcd01::decode`) and Modbus holding-register responses (`DevicePoller::response`), each
//! from bytes as the driver receives them to an `IngestBatch`. Throughput is in readings
//! produced; results and machine in `BENCHMARKS.md`.
//!
//! Run: `cargo bench -p wardstream-bench --bench decoders`.

use std::fmt;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wardstream_pipeline::time::LocalClock;
use wardstream_pipeline::{IngestBatch, RawValue};
use wardstream_protocols::hl7::Message;
use wardstream_protocols::hl7::pcd01;
use wardstream_protocols::masimo::MasimoDecoder;
use wardstream_protocols::modbus::frame::crc16;
use wardstream_protocols::modbus::{
    DataType, DeviceConfig, DevicePoller, Function, ModelConfig, PointConfig, Request, SerialConfig, Transport,
};

const RECEIVED: i64 = 1_700_000_001_000_000;

/// One input of one decoder; `Display` is the bench id.
struct Scenario {
    /// What the input is (`radical7_line`, `request2`, `tcp_holding_10_points`).
    input: &'static str,
    /// Readings it decodes to (checked before timing).
    readings: usize,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}_readings", self.input, self.readings)
    }
}

/// Masimo lines captured from real devices (the same as `protocols/src/masimo/tests.rs`).
const RADICAL7: &[u8] = b"03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000";
const RAD97: &[u8] = b"03/17/16 19:19:36 SN=0000093112 SPO2=097% BPM=061 PI=02.10 SPCO=01.5% SPMET=00.8% SPHB=13.2 SPOC=18 PVI=014 ALARM=0000 EXC=000800";

fn masimo_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("masimo_decode");
    let lines = [
        (Scenario { input: "radical7_line", readings: 3 }, RADICAL7),
        (Scenario { input: "rad97_line_with_serial_number", readings: 8 }, RAD97),
    ];
    for (scenario, line) in lines {
        let mut decoder = MasimoDecoder::new("/dev/ttyUSB0", "bed-4-spo2", "America/New_York")
            .unwrap_or_else(|e| panic!("zone: {e}"));
        let probe = decoder.decode_to_batch(line, RECEIVED);
        assert_eq!((probe.readings.len(), probe.dead_letters.len()), (scenario.readings, 0), "{scenario}");
        group.throughput(Throughput::Elements(scenario.readings as u64));
        group.bench_function(scenario.to_string(), |b| {
            b.iter(|| {
                let mut out = IngestBatch::default();
                let outcome = decoder.decode(black_box(line), RECEIVED, &mut out);
                (outcome, out)
            })
        });
    }
    group.finish();
}

/// A PCD-01 sample from `protocols/tests/data/hl7/`, with carriage returns between segments as
/// MLLP delivers them (the files keep the line feeds of their upstream copies).
fn pcd01_sample(name: &str) -> Vec<u8> {
    let path = format!("{}/../protocols/tests/data/hl7/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes.into_iter().map(|b| if b == b'\n' { b'\r' } else { b }).collect()
}

/// Parse + decode, as the MLLP handler does with a frame: the `Arc` of the raw message is part
/// of it.
fn parse_and_decode(bytes: &[u8], clock: &mut LocalClock) -> pcd01::Pcd01Result {
    let msg = Message::parse(bytes).unwrap_or_else(|e| panic!("not HL7: {e}"));
    pcd01::decode(&msg, Arc::from(bytes), RECEIVED, clock)
}

fn pcd01_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("pcd01_decode");
    let samples = [
        // 9 NM OBX: heart rate, PVC count, arterial and pulmonary pressures.
        (Scenario { input: "ipf_request2_9_obx", readings: 9 }, "ipf-pcd01-request2.hl7", 0),
        // 10 OBX: 4 readings, 3 dead letters (statuses X, D, TEST), 3 containment nodes.
        (Scenario { input: "ipf_maximum_request2_10_obx", readings: 4 }, "ipf-pcd01-maximum-request2.hl7", 3),
    ];
    for (scenario, file, dead_letters) in samples {
        let bytes = pcd01_sample(file);
        let mut clock = LocalClock::utc();
        let probe = parse_and_decode(&bytes, &mut clock);
        assert_eq!((probe.counts.readings, probe.counts.dead_letters), (scenario.readings, dead_letters), "{file}");
        group.throughput(Throughput::Elements(scenario.readings as u64));
        group.bench_function(scenario.to_string(), |b| b.iter(|| parse_and_decode(black_box(&bytes), &mut clock)));
    }
    group.finish();
}

/// A bedside monitor behind a Modbus gateway: ten vitals in holding registers 0..=10, one
/// request. (metric, type, address, scale, unit, register contents, decoded value).
const MONITOR_MAP: [(&str, DataType, u16, f64, &str, &[u16], f64); 10] = [
    ("heart_rate", DataType::U16, 0, 1.0, "/min", &[72], 72.0),
    ("spo2", DataType::U16, 1, 1.0, "%", &[97], 97.0),
    ("resp_rate", DataType::U16, 2, 1.0, "/min", &[16], 16.0),
    ("nibp_sys", DataType::I16, 3, 1.0, "mm[Hg]", &[121], 121.0),
    ("nibp_dia", DataType::I16, 4, 1.0, "mm[Hg]", &[78], 78.0),
    ("temp", DataType::I16, 5, 0.1, "Cel", &[371], 37.1),
    ("etco2", DataType::U16, 6, 0.1, "mm[Hg]", &[385], 38.5),
    // 37.25 as an IEEE 754 single, big-endian words.
    ("temp_core", DataType::F32, 7, 1.0, "Cel", &[0x4215, 0x0000], 37.25),
    ("fio2", DataType::U16, 9, 0.1, "%", &[210], 21.0),
    // IEEE 11073 SFLOAT: exponent 0, mantissa 8.
    ("cvp", DataType::MderSfloat, 10, 1.0, "mm[Hg]", &[0x0008], 8.0),
];

fn monitor_model() -> ModelConfig {
    let points = MONITOR_MAP
        .iter()
        .map(|&(metric, data_type, address, scale, unit, _, _)| PointConfig {
            scale,
            unit: Some(unit.to_owned()),
            ..PointConfig::new(metric, Function::HoldingRegisters, address, data_type)
        })
        .collect();
    ModelConfig { name: "monitor-gateway".into(), points }
}

/// The response frame to `request` carrying `MONITOR_MAP`'s registers (function 0x03).
fn monitor_response(tcp: bool, request: &Request, unit: u8) -> Vec<u8> {
    let data: Vec<u8> = MONITOR_MAP.iter().flat_map(|p| p.5.iter()).flat_map(|w| w.to_be_bytes()).collect();
    let mut pdu = vec![unit, 0x03, data.len() as u8];
    pdu.extend_from_slice(&data);
    if tcp {
        let mut frame = request.tr_id.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&(pdu.len() as u16).to_be_bytes());
        frame.extend_from_slice(&pdu);
        frame
    } else {
        let crc = crc16(&pdu);
        pdu.extend_from_slice(&crc.to_le_bytes());
        pdu
    }
}

fn modbus_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("modbus_decode");
    let model = monitor_model();
    let tcp = DeviceConfig::tcp("gw-bed-7", "monitor-gateway", "127.0.0.1", 502, 7);
    let rtu = DeviceConfig { transport: Transport::Rtu(SerialConfig::new("/dev/ttyUSB1")), ..tcp.clone() };
    let devices = [
        (Scenario { input: "tcp_holding_registers_10_points", readings: 10 }, tcp, true),
        (Scenario { input: "rtu_holding_registers_10_points", readings: 10 }, rtu, false),
    ];
    for (scenario, device, is_tcp) in devices {
        let mut poller = DevicePoller::new(&device, &model);
        assert_eq!(poller.blocks().len(), 1, "one request reads the whole map");
        let request = poller.request(0).unwrap_or_else(|e| panic!("request: {e}"));
        let frame = monitor_response(is_tcp, &request, device.unit_id);
        let mut probe = IngestBatch::default();
        let counts = poller.response(&request, &frame, RECEIVED, RECEIVED, &mut probe);
        assert_eq!(counts.map(|c| (c.readings, c.dead_letters)), Ok((scenario.readings, 0)), "{scenario}");
        let values: Vec<(&str, &RawValue)> = probe.readings.iter().map(|r| (r.name.as_str(), &r.value)).collect();
        let expected: Vec<(&str, RawValue)> = MONITOR_MAP.iter().map(|p| (p.0, RawValue::Number(p.6))).collect();
        assert_eq!(values, expected.iter().map(|(n, v)| (*n, v)).collect::<Vec<_>>(), "{scenario}");
        group.throughput(Throughput::Elements(scenario.readings as u64));
        group.bench_function(scenario.to_string(), |b| {
            b.iter(|| {
                let mut out = IngestBatch::default();
                let counts = poller.response(&request, black_box(&frame), RECEIVED, RECEIVED, &mut out);
                (counts, out)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, masimo_decode, pcd01_decode, modbus_decode);
criterion_main!(benches);
