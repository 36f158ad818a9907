//! Record framing, sans-I/O: how one record is laid out in a segment, and [`Scanner`], which
//! walks a segment's bytes and tells intact records from corrupt regions and a torn tail.
//!
//! ```text
//! offset 0        4        8                16
//!        ┌────────┬────────┬────────────────┬───────────────┐
//!        │ len u32│ crc u32│ lsn u64        │ body (len B)  │   all integers little-endian
//!        └────────┴────────┴────────────────┴───────────────┘
//! crc = CRC-32 (IEEE) of len ‖ lsn ‖ body
//! ```
//!
//! Design: the CRC covers the length and the LSN as well as the body, so a flipped bit in any
//! of them is caught. Within one segment LSNs are dense (the log starts a new segment after
//! any failure that skips LSNs), and every record takes at least [`HEADER_BYTES`], so after a
//! corrupt region of `n` bytes the next record's LSN is at most `prev + 1 + n / 16`: the
//! scanner only accepts a resynchronisation point inside that bound, which makes a false
//! match in garbage (a CRC collision at an LSN in range) practically impossible and keeps the
//! byte-by-byte search cheap.

use std::ops::Range;

use super::error::Lsn;

/// Bytes of a record header (length, CRC, LSN).
pub const HEADER_BYTES: usize = 16;

/// Largest record body accepted by [`Wal::append`](crate::wal::Wal::append): 256 MiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Appends the framed record (`lsn`, `body`) to `out`. The caller checked `body.len()` against
/// [`MAX_BODY_BYTES`].
pub fn encode_record(out: &mut Vec<u8>, lsn: Lsn, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(len, lsn, body).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(body);
}

fn checksum(len: u32, lsn: Lsn, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(&lsn.to_le_bytes());
    hasher.update(body);
    hasher.finalize()
}

/// What a [`Scanner`] finds, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanItem {
    /// An intact record.
    Record {
        /// Offset of its header in the segment.
        offset: u64,
        /// Its LSN.
        lsn: Lsn,
        /// Where its body is in the scanned bytes.
        body: Range<usize>,
    },
    /// Bytes that are not an intact record, followed by an intact record.
    Corrupt {
        /// Offset of the first bad byte.
        offset: u64,
        /// Length of the bad region.
        bytes: u64,
        /// The LSNs that region held (first, last), when any are missing between the intact
        /// records around it.
        lsns: Option<(Lsn, Lsn)>,
    },
    /// Bytes at the end of the segment that are not an intact record and have no intact record
    /// after them: a write cut short by a crash (or a corrupt last record).
    TornTail {
        /// Offset of the first byte of the tail.
        offset: u64,
        /// Length of the tail.
        bytes: u64,
    },
}

/// Walks the bytes of one segment whose first record has LSN `first_lsn` (its file name).
#[derive(Debug)]
pub struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    prev: Lsn,
}

impl<'a> Scanner<'a> {
    /// A scanner over a segment's bytes.
    pub fn new(bytes: &'a [u8], first_lsn: Lsn) -> Self {
        Scanner { bytes, pos: 0, prev: first_lsn.saturating_sub(1) }
    }

    /// The intact record starting at `pos` with an LSN in `min..=max`: (LSN, end offset).
    fn record_at(&self, pos: usize, min: Lsn, max: Lsn) -> Option<(Lsn, usize)> {
        let header = self.bytes.get(pos..pos.checked_add(HEADER_BYTES)?)?;
        let len = u32::from_le_bytes(header.get(0..4)?.try_into().ok()?);
        let crc = u32::from_le_bytes(header.get(4..8)?.try_into().ok()?);
        let lsn = u64::from_le_bytes(header.get(8..16)?.try_into().ok()?);
        if lsn < min || lsn > max {
            return None;
        }
        let end = (pos + HEADER_BYTES).checked_add(usize::try_from(len).ok()?)?;
        let body = self.bytes.get(pos + HEADER_BYTES..end)?;
        (checksum(len, lsn, body) == crc).then_some((lsn, end))
    }
}

impl Iterator for Scanner<'_> {
    type Item = ScanItem;

    fn next(&mut self) -> Option<ScanItem> {
        let start = self.pos;
        if start >= self.bytes.len() {
            return None;
        }
        let min = self.prev.saturating_add(1);
        if let Some((lsn, end)) = self.record_at(start, min, Lsn::MAX) {
            self.prev = lsn;
            self.pos = end;
            return Some(ScanItem::Record { offset: start as u64, lsn, body: start + HEADER_BYTES..end });
        }
        // Not a record: find the next intact one whose LSN the bad bytes could have held.
        let last_start = self.bytes.len().saturating_sub(HEADER_BYTES);
        for candidate in start + 1..=last_start {
            let max = min.saturating_add(((candidate - start) / HEADER_BYTES) as u64);
            if let Some((lsn, _)) = self.record_at(candidate, min, max) {
                self.pos = candidate;
                let lsns = (lsn > min).then(|| (min, lsn - 1));
                return Some(ScanItem::Corrupt { offset: start as u64, bytes: (candidate - start) as u64, lsns });
            }
        }
        self.pos = self.bytes.len();
        Some(ScanItem::TornTail { offset: start as u64, bytes: (self.bytes.len() - start) as u64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first: Lsn, bodies: &[&[u8]]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut starts = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            starts.push(out.len());
            encode_record(&mut out, first + i as u64, body);
        }
        (out, starts)
    }

    #[test]
    fn a_record_is_length_crc_lsn_body_little_endian() {
        let mut out = Vec::new();
        encode_record(&mut out, 7, b"hi");
        assert_eq!(&out[0..4], &[2, 0, 0, 0]);
        assert_eq!(&out[8..16], &[7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&out[16..], b"hi");
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), checksum(2, 7, b"hi"));
        assert_eq!(out.len(), HEADER_BYTES + 2);
    }

    #[test]
    fn intact_records_come_back_in_order() {
        let (bytes, starts) = segment(10, &[b"a", b"", b"ccc"]);
        let items: Vec<ScanItem> = Scanner::new(&bytes, 10).collect();
        assert_eq!(
            items,
            vec![
                ScanItem::Record { offset: 0, lsn: 10, body: 16..17 },
                ScanItem::Record { offset: starts[1] as u64, lsn: 11, body: 33..33 },
                ScanItem::Record { offset: starts[2] as u64, lsn: 12, body: 49..52 },
            ]
        );
    }

    #[test]
    fn a_flipped_length_byte_in_the_middle_is_one_corrupt_region_then_the_rest() {
        let (mut bytes, starts) = segment(1, &[b"first", b"second", b"third"]);
        bytes[starts[1]] ^= 0x40; // the length of record 2
        let items: Vec<ScanItem> = Scanner::new(&bytes, 1).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[1],
            ScanItem::Corrupt { offset: starts[1] as u64, bytes: (starts[2] - starts[1]) as u64, lsns: Some((2, 2)) }
        );
        assert!(matches!(items[2], ScanItem::Record { lsn: 3, .. }));
    }

    #[test]
    fn garbage_after_the_last_record_is_a_torn_tail_even_if_it_looks_like_a_header() {
        let (mut bytes, _) = segment(1, &[b"one"]);
        let good = bytes.len();
        bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 2, 0, 0, 0, 0, 0, 0, 0, 9, 9]);
        let items: Vec<ScanItem> = Scanner::new(&bytes, 1).collect();
        assert_eq!(items[1], ScanItem::TornTail { offset: good as u64, bytes: 18 });
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn a_record_with_an_older_lsn_is_not_accepted() {
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 5, b"x");
        encode_record(&mut bytes, 5, b"y");
        let items: Vec<ScanItem> = Scanner::new(&bytes, 5).collect();
        assert_eq!(
            items,
            vec![ScanItem::Record { offset: 0, lsn: 5, body: 16..17 }, ScanItem::TornTail { offset: 17, bytes: 17 }]
        );
    }
}
