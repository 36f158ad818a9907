//! Fuzzes the SenML JSON codec: no input may panic, every input is accounted for, and the fast
//! path of `pack_to_batch` gives exactly the batch of the serde-based reference decoder.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardstream_protocols::senml::{
    DeviceIdFrom, DeviceIdRule, IdentityPolicy, decode, pack_to_batch, pack_to_batch_with_identity,
    reference_pack_to_batch_with_identity,
};

const NOW: i64 = 1_700_000_000_000_000;
const TOPIC: &str = "wardstream/icu/bed-1/senml";

fuzz_target!(|data: &[u8]| {
    let decoded = decode(data, NOW);
    let batch = pack_to_batch(data, TOPIC, &DeviceIdRule::default(), NOW);
    match decoded {
        // A rejected pack is exactly one dead letter.
        Err(_) => assert!(batch.readings.is_empty() && batch.dead_letters.len() == 1),
        // Otherwise every decoded item becomes exactly one reading or dead letter.
        Ok(items) => assert_eq!(items.len(), batch.readings.len() + batch.dead_letters.len()),
    }
    // The fast path and the reference agree, down to the bits of every float.
    for from in [DeviceIdFrom::Name, DeviceIdFrom::Topic] {
        let rule = DeviceIdRule { from, topic_level: 2 };
        for policy in [IdentityPolicy::Off, IdentityPolicy::Enforce] {
            let fast = pack_to_batch_with_identity(data, TOPIC, &rule, policy, NOW);
            let reference = reference_pack_to_batch_with_identity(data, TOPIC, &rule, policy, NOW);
            assert_eq!(format!("{fast:?}"), format!("{reference:?}"));
        }
    }
});
