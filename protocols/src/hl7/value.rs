//! [`Value`]: a field, repetition, component or sub-component of a segment, read by path.
//!
//! `seg.field(3).repetition(1).component(1).sub_component(2)` walks down the HL7 tree. Field,
//! component and sub-component numbers are 1-based as the standard writes them (`PID-3.1`);
//! repetitions are 0-based indexes (`repetition(0)` is the first). Asking a field for a
//! component reads its first repetition, asking a repetition for a sub-component reads its first
//! component, and asking a leaf for its first part gives the leaf itself, so
//! `seg.field(9).component(2)` is MSH-9.2 whether or not MSH-9 repeats. Anything not present
//! is an empty value, never an error. [`Value::text`] replaces escape sequences;
//! [`Value::raw`] gives the text as received.

use std::borrow::Cow;

use super::delimiters::Delimiters;

/// How deep in the tree a value is: which separator splits it next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// MSH-1, MSH-2 and segment names: never split or unescaped.
    Literal,
    /// A whole field (split on repetitions).
    Field,
    /// One repetition (split on components).
    Repetition,
    /// One component (split on sub-components).
    Component,
    /// One sub-component (a leaf).
    SubComponent,
}

/// A part of a segment, borrowed from its [`Message`](super::Message).
#[derive(Debug, Clone, Copy)]
pub struct Value<'m> {
    raw: &'m str,
    delimiters: &'m Delimiters,
    level: Level,
}

impl<'m> Value<'m> {
    pub(crate) fn new(raw: &'m str, delimiters: &'m Delimiters, level: Level) -> Value<'m> {
        Value { raw, delimiters, level }
    }

    fn child(&self, raw: &'m str, level: Level) -> Value<'m> {
        Value { raw, delimiters: self.delimiters, level }
    }

    /// A part that was not sent: empty, whatever its level.
    fn absent(&self) -> Value<'m> {
        self.child("", Level::SubComponent)
    }

    /// The text as received: escape sequences and any inner separators kept.
    pub fn raw(&self) -> &'m str {
        self.raw
    }

    /// The text with escape sequences replaced (inner separators, if any, kept as they are).
    pub fn text(&self) -> Cow<'m, str> {
        match self.level {
            Level::Literal => Cow::Borrowed(self.raw),
            _ => self.delimiters.unescape(self.raw),
        }
    }

    /// True when nothing was sent here.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The repetitions of a field (one for a value that is not a field; none for an empty
    /// field).
    pub fn repetitions(&self) -> impl Iterator<Item = Value<'m>> + use<'m> {
        let this = *self;
        let (separator, level) = match self.level {
            Level::Field => (self.delimiters.repetition, Level::Repetition),
            _ => (None, self.level),
        };
        pieces(self.raw, separator).map(move |raw| this.child(raw, level))
    }

    /// Repetition `i` (0-based) of a field. A value that is not a field is its own repetition 0.
    pub fn repetition(&self, i: usize) -> Value<'m> {
        self.repetitions().nth(i).unwrap_or_else(|| self.absent())
    }

    /// The components of this value (of the first repetition of a field).
    pub fn components(&self) -> impl Iterator<Item = Value<'m>> + use<'m> {
        let this = match self.level {
            Level::Field => self.repetition(0),
            _ => *self,
        };
        let (separator, level) = match this.level {
            Level::Repetition => (Some(this.delimiters.component), Level::Component),
            _ => (None, this.level),
        };
        pieces(this.raw, separator).map(move |raw| this.child(raw, level))
    }

    /// Component `n` (1-based) of this value (of the first repetition of a field). A component
    /// or sub-component is its own component 1.
    pub fn component(&self, n: usize) -> Value<'m> {
        let found = n.checked_sub(1).and_then(|i| self.components().nth(i));
        found.unwrap_or_else(|| self.absent())
    }

    /// The sub-components of this value (of its first component, for a field or repetition).
    pub fn sub_components(&self) -> impl Iterator<Item = Value<'m>> + use<'m> {
        let this = match self.level {
            Level::Field | Level::Repetition => self.component(1),
            _ => *self,
        };
        let (separator, level) = match this.level {
            Level::Component => (this.delimiters.sub_component, Level::SubComponent),
            _ => (None, this.level),
        };
        pieces(this.raw, separator).map(move |raw| this.child(raw, level))
    }

    /// Sub-component `n` (1-based) of this value (of its first component, for a field or a
    /// repetition). A sub-component is its own sub-component 1.
    pub fn sub_component(&self, n: usize) -> Value<'m> {
        let found = n.checked_sub(1).and_then(|i| self.sub_components().nth(i));
        found.unwrap_or_else(|| self.absent())
    }

    /// The components' texts (escape sequences replaced) joined with `^`, whatever component
    /// separator the message declared: the form the catalogue and unit tables read coded
    /// elements in (`150456^MDC_PULS_OXIM_SAT_O2^MDC`). Sub-components stay joined with `&`.
    pub fn coded_text(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        for (i, component) in self.components().enumerate() {
            if i > 0 {
                out.push('^');
            }
            for (j, sub) in component.sub_components().enumerate() {
                if j > 0 {
                    out.push('&');
                }
                out.push_str(&sub.text());
            }
        }
        out
    }
}

/// `raw` split on `separator` (not split without one); nothing for an empty `raw`.
fn pieces(raw: &str, separator: Option<char>) -> impl Iterator<Item = &str> {
    let mut split = separator.map(|s| raw.split(s));
    let mut whole = (!raw.is_empty() && separator.is_none()).then_some(raw);
    std::iter::from_fn(move || match (&mut split, raw.is_empty()) {
        (_, true) => None,
        (Some(split), false) => split.next(),
        (None, false) => whole.take(),
    })
}
