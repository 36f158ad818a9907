//! Fuzzes the serial line framing and the Masimo ASCII 1 codec: no input may panic, bytes are
//! conserved by the framer, and every line leaves a reading or a dead letter.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardstream_protocols::masimo::{MasimoDecoder, parse_line};
use wardstream_protocols::serial::{Framer, LineFramer};

const NOW: i64 = 1_700_000_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(mut decoder) = MasimoDecoder::new("/dev/ttyFUZZ", "fuzz-spo2", "Europe/London") else {
        return;
    };
    // The whole input as one line: malformed means exactly one dead letter and no reading.
    let batch = decoder.decode_to_batch(data, NOW);
    match parse_line(data) {
        Err(_) => assert!(batch.readings.is_empty() && batch.dead_letters.len() == 1),
        Ok(_) => assert!(!batch.is_empty()),
    }
    // The input as a byte stream: every byte is in a line, a line end, or counted as discarded.
    let mut framer = LineFramer::new(256);
    let (head, tail) = data.split_at(data.len() / 2);
    framer.push(head);
    framer.push(tail);
    framer.reset();
    let mut framed = 0;
    while let Some(line) = framer.next_frame() {
        framed += line.len();
        assert!(!line.is_empty() && line.len() <= 256);
        assert!(!decoder.decode_to_batch(&line, NOW).is_empty());
    }
    let ends = data.iter().filter(|b| **b == b'\r' || **b == b'\n').count();
    assert_eq!((framed + ends) as u64 + framer.discarded_bytes(), data.len() as u64);
});
