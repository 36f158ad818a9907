//! The SenML JSON packs the simulated devices publish: up to ten vital signs of one device at one
//! time, `bn` `urn:dev:ws:<device>:` and `bt` exact to the microsecond (the publish time, which
//! is how the latency probes know when a reading was published).
//!
//! The text is written directly (no JSON tree) so that flat out the publishers spend as little of
//! the shared CPU as possible; `bt` is `<seconds>.<6 digits>`, whose nearest `f64` is the one
//! `wardstream_simulators::senml::bt_seconds` gives, so wardstream reads the same microseconds.

use std::fmt::Write;

use super::options::MAX_READINGS_PER_PACK;

/// The vital signs of a pack, in order: SenML name, UCUM unit, base value.
pub const VITALS: [(&str, &str, f64); MAX_READINGS_PER_PACK] = [
    ("HR", "/min", 72.0),
    ("SpO2", "%", 96.0),
    ("RESP", "/min", 16.0),
    ("PULSE", "/min", 71.0),
    ("ABPSys", "mm[Hg]", 120.0),
    ("ABPDias", "mm[Hg]", 80.0),
    ("ABPMean", "mm[Hg]", 93.0),
    ("NBPSys", "mm[Hg]", 118.0),
    ("NBPDias", "mm[Hg]", 76.0),
    ("NBPMean", "mm[Hg]", 90.0),
];

/// The pack of `readings` readings (at most 10) of `device_name` at `time_us`, the `k`-th the
/// device sends (values vary with `k`, within plausible ranges).
pub fn senml_pack(device_name: &str, time_us: i64, k: u64, readings: usize) -> String {
    let mut out = String::with_capacity(64 + readings * 40);
    let seconds = time_us.div_euclid(1_000_000);
    let micros = time_us.rem_euclid(1_000_000);
    let wiggle = (k % 5) as f64;
    out.push('[');
    for (i, (name, unit, base)) in VITALS.iter().take(readings).enumerate() {
        if i == 0 {
            let _ = write!(out, r#"{{"bn":"urn:dev:ws:{device_name}:","bt":{seconds}.{micros:06},"#);
        } else {
            out.push_str(",{");
        }
        let _ = write!(out, r#""n":"{name}","u":"{unit}","v":{}}}"#, base + wiggle);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_names_its_device_once_with_an_exact_base_time() {
        let pack = senml_pack("load-00003", 1_763_791_234_000_042, 7, 2);
        assert_eq!(
            pack,
            r#"[{"bn":"urn:dev:ws:load-00003:","bt":1763791234.000042,"n":"HR","u":"/min","v":74},{"n":"SpO2","u":"%","v":98}]"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&senml_pack("d", 1_700_000_000_123_456, 0, 10)).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 10);
        let bt = parsed[0]["bt"].as_f64().unwrap();
        assert_eq!(bt, wardstream_simulators::senml::bt_seconds(1_700_000_000_123_456));
    }
}
