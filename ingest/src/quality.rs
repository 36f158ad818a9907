//! `wardstream quality`: the defect report of a data directory, for a data-quality officer.
//!
//! It prints [`QualityReport`] (see `wardstream_storage::quality` for what is counted) in one
//! of two [`ReportFormat`]s. Every count is an exact integer; the defect rate is defective /
//! total rounded half up to four decimals.
//!
//! **Table**: a header saying what was counted, then three bordered tables with the same
//! columns: `totals`, `per device` (dead letters without a device id under an empty key) and
//! `per metric` (stored readings by catalogue metric; dead letters under the metric their name
//! resolves to, else under the name as sent; a payload rejected whole under an empty key), and
//! a last line with the dead letters of the `other` column by reason. Columns: `total` =
//! `stored` + dead letters; `valid`; one column per flag (`implausible`, `questionable`,
//! `clock_corrected`, `future_time`, `preliminary`, `corrected`; a reading with two flags
//! counts in both); `unassociated` (readings with no patient at their time: an association
//! state, not a data defect, so not in `defective`); `patient_mismatch` (the sender named another
//! patient than the association store; a defect); the dead letters `unknown_metric`, `unknown_unit`, `duplicate` and `other`
//! (every other reason); `defective` = stored readings with any flag + dead letters;
//! `defect_rate` (`0.0125`, empty when the total is 0).
//!
//! **JSON**: one document, keys always present and in this order:
//!
//! ```text
//! {"since": "2026-11-22T08:00:00.000000Z" | null,
//!  "totals": COUNTS,
//!  "devices": [{"device_id": "urn:dev:…" | null, COUNTS…}, …],
//!  "metrics": [{"metric": "heart_rate" | "Glucose" | null, COUNTS…}, …]}
//! COUNTS = "total", "stored", "dead_letters", "valid", "implausible", "questionable",
//!          "clock_corrected", "future_time", "preliminary", "corrected", "unassociated",
//!          "patient_mismatch",
//!          "unknown_metric",
//!          "unknown_unit", "duplicate", "other_dead_letters": {"<reason>": n, …},
//!          "defective", "defect_rate": 0.0125 | null
//! ```
//!
//! Groups are sorted by key, `null` last. `defect_rate` is a JSON number rounded half up to
//! four decimals (written in its shortest form, `0.75`); `defective` and `total` give it exactly.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use serde::Serialize;
use wardstream_pipeline::time::format_rfc3339;
use wardstream_pipeline::{Flag, Micros, Reason};
use wardstream_storage::{OutputFormat, QualityCounts, QualityGroup, QualityReport, QuerySession, format_batches};

/// How `wardstream quality` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// Bordered text tables (see the module docs).
    #[default]
    Table,
    /// One JSON document (see the module docs).
    Json,
}

/// Builds the report of the tables in `data_dir` (rows received at or after `since`, µs) and
/// formats it.
pub async fn run(data_dir: &Path, since: Option<Micros>, format: ReportFormat) -> anyhow::Result<String> {
    anyhow::ensure!(data_dir.is_dir(), "no data directory at {}", data_dir.display());
    let session = QuerySession::open(data_dir)?;
    let report = QualityReport::query(&session, since).await.context("querying the tables")?;
    match format {
        ReportFormat::Table => to_table(&report, data_dir),
        ReportFormat::Json => to_json(&report),
    }
}

/// Parses `--since`: an RFC 3339 time (`2026-11-22T08:00:00Z`, `2026-11-22T09:00:00+01:00`) or
/// a whole number of seconds, minutes, hours or days before `now` (`90s`, `30m`, `24h`, `7d`).
pub fn parse_since(text: &str, now: Micros) -> anyhow::Result<Micros> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_micros());
    }
    let unit_micros: i64 = match text.chars().last() {
        Some('s') => 1_000_000,
        Some('m') => 60_000_000,
        Some('h') => 3_600_000_000,
        Some('d') => 86_400_000_000,
        _ => anyhow::bail!("--since {text:?}: expected an RFC 3339 time or a duration like 24h"),
    };
    let count: i64 = text[..text.len() - 1]
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .with_context(|| format!("--since {text:?}: expected an RFC 3339 time or a duration like 24h"))?;
    count
        .checked_mul(unit_micros)
        .and_then(|d| now.checked_sub(d))
        .with_context(|| format!("--since {text:?}: too far back"))
}

/// The JSON document (module docs).
#[derive(Debug, Serialize)]
struct JsonReport {
    since: Option<String>,
    totals: JsonCounts,
    devices: Vec<JsonGroup>,
    metrics: Vec<JsonGroup>,
}

#[derive(Debug, Serialize)]
struct JsonGroup {
    #[serde(flatten)]
    key: serde_json::Map<String, serde_json::Value>,
    #[serde(flatten)]
    counts: JsonCounts,
}

#[derive(Debug, Serialize)]
struct JsonCounts {
    total: u64,
    stored: u64,
    dead_letters: u64,
    valid: u64,
    implausible: u64,
    questionable: u64,
    clock_corrected: u64,
    future_time: u64,
    preliminary: u64,
    corrected: u64,
    unassociated: u64,
    patient_mismatch: u64,
    unknown_metric: u64,
    unknown_unit: u64,
    duplicate: u64,
    other_dead_letters: std::collections::BTreeMap<String, u64>,
    defective: u64,
    defect_rate: Option<f64>,
}

impl From<&QualityCounts> for JsonCounts {
    fn from(c: &QualityCounts) -> Self {
        JsonCounts {
            total: c.total(),
            stored: c.stored,
            dead_letters: c.dead_letters_total(),
            valid: c.valid,
            implausible: c.flag(Flag::Implausible),
            questionable: c.flag(Flag::Questionable),
            clock_corrected: c.flag(Flag::ClockCorrected),
            future_time: c.flag(Flag::FutureTime),
            preliminary: c.flag(Flag::Preliminary),
            corrected: c.flag(Flag::Corrected),
            unassociated: c.flag(Flag::Unassociated),
            patient_mismatch: c.flag(Flag::PatientMismatch),
            unknown_metric: c.dead_letters_with(Reason::UnknownMetric),
            unknown_unit: c.dead_letters_with(Reason::UnknownUnit),
            duplicate: c.dead_letters_with(Reason::Duplicate),
            other_dead_letters: c.other_dead_letters().into_iter().map(|(r, n)| (r.to_owned(), n)).collect(),
            defective: c.defective(),
            // The nearest f64 to n / 10⁴ (a correctly rounded division), printed shortest: the
            // four-decimal fraction itself.
            defect_rate: c.defect_rate_per_10000().map(|r| r as f64 / 10_000.0),
        }
    }
}

/// The report as one pretty-printed JSON document with the documented keys, in the documented
/// order, ending in a newline.
pub fn to_json(report: &QualityReport) -> anyhow::Result<String> {
    let groups = |groups: &[QualityGroup], name: &str| {
        let group = |g: &QualityGroup| {
            let key = serde_json::Map::from_iter([(name.to_owned(), g.key.clone().into())]);
            JsonGroup { key, counts: JsonCounts::from(&g.counts) }
        };
        groups.iter().map(group).collect()
    };
    let json = JsonReport {
        since: report.since.map(format_rfc3339),
        totals: JsonCounts::from(&report.totals),
        devices: groups(&report.by_device, "device_id"),
        metrics: groups(&report.by_metric, "metric"),
    };
    Ok(format!("{}\n", serde_json::to_string_pretty(&json)?))
}

/// The report as text tables (module docs).
pub fn to_table(report: &QualityReport, data_dir: &Path) -> anyhow::Result<String> {
    let scope = match report.since {
        Some(since) => format!("readings received since {}", format_rfc3339(since)),
        None => "all readings".to_owned(),
    };
    let other: Vec<String> = report.totals.other_dead_letters().iter().map(|(r, n)| format!("{r} {n}")).collect();
    let totals = QualityGroup { key: Some("all".into()), counts: report.totals.clone() };
    Ok(format!(
        "data quality of {}: {scope}\n\
         total = stored + dead letters; defective = stored readings with any flag + dead letters; \
         defect_rate = defective / total (rounded half up)\n\n\
         totals\n{}\nper device\n{}\nper metric (dead letters under the metric their name resolves to, else the name as sent)\n{}\nother dead letters: {}\n",
        data_dir.display(),
        table("", std::slice::from_ref(&totals))?,
        table("device_id", &report.by_device)?,
        table("metric", &report.by_metric)?,
        if other.is_empty() { "none".to_owned() } else { other.join(", ") },
    ))
}

/// One bordered table, a row per group.
fn table(key_name: &str, groups: &[QualityGroup]) -> anyhow::Result<String> {
    let counts: Vec<JsonCounts> = groups.iter().map(|g| JsonCounts::from(&g.counts)).collect();
    let column = |f: fn(&JsonCounts) -> u64| Arc::new(UInt64Array::from_iter_values(counts.iter().map(f))) as ArrayRef;
    let text = |values: Vec<Option<String>>| Arc::new(StringArray::from(values)) as ArrayRef;
    let columns: Vec<(&str, ArrayRef)> = vec![
        (key_name, text(groups.iter().map(|g| g.key.clone()).collect())),
        ("total", column(|c| c.total)),
        ("stored", column(|c| c.stored)),
        ("valid", column(|c| c.valid)),
        ("implausible", column(|c| c.implausible)),
        ("questionable", column(|c| c.questionable)),
        ("clock_corrected", column(|c| c.clock_corrected)),
        ("future_time", column(|c| c.future_time)),
        ("preliminary", column(|c| c.preliminary)),
        ("corrected", column(|c| c.corrected)),
        ("unassociated", column(|c| c.unassociated)),
        ("patient_mismatch", column(|c| c.patient_mismatch)),
        ("unknown_metric", column(|c| c.unknown_metric)),
        ("unknown_unit", column(|c| c.unknown_unit)),
        ("duplicate", column(|c| c.duplicate)),
        ("other", column(|c| c.other_dead_letters.values().sum())),
        ("defective", column(|c| c.defective)),
        ("defect_rate", text(groups.iter().map(|g| g.counts.defect_rate()).collect())),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    Ok(format_batches(&[batch], OutputFormat::Table)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use wardstream_storage::QualityCounts;

    use super::*;

    const NOW: Micros = 1_795_321_444_000_000; // 2026-11-22T04:24:04Z

    #[test]
    fn since_is_an_rfc_3339_time_or_a_duration_back_from_now() {
        assert_eq!(parse_since("2026-11-22T04:24:04Z", 0).unwrap(), NOW);
        assert_eq!(parse_since("2026-11-22T05:24:04.5+01:00", 0).unwrap(), NOW + 500_000);
        let back = |text| NOW - parse_since(text, NOW).unwrap();
        assert_eq!(
            [back("90s"), back("30m"), back("24h"), back("7d"), back("0h")],
            [90_000_000, 1_800_000_000, 86_400_000_000, 604_800_000_000, 0]
        );
        for bad in ["", "h", "-1h", "1.5h", "24", "1w", "2026-11-22", "yesterday", "99999999999999999d"] {
            assert!(parse_since(bad, NOW).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_has_every_documented_key_in_order_with_an_exact_rate() {
        let counts = QualityCounts {
            stored: 5,
            valid: 2,
            flags: [0, 1, 0, 0, 0, 2, 0, 0],
            dead_letters: BTreeMap::from([("duplicate".into(), 1), ("invalid_payload".into(), 2)]),
        };
        let group = |key: Option<&str>| QualityGroup { key: key.map(Into::into), counts: counts.clone() };
        let report = QualityReport {
            since: Some(NOW),
            totals: counts.clone(),
            by_device: vec![group(Some("m-1"))],
            by_metric: vec![group(None)],
        };
        let text = to_json(&report).unwrap();
        let keys = r#""total": 8, "stored": 5, "dead_letters": 3, "valid": 2, "implausible": 1, "questionable": 0, "clock_corrected": 2, "future_time": 0, "preliminary": 0, "corrected": 0, "unassociated": 0, "patient_mismatch": 0, "unknown_metric": 0, "unknown_unit": 0, "duplicate": 1, "other_dead_letters": { "invalid_payload": 2 }, "defective": 6, "defect_rate": 0.75"#;
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let expected = format!(
            r#"{{ "since": "2026-11-22T04:24:04.000000Z", "totals": {{ {keys} }}, "devices": [ {{ "device_id": "m-1", {keys} }} ], "metrics": [ {{ "metric": null, {keys} }} ] }}"#
        );
        assert_eq!(flat, expected);
        let empty =
            QualityReport { since: None, totals: QualityCounts::default(), by_device: vec![], by_metric: vec![] };
        let value: serde_json::Value = serde_json::from_str(&to_json(&empty).unwrap()).unwrap();
        assert_eq!(
            (&value["since"], &value["totals"]["defect_rate"], &value["devices"]),
            (&serde_json::Value::Null, &serde_json::Value::Null, &serde_json::json!([]))
        );
    }
}
