//! [`format_batches`]: query results as text, in one of the [`OutputFormat`]s.

use std::str::FromStr;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;

use crate::error::{Error, Result};

/// How to print query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OutputFormat {
    /// An aligned text table with borders (Arrow's pretty printer), ending in a newline.
    #[default]
    Table,
    /// CSV with one header line, comma-separated, `\n` line ends. Nulls are empty fields.
    Csv,
    /// Newline-delimited JSON: one object per row, keys in column order, nulls written as
    /// `null`, timestamps as RFC 3339 strings, binary as hex strings.
    Json,
}

impl FromStr for OutputFormat {
    type Err = Error;

    /// `table`, `csv` or `json` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            _ => Err(Error::Config(format!("unknown output format {s:?} (expected table, csv or json)"))),
        }
    }
}

/// Formats `batches` (one result, all of one schema) as text.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Table => Ok(format!("{}\n", arrow::util::pretty::pretty_format_batches(batches)?)),
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(Vec::new());
            for batch in batches {
                writer.write(batch)?;
            }
            utf8(writer.into_inner())
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            utf8(writer.into_inner())
        }
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| Error::Arrow(ArrowError::ExternalError(Box::new(e))))
}
