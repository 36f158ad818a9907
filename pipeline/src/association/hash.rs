//! [`FastHash`]: a small multiply-rotate hasher for the snapshot's lookup maps.
//!
//! Design: the hot path hashes one device id per batch run; SipHash (std's default) costs
//! several times more for short strings. The maps are built from device ids an operator
//! registered, and only looked up with what devices send, so a flooding peer cannot grow a
//! probe chain: hash-flooding resistance buys nothing here.

use std::hash::{BuildHasherDefault, Hasher};

/// The build-hasher of the snapshot's maps.
pub(crate) type FastBuild = BuildHasherDefault<FastHash>;

/// A `HashMap` with [`FastHash`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;

/// A `HashSet` with [`FastHash`].
pub(crate) type FastSet<T> = std::collections::HashSet<T, FastBuild>;

/// Multiply-rotate hashing of 8-byte words (the FxHash construction).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHash(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHash {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHash {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            self.add(u64::from_le_bytes(word));
        }
        // The length tells "a" from "a\0" (the last word is zero-padded).
        self.add(bytes.len() as u64);
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn equal_strings_hash_equal_and_neighbours_differ() {
        let b = FastBuild::default();
        assert_eq!(b.hash_one("monitor-17"), b.hash_one(String::from("monitor-17")));
        assert_ne!(b.hash_one("monitor-17"), b.hash_one("monitor-18"));
        assert_ne!(b.hash_one("a"), b.hash_one("a\0"));
    }
}
