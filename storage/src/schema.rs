//! The Arrow schemas of the two tables, `vitals` and `dead_letters`: the one place their
//! columns, types and partitioning are defined. The writer, the query session and the README
//! all follow from here.
//!
//! # `vitals`: one row per normalised observation
//!
//! | column | type | null | meaning |
//! |---|---|---|---|
//! | `time` | Timestamp(µs, UTC) | no | observation time (equal to `device_time` until clock-skew correction) |
//! | `device_time` | Timestamp(µs, UTC) | no | the time as the device stated it |
//! | `received_at` | Timestamp(µs, UTC) | no | when wardstream received it |
//! | `device_id` | Utf8 | no | the device that produced it |
//! | `metric` | Utf8 | no | catalogue metric name (`heart_rate`) |
//! | `mdc_code` | Int32 | no | IEEE 11073-10101 numeric code (`147842`) |
//! | `loinc` | Utf8 | yes | LOINC code, when one applies (`8867-4`) |
//! | `value` | Float64 | no | value in the metric's canonical unit |
//! | `unit` | Utf8 | no | canonical UCUM unit (`/min`, `mm[Hg]`, `Cel`) |
//! | `source_name` | Utf8 | no | the name as the device sent it (`HR`) |
//! | `source_value` | Float64 | yes | the value as the device sent it; **null when it equals `value`** (no unit conversion changed it), so a file does not store the value twice: `COALESCE(source_value, value)` is the value as sent, and wardstream's `vitals` view returns exactly that |
//! | `source_unit` | Utf8 | yes | the unit as the device sent it |
//! | `status` | Utf8 | no | the most severe quality flag, or `valid`: `implausible` > `questionable` > `future_time` > `clock_corrected` > `preliminary` > `corrected` > `valid` |
//! | `flags` | List(Utf8) | no | every quality flag of the reading, most severe first (empty when valid) |
//! | `patient_id` | Utf8 | yes | patient, when the device is associated with one |
//! | `encounter_id` | Utf8 | yes | encounter (visit) of that patient |
//! | `ward` | Utf8 | yes | ward of the bed the device served |
//! | `bed` | Utf8 | yes | bed the device served |
//! | `source` | Utf8 | no | transport: `mqtt`, `serial`, `modbus`, `hl7` |
//! | `date` | Utf8 | no | partition: UTC date of `time`, `YYYY-MM-DD` (directory name, not stored in the files) |
//!
//! # `dead_letters`: one row per rejected payload or record
//!
//! | column | type | null | meaning |
//! |---|---|---|---|
//! | `received_at` | Timestamp(µs, UTC) | no | when wardstream received it |
//! | `source` | Utf8 | no | transport: `mqtt`, `serial`, `modbus`, `hl7` |
//! | `origin` | Utf8 | no | where on that transport (MQTT topic, serial port, Modbus slave) |
//! | `device_id` | Utf8 | yes | the device, when it could be determined |
//! | `source_name` | Utf8 | yes | the record's name as sent, for record-level rejections |
//! | `reason` | Utf8 | no | `invalid_payload`, `missing_value`, `non_numeric_value`, `non_finite_value`, `unknown_metric`, `unknown_unit`, `invalid_time`, `unsupported_version`, `unknown_device`, `duplicate`, `identity_mismatch` (a duplicate has empty `origin` and `payload`) |
//! | `detail` | Utf8 | no | human-readable explanation |
//! | `payload` | Binary | no | the whole message as received |
//! | `date` | Utf8 | no | partition: UTC date of `received_at`, `YYYY-MM-DD` (directory name, not stored in the files) |
//!
//! Design: the partition column is Utf8, never an integer or a date type. DataFusion turns
//! equality on a partition column into a directory prefix, and a typed value would be printed
//! differently from the directory name (PITFALLS: `hour=03` vs `3` silently finds nothing).

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The type of the `flags` column: a list of flag names (Arrow's default list item field).
pub fn flags_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// Name of the hive partition column of both tables (`date=YYYY-MM-DD` directories).
pub const PARTITION_COLUMN: &str = "date";

/// Time zone of every timestamp column.
pub const TIME_ZONE: &str = "UTC";

/// The two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Table {
    /// Normalised observations.
    Vitals,
    /// Rejected input.
    DeadLetters,
}

impl Table {
    /// Both tables.
    pub const ALL: [Table; 2] = [Table::Vitals, Table::DeadLetters];

    /// SQL name of the table, also the name of its directory under the data directory.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Vitals => "vitals",
            Table::DeadLetters => "dead_letters",
        }
    }

    /// The column whose UTC date decides the partition of a row.
    pub const fn partition_time_column(self) -> &'static str {
        match self {
            Table::Vitals => "time",
            Table::DeadLetters => "received_at",
        }
    }

    /// Schema of the table's Parquet files (without the partition column).
    pub fn file_schema(self) -> SchemaRef {
        match self {
            Table::Vitals => vitals_schema(),
            Table::DeadLetters => dead_letters_schema(),
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `Timestamp(Microsecond, "UTC")`, the type of every time column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into()))
}

/// The partition column as the query session declares it: Utf8, not null.
pub fn partition_field() -> Field {
    Field::new(PARTITION_COLUMN, DataType::Utf8, false)
}

static VITALS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = timestamp_type();
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("time", ts.clone(), false),
        Field::new("device_time", ts.clone(), false),
        Field::new("received_at", ts, false),
        utf8("device_id", false),
        utf8("metric", false),
        Field::new("mdc_code", DataType::Int32, false),
        utf8("loinc", true),
        Field::new("value", DataType::Float64, false),
        utf8("unit", false),
        utf8("source_name", false),
        Field::new("source_value", DataType::Float64, true),
        utf8("source_unit", true),
        utf8("status", false),
        Field::new("flags", flags_type(), false),
        utf8("patient_id", true),
        utf8("encounter_id", true),
        utf8("ward", true),
        utf8("bed", true),
        utf8("source", false),
    ]))
});

static DEAD_LETTERS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("received_at", timestamp_type(), false),
        utf8("source", false),
        utf8("origin", false),
        utf8("device_id", true),
        utf8("source_name", true),
        utf8("reason", false),
        utf8("detail", false),
        Field::new("payload", DataType::Binary, false),
    ]))
});

/// Schema of the `vitals` Parquet files (the table adds [`PARTITION_COLUMN`]).
pub fn vitals_schema() -> SchemaRef {
    Arc::clone(&VITALS)
}

/// Schema of the `dead_letters` Parquet files (the table adds [`PARTITION_COLUMN`]).
pub fn dead_letters_schema() -> SchemaRef {
    Arc::clone(&DEAD_LETTERS)
}

/// Schema of a table as SQL sees it: the file columns, then `date`.
pub fn table_schema(table: Table) -> SchemaRef {
    let file = table.file_schema();
    let mut fields: Vec<Field> = file.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(partition_field());
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(schema: &Schema) -> Vec<String> {
        schema.fields().iter().map(|f| format!("{} {} {}", f.name(), f.data_type(), f.is_nullable())).collect()
    }

    #[test]
    fn vitals_columns_are_exactly_the_documented_ones_in_order() {
        let expected = [
            "time Timestamp(µs, \"UTC\") false",
            "device_time Timestamp(µs, \"UTC\") false",
            "received_at Timestamp(µs, \"UTC\") false",
            "device_id Utf8 false",
            "metric Utf8 false",
            "mdc_code Int32 false",
            "loinc Utf8 true",
            "value Float64 false",
            "unit Utf8 false",
            "source_name Utf8 false",
            "source_value Float64 true",
            "source_unit Utf8 true",
            "status Utf8 false",
            "flags List(Utf8) false",
            "patient_id Utf8 true",
            "encounter_id Utf8 true",
            "ward Utf8 true",
            "bed Utf8 true",
            "source Utf8 false",
        ];
        assert_eq!(describe(&vitals_schema()), expected);
    }

    #[test]
    fn dead_letter_columns_are_exactly_the_documented_ones_in_order() {
        let expected = [
            "received_at Timestamp(µs, \"UTC\") false",
            "source Utf8 false",
            "origin Utf8 false",
            "device_id Utf8 true",
            "source_name Utf8 true",
            "reason Utf8 false",
            "detail Utf8 false",
            "payload Binary false",
        ];
        assert_eq!(describe(&dead_letters_schema()), expected);
    }

    #[test]
    fn table_schemas_end_with_the_utf8_date_partition() {
        for table in Table::ALL {
            let schema = table_schema(table);
            let last = schema.fields().last().map(|f| (f.name().clone(), f.data_type().clone()));
            assert_eq!(last, Some(("date".to_string(), DataType::Utf8)));
            assert_eq!(schema.fields().len(), table.file_schema().fields().len() + 1);
            assert!(table.file_schema().field_with_name(table.partition_time_column()).is_ok());
        }
    }
}
