//! The audit log as the SQL table `audit` (for `admin` and for `wardstream query`).
//!
//! Columns: `seq` (UInt64), `time` (Timestamp µs UTC), `user`, `role`, `action` (Utf8),
//! `patient_ids` (List<Utf8>: use `array_has(patient_ids, 'P1')`), `result_count` (UInt64),
//! `client`, `prev_hash`, `hash` (Utf8). The file is read into memory when the table is
//! registered: a snapshot of the complete records at that moment (an incomplete last line is
//! left out). The chain is not checked here: that is `wardstream audit verify`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::AuditError;
use super::record::AuditRecord;
use super::trail::{LOG_FILE, audit_dir};

/// The table name.
pub const TABLE: &str = "audit";

/// The table's schema.
pub fn schema() -> SchemaRef {
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        utf8("user"),
        utf8("role"),
        utf8("action"),
        Field::new("patient_ids", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
        Field::new("result_count", DataType::UInt64, false),
        utf8("client"),
        utf8("prev_hash"),
        utf8("hash"),
    ]))
}

/// The complete records of the log of `data_dir` (none when there is no log).
pub fn read_records(data_dir: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    let path = audit_dir(data_dir).join(LOG_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::Io { path, source: e }),
    };
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| AuditError::Io { path: path.clone(), source: e })?;
        let Some(body) = line.strip_suffix(b"\n") else { break };
        debug_assert!(n > 0);
        let record = AuditRecord::parse(body).map_err(|e| AuditError::Corrupt {
            path: path.clone(),
            detail: format!("line {}: {e}", records.len() + 1),
        })?;
        records.push(record);
    }
    Ok(records)
}

/// The records as one batch of [`schema`].
pub fn to_batch(records: &[AuditRecord]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let strings = |f: fn(&AuditRecord) -> &str| -> ArrayRef {
        let mut b = StringBuilder::new();
        for r in records {
            b.append_value(f(r));
        }
        Arc::new(b.finish())
    };
    let times: TimestampMicrosecondArray = records
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(&r.time).ok().map(|t| t.timestamp_micros()))
        .collect();
    let mut ids = ListBuilder::new(StringBuilder::new());
    for r in records {
        for id in &r.patient_ids {
            ids.values().append_value(id);
        }
        ids.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(records.iter().map(|r| r.seq).collect::<UInt64Array>()),
        Arc::new(times.with_timezone("UTC")),
        strings(|r| &r.user),
        strings(|r| &r.role),
        strings(|r| &r.action),
        Arc::new(ids.finish()),
        Arc::new(records.iter().map(|r| r.result_count).collect::<UInt64Array>()),
        strings(|r| &r.client),
        strings(|r| &r.prev_hash),
        strings(|r| &r.hash),
    ];
    RecordBatch::try_new(schema(), columns)
}

/// Registers the log of `data_dir` as table `audit` in `ctx` (a snapshot taken now).
pub fn register(ctx: &SessionContext, data_dir: &Path) -> anyhow::Result<()> {
    let records = read_records(data_dir)?;
    let batch = to_batch(&records)?;
    let table = MemTable::try_new(schema(), vec![vec![batch]])?;
    ctx.register_table(TABLE, Arc::new(table))?;
    Ok(())
}
