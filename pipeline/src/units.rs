//! Units: every spelling devices send, and its conversion into each metric's one canonical UCUM
//! unit (the catalogue's `unit` column).
//!
//! [`conversion_for`] answers "how does a value of this metric, sent in this unit, become a value
//! in the metric's canonical unit?", or `None`: the unit is unknown, measures another quantity,
//! or is ambiguous for this metric. `None` becomes the dead letter `unknown_unit`; a unit is never
//! guessed. Matching is exact (UCUM is case-sensitive: `Pa` is pascal, `PA` is nothing) after
//! trimming ASCII white space, so every spelling accepted is a row of [`UNITS`].
//!
//! | canonical | accepted (besides the canonical spelling itself) |
//! |---|---|
//! | `/min` | `1/min` `min-1` `beat/min` `beats/min` `{beat}/min` `{beats}/min` `{pulse}/min` `bpm` `BPM` `breath/min` `breaths/min` `{breath}/min` `{breaths}/min` `{resp}/min` `brpm`; ×60: `1/s` `/s` `Hz`; MDC `MDC_DIM_PER_MIN` 264672, `MDC_DIM_BEAT_PER_MIN` 264864, `MDC_DIM_PULS_PER_MIN` 264896, `MDC_DIM_RESP_PER_MIN` 264928; ×60 `MDC_DIM_HZ` 264640 |
//! | `mm[Hg]` | `mmHg` `mm Hg` `Torr`, `Pa` `hPa` `mbar` `kPa`; MDC `MDC_DIM_MMHG` 266016, `MDC_DIM_X_PASCAL` 265984, `MDC_DIM_HECTO_PASCAL` 265986, `MDC_DIM_KILO_PASCAL` 265987; and only for [`WATER_COLUMN_METRICS`]: `cm[H2O]` `cmH2O` `cm H2O` `MDC_DIM_CM_H2O` 266048 |
//! | `Cel` | `degC` `°C`; −32 ×5/9: `[degF]` `degF` `°F` `MDC_DIM_FAHR` 266560; −273.15: `K` `MDC_DIM_KELVIN` 266528; MDC `MDC_DIM_DEGC` 268192; bare `F` and `C` (farad and coulomb elsewhere) only reach this row, so only temperature metrics accept them |
//! | `%` | `/100` (SenML secondary unit), `percent`, MDC `MDC_DIM_PERCENT` 262688; ×100 only for [`FRACTION_METRICS`]: `1` `/` `{ratio}` `{fraction}` `MDC_DIM_DIMLESS` 262656 |
//! | `mV` | `uV` `µV` `μV` (×0.001), `V` (×1000); MDC `MDC_DIM_MILLI_VOLT` 266418, `MDC_DIM_MICRO_VOLT` 266419, `MDC_DIM_X_VOLT`/`MDC_DIM_VOLT` 266400 |
//! | `g/dL` | `g/dl`, `g/L` (×0.1), MDC `MDC_DIM_X_G_PER_DL` 264256 (for SpHb; `mmol/L` is not accepted: it depends on the haemoglobin convention) |
//! | `mL/dL` | `ml/dL` `ml/dl`, MDC `MDC_DIM_MILLI_L_PER_DL` 268562 (SpOC) |
//! | `1` | `/` (SenML ratio), MDC `MDC_DIM_DIMLESS` 262656 (pleth amplitude) |
//!
//! IEEE 11073-10101 unit codes are `4 × 65536 + term` (partition 4, `MDC_PART_DIM`); terms as in
//! the nomenclature used by Antidote (IEEE 11073-20601) and Philips IntelliVue, and confirmed
//! against PCD-01 messages (`266016^MDC_DIM_MMHG^MDC`, `262688^MDC_DIM_PERCENT^MDC`, …).
//!
//! An HL7 coded unit (`OBX-6`, `identifier^text^system^alt-id^alt-text^alt-system`) is accepted
//! when its identifier (or, when empty, its text) is known; every other component that is a known
//! unit must then agree, and components that are not units (`mmHg^Unit`) are ignored.
//!
//! Design: SenML registers `%` as a ratio (RFC 8428 §12.1, "not recommended") but devices send
//! SpO2 97 with it, so `%` is UCUM's percent. Pressure uses the conventional millimetre of
//! mercury, 133.322 387 415 Pa (ISO 80000-4); water column 98.0665 Pa per cm (UCUM `cm[H2O]`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::catalogue::Metric;

/// `canonical = (value + offset) × mul ÷ div`. Offsets are −0.0 when there is none: `x + −0.0`
/// is `x` for every `x` (−0.0 included), so an identity conversion returns its input bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    /// Added first.
    pub offset: f64,
    /// Then multiplied by.
    pub mul: f64,
    /// Then divided by (division keeps 212 °F → 100 °C exact).
    pub div: f64,
}

impl Conversion {
    /// No change.
    pub const IDENTITY: Conversion = Conversion { offset: -0.0, mul: 1.0, div: 1.0 };

    /// Converts a value.
    #[inline]
    pub fn apply(self, value: f64) -> f64 {
        (value + self.offset) * self.mul / self.div
    }
}

/// Which metrics a row applies to, beyond having its canonical unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Every metric whose canonical unit is the row's.
    Always,
    /// Only [`FRACTION_METRICS`].
    Fractions,
    /// Only [`WATER_COLUMN_METRICS`].
    WaterColumn,
}

/// Saturations and gas fractions whose devices may send a fraction 0–1 for a percentage: the
/// dimensionless units (`1`, `/`, `{ratio}`, `MDC_DIM_DIMLESS`) become `%` ×100 only for these
/// catalogue names. Elsewhere (perfusion index: 0.02–20 %) a bare number is ambiguous.
pub const FRACTION_METRICS: &[&str] = &["spo2", "spco", "spmet", "sao2", "svo2", "scvo2", "fio2"];

/// Low pressures measured with water manometers (central venous, right atrial, intracranial):
/// only these accept `cm[H2O]`. An arterial pressure or an end-tidal CO2 in cm H2O is a mapping
/// error, not a measurement.
pub const WATER_COLUMN_METRICS: &[&str] = &["cvp", "rap", "icp"];

/// One accepted spelling of a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitRow {
    /// The spelling as devices send it.
    pub alias: &'static str,
    /// The canonical UCUM unit it converts into.
    pub canonical: &'static str,
    /// How.
    pub conversion: Conversion,
    /// For which metrics.
    pub applies: Applies,
}

/// Pascal per millimetre of mercury (conventional).
const PA_PER_MMHG: f64 = 133.322_387_415;
/// Pascal per centimetre of water (UCUM `cm[H2O]`, 9.80665 kPa per metre).
const PA_PER_CMH2O: f64 = 98.0665;
/// Pascal per torr (101 325 / 760).
const PA_PER_TORR: f64 = 101_325.0 / 760.0;

const fn conv(offset: f64, mul: f64, div: f64) -> Conversion {
    Conversion { offset, mul, div }
}
const fn r(alias: &'static str, canonical: &'static str, conversion: Conversion) -> UnitRow {
    UnitRow { alias, canonical, conversion, applies: Applies::Always }
}
const fn only(alias: &'static str, canonical: &'static str, conversion: Conversion, applies: Applies) -> UnitRow {
    UnitRow { alias, canonical, conversion, applies }
}

const SAME: Conversion = Conversion::IDENTITY;
const PER_SECOND: Conversion = conv(-0.0, 60.0, 1.0);
const FAHRENHEIT: Conversion = conv(-32.0, 5.0, 9.0);
const KELVIN: Conversion = conv(-273.15, 1.0, 1.0);
const PASCAL: Conversion = conv(-0.0, 1.0, PA_PER_MMHG);
const HECTOPASCAL: Conversion = conv(-0.0, 100.0, PA_PER_MMHG);
const KILOPASCAL: Conversion = conv(-0.0, 1000.0, PA_PER_MMHG);
const CM_WATER: Conversion = conv(-0.0, PA_PER_CMH2O, PA_PER_MMHG);
const FRACTION: Conversion = conv(-0.0, 100.0, 1.0);
const WC: Applies = Applies::WaterColumn;
const FR: Applies = Applies::Fractions;

/// Every unit spelling wardstream accepts. One table; [`conversion_for`] indexes it by alias.
#[rustfmt::skip]
pub static UNITS: &[UnitRow] = &[
    // rates: UCUM `/min`; SenML registers `1/min`, `beat/min`, `1/s`, `Hz`
    r("/min", "/min", SAME), r("1/min", "/min", SAME), r("min-1", "/min", SAME),
    r("beat/min", "/min", SAME), r("beats/min", "/min", SAME), r("{beat}/min", "/min", SAME),
    r("{beats}/min", "/min", SAME), r("{pulse}/min", "/min", SAME), r("bpm", "/min", SAME),
    r("BPM", "/min", SAME), r("breath/min", "/min", SAME), r("breaths/min", "/min", SAME),
    r("{breath}/min", "/min", SAME), r("{breaths}/min", "/min", SAME), r("{resp}/min", "/min", SAME),
    r("brpm", "/min", SAME), r("1/s", "/min", PER_SECOND), r("/s", "/min", PER_SECOND),
    r("Hz", "/min", PER_SECOND),
    r("MDC_DIM_PER_MIN", "/min", SAME), r("264672", "/min", SAME),
    r("MDC_DIM_BEAT_PER_MIN", "/min", SAME), r("264864", "/min", SAME),
    r("MDC_DIM_PULS_PER_MIN", "/min", SAME), r("264896", "/min", SAME),
    r("MDC_DIM_RESP_PER_MIN", "/min", SAME), r("264928", "/min", SAME),
    r("MDC_DIM_HZ", "/min", PER_SECOND), r("264640", "/min", PER_SECOND),
    // pressure: UCUM `mm[Hg]`; SenML registers `Pa` and (RFC 8798) `hPa`
    r("mm[Hg]", "mm[Hg]", SAME), r("mmHg", "mm[Hg]", SAME), r("mm Hg", "mm[Hg]", SAME),
    r("Torr", "mm[Hg]", conv(-0.0, PA_PER_TORR, PA_PER_MMHG)),
    r("Pa", "mm[Hg]", PASCAL), r("hPa", "mm[Hg]", HECTOPASCAL), r("mbar", "mm[Hg]", HECTOPASCAL),
    r("kPa", "mm[Hg]", KILOPASCAL),
    r("MDC_DIM_MMHG", "mm[Hg]", SAME), r("266016", "mm[Hg]", SAME),
    r("MDC_DIM_X_PASCAL", "mm[Hg]", PASCAL), r("265984", "mm[Hg]", PASCAL),
    r("MDC_DIM_HECTO_PASCAL", "mm[Hg]", HECTOPASCAL), r("265986", "mm[Hg]", HECTOPASCAL),
    r("MDC_DIM_KILO_PASCAL", "mm[Hg]", KILOPASCAL), r("265987", "mm[Hg]", KILOPASCAL),
    only("cm[H2O]", "mm[Hg]", CM_WATER, WC), only("cmH2O", "mm[Hg]", CM_WATER, WC),
    only("cm H2O", "mm[Hg]", CM_WATER, WC), only("MDC_DIM_CM_H2O", "mm[Hg]", CM_WATER, WC),
    only("266048", "mm[Hg]", CM_WATER, WC),
    // temperature: UCUM `Cel`; SenML registers `Cel` and `K`
    r("Cel", "Cel", SAME), r("degC", "Cel", SAME), r("°C", "Cel", SAME), r("C", "Cel", SAME),
    r("[degF]", "Cel", FAHRENHEIT), r("degF", "Cel", FAHRENHEIT), r("°F", "Cel", FAHRENHEIT),
    r("F", "Cel", FAHRENHEIT), r("K", "Cel", KELVIN),
    r("MDC_DIM_DEGC", "Cel", SAME), r("268192", "Cel", SAME),
    r("MDC_DIM_FAHR", "Cel", FAHRENHEIT), r("266560", "Cel", FAHRENHEIT),
    r("MDC_DIM_KELVIN", "Cel", KELVIN), r("266528", "Cel", KELVIN),
    // percent: UCUM `%`; fractions only for saturations
    r("%", "%", SAME), r("/100", "%", SAME), r("percent", "%", SAME),
    r("MDC_DIM_PERCENT", "%", SAME), r("262688", "%", SAME),
    only("1", "%", FRACTION, FR), only("/", "%", FRACTION, FR), only("{ratio}", "%", FRACTION, FR),
    only("{fraction}", "%", FRACTION, FR), only("MDC_DIM_DIMLESS", "%", FRACTION, FR),
    only("262656", "%", FRACTION, FR),
    // electrical potential (ECG): UCUM `mV`; SenML registers `V` and (RFC 8798) `mV`
    r("mV", "mV", SAME), r("V", "mV", conv(-0.0, 1000.0, 1.0)),
    r("uV", "mV", conv(-0.0, 1.0, 1000.0)), r("µV", "mV", conv(-0.0, 1.0, 1000.0)),
    r("μV", "mV", conv(-0.0, 1.0, 1000.0)),
    r("MDC_DIM_MILLI_VOLT", "mV", SAME), r("266418", "mV", SAME),
    r("MDC_DIM_MICRO_VOLT", "mV", conv(-0.0, 1.0, 1000.0)), r("266419", "mV", conv(-0.0, 1.0, 1000.0)),
    r("MDC_DIM_X_VOLT", "mV", conv(-0.0, 1000.0, 1.0)), r("MDC_DIM_VOLT", "mV", conv(-0.0, 1000.0, 1.0)),
    r("266400", "mV", conv(-0.0, 1000.0, 1.0)),
    // dimensionless (pleth amplitude): UCUM `1`
    r("1", "1", SAME), r("/", "1", SAME), r("MDC_DIM_DIMLESS", "1", SAME), r("262656", "1", SAME),
    // oxygen content (SpOC): UCUM `mL/dL`
    r("mL/dL", "mL/dL", SAME), r("ml/dL", "mL/dL", SAME), r("ml/dl", "mL/dL", SAME), r("MDC_DIM_MILLI_L_PER_DL", "mL/dL", SAME),
    r("268562", "mL/dL", SAME),
    // haemoglobin concentration (SpHb): UCUM `g/dL`
    r("g/dL", "g/dL", SAME), r("g/dl", "g/dL", SAME), r("g/L", "g/dL", conv(-0.0, 1.0, 10.0)),
    r("MDC_DIM_X_G_PER_DL", "g/dL", SAME), r("264256", "g/dL", SAME),
];

/// The conversion of `unit` into `metric`'s canonical unit, or `None` when the unit is unknown,
/// measures another quantity, or is ambiguous for this metric. An empty unit, and the canonical
/// unit itself, are the identity. Allocates nothing.
pub fn conversion_for(metric: &Metric, unit: &str) -> Option<Conversion> {
    let unit = unit.trim();
    if unit.contains('^') { coded(metric, unit) } else { simple(metric, unit) }
}

/// True when `unit` is a spelling wardstream knows for some quantity (for dead-letter details).
pub fn is_known(unit: &str) -> bool {
    let unit = unit.trim();
    unit.split('^').any(|c| index().contains_key(c))
}

fn simple(metric: &Metric, unit: &str) -> Option<Conversion> {
    if unit.is_empty() || unit == metric.unit {
        return Some(Conversion::IDENTITY);
    }
    let rows = index().get(unit)?;
    rows.iter()
        .map(|&i| &UNITS[usize::from(i)])
        .find(|row| row.canonical == metric.unit && applies(row.applies, metric))
        .map(|row| row.conversion)
}

/// An HL7 CWE: `identifier^text^system^alternate identifier^alternate text^alternate system`.
fn coded(metric: &Metric, cwe: &str) -> Option<Conversion> {
    let mut parts = cwe.split('^');
    let (id, text) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (alt_id, alt_text) = (parts.nth(1).unwrap_or(""), parts.next().unwrap_or(""));
    let primary = if id.is_empty() { text } else { id };
    if primary.is_empty() {
        return None;
    }
    let conversion = simple(metric, primary)?;
    let agrees = |c: &str| c.is_empty() || !known_here(metric, c) || simple(metric, c) == Some(conversion);
    [text, alt_id, alt_text].into_iter().all(agrees).then_some(conversion)
}

fn known_here(metric: &Metric, unit: &str) -> bool {
    unit == metric.unit || index().contains_key(unit)
}

fn applies(rule: Applies, metric: &Metric) -> bool {
    match rule {
        Applies::Always => true,
        Applies::Fractions => FRACTION_METRICS.contains(&metric.name.as_str()),
        Applies::WaterColumn => WATER_COLUMN_METRICS.contains(&metric.name.as_str()),
    }
}

type Index = HashMap<&'static str, Vec<u16>, BuildHasherDefault<FxHasher>>;

/// Alias → rows of [`UNITS`], built once.
fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = Index::default();
        for (i, row) in UNITS.iter().enumerate() {
            index.entry(row.alias).or_default().push(i as u16);
        }
        index
    })
}

/// The multiply-rotate hash of rustc (`FxHasher`): a few cycles for a short key, where SipHash
/// takes tens of nanoseconds. Keys here are our own constants, so flooding is not a concern.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogue;

    /// A catalogue metric; for names the catalogue lacks, a metric like it renamed.
    fn metric(name: &str) -> Metric {
        let c = Catalogue::builtin();
        if let Some(m) = c.by_name(name) {
            return (**m).clone();
        }
        let like = if name == "rap" { "nibp_sys" } else { "spo2" };
        let mut m = (**c.by_name(like).unwrap()).clone();
        m.name = name.into();
        m
    }

    fn convert(name: &str, unit: &str, value: f64) -> Option<f64> {
        conversion_for(&metric(name), unit).map(|c| c.apply(value))
    }

    #[test]
    #[rustfmt::skip]
    fn every_conversion_gives_its_exact_value() {
        let cases = [
            ("heart_rate", "beat/min", 72.0, 72.0), ("heart_rate", "bpm", 72.0, 72.0),
            ("heart_rate", "1/s", 1.2, 72.0), ("heart_rate", "Hz", 1.2, 72.0), ("resp_rate", "264928", 14.0, 14.0),
            ("temp", "[degF]", 212.0, 100.0), ("temp", "degF", 32.0, 0.0), ("temp", "°F", -40.0, -40.0),
            ("temp", "F", 98.6, 37.0), ("temp", "MDC_DIM_FAHR", 98.6, 37.0), ("temp", "K", 310.15, 37.0),
            ("temp", "266528", 273.15, 0.0), ("temp", "C", 36.6, 36.6),
            ("nibp_sys", "kPa", 16.0, 120.009_852_135_305_01), ("nibp_sys", "Pa", 1.0, 0.007_500_615_758_456_563),
            ("nibp_sys", "hPa", 1013.25, 759.999_891_725_611_2), ("nibp_sys", "mbar", 1013.25, 759.999_891_725_611_2),
            ("nibp_sys", "Torr", 760.0, 759.999_891_725_611_2), ("nibp_sys", "265987", 16.0, 120.009_852_135_305_01),
            ("cvp", "cm[H2O]", 10.0, 7.355_591_352_766_805_5), ("cvp", "266048", 10.0, 7.355_591_352_766_805_5),
            ("spo2", "1", 0.97, 97.0), ("spo2", "/", 0.5, 50.0), ("spo2", "{ratio}", 0.25, 25.0),
            ("spo2", "MDC_DIM_DIMLESS", 0.5, 50.0), ("spo2", "/100", 97.0, 97.0),
            ("ecg_ii", "V", 1.2, 1200.0), ("ecg_ii", "uV", 500.0, 0.5), ("ecg_ii", "µV", 500.0, 0.5),
            ("ecg_ii", "266400", 1.2, 1200.0), ("sphb", "g/L", 135.0, 13.5), ("sphb", "264256", 13.5, 13.5),
            ("spoc", "ml/dl", 18.5, 18.5), ("pleth", "/", 0.5, 0.5), ("pleth", "262656", 0.5, 0.5),
            ("rap", "cmH2O", 10.0, 7.355_591_352_766_805_5), ("sao2", "1", 0.5, 50.0),
        ];
        for (name, unit, value, expected) in cases {
            assert_eq!(convert(name, unit, value), Some(expected), "{name} {value} {unit}");
        }
    }

    /// Codes are `4 × 65536 + term` (IEEE 11073-10101 partition 4).
    #[test]
    #[rustfmt::skip]
    fn mdc_unit_codes_are_partition_4_terms_and_match_their_reference_ids() {
        let terms = [
            ("MDC_DIM_DIMLESS", 512, "spo2"), ("MDC_DIM_PERCENT", 544, "spo2"), ("MDC_DIM_HZ", 2496, "heart_rate"),
            ("MDC_DIM_PER_MIN", 2528, "heart_rate"), ("MDC_DIM_BEAT_PER_MIN", 2720, "heart_rate"),
            ("MDC_DIM_PULS_PER_MIN", 2752, "heart_rate"), ("MDC_DIM_RESP_PER_MIN", 2784, "resp_rate"),
            ("MDC_DIM_X_PASCAL", 3840, "nibp_sys"), ("MDC_DIM_HECTO_PASCAL", 3842, "nibp_sys"),
            ("MDC_DIM_KILO_PASCAL", 3843, "nibp_sys"), ("MDC_DIM_MMHG", 3872, "nibp_sys"),
            ("MDC_DIM_CM_H2O", 3904, "cvp"), ("MDC_DIM_X_VOLT", 4256, "ecg_ii"), ("MDC_DIM_MILLI_VOLT", 4274, "ecg_ii"),
            ("MDC_DIM_MICRO_VOLT", 4275, "ecg_ii"), ("MDC_DIM_KELVIN", 4384, "temp"), ("MDC_DIM_FAHR", 4416, "temp"),
            ("MDC_DIM_DEGC", 6048, "temp"),
        ];
        for (ref_id, term, name) in terms {
            let (m, code) = (metric(name), (4 * 65536 + term).to_string());
            assert!(conversion_for(&m, ref_id).is_some(), "{ref_id}");
            assert_eq!(conversion_for(&m, ref_id), conversion_for(&m, &code), "{ref_id} {code}");
        }
        assert_eq!(conversion_for(&metric("temp"), "MDC_DIM_DEGC"), Some(Conversion::IDENTITY));
    }

    #[test]
    #[rustfmt::skip]
    fn every_obx6_unit_of_the_pcd01_samples_and_coded_forms_resolve() {
        let cases = [
            ("nibp_sys", "mmHg^Unit"), ("nibp_sys", "266016^MDC_DIM_MMHG^MDC"), ("nibp_sys", "^MDC_DIM_MMHG^MDC"),
            ("heart_rate", "/min^/min^UCUM"), ("pvc_count", "/min^/min^UCUM"), ("abp_mean", "mm[Hg]^mm[Hg]^UCUM"),
            ("spo2", "262688^MDC_DIM_PERCENT^MDC^%^%^UCUM"), ("heart_rate", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
            ("temp", "268192^MDC_DIM_DEGC^MDC"),
        ];
        for (name, unit) in cases {
            assert_eq!(conversion_for(&metric(name), unit), Some(Conversion::IDENTITY), "{name} {unit}");
        }
        assert_eq!(convert("nibp_sys", "265987^MDC_DIM_KILO_PASCAL^MDC", 16.0), Some(120.009_852_135_305_01));
    }

    #[test]
    fn coded_units_whose_components_disagree_are_ambiguous() {
        for unit in ["266016^MDC_DIM_PERCENT^MDC", "266016^MDC_DIM_MMHG^MDC^kPa^kPa^UCUM", "^^MDC", "^"] {
            assert_eq!(conversion_for(&metric("nibp_sys"), unit), None, "{unit}");
        }
    }

    #[test]
    fn bare_f_and_c_are_temperatures_only_for_temperature_metrics() {
        assert_eq!(convert("temp_body", "F", 212.0), Some(100.0));
        for (name, unit) in [("heart_rate", "F"), ("nibp_sys", "F"), ("ecg_ii", "F"), ("ecg_ii", "C"), ("spo2", "C")] {
            assert_eq!(convert(name, unit, 1.0), None, "{name} {unit}");
        }
    }

    #[test]
    fn fractions_become_percent_only_for_saturations() {
        assert_eq!(convert("spco", "1", 0.05), Some(5.0));
        assert_eq!(convert("perfusion_index", "1", 0.05), None);
        assert_eq!(convert("perfusion_index", "%", 0.05), Some(0.05));
        assert_eq!(convert("heart_rate", "1", 1.0), None);
    }

    #[test]
    fn water_column_converts_only_for_low_venous_and_intracranial_pressures() {
        assert_eq!(convert("icp", "cmH2O", 10.0), Some(7.355_591_352_766_805_5));
        for name in ["nibp_sys", "abp_mean", "etco2"] {
            assert_eq!(convert(name, "cm[H2O]", 10.0), None, "{name}");
        }
    }

    #[test]
    fn unknown_miscased_and_foreign_units_are_never_guessed() {
        for (name, unit) in [("nibp_sys", "PA"), ("nibp_sys", "mmhg"), ("heart_rate", "furlong"), ("heart_rate", "kPa")]
        {
            assert_eq!(convert(name, unit, 5.0), None, "{name} {unit}");
        }
        assert_eq!(convert("spo2", "Cel", 5.0), None);
        assert_eq!(convert("heart_rate", "beats", 5.0), None);
        assert!(is_known("kPa") && is_known("266016^MDC_DIM_MMHG^MDC") && !is_known("furlong"));
    }

    #[test]
    fn the_canonical_unit_and_no_unit_are_the_identity_bit_for_bit() {
        let mut m = metric("heart_rate");
        m.unit = "L/min".into();
        assert_eq!(conversion_for(&m, "L/min"), Some(Conversion::IDENTITY));
        assert_eq!(conversion_for(&m, " "), Some(Conversion::IDENTITY));
        for v in [-0.0, 0.0, 1e-310, -7.25, f64::MAX] {
            assert_eq!(Conversion::IDENTITY.apply(v).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn the_table_is_one_row_per_alias_and_canonical_and_saturations_are_percentages() {
        let mut seen = std::collections::HashSet::new();
        for row in UNITS {
            assert!(seen.insert((row.alias, row.canonical)), "{} twice", row.alias);
            let canonical = ["/min", "mm[Hg]", "Cel", "%", "mV", "g/dL", "mL/dL", "1"];
            assert!(canonical.contains(&row.canonical), "{}", row.alias);
            // Every canonical unit is also a spelling of itself (the site catalogue checks this).
            assert!(
                UNITS.iter().any(|r| r.alias == row.canonical && r.canonical == row.canonical),
                "{}",
                row.canonical
            );
        }
        let c = Catalogue::builtin();
        for name in FRACTION_METRICS.iter().chain(WATER_COLUMN_METRICS) {
            if let Some(m) = c.by_name(name) {
                assert!(m.unit == "%" || m.unit == "mm[Hg]", "{name}");
            }
        }
    }
}
