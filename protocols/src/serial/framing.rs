//! Framing: how a byte stream from a serial port is cut into frames, sans-I/O.
//!
//! [`Framer`] is the plug-in point: the driver pushes whatever bytes a read returned and pulls
//! complete frames; bytes that can belong to no frame are discarded and counted, never an error.
//! [`LineFramer`] implements it for line-oriented devices (Masimo ASCII 1). An MLLP framer
//! (`<VT> message <FS><CR>`, for IHE PCD-01 over serial) fits the same trait: `push` feeds its
//! decoder, `next_frame` returns the next message, `discarded_bytes` counts bytes outside
//! `<VT>…<FS><CR>`, `reset` drops a partial message.

use std::collections::VecDeque;

/// Cuts a byte stream into frames. Implementations never fail and never panic on any input;
/// their memory is bounded by their maximum frame size (plus the frames not yet pulled).
pub trait Framer: Send + std::fmt::Debug {
    /// Takes the bytes of one read, in stream order.
    fn push(&mut self, bytes: &[u8]);

    /// The next complete frame (without delimiters), oldest first; `None` until more bytes come.
    fn next_frame(&mut self) -> Option<Vec<u8>>;

    /// Bytes discarded so far, in total: garbage outside frames, the bytes of over-long frames,
    /// partial frames dropped by [`reset`](Framer::reset). Delimiters are not counted.
    fn discarded_bytes(&self) -> u64;

    /// The connection broke: a partial frame can never be completed, so discard it (counted).
    /// Complete frames not yet pulled are kept.
    fn reset(&mut self);
}

/// Default longest line: Masimo ASCII 1 lines are about 190 bytes.
pub const DEFAULT_MAX_LINE_BYTES: usize = 512;

/// Lines ended by CR, LF or CR LF. Empty lines are skipped. A line longer than `max_line_bytes`
/// (garbage at the wrong baud rate, a stream without line ends) is discarded whole, and bytes
/// are discarded until the next line end, where framing resynchronises.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max_line_bytes: usize,
    line: Vec<u8>,
    /// Inside an over-long line: drop bytes up to the next line end.
    discarding: bool,
    ready: VecDeque<Vec<u8>>,
    discarded: u64,
}

impl LineFramer {
    /// A framer delivering lines of at most `max_line_bytes` bytes (at least 1).
    pub fn new(max_line_bytes: usize) -> LineFramer {
        LineFramer {
            max_line_bytes: max_line_bytes.max(1),
            line: Vec::new(),
            discarding: false,
            ready: VecDeque::new(),
            discarded: 0,
        }
    }

    /// Bytes of the current, unfinished line.
    pub fn pending_bytes(&self) -> usize {
        self.line.len()
    }
}

impl Default for LineFramer {
    fn default() -> Self {
        LineFramer::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl Framer for LineFramer {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                if self.discarding {
                    self.discarding = false;
                } else if !self.line.is_empty() {
                    self.ready.push_back(std::mem::take(&mut self.line));
                }
            } else if self.discarding {
                self.discarded += 1;
            } else if self.line.len() >= self.max_line_bytes {
                self.discarded += self.line.len() as u64 + 1;
                self.line.clear();
                self.discarding = true;
            } else {
                self.line.push(b);
            }
        }
    }

    fn next_frame(&mut self) -> Option<Vec<u8>> {
        self.ready.pop_front()
    }

    fn discarded_bytes(&self) -> u64 {
        self.discarded
    }

    fn reset(&mut self) {
        self.discarded += self.line.len() as u64;
        self.line.clear();
        self.discarding = false;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frames(f: &mut LineFramer) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn lines_end_at_cr_lf_or_crlf_and_empty_lines_are_skipped() {
        let mut f = LineFramer::new(16);
        f.push(b"one\r\ntwo\rthree\n\r\n\r\nfo");
        assert_eq!(frames(&mut f), [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        f.push(b"ur\r");
        assert_eq!((frames(&mut f), f.discarded_bytes()), (vec![b"four".to_vec()], 0));
    }

    #[test]
    fn an_overlong_line_is_discarded_and_counted_up_to_the_next_line_end() {
        let mut f = LineFramer::new(4);
        // "abcd" fits; "abcdefgh" is 8 bytes: all discarded; framing resumes after its LF.
        f.push(b"abcd\nabcde");
        assert_eq!(f.discarded_bytes(), 5);
        f.push(b"fgh\nok\n");
        assert_eq!(frames(&mut f), [b"abcd".to_vec(), b"ok".to_vec()]);
        assert_eq!(f.discarded_bytes(), 8);
    }

    #[test]
    fn reset_discards_the_partial_line_and_keeps_complete_ones() {
        let mut f = LineFramer::default();
        f.push(b"done\r\nhalf a li");
        assert_eq!(f.pending_bytes(), 9);
        f.reset();
        f.push(b"ne\r\n");
        assert_eq!(frames(&mut f), [b"done".to_vec(), b"ne".to_vec()]);
        assert_eq!(f.discarded_bytes(), 9);
    }

    proptest! {
        /// Every byte is in a frame, a delimiter, or counted as discarded; however the stream
        /// is split into reads, the frames are the same.
        #[test]
        fn bytes_are_conserved_and_chunking_does_not_matter(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..600),
            split in 0usize..600,
        ) {
            let mut whole = LineFramer::new(32);
            whole.push(&bytes);
            let mut parts = LineFramer::new(32);
            let (a, b) = bytes.split_at(split.min(bytes.len()));
            parts.push(a);
            parts.push(b);
            let got = frames(&mut whole);
            prop_assert_eq!(&got, &frames(&mut parts));
            let pending = whole.pending_bytes() as u64;
            whole.reset();
            let delimiters = bytes.iter().filter(|b| **b == b'\r' || **b == b'\n').count() as u64;
            let framed: u64 = got.iter().map(|f| f.len() as u64).sum();
            prop_assert_eq!(framed + delimiters + whole.discarded_bytes(), bytes.len() as u64);
            prop_assert!(pending <= 32);
            prop_assert!(got.iter().all(|f| !f.is_empty() && f.len() <= 32));
        }
    }
}
