//! The real MIMIC-II numerics replayed end to end: a simulated ward of 8 monitors (each starting
//! 242 frames after the previous, so together they replay every one of the record's 1,936
//! frames exactly once) publishes through a real Mosquitto into the service. What is stored must
//! be exactly what the raw record gives, computed here independently of the simulator's decoder:
//! every little-endian 16-bit sample that is not a missing-value marker (0 or −32768), divided by
//! the gain the header gives its signal, under the catalogue metric of that signal; and none of
//! the markers as a number.

use std::collections::BTreeMap;
use std::time::Duration;

use wardstream_ingest::Service;
use wardstream_simulators::mimic::{MIMIC2_DATA, MIMIC2_HEADER};
use wardstream_simulators::{Recorder, WardConfig, run_ward};
use wardstream_storage::QuerySession;

use crate::support::mosquitto::Mosquitto;
use crate::support::{count, csv_rows, service_config, wait_for_count};

const BEDS: usize = 8;
const FRAMES_PER_BED: usize = 242;
const FRAMES: usize = 1936;
/// Present values in the record (counted from the raw file by the simulator's own tests too).
const PRESENT: usize = 7405;
/// Frames in which every signal is missing: the monitors publish nothing for them.
const EMPTY_FRAMES: usize = 40;

/// Each signal of the record, in header order, with the catalogue metric it must be stored as.
const METRICS: [(&str, &str); 10] = [
    ("HR", "heart_rate"),
    ("ABPSys", "abp_sys"),
    ("ABPDias", "abp_dia"),
    ("ABPMean", "abp_mean"),
    ("PULSE", "pulse_rate_spo2"),
    ("RESP", "resp_rate"),
    ("SpO2", "spo2"),
    ("NBPSys", "nibp_sys"),
    ("NBPDias", "nibp_dia"),
    ("NBPMean", "nibp_mean"),
];

/// (device, metric, value bits) → how many times.
type Multiset = BTreeMap<(String, String, u64), usize>;

/// (signal name, gain) per signal, read from the header text by hand: a signal line is
/// `<file> <format> <gain>/<units> <adc resolution> <adc zero> <initial> <checksum> <block> <name>`.
/// Every ADC zero is 0 (and no line gives a baseline), so physical value = sample / gain.
fn header_signals() -> Vec<(String, f64)> {
    let mut lines = MIMIC2_HEADER.lines().filter(|l| !l.starts_with('#'));
    let record: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!((record[1], record[3]), ("10", "1936"), "10 signals, 1,936 frames");
    lines
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!((f[0], f[1], f[4]), ("3975656n.dat", "16", "0"), "{line}");
            let (gain, _units) = f[2].split_once('/').unwrap();
            assert!(!gain.contains('('), "no explicit baseline: {line}");
            (f[8].to_owned(), gain.parse().unwrap())
        })
        .collect()
}

fn device(bed: usize) -> String {
    format!("urn:dev:ws:monitor-icu-1-{bed:02}")
}

/// What the 8 beds must store, from the raw bytes, and how many marker samples they skip.
fn expected_from_raw_bytes() -> (Multiset, usize) {
    let signals = header_signals();
    assert_eq!(signals.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), METRICS.map(|(n, _)| n));
    assert_eq!(MIMIC2_DATA.len(), FRAMES * signals.len() * 2);
    let (mut expected, mut markers) = (Multiset::new(), 0);
    for bed in 0..BEDS {
        for frame in bed * FRAMES_PER_BED..(bed + 1) * FRAMES_PER_BED {
            for (s, (_, gain)) in signals.iter().enumerate() {
                let at = 2 * (frame * signals.len() + s);
                let sample = i16::from_le_bytes([MIMIC2_DATA[at], MIMIC2_DATA[at + 1]]);
                if sample == 0 || sample == i16::MIN {
                    markers += 1;
                    continue;
                }
                let value = f64::from(sample) / gain;
                *expected.entry((device(bed), METRICS[s].1.to_owned(), value.to_bits())).or_default() += 1;
            }
        }
    }
    (expected, markers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_every_mimic_frame_stores_exactly_the_header_scaled_values_and_no_missing_markers() {
    let (expected, markers) = expected_from_raw_bytes();
    assert_eq!(expected.values().sum::<usize>(), PRESENT);
    assert_eq!(markers, FRAMES * METRICS.len() - PRESENT);

    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&service_config(data.path(), &broker.url(), "ws-mimic")).await.unwrap();
    service.wait_subscribed(Duration::from_secs(10)).await.unwrap();
    let recorder = Recorder::new();
    let ward = WardConfig {
        beds: BEDS,
        frames: Some(FRAMES_PER_BED),
        interval: Duration::from_millis(2),
        recorder: Some(recorder.clone()),
        ..WardConfig::new("127.0.0.1", broker.port())
    };
    assert_eq!(
        (0..BEDS).map(|b| ward.start_frame(b, FRAMES)).collect::<Vec<_>>(),
        [0, 242, 484, 726, 968, 1210, 1452, 1694]
    );
    let (_keep_running, shutdown) = tokio::sync::watch::channel(false);
    let report = run_ward(ward, shutdown).await.unwrap();
    assert_eq!(report.frames_replayed, FRAMES as u64);
    assert_eq!((report.messages_acked, report.readings_acked), ((FRAMES - EMPTY_FRAMES) as u64, PRESENT as u64));
    assert_eq!(report.retransmissions, 0);

    // What the monitors sent is the record itself (names as sent, mapped to their metrics).
    let acked = recorder.acked();
    let mut sent = Multiset::new();
    for r in &acked {
        let metric = METRICS.iter().find(|(n, _)| *n == r.name).unwrap_or_else(|| panic!("{}", r.name)).1;
        *sent.entry((format!("urn:dev:ws:{}", r.device), metric.to_owned(), r.value.to_bits())).or_default() += 1;
    }
    assert_eq!(sent, expected);

    let session = QuerySession::open(data.path()).unwrap();
    let n = wait_for_count(&session, "SELECT count(*) FROM vitals", PRESENT as i64, Duration::from_secs(60)).await;
    assert_eq!(n, PRESENT as i64);
    let stats = service.shutdown().await.unwrap();
    assert_eq!(stats.pipeline.readings_received, PRESENT as u64);

    // Stored: exactly the expected values, to the bit, each as often as in the record.
    let rows = csv_rows(&session, "SELECT device_id, metric, CAST(device_time AS BIGINT), value FROM vitals").await;
    let mut stored = Multiset::new();
    let mut stored_times = Vec::new();
    for row in &rows {
        let f: Vec<&str> = row.split(',').collect();
        let value: f64 = f[3].parse().unwrap();
        *stored.entry((f[0].to_owned(), f[1].to_owned(), value.to_bits())).or_default() += 1;
        stored_times.push((f[0].to_owned(), f[1].to_owned(), f[2].parse::<i64>().unwrap(), value.to_bits()));
    }
    assert_eq!(stored, expected);
    // … each at the time its monitor stamped it.
    let mut sent_times: Vec<_> = acked
        .iter()
        .map(|r| {
            let metric = METRICS.iter().find(|(n, _)| *n == r.name).unwrap().1;
            (format!("urn:dev:ws:{}", r.device), metric.to_owned(), r.time_micros, r.value.to_bits())
        })
        .collect();
    sent_times.sort_unstable();
    stored_times.sort_unstable();
    assert_eq!(stored_times, sent_times);

    // No missing-value marker became a number: neither 0 nor −32768 / gain (−3276.8 or −32768).
    let markers_sql = "SELECT count(*) FROM vitals WHERE value = 0 OR value = -3276.8 OR value = -32768 \
                       OR source_value = 0 OR source_value = -3276.8 OR source_value = -32768";
    assert_eq!(count(&session, markers_sql).await, 0);
    assert_eq!(count(&session, "SELECT count(*) FROM dead_letters").await, 0);
    assert_eq!(count(&session, "SELECT count(DISTINCT device_id) FROM vitals").await, BEDS as i64);
}
