//! [`Message`]: a parsed HL7 v2 message, and [`Segment`]: one of its segments.
//!
//! Parsing splits the text into segments (ended by `\r`, `\n` or `\r\n`; empty lines are
//! skipped) and each segment into fields, and remembers where they are. Repetitions,
//! components and sub-components are split, and escape sequences replaced, only when a
//! [`Value`] is read, so parsing costs one pass and one allocation per segment.
//!
//! **Text encoding.** Bytes that are valid UTF-8 are read as UTF-8; anything else is read as
//! Latin-1 (ISO 8859-1: every byte is the character with the same code point), the usual
//! charset of v2 feeds (`8859/1` in MSH-18). Both are lossless; nothing is replaced by `�`.
//! MSH-18 is not consulted.
//!
//! **Field numbering** follows the standard. In `MSH` (and the batch headers `FHS`/`BHS`),
//! field 1 is the field separator itself and field 2 the encoding characters, both returned
//! verbatim, so `MSH-9` is the message type. In every other segment field 1 is the first one
//! after the name. Field 0 is the segment name.

use std::borrow::Cow;
use std::ops::Range;

use super::Hl7Error;
use super::delimiters::Delimiters;
use super::value::{Level, Value};

/// A parsed HL7 v2 message. Owns its text; [`Segment`]s and [`Value`]s borrow from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    text: String,
    delimiters: Delimiters,
    segments: Vec<SegmentIndex>,
}

/// Where one segment and its fields are in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SegmentIndex {
    /// The whole segment, without its terminator.
    span: Range<usize>,
    /// `fields[n]` is field `n` (0: the name); absent trailing fields are empty.
    fields: Vec<Range<usize>>,
    /// MSH/FHS/BHS: fields 1 and 2 are literal.
    header: bool,
}

impl Message {
    /// Parses one message. Fails only when the message does not start with a usable `MSH`
    /// (leading white space and a UTF-8 byte-order mark are skipped); everything after it is
    /// accepted as it is, missing fields reading as empty. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Message, Hl7Error> {
        let text = decode_text(bytes).into_owned();
        let start = text.len() - text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace()).len();
        let body = &text[start..];
        if !body.starts_with("MSH") {
            let found: String = body.chars().take(3).collect();
            return Err(Hl7Error::NoMsh { found });
        }
        let field = match body[3..].chars().next() {
            Some(c) if c != '\r' && c != '\n' => c,
            _ => return Err(Hl7Error::MshTooShort { found: first_line(body).to_owned() }),
        };
        let after = &body[3 + field.len_utf8()..];
        let encoding = &after[..after.find([field, '\r', '\n']).unwrap_or(after.len())];
        if encoding.is_empty() && !after.starts_with(field) {
            return Err(Hl7Error::MshTooShort { found: first_line(body).to_owned() });
        }
        let delimiters = Delimiters::new(field, encoding)?;
        let segments = index_segments(&text, start, field);
        Ok(Message { text, delimiters, segments })
    }

    /// The separators this message declared.
    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    /// The whole message as decoded text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every segment, in order (the first is `MSH`).
    pub fn all_segments(&self) -> impl Iterator<Item = Segment<'_>> {
        self.segments.iter().map(|index| Segment { message: self, index })
    }

    /// The segments named `name` (`"OBX"`), in order.
    pub fn segments<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Segment<'a>> + 'a {
        self.all_segments().filter(move |s| s.name() == name)
    }

    /// The first segment named `name`, if any.
    pub fn segment(&self, name: &str) -> Option<Segment<'_>> {
        self.all_segments().find(|s| s.name() == name)
    }

    /// The `MSH` segment (always present in a parsed message).
    pub fn msh(&self) -> Segment<'_> {
        match self.segments.first() {
            Some(index) => Segment { message: self, index },
            // Unreachable for a parsed message; an empty header keeps accessors total.
            None => Segment { message: self, index: &EMPTY_SEGMENT },
        }
    }

    /// MSH-9.1 message code (`ADT`, `ORU`).
    pub fn message_code(&self) -> Cow<'_, str> {
        self.msh().field(9).component(1).text()
    }

    /// MSH-9.2 trigger event (`A01`, `R01`).
    pub fn trigger_event(&self) -> Cow<'_, str> {
        self.msh().field(9).component(2).text()
    }

    /// MSH-10 message control id.
    pub fn control_id(&self) -> Cow<'_, str> {
        self.msh().field(10).text()
    }

    /// MSH-12.1 version id (`2.6`).
    pub fn version(&self) -> Cow<'_, str> {
        self.msh().field(12).component(1).text()
    }
}

static EMPTY_SEGMENT: SegmentIndex = SegmentIndex { span: 0..0, fields: Vec::new(), header: false };

/// One segment of a [`Message`].
#[derive(Debug, Clone, Copy)]
pub struct Segment<'m> {
    message: &'m Message,
    index: &'m SegmentIndex,
}

impl<'m> Segment<'m> {
    /// The segment name (`PID`): the text before the first field separator.
    pub fn name(&self) -> &'m str {
        self.slice(self.index.fields.first())
    }

    /// The segment's text as received (escaped), without its terminator.
    pub fn raw(&self) -> &'m str {
        self.message.text.get(self.index.span.clone()).unwrap_or("")
    }

    /// Field `n` (1-based, as in `PID-3`; 0 is the name). A field beyond the last one sent is
    /// empty. In `MSH`, fields 1 and 2 are the separators, verbatim.
    pub fn field(&self, n: usize) -> Value<'m> {
        let level = if n == 0 || (self.index.header && n <= 2) { Level::Literal } else { Level::Field };
        Value::new(self.slice(self.index.fields.get(n)), &self.message.delimiters, level)
    }

    /// The number of the last field present (trailing empty fields count).
    pub fn field_count(&self) -> usize {
        self.index.fields.len().saturating_sub(1)
    }

    fn slice(&self, range: Option<&Range<usize>>) -> &'m str {
        range.and_then(|r| self.message.text.get(r.clone())).unwrap_or("")
    }
}

/// Bytes as text: UTF-8 when valid, otherwise Latin-1 (see the module docs).
pub(crate) fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

fn first_line(text: &str) -> &str {
    let line = text.split(['\r', '\n']).next().unwrap_or("");
    // At most a few characters: enough to see what is wrong, never a whole segment.
    match line.char_indices().nth(16) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// Splits `text` from `start` into segments and fields.
fn index_segments(text: &str, start: usize, field: char) -> Vec<SegmentIndex> {
    let mut segments = Vec::new();
    let mut offset = start;
    for line in text[start..].split(['\r', '\n']) {
        let line_start = offset;
        offset += line.len() + 1;
        if line.is_empty() {
            continue;
        }
        let header = matches!(line.get(..3), Some("MSH" | "FHS" | "BHS")) && line[3..].starts_with(field);
        let mut fields = Vec::new();
        if header {
            // Name, then MSH-1 (the separator itself), then MSH-2 onwards split as usual.
            let sep_end = line_start + 3 + field.len_utf8();
            fields.push(line_start..line_start + 3);
            fields.push(line_start + 3..sep_end);
            split_fields(line_start + 3 + field.len_utf8(), &line[3 + field.len_utf8()..], field, &mut fields);
        } else {
            split_fields(line_start, line, field, &mut fields);
        }
        segments.push(SegmentIndex { span: line_start..line_start + line.len(), fields, header });
    }
    segments
}

fn split_fields(base: usize, text: &str, field: char, out: &mut Vec<Range<usize>>) {
    let mut at = base;
    for piece in text.split(field) {
        out.push(at..at + piece.len());
        at += piece.len() + field.len_utf8();
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
