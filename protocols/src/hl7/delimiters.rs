//! [`Delimiters`]: the separators a message declares in MSH-1 and MSH-2, and the escape
//! sequences written with them (`\F\ \S\ \T\ \R\ \E\`, `\Xhh…\`).
//!
//! HL7 v2 lets every message choose its own separators: MSH-1 is the field separator (the
//! character right after `MSH`), MSH-2 the encoding characters in the order component,
//! repetition, escape, sub-component and (v2.7+) truncation. `MSH|^~\&` is by far the most
//! common. Real feeds sometimes omit the trailing ones, so 1 to 5 encoding characters are
//! accepted; a missing one is simply never split on (and without an escape character nothing
//! is unescaped). The truncation character (5th) is recorded but never split on.
//!
//! Every separator must be printable ASCII punctuation (not a letter, digit, space or control
//! character) and all must differ: anything else is [`Hl7Error::BadEncodingCharacters`].

use std::borrow::Cow;

use super::Hl7Error;

/// The separators of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    /// MSH-1, between fields (`|`).
    pub field: char,
    /// Between components (`^`).
    pub component: char,
    /// Between repetitions of a field (`~`), when declared.
    pub repetition: Option<char>,
    /// Starts and ends an escape sequence (`\`), when declared.
    pub escape: Option<char>,
    /// Between sub-components (`&`), when declared.
    pub sub_component: Option<char>,
    /// v2.7+ truncation character (`#`), when declared; informational only.
    pub truncation: Option<char>,
}

impl Default for Delimiters {
    /// `|^~\&`, the separators nearly every message uses.
    fn default() -> Self {
        Delimiters {
            field: '|',
            component: '^',
            repetition: Some('~'),
            escape: Some('\\'),
            sub_component: Some('&'),
            truncation: None,
        }
    }
}

impl Delimiters {
    /// Reads the field separator and the MSH-2 encoding characters, checking each.
    pub fn new(field: char, encoding: &str) -> Result<Delimiters, Hl7Error> {
        let bad = |why: String| Hl7Error::BadEncodingCharacters { found: encoding.to_owned(), why };
        if !is_separator(field) {
            return Err(Hl7Error::BadFieldSeparator { found: field });
        }
        let chars: Vec<char> = encoding.chars().collect();
        if chars.is_empty() || chars.len() > 5 {
            return Err(bad(format!("expected 1 to 5 encoding characters, found {}", chars.len())));
        }
        for (i, c) in chars.iter().enumerate() {
            if !is_separator(*c) {
                return Err(bad(format!("{c:?} is not printable ASCII punctuation")));
            }
            if *c == field || chars[..i].contains(c) {
                return Err(bad(format!("{c:?} is used twice")));
            }
        }
        let at = |i: usize| chars.get(i).copied();
        Ok(Delimiters {
            field,
            component: chars[0],
            repetition: at(1),
            escape: at(2),
            sub_component: at(3),
            truncation: at(4),
        })
    }

    /// MSH-2 as these delimiters write it (`^~\&`).
    pub fn encoding_characters(&self) -> String {
        let mut s = String::from(self.component);
        for c in [self.repetition, self.escape, self.sub_component, self.truncation].into_iter().flatten() {
            s.push(c);
        }
        s
    }

    /// Writes `text` so that it reads back as itself inside a field: every separator and the
    /// escape character become their escape sequences, and segment terminators (`\r`, `\n`)
    /// become `\X0D\` / `\X0A\`. Without a declared escape character, separators are replaced
    /// by spaces (they could not be written otherwise).
    pub fn escape<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let special = |c: char| self.letter_for(c).is_some() || c == '\r' || c == '\n';
        if !text.chars().any(special) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            match (self.escape, self.letter_for(c)) {
                (Some(e), Some(letter)) => {
                    out.extend([e, letter, e]);
                }
                (Some(e), None) if c == '\r' || c == '\n' => {
                    out.push(e);
                    out.push_str(if c == '\r' { "X0D" } else { "X0A" });
                    out.push(e);
                }
                (None, _) if special(c) => out.push(' '),
                _ => out.push(c),
            }
        }
        Cow::Owned(out)
    }

    /// The escape letter standing for separator `c` (`F S T R E`), if it is one.
    fn letter_for(&self, c: char) -> Option<char> {
        if c == self.field {
            Some('F')
        } else if c == self.component {
            Some('S')
        } else if Some(c) == self.sub_component {
            Some('T')
        } else if Some(c) == self.repetition {
            Some('R')
        } else if Some(c) == self.escape {
            Some('E')
        } else {
            None
        }
    }

    /// Replaces the escape sequences in `raw` (text between separators). `\F\ \S\ \T\ \R\ \E\`
    /// become the separators they name; `\Xhh…\` becomes the bytes it spells (read as UTF-8 when
    /// valid, else as Latin-1). Every other sequence (`\H\`, `\.br\`, `\C2842\`, …), an
    /// unterminated one and a malformed hex one are kept verbatim, escape characters included.
    pub fn unescape<'r>(&self, raw: &'r str) -> Cow<'r, str> {
        let Some(e) = self.escape else { return Cow::Borrowed(raw) };
        if !raw.contains(e) {
            return Cow::Borrowed(raw);
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(start) = rest.find(e) {
            out.push_str(&rest[..start]);
            let after = &rest[start + e.len_utf8()..];
            let Some(len) = after.find(e) else {
                // No closing escape character: the rest is text.
                out.push_str(&rest[start..]);
                return Cow::Owned(out);
            };
            let body = &after[..len];
            if !self.expand(body, &mut out) {
                out.push(e);
                out.push_str(body);
                out.push(e);
            }
            rest = &after[len + e.len_utf8()..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// Appends what the escape sequence `body` (without its escape characters) stands for;
    /// false when it is not one this parser expands.
    fn expand(&self, body: &str, out: &mut String) -> bool {
        let separator = match body {
            "F" => Some(self.field),
            "S" => Some(self.component),
            "T" => self.sub_component,
            "R" => self.repetition,
            "E" => self.escape,
            _ => None,
        };
        if let Some(c) = separator {
            out.push(c);
            return true;
        }
        match body.strip_prefix('X').and_then(hex_bytes) {
            Some(bytes) => {
                out.push_str(&super::message::decode_text(&bytes));
                true
            }
            None => false,
        }
    }
}

/// `hh…` (an even, non-zero number of hex digits) as bytes.
fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// Printable ASCII, not a letter, digit or space.
fn is_separator(c: char) -> bool {
    c.is_ascii_punctuation()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_standard_escape_sequence_unescapes_to_its_separator() {
        let d = Delimiters::default();
        assert_eq!(d.unescape(r"A\T\E \F\ \S\ \R\ \E\ end"), r"A&E | ^ ~ \ end");
        assert_eq!(d.unescape(r"\X0D0A\|\X41\|\Xc3a9\|\XE9\"), "\r\n|A|é|é");
        assert_eq!(d.unescape("plain"), "plain");
        assert!(matches!(d.unescape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn unknown_unterminated_and_malformed_escapes_are_kept_verbatim() {
        let d = Delimiters::default();
        for raw in [r"\H\bold\N\", r"a\.br\b", r"\C2842\", r"trailing \", r"\X4\", r"\XZZ\", r"\\", r"\X\"] {
            assert_eq!(d.unescape(raw), raw, "{raw:?}");
        }
    }

    #[test]
    fn escaping_round_trips_through_unescaping() {
        let d = Delimiters::default();
        let text = "a|b^c&d~e\\f\rg\nh";
        assert_eq!(d.escape(text), r"a\F\b\S\c\T\d\R\e\E\f\X0D\g\X0A\h");
        assert_eq!(d.unescape(&d.escape(text)), text);
        let custom = Delimiters::new('#', "$*!@").unwrap();
        assert_eq!(custom.escape("a#b$c!d"), "a!F!b!S!c!E!d");
        assert_eq!(custom.unescape("a!F!b!S!c!E!d"), "a#b$c!d");
    }

    #[test]
    fn encoding_characters_are_checked() {
        assert_eq!(Delimiters::new('|', "^~\\&").unwrap(), Delimiters::default());
        assert_eq!(Delimiters::new('|', "^~\\&#").unwrap().truncation, Some('#'));
        let short = Delimiters::new('|', "^~").unwrap();
        assert_eq!((short.escape, short.sub_component), (None, None));
        for (field, enc) in [('|', ""), ('|', "^^"), ('|', "^|"), ('|', "^~\\&#*"), ('|', "^a"), ('|', "^ ")] {
            let err = Delimiters::new(field, enc).unwrap_err();
            assert!(matches!(err, Hl7Error::BadEncodingCharacters { .. }), "{enc:?}: {err}");
        }
        assert!(matches!(Delimiters::new('A', "^~\\&"), Err(Hl7Error::BadFieldSeparator { found: 'A' })));
        assert_eq!(Delimiters::default().encoding_characters(), "^~\\&");
    }
}
