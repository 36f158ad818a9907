//! The metric catalogue: one table of every metric wardstream stores, and the names devices use
//! for them.
//!
//! The built-in catalogue is compiled from `data/vitals-catalogue.csv` (one row a metric) and
//! `data/metric-aliases.csv` (vendor and export names); a site adds to it in configuration
//! ([`Catalogue::with_config`], `catalogue_config.rs`). A metric is found, ignoring ASCII case, by
//! - its catalogue name (`heart_rate`), MDC reference id (`MDC_ECG_HEART_RATE`) or MDC numeric
//!   code (`147842`);
//! - an alias row (`HR`, `ABPSys`, Masimo `SPHB`, Philips `NBPs`, `NOM_PULS_RATE`, …);
//! - its LOINC code (`8867-4`), under the rule below;
//! - an HL7 v2 coded element `code^text^system[^alt code^alt text^alt system]`, as OBX-3 carries
//!   it (`147842^MDC_ECG_HEART_RATE^MDC`): see [`Catalogue::lookup_coded`].
//!
//! **LOINC rule.** Each metric's `loinc` column holds only a LOINC term that describes exactly that
//! measurement, and every such code is also a lookup key. A method-less LOINC term (8867-4 heart
//! rate, 9279-1 respiratory rate, 8480-6/8462-4/8478-0 systolic/diastolic/mean blood pressure,
//! 8310-5 body temperature) belongs to the most generic metric of its quantity — `heart_rate`,
//! `resp_rate`, `bp_sys`/`bp_dia`/`bp_mean` (MDC_PRESS_BLD_*, site unspecified) and `temp_body` —
//! never to a pulse rate, an NIBP or an arterial pressure, which keep their own codes (76534-7
//! NIBP systolic, 60978-4 invasive pulse rate) or none. When two metrics list the same code, the
//! one earlier in the table keeps the lookup key (the table lists generic metrics first), and an
//! explicit alias row wins over both.
//!
//! Lookups copy and allocate nothing, whatever the name's length: the index
//! (`catalogue/index.rs`) hashes and compares ignoring ASCII case in place.

mod index;

use std::sync::Arc;

use index::NameIndex;

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
    /// LOINC code, when one describes exactly this metric (see the module docs).
    pub loinc: Option<String>,
    /// The canonical UCUM unit every value of this metric is stored in.
    pub unit: String,
    /// Human-readable name.
    pub display: String,
    /// Lowest plausible value (canonical unit).
    pub plausible_min: f64,
    /// Highest plausible value (canonical unit).
    pub plausible_max: f64,
    /// False where the codes were not confirmed in a source (`verify` rows, site metrics).
    pub verified: bool,
}

/// Errors building a catalogue. Each names the row, metric or alias at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// A CSV row could not be read.
    #[error("catalogue line {line}: {message}")]
    BadRow {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// One name, code or alias would denote two different metrics.
    #[error("alias {alias:?} names both {first} and {second}")]
    ConflictingAlias {
        /// The alias.
        alias: String,
        /// The metric it named first.
        first: String,
        /// The metric it named second.
        second: String,
    },
    /// A metric repeats the name, MDC reference id or MDC code of another.
    #[error("metric {metric:?}: {field} {value} already belongs to {existing}")]
    DuplicateMetric {
        /// The metric being added.
        metric: String,
        /// `name`, `mdc_ref_id` or `mdc_code`.
        field: &'static str,
        /// The repeated value.
        value: String,
        /// The metric that has it.
        existing: String,
    },
    /// A metric's unit is not a canonical unit the units module converts into.
    #[error("metric {metric:?}: unit {unit:?} is not a canonical unit wardstream converts into")]
    UnknownUnit {
        /// The metric.
        metric: String,
        /// Its unit.
        unit: String,
    },
    /// An alias names a metric the catalogue does not have.
    #[error("alias {alias:?} names {metric:?}, which is not a catalogue metric")]
    UnknownMetric {
        /// The alias.
        alias: String,
        /// The metric name it gives.
        metric: String,
    },
    /// A metric's own fields are unusable (empty name, empty or inverted plausible range, …).
    #[error("metric {metric:?}: {message}")]
    InvalidMetric {
        /// The metric.
        metric: String,
        /// What is wrong.
        message: String,
    },
}

/// The metric catalogue with its lookup index. Built once, shared read-only (`Arc`).
#[derive(Debug, Clone)]
pub struct Catalogue {
    metrics: Vec<Arc<Metric>>,
    /// Lower-cased name, MDC id, MDC code, LOINC code or alias → index into `metrics`.
    by_alias: NameIndex,
}

impl Catalogue {
    /// A catalogue with no metrics (the built-in one and site additions are built from it).
    pub(crate) fn empty() -> Catalogue {
        Catalogue { metrics: Vec::new(), by_alias: NameIndex::new() }
    }

    /// Appends `metric` (its `id` is assigned here) and indexes its name, MDC id and MDC code.
    pub(crate) fn push_metric(&mut self, mut metric: Metric) -> Result<u16, CatalogueError> {
        let invalid = |message: String| CatalogueError::InvalidMetric { metric: metric.name.clone(), message };
        if metric.name.is_empty() || metric.mdc_ref_id.is_empty() || metric.unit.is_empty() {
            return Err(invalid("name, mdc_ref_id and unit must not be empty".into()));
        }
        let range_ok = metric.plausible_min.is_finite() && metric.plausible_max.is_finite();
        if !range_ok || metric.plausible_min > metric.plausible_max {
            return Err(invalid(format!(
                "plausible range {}..{} is empty",
                metric.plausible_min, metric.plausible_max
            )));
        }
        let id = u16::try_from(self.metrics.len()).map_err(|_| invalid("more than 65535 metrics".into()))?;
        for m in &self.metrics {
            let clash = if m.name == metric.name {
                Some(("name", metric.name.clone()))
            } else if m.mdc_ref_id.eq_ignore_ascii_case(&metric.mdc_ref_id) {
                Some(("mdc_ref_id", metric.mdc_ref_id.clone()))
            } else {
                (m.mdc_code == metric.mdc_code).then(|| ("mdc_code", metric.mdc_code.to_string()))
            };
            if let Some((field, value)) = clash {
                return Err(CatalogueError::DuplicateMetric {
                    metric: metric.name.clone(),
                    field,
                    value,
                    existing: m.name.clone(),
                });
            }
        }
        metric.id = id;
        let keys = [metric.name.clone(), metric.mdc_ref_id.clone(), metric.mdc_code.to_string()];
        self.metrics.push(Arc::new(metric));
        for key in keys {
            self.add_alias(&key, id)?;
        }
        Ok(id)
    }

    /// Adds `alias` for the metric called `name`.
    pub(crate) fn add_named_alias(&mut self, alias: &str, name: &str) -> Result<(), CatalogueError> {
        let Some(metric) = self.by_name(name) else {
            return Err(CatalogueError::UnknownMetric { alias: alias.to_string(), metric: name.to_string() });
        };
        self.add_alias(alias, metric.id)
    }

    fn add_alias(&mut self, alias: &str, id: u16) -> Result<(), CatalogueError> {
        let existing = self.by_alias.get_or_insert(alias.trim(), id);
        if existing == id {
            return Ok(());
        }
        Err(CatalogueError::ConflictingAlias {
            alias: alias.to_string(),
            first: self.metrics[usize::from(existing)].name.clone(),
            second: self.metrics[usize::from(id)].name.clone(),
        })
    }

    /// Makes every metric's LOINC code a lookup key, unless the key already names a metric (an
    /// alias row, or a metric earlier in the table): the LOINC rule of the module docs.
    pub(crate) fn index_loinc(&mut self) {
        for metric in &self.metrics {
            if let Some(loinc) = &metric.loinc {
                self.by_alias.get_or_insert(loinc, metric.id);
            }
        }
    }

    /// The metric a device name denotes (catalogue name, MDC reference id or code, LOINC code,
    /// alias, or an HL7 coded element, see [`Catalogue::lookup_coded`]), ignoring ASCII case and
    /// surrounding white space.
    pub fn lookup(&self, name: &str) -> Option<&Arc<Metric>> {
        let name = name.trim_ascii();
        if name.as_bytes().contains(&b'^') {
            return self.lookup_coded(name);
        }
        self.find(name).and_then(|id| self.metrics.get(usize::from(id)))
    }

    /// The metric an HL7 v2 coded element (CE/CWE: `code^text^system^alt code^alt text^alt
    /// system`) denotes. The code, the text (an MDC reference id such as `MDC_ECG_HEART_RATE`, or
    /// a label), and the alternate code and text are each looked up; the coding-system components
    /// are ignored. At least one must be known, and all that are known must name the same metric
    /// (`147842^PULSE^MDC` names two and is `None`: a name is never guessed). A plain name is
    /// looked up as the code.
    pub fn lookup_coded(&self, element: &str) -> Option<&Arc<Metric>> {
        let mut parts = element.split('^');
        let (code, text) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (alt_code, alt_text) = (parts.nth(1).unwrap_or(""), parts.next().unwrap_or(""));
        let mut found = None;
        for component in [code, text, alt_code, alt_text].map(str::trim_ascii) {
            let Some(id) = (!component.is_empty()).then(|| self.find(component)).flatten() else { continue };
            match found {
                None => found = Some(id),
                Some(first) if first != id => return None,
                Some(_) => {}
            }
        }
        found.and_then(|id| self.metrics.get(usize::from(id)))
    }

    /// The index entry for `key`, ignoring ASCII case.
    #[inline]
    fn find(&self, key: &str) -> Option<u16> {
        self.by_alias.get(key)
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

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "h\nheart_rate,MDC_ECG_HEART_RATE,147842,8867-4,/min,HR,0,350,ok\n\
                       pulse_rate_nibp,MDC_PULS_RATE_NON_INV,149546,8867-4,/min,PR,0,350,ok\n";

    #[test]
    fn a_loinc_code_shared_by_two_metrics_goes_to_the_first_unless_an_alias_row_says_otherwise() {
        let c = Catalogue::from_csv(TWO, "a,m\n").unwrap();
        assert_eq!(c.lookup("8867-4").unwrap().name, "heart_rate");
        let c = Catalogue::from_csv(TWO, "a,m\n8867-4,pulse_rate_nibp\n").unwrap();
        assert_eq!(c.lookup("8867-4").unwrap().name, "pulse_rate_nibp");
    }

    #[test]
    fn a_conflicting_alias_and_a_duplicate_code_are_rejected_by_name() {
        let err = Catalogue::from_csv(TWO, "a,m\nX,heart_rate\nx,pulse_rate_nibp\n").unwrap_err();
        assert_eq!(err.to_string(), "alias \"x\" names both heart_rate and pulse_rate_nibp");
        let dup = "h\na,MDC_A,1,,/min,A,0,1,ok\nb,MDC_B,1,,/min,B,0,1,ok\n";
        let err = Catalogue::from_csv(dup, "a,m\n").unwrap_err();
        assert_eq!(err.to_string(), "metric \"b\": mdc_code 1 already belongs to a");
    }

    #[test]
    fn a_malformed_row_names_its_line() {
        let err = Catalogue::from_csv("h\nheart_rate,MDC,notanumber,,/min,HR,0,350,ok\n", "a,m\n").unwrap_err();
        assert_eq!(err.to_string(), "catalogue line 2: mdc_code \"notanumber\" is not an integer");
        let err = Catalogue::from_csv(TWO, "a,m\nHF,heart_rat\n").unwrap_err();
        assert_eq!(err.to_string(), "alias \"HF\" names \"heart_rat\", which is not a catalogue metric");
    }
}
