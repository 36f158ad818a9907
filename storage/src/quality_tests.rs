//! Tests of the quality report over real Parquet files written by the store.

use std::sync::Arc;

use wardstream_pipeline::{DeadLetter, Flags, Observation, Sink, Source, StoreBatch};

use super::*;
use crate::{ParquetStore, StorageConfig};

const T0: Micros = 1_714_521_600_000_000;
/// The next day: a `dead_letters` partition of its own.
const T1: Micros = T0 + 86_400_000_000;

fn reading(device: &str, metric: &str, received_at: Micros, flags: &[Flag]) -> Observation {
    let metric = Arc::clone(Catalogue::builtin().by_name(metric).unwrap());
    let mut set = Flags::NONE;
    flags.iter().for_each(|f| set.insert(*f));
    Observation {
        time: T0,
        device_time: T0,
        received_at,
        device_id: Arc::from(device),
        value: 1.0,
        source_name: metric.name.clone(),
        metric,
        source_value: 1.0,
        source_unit: None,
        flags: set,
        patient_id: None,
        encounter_id: None,
        ward: None,
        bed: None,
        source: Source::Mqtt,
    }
}

fn dead(device: Option<&str>, name: Option<&str>, reason: Reason, received_at: Micros) -> DeadLetter {
    let (device_id, source_name) = (device.map(Arc::from), name.map(Into::into));
    let (origin, detail, payload) = (Arc::from("t"), "d".into(), Arc::from(&b"x"[..]));
    DeadLetter { received_at, source: Source::Mqtt, origin, device_id, source_name, reason, detail, payload }
}

fn counts(stored: u64, valid: u64, flags: [u64; 8], dead_letters: &[(&str, u64)]) -> QualityCounts {
    let dead_letters = dead_letters.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
    QualityCounts { stored, valid, flags, dead_letters }
}

fn keys(groups: &[QualityGroup]) -> Vec<Option<&str>> {
    groups.iter().map(|g| g.key.as_deref()).collect()
}

#[tokio::test]
async fn counts_every_flag_and_reason_per_device_and_per_metric_and_since_filters_by_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let session = QuerySession::open(dir.path()).unwrap();
    let empty = QualityReport::query(&session, None).await.unwrap();
    assert_eq!((empty.totals, empty.by_device, empty.by_metric), (QualityCounts::default(), vec![], vec![]));
    let observations = vec![
        reading("a", "heart_rate", T0, &[]),
        reading("a", "heart_rate", T1, &[Flag::Implausible, Flag::ClockCorrected]),
        reading("a", "spo2", T1, &[Flag::Questionable]),
        reading("b", "heart_rate", T0, &[Flag::FutureTime]),
        reading("b", "spo2", T1, &[]),
    ];
    let dead_letters = vec![
        dead(Some("a"), Some("Glucose"), Reason::UnknownMetric, T0),
        dead(Some("b"), Some("HR"), Reason::UnknownUnit, T1),
        dead(None, None, Reason::InvalidPayload, T1),
        dead(Some("b"), Some("SpO2"), Reason::Duplicate, T1),
    ];
    let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
    store.write(StoreBatch { observations, dead_letters }).unwrap();
    store.flush().unwrap();

    let report = QualityReport::query(&session, None).await.unwrap();
    let reasons = [("duplicate", 1), ("invalid_payload", 1), ("unknown_metric", 1), ("unknown_unit", 1)];
    assert_eq!(report.totals, counts(5, 2, [0, 1, 1, 1, 0, 1, 0, 0], &reasons));
    let t = &report.totals;
    assert_eq!((t.total(), t.defective(), t.defect_rate().as_deref()), (9, 7, Some("0.7778")));
    assert_eq!(
        (
            t.flag(Flag::ClockCorrected),
            t.dead_letters_with(Reason::UnknownMetric),
            t.dead_letters_with(Reason::Duplicate)
        ),
        (1, 1, 1)
    );
    assert_eq!(t.other_dead_letters(), BTreeMap::from([("invalid_payload", 1)]));
    assert_eq!(keys(&report.by_device), [Some("a"), Some("b"), None]);
    assert_eq!(report.by_device[0].counts, counts(3, 1, [0, 1, 1, 0, 0, 1, 0, 0], &[("unknown_metric", 1)]));
    assert_eq!(
        report.by_device[1].counts,
        counts(2, 1, [0, 0, 0, 1, 0, 0, 0, 0], &[("duplicate", 1), ("unknown_unit", 1)])
    );
    assert_eq!(report.by_device[2].counts, counts(0, 0, [0; 8], &[("invalid_payload", 1)]));
    assert_eq!(keys(&report.by_metric), [Some("Glucose"), Some("heart_rate"), Some("spo2"), None]);
    assert_eq!(report.by_metric[0].counts, counts(0, 0, [0; 8], &[("unknown_metric", 1)]));
    assert_eq!(report.by_metric[1].counts, counts(3, 1, [0, 1, 0, 1, 0, 1, 0, 0], &[("unknown_unit", 1)]));
    assert_eq!(report.by_metric[2].counts, counts(2, 1, [0, 0, 1, 0, 0, 0, 0, 0], &[("duplicate", 1)]));

    let since = QualityReport::query(&session, Some(T1)).await.unwrap();
    let expected =
        counts(3, 1, [0, 1, 1, 0, 0, 1, 0, 0], &[("duplicate", 1), ("invalid_payload", 1), ("unknown_unit", 1)]);
    assert_eq!((since.since, since.totals), (Some(T1), expected));
    assert_eq!(keys(&since.by_device), [Some("a"), Some("b"), None]);
}

#[test]
fn the_defect_rate_is_exact_and_rounded_half_up_to_four_decimals() {
    let rate = |defective: u64, valid: u64| counts(defective + valid, valid, [0; 8], &[]).defect_rate();
    let cases = [(1, 2, "0.3333"), (2, 1, "0.6667"), (1, 7, "0.1250"), (1, 19_999, "0.0001"), (1, 20_000, "0.0000")];
    for (defective, valid, expected) in cases {
        assert_eq!(rate(defective, valid).as_deref(), Some(expected), "{defective}/{}", defective + valid);
    }
    assert_eq!((rate(0, 5).as_deref(), rate(5, 0).as_deref(), rate(0, 0)), (Some("0.0000"), Some("1.0000"), None));
}
