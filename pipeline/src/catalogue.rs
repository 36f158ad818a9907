//! The metric catalogue: one table of every metric wardstream stores, and the aliases devices
//! use for them.
//!
//! The built-in catalogue is compiled from `data/vitals-catalogue.csv` (one row a metric) and
//! `data/metric-aliases.csv` (vendor and export names). A metric is found, case-insensitively,
//! by its catalogue name (`heart_rate`), its MDC reference id (`MDC_ECG_HEART_RATE`), its MDC
//! numeric code (`147842`) or an alias (`HR`). Lookups allocate nothing for names up to 64 bytes.

use std::collections::HashMap;
use std::sync::Arc;

const BUILTIN_METRICS: &str = include_str!("../data/vitals-catalogue.csv");
const BUILTIN_ALIASES: &str = include_str!("../data/metric-aliases.csv");

/// Longest name looked up without allocating.
const INLINE_NAME: usize = 64;

/// One catalogue metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Position in the catalogue.
    pub id: u16,
    /// wardstream's name, stored in the `metric` column (`heart_rate`).
    pub name: String,
    /// IEEE 11073-10101 reference id (`MDC_ECG_HEART_RATE`).
    pub mdc_ref_id: String,
    /// IEEE 11073-10101 numeric code (partition × 65536 + term code), `mdc_code` column.
    pub mdc_code: i32,
    /// LOINC code, when one applies.
    pub loinc: Option<String>,
    /// The canonical UCUM unit every value of this metric is stored in.
    pub unit: String,
    /// Human-readable name.
    pub display: String,
    /// Lowest plausible value (canonical unit).
    pub plausible_min: f64,
    /// Highest plausible value (canonical unit).
    pub plausible_max: f64,
    /// False where the codes were not confirmed against NIST RTMMS / LOINC (`verify` rows).
    pub verified: bool,
}

/// Errors building a catalogue from CSV.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// A row could not be read.
    #[error("catalogue line {line}: {message}")]
    BadRow {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// One alias names two different metrics.
    #[error("alias {alias:?} names both {first} and {second}")]
    ConflictingAlias {
        /// The alias.
        alias: String,
        /// The metric it named first.
        first: String,
        /// The metric it named second.
        second: String,
    },
}

/// The metric catalogue with its alias index.
#[derive(Debug, Clone)]
pub struct Catalogue {
    metrics: Vec<Arc<Metric>>,
    /// Lower-cased name/alias → index into `metrics`.
    by_alias: HashMap<Box<str>, u16>,
}

impl Catalogue {
    /// The catalogue compiled into the binary.
    pub fn builtin() -> Catalogue {
        match Catalogue::from_csv(BUILTIN_METRICS, BUILTIN_ALIASES) {
            Ok(c) => c,
            // The built-in tables are constants checked by `builtin_catalogue_loads`; failing
            // here means the binary itself was built broken.
            Err(e) => panic!("built-in metric catalogue is invalid: {e}"),
        }
    }

    /// Builds a catalogue from the metric table and the alias table (both with headers, in the
    /// formats of `data/vitals-catalogue.csv` and `data/metric-aliases.csv`).
    pub fn from_csv(metrics_csv: &str, aliases_csv: &str) -> Result<Catalogue, CatalogueError> {
        let mut catalogue = Catalogue { metrics: Vec::new(), by_alias: HashMap::new() };
        for (line, row) in data_rows(metrics_csv) {
            let metric = parse_metric_row(line, row, catalogue.metrics.len())?;
            let keys = [metric.name.clone(), metric.mdc_ref_id.clone(), metric.mdc_code.to_string()];
            let id = metric.id;
            catalogue.metrics.push(Arc::new(metric));
            for key in keys {
                catalogue.add_alias(&key, id)?;
            }
        }
        for (line, row) in data_rows(aliases_csv) {
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            let [alias, name] = fields[..] else {
                return Err(CatalogueError::BadRow { line, message: "expected alias,metric".into() });
            };
            let Some(id) = catalogue.metrics.iter().position(|m| m.name == name) else {
                return Err(CatalogueError::BadRow { line, message: format!("unknown metric {name:?}") });
            };
            catalogue.add_alias(alias, id as u16)?;
        }
        Ok(catalogue)
    }

    fn add_alias(&mut self, alias: &str, id: u16) -> Result<(), CatalogueError> {
        let key: Box<str> = alias.to_ascii_lowercase().into();
        match self.by_alias.get(&key) {
            Some(&existing) if existing != id => Err(CatalogueError::ConflictingAlias {
                alias: alias.to_string(),
                first: self.metrics[existing as usize].name.clone(),
                second: self.metrics[id as usize].name.clone(),
            }),
            _ => {
                self.by_alias.insert(key, id);
                Ok(())
            }
        }
    }

    /// The metric a device name denotes (catalogue name, MDC reference id or code, or alias),
    /// ignoring ASCII case.
    pub fn lookup(&self, name: &str) -> Option<&Arc<Metric>> {
        let name = name.trim();
        let id = if name.len() <= INLINE_NAME {
            let mut buf = [0u8; INLINE_NAME];
            let lowered = &mut buf[..name.len()];
            lowered.copy_from_slice(name.as_bytes());
            lowered.make_ascii_lowercase();
            // Lower-casing ASCII bytes of valid UTF-8 keeps it valid UTF-8.
            let key = std::str::from_utf8(lowered).ok()?;
            self.by_alias.get(key)
        } else {
            self.by_alias.get(name.to_ascii_lowercase().as_str())
        }?;
        self.metrics.get(*id as usize)
    }

    /// The metric with this catalogue name (exact).
    pub fn by_name(&self, name: &str) -> Option<&Arc<Metric>> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Every metric, in catalogue order.
    pub fn metrics(&self) -> &[Arc<Metric>] {
        &self.metrics
    }
}

/// Non-empty, non-comment lines after the header, with 1-based line numbers.
fn data_rows(csv: &str) -> impl Iterator<Item = (usize, &str)> {
    csv.lines()
        .enumerate()
        .skip(1)
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn parse_metric_row(line: usize, row: &str, index: usize) -> Result<Metric, CatalogueError> {
    let bad = |message: String| CatalogueError::BadRow { line, message };
    let f: Vec<&str> = row.split(',').map(str::trim).collect();
    let [name, mdc_ref_id, mdc_code, loinc, ucum, display, min, max, status] = f[..] else {
        return Err(bad(format!("expected 9 fields, found {}", f.len())));
    };
    let number = |s: &str, what: &str| s.parse::<f64>().map_err(|_| bad(format!("{what} {s:?} is not a number")));
    let id = u16::try_from(index).map_err(|_| bad("more than 65535 metrics".into()))?;
    Ok(Metric {
        id,
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
    fn builtin_catalogue_loads_every_row_of_the_shared_table() {
        let c = Catalogue::builtin();
        assert_eq!(c.metrics().len(), 25);
        let hr = c.by_name("heart_rate").unwrap();
        assert_eq!((hr.mdc_code, hr.loinc.as_deref(), hr.unit.as_str()), (147842, Some("8867-4"), "/min"));
        assert!(hr.verified);
        assert!(!c.by_name("abp_sys").unwrap().verified);
        assert_eq!(c.by_name("pap_sys").unwrap().loinc, None);
    }

    #[test]
    fn metrics_are_found_by_name_mdc_id_code_and_alias_ignoring_case() {
        let c = Catalogue::builtin();
        for name in ["heart_rate", "MDC_ECG_HEART_RATE", "mdc_ecg_heart_rate", "147842", "HR", "hr"] {
            assert_eq!(c.lookup(name).map(|m| m.name.as_str()), Some("heart_rate"), "{name}");
        }
        assert_eq!(c.lookup("SpO2").unwrap().name, "spo2");
        assert_eq!(c.lookup("150456").unwrap().name, "spo2");
        assert!(c.lookup("voltage").is_none());
        assert!(c.lookup(&"x".repeat(100)).is_none());
    }

    #[test]
    fn every_mimic2_numerics_header_name_maps_to_its_metric() {
        let c = Catalogue::builtin();
        let expected = [
            ("HR", "heart_rate"),
            ("ABPSys", "abp_sys"),
            ("ABPDias", "abp_dia"),
            ("ABPMean", "abp_mean"),
            ("PULSE", "pulse_rate_spo2"),
            ("RESP", "resp_rate"),
            ("SpO2", "spo2"),
            ("NBPSys", "nibp_sys"),
            ("NBPDias", "nibp_dia"),
            ("NBPMean", "nibp_mean"),
        ];
        for (alias, metric) in expected {
            assert_eq!(c.lookup(alias).map(|m| m.name.as_str()), Some(metric), "{alias}");
        }
    }

    #[test]
    fn a_conflicting_alias_is_rejected() {
        let metrics = "h\nheart_rate,MDC_ECG_HEART_RATE,147842,8867-4,/min,HR,0,350,ok\nspo2,MDC_PULS_OXIM_SAT_O2,150456,59408-5,%,SpO2,0,100,ok\n";
        let err = Catalogue::from_csv(metrics, "alias,metric\nX,heart_rate\nx,spo2\n").unwrap_err();
        assert!(matches!(err, CatalogueError::ConflictingAlias { .. }), "{err}");
    }

    #[test]
    fn a_malformed_row_names_its_line() {
        let err = Catalogue::from_csv("h\nheart_rate,MDC,notanumber,,/min,HR,0,350,ok\n", "a,m\n").unwrap_err();
        assert_eq!(err.to_string(), "catalogue line 2: mdc_code \"notanumber\" is not an integer");
    }
}
