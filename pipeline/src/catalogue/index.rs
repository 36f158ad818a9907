//! [`NameIndex`]: the catalogue's table from names (metric names, MDC ids and codes, LOINC codes,
//! aliases) to metric positions, matched ignoring ASCII case without copying or allocating.
//!
//! Design: the lookup is on the hot path (every reading, 10 M/s a core). A std `HashMap` can only
//! be asked with the key's own `Hash`/`Eq`, so a case-insensitive lookup must first lower-case the
//! name into a buffer; measured, that costs ~55 ns a lookup. Here the hash folds ASCII letters to
//! lower case eight bytes at a time while it reads the name (an FxHash-style multiply-rotate over
//! 64-bit words), the table is open-addressed with linear probing and kept at most half full, and
//! a hit is confirmed by comparing the stored hash, then the bytes with `eq_ignore_ascii_case`.
//! The keys are our own tables and the site's configuration, so flooding is not a concern.

/// Slot value of an empty slot.
const EMPTY: u32 = u32::MAX;
/// Multiplier of rustc's FxHasher (v2): odd, with well-spread bits.
const K: u64 = 0xf135_7aea_2e62_a9c5;

/// Case-insensitive name → metric position.
#[derive(Debug, Clone)]
pub(crate) struct NameIndex {
    /// Positions in `entries`, or [`EMPTY`]; the length is a power of two.
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`: a hash's top bits pick its first slot.
    shift: u32,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    hash: u64,
    /// Lower-cased, for debugging; comparisons ignore case anyway.
    key: Box<str>,
    id: u16,
}

impl NameIndex {
    /// An empty index.
    pub(crate) fn new() -> NameIndex {
        NameIndex { slots: vec![EMPTY; 64], shift: 64 - 6, entries: Vec::new() }
    }

    /// The metric position stored for `key`, ignoring ASCII case.
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<u16> {
        self.find(fold_hash(key.as_bytes()), key).map(|entry| entry.id)
    }

    /// Stores `id` for `key` unless the key already has a position; returns the position now
    /// stored for it (`id`, or the earlier one).
    pub(crate) fn get_or_insert(&mut self, key: &str, id: u16) -> u16 {
        let hash = fold_hash(key.as_bytes());
        if let Some(existing) = self.find(hash, key) {
            return existing.id;
        }
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let position = u32::try_from(self.entries.len()).unwrap_or(EMPTY - 1);
        let slot = self.free_slot(hash);
        self.slots[slot] = position;
        self.entries.push(Entry { hash, key: key.to_ascii_lowercase().into(), id });
        id
    }

    /// The entry for `key` (whose hash is `hash`), if any. An empty slot ends the probe: its
    /// position is out of `entries`.
    #[inline]
    fn find(&self, hash: u64, key: &str) -> Option<&Entry> {
        let mask = self.slots.len() - 1;
        let mut slot = (hash >> self.shift) as usize;
        loop {
            let entry = self.entries.get(self.slots[slot] as usize)?;
            if entry.hash == hash && entry.key.as_bytes().eq_ignore_ascii_case(key.as_bytes()) {
                return Some(entry);
            }
            slot = (slot + 1) & mask;
        }
    }

    fn free_slot(&self, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut slot = (hash >> self.shift) as usize;
        while self.slots[slot] != EMPTY {
            slot = (slot + 1) & mask;
        }
        slot
    }

    fn grow(&mut self) {
        self.slots = vec![EMPTY; self.slots.len() * 2];
        self.shift -= 1;
        for (position, entry) in self.entries.iter().enumerate() {
            let slot = self.free_slot(entry.hash);
            self.slots[slot] = u32::try_from(position).unwrap_or(EMPTY - 1);
        }
    }
}

/// Hash of `bytes` with ASCII `A`–`Z` read as `a`–`z`.
#[inline]
fn fold_hash(bytes: &[u8]) -> u64 {
    let mix = |hash: u64, word: [u8; 8]| (hash.rotate_left(26) ^ fold_word(u64::from_le_bytes(word))).wrapping_mul(K);
    let mut hash = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        hash = mix(hash, word);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        hash = mix(hash, word);
    }
    hash
}

/// Sets bit 5 of every byte that is an ASCII upper-case letter (SWAR: no byte carries into the
/// next, because the additions act on 7-bit values).
#[inline]
fn fold_word(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & LOW7;
    let at_least_a = low7 + 0x3f3f_3f3f_3f3f_3f3f; // bit 7 set where the byte is >= b'A'
    let above_z = low7 + 0x2525_2525_2525_2525; // bit 7 set where the byte is > b'Z'
    let upper = (at_least_a ^ above_z) & !word & HIGH;
    word | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_fold_lower_cases_exactly_the_ascii_capitals_in_every_byte_position() {
        for byte in 0..=255u8 {
            for lane in 0..8 {
                let mut word = [b'Q', b'q', 0, 0xff, b'@', b'[', b'Z', b'a'];
                word[lane] = byte;
                let expected = word.map(|b| b.to_ascii_lowercase());
                assert_eq!(fold_word(u64::from_le_bytes(word)).to_le_bytes(), expected, "{byte} at {lane}");
            }
        }
    }

    #[test]
    fn keys_are_found_in_any_case_and_survive_growth() {
        let mut index = NameIndex::new();
        let keys: Vec<String> = (0..1000).map(|i| format!("Key_{i}_MDC_{}", i * 7)).collect();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(index.get_or_insert(key, i as u16), i as u16);
        }
        assert_eq!(index.get_or_insert(&keys[3].to_uppercase(), 999), 3, "an existing key keeps its id");
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(index.get(&key.to_ascii_lowercase()), Some(i as u16));
            assert_eq!(index.get(&key.to_ascii_uppercase()), Some(i as u16));
        }
        assert_eq!((index.get("key_1000_mdc_7000"), index.get(""), index.get("Key_1_MDC_7 ")), (None, None, None));
        assert_eq!((index.entries.len(), index.slots.len()), (1000, 2048));
    }
}
