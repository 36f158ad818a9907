//! Device quality: what a device says about its own values, turned into [`Flag`]s or "no value".
//!
//! NaN, infinities and "no value" markers never become numbers. Drivers call these functions
//! while decoding and then either set the reading's `flags` ([`Verdict::Keep`]) or, for
//! [`Verdict::NoValue`] and [`DeviceNumber::NoValue`], emit a dead letter `missing_value` whose
//! detail names the marker, so the raw message is still kept and counted.
//!
//! | source | function | value kept, flagged | no value |
//! |---|---|---|---|
//! | text value | [`parse_device_number`] | — | empty, `""` (HL7 null), dashes `-` `--` `---` `--.-` `---%` `+--` (also `–` `—`), `NaN`, `inf`, `Infinity` |
//! | IEEE 11073-20601 FLOAT / SFLOAT | [`decode_float32`], [`decode_sfloat16`] | — | NaN `0x007FFFFF`/`0x07FF`, NRes `0x00800000`/`0x0800`, +INF `0x007FFFFE`/`0x07FE`, −INF `0x00800002`/`0x0802`, reserved `0x00800001`/`0x0801` (by mantissa, whatever the exponent: these mantissas are outside the valid range) |
//! | HL7 OBX-11 result status | [`obx11_result_status`] | `C` `A` → corrected; `P` `R` `S` `I` → preliminary; `F` `U` `B` and empty → no flag; any other code → questionable | `X` `N` `O` `D` `W` |
//! | HL7 OBX-8 abnormal flags (`~`-separated) | [`obx8_abnormal_flags`] | `QUES`/`questionable`, `CAL`/`calibration-ongoing`, `<`, `>` → questionable; `EARLY`/`early-indication`, `msmt-ongoing` → preliminary; clinical flags (`L` `H` `LL` `HH` `N` `A` `AA` …), alarm states and unknown tokens → no flag | IHE PCD null flavours `NI` `NA` `NAV` `OFF` `MSK` `OTH` `NAN` `PINF` `NINF`; `INV`/`invalid`, `not-available`, `TEST`/`test-data`, `DEMO`/`demo-data` |
//! | Masimo ASCII-1 `EXC=` hex bits | [`masimo_exc`], [`parse_masimo_exc`] | `004` low perfusion, `008` pulse search, `010` interference, `040` ambient light, `400` low signal IQ, and any bit not listed here → questionable; `800` SET mode → no flag | `001` no sensor, `002` defective sensor, `020` sensor off, `080` unrecognised sensor |
//!
//! ```
//! use wardstream_pipeline::device_quality::{DeviceNumber, obx8_abnormal_flags, obx11_result_status, parse_device_number};
//! use wardstream_pipeline::Flags;
//!
//! // An HL7 OBX: value "--.-", abnormal flags "QUES", result status "P".
//! assert_eq!(parse_device_number("--.-"), Ok(DeviceNumber::NoValue)); // → dead letter missing_value
//! assert_eq!(parse_device_number("36.6"), Ok(DeviceNumber::Value(36.6)));
//! let verdict = obx8_abnormal_flags("QUES").and(obx11_result_status("P"));
//! let flags = verdict.apply(Flags::NONE).expect("a value"); // None would mean: dead letter
//! assert_eq!(flags.status().as_str(), "questionable");
//! assert_eq!(flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(), ["questionable", "preliminary"]);
//! ```
//!
//! The statuses a stored reading can have (`status` column, the most severe of its `flags`):
//!
//! | status | set by |
//! |---|---|
//! | `implausible` | the normaliser: value outside the metric's plausible range |
//! | `questionable` | the device: measurement problem (low perfusion, interference, OBX-8 `QUES`, unknown OBX-11 code, …) |
//! | `future_time` | time handling: beyond the future tolerance |
//! | `clock_corrected` | time handling: corrected for the device's clock skew |
//! | `preliminary` | the device: not final (OBX-11 `P` `R` `S` `I`, OBX-8 `EARLY`) |
//! | `corrected` | the device: a correction (OBX-11 `C` `A`) |
//! | `valid` | none of the above |
//!
//! Design: OBX-8 is mostly a clinical interpretation (`H` = above the reference range), which
//! says nothing about whether the number was measured well, so it sets no flag (wardstream does
//! not store interpretations yet). The measurement-status and null-flavour tokens that IHE PCD
//! puts in the same field, and `<`/`>` (off the instrument's scale: the number is a limit, not a
//! measurement), are data quality and are honoured. Test and demo data are not patient data and
//! never reach `vitals`. Masimo's pulse search keeps the value flagged rather than dropping it:
//! when the device has no number it sends dashes, which are a no-value already.

use crate::observation::{Flag, Flags};

/// A number as a device wrote it: a value, or the device's way of saying there is none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeviceNumber {
    /// A finite number.
    Value(f64),
    /// A marker, NaN, an infinity or an IEEE 11073 special value: not a measurement.
    NoValue,
}

/// Text that is neither a number nor a known no-value marker (dead letter `non_numeric_value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a number and not a no-value marker")]
pub struct NotANumber;

/// What a device's status says about the value next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Store the value with these flags (none: valid as far as the device knows).
    Keep(Flags),
    /// There is no valid value: a dead letter `missing_value`, never an observation.
    NoValue,
}

impl Verdict {
    /// Nothing to report.
    pub const VALID: Verdict = Verdict::Keep(Flags::NONE);

    const fn flag(flag: Flag) -> Verdict {
        Verdict::Keep(Flags::of(flag))
    }

    /// Both verdicts together: no value wins, otherwise the flags of both.
    pub fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Keep(a), Verdict::Keep(b)) => Verdict::Keep(union(a, b)),
            _ => Verdict::NoValue,
        }
    }

    /// The reading's flags with this verdict's added, or `None` when there is no value.
    pub fn apply(self, flags: Flags) -> Option<Flags> {
        match self {
            Verdict::Keep(extra) => Some(union(flags, extra)),
            Verdict::NoValue => None,
        }
    }
}

fn union(mut a: Flags, b: Flags) -> Flags {
    for flag in b.iter() {
        a.insert(flag);
    }
    a
}

/// Parses a number as devices write it in text (serial lines, HL7 OBX-5). A trailing `%` is
/// allowed (`SPO2=098%`); the unit still travels separately. No locale guessing: `36,6` is
/// [`NotANumber`], and so is a number too large for an `f64`.
pub fn parse_device_number(text: &str) -> Result<DeviceNumber, NotANumber> {
    let text = text.trim();
    let body = text.strip_suffix('%').unwrap_or(text).trim_end();
    if body.is_empty() || body == "\"\"" || is_dashes(body) {
        return Ok(DeviceNumber::NoValue);
    }
    let unsigned = body.strip_prefix(['+', '-']).unwrap_or(body);
    if ["nan", "inf", "infinity"].iter().any(|m| unsigned.eq_ignore_ascii_case(m)) {
        return Ok(DeviceNumber::NoValue);
    }
    match body.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(DeviceNumber::Value(v)),
        _ => Err(NotANumber),
    }
}

/// `-`, `--`, `---`, `--.-`, `+--`: dashes (and dots) standing where digits would be.
fn is_dashes(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    s.chars().any(|c| matches!(c, '-' | '–' | '—')) && s.chars().all(|c| matches!(c, '-' | '–' | '—' | '.'))
}

/// An IEEE 11073-20601 special value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Not a number (invalid result).
    NaN,
    /// Not at this resolution (the value cannot be represented).
    NotAtResolution,
    /// Positive infinity (above the measurement range).
    PositiveInfinity,
    /// Negative infinity (below the measurement range).
    NegativeInfinity,
    /// Reserved for future use.
    Reserved,
}

/// The special value a 32-bit FLOAT (8-bit exponent, 24-bit mantissa) encodes, if any.
pub const fn float32_special(raw: u32) -> Option<Special> {
    match raw & 0x00FF_FFFF {
        0x007F_FFFF => Some(Special::NaN),
        0x0080_0000 => Some(Special::NotAtResolution),
        0x007F_FFFE => Some(Special::PositiveInfinity),
        0x0080_0002 => Some(Special::NegativeInfinity),
        0x0080_0001 => Some(Special::Reserved),
        _ => None,
    }
}

/// The special value a 16-bit SFLOAT (4-bit exponent, 12-bit mantissa) encodes, if any.
pub const fn sfloat16_special(raw: u16) -> Option<Special> {
    match raw & 0x0FFF {
        0x07FF => Some(Special::NaN),
        0x0800 => Some(Special::NotAtResolution),
        0x07FE => Some(Special::PositiveInfinity),
        0x0802 => Some(Special::NegativeInfinity),
        0x0801 => Some(Special::Reserved),
        _ => None,
    }
}

/// Decodes a FLOAT: `mantissa × 10^exponent`, both signed; special values are no value.
pub fn decode_float32(raw: u32) -> DeviceNumber {
    if float32_special(raw).is_some() {
        return DeviceNumber::NoValue;
    }
    let mantissa = ((raw << 8) as i32) >> 8;
    let exponent = (raw >> 24) as u8 as i8;
    DeviceNumber::Value(scale(mantissa, i32::from(exponent)))
}

/// Decodes an SFLOAT: `mantissa × 10^exponent`, both signed; special values are no value.
pub fn decode_sfloat16(raw: u16) -> DeviceNumber {
    if sfloat16_special(raw).is_some() {
        return DeviceNumber::NoValue;
    }
    let mantissa = ((raw << 4) as i16) >> 4;
    let exponent = (raw as i16) >> 12;
    DeviceNumber::Value(scale(i32::from(mantissa), i32::from(exponent)))
}

/// `m × 10^e`, dividing for negative exponents so that `366 × 10^-1` is exactly `36.6`.
fn scale(mantissa: i32, exponent: i32) -> f64 {
    let power = 10f64.powi(exponent.abs());
    if exponent < 0 { f64::from(mantissa) / power } else { f64::from(mantissa) * power }
}

/// HL7 v2 OBX-11 observation result status (table 0085). See the module table.
pub fn obx11_result_status(code: &str) -> Verdict {
    match code.trim().to_ascii_uppercase().as_str() {
        "F" | "U" | "B" | "" => Verdict::VALID,
        "C" | "A" => Verdict::flag(Flag::Corrected),
        "P" | "R" | "S" | "I" => Verdict::flag(Flag::Preliminary),
        "X" | "N" | "O" | "D" | "W" => Verdict::NoValue,
        _ => Verdict::flag(Flag::Questionable),
    }
}

/// HL7 v2 OBX-8 abnormal flags, repetitions separated by `~`. See the module table.
pub fn obx8_abnormal_flags(field: &str) -> Verdict {
    field.split('~').map(obx8_token).fold(Verdict::VALID, Verdict::and)
}

fn obx8_token(token: &str) -> Verdict {
    match token.trim().to_ascii_uppercase().as_str() {
        "NI" | "NA" | "NAV" | "OFF" | "MSK" | "OTH" | "NAN" | "PINF" | "NINF" => Verdict::NoValue,
        "INV" | "INVALID" | "NOT-AVAILABLE" | "TEST" | "TEST-DATA" | "DEMO" | "DEMO-DATA" => Verdict::NoValue,
        "QUES" | "QUESTIONABLE" | "CAL" | "CALIBRATION-ONGOING" | "<" | ">" => Verdict::flag(Flag::Questionable),
        "EARLY" | "EARLY-INDICATION" | "MSMT-ONGOING" => Verdict::flag(Flag::Preliminary),
        _ => Verdict::VALID,
    }
}

/// Masimo ASCII-1 `EXC` bits that mean there is no valid value.
pub const MASIMO_NO_VALUE: u32 = 0x001 | 0x002 | 0x020 | 0x080;
/// Masimo ASCII-1 `EXC` bits that are informational (`800`: SET processing mode).
pub const MASIMO_INFORMATIONAL: u32 = 0x800;

/// Masimo ASCII-1 exception bits (`EXC=000404` → low perfusion and low signal IQ). Bits that
/// mean no sensor reading give no value; every other set bit except SET mode, known or not,
/// makes the value questionable.
pub const fn masimo_exc(bits: u32) -> Verdict {
    if bits & MASIMO_NO_VALUE != 0 {
        Verdict::NoValue
    } else if bits & !MASIMO_INFORMATIONAL != 0 {
        Verdict::flag(Flag::Questionable)
    } else {
        Verdict::VALID
    }
}

/// Parses the hex digits of a Masimo `EXC=` field (`000800`); `None` when they are not hex.
pub fn parse_masimo_exc(hex: &str) -> Option<Verdict> {
    let hex = hex.trim();
    let valid = !hex.is_empty() && hex.len() <= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| u32::from_str_radix(hex, 16).ok()).flatten().map(masimo_exc)
}

#[cfg(test)]
mod tests {
    use super::DeviceNumber::{NoValue, Value};
    use super::*;

    const Q: Verdict = Verdict::flag(Flag::Questionable);
    const P: Verdict = Verdict::flag(Flag::Preliminary);

    #[test]
    fn device_text_becomes_a_number_or_no_value_never_nan() {
        let numbers = [("72", 72.0), (" 36.6 ", 36.6), ("098%", 98.0), ("-5", -5.0), ("+3.5", 3.5), ("1e2", 100.0)];
        for (text, v) in numbers {
            assert_eq!(parse_device_number(text), Ok(Value(v)), "{text:?}");
        }
        let markers =
            ["", "  ", "-", "--", "---", "--.-", "---%", "+--", "-.-", "—", "\"\"", "NaN", "nan", "-inf", "Infinity"];
        for text in markers {
            assert_eq!(parse_device_number(text), Ok(NoValue), "{text:?}");
        }
        for text in ["abc", "36,6", "1e999", "12abc", "?", ".", "--5", "%%"] {
            assert_eq!(parse_device_number(text), Err(NotANumber), "{text:?}");
        }
    }

    #[test]
    fn float32_decodes_exponent_and_mantissa_and_its_special_values_are_no_value() {
        let values = [
            (0x0000_0002, 2.0),
            (0xFF00_0014, 2.0),
            (0xFE00_00C8, 2.0),
            (0x0100_0002, 20.0),
            (0x0000_04D2, 1234.0),
            (0x00FF_FB2E, -1234.0),
            (0xFF00_016E, 36.6),
            (0xFD01_E240, 123.456),
        ];
        for (raw, v) in values {
            assert_eq!(decode_float32(raw), Value(v), "{raw:#010x}");
        }
        let specials = [
            (0x007F_FFFF, Special::NaN),
            (0x0080_0000, Special::NotAtResolution),
            (0x007F_FFFE, Special::PositiveInfinity),
            (0x0080_0002, Special::NegativeInfinity),
            (0x0080_0001, Special::Reserved),
            (0xFF7F_FFFF, Special::NaN),
        ];
        for (raw, special) in specials {
            assert_eq!((float32_special(raw), decode_float32(raw)), (Some(special), NoValue), "{raw:#010x}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn sfloat16_decodes_exponent_and_mantissa_and_its_special_values_are_no_value() {
        let values =
            [(0x0002, 2.0), (0xF014, 2.0), (0xE0C8, 2.0), (0x1002, 20.0), (0x04D2, 1234.0), (0x0B2E, -1234.0),
             (0xF16E, 36.6)];
        for (raw, v) in values {
            assert_eq!(decode_sfloat16(raw), Value(v), "{raw:#06x}");
        }
        let specials = [
            (0x07FF, Special::NaN),
            (0x0800, Special::NotAtResolution),
            (0x07FE, Special::PositiveInfinity),
            (0x0802, Special::NegativeInfinity),
            (0x0801, Special::Reserved),
        ];
        for (raw, special) in specials {
            assert_eq!((sfloat16_special(raw), decode_sfloat16(raw)), (Some(special), NoValue), "{raw:#06x}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn every_obx11_result_status_has_its_rule() {
        let c = Verdict::flag(Flag::Corrected);
        let cases = [
            ("F", Verdict::VALID), ("U", Verdict::VALID), ("B", Verdict::VALID), ("", Verdict::VALID),
            ("C", c), ("A", c), ("P", P), ("R", P), ("S", P), ("I", P), ("r", P),
            ("X", Verdict::NoValue), ("N", Verdict::NoValue), ("O", Verdict::NoValue), ("D", Verdict::NoValue),
            ("W", Verdict::NoValue), ("Z", Q), ("FINAL", Q),
        ];
        for (code, verdict) in cases {
            assert_eq!(obx11_result_status(code), verdict, "{code:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn obx8_honours_measurement_status_and_null_flavours_but_not_clinical_flags() {
        let both = Verdict::Keep(Verdict::flag(Flag::Questionable).apply(Flags::of(Flag::Preliminary)).unwrap());
        let cases = [
            ("", Verdict::VALID), ("H", Verdict::VALID), ("L~HH", Verdict::VALID), ("A", Verdict::VALID),
            ("PHY", Verdict::VALID), ("VENDORX", Verdict::VALID), ("QUES", Q), ("ques", Q), ("CAL", Q), ("<", Q),
            (">", Q), ("EARLY", P), ("EARLY~QUES", both), ("H~QUES", Q), ("TEST", Verdict::NoValue),
            ("DEMO", Verdict::NoValue), ("NAV", Verdict::NoValue), ("INV", Verdict::NoValue),
            ("QUES~NINF", Verdict::NoValue), ("OFF", Verdict::NoValue),
        ];
        for (field, verdict) in cases {
            assert_eq!(obx8_abnormal_flags(field), verdict, "{field:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn every_masimo_exception_bit_has_its_rule() {
        let cases = [
            (0x000, Verdict::VALID), (0x001, Verdict::NoValue), (0x002, Verdict::NoValue), (0x004, Q), (0x008, Q),
            (0x010, Q), (0x020, Verdict::NoValue), (0x040, Q), (0x080, Verdict::NoValue), (0x100, Q), (0x200, Q),
            (0x400, Q), (0x800, Verdict::VALID), (0x404, Q), (0x821, Verdict::NoValue), (0x1000, Q),
        ];
        for (bits, verdict) in cases {
            assert_eq!(masimo_exc(bits), verdict, "{bits:#05x}");
        }
        assert_eq!(parse_masimo_exc("000800"), Some(Verdict::VALID));
        assert_eq!(parse_masimo_exc("000404"), Some(Q));
        for bad in ["", "zz", "-1", "123456789"] {
            assert_eq!(parse_masimo_exc(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn verdicts_combine_and_apply_to_the_drivers_flags() {
        let clock = Flags::of(Flag::ClockCorrected);
        assert_eq!(Q.apply(clock).map(|f| f.status().as_str()), Some("questionable"));
        assert_eq!(Q.apply(clock).map(|f| f.iter().count()), Some(2));
        assert_eq!(Verdict::NoValue.apply(clock), None);
        assert_eq!(Q.and(Verdict::NoValue), Verdict::NoValue);
        assert_eq!(Verdict::VALID.and(P), P);
    }
}
