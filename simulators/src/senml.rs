//! SenML JSON packs (RFC 8428) as the simulated monitors publish them, and the time helpers that
//! make `bt` round-trip exactly to microseconds.
//!
//! A pack names its device once, in the base name of the first record:
//! `[{"bn":"urn:dev:ws:monitor-icu-1-03:","bt":1763780000.123,"n":"HR","u":"beat/min","v":72.3},
//! {"n":"SpO2","u":"%","v":97.0}]`. The full name of a reading is `bn` + `n`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The SenML base name of a device: `urn:dev:ws:<device>:`.
pub fn base_name(device: &str) -> String {
    format!("urn:dev:ws:{device}:")
}

/// A SenML pack for one device at one time: one record per `(name, unit, value)`, the first
/// carrying `bn` and `bt` (seconds since the Unix epoch, see [`bt_seconds`]). An empty slice
/// gives `[]`. Values are written as serde_json writes `f64` (shortest form that round-trips);
/// a non-finite value, which JSON cannot express, is written as `null`.
///
/// ```
/// let pack = wardstream_simulators::senml_pack("monitor-icu-1-03", 1_700_000_000_123_000, &[
///     ("HR", "beat/min", 72.3),
///     ("SpO2", "%", 97.0),
/// ]);
/// assert_eq!(
///     pack,
///     r#"[{"bn":"urn:dev:ws:monitor-icu-1-03:","bt":1700000000.123,"n":"HR","u":"beat/min","v":72.3},{"n":"SpO2","u":"%","v":97.0}]"#
/// );
/// ```
pub fn senml_pack(device: &str, time_micros: i64, readings: &[(&str, &str, f64)]) -> String {
    let records = readings
        .iter()
        .enumerate()
        .map(|(index, &(name, unit, value))| {
            let mut record = Map::new();
            if index == 0 {
                record.insert("bn".into(), Value::String(base_name(device)));
                record.insert("bt".into(), json!(bt_seconds(time_micros)));
            }
            record.insert("n".into(), Value::String(name.to_owned()));
            record.insert("u".into(), Value::String(unit.to_owned()));
            record.insert("v".into(), json!(value));
            Value::Object(record)
        })
        .collect();
    Value::Array(records).to_string()
}

/// Microseconds since the Unix epoch as SenML seconds (the nearest `f64`). For times within
/// ±2³³ s of the epoch (until the year 2242), [`micros_from_bt`] of the result, also after a
/// JSON round trip, gives `time_micros` back exactly.
pub fn bt_seconds(time_micros: i64) -> f64 {
    time_micros as f64 / 1e6
}

/// SenML seconds back to whole microseconds, rounded to the nearest.
///
/// Design: the whole seconds are split off first (exactly: `bt - bt.floor()` loses no bits), so
/// the only error is that of `bt` itself, under 0.5 µs while |bt| < 2³³ s. The plain
/// `(bt * 1e6).round()` adds the product's rounding error and is exact only until 2041.
pub fn micros_from_bt(bt: f64) -> i64 {
    let seconds = bt.floor();
    let fraction = bt - seconds;
    (seconds as i64).saturating_mul(1_000_000).saturating_add((fraction * 1e6).round() as i64)
}

/// The current wall-clock time in microseconds since the Unix epoch, truncated to whole
/// milliseconds (monitors stamp readings in milliseconds).
pub fn now_millis_as_micros() -> i64 {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    i64::try_from(millis).unwrap_or(i64::MAX).saturating_mul(1000)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pack_has_base_name_and_time_only_in_the_first_record() {
        let pack = senml_pack("m-1", 1_500_000, &[("HR", "beat/min", 60.5), ("RESP", "/min", 12.0)]);
        let value: Value = serde_json::from_str(&pack).unwrap();
        assert_eq!(
            value,
            json!([
                {"bn": "urn:dev:ws:m-1:", "bt": 1.5, "n": "HR", "u": "beat/min", "v": 60.5},
                {"n": "RESP", "u": "/min", "v": 12.0}
            ])
        );
    }

    #[test]
    fn empty_pack_is_an_empty_array_and_non_finite_values_are_null() {
        assert_eq!(senml_pack("d", 0, &[]), "[]");
        assert!(senml_pack("d", 0, &[("x", "%", f64::NAN)]).ends_with(r#""v":null}]"#));
    }

    #[test]
    fn device_names_are_json_escaped() {
        let pack = senml_pack("a\"b", 0, &[("HR", "beat/min", 1.0)]);
        assert!(pack.contains(r#""bn":"urn:dev:ws:a\"b:""#), "{pack}");
    }

    #[test]
    fn bt_round_trips_to_the_microsecond_through_json_text() {
        let starts = [
            0_i64,
            1_763_780_000_123_456,
            2_251_799_813_685_248,
            4_102_444_800_000_000,
            8_589_934_000_000_000,
            -86_400_000_001,
        ];
        for start in starts {
            for step in 0..20_000_i64 {
                let micros = start + step * 7_919;
                let text = serde_json::to_string(&bt_seconds(micros)).unwrap();
                let parsed: f64 = serde_json::from_str(&text).unwrap();
                assert_eq!(micros_from_bt(parsed), micros, "{text}");
            }
        }
    }

    #[test]
    fn now_is_whole_milliseconds_after_2020() {
        let now = now_millis_as_micros();
        assert_eq!(now % 1000, 0);
        assert!(now > 1_577_836_800_000_000);
    }
}
