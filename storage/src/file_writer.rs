//! The Parquet writer of wardstream's files: Arrow record batches in, row groups of
//! `max_row_group_row_count` rows out, as parquet-rs's `ArrowWriter` writes them, with one
//! difference: some columns get pages as large as a whole row group.
//!
//! Why: parquet-rs bounds every column's pages by one row count (20,000 by default), and zstd
//! compresses each page on its own. `vitals.received_at` repeats itself across the metric runs
//! of a device (the ten readings of a message share it, and the file is sorted by device, then
//! metric), but those copies lie a metric run apart — tens of thousands of rows in a day file,
//! farther than a page. In one page of a whole row group zstd finds them. The other columns keep
//! small pages, so page statistics still prune the columns queries filter on and read: analysts
//! filter and project `metric`, `time`, `value`, the attribution columns, rarely `received_at`.
//! On BENCHMARKS.md's 100-million-reading set `received_at` takes 0.76 bytes a reading with
//! 20,000-row pages and about a quarter of a byte with whole-row-group pages.
//!
//! How: the row group's column writers come from two [`ArrowRowGroupWriterFactory`]s, one with
//! the table's [`WriterProperties`] and one with the same properties but the row count limit
//! lifted to the row group and a page byte limit of [`WIDE_PAGE_BYTES`] for the wide columns;
//! each leaf column takes its writer from the factory its name asks for. This is parquet-rs's
//! documented way of writing a row group column by column (`ArrowColumnWriter`), and the file
//! gets the embedded Arrow schema as `ArrowWriter` would add it.

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

/// Page byte limit of the wide-page columns: 8 MiB, a row group of 1,048,576 eight-byte values.
pub const WIDE_PAGE_BYTES: usize = 8 << 20;

/// Writes record batches of one schema into a Parquet file (see the module docs).
pub struct TableFileWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    schema: SchemaRef,
    narrow: ArrowRowGroupWriterFactory,
    wide: ArrowRowGroupWriterFactory,
    /// Per leaf column (Parquet schema order): whether it takes the wide factory's writer.
    wide_leaves: Vec<bool>,
    /// The open row group's column writers, one per leaf column.
    writers: Option<Vec<ArrowColumnWriter>>,
    rows_in_group: usize,
    row_group_rows: usize,
    row_groups: usize,
}

impl<W: Write + Send> TableFileWriter<W> {
    /// A writer of `schema` into `out` with `props`; the columns named in `wide_columns`
    /// (top-level, primitive) get whole-row-group pages.
    pub fn try_new(
        out: W,
        schema: SchemaRef,
        mut props: WriterProperties,
        wide_columns: &[&str],
    ) -> Result<TableFileWriter<W>> {
        let parquet_schema = ArrowSchemaConverter::new().with_coerce_types(props.coerce_types()).convert(&schema)?;
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let row_group_rows = props.max_row_group_row_count().unwrap_or(DEFAULT_MAX_ROW_GROUP_ROW_COUNT).max(1);
        let mut wide_props = props.clone().into_builder().set_data_page_row_count_limit(row_group_rows);
        for name in wide_columns {
            wide_props = wide_props.set_column_data_page_size_limit(ColumnPath::from(*name), WIDE_PAGE_BYTES);
        }
        let wide = {
            // A factory takes its properties from a file writer; this one writes nowhere.
            let template = SerializedFileWriter::new(
                std::io::sink(),
                parquet_schema.root_schema_ptr(),
                Arc::new(wide_props.build()),
            )?;
            ArrowRowGroupWriterFactory::new(&template, Arc::clone(&schema))
        };
        let file = SerializedFileWriter::new(out, parquet_schema.root_schema_ptr(), Arc::new(props))?;
        let narrow = ArrowRowGroupWriterFactory::new(&file, Arc::clone(&schema));
        let wide_leaves =
            parquet_schema.columns().iter().map(|c| wide_columns.contains(&c.path().string().as_str())).collect();
        Ok(TableFileWriter {
            file,
            schema,
            narrow,
            wide,
            wide_leaves,
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
        let narrow = self.narrow.create_column_writers(self.row_groups)?;
        let wide = self.wide.create_column_writers(self.row_groups)?;
        if narrow.len() != self.wide_leaves.len() || wide.len() != self.wide_leaves.len() {
            return Err(ParquetError::General("column writers do not match the leaf columns".into()));
        }
        Ok(narrow
            .into_iter()
            .zip(wide)
            .zip(&self.wide_leaves)
            .map(|((n, w), &is_wide)| if is_wide { w } else { n })
            .collect())
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
    use crate::file::{wide_page_columns, writer_properties};
    use crate::schema::Table;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use wardstream_pipeline::{Catalogue, Flags, Observation, Source};

    fn observations(devices: usize, seconds: i64) -> Vec<Observation> {
        let catalogue = Catalogue::builtin();
        let metrics = ["heart_rate", "spo2", "resp_rate"];
        let mut out = Vec::new();
        for d in 0..devices {
            for s in 0..seconds {
                for (m, name) in metrics.iter().enumerate() {
                    let time = 1_714_521_600_000_000 + s * 1_000_000;
                    out.push(Observation {
                        time,
                        device_time: time,
                        received_at: time + 2_000 + (s * 7_919 % 28_000),
                        device_id: Arc::from(format!("m-{d}").as_str()),
                        metric: Arc::clone(catalogue.by_name(name).unwrap()),
                        value: (60 + (s + m as i64) % 7) as f64,
                        source_name: (*name).into(),
                        source_value: (60 + (s + m as i64) % 7) as f64,
                        source_unit: None,
                        flags: Flags::NONE,
                        patient_id: None,
                        encounter_id: None,
                        ward: None,
                        bed: None,
                        source: Source::Mqtt,
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
        let mut writer = TableFileWriter::try_new(
            tempfile::tempfile().unwrap(),
            batch.schema(),
            props,
            wide_page_columns(Table::Vitals),
        )
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
    fn received_at_gets_whole_row_group_pages_and_the_other_columns_small_ones() {
        let (file, _) = written();
        let options = parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build();
        let reader = SerializedFileReader::new_with_options(file, options).unwrap();
        let offsets = reader.metadata().offset_index().unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let pages = |name: &str| {
            let i = (0..schema.num_columns()).find(|&i| schema.column(i).path().string() == name).unwrap();
            offsets[0][i].page_locations().len()
        };
        assert_eq!(pages("received_at"), 1, "one page for the row group's 40,000 rows");
        assert_eq!(pages("value"), 2, "20,000-row pages");
        assert_eq!(pages("time"), 2);
        assert_eq!(pages("metric"), 2, "filter columns keep small pages");
        assert!(reader.metadata().row_group(0).sorting_columns().is_some());
    }
}
