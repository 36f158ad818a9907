//! Every JSON example of RFC 8428 §5.1 decodes to exactly the names, values, units and times the
//! RFC states. The payloads are `protocols/tests/data/rfc8428/*.json` (see the README there).

use super::*;

/// "Now" for the examples with relative or no times.
const NOW: i64 = 1_700_000_000_000_000;
const S: i64 = 1_000_000;

macro_rules! example {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc8428/", $file))
    };
}

/// (resolved name, unit, value, time µs)
type Expected<'a> = (&'a str, Option<&'a str>, Value<'a>, i64);

fn decode_ok(json: &str) -> Vec<Record<'_>> {
    decode(json.as_bytes(), NOW).unwrap().into_iter().map(Result::unwrap).collect()
}

fn assert_resolves_to(json: &str, expected: &[Expected<'_>]) {
    let records = decode_ok(json);
    let got: Vec<_> = records.iter().map(|r| (&*r.name, r.unit.as_deref(), &r.value, r.time)).collect();
    let want: Vec<_> = expected.iter().map(|(n, u, v, t)| (*n, *u, v, *t)).collect();
    assert_eq!(got, want);
}

fn num(v: f64) -> Value<'static> {
    Value::Number(v)
}

#[test]
fn rfc8428_5_1_1_single_data_point_is_23_1_cel_now() {
    assert_resolves_to(
        example!("5.1.1-single-datapoint.json"),
        &[("urn:dev:ow:10e2073a01080063", Some("Cel"), num(23.1), NOW)],
    );
}

#[test]
fn rfc8428_5_1_2_multiple_data_points_share_the_base_name_now() {
    assert_resolves_to(
        example!("5.1.2-multiple-datapoints.json"),
        &[
            ("urn:dev:ow:10e2073a01080063:voltage", Some("V"), num(120.1), NOW),
            ("urn:dev:ow:10e2073a01080063:current", Some("A"), num(1.2), NOW),
        ],
    );
}

#[test]
fn rfc8428_5_1_2_current_each_second_for_five_seconds_before_the_base_time() {
    let bt = 1_276_020_076_001_000; // Tue Jun 8 18:01:16.001 UTC 2010
    let current = "urn:dev:ow:10e2073a0108006:current";
    assert_resolves_to(
        example!("5.1.2-multiple-datapoints-with-time.json"),
        &[
            ("urn:dev:ow:10e2073a0108006:voltage", Some("V"), num(120.1), bt),
            (current, Some("A"), num(1.2), bt - 5 * S),
            (current, Some("A"), num(1.3), bt - 4 * S),
            (current, Some("A"), num(1.4), bt - 3 * S),
            (current, Some("A"), num(1.5), bt - 2 * S),
            (current, Some("A"), num(1.6), bt - S),
            (current, Some("A"), num(1.7), bt),
        ],
    );
}

/// RFC 8428 §5.1.4, which is §5.1.3 resolved: (unit, absolute time s, value).
const RESOLVED_5_1_4: [(&str, i64, f64); 13] = [
    ("%RH", 1_320_067_464, 20.0),
    ("lon", 1_320_067_464, 24.30621),
    ("lat", 1_320_067_464, 60.07965),
    ("%RH", 1_320_067_524, 20.3),
    ("lon", 1_320_067_524, 24.30622),
    ("lat", 1_320_067_524, 60.07965),
    ("%RH", 1_320_067_584, 20.7),
    ("lon", 1_320_067_584, 24.30623),
    ("lat", 1_320_067_584, 60.07966),
    ("%EL", 1_320_067_614, 98.0),
    ("%RH", 1_320_067_644, 21.2),
    ("lon", 1_320_067_644, 24.30628),
    ("lat", 1_320_067_644, 60.07967),
];

fn resolved_5_1_4() -> Vec<Expected<'static>> {
    RESOLVED_5_1_4.iter().map(|&(u, t, v)| ("urn:dev:ow:10e2073a01080063", Some(u), num(v), t * S)).collect()
}

#[test]
fn rfc8428_5_1_3_multiple_measurements_resolve_to_the_5_1_4_records() {
    assert_resolves_to(example!("5.1.3-multiple-measurements.json"), &resolved_5_1_4());
}

#[test]
fn rfc8428_5_1_4_resolved_data_decodes_unchanged() {
    assert_resolves_to(example!("5.1.4-resolved-data.json"), &resolved_5_1_4());
}

#[test]
fn rfc8428_5_1_5_multiple_data_types_keep_their_kinds() {
    assert_resolves_to(
        example!("5.1.5-multiple-data-types.json"),
        &[
            ("urn:dev:ow:10e2073a01080063:temp", Some("Cel"), num(23.1), NOW),
            ("urn:dev:ow:10e2073a01080063:label", None, Value::Text("Machine Room".into()), NOW),
            ("urn:dev:ow:10e2073a01080063:open", None, Value::Bool(false), NOW),
            ("urn:dev:ow:10e2073a01080063:nfv-reader", None, Value::Data("aGkgCg".into()), NOW),
        ],
    );
}

#[test]
fn rfc8428_5_1_6_the_last_record_uses_the_third_base_name_and_the_first_base_time() {
    let t = 1_320_078_429 * S; // Mon Oct 31 16:27:09 UTC 2011
    assert_resolves_to(
        example!("5.1.6-collection-of-resources.json"),
        &[
            ("2001:db8::2/temperature", Some("Cel"), num(25.2), t),
            ("2001:db8::2/humidity", Some("%RH"), num(30.0), t),
            ("2001:db8::1/temperature", Some("Cel"), num(12.3), t),
            ("2001:db8::1/humidity", Some("%RH"), num(67.0), t),
        ],
    );
}

#[test]
fn rfc8428_5_1_7_a_base_name_only_record_sets_context_and_yields_nothing() {
    let items = decode(example!("5.1.7-setting-an-actuator.json").as_bytes(), NOW).unwrap();
    assert_eq!(items.iter().map(|i| i.as_ref().unwrap().index).collect::<Vec<_>>(), [1, 2, 3]);
    assert_resolves_to(
        example!("5.1.7-setting-an-actuator.json"),
        &[
            ("urn:dev:ow:10e2073a01080063:temp", Some("Cel"), num(23.1), NOW),
            ("urn:dev:ow:10e2073a01080063:heat", Some("/"), num(1.0), NOW),
            ("urn:dev:ow:10e2073a01080063:fan", Some("/"), num(0.0), NOW),
        ],
    );
}

#[test]
fn rfc8428_5_1_7_lights_switch_on_at_the_base_time() {
    let t = 1_320_078_429 * S;
    assert_resolves_to(
        example!("5.1.7-lights-on.json"),
        &[("2001:db8::3", Some("/"), num(1.0), t), ("2001:db8::4", Some("/"), num(1.0), t)],
    );
}

#[test]
fn rfc8428_5_1_7_lights_dim_now_and_go_off_100_ms_later() {
    let t = 1_320_078_429 * S;
    assert_resolves_to(
        example!("5.1.7-lights-off.json"),
        &[
            ("2001:db8::3", Some("/"), num(0.5), t),
            ("2001:db8::4", Some("/"), num(0.5), t),
            ("2001:db8::3", Some("/"), num(0.0), t + 100_000),
            ("2001:db8::4", Some("/"), num(0.0), t + 100_000),
        ],
    );
}

#[test]
fn rfc8428_examples_carry_version_5_and_the_default_without_complaint() {
    // The 5.1.2 example declares bver 5 (below the supported 10): accepted.
    assert_eq!(decode_ok(example!("5.1.2-multiple-datapoints-with-time.json")).len(), 7);
}
