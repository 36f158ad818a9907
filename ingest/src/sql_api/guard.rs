//! The statement guard: exactly one `SELECT` (a query, `WITH … SELECT`, `VALUES`, set
//! operations), no table functions other than the number generators `generate_series` and
//! `range`. Everything else is refused before planning with a message naming what was found.
//!
//! The session behind it is also built read-only (`SQLOptions` without DDL, DML or
//! statements; no URL tables), so the guard is the first of two locks, and the one with the
//! clear messages.

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::{SetExpr, Statement as SqlStatement, TableFactor, Visit, Visitor};

/// Table functions allowed: they generate numbers and read nothing.
pub const ALLOWED_TABLE_FUNCTIONS: [&str; 2] = ["generate_series", "range"];

/// Checks `sql`; `Err` carries the reason for the caller (one line).
pub fn check(sql: &str) -> Result<(), String> {
    let statements = DFParser::parse_sql(sql).map_err(|e| format!("SQL syntax: {}", one_line(&e.to_string())))?;
    let statement = match statements.len() {
        0 => return Err("no SQL statement given".into()),
        1 => statements.into_iter().next().ok_or("no SQL statement given")?,
        n => return Err(format!("one statement per request, {n} were given")),
    };
    match statement {
        Statement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(query) => {
                if let SetExpr::Select(select) = query.body.as_ref()
                    && select.into.is_some()
                {
                    return Err("only SELECT queries are allowed (read-only), not SELECT INTO (creates a table)".into());
                }
                let mut visitor = TableFunctions;
                match inner.visit(&mut visitor) {
                    ControlFlow::Break(reason) => Err(reason),
                    ControlFlow::Continue(()) => Ok(()),
                }
            }
            other => Err(format!("only SELECT queries are allowed (read-only), not {}", keyword(&other.to_string()))),
        },
        Statement::CreateExternalTable(_) => {
            Err("only SELECT queries are allowed (read-only), not CREATE EXTERNAL TABLE (reading files)".into())
        }
        Statement::CopyTo(_) => Err("only SELECT queries are allowed (read-only), not COPY".into()),
        Statement::Explain(_) => Err("only SELECT queries are allowed (read-only), not EXPLAIN".into()),
        Statement::Reset(_) => Err("only SELECT queries are allowed (read-only), not RESET".into()),
    }
}

/// The first two words of a statement, upper-cased (`CREATE TABLE`, `INSERT INTO`, `SET x`).
fn keyword(statement: &str) -> String {
    statement.split_whitespace().take(2).collect::<Vec<_>>().join(" ").to_uppercase()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct TableFunctions;

impl Visitor for TableFunctions {
    type Break = String;

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        let name = match factor {
            TableFactor::Table { name, args: Some(_), .. } => name.to_string(),
            TableFactor::Function { name, .. } => name.to_string(),
            TableFactor::TableFunction { expr, .. } => expr.to_string(),
            TableFactor::JsonTable { .. } | TableFactor::OpenJsonTable { .. } | TableFactor::XmlTable { .. } => {
                return ControlFlow::Break("JSON_TABLE, OPENJSON and XMLTABLE are not allowed".into());
            }
            _ => return ControlFlow::Continue(()),
        };
        let bare = name.trim_matches('"').to_lowercase();
        if ALLOWED_TABLE_FUNCTIONS.contains(&bare.as_str()) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(format!(
                "table function {name} is not allowed (no reading of files; allowed: {})",
                ALLOWED_TABLE_FUNCTIONS.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_pass() {
        for sql in [
            "SELECT 1",
            "select count(*) from vitals where metric = 'heart_rate'",
            "WITH x AS (SELECT * FROM vitals) SELECT * FROM x",
            "SELECT * FROM generate_series(1, 10)",
            "SELECT * FROM range(5) UNION ALL SELECT 1",
            "SELECT 1;",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn everything_else_is_refused_by_name() {
        let cases = [
            ("CREATE TABLE t (a INT)", "not CREATE TABLE"),
            ("DROP TABLE vitals", "not DROP TABLE"),
            ("INSERT INTO vitals VALUES (1)", "not INSERT INTO"),
            ("DELETE FROM vitals", "not DELETE FROM"),
            ("UPDATE vitals SET value = 1", "not UPDATE VITALS"),
            ("SET datafusion.execution.batch_size = 1", "not SET DATAFUSION.EXECUTION.BATCH_SIZE"),
            ("COPY vitals TO '/tmp/x.csv'", "not COPY"),
            ("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'", "not CREATE EXTERNAL TABLE"),
            ("EXPLAIN SELECT 1", "not EXPLAIN"),
            ("CREATE VIEW v AS SELECT 1", "not CREATE VIEW"),
            ("SELECT 1; SELECT 2", "one statement per request, 2 were given"),
            ("SELECT * FROM read_parquet('/etc/x.parquet')", "table function read_parquet is not allowed"),
            ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv is not allowed"),
            ("SELECT * FROM vitals v JOIN read_json('/x') j ON true", "table function read_json is not allowed"),
            ("", "no SQL statement given"),
            ("SELECT * INTO t2 FROM vitals", "not SELECT INTO"),
            ("PREPARE p AS SELECT 1", "not PREPARE P"),
            ("SHOW TABLES", "not SHOW TABLES"),
        ];
        for (sql, want) in cases {
            let err = check(sql).unwrap_err();
            assert!(err.contains(want), "{sql}: {err}");
        }
    }
}
