//! Where a [`Catalogue`] comes from: the built-in tables compiled into the binary, and the
//! additions a site makes in its configuration without recompiling ([`CatalogueConfig`], the
//! `[catalogue]` section of the service configuration).
//!
//! ```toml
//! [catalogue]
//! aliases = { "HF" = "heart_rate", "PCWP" = "pawp" }
//! [[catalogue.metrics]]
//! name = "pawp"
//! mdc_ref_id = "MDC_PRESS_BLD_ART_PULM_OCCL"
//! mdc_code = 150052
//! loinc = "75994-4"
//! unit = "mm[Hg]"
//! display = "Pulmonary artery wedge pressure"
//! plausible_min = 0
//! plausible_max = 60
//! ```
//!
//! [`Catalogue::with_config`] starts from the built-in catalogue and adds the site's metrics, then
//! its aliases. Nothing built in is replaced: a site metric that repeats a name, MDC reference id
//! or MDC code, or an alias (or a metric name, id or code) that already names another metric, is
//! an error naming it. A site metric's unit must be a canonical unit the [`crate::units`] module
//! converts into (`/min`, `mm[Hg]`, `Cel`, `%`, `mV`, …), so that its readings can be normalised.
//! Site metrics are `verified = false`: wardstream has not checked their codes.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalogue::{Catalogue, CatalogueError, Metric};

const BUILTIN_METRICS: &str = include_str!("../data/vitals-catalogue.csv");
const BUILTIN_ALIASES: &str = include_str!("../data/metric-aliases.csv");

/// A site's additions to the built-in catalogue (`[catalogue]`). The default adds nothing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogueConfig {
    /// Metrics the built-in table lacks (`metrics = [{ … }]` or `[[catalogue.metrics]]`).
    pub metrics: Vec<SiteMetric>,
    /// Names devices send → catalogue metric names (`aliases = { "HF" = "heart_rate" }`). Matched
    /// ignoring ASCII case, like every catalogue name.
    pub aliases: BTreeMap<String, String>,
}

/// One metric a site adds: the columns of `data/vitals-catalogue.csv` without `status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteMetric {
    /// Catalogue name stored in the `metric` column (`pawp`); must be new.
    pub name: String,
    /// IEEE 11073-10101 reference id (`MDC_PRESS_BLD_ART_PULM_OCCL`); must be new.
    pub mdc_ref_id: String,
    /// IEEE 11073-10101 numeric code, partition × 65536 + term code (`150052`); must be new.
    pub mdc_code: i32,
    /// LOINC code, when one describes exactly this metric. Also a lookup key, unless it already
    /// names a built-in metric (the catalogue's LOINC rule).
    #[serde(default)]
    pub loinc: Option<String>,
    /// Canonical UCUM unit its values are stored in; one the units module converts into.
    pub unit: String,
    /// Human-readable name.
    pub display: String,
    /// Lowest plausible value, in `unit`; lower values are stored as `implausible`.
    pub plausible_min: f64,
    /// Highest plausible value, in `unit`; higher values are stored as `implausible`.
    pub plausible_max: f64,
}

impl SiteMetric {
    fn to_metric(&self) -> Metric {
        Metric {
            id: 0,
            name: self.name.trim().to_string(),
            mdc_ref_id: self.mdc_ref_id.trim().to_string(),
            mdc_code: self.mdc_code,
            loinc: self.loinc.as_deref().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string),
            unit: self.unit.trim().to_string(),
            display: self.display.trim().to_string(),
            plausible_min: self.plausible_min,
            plausible_max: self.plausible_max,
            verified: false,
        }
    }
}

impl Catalogue {
    /// The catalogue compiled into the binary.
    pub fn builtin() -> Catalogue {
        match Catalogue::from_csv(BUILTIN_METRICS, BUILTIN_ALIASES) {
            Ok(c) => c,
            // The built-in tables are constants checked by the tests; failing here means the
            // binary itself was built broken.
            Err(e) => panic!("built-in metric catalogue is invalid: {e}"),
        }
    }

    /// The built-in catalogue plus a site's metrics and aliases (module docs for the rules).
    pub fn with_config(config: &CatalogueConfig) -> Result<Catalogue, CatalogueError> {
        let mut catalogue = Catalogue::builtin();
        for site in &config.metrics {
            let metric = site.to_metric();
            if !is_canonical_unit(&metric.unit) {
                return Err(CatalogueError::UnknownUnit { metric: metric.name, unit: metric.unit });
            }
            catalogue.push_metric(metric)?;
        }
        for (alias, name) in &config.aliases {
            catalogue.add_named_alias(alias, name.trim())?;
        }
        catalogue.index_loinc();
        Ok(catalogue)
    }

    /// Builds a catalogue from the metric table and the alias table (both with headers, in the
    /// formats of `data/vitals-catalogue.csv` and `data/metric-aliases.csv`; `#` lines are
    /// comments). Fields are separated by commas and cannot contain one.
    pub fn from_csv(metrics_csv: &str, aliases_csv: &str) -> Result<Catalogue, CatalogueError> {
        let mut catalogue = Catalogue::empty();
        for (line, row) in data_rows(metrics_csv) {
            catalogue.push_metric(parse_metric_row(line, row)?)?;
        }
        for (line, row) in data_rows(aliases_csv) {
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            let [alias, name] = fields[..] else {
                return Err(CatalogueError::BadRow { line, message: "expected alias,metric".into() });
            };
            catalogue.add_named_alias(alias, name)?;
        }
        catalogue.index_loinc();
        Ok(catalogue)
    }
}

/// True when the units module has `unit` as a canonical unit (a row converting `unit` into
/// itself). Reads the units module's own table; the list is not repeated here.
fn is_canonical_unit(unit: &str) -> bool {
    crate::units::UNITS.iter().any(|row| row.alias == unit && row.canonical == unit)
}

/// Non-empty, non-comment lines after the header, with 1-based line numbers.
fn data_rows(csv: &str) -> impl Iterator<Item = (usize, &str)> {
    csv.lines()
        .enumerate()
        .skip(1)
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn parse_metric_row(line: usize, row: &str) -> Result<Metric, CatalogueError> {
    let bad = |message: String| CatalogueError::BadRow { line, message };
    let f: Vec<&str> = row.split(',').map(str::trim).collect();
    let [name, mdc_ref_id, mdc_code, loinc, ucum, display, min, max, status] = f[..] else {
        return Err(bad(format!("expected 9 fields, found {}", f.len())));
    };
    let number = |s: &str, what: &str| s.parse::<f64>().map_err(|_| bad(format!("{what} {s:?} is not a number")));
    Ok(Metric {
        id: 0,
        name: name.to_string(),
        mdc_ref_id: mdc_ref_id.to_string(),
        mdc_code: mdc_code.parse().map_err(|_| bad(format!("mdc_code {mdc_code:?} is not an integer")))?,
        loinc: (!loinc.is_empty()).then(|| loinc.to_string()),
        unit: ucum.to_string(),
        display: display.to_string(),
        plausible_min: number(min, "plausible_min")?,
        plausible_max: number(max, "plausible_max")?,
        verified: match status {
            "ok" => true,
            "verify" => false,
            other => return Err(bad(format!("status {other:?} is neither ok nor verify"))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_adds_nothing() {
        let c = Catalogue::with_config(&CatalogueConfig::default()).unwrap();
        assert_eq!(c.metrics(), Catalogue::builtin().metrics());
    }

    #[test]
    fn the_canonical_units_are_those_the_units_module_converts_into() {
        for unit in ["/min", "mm[Hg]", "Cel", "%", "mV"] {
            assert!(is_canonical_unit(unit), "{unit}");
        }
        for unit in ["mmHg", "bpm", "degF", "furlong", ""] {
            assert!(!is_canonical_unit(unit), "{unit}");
        }
    }

    #[test]
    fn an_inverted_plausible_range_is_refused() {
        let mut m = Catalogue::builtin().by_name("cvp").map(|m| (**m).clone()).unwrap();
        (m.name, m.mdc_ref_id, m.mdc_code, m.plausible_min) = ("x".into(), "MDC_X".into(), 1, 99.0);
        let err = Catalogue::empty().push_metric(m).unwrap_err();
        assert_eq!(err.to_string(), "metric \"x\": plausible range 99..50 is empty");
    }
}
