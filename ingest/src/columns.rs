//! Reading result columns whatever string type DataFusion chose (`Utf8`, `LargeUtf8` or
//! `Utf8View`, depending on the query and the Parquet reader's settings).

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;

/// The column as a `StringArray` (cast when it is another string type).
pub fn strings(column: &ArrayRef) -> anyhow::Result<StringArray> {
    let utf8 = arrow::compute::cast(column, &DataType::Utf8)?;
    utf8.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("column of type {} is not text", column.data_type()))
}
