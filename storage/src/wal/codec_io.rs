//! Byte-level primitives of the [`batch_codec`](super::batch_codec): LEB128 varints, zigzag
//! integers and length-prefixed bytes, written into a `Vec` and read back by a [`Reader`] that
//! checks every bound (any input gives a value or a [`CodecError`], never a panic), and the
//! codec's error type.

use super::batch_codec::BATCH_CODEC_VERSION;

/// Why bytes are not an encoded batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// No bytes at all.
    #[error("empty batch record")]
    Empty,
    /// A version this build does not read.
    #[error("unsupported batch encoding version {0} (this build reads {BATCH_CODEC_VERSION})")]
    UnsupportedVersion(u8),
    /// The input ends inside a value (or a length points past its end).
    #[error("batch record truncated at byte {at}")]
    Truncated {
        /// Offset of the value that does not fit.
        at: usize,
    },
    /// A varint longer than 64 bits.
    #[error("varint overflow at byte {at}")]
    VarintOverflow {
        /// Its offset.
        at: usize,
    },
    /// A string is not UTF-8.
    #[error("invalid UTF-8 in the string at byte {at}")]
    InvalidUtf8 {
        /// Its offset.
        at: usize,
    },
    /// An index into the string or blob table is out of range.
    #[error("{what} index {index} out of range (table of {len})")]
    BadIndex {
        /// Which table.
        what: &'static str,
        /// The index.
        index: u64,
        /// The table's length.
        len: usize,
    },
    /// An unknown value tag.
    #[error("unknown value tag {0}")]
    UnknownValueTag(u8),
    /// A source, reason or flag name this build does not know.
    #[error("unknown {what} {name:?}")]
    UnknownName {
        /// `source`, `reason` or `flag`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A flag mask with a bit beyond the flag table.
    #[error("flag mask {0:#x} has bits beyond the flag table")]
    UnknownFlagBit(u64),
    /// Bytes after the last dead letter.
    #[error("{0} trailing bytes after the batch")]
    TrailingBytes(usize),
}

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a signed integer, zigzag-encoded so small magnitudes stay short.
pub(crate) fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a varint length then the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads what the `put_*` functions wrote, checking every bound.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.bytes.get(self.pos).ok_or(CodecError::Truncated { at: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(len).filter(|end| *end <= self.bytes.len());
        let slice = end.and_then(|end| self.bytes.get(self.pos..end)).ok_or(CodecError::Truncated { at: self.pos })?;
        self.pos += len;
        Ok(slice)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, CodecError> {
        let at = self.pos;
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(CodecError::VarintOverflow { at });
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::VarintOverflow { at })
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, CodecError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A count of items that each take at least one byte: larger than what is left is an
    /// error, which also bounds what a decoder allocates for it.
    pub(crate) fn count(&mut self) -> Result<usize, CodecError> {
        let at = self.pos;
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(CodecError::Truncated { at }),
        }
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let at = self.pos;
        let len = usize::try_from(self.varint()?).map_err(|_| CodecError::Truncated { at })?;
        self.take(len)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, CodecError> {
        let at = self.pos;
        std::str::from_utf8(self.bytes()?).map_err(|_| CodecError::InvalidUtf8 { at })
    }

    pub(crate) fn f64(&mut self) -> Result<f64, CodecError> {
        let at = self.pos;
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| CodecError::Truncated { at })?;
        Ok(f64::from_bits(u64::from_le_bytes(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip_at_the_edges() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader::new(&out).varint().unwrap(), v);
        }
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_714_521_600_000_000] {
            let mut out = Vec::new();
            put_zigzag(&mut out, v);
            assert_eq!(Reader::new(&out).zigzag().unwrap(), v);
        }
    }

    #[test]
    fn overlong_varints_and_lengths_past_the_end_are_errors() {
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(CodecError::VarintOverflow { at: 0 }));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).varint(),
            Err(CodecError::VarintOverflow { at: 0 })
        );
        assert_eq!(Reader::new(&[0x80]).varint(), Err(CodecError::Truncated { at: 1 }));
        assert_eq!(Reader::new(&[5, b'a']).bytes(), Err(CodecError::Truncated { at: 1 }));
        assert_eq!(Reader::new(&[2, 0xff, 0xfe]).str(), Err(CodecError::InvalidUtf8 { at: 0 }));
        assert_eq!(Reader::new(&[3, 0]).count(), Err(CodecError::Truncated { at: 0 }));
    }
}
