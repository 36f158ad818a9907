//! The merged files while they are written: staged under hidden names, each complete and
//! fsynced, not yet visible; the swap renames them into place.
//!
//! A staged file is `.<name>.compacting` in the partition directory, `<name>` a fresh
//! `part-….parquet` name from [`FileNamer`]. The suffix differs from the writer's
//! `.inprogress` on purpose: the writer's start-up cleanup never removes a live compaction's
//! files, and compaction recovery (which holds the compaction lock) removes only its own.
//! Neither ends in `.parquet`, so no listing table, DuckDB glob or pyarrow dataset reads them.
//! Files are written with the writer's [`writer_properties_at_level`] (ZSTD at the compaction
//! level, statistics, sorting columns, encodings) through [`TableFileWriter`] (the page
//! sizes of [`column_pages`]) and cut at `max_rows_per_file` rows.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::file::properties::WriterProperties;
use wardstream_pipeline::{Clock, SystemClock};

use crate::file::{column_pages, writer_properties_at_level};
use crate::file_writer::TableFileWriter;
use crate::layout::{FileNamer, sync_dir};
use crate::schema::Table;

use super::error::{CompactionError, Result};
use super::merge::MergeSink;

/// Suffix of staged files.
pub const STAGED_SUFFIX: &str = ".compacting";

/// The staged name of a merged file: `.<name>.compacting`.
pub fn staged_name(file_name: &str) -> String {
    format!(".{file_name}{STAGED_SUFFIX}")
}

/// A merged file, complete and fsynced under its staged name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StagedFile {
    /// Its final name (`part-….parquet`).
    pub name: String,
    /// Rows in it.
    pub rows: usize,
    /// Its size.
    pub bytes: u64,
}

/// The file being written.
struct OpenFile {
    writer: TableFileWriter<File>,
    name: String,
    rows: usize,
}

/// The merge's [`MergeSink`]: writes staged files of at most `max_rows` rows.
pub(crate) struct StagedOutputs {
    dir: PathBuf,
    table: Table,
    props: WriterProperties,
    max_rows: usize,
    namer: FileNamer,
    current: Option<OpenFile>,
    done: Vec<StagedFile>,
    /// Every staged path created, for [`StagedOutputs::abort`].
    created: Vec<PathBuf>,
}

impl StagedOutputs {
    /// Outputs into partition directory `dir` of `table`.
    pub(crate) fn new(
        dir: &Path,
        table: Table,
        max_rows: usize,
        row_group_rows: usize,
        zstd_level: i32,
    ) -> Result<StagedOutputs> {
        Ok(StagedOutputs {
            dir: dir.to_path_buf(),
            table,
            props: writer_properties_at_level(table, row_group_rows, zstd_level)?,
            max_rows: max_rows.max(1),
            namer: FileNamer::new(),
            current: None,
            done: Vec::new(),
            created: Vec::new(),
        })
    }

    /// Finalises the last file and makes the staged entries durable; returns the files in
    /// merge order. On an error, [`abort`](Self::abort) removes what was staged.
    pub(crate) fn finish(&mut self) -> Result<Vec<StagedFile>> {
        self.close_current()?;
        if !self.done.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(std::mem::take(&mut self.done))
    }

    /// Removes every staged file created so far (after a failed merge).
    pub(crate) fn abort(self) {
        drop(self.current);
        for path in &self.created {
            remove_quietly(path);
        }
    }

    fn open(&mut self) -> Result<OpenFile> {
        let name = self.namer.next_name(SystemClock.now_micros());
        let path = self.dir.join(staged_name(&name));
        let file =
            File::options().write(true).create_new(true).open(&path).map_err(|e| CompactionError::io(&path, e))?;
        self.created.push(path);
        let writer =
            TableFileWriter::try_new(file, self.table.file_schema(), self.props.clone(), column_pages(self.table))?;
        Ok(OpenFile { writer, name, rows: 0 })
    }

    fn close_current(&mut self) -> Result<()> {
        let Some(open) = self.current.take() else { return Ok(()) };
        let path = self.dir.join(staged_name(&open.name));
        let file = open.writer.into_inner()?;
        file.sync_all().map_err(|e| CompactionError::io(&path, e))?;
        let bytes = file.metadata().map_err(|e| CompactionError::io(&path, e))?.len();
        self.done.push(StagedFile { name: open.name, rows: open.rows, bytes });
        Ok(())
    }
}

impl MergeSink for StagedOutputs {
    fn room(&self) -> usize {
        self.max_rows - self.current.as_ref().map_or(0, |f| f.rows)
    }

    fn write(&mut self, batch: RecordBatch) -> Result<()> {
        let mut open = match self.current.take() {
            Some(open) => open,
            None => self.open()?,
        };
        open.writer.write(&batch)?;
        open.rows += batch.num_rows();
        let full = open.rows >= self.max_rows;
        self.current = Some(open);
        if full {
            self.close_current()?;
        }
        Ok(())
    }
}

/// Removes a file, ignoring one already gone and logging other failures.
pub(crate) fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, path = %path.display(), "could not remove a staged compaction file"),
    }
}
