//! A single-pass byte scanner for the common shape of SenML JSON packs: the fast path of
//! [`pack_to_batch`](super::pack_to_batch) (see [`fast`](super::fast)).
//!
//! It reads one record object at a time straight from the payload, without serde, and gives
//! up ([`Bail`]) on anything it does not handle exactly as serde_json and the serde-based
//! [`WireRecord`](super::wire::WireRecord) visitor would: escapes or control characters in a
//! string, invalid UTF-8, numbers with exponents or more than 15 digits that serde_json
//! itself does not accept standalone, nested values under unknown labels, duplicate labels,
//! must-understand labels, wrong types, bad JSON. A bail is never an answer: the caller then
//! runs the reference decoder, which produces the exact result and error message. So this
//! scanner only has to be *right when it accepts*, which the differential property tests in
//! `fast_tests.rs` check against the reference.
//!
//! JSON whitespace is exactly serde_json's: space, `\t`, `\n`, `\r`.

/// The scanner gave up: the input needs the reference decoder (it is unusual or invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// One record's fields, strings borrowed from the payload; `None` when absent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct ScannedRecord<'a> {
    pub bn: Option<&'a str>,
    pub bt: Option<f64>,
    pub bu: Option<&'a str>,
    pub bv: Option<f64>,
    pub bs: Option<f64>,
    pub bver: Option<u64>,
    pub n: Option<&'a str>,
    pub u: Option<&'a str>,
    pub v: Option<f64>,
    pub vs: Option<&'a str>,
    pub vb: Option<bool>,
    pub vd: Option<&'a str>,
    pub s: Option<f64>,
    pub t: Option<f64>,
    pub ut: Option<f64>,
}

impl ScannedRecord<'_> {
    /// True when the record has no regular field, as [`WireRecord::is_base_only`](super::wire::WireRecord::is_base_only).
    pub fn is_base_only(&self) -> bool {
        self.n.is_none()
            && self.u.is_none()
            && self.v.is_none()
            && self.vs.is_none()
            && self.vb.is_none()
            && self.vd.is_none()
            && self.s.is_none()
            && self.t.is_none()
            && self.ut.is_none()
    }
}

/// Exact powers of ten: `digits / POW10[k]` is then one correctly rounded division, the same
/// value serde_json (with or without `float_roundtrip`) computes for such a number.
const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// The most digits a number may have for the exact fast conversion (10^15 < 2^53).
const MAX_FAST_DIGITS: u32 = 15;

/// Reads the records of a pack (a JSON array of objects) one by one.
pub(crate) struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// No record read yet (the next one needs no `,`).
    first: bool,
}

impl<'a> Scanner<'a> {
    /// Starts a pack: whitespace, then `[`.
    pub fn new(bytes: &'a [u8]) -> Result<Scanner<'a>, Bail> {
        let mut scanner = Scanner { bytes, pos: 0, first: true };
        scanner.skip_whitespace();
        scanner.expect(b'[')?;
        Ok(scanner)
    }

    /// Reads the next record into `record` (`true`), or `false` at the end of the array (then
    /// only whitespace may follow).
    pub fn next_record(&mut self, record: &mut ScannedRecord<'a>) -> Result<bool, Bail> {
        self.skip_whitespace();
        if self.first {
            self.first = false;
            if self.peek() == Some(b']') {
                return self.finish();
            }
        } else {
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b']') => return self.finish(),
                _ => return Err(Bail),
            }
        }
        self.expect(b'{')?;
        *record = ScannedRecord::default();
        self.object(record)?;
        Ok(true)
    }

    /// After the closing `]`: only whitespace to the end.
    fn finish(&mut self) -> Result<bool, Bail> {
        self.pos += 1;
        self.skip_whitespace();
        if self.pos == self.bytes.len() { Ok(false) } else { Err(Bail) }
    }

    /// The members of an object whose `{` was just read, up to and including its `}`.
    fn object(&mut self, r: &mut ScannedRecord<'a>) -> Result<(), Bail> {
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"')?;
            let label = self.string_bytes()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            match label {
                b"n" => set(&mut r.n, self.string()?)?,
                b"u" => set(&mut r.u, self.string()?)?,
                b"v" => set(&mut r.v, self.number()?)?,
                b"t" => set(&mut r.t, self.number()?)?,
                b"bn" => set(&mut r.bn, self.string()?)?,
                b"bt" => set(&mut r.bt, self.number()?)?,
                b"bu" => set(&mut r.bu, self.string()?)?,
                b"bv" => set(&mut r.bv, self.number()?)?,
                b"bs" => set(&mut r.bs, self.number()?)?,
                b"bver" => set(&mut r.bver, self.unsigned()?)?,
                b"vs" => set(&mut r.vs, self.string()?)?,
                b"vb" => set(&mut r.vb, self.boolean()?)?,
                b"vd" => set(&mut r.vd, self.string()?)?,
                b"s" => set(&mut r.s, self.number()?)?,
                b"ut" => set(&mut r.ut, self.number()?)?,
                // Must-understand labels reject the pack: the reference says how.
                [.., b'_'] => return Err(Bail),
                // serde_json reads every label as UTF-8 text, known or not.
                _ => {
                    std::str::from_utf8(label).map_err(|_| Bail)?;
                    self.skip_scalar()?;
                }
            }
            self.skip_whitespace();
            match self.next_byte() {
                Some(b',') => self.skip_whitespace(),
                Some(b'}') => return Ok(()),
                _ => return Err(Bail),
            }
        }
    }

    /// A string value (the opening `"` is next), valid UTF-8, without escapes.
    fn string(&mut self) -> Result<&'a str, Bail> {
        self.expect(b'"')?;
        let bytes = self.string_bytes()?;
        std::str::from_utf8(bytes).map_err(|_| Bail)
    }

    /// The raw bytes of a string whose `"` was just read, up to and past its closing `"`.
    /// Escapes and control characters bail.
    fn string_bytes(&mut self) -> Result<&'a [u8], Bail> {
        let start = self.pos;
        let rest = self.bytes.get(start..).ok_or(Bail)?;
        for (i, &b) in rest.iter().enumerate() {
            if b == b'"' {
                self.pos = start + i + 1;
                return Ok(&rest[..i]);
            }
            if b == b'\\' || b < 0x20 {
                return Err(Bail);
            }
        }
        Err(Bail)
    }

    /// A JSON number as an `f64`, exactly as serde_json deserialises it.
    ///
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 digits is converted here; any other
    /// run of number characters is handed to serde_json whole.
    fn number(&mut self) -> Result<f64, Bail> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let mut digits: u64 = 0;
        let mut count: u32 = 0;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                count = 1;
            }
            Some(b'1'..=b'9') => {
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    digits = digits.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    count += 1;
                    self.pos += 1;
                }
            }
            _ => return Err(Bail),
        }
        let mut fraction: usize = 0;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                digits = digits.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                count += 1;
                fraction += 1;
                self.pos += 1;
            }
            if fraction == 0 {
                return Err(Bail);
            }
        }
        if count > MAX_FAST_DIGITS || matches!(self.peek(), Some(b'e' | b'E' | b'+' | b'-' | b'.')) {
            return self.number_by_serde_json(start);
        }
        // `digits` < 10^15 < 2^53: exact as an f64; one division by an exact power of ten.
        let magnitude = digits as f64;
        let magnitude = if fraction == 0 { magnitude } else { magnitude / POW10[fraction] };
        Ok(if negative { -magnitude } else { magnitude })
    }

    /// The rare number: the whole run of number characters from `start`, parsed by serde_json
    /// as a standalone `f64` (the same parser the reference uses for a field value).
    #[cold]
    fn number_by_serde_json(&mut self, start: usize) -> Result<f64, Bail> {
        let rest = self.bytes.get(start..).ok_or(Bail)?;
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        let value = serde_json::from_slice::<f64>(&rest[..len]).map_err(|_| Bail)?;
        self.pos = start + len;
        Ok(value)
    }

    /// A `u64` written as a plain integer (`bver`); anything else bails.
    fn unsigned(&mut self) -> Result<u64, Bail> {
        let mut value: u64 = 0;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    value = value.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))).ok_or(Bail)?;
                    self.pos += 1;
                }
            }
            _ => return Err(Bail),
        }
        if matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')) {
            return Err(Bail);
        }
        Ok(value)
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Result<bool, Bail> {
        let rest = self.bytes.get(self.pos..).ok_or(Bail)?;
        if rest.starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(Bail)
        }
    }

    /// The value of an ignored label: a string, number, `true`, `false` or `null`. Objects and
    /// arrays bail.
    fn skip_scalar(&mut self) -> Result<(), Bail> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(b't' | b'f') => self.boolean().map(drop),
            Some(b'n') if self.bytes.get(self.pos..).is_some_and(|r| r.starts_with(b"null")) => {
                self.pos += 4;
                Ok(())
            }
            _ => Err(Bail),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek();
        self.pos += 1;
        b
    }

    fn expect(&mut self, byte: u8) -> Result<(), Bail> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }
}

/// Stores a field; a label given twice bails (the reference names the duplicate).
fn set<T>(slot: &mut Option<T>, value: T) -> Result<(), Bail> {
    if slot.is_some() {
        return Err(Bail);
    }
    *slot = Some(value);
    Ok(())
}
