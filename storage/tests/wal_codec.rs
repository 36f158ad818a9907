//! The WAL body codec of `IngestBatch`: exact round trips (NaN payloads, every value kind,
//! dead letters, shared payloads), and totality: no input makes `decode_batch` panic.
//!
//! The random cases use a seeded SplitMix64 generator (the storage crate has no proptest
//! dependency), so every run checks the same 3,000 batches and 60,000 byte strings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use wardstream_pipeline::{DeadLetter, Flag, Flags, IngestBatch, RawReading, RawValue, Reason, Source};
use wardstream_storage::wal::{CodecError, decode_batch, encode_batch};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn text(&mut self) -> String {
        let alphabet = ["a", "Z", "0", "/", ":", " ", "é", "µ", "日", "🫀", "\0", "\n"];
        (0..self.below(12)).map(|_| *self.pick(&alphabet)).collect()
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max)).map(|_| self.next() as u8).collect()
    }
}

const SOURCES: [Source; 4] = [Source::Mqtt, Source::Serial, Source::Modbus, Source::Hl7];

fn random_batch(rng: &mut Rng) -> IngestBatch {
    let devices: Vec<Arc<str>> = (0..1 + rng.below(3)).map(|_| Arc::from(rng.text())).collect();
    let payloads: Vec<Arc<[u8]>> = (0..1 + rng.below(3)).map(|_| Arc::from(rng.bytes(64))).collect();
    let specials =
        [f64::NAN, -f64::NAN, f64::from_bits(0x7ff8_dead_beef_0001), f64::INFINITY, -0.0, f64::MIN_POSITIVE, 72.5];
    let readings = (0..rng.below(8))
        .map(|_| RawReading {
            device_id: Arc::clone(rng.pick(&devices)),
            name: rng.text(),
            value: match rng.below(5) {
                0 => RawValue::Number(*rng.pick(&specials)),
                1 => RawValue::Number(f64::from_bits(rng.next())),
                2 => RawValue::Text(rng.text()),
                3 => RawValue::Bool(rng.below(2) == 1),
                _ => RawValue::Data(rng.text()),
            },
            unit: (rng.below(2) == 1).then(|| rng.text()),
            device_time: rng.next() as i64,
            received_at: rng.below(1 << 20) as i64 - (1 << 19),
            source: *rng.pick(&SOURCES),
            origin: Arc::from(rng.text()),
            raw: Arc::clone(rng.pick(&payloads)),
            flags: Flag::ALL.iter().filter(|_| rng.below(4) == 0).fold(Flags::NONE, |mut f, flag| {
                f.insert(*flag);
                f
            }),
        })
        .collect();
    let dead_letters = (0..rng.below(4))
        .map(|_| DeadLetter {
            received_at: rng.next() as i64,
            source: *rng.pick(&SOURCES),
            origin: Arc::from(rng.text()),
            device_id: (rng.below(2) == 1).then(|| Arc::clone(rng.pick(&devices))),
            source_name: (rng.below(2) == 1).then(|| rng.text()),
            reason: *rng.pick(&Reason::ALL),
            detail: rng.text(),
            payload: Arc::from(rng.bytes(32)),
        })
        .collect();
    IngestBatch { readings, dead_letters }
}

/// The batch with every number replaced by its bit pattern, so NaN compares exactly.
fn exact(mut batch: IngestBatch) -> IngestBatch {
    for r in &mut batch.readings {
        if let RawValue::Number(v) = r.value {
            r.value = RawValue::Text(format!("f64 bits {:016x}", v.to_bits()));
        }
    }
    batch
}

#[test]
fn every_kind_of_value_a_dead_letter_and_nan_round_trip_exactly() {
    let raw: Arc<[u8]> = Arc::from(&b"[{\"bn\":\"m-1:\",\"n\":\"HR\",\"v\":72}]"[..]);
    let reading = |name: &str, value: RawValue, flags: Flags| RawReading {
        device_id: Arc::from("urn:dev:mac:0024befffe804ff1"),
        name: name.into(),
        value,
        unit: Some("beat/min".into()),
        device_time: 1_714_521_600_000_000,
        received_at: -5,
        source: Source::Hl7,
        origin: Arc::from("ward/3/m-1"),
        raw: Arc::clone(&raw),
        flags,
    };
    let mut flags = Flags::of(Flag::Questionable);
    flags.insert(Flag::Corrected);
    let batch = IngestBatch {
        readings: vec![
            reading("HR", RawValue::Number(f64::from_bits(0x7ff8_0000_0000_0123)), flags),
            reading("status", RawValue::Text("lead off — V2".into()), Flags::NONE),
            reading("alarm", RawValue::Bool(false), Flags::of(Flag::Implausible)),
            reading("blob", RawValue::Data("AAEC".into()), Flags::NONE),
            RawReading { unit: None, ..reading("SpO2", RawValue::Number(-0.0), Flags::NONE) },
        ],
        dead_letters: vec![
            DeadLetter {
                received_at: 7,
                source: Source::Mqtt,
                origin: Arc::from("wardstream/icu/m-1"),
                device_id: None,
                source_name: None,
                reason: Reason::InvalidPayload,
                detail: "expected a SenML array".into(),
                payload: Arc::from(&b"\xff\x00not json"[..]),
            },
            DeadLetter {
                received_at: 8,
                source: Source::Modbus,
                origin: Arc::from(""),
                device_id: Some(Arc::from("pump-2")),
                source_name: Some("HR".into()),
                reason: Reason::Duplicate,
                detail: String::new(),
                payload: Arc::from(&b""[..]),
            },
        ],
    };
    let bytes = encode_batch(&batch);
    let back = decode_batch(&bytes).unwrap();
    assert_eq!(exact(back.clone()), exact(batch.clone()));
    let RawValue::Number(nan) = back.readings[0].value else { panic!() };
    assert_eq!(nan.to_bits(), 0x7ff8_0000_0000_0123);
    let RawValue::Number(zero) = back.readings[4].value else { panic!() };
    assert_eq!(zero.to_bits(), (-0.0f64).to_bits());
    assert!(Arc::ptr_eq(&back.readings[0].raw, &back.readings[3].raw), "a message's payload is stored once");
    // Interning: 20 readings of one 1 KiB message store the payload, device id, name, unit,
    // source and origin once; each reading then costs 25 bytes.
    let big = Arc::<[u8]>::from(vec![7u8; 1024]);
    let readings =
        (0..20).map(|_| RawReading { raw: Arc::clone(&big), ..reading("HR", RawValue::Number(72.0), Flags::NONE) });
    let shared = IngestBatch { readings: readings.collect(), dead_letters: vec![] };
    // version, string count, 5 strings, blob count, blob length, blob, no flag table, reading
    // count, readings, dead-letter count.
    assert_eq!(encode_batch(&shared).len(), 1 + 1 + 56 + 1 + 2 + 1024 + 1 + 1 + 20 * 25 + 1);
    assert_eq!(decode_batch(&encode_batch(&IngestBatch::default())).unwrap(), IngestBatch::default());
}

#[test]
fn an_empty_batch_has_a_fixed_six_byte_encoding_and_bad_headers_are_clear_errors() {
    assert_eq!(encode_batch(&IngestBatch::default()), [1, 0, 0, 0, 0, 0]);
    assert_eq!(decode_batch(&[]), Err(CodecError::Empty));
    assert_eq!(decode_batch(&[2, 0, 0, 0, 0, 0]), Err(CodecError::UnsupportedVersion(2)));
    assert_eq!(decode_batch(&[1, 0, 0, 0, 0, 0, 9]), Err(CodecError::TrailingBytes(1)));
    assert_eq!(decode_batch(&[1, 0, 0, 0, 0]), Err(CodecError::Truncated { at: 5 }));
    assert_eq!(
        decode_batch(&[1, 1, 1, b'x', 0, 0, 1, 5]),
        Err(CodecError::BadIndex { what: "string", index: 5, len: 1 })
    );
    assert_eq!(
        decode_batch(&[1, 1, 4, b'm', b'q', b't', b'x', 0, 1, 0, 0, 0]).unwrap_err().to_string(),
        "unknown flag \"mqtx\""
    );
}

#[test]
fn random_batches_round_trip_exactly() {
    let mut rng = Rng(0x5eed_0001);
    for case in 0..3_000 {
        let batch = random_batch(&mut rng);
        let bytes = encode_batch(&batch);
        let back = decode_batch(&bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(exact(back.clone()), exact(batch), "case {case}");
        assert_eq!(encode_batch(&back), bytes, "case {case}: re-encoding is identical");
    }
}

#[test]
fn arbitrary_and_mutated_bytes_decode_to_a_batch_or_an_error_never_a_panic() {
    let mut rng = Rng(0x5eed_0002);
    let mut decoded = 0;
    for _ in 0..30_000 {
        let bytes = rng.bytes(96);
        if let Ok(batch) = decode_batch(&bytes) {
            decoded += 1;
            assert_eq!(decode_batch(&encode_batch(&batch)).map(exact), Ok(exact(batch)));
        }
    }
    for _ in 0..30_000 {
        let mut bytes = encode_batch(&random_batch(&mut rng));
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(4) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => bytes[at] = rng.next() as u8,
                2 => bytes.truncate(at),
                _ => bytes.insert(at, rng.next() as u8),
            }
            if bytes.is_empty() {
                break;
            }
        }
        if let Ok(batch) = decode_batch(&bytes) {
            decoded += 1;
            assert_eq!(decode_batch(&encode_batch(&batch)).map(exact), Ok(exact(batch)));
        }
    }
    assert!(decoded > 0, "some mutations still decode (e.g. a flipped byte inside a string)");
}

#[test]
fn every_strict_prefix_of_an_encoding_is_an_error() {
    let mut rng = Rng(0x5eed_0003);
    for _ in 0..200 {
        let bytes = encode_batch(&random_batch(&mut rng));
        for len in 0..bytes.len() {
            assert!(decode_batch(&bytes[..len]).is_err(), "prefix of {len} of {} bytes", bytes.len());
        }
    }
}
