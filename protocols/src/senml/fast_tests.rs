//! Differential tests of the fast path ([`fast`](super::fast) over [`scan`](super::scan))
//! against the serde-based reference: on every input, [`pack_to_batch_with_identity`] (fast
//! path first) and [`reference_pack_to_batch_with_identity`] must give the same batch, down to
//! the bits of every float, the order of readings and dead letters and every detail message.
//! Inputs: generated packs (base fields, escapes, exotic numbers, whitespace everywhere,
//! unknown, must-understand and duplicate labels, wrong types), mutations of them (truncated,
//! bytes changed, inserted, removed), random bytes, and the RFC 8428 examples.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;

use wardstream_pipeline::IngestBatch;

use super::batch::Context;
use super::*;

const NOW: i64 = 1_700_000_000_000_000;
const TOPICS: [&str; 3] = ["wardstream/icu/monitor-7/senml", "wardstream/icu", "wardstream/icu//x"];
const RULES: [DeviceIdRule; 2] = [
    DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 },
    DeviceIdRule { from: DeviceIdFrom::Topic, topic_level: 2 },
];
const POLICIES: [IdentityPolicy; 2] = [IdentityPolicy::Off, IdentityPolicy::Enforce];

/// The fast path alone: `None` when it hands over to the reference.
fn fast_only(payload: &[u8], topic: &str, rule: &DeviceIdRule, policy: IdentityPolicy) -> Option<IngestBatch> {
    let ctx = Context { raw: Arc::from(payload), origin: Arc::from(topic), topic, now: NOW };
    super::fast::pack_to_batch(payload, &ctx, rule, policy)
}

/// Asserts that the public path and the reference agree on `payload` under every rule, policy
/// and topic, comparing `Debug` output too (so `-0.0` and `0.0` differ). Returns whether the
/// fast path accepted the payload (under the first rule, policy and topic).
fn assert_same(payload: &[u8]) -> bool {
    let mut accepted = None;
    for topic in TOPICS {
        for rule in &RULES {
            for policy in POLICIES {
                let public = pack_to_batch_with_identity(payload, topic, rule, policy, NOW);
                let reference = reference_pack_to_batch_with_identity(payload, topic, rule, policy, NOW);
                let input = String::from_utf8_lossy(payload);
                assert_eq!(public, reference, "{input} ({topic}, {rule:?}, {policy:?})");
                assert_eq!(format!("{public:?}"), format!("{reference:?}"), "{input}");
                let fast = fast_only(payload, topic, rule, policy);
                if let Some(fast) = &fast {
                    assert_eq!(format!("{fast:?}"), format!("{reference:?}"), "{input}");
                }
                accepted.get_or_insert(fast.is_some());
            }
        }
    }
    accepted.unwrap_or(false)
}

/// The pack the load harness and the benches send: a monitor's readings after a base record.
fn monitor_pack(readings: usize) -> String {
    const MONITOR: [(&str, &str, f64); 5] = [
        ("HR", "beat/min", 72.5),
        ("SpO2", "%", 97.0),
        ("RESP", "/min", 14.0),
        ("NBPSys", "mm[Hg]", 120.0),
        ("TEMP", "Cel", 37.1),
    ];
    let records: Vec<String> = (0..readings)
        .map(|i| {
            let (n, u, v) = MONITOR[i % MONITOR.len()];
            let base = if i == 0 { r#""bn":"urn:dev:ws:monitor-7:","bt":1700000000.5,"# } else { "" };
            format!(r#"{{{base}"n":"{n}","u":"{u}","t":{},"v":{v}}}"#, i / MONITOR.len())
        })
        .collect();
    format!("[{}]", records.join(","))
}

#[test]
fn the_fast_path_builds_the_monitor_pack_exactly() {
    let payload = monitor_pack(10);
    let rule = RULES[0];
    let fast = fast_only(payload.as_bytes(), TOPICS[0], &rule, IdentityPolicy::Enforce).unwrap();
    assert!(fast.dead_letters.is_empty());
    let got: Vec<_> =
        fast.readings.iter().map(|r| (&*r.device_id, r.name.as_str(), r.unit.as_deref(), r.device_time)).collect();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0], ("urn:dev:ws:monitor-7", "HR", Some("beat/min"), 1_700_000_000_500_000));
    assert_eq!(got[9], ("urn:dev:ws:monitor-7", "TEMP", Some("Cel"), 1_700_000_001_500_000));
    assert_eq!(fast.readings[9].value, wardstream_pipeline::RawValue::Number(37.1));
    assert!(Arc::ptr_eq(&fast.readings[0].device_id, &fast.readings[9].device_id));
    assert!(assert_same(payload.as_bytes()));
    assert!(assert_same(monitor_pack(100).as_bytes()));
}

#[test]
fn the_fast_path_handles_record_rejections_itself() {
    for payload in [
        r#"[{"n":"bad name","v":1},{"n":"a:b"},{"n":"a:b","s":1},{"n":"a:b","v":1,"vb":true}]"#,
        r#"[{"bt":1e300,"n":"a:b","v":1},{"n":"HR","v":1},{"n":"dev:","v":2},{"bn":"x:","n":"y","vs":"ok"}]"#,
        r#" [ { "n" : "a:b" , "vd" : "AQ" , "ut" : 5 , "other" : null , "x" : "y" , "z" : -1.5 } ] "#,
        r#"[{"bn":"d:","bv":10,"bs":1,"bu":"A","bver":10},{"n":"v","v":-10},{"n":"w","u":"B","v":0.25,"s":2}]"#,
        "[]",
        r#"[{}]"#,
    ] {
        assert!(assert_same(payload.as_bytes()), "{payload}");
    }
}

#[test]
fn the_fast_path_hands_unusual_or_bad_packs_to_the_reference() {
    for payload in [
        r#"[{"n":"a\u0052:b","v":1}]"#,
        r#"[{"n":"a:b","v":1,"v":2}]"#,
        r#"[{"n":"a:b","v":1,"ext_":1}]"#,
        r#"[{"bver":11,"n":"a:b","v":1}]"#,
        r#"[{"bver":10},{"bver":9}]"#,
        r#"[{"n":"a:b","v":1e400}]"#,
        r#"[{"n":"a:b","v":"12"}]"#,
        r#"[{"n":"a:b","v":1,"x":{"y":[1]}}]"#,
        r#"[{"n":"a:b","v":1},]"#,
        r#"[{"n":"a:b","v":1}] x"#,
        r#"[{"n":"a:b","v":01}]"#,
        "[{\"n\":\"a\tb\",\"v\":1}]",
        r#"{"n":"a:b","v":1}"#,
        "",
    ] {
        assert!(!assert_same(payload.as_bytes()), "{payload}");
    }
    assert!(!assert_same(b"[{\"n\":\"\xff\",\"v\":1}]"));
    assert!(!assert_same(b"[{\"n\":\"a:b\",\"v\":1,\"x\xff\":1}]"));
    // Under `enforce`, a record naming another device is the reference's to reject.
    let other = br#"[{"bn":"urn:dev:ws:monitor-8:","n":"HR","v":1}]"#;
    assert!(fast_only(other, TOPICS[0], &RULES[0], IdentityPolicy::Enforce).is_none());
    assert!(fast_only(other, TOPICS[0], &RULES[0], IdentityPolicy::Off).is_some());
}

#[test]
fn the_rfc_8428_examples_agree() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc8428");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            assert_same(&std::fs::read(&path).unwrap());
            files += 1;
        }
    }
    assert_eq!(files, 10);
}

#[test]
fn plain_numbers_are_converted_bit_for_bit_as_serde_json_does() {
    for text in [
        "0",
        "-0",
        "-0.0",
        "12.50",
        "0.1",
        "0.3",
        "37.1",
        "-60",
        "123456789012345",
        "999999999999999",
        "0.000000000000001",
        "1700000000.5",
        "268435455.999999",
        "1.7976931348623157",
        "5e-324",
        "1234567890123456",
        "1E-7",
        "1e308",
        "9007199254740993",
        "18446744073709551616",
    ] {
        let pack = format!(r#"[{{"n":"a:b","v":{text}}}]"#);
        assert_same(pack.as_bytes());
    }
}

// ---- generators ----

/// Labels, the common ones more often; `x_` must be understood, `foo` is ignored.
const LABELS: [&str; 24] = [
    "bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut", "foo", "x_", "n", "v", "t",
    "u", "n", "v", "bn",
];
const BASE_NAMES: [&str; 8] = [
    r#""urn:dev:ws:monitor-7:""#,
    r#""monitor-7/""#,
    r#""urn:dev:ws:monitor-8:""#,
    r#""""#,
    r#""dev:""#,
    r#""a b:""#,
    r#""urn:dev:ws:monitor-\u0037:""#,
    r#""ward3/monitor-7/""#,
];
const NAMES: [&str; 12] = [
    r#""HR""#,
    r#""SpO2""#,
    r#""a/b""#,
    r#""""#,
    r#""bad name""#,
    r#"":""#,
    r#""H\u0052""#,
    r#""caf\u00e9""#,
    r#""\ud83d\ude00""#,
    r#""q\"x""#,
    r#""TEMP""#,
    r#""monitor-7:RESP""#,
];
const TEXTS: [&str; 10] = [
    r#""Cel""#,
    r#""%""#,
    r#""mm[Hg]""#,
    r#""beat/min""#,
    r#""""#,
    "\"\u{b0}C\"",
    r#""\u00b0C""#,
    r#""a\\b\/c\n""#,
    r#""\ud83d\ude00""#,
    "\"\u{1F600} ok\"",
];
const NUMBERS: [&str; 30] = [
    "0",
    "-0",
    "-0.0",
    "1",
    "-1",
    "72.5",
    "12.50",
    "1e308",
    "1E-7",
    "1.7e9",
    "1700000000.5",
    "-60",
    "0.1",
    "123456789012345",
    "1234567890123456",
    "12345678901234567890",
    "1e400",
    "00",
    "1.",
    ".5",
    "+1",
    "268435455.999",
    "9007199254740993",
    "-1e308",
    "2.5E+2",
    "1e-400",
    "-",
    "0.000001",
    "3600",
    "268435456",
];
const VERSIONS: [&str; 8] = ["10", "1", "0", "11", "-1", "10.0", "99999999999999999999", "010"];
const WRONG: [&str; 8] = ["null", r#""12""#, "[1]", "{}", "true", r#"{"a":[1,{"b":null}]}"#, "nul", "tru"];
const WHITESPACE: [&str; 6] = ["", "", " ", "\n", "\t", "\r\n  "];

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&WHITESPACE[..])
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&NUMBERS[..]).prop_map(str::to_owned),
        2 => (0u32..100_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        1 => (1_699_000_000u64..1_701_000_000, 0u32..10_000).prop_map(|(a, b)| format!("{a}.{b}")),
    ]
}

/// `"label": value` with whitespace around every token; the value usually of the label's type.
fn member() -> impl Strategy<Value = String> {
    (prop::sample::select(&LABELS[..]), 0u8..12, any::<Index>(), number(), ws(), ws(), ws(), ws()).prop_map(
        |(label, wrong, i, num, w1, w2, w3, w4)| {
            let value = if wrong == 0 {
                i.get(&WRONG[..]).to_string()
            } else {
                match label {
                    "bn" => i.get(&BASE_NAMES[..]).to_string(),
                    "n" => i.get(&NAMES[..]).to_string(),
                    "bu" | "u" | "vs" | "vd" | "foo" => i.get(&TEXTS[..]).to_string(),
                    "bver" => i.get(&VERSIONS[..]).to_string(),
                    "vb" | "x_" => ["true", "false"][i.index(2)].to_string(),
                    _ => num,
                }
            };
            format!(r#"{w1}"{label}"{w2}:{w3}{value}{w4}"#)
        },
    )
}

fn record() -> impl Strategy<Value = String> {
    (prop::collection::vec(member(), 0..6), ws()).prop_map(|(members, w)| format!("{{{w}{}}}", members.join(",")))
}

fn pack() -> impl Strategy<Value = String> {
    (prop::collection::vec((ws(), record(), ws()), 0..6), ws(), ws()).prop_map(|(records, w1, w2)| {
        let records: Vec<String> = records.into_iter().map(|(a, r, b)| format!("{a}{r}{b}")).collect();
        format!("{w1}[{}]{w2}", records.join(","))
    })
}

/// Numbers every JSON parser accepts, in the forms devices send.
fn plain_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        any::<i32>().prop_map(|i| i.to_string()),
        (-1e6..1e6f64).prop_map(|f| f.to_string()),
        (-1e6..1e6f64).prop_map(|f| format!("{f:e}")),
        (1_699_000_000u64..1_701_000_000, 0u32..10_000).prop_map(|(a, b)| format!("{a}.{b}")),
    ]
}

/// A plain pack the fast path must take: monitors' records with their usual fields.
fn plain_pack() -> impl Strategy<Value = String> {
    let record =
        (prop::sample::select(&NAMES[..2]), prop::sample::select(&TEXTS[..4]), plain_number(), 0u32..100, ws())
            .prop_map(|(n, u, v, t, w)| format!(r#"{{"n":{n},{w}"u":{u},"t":-{t},"v":{v}}}"#));
    (prop::sample::select(&BASE_NAMES[..2]), plain_number(), prop::collection::vec(record, 1..12))
        .prop_map(|(bn, bt, records)| format!(r#"[{{"bn":{bn},"bt":{bt}}},{}]"#, records.join(",")))
}

/// A pack with one byte changed, inserted or removed, or cut short.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (pack(), 0u8..4, any::<Index>(), prop::sample::select(&b"[]{}\",:\\ 0-.eE_tnx\xc3\xff"[..])).prop_map(
        |(pack, how, at, byte)| {
            let mut bytes = pack.into_bytes();
            let at = at.index(bytes.len() + 1);
            match how {
                0 => bytes.truncate(at),
                1 if at < bytes.len() => bytes[at] = byte,
                2 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
            bytes
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn generated_packs_agree(pack in pack()) {
        assert_same(pack.as_bytes());
    }

    #[test]
    fn mutated_packs_agree(bytes in mutated()) {
        assert_same(&bytes);
    }

    #[test]
    fn random_bytes_agree(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        assert_same(&bytes);
    }

    #[test]
    fn plain_packs_agree(pack in plain_pack()) {
        prop_assert!(assert_same(pack.as_bytes()), "the fast path refused {}", pack);
    }
}
