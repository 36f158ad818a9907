"""Independent Parquet readers for wardstream's integration tests.

Reads <data_dir>/vitals (hive-partitioned by date) with pyarrow and with DuckDB and prints one
JSON object: row counts, value sums and the column types each reader sees.
"""
import json
import sys

import duckdb
import pyarrow.dataset as ds

data_dir = sys.argv[1]
dataset = ds.dataset(f"{data_dir}/vitals", format="parquet", partitioning="hive")
table = dataset.to_table()
con = duckdb.connect()
duck_rows, duck_sum, duck_devices = con.execute(
    "SELECT count(*), sum(value), count(DISTINCT device_id) "
    f"FROM read_parquet('{data_dir}/vitals/*/*.parquet', hive_partitioning = true)"
).fetchone()
print(json.dumps({
    "pyarrow_rows": table.num_rows,
    "pyarrow_sum": sum(v for v in table.column("value").to_pylist()),
    "pyarrow_types": {f.name: str(f.type) for f in table.schema},
    "duckdb_rows": duck_rows,
    "duckdb_sum": duck_sum,
    "duckdb_devices": duck_devices,
}))
