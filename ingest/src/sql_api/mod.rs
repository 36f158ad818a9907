//! # The SQL engine behind `POST /api/v1/query`: read-only, limited, role-aware
//!
//! ```ignore
//! // once, at service start:
//! let engine = SqlEngine::open(&data_dir, snapshots, config.privacy.deidentifier()?, config.sql.limits()).await?;
//! // per request (an axum handler):
//! let access = SqlAccess::for_role(principal.role).ok_or(forbidden)?;   // admin, analyst
//! match engine.run(access, &body.sql).await {
//!     Ok(out) => {
//!         if !out.identifiable_columns.is_empty() {           // audit before answering
//!             let entry = AuditEntry { action: "sql".into(), patient_ids: out.patient_ids.clone(),
//!                                      result_count: out.row_count, .. };
//!             tokio::task::spawn_blocking(move || trail.record(entry)).await??;
//!         }
//!         Json(out.json_rows()?)
//!     }
//!     Err(e) => (StatusCode::from_u16(e.status_code()), e.to_string()),
//! }
//! ```
//!
//! **Views per access.** [`SqlAccess::Identified`] (`admin`): `vitals` (attributed by the current
//! association snapshot, [`crate::sql_view`]), `vitals_stored`, `dead_letters`, `audit`
//! ([`crate::audit::table`], read when a statement naming it starts) and the functions `patient_at`,
//! `encounter_at`, `ward_at`, `bed_at`. [`SqlAccess::Deidentified`] (`analyst`): only the
//! de-identified `vitals` and `dead_letters` of [`crate::deid`]; identifiable tables and the
//! attribution functions are not registered at all, so no query can reach them. Without a
//! configured pseudonym key, de-identified access is refused ([`SqlError::Unavailable`]).
//!
//! **Read-only.** [`guard`] admits one `SELECT` and no file-reading table function; the session
//! also refuses DDL, DML and `SET` at planning.
//!
//! **Limits.** Each statement gets its own DataFusion session whose memory pool holds
//! [`SqlLimits::memory_limit_bytes`] with spilling to disk disabled, so a sort, join or
//! aggregation past the limit fails with [`SqlError::MemoryLimit`] instead of exhausting the
//! machine; planning and execution run in a task aborted at [`SqlLimits::timeout`]
//! ([`SqlError::Timeout`]).
//!
//! **Its own threads.** Statements execute on a dedicated Tokio runtime (`wardstream-sql`, 2
//! worker threads, owned by a thread of its own so dropping the engine anywhere is safe): a
//! CPU-heavy statement never holds up the service's runtime (HTTP, ingest), and the time limit,
//! kept on the caller's runtime, fires on time. An aborted statement stops at its next yield
//! point: DataFusion yields at least every few batches, but one operator step that produces a
//! great deal without yielding (a vast cross join) keeps a `wardstream-sql` thread busy until
//! it does. The caller has its `Timeout` either way. At most [`MAX_RUNNING`] statements execute
//! at once (a stopped statement frees its slot only when it has really stopped); the others wait
//! within their time limit. A statement whose caller goes away (an HTTP client hanging up) is
//! aborted too.
//!
//! **Audit facts.** [`SqlOutput`] says which identifiable columns the optimised plan read
//! ([`inspect`]) and which patient ids the result shows, for the caller's audit record (an
//! identified statement that read no identifiable column need not be audited; de-identified
//! statements report none).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use wardstream_storage::QuerySession;
use wardstream_storage::compaction::ReadGuard;

use crate::deid::Deidentifier;
use crate::sql_view::{STORED_VITALS, SnapshotSource, register_attribution};

pub mod guard;
pub mod inspect;

/// Which views a statement runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlAccess {
    /// Identified data and the audit table (`admin`).
    Identified,
    /// De-identified views only (`analyst`).
    Deidentified,
}

impl SqlAccess {
    /// The access of a role: `admin` → identified, `analyst` → de-identified, others none (403).
    pub fn for_role(role: crate::auth::Role) -> Option<SqlAccess> {
        match role {
            crate::auth::Role::Admin => Some(SqlAccess::Identified),
            crate::auth::Role::Analyst => Some(SqlAccess::Deidentified),
            _ => None,
        }
    }
}

/// Limits of one statement (`[sql]`, see [`crate::settings::SqlSettings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Longest a statement may run (planning and execution). Default 30 s.
    pub timeout: Duration,
    /// Memory pool of one statement, bytes. Default 512 MiB.
    pub memory_limit_bytes: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits { timeout: Duration::from_secs(30), memory_limit_bytes: 512 * 1024 * 1024 }
    }
}

/// Why a statement did not run to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// Not a single read-only query, or a forbidden function (→ 400).
    #[error("statement refused: {0}")]
    Refused(String),
    /// Syntax, unknown table or column, type error (→ 400).
    #[error("invalid query: {0}")]
    Invalid(String),
    /// Ran past the time limit (→ 408).
    #[error("query stopped: it ran longer than the limit of {0:?}")]
    Timeout(Duration),
    /// Needed more memory than the limit (→ 422).
    #[error("query stopped: it needs more memory than the limit of {limit_mib} MiB ({detail})")]
    MemoryLimit {
        /// The limit, MiB.
        limit_mib: usize,
        /// DataFusion's message (which operator, how much).
        detail: String,
    },
    /// De-identified access without a configured pseudonym key (→ 503).
    #[error("de-identified SQL is not available: no pseudonym key is configured ([privacy])")]
    Unavailable,
    /// Anything else while running (→ 500).
    #[error("query failed: {0}")]
    Failed(String),
}

impl SqlError {
    /// The HTTP status this error maps to.
    pub fn status_code(&self) -> u16 {
        match self {
            SqlError::Refused(_) | SqlError::Invalid(_) => 400,
            SqlError::Timeout(_) => 408,
            SqlError::MemoryLimit { .. } => 422,
            SqlError::Unavailable => 503,
            SqlError::Failed(_) => 500,
        }
    }
}

/// A statement's result and what it touched.
#[derive(Debug, Clone)]
pub struct SqlOutput {
    /// The result's schema (also when there are no rows).
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Number of rows.
    pub row_count: u64,
    /// Identifiable columns the statement read, as `table.column` (empty for de-identified
    /// access): non-empty means the statement must be audited.
    pub identifiable_columns: Vec<String>,
    /// Patient ids the result shows (sorted, distinct; empty for de-identified access).
    pub patient_ids: Vec<String>,
    /// Whether the statement ran over the de-identified views.
    pub deidentified: bool,
}

impl SqlOutput {
    /// The rows as JSON objects (column name → value; timestamps as RFC 3339 strings, nulls
    /// left out, binary as hex).
    pub fn json_rows(&self) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, SqlError> {
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        writer.write_batches(&batches).map_err(|e| SqlError::Failed(format!("JSON encoding: {e}")))?;
        writer.finish().map_err(|e| SqlError::Failed(format!("JSON encoding: {e}")))?;
        let bytes = writer.into_inner();
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&bytes).map_err(|e| SqlError::Failed(format!("JSON encoding: {e}")))
    }
}

/// The engine: the tables of one data directory, the views per access and the limits. Cheap
/// to clone; `Send + Sync`.
#[derive(Clone)]
pub struct SqlEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("data_dir", &self.inner.data_dir)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

struct Inner {
    data_dir: PathBuf,
    snapshots: SnapshotSource,
    identified: Vec<(String, Arc<dyn TableProvider>)>,
    functions: Vec<Arc<ScalarUDF>>,
    deidentified: Option<Vec<(String, Arc<dyn TableProvider>)>>,
    limits: SqlLimits,
    runtime: SqlRuntime,
    slots: Arc<tokio::sync::Semaphore>,
}

/// Worker threads of the statements' runtime.
pub const SQL_THREADS: usize = 2;

/// Statements executing at once; more wait (within their time limit) for one to end.
pub const MAX_RUNNING: usize = 4;

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The statements' runtime, owned by a thread that drops it when the engine's last clone goes.
struct SqlRuntime {
    handle: tokio::runtime::Handle,
    _stop: std::sync::mpsc::Sender<()>,
}

impl SqlRuntime {
    fn start() -> anyhow::Result<SqlRuntime> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new().name("wardstream-sql".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(SQL_THREADS)
                .thread_name("wardstream-sql")
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    let _ = handle_tx.send(Ok(runtime.handle().clone()));
                    // Returns when the sender is dropped with the engine.
                    let _ = stop_rx.recv();
                    runtime.shutdown_background();
                }
                Err(e) => {
                    let _ = handle_tx.send(Err(e));
                }
            }
        })?;
        let handle = handle_rx.recv()??;
        Ok(SqlRuntime { handle, _stop: stop_tx })
    }
}

impl SqlEngine {
    /// An engine over the tables of `data_dir` (which must exist), attributing readings with
    /// `snapshots`, de-identifying with `deid` (none: analysts are refused).
    pub async fn open(
        data_dir: &Path,
        snapshots: SnapshotSource,
        deid: Option<Deidentifier>,
        limits: SqlLimits,
    ) -> anyhow::Result<SqlEngine> {
        let session = QuerySession::open(data_dir)?;
        register_attribution(&session, Arc::clone(&snapshots)).await?;
        let ctx = session.context();
        let mut identified = Vec::new();
        for name in ["vitals", STORED_VITALS, "dead_letters"] {
            identified.push((name.to_owned(), ctx.table_provider(name).await?));
        }
        let functions = ["patient_at", "encounter_at", "ward_at", "bed_at"]
            .iter()
            .filter_map(|name| ctx.state().scalar_functions().get(*name).cloned())
            .collect();
        let deidentified = match &deid {
            Some(deid) => Some(vec![
                ("vitals".to_owned(), crate::deid::views::vitals_view(ctx, deid).await?),
                ("dead_letters".to_owned(), crate::deid::views::dead_letters_view(ctx).await?),
            ]),
            None => None,
        };
        let data_dir = session.data_dir().to_path_buf();
        let runtime = SqlRuntime::start()?;
        Ok(SqlEngine {
            inner: Arc::new(Inner {
                data_dir,
                snapshots,
                identified,
                functions,
                deidentified,
                limits,
                runtime,
                slots: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING)),
            }),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> SqlLimits {
        self.inner.limits
    }

    /// Runs one read-only statement with `access`'s views, within the limits.
    pub async fn run(&self, access: SqlAccess, sql: &str) -> Result<SqlOutput, SqlError> {
        guard::check(sql).map_err(SqlError::Refused)?;
        let ctx = self.session_for(access, sql)?;
        let sql = sql.to_owned();
        let data_dir = self.inner.data_dir.clone();
        let limits = self.inner.limits;
        let handle = self.inner.runtime.handle.clone();
        let slots = Arc::clone(&self.inner.slots);
        let run = async move {
            let permit = slots.acquire_owned().await.map_err(|_| SqlError::Failed("the engine is closed".into()))?;
            let task = handle.spawn(async move {
                let _slot = permit; // held until the statement really stops
                execute(&ctx, &sql, &data_dir, access, limits).await
            });
            // Dropped on timeout or when the caller goes away (a client hanging up): abort.
            let _abort = AbortOnDrop(task.abort_handle());
            match task.await {
                Ok(result) => result,
                Err(join) => Err(SqlError::Failed(format!("the query task ended: {join}"))),
            }
        };
        let (schema, batches, columns) = match tokio::time::timeout(limits.timeout, run).await {
            Ok(result) => result?,
            Err(_) => return Err(SqlError::Timeout(limits.timeout)),
        };
        let row_count = batches.iter().map(|b| b.num_rows() as u64).sum();
        let patient_ids = match access {
            SqlAccess::Identified => inspect::patient_ids(&batches, &(self.inner.snapshots)()),
            SqlAccess::Deidentified => Vec::new(),
        };
        Ok(SqlOutput {
            schema,
            batches,
            row_count,
            identifiable_columns: columns,
            patient_ids,
            deidentified: access == SqlAccess::Deidentified,
        })
    }

    /// A fresh session for one statement: its own memory pool, `access`'s tables only.
    pub fn session(&self, access: SqlAccess) -> Result<SessionContext, SqlError> {
        self.session_for(access, "audit")
    }

    /// [`SqlEngine::session`] for `sql`: the audit log is read only when `sql` mentions it.
    fn session_for(&self, access: SqlAccess, sql: &str) -> Result<SessionContext, SqlError> {
        let limits = self.inner.limits;
        let runtime = RuntimeEnvBuilder::new()
            .with_object_list_cache_limit(0)
            .with_memory_limit(limits.memory_limit_bytes, 1.0)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()
            .map_err(|e| SqlError::Failed(e.to_string()))?;
        let mut config = SessionConfig::new().with_information_schema(true);
        crate::sql_view::tune(&mut config);
        let state =
            SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
        let ctx = SessionContext::new_with_state(state);
        wardstream_storage::date_trunc::register(&ctx);
        let tables = match access {
            SqlAccess::Identified => &self.inner.identified,
            SqlAccess::Deidentified => self.inner.deidentified.as_ref().ok_or(SqlError::Unavailable)?,
        };
        for (name, table) in tables {
            ctx.register_table(name.as_str(), Arc::clone(table)).map_err(|e| SqlError::Failed(e.to_string()))?;
        }
        if access == SqlAccess::Identified {
            for f in &self.inner.functions {
                ctx.register_udf(f.as_ref().clone());
            }
            if !sql.to_lowercase().contains(crate::audit::table::TABLE) {
                return Ok(ctx);
            }
            crate::audit::table::register(&ctx, &self.inner.data_dir)
                .map_err(|e| SqlError::Failed(format!("reading the audit table: {e:#}")))?;
        }
        Ok(ctx)
    }
}

async fn execute(
    ctx: &SessionContext,
    sql: &str,
    data_dir: &Path,
    access: SqlAccess,
    limits: SqlLimits,
) -> Result<(SchemaRef, Vec<RecordBatch>, Vec<String>), SqlError> {
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let frame = ctx.sql_with_options(sql, options).await.map_err(|e| classify(e, limits, true))?;
    let columns = match access {
        SqlAccess::Identified => {
            let plan = ctx.state().optimize(frame.logical_plan()).map_err(|e| classify(e, limits, true))?;
            inspect::identifiable_columns(&plan)
        }
        SqlAccess::Deidentified => Vec::new(),
    };
    let schema = Arc::clone(frame.schema().inner());
    let _read = ReadGuard::acquire(data_dir).await;
    let mut batches = frame.collect().await.map_err(|e| classify(e, limits, false))?;
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(Arc::clone(&schema)));
    }
    Ok((schema, batches, columns))
}

/// Maps DataFusion's error to ours: memory exhaustion, planning (the query's fault), or other.
fn classify(error: DataFusionError, limits: SqlLimits, planning: bool) -> SqlError {
    let text = error.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
    let exhausted =
        matches!(error.find_root(), DataFusionError::ResourcesExhausted(_)) || text.contains("Resources exhausted");
    if exhausted {
        return SqlError::MemoryLimit { limit_mib: limits.memory_limit_bytes / (1024 * 1024), detail: text };
    }
    match error.find_root() {
        DataFusionError::SQL(..) | DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
            SqlError::Invalid(text)
        }
        _ if planning => SqlError::Invalid(text),
        _ => SqlError::Failed(text),
    }
}
