//! [`QualityReport`]: how much of what the devices sent is defective, per device and per metric,
//! read from the stored tables with SQL.
//!
//! Every reading that reached wardstream is either a row of `vitals` or a row of
//! `dead_letters`, so the two tables together account for all of it:
//!
//! - **stored** readings (`vitals`) are counted per quality flag from the `flags` list
//!   (`array_has(flags, 'clock_corrected')`, …: a reading with two flags counts under both),
//!   and as **valid** when they have none (`status = 'valid'`);
//! - **dead letters** are counted per `reason` (`unknown_metric`, `unknown_unit`, `duplicate`,
//!   and every other reason by name);
//! - **defective** = stored readings with any flag + dead letters, **total** = stored readings +
//!   dead letters, and the **defect rate** = defective / total, an exact fraction given in
//!   ten-thousandths rounded half up ([`QualityCounts::defect_rate_per_10000`], printed with
//!   four decimals by [`QualityCounts::defect_rate`]).
//!
//! Groups: [`QualityReport::by_device`] by `device_id` (a dead letter whose device could not be
//! determined has the key `None`); [`QualityReport::by_metric`] by catalogue `metric`. A dead
//! letter has no `metric` column, so its `source_name` (the name as the device sent it) is
//! resolved with the built-in catalogue as the normaliser resolves names (catalogue name, MDC
//! id or code, alias; any case): an unknown unit or a duplicate of `HR` counts under
//! `heart_rate`; a name that resolves to nothing (`unknown_metric`) is its own key, as sent; a
//! payload rejected whole has the key `None`. Groups are sorted by key, `None` last; the totals
//! are the sum of the device groups (each row is in exactly one).
//!
//! `since` keeps rows **received** at or after that time (`received_at`, the one time column
//! both tables have, and the one a device with a wrong clock cannot move).

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use wardstream_pipeline::time::{format_day, utc_day};
use wardstream_pipeline::{Catalogue, Flag, Micros, Reason};

use crate::error::{Error, Result};
use crate::query::QuerySession;

/// The dead-letter reasons a report shows in columns of their own; the rest are "other".
pub const NAMED_REASONS: [Reason; 3] = [Reason::UnknownMetric, Reason::UnknownUnit, Reason::Duplicate];

/// The counts of one group (or of everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QualityCounts {
    /// Rows in `vitals`.
    pub stored: u64,
    /// Stored readings without any data-quality flag. `unassociated` (no patient at the time) is
    /// an association state, not a defect of the data: a reading carrying only it counts as valid.
    pub valid: u64,
    /// Stored readings carrying each flag, in the order of [`Flag::ALL`] (`patient_mismatch`,
    /// `implausible`, `questionable`, `future_time`, `unassociated`, `clock_corrected`,
    /// `preliminary`, `corrected`); see [`QualityCounts::flag`].
    pub flags: [u64; Flag::ALL.len()],
    /// Rows in `dead_letters`, by reason.
    pub dead_letters: BTreeMap<String, u64>,
}

impl QualityCounts {
    /// Stored readings carrying `flag`.
    pub fn flag(&self, flag: Flag) -> u64 {
        Flag::ALL.iter().position(|f| *f == flag).map_or(0, |i| self.flags[i])
    }

    /// Dead letters with `reason`.
    pub fn dead_letters_with(&self, reason: Reason) -> u64 {
        self.dead_letters.get(reason.as_str()).copied().unwrap_or(0)
    }

    /// Dead letters of the reasons other than [`NAMED_REASONS`], by reason (none with a zero
    /// count).
    pub fn other_dead_letters(&self) -> BTreeMap<&str, u64> {
        let named = NAMED_REASONS.map(Reason::as_str);
        self.dead_letters.iter().filter(|(r, _)| !named.contains(&r.as_str())).map(|(r, n)| (r.as_str(), *n)).collect()
    }

    /// All dead letters.
    pub fn dead_letters_total(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    /// Stored readings plus dead letters: everything received.
    pub fn total(&self) -> u64 {
        self.stored + self.dead_letters_total()
    }

    /// Stored readings with at least one flag, plus dead letters.
    pub fn defective(&self) -> u64 {
        self.stored.saturating_sub(self.valid) + self.dead_letters_total()
    }

    /// [`defective`](Self::defective) / [`total`](Self::total) in ten-thousandths, rounded half
    /// up, computed on integers; `None` when the total is 0.
    pub fn defect_rate_per_10000(&self) -> Option<u64> {
        let (defective, total) = (u128::from(self.defective()), u128::from(self.total()));
        let rate = (defective * 20_000 + total).checked_div(2 * total)?;
        u64::try_from(rate).ok()
    }

    /// The defect rate as a decimal fraction with four decimals (`0.0125`, `1.0000`); `None`
    /// when the total is 0.
    pub fn defect_rate(&self) -> Option<String> {
        self.defect_rate_per_10000().map(|r| format!("{}.{:04}", r / 10_000, r % 10_000))
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &QualityCounts) {
        self.stored += other.stored;
        self.valid += other.valid;
        for (mine, theirs) in self.flags.iter_mut().zip(other.flags) {
            *mine += theirs;
        }
        for (reason, n) in &other.dead_letters {
            *self.dead_letters.entry(reason.clone()).or_default() += n;
        }
    }
}

/// The counts of one device or metric; `key` is `None` for dead letters without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityGroup {
    /// The device id, or the metric (see the module docs for dead letters).
    pub key: Option<String>,
    /// Its counts.
    pub counts: QualityCounts,
}

/// The defect report (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityReport {
    /// Only rows received at or after this time (µs, UTC) are counted; `None`: all rows.
    pub since: Option<Micros>,
    /// Everything.
    pub totals: QualityCounts,
    /// Per device, sorted by device id, `None` last.
    pub by_device: Vec<QualityGroup>,
    /// Per metric, sorted by key, `None` last.
    pub by_metric: Vec<QualityGroup>,
}

type Groups = BTreeMap<Option<String>, QualityCounts>;

impl QualityReport {
    /// Runs the report's queries over the session's tables: four aggregations (stored and dead
    /// letters, by device and by metric), nothing read row by row.
    pub async fn query(session: &QuerySession, since: Option<Micros>) -> Result<QualityReport> {
        let mut by_device = Groups::new();
        add_vitals(&mut by_device, &session.sql(&vitals_sql("device_id", since)).await?)?;
        add_dead_letters(&mut by_device, &session.sql(&dead_letters_sql("device_id", since)).await?, |key| key)?;
        let catalogue = Catalogue::builtin();
        let metric = |name: String| catalogue.lookup(&name).map_or(name, |metric| metric.name.clone());
        let mut by_metric = Groups::new();
        add_vitals(&mut by_metric, &session.sql(&vitals_sql("metric", since)).await?)?;
        let dead_letters = session.sql(&dead_letters_sql("source_name", since)).await?;
        add_dead_letters(&mut by_metric, &dead_letters, |name| name.map(metric))?;
        let mut totals = QualityCounts::default();
        by_device.values().for_each(|counts| totals.add(counts));
        Ok(QualityReport { since, totals, by_device: sorted(by_device), by_metric: sorted(by_metric) })
    }
}

/// Counts of `vitals` grouped by `key`: rows, valid rows, then one column per flag.
fn vitals_sql(key: &str, since: Option<Micros>) -> String {
    let flags: String =
        Flag::ALL.iter().map(|f| format!(", count(*) FILTER (WHERE array_has(flags, '{}'))", f.as_str())).collect();
    let filter = since.map_or(String::new(), |t| format!(" WHERE received_at >= to_timestamp_micros({t})"));
    format!(
        "SELECT {key}, count(*), count(*) FILTER (WHERE cardinality(array_remove(flags, 'unassociated')) = 0){flags} FROM vitals{filter} GROUP BY {key}"
    )
}

/// Counts of `dead_letters` grouped by `key` and reason. The partitions are the UTC dates of
/// `received_at`, so `since` also prunes whole directories.
fn dead_letters_sql(key: &str, since: Option<Micros>) -> String {
    let filter = since.map_or(String::new(), |t| {
        format!(" WHERE date >= '{}' AND received_at >= to_timestamp_micros({t})", format_day(utc_day(t)))
    });
    format!("SELECT {key}, reason, count(*) FROM dead_letters{filter} GROUP BY {key}, reason")
}

fn add_vitals(groups: &mut Groups, batches: &[RecordBatch]) -> Result<()> {
    for batch in batches {
        let keys = strings(batch, 0)?;
        let counts = (1..batch.num_columns()).map(|c| integers(batch, c)).collect::<Result<Vec<_>>>()?;
        for (row, key) in keys.into_iter().enumerate() {
            let group = groups.entry(key).or_default();
            group.stored += counts[0][row];
            group.valid += counts[1][row];
            for (flag, column) in group.flags.iter_mut().zip(&counts[2..]) {
                *flag += column[row];
            }
        }
    }
    Ok(())
}

/// Adds dead-letter counts, each under `group(key)`.
fn add_dead_letters(
    groups: &mut Groups,
    batches: &[RecordBatch],
    group: impl Fn(Option<String>) -> Option<String>,
) -> Result<()> {
    for batch in batches {
        let rows = strings(batch, 0)?.into_iter().zip(strings(batch, 1)?).zip(integers(batch, 2)?);
        for ((key, reason), n) in rows {
            let reason = reason.ok_or_else(|| Error::Sql("a dead letter has no reason".into()))?;
            *groups.entry(group(key)).or_default().dead_letters.entry(reason).or_default() += n;
        }
    }
    Ok(())
}

/// Column `index` as optional strings, whatever string type DataFusion chose.
fn strings(batch: &RecordBatch, index: usize) -> Result<Vec<Option<String>>> {
    let column = arrow::compute::cast(batch.column(index), &DataType::Utf8)?;
    Ok(column.as_string::<i32>().iter().map(|s| s.map(str::to_owned)).collect())
}

/// Column `index` as counts (non-null, non-negative integers).
fn integers(batch: &RecordBatch, index: usize) -> Result<Vec<u64>> {
    let column = arrow::compute::cast(batch.column(index), &DataType::Int64)?;
    let column = column.as_primitive::<Int64Type>();
    if column.null_count() > 0 {
        return Err(Error::Sql(format!("quality report: column {index} has null counts")));
    }
    column.values().iter().map(|&n| u64::try_from(n).map_err(|_| Error::Sql(format!("negative count {n}")))).collect()
}

/// The groups sorted by key, `None` (no device, no name) last.
fn sorted(groups: Groups) -> Vec<QualityGroup> {
    let mut groups: Vec<QualityGroup> = groups.into_iter().map(|(key, counts)| QualityGroup { key, counts }).collect();
    groups.sort_by(|a, b| (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key)));
    groups
}

#[cfg(test)]
#[path = "quality_tests.rs"]
mod tests;
