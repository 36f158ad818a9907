//! What the fields of a Masimo "ASCII 1" line measure: the unit each known measurement field is
//! sent in, and the names of the exception bits for dead-letter details.
//!
//! Field names are passed to the pipeline as the device sends them; the catalogue's Masimo
//! aliases (`pipeline/data/metric-aliases.csv`) resolve `SPO2` (as `SpO2`), `BPM`, `PI`, `SPCO`,
//! `SPMET`, `SPHB`, `SPOC` and `PVI`; `DESAT` and `PIDELTA` resolve to `desat_index` and
//! `perfusion_index_delta`.

/// A measurement field this codec knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownField {
    /// The key as the device sends it.
    pub key: &'static str,
    /// The UCUM unit the value is in, `None` for a count without a unit.
    pub unit: Option<&'static str>,
}

const fn field(key: &'static str, unit: &'static str) -> KnownField {
    KnownField { key, unit: Some(unit) }
}

/// The measurement fields of ASCII 1 output as Radical and Rad-series devices write them; `PR`
/// (the pulse rate, as some serial formats name it) is accepted beside `BPM`.
pub const KNOWN_FIELDS: [KnownField; 11] = [
    field("SPO2", "%"),
    field("BPM", "/min"),
    field("PR", "/min"),
    field("PI", "%"),
    field("SPCO", "%"),
    field("SPMET", "%"),
    field("SPHB", "g/dL"),
    field("SPOC", "mL/dL"),
    field("PVI", "%"),
    field("PIDELTA", "%"),
    // Desaturation index: a count of desaturation events, no unit.
    KnownField { key: "DESAT", unit: None },
];

/// The known field with this key.
pub fn known_field(key: &str) -> Option<KnownField> {
    KNOWN_FIELDS.iter().copied().find(|f| f.key == key)
}

/// The documented `EXC` bits and their meaning.
pub const EXCEPTION_BITS: [(u32, &str); 10] = [
    (0x001, "no sensor"),
    (0x002, "defective sensor"),
    (0x004, "low perfusion"),
    (0x008, "pulse search"),
    (0x010, "interference"),
    (0x020, "sensor off"),
    (0x040, "ambient light"),
    (0x080, "unrecognized sensor"),
    (0x400, "low signal IQ"),
    (0x800, "SET mode"),
];

/// The set bits of `EXC` in words (`0xC00` → `low signal IQ, SET mode`); undocumented bits as
/// hex (`bit 0x100`); `none` for 0.
pub fn describe_exceptions(bits: u32) -> String {
    let mut words: Vec<String> = Vec::new();
    for shift in 0..32 {
        let bit = 1u32 << shift;
        if bits & bit == 0 {
            continue;
        }
        match EXCEPTION_BITS.iter().find(|(b, _)| *b == bit) {
            Some((_, name)) => words.push((*name).to_owned()),
            None => words.push(format!("bit {bit:#x}")),
        }
    }
    if words.is_empty() { "none".to_owned() } else { words.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_bits_are_named_and_unknown_bits_shown_in_hex() {
        assert_eq!(describe_exceptions(0), "none");
        assert_eq!(describe_exceptions(0xC00), "low signal IQ, SET mode");
        assert_eq!(describe_exceptions(0x021), "no sensor, sensor off");
        assert_eq!(describe_exceptions(0x1100), "bit 0x100, bit 0x1000");
    }

    #[test]
    fn known_fields_carry_their_units() {
        assert_eq!(known_field("SPO2").and_then(|f| f.unit), Some("%"));
        assert_eq!(known_field("BPM").and_then(|f| f.unit), Some("/min"));
        assert_eq!(known_field("SPHB").and_then(|f| f.unit), Some("g/dL"));
        assert_eq!(known_field("DESAT").map(|f| f.unit), Some(None));
        assert_eq!(known_field("SN"), None);
    }
}
