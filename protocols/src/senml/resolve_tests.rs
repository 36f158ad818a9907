//! Edge cases of [`decode`](super::decode): base-field inheritance, times, rejections, and
//! property tests that no input panics.

use proptest::prelude::*;
use wardstream_pipeline::Reason;

use super::*;

const NOW: i64 = 1_700_000_000_000_000;
const S: i64 = 1_000_000;

fn ok(json: &str) -> Vec<Record<'_>> {
    decode(json.as_bytes(), NOW).unwrap().into_iter().map(Result::unwrap).collect()
}

fn record_err(json: &str) -> RecordError {
    let items = decode(json.as_bytes(), NOW).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    items.into_iter().next().unwrap().unwrap_err()
}

fn pack_err(payload: &[u8]) -> SenmlError {
    decode(payload, NOW).unwrap_err()
}

#[test]
fn relative_times_count_from_now_and_absolute_ones_from_the_epoch() {
    let r = ok(r#"[{"n":"a","v":1,"t":-2.5},{"n":"a","v":1,"t":10},{"n":"a","v":1},{"n":"a","v":1,"t":268435456}]"#);
    let times: Vec<i64> = r.iter().map(|r| r.time).collect();
    assert_eq!(times, [NOW - 2_500_000, NOW + 10 * S, NOW, 268_435_456 * S]);
    // Base time and time are added before the 2^28 test: a relative base time stays relative.
    let r = ok(r#"[{"bt":-60,"n":"a","v":1,"t":30},{"bt":268435455,"n":"a","v":1,"t":1}]"#);
    assert_eq!((r[0].time, r[1].time), (NOW - 30 * S, 268_435_456 * S));
}

#[test]
fn base_value_adds_to_numbers_only_and_base_unit_applies_until_overridden() {
    let r = ok(
        r#"[{"bn":"d:","bv":100,"bu":"kPa","n":"a","v":1.5},{"n":"b","vs":"x"},{"n":"c","v":-100,"u":"Pa"},{"bu":"Cel","n":"d","v":0}]"#,
    );
    assert_eq!(r[0].value, Value::Number(101.5));
    assert_eq!(r[1].value, Value::Text("x".into()));
    assert_eq!(r[2].value, Value::Number(0.0));
    let units: Vec<_> = r.iter().map(|r| r.unit.as_deref()).collect();
    assert_eq!(units, [Some("kPa"), Some("kPa"), Some("Pa"), Some("Cel")]);
    assert_eq!(r[3].value, Value::Number(100.0));
}

#[test]
fn a_later_base_name_replaces_the_earlier_one() {
    let r = ok(r#"[{"bn":"a:","n":"x","v":1},{"n":"y","v":1},{"bn":"b/","n":"x","v":1},{"v":1}]"#);
    let names: Vec<_> = r.iter().map(|r| r.name.as_ref()).collect();
    assert_eq!(names, ["a:x", "a:y", "b/x", "b/"]);
    assert!(matches!(r[0].name, std::borrow::Cow::Owned(_)));
    assert!(matches!(r[3].name, std::borrow::Cow::Borrowed("b/")));
}

#[test]
fn sums_and_update_times_are_resolved_alongside_a_value() {
    let r = ok(r#"[{"bs":10,"n":"a","v":1,"s":2.5,"ut":30},{"n":"a","v":1},{"n":"a","v":1,"bs":0}]"#);
    assert_eq!((r[0].sum, r[0].update_time), (Some(12.5), Some(30.0)));
    assert_eq!(r[1].sum, Some(10.0));
    assert_eq!(r[2].sum, Some(0.0));
    assert_eq!(ok(r#"[{"n":"a","v":1}]"#)[0].sum, None);
}

#[test]
fn bver_up_to_10_is_accepted_and_11_rejects_the_whole_pack() {
    assert_eq!(ok(r#"[{"bver":10,"n":"a","v":1}]"#).len(), 1);
    let err = pack_err(br#"[{"n":"a","v":1},{"bver":11,"n":"b","v":2}]"#);
    assert!(matches!(err, SenmlError::UnsupportedVersion { version: 11 }), "{err}");
    assert_eq!(err.reason(), Reason::UnsupportedVersion);
    assert_eq!(pack_err(br#"[{"bver":0,"n":"a","v":1}]"#).reason(), Reason::InvalidPayload);
    let err = pack_err(br#"[{"bver":5,"n":"a","v":1},{"bver":6,"n":"a","v":1}]"#);
    assert!(err.to_string().contains("bver 6"), "{err}");
}

#[test]
fn a_record_without_value_is_rejected_alone() {
    let items = decode(br#"[{"bn":"d:","n":"a","v":1},{"n":"b","u":"Cel"},{"n":"c","v":3}]"#, NOW).unwrap();
    assert_eq!(items.len(), 3);
    let err = items[1].clone().unwrap_err();
    assert_eq!((err.index, err.name.as_deref(), &err.kind), (1, Some("d:b"), &RecordErrorKind::MissingValue));
    assert_eq!(err.reason(), Reason::MissingValue);
    assert!(items[0].is_ok() && items[2].is_ok());
}

#[test]
fn a_record_with_only_a_sum_is_missing_its_value() {
    let err = record_err(r#"[{"n":"a","s":5}]"#);
    assert_eq!((err.kind.clone(), err.reason()), (RecordErrorKind::OnlySum, Reason::MissingValue));
    assert!(err.to_string().contains("only a sum"), "{err}");
    assert_eq!(record_err(r#"[{"bs":1,"n":"a"}]"#).kind, RecordErrorKind::OnlySum);
}

#[test]
fn a_record_of_base_fields_only_yields_nothing() {
    assert!(decode(br#"[{"bn":"a:","bt":1.7e9,"bu":"A","bv":1,"bs":1,"bver":10,"x":1}]"#, NOW).unwrap().is_empty());
    // ... but a record with only a time or unit is a record missing its value.
    assert_eq!(record_err(r#"[{"bn":"a","t":1}]"#).kind, RecordErrorKind::MissingValue);
    assert_eq!(record_err(r#"[{"bn":"a","ut":1}]"#).kind, RecordErrorKind::MissingValue);
}

#[test]
fn two_values_in_one_record_are_rejected() {
    let err = record_err(r#"[{"n":"a","v":1,"vb":true}]"#);
    assert_eq!((err.kind.clone(), err.reason()), (RecordErrorKind::MultipleValues, Reason::InvalidPayload));
}

#[test]
fn names_must_follow_the_rfc_character_rule() {
    for good in ["a", "0", "urn:dev:mac:0024befffe804ff1:HR", "2001:db8::1/x", "a-b_c.d/e:f"] {
        assert!(is_valid_name(good), "{good}");
    }
    for bad in ["", "-a", ":a", "/a", "_a", ".a", "a b", "a#b", "é", "a\u{0}", "ab+"] {
        assert!(!is_valid_name(bad), "{bad:?}");
    }
    let err = record_err(r#"[{"bn":"dev 1:","n":"HR","v":1}]"#);
    assert_eq!((err.reason(), err.name.as_deref()), (Reason::InvalidPayload, Some("dev 1:HR")));
    assert!(err.to_string().contains("not a valid SenML name"), "{err}");
    assert_eq!(record_err(r#"[{"v":1}]"#).kind, RecordErrorKind::InvalidName(String::new()));
}

#[test]
fn a_time_that_does_not_fit_in_micros_is_rejected_alone() {
    let err = record_err(r#"[{"n":"a","v":1,"t":1e300}]"#);
    assert_eq!(err.reason(), Reason::InvalidTime);
    let err = record_err(r#"[{"bt":1.7e308,"n":"a","v":1,"t":1.7e308}]"#);
    assert_eq!(err.reason(), Reason::InvalidTime);
}

#[test]
fn unknown_labels_are_ignored_but_must_understand_ones_reject_the_pack() {
    assert_eq!(ok(r#"[{"n":"a","v":1,"vendor":{"x":[1,2,{}]}}]"#).len(), 1);
    let err = pack_err(br#"[{"n":"a","v":1},{"n":"b","v":2,"crit_":1}]"#);
    assert!(matches!(&err, SenmlError::MustUnderstand { index: 1, label } if label == "crit_"), "{err}");
    assert_eq!(err.reason(), Reason::UnsupportedVersion);
}

#[test]
fn malformed_payloads_reject_the_whole_pack_with_serdes_message() {
    let cases: [(&[u8], &str); 9] = [
        (br#"{"n":"a","v":1}"#, "invalid type: map, expected a sequence"),
        (b"42", "invalid type: integer `42`, expected a sequence"),
        (b"[1]", "invalid type: integer `1`, expected a SenML record (a JSON object)"),
        (br#"[{"n":"a","v":"12"}]"#, "invalid type: string \"12\", expected f64"),
        (br#"[{"n":"a","v":1}] x"#, "trailing characters"),
        (br#"[{"n":"a","v":1}"#, "EOF while parsing a list"),
        (b"", "EOF while parsing a value"),
        (b"[{\"n\":\"\xff\",\"v\":1}]", "invalid unicode code point"),
        (br#"[{"n":"a","v":1e999}]"#, "number out of range"),
    ];
    for (payload, message) in cases {
        let err = pack_err(payload);
        assert_eq!(err.reason(), Reason::InvalidPayload);
        assert!(err.to_string().starts_with(message), "{:?}: {err}", String::from_utf8_lossy(payload));
    }
}

#[test]
fn an_empty_pack_yields_nothing() {
    assert!(decode(b"[]", NOW).unwrap().is_empty());
    assert!(decode(b" [ ] \n", NOW).unwrap().is_empty());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, NOW);
    }

    #[test]
    fn senml_shaped_text_never_panics(text in r#"\[(\{("(bn|bt|bu|bv|bs|bver|n|u|v|vs|vb|vd|s|t|ut|x_)":(-?[0-9]{1,3}(\.[0-9])?(e[0-9]{1,3})?|"[a-z:/ ]{0,6}"|true|null|\[\]),?){0,6}\},?){0,4}\]"#) {
        let _ = decode(text.as_bytes(), NOW);
    }

    #[test]
    fn relative_record_times_are_now_plus_base_time_plus_time(bt in -1.0e6f64..1.0e6, t in -1.0e6f64..1.0e6) {
        let json = format!(r#"[{{"bt":{bt},"n":"a","v":1,"t":{t}}}]"#);
        let r = ok(&json);
        prop_assert_eq!(r[0].time, NOW + wardstream_pipeline::time::seconds_to_micros(bt + t).unwrap());
    }
}
