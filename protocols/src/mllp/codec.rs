//! The MLLP frame codec (sans-I/O): `0x0B` message `0x1C 0x0D`.
//!
//! [`MllpDecoder`]: push bytes as they arrive ([`MllpDecoder::push`]), in pieces of any size,
//! and take what is complete ([`MllpDecoder::next`]): a [`Decoded::Frame`] with the message
//! bytes, or a [`Decoded::Oversize`] for a frame longer than the configured maximum. Rules:
//! - bytes outside a frame (before a `0x0B`) are discarded and counted
//!   ([`MllpDecoder::discarded_bytes`]);
//! - a frame ends at `0x1C`; the `0x0D` after it is consumed when it comes, and a missing one
//!   is tolerated (the next byte is read as outside any frame);
//! - a `0x0B` inside a frame means the sender gave up on that frame and started again: the
//!   unfinished frame is discarded and counted, and a new frame starts (resynchronisation);
//! - a frame whose content passes `max_frame_bytes` is not buffered further: the rest of it is
//!   skipped up to its `0x1C` (or the next `0x0B`), then reported once as
//!   [`Decoded::Oversize`] with its length and its first bytes (up to [`OVERSIZE_HEAD_BYTES`],
//!   enough to read MSH-10 and answer it). Memory stays bounded by the maximum.
//!
//! [`encode`] wraps a message for sending.

use std::collections::VecDeque;

/// Start block: begins a frame.
pub const START_BLOCK: u8 = 0x0B;
/// End block: ends a frame's content.
pub const END_BLOCK: u8 = 0x1C;
/// Carriage return: follows the end block.
pub const CARRIAGE_RETURN: u8 = 0x0D;
/// How many first bytes of an oversize frame are kept for [`Decoded::Oversize`].
pub const OVERSIZE_HEAD_BYTES: usize = 1024;

/// Wraps `message` in an MLLP frame.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START_BLOCK);
    out.extend_from_slice(message);
    out.extend_from_slice(&[END_BLOCK, CARRIAGE_RETURN]);
    out
}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame's content (without the framing bytes).
    Frame(Vec<u8>),
    /// A frame longer than the maximum, skipped.
    Oversize {
        /// Its content length in bytes (up to where it ended or was abandoned).
        len: usize,
        /// Its first bytes (at most [`OVERSIZE_HEAD_BYTES`] and the maximum frame size).
        head: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: looking for a start block.
    Outside,
    /// Inside a frame, buffering its content.
    InFrame,
    /// Inside a frame that passed the maximum: counting, not buffering.
    Oversize { len: usize },
    /// Just after an end block: a carriage return here belongs to the frame.
    AfterEnd,
}

/// A push-based MLLP decoder with a maximum frame size. See the module docs.
#[derive(Debug, Clone)]
pub struct MllpDecoder {
    max_frame_bytes: usize,
    state: State,
    frame: Vec<u8>,
    head: Vec<u8>,
    ready: VecDeque<Decoded>,
    discarded: u64,
}

impl MllpDecoder {
    /// A decoder that accepts frames of at most `max_frame_bytes` bytes of content.
    pub fn new(max_frame_bytes: usize) -> MllpDecoder {
        MllpDecoder {
            max_frame_bytes,
            state: State::Outside,
            frame: Vec::new(),
            head: Vec::new(),
            ready: VecDeque::new(),
            discarded: 0,
        }
    }

    /// Bytes discarded so far: outside any frame, and unfinished frames abandoned by a new
    /// start block or by [`MllpDecoder::finish`] (their start block included). Oversize frames
    /// are reported by [`Decoded::Oversize`] instead.
    pub fn discarded_bytes(&self) -> u64 {
        self.discarded
    }

    /// True while a frame has started and not ended.
    pub fn in_frame(&self) -> bool {
        matches!(self.state, State::InFrame | State::Oversize { .. })
    }

    /// The next complete frame or oversize report, in arrival order.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Decoded> {
        self.ready.pop_front()
    }

    /// Feeds received bytes; complete frames become available from [`MllpDecoder::next`].
    pub fn push(&mut self, mut bytes: &[u8]) {
        while let Some((&first, rest)) = bytes.split_first() {
            match self.state {
                State::AfterEnd => {
                    self.state = State::Outside;
                    if first == CARRIAGE_RETURN {
                        bytes = rest;
                    }
                }
                State::Outside => match bytes.iter().position(|&b| b == START_BLOCK) {
                    Some(at) => {
                        self.discarded += at as u64;
                        self.start_frame();
                        bytes = &bytes[at + 1..];
                    }
                    None => {
                        self.discarded += bytes.len() as u64;
                        return;
                    }
                },
                State::InFrame | State::Oversize { .. } => {
                    let at = bytes.iter().position(|&b| b == START_BLOCK || b == END_BLOCK);
                    let content = &bytes[..at.unwrap_or(bytes.len())];
                    self.take_content(content);
                    let Some(at) = at else { return };
                    let restart = bytes[at] == START_BLOCK;
                    self.end_frame(restart);
                    bytes = &bytes[at + 1..];
                }
            }
        }
    }

    /// The connection ended: an unfinished frame is discarded (and counted; an oversize one is
    /// reported). Returns how many bytes were in it, 0 when none was open.
    pub fn finish(&mut self) -> usize {
        let unfinished = match self.state {
            State::InFrame => {
                let n = self.frame.len() + 1;
                self.discarded += n as u64;
                self.frame.clear();
                n
            }
            State::Oversize { len } => {
                self.ready.push_back(Decoded::Oversize { len, head: std::mem::take(&mut self.head) });
                len + 1
            }
            State::Outside | State::AfterEnd => 0,
        };
        self.state = State::Outside;
        unfinished
    }

    fn start_frame(&mut self) {
        self.frame.clear();
        self.state = State::InFrame;
    }

    fn take_content(&mut self, content: &[u8]) {
        match &mut self.state {
            State::InFrame if self.frame.len() + content.len() > self.max_frame_bytes => {
                let keep = OVERSIZE_HEAD_BYTES.min(self.max_frame_bytes);
                self.head.clear();
                self.head.extend(self.frame.iter().chain(content).take(keep));
                self.state = State::Oversize { len: self.frame.len() + content.len() };
                self.frame.clear();
            }
            State::InFrame => self.frame.extend_from_slice(content),
            State::Oversize { len } => *len += content.len(),
            State::Outside | State::AfterEnd => {}
        }
    }

    /// An end block (`restart` false) or a start block (`restart` true) inside a frame.
    fn end_frame(&mut self, restart: bool) {
        match self.state {
            State::InFrame if restart => {
                self.discarded += self.frame.len() as u64 + 1;
            }
            State::InFrame => self.ready.push_back(Decoded::Frame(std::mem::take(&mut self.frame))),
            State::Oversize { len } => {
                self.ready.push_back(Decoded::Oversize { len, head: std::mem::take(&mut self.head) });
            }
            State::Outside | State::AfterEnd => {}
        }
        if restart { self.start_frame() } else { self.state = State::AfterEnd }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
