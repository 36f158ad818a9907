//! Units: the aliases devices send and their conversion into each metric's canonical UCUM unit.
//!
//! A unit is converted only into the canonical unit it measures (`kPa` into `mm[Hg]`, never
//! into `/min`). Matching is exact: UCUM is case-sensitive (`Pa` is pascal, `PA` is not a unit),
//! so every spelling accepted is listed here. An unknown unit is never guessed.

/// How a unit converts into its canonical unit: `canonical = (value + offset) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitDef {
    /// The spelling as devices send it.
    pub alias: &'static str,
    /// The canonical UCUM unit it converts to.
    pub canonical: &'static str,
    /// Added to the value before scaling.
    pub offset: f64,
    /// Multiplies the value after the offset.
    pub scale: f64,
}

/// Pascal per millimetre of mercury (conventional, 13.5951 g/cm³ × 9.80665 m/s²).
const PA_PER_MMHG: f64 = 133.322_387_415;

const fn same(alias: &'static str, canonical: &'static str) -> UnitDef {
    UnitDef { alias, canonical, offset: 0.0, scale: 1.0 }
}

const fn scaled(alias: &'static str, canonical: &'static str, scale: f64) -> UnitDef {
    UnitDef { alias, canonical, offset: 0.0, scale }
}

/// Every unit spelling wardstream accepts.
pub static UNITS: &[UnitDef] = &[
    // rates: UCUM `/min`; SenML registers `1/min`, `beat/min`, `1/s`
    same("/min", "/min"),
    same("1/min", "/min"),
    same("beat/min", "/min"),
    same("beats/min", "/min"),
    same("{beat}/min", "/min"),
    same("{beats}/min", "/min"),
    same("{pulse}/min", "/min"),
    same("bpm", "/min"),
    same("breath/min", "/min"),
    same("breaths/min", "/min"),
    same("{breath}/min", "/min"),
    same("{breaths}/min", "/min"),
    same("{resp}/min", "/min"),
    same("brpm", "/min"),
    scaled("1/s", "/min", 60.0),
    scaled("/s", "/min", 60.0),
    scaled("Hz", "/min", 60.0),
    // saturation
    same("%", "%"),
    same("percent", "%"),
    // pressure: UCUM `mm[Hg]`; SenML registers `Pa`, `hPa`
    same("mm[Hg]", "mm[Hg]"),
    same("mmHg", "mm[Hg]"),
    same("mm Hg", "mm[Hg]"),
    scaled("Pa", "mm[Hg]", 1.0 / PA_PER_MMHG),
    scaled("hPa", "mm[Hg]", 100.0 / PA_PER_MMHG),
    scaled("kPa", "mm[Hg]", 1000.0 / PA_PER_MMHG),
    // temperature: UCUM `Cel`
    same("Cel", "Cel"),
    same("degC", "Cel"),
    same("°C", "Cel"),
    UnitDef { alias: "[degF]", canonical: "Cel", offset: -32.0, scale: 5.0 / 9.0 },
    UnitDef { alias: "degF", canonical: "Cel", offset: -32.0, scale: 5.0 / 9.0 },
    UnitDef { alias: "°F", canonical: "Cel", offset: -32.0, scale: 5.0 / 9.0 },
    UnitDef { alias: "K", canonical: "Cel", offset: -273.15, scale: 1.0 },
    // electrical potential (ECG): UCUM `mV`
    same("mV", "mV"),
    scaled("V", "mV", 1000.0),
    scaled("uV", "mV", 0.001),
    scaled("µV", "mV", 0.001),
];

/// The definition of a unit spelling, if wardstream knows it.
pub fn lookup(unit: &str) -> Option<&'static UnitDef> {
    UNITS.iter().find(|u| u.alias == unit)
}

/// Converts `value` given in `unit` into `canonical`. `None` when the unit is unknown or
/// measures something else.
pub fn convert(value: f64, unit: &str, canonical: &str) -> Option<f64> {
    let def = lookup(unit)?;
    (def.canonical == canonical).then(|| convert_with(def, value))
}

/// Applies a known conversion.
pub fn convert_with(def: &UnitDef, value: f64) -> f64 {
    if def.offset == 0.0 && def.scale == 1.0 { value } else { (value + def.offset) * def.scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn conversions_give_the_textbook_values() {
        assert_eq!(convert(72.0, "beat/min", "/min"), Some(72.0));
        assert_eq!(convert(1.2, "1/s", "/min"), Some(72.0));
        assert!(close(convert(98.6, "[degF]", "Cel").unwrap(), 37.0));
        assert!(close(convert(310.15, "K", "Cel").unwrap(), 37.0));
        assert!(close(convert(16.0, "kPa", "mm[Hg]").unwrap(), 120.009_852_135_305));
        assert!(close(convert(1.2, "V", "mV").unwrap(), 1200.0));
    }

    #[test]
    fn a_unit_never_converts_into_another_quantity() {
        assert_eq!(convert(5.0, "kPa", "/min"), None);
        assert_eq!(convert(5.0, "Cel", "%"), None);
    }

    #[test]
    fn unknown_and_miscased_units_are_not_guessed() {
        assert_eq!(lookup("PA"), None);
        assert_eq!(lookup("furlong"), None);
        assert_eq!(lookup(""), None);
    }

    #[test]
    fn every_unit_converts_into_a_catalogue_unit() {
        let catalogue = crate::Catalogue::builtin();
        for u in UNITS {
            assert!(catalogue.metrics().iter().any(|m| m.unit == u.canonical), "{}", u.alias);
        }
    }
}
