//! The Parquet writer of wardstream's files: Arrow record batches in, row groups of
//! `max_row_group_row_count` rows out, as parquet-rs's `ArrowWriter` writes them, with one
//! difference: a column can have its own page size ([`ColumnPages`]).
//!
//! Why: parquet-rs bounds every column's pages by one row count (20,480 here), and two columns
//! of `vitals` want another:
//! - `received_at`, pages as large as the row group. zstd compresses each page on its own, and
//!   `received_at` repeats itself across the metric runs of a device (the ten readings of a
//!   message share it, and the file is sorted by device, then metric), but those copies lie a
//!   metric run apart — thousands of rows, farther than a page. In one page of a whole row group
//!   zstd finds them. On BENCHMARKS.md's 100-million-reading set `received_at` takes 0.76 bytes
//!   a reading with 20,480-row pages and about a quarter of a byte with whole-row-group pages.
//!   Analysts rarely filter or read it.
//! - `metric`, small pages. Queries filter on it (`metric = 'heart_rate'`), and DataFusion
//!   keeps the rows of the pages whose statistics admit the value. A page of `metric` spans as
//!   many metric runs as fit in it: where a partition holds less than a day, runs are shorter
//!   than 20,480 rows and a heart-rate filter kept 81 % of the 100 M set's rows; with 2,048-row
//!   pages it keeps the runs and at most a page around each. The pages of a run hold one
//!   dictionary code, so they cost a page header and index entry each (see BENCHMARKS.md §3).
//!
//! The other columns keep the table's pages, so pruning on `time` and `device_id` is unchanged.
//!
//! How: the row group's column writers come from one [`ArrowRowGroupWriterFactory`] per page
//! size (the table's [`WriterProperties`], and the same properties with another row count limit,
//! and a page byte limit of [`WIDE_PAGE_BYTES`] for whole-row-group columns); each leaf column
//! takes its writer from the factory its name asks for. This is parquet-rs's documented way of
//! writing a row group column by column (`ArrowColumnWriter`), and the file gets the embedded
//! Arrow schema as `ArrowWriter` would add it.

use std::io::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::{DEFAULT_MAX_ROW_GROUP_ROW_COUNT, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

/// Page byte limit of the whole-row-group-page columns: 8 MiB, a row group of 1,048,576
/// eight-byte values.
pub const WIDE_PAGE_BYTES: usize = 8 << 20;

/// How many rows a column's pages hold, where a column differs from the table's page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageRows {
    /// One page per row group (up to [`WIDE_PAGE_BYTES`]).
    WholeRowGroup,
    /// At most this many rows (parquet-rs cuts pages between its 1,024-row write batches, so
    /// a page holds this many rounded up to a multiple of 1,024).
    AtMost(usize),
}

/// A top-level primitive column whose pages are cut at [`PageRows`] instead of the table's
/// row count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnPages {
    /// The column's name.
    pub column: &'static str,
    /// Its pages' rows.
    pub rows: PageRows,
}

/// Writes record batches of one schema into a Parquet file (see the module docs).
pub struct TableFileWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    schema: SchemaRef,
    /// The table's writer factory first, then one per distinct [`PageRows`] of the overrides.
    factories: Vec<ArrowRowGroupWriterFactory>,
    /// Per leaf column (Parquet schema order): the factory its writer comes from.
    leaf_factory: Vec<usize>,
    /// The open row group's column writers, one per leaf column.
    writers: Option<Vec<ArrowColumnWriter>>,
    rows_in_group: usize,
    row_group_rows: usize,
    row_groups: usize,
}

impl<W: Write + Send> TableFileWriter<W> {
    /// A writer of `schema` into `out` with `props`; the columns named in `pages` get their
    /// pages cut as they say.
    pub fn try_new(
        out: W,
        schema: SchemaRef,
        mut props: WriterProperties,
        pages: &[ColumnPages],
    ) -> Result<TableFileWriter<W>> {
        let parquet_schema = ArrowSchemaConverter::new().with_coerce_types(props.coerce_types()).convert(&schema)?;
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let row_group_rows = props.max_row_group_row_count().unwrap_or(DEFAULT_MAX_ROW_GROUP_ROW_COUNT).max(1);
        let mut kinds: Vec<PageRows> = Vec::new();
        for p in pages {
            if !kinds.contains(&p.rows) {
                kinds.push(p.rows);
            }
        }
        let mut factories = Vec::with_capacity(kinds.len() + 1);
        for kind in &kinds {
            let mut builder = props.clone().into_builder();
            builder = match kind {
                PageRows::WholeRowGroup => {
                    let mut b = builder.set_data_page_row_count_limit(row_group_rows);
                    for p in pages.iter().filter(|p| p.rows == *kind) {
                        b = b.set_column_data_page_size_limit(ColumnPath::from(p.column), WIDE_PAGE_BYTES);
                    }
                    b
                }
                PageRows::AtMost(rows) => builder.set_data_page_row_count_limit((*rows).max(1)),
            };
            // A factory takes its properties from a file writer; this one writes nowhere.
            let template = SerializedFileWriter::new(
                std::io::sink(),
                parquet_schema.root_schema_ptr(),
                Arc::new(builder.build()),
            )?;
            factories.push(ArrowRowGroupWriterFactory::new(&template, Arc::clone(&schema)));
        }
        let file = SerializedFileWriter::new(out, parquet_schema.root_schema_ptr(), Arc::new(props))?;
        factories.insert(0, ArrowRowGroupWriterFactory::new(&file, Arc::clone(&schema)));
        let leaf_factory = parquet_schema
            .columns()
            .iter()
            .map(|c| {
                let path = c.path().string();
                pages
                    .iter()
                    .find(|p| p.column == path)
                    .and_then(|p| kinds.iter().position(|k| *k == p.rows))
                    .map_or(0, |k| k + 1)
            })
            .collect();
        Ok(TableFileWriter {
            file,
            schema,
            factories,
            leaf_factory,
            writers: None,
            rows_in_group: 0,
            row_group_rows,
            row_groups: 0,
        })
    }

    /// Appends `batch` (of the writer's schema), closing row groups as they fill.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let rows = (self.row_group_rows - self.rows_in_group).min(batch.num_rows() - offset);
            let slice = batch.slice(offset, rows);
            let mut writers = match self.writers.take() {
                Some(writers) => writers,
                None => self.column_writers()?,
            };
            let mut leaf_writers = writers.iter_mut();
            for (field, column) in self.schema.fields().iter().zip(slice.columns()) {
                for leaf in compute_leaves(field, column)? {
                    let writer = leaf_writers
                        .next()
                        .ok_or_else(|| ParquetError::General("more leaf columns than column writers".into()))?;
                    writer.write(&leaf)?;
                }
            }
            self.rows_in_group += rows;
            offset += rows;
            if self.rows_in_group >= self.row_group_rows {
                self.close_row_group(writers)?;
            } else {
                self.writers = Some(writers);
            }
        }
        Ok(())
    }

    /// Closes the last row group, writes the footer and returns the output.
    pub fn into_inner(mut self) -> Result<W> {
        if let Some(writers) = self.writers.take() {
            self.close_row_group(writers)?;
        }
        self.file.into_inner()
    }

    /// A new row group's column writers, each from the factory its column asks for.
    fn column_writers(&self) -> Result<Vec<ArrowColumnWriter>> {
        let mut from_each = Vec::with_capacity(self.factories.len());
        for factory in &self.factories {
            let writers = factory.create_column_writers(self.row_groups)?;
            if writers.len() != self.leaf_factory.len() {
                return Err(ParquetError::General("column writers do not match the leaf columns".into()));
            }
            from_each.push(writers.into_iter().map(Some).collect::<Vec<_>>());
        }
        self.leaf_factory
            .iter()
            .enumerate()
            .map(|(leaf, &f)| {
                from_each
                    .get_mut(f)
                    .and_then(|writers| writers.get_mut(leaf))
                    .and_then(Option::take)
                    .ok_or_else(|| ParquetError::General("no column writer for a leaf column".into()))
            })
            .collect()
    }

    fn close_row_group(&mut self, writers: Vec<ArrowColumnWriter>) -> Result<()> {
        let mut group = self.file.next_row_group()?;
        for writer in writers {
            writer.close()?.append_to_row_group(&mut group)?;
        }
        group.close()?;
        self.row_groups += 1;
        self.rows_in_group = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{column_pages, writer_properties};
    use crate::schema::Table;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use wardstream_pipeline::{Catalogue, Observation};

    use crate::compaction::test_support::{MAY_1, obs};

    fn observations(devices: usize, seconds: i64) -> Vec<Observation> {
        let catalogue = Catalogue::builtin();
        let metrics = ["heart_rate", "spo2", "resp_rate"];
        let mut out = Vec::new();
        for d in 0..devices {
            for s in 0..seconds {
                for (m, name) in metrics.iter().enumerate() {
                    let time = MAY_1 + s * 1_000_000;
                    let base = obs(&format!("m-{d}"), time, (60 + (s + m as i64) % 7) as f64);
                    out.push(Observation {
                        received_at: time + 2_000 + (s * 7_919 % 28_000),
                        metric: Arc::clone(catalogue.by_name(name).unwrap()),
                        source_name: (*name).into(),
                        ..base
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (&*a.device_id, a.metric.name.as_str(), a.time).cmp(&(&*b.device_id, b.metric.name.as_str(), b.time))
        });
        out
    }

    /// 3 devices × 3 metrics × 10,000 s = 90,000 rows in row groups of 40,000, written in
    /// batches of 7,000 (cut across row groups).
    fn written() -> (std::fs::File, RecordBatch) {
        let rows = observations(3, 10_000);
        let batch = crate::batch::vitals_batch(rows.iter()).unwrap();
        let props = writer_properties(Table::Vitals, 40_000).unwrap();
        let mut writer =
            TableFileWriter::try_new(tempfile::tempfile().unwrap(), batch.schema(), props, column_pages(Table::Vitals))
                .unwrap();
        let mut offset = 0;
        while offset < batch.num_rows() {
            let n = 7_000.min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, n)).unwrap();
            offset += n;
        }
        (writer.into_inner().unwrap(), batch)
    }

    #[test]
    fn reads_back_exactly_what_was_written_with_the_embedded_schema_and_row_groups() {
        let (file, batch) = written();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(reader.schema(), &batch.schema(), "the embedded Arrow schema");
        let groups: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [40_000, 40_000, 10_000]);
        let back: Vec<RecordBatch> =
            reader.with_batch_size(100_000).build().unwrap().collect::<std::result::Result<_, _>>().unwrap();
        let back = arrow::compute::concat_batches(&batch.schema(), &back).unwrap();
        assert_eq!(back, batch);
    }

    #[test]
    fn received_at_gets_whole_row_group_pages_metric_narrow_ones_and_the_rest_the_tables() {
        let (file, _) = written();
        let options = parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build();
        let reader = SerializedFileReader::new_with_options(file, options).unwrap();
        let offsets = reader.metadata().offset_index().unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let locations = |name: &str| {
            let i = (0..schema.num_columns()).find(|&i| schema.column(i).path().string() == name).unwrap();
            offsets[0][i].page_locations()
        };
        let pages = |name: &str| locations(name).len();
        assert_eq!(pages("received_at"), 1, "one page for the row group's 40,000 rows");
        assert_eq!(pages("value"), 2, "20,000-row pages");
        assert_eq!(pages("time"), 2);
        assert_eq!(pages("device_id"), 2, "the other columns keep the table's pages");
        // parquet-rs cuts a page once a 1,024-row write batch takes it to 2,048 rows or more;
        // the 7,000-row batches end in 856-row write batches, so a page holds 2,048–2,904 rows.
        let starts: Vec<i64> = locations("metric").iter().map(|p| p.first_row_index).collect();
        let sizes: Vec<i64> =
            starts.windows(2).map(|w| w[1] - w[0]).chain([40_000 - starts[starts.len() - 1]]).collect();
        assert_eq!(sizes.iter().sum::<i64>(), 40_000);
        assert_eq!(pages("metric"), 18, "small pages for the filter column: {sizes:?}");
        assert!(sizes[..sizes.len() - 1].iter().all(|&n| (2_048..=2_904).contains(&n)), "{sizes:?}");
        assert!(reader.metadata().row_group(0).sorting_columns().is_some());
    }
}
