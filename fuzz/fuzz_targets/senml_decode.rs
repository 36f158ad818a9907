//! Fuzzes the SenML JSON codec: no input may panic, and every input is accounted for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardstream_protocols::senml::{DeviceIdRule, decode, pack_to_batch};

const NOW: i64 = 1_700_000_000_000_000;

fuzz_target!(|data: &[u8]| {
    let decoded = decode(data, NOW);
    let batch = pack_to_batch(data, "wardstream/icu/bed-1/senml", &DeviceIdRule::default(), NOW);
    match decoded {
        // A rejected pack is exactly one dead letter.
        Err(_) => assert!(batch.readings.is_empty() && batch.dead_letters.len() == 1),
        // Otherwise every decoded item becomes exactly one reading or dead letter.
        Ok(items) => assert_eq!(items.len(), batch.readings.len() + batch.dead_letters.len()),
    }
});
