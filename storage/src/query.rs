//! [`QuerySession`]: SQL over the tables with DataFusion.
//!
//! Both tables are registered as listing tables over their directories, with the explicit
//! schemas of [`schema`](crate::schema) (never inferred, so empty tables work and every file
//! is read with the same types; text columns as `Utf8View`, see [`read_schema`]) and the hive
//! partition column `date` as Utf8. `date_trunc` is [`crate::date_trunc`]'s (DataFusion's,
//! with integer arithmetic for UTC timestamps). `vitals` is a
//! view over its listing table that returns `source_value` as `COALESCE(source_value, value)`:
//! the files leave it null where it equals `value` (see [`schema`](crate::schema)), and SQL
//! users see the value as sent either way.
//!
//! Design: the session is meant to live long (a CLI shell, a service endpoint) while the
//! writer keeps adding files. DataFusion 55 caches directory listings with no expiry, which
//! would hide every file written after the first query (PITFALLS); the session's runtime is
//! built with that cache disabled (`with_object_list_cache_limit(0)`), so each query lists the
//! directories afresh. Files are immutable once renamed into place, so the per-file metadata
//! and statistics caches stay correct.
//!
//! The session is read-only: DDL (`CREATE`, `DROP`) and DML (`INSERT`, `COPY`) are refused, so
//! an analyst cannot write files into the tables behind the writer's back. `SET` is allowed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::Column;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::provider_as_source;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};

use crate::compaction::ReadGuard;
use crate::error::{Error, Result};
use crate::layout::{PARQUET_EXTENSION, table_dir};
use crate::schema::{PARTITION_COLUMN, Table};

/// A DataFusion session with `vitals` and `dead_letters` registered (see the module docs).
#[derive(Clone)]
pub struct QuerySession {
    ctx: SessionContext,
    data_dir: PathBuf,
}

impl std::fmt::Debug for QuerySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuerySession").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

impl QuerySession {
    /// A session over the tables under `data_dir` (the store's `data_dir`). The directory must
    /// exist; the table directories may not yet (the tables are then empty). Nothing is
    /// created or written.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<QuerySession> {
        let data_dir = std::path::absolute(data_dir.as_ref()).map_err(|e| Error::io(data_dir.as_ref(), e))?;
        if !data_dir.is_dir() {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "data directory does not exist");
            return Err(Error::io(&data_dir, e));
        }
        let runtime = RuntimeEnvBuilder::new().with_object_list_cache_limit(0).build_arc()?;
        let config = SessionConfig::new().with_information_schema(true);
        let state =
            SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
        let ctx = SessionContext::new_with_state(state);
        crate::date_trunc::register(&ctx);
        for table in Table::ALL {
            let listing: Arc<dyn TableProvider> = Arc::new(listing_table(&data_dir, table)?);
            let provider = match table {
                Table::Vitals => vitals_view(listing, table.name())?,
                Table::DeadLetters => listing,
            };
            ctx.register_table(table.name(), provider)?;
        }
        Ok(QuerySession { ctx, data_dir })
    }

    /// Runs one SQL statement and collects its result. A query with no rows returns one empty
    /// batch carrying the result's schema, so that formatted output still has its header.
    /// Any failure (syntax, unknown table or column, execution) is an [`Error::Sql`] with a
    /// one-line message.
    ///
    /// The query holds the data directory's read lock shared from planning to its last batch
    /// ([`ReadGuard`]), so a compaction's swap is never seen half-done: every row is read
    /// exactly once; it waits (on a blocking thread) while a swap is pending or running.
    /// Queries through [`context`](Self::context) do not take it.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let _read = ReadGuard::acquire(&self.data_dir).await;
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false);
        let frame = self.ctx.sql_with_options(sql, options).await?;
        let schema = Arc::clone(frame.schema().inner());
        let batches = frame.collect().await?;
        if batches.is_empty() {
            return Ok(vec![RecordBatch::new_empty(schema)]);
        }
        Ok(batches)
    }

    /// Registers the `vitals` table (the files, `source_value` filled in) once more under
    /// `name`, replacing any table of that name; its scans carry `name`. For layers that put
    /// their own `vitals` on top of the stored one.
    pub fn register_vitals_as(&self, name: &str) -> Result<()> {
        let listing: Arc<dyn TableProvider> = Arc::new(listing_table(&self.data_dir, Table::Vitals)?);
        self.ctx.register_table(name, vitals_view(listing, name)?)?;
        Ok(())
    }

    /// The underlying DataFusion context, for the DataFrame API or registering more tables.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The (absolute) data directory the tables are read from.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// The `vitals` table as SQL sees it: every column of the files, `source_value` filled in from
/// `value` where the files leave it null. A plain projection, so filters and the files' sort
/// order pass through it to the Parquet scan.
/// `name` is the table name the plan's scan carries (what plan walkers, such as the audit of
/// identifiable columns, see).
fn vitals_view(listing: Arc<dyn TableProvider>, name: &str) -> Result<Arc<dyn TableProvider>> {
    let columns: Vec<Expr> = listing
        .schema()
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "source_value" => coalesce(vec![col("source_value"), col("value")]).alias("source_value"),
            name => col(Column::from_name(name)),
        })
        .collect();
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(listing), None)?.project(columns)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// A listing table over `<data_dir>/<table>/`: the explicit file schema, `date` as a Utf8
/// partition column, only `*.parquet` files.
fn listing_table(data_dir: &Path, table: Table) -> Result<ListingTable> {
    let dir = table_dir(data_dir, table);
    // Built from the path directly: ListingTableUrl::parse would read glob characters in the
    // path ('[', '*', '?') as a pattern.
    let url = url::Url::from_directory_path(&dir).map_err(|()| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an absolute path");
        Error::io(&dir, e)
    })?;
    let url = ListingTableUrl::try_new(url, None)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(PARQUET_EXTENSION)
        .with_table_partition_cols(vec![(PARTITION_COLUMN.to_string(), arrow::datatypes::DataType::Utf8)]);
    let config =
        ListingTableConfig::new(url).with_listing_options(options).with_schema(read_schema(&table.file_schema()));
    Ok(ListingTable::try_new(config)?)
}

/// The schema the query session reads a table's files with: the file schema with every text
/// column as `Utf8View`. The Parquet reader then builds a dictionary-encoded column's values
/// as views into the page's dictionary (no copy of the text per row), and filters, grouping and
/// joins on short text (`metric`, `device_id`, `bed`: at most 12 bytes, held inside the view)
/// compare and hash 16-byte views instead of following offsets.
pub fn read_schema(file_schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, file_schema.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    use wardstream_pipeline::{Catalogue, Flags, Observation, Sink, Source, StoreBatch};

    use super::*;
    use crate::{ParquetStore, StorageConfig};

    async fn count(ctx: &SessionContext) -> i64 {
        let batches = ctx.sql("SELECT count(*) FROM vitals").await.unwrap().collect().await.unwrap();
        batches[0].column(0).as_primitive::<Int64Type>().value(0)
    }

    fn write_one(store: &mut ParquetStore, time: i64) {
        let observation = one(time);
        store.write(StoreBatch { observations: vec![observation], dead_letters: vec![] }).unwrap();
        store.flush().unwrap();
    }

    fn one(time: i64) -> Observation {
        Observation {
            time,
            device_time: time,
            received_at: time,
            device_id: Arc::from("m-1"),
            metric: Arc::clone(Catalogue::builtin().by_name("heart_rate").unwrap()),
            value: 60.0,
            source_name: "HR".into(),
            source_value: 60.0,
            source_unit: None,
            flags: Flags::NONE,
            patient_id: None,
            encounter_id: None,
            ward: None,
            bed: None,
            source: Source::Hl7,
        }
    }

    /// The files leave `source_value` null where it equals `value`; SQL sees the value as sent
    /// in both cases, and a filter on a stored column still reaches the Parquet scan.
    #[tokio::test]
    async fn source_value_reads_as_sent_whether_or_not_the_file_stores_it() {
        use arrow::array::Float64Array;
        use arrow::datatypes::Float64Type;
        let dir = tempfile::tempdir().unwrap();
        let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
        write_one(&mut store, 1_714_521_600_000_000); // value 60, as sent 60: stored null
        let mut converted = one(1_714_521_601_000_000);
        converted.source_value = 0.6; // e.g. a fraction converted to %
        store.write(StoreBatch { observations: vec![converted], dead_letters: vec![] }).unwrap();
        store.flush().unwrap();
        let session = QuerySession::open(dir.path()).unwrap();
        let rows = session.sql("SELECT source_value FROM vitals ORDER BY time").await.unwrap();
        let got: Vec<Option<f64>> =
            rows.iter().flat_map(|b| b.column(0).as_primitive::<Float64Type>().iter()).collect();
        assert_eq!(got, [Some(60.0), Some(0.6)]);
        let stored = session.sql("SELECT count(*) FROM vitals WHERE source_value = 60").await.unwrap();
        assert_eq!(stored[0].column(0).as_primitive::<Int64Type>().value(0), 1);
        // What DuckDB or pandas read from the files: null for the unconverted reading.
        let files: Vec<_> = walk(dir.path());
        let mut raw = Vec::new();
        for path in files {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&path).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let column = batch.column_by_name("source_value").unwrap();
                raw.extend(column.as_any().downcast_ref::<Float64Array>().unwrap().iter());
            }
        }
        raw.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(raw, [None, Some(0.6)]);
        let plan = session.sql("EXPLAIN SELECT value FROM vitals WHERE metric = 'heart_rate'").await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        assert!(text.contains("DataSourceExec") && text.contains("predicate=metric@"), "{text}");
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else if path.extension().is_some_and(|e| e == "parquet") && path.to_string_lossy().contains("vitals") {
                out.push(path);
            }
        }
        out
    }

    /// The control for the listing-cache setting: with DataFusion's defaults the same table
    /// misses a file written after the first query; the session's runtime does not.
    #[tokio::test]
    async fn only_a_session_without_the_listing_cache_sees_files_written_after_its_first_query() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ParquetStore::open(StorageConfig::test_config(dir.path())).unwrap();
        let session = QuerySession::open(dir.path()).unwrap();
        let default_ctx = SessionContext::new();
        default_ctx
            .register_table("vitals", Arc::new(listing_table(session.data_dir(), Table::Vitals).unwrap()))
            .unwrap();

        write_one(&mut store, 1_714_521_600_000_000);
        assert_eq!((count(session.context()).await, count(&default_ctx).await), (1, 1));
        write_one(&mut store, 1_714_521_601_000_000);
        assert_eq!(count(session.context()).await, 2);
        assert_eq!(count(&default_ctx).await, 1, "DataFusion's default listing cache hides the new file");
    }
}
