//! What a statement touched, for the audit record: the identifiable columns its optimised plan
//! reads, and the patient ids its result shows.
//!
//! **Columns.** After optimisation (projection pushdown, view inlining) a plan names exactly the
//! columns it reads: a scan of `vitals_stored` projecting `patient_id`/`encounter_id`, a call of
//! `patient_at`/`encounter_at` (what the `vitals` view's `patient_id`/`encounter_id` are), a scan
//! of `dead_letters` reading the free-text `detail` or `payload`, a scan of `audit` reading
//! `patient_ids` or `user`. Columns used only in a filter count (`WHERE patient_id = 'P1'`).
//!
//! **Patient ids.** Every value of a result column named `patient_id` or `patient_ids` (any
//! alias of other names too, when the value is a known patient: one the association snapshot has
//! a stay or an interval for), so `SELECT patient_id AS who` is caught.

use std::collections::BTreeSet;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use wardstream_pipeline::association::AssociationSnapshot;

/// `(table, column)` pairs that identify patients or may hold free text about them.
pub const IDENTIFIABLE: [(&str, &str); 8] = [
    ("vitals_stored", "patient_id"),
    ("vitals_stored", "encounter_id"),
    ("vitals", "patient_id"),
    ("vitals", "encounter_id"),
    ("dead_letters", "detail"),
    ("dead_letters", "payload"),
    ("audit", "patient_ids"),
    ("audit", "user"),
];

/// The identifiable columns `plan` (optimised) reads, as `table.column`, sorted.
pub fn identifiable_columns(plan: &LogicalPlan) -> Vec<String> {
    let mut found = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let table = scan.table_name.table().to_owned();
            let mut columns: Vec<String> = scan.projected_schema.fields().iter().map(|f| f.name().clone()).collect();
            for filter in &scan.filters {
                columns.extend(filter.column_refs().into_iter().map(|c| c.name.clone()));
            }
            for column in columns {
                if IDENTIFIABLE.contains(&(table.as_str(), column.as_str())) {
                    found.insert(format!("{table}.{column}"));
                }
            }
        }
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    match f.name() {
                        "patient_at" => {
                            found.insert("vitals.patient_id".to_owned());
                        }
                        "encounter_at" => {
                            found.insert("vitals.encounter_id".to_owned());
                        }
                        _ => {}
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(TreeNodeRecursion::Continue)
    });
    found.into_iter().collect()
}

/// The patient ids in a result (see the module doc), sorted and distinct.
pub fn patient_ids(batches: &[RecordBatch], snapshot: &AssociationSnapshot) -> Vec<String> {
    let mut found = BTreeSet::new();
    let known = |v: &str| !snapshot.patient_intervals(v).is_empty() || !snapshot.stays_of(v).is_empty();
    for batch in batches {
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let named = matches!(field.name().to_lowercase().as_str(), "patient_id" | "patient_ids");
            for value in string_values(column) {
                if named || known(&value) {
                    found.insert(value);
                }
            }
        }
    }
    found.into_iter().collect()
}

/// The non-null values of a string column or a list of strings (none for other types).
fn string_values(column: &ArrayRef) -> Vec<String> {
    match column.data_type() {
        DataType::List(_) => {
            let list = column.as_list::<i32>();
            string_values(list.values())
        }
        DataType::LargeList(_) => string_values(column.as_list::<i64>().values()),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            match crate::columns::strings(column) {
                Ok(s) => s.iter().flatten().map(str::to_owned).collect(),
                Err(_) => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}
