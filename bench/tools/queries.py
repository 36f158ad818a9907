#!/usr/bin/env python3
"""The five analyst queries of BENCHMARKS.md, timed through `wardstream query` and through DuckDB
on the same Parquet files, with the results checked identical.

Usage: queries.py DATA_DIR WARDSTREAM_BIN [--runs 3] [--table vitals|vitals_stored]

`wardstream query` is timed as an analyst runs it: the whole process (start, reading the
association log, planning, executing, printing CSV). DuckDB (python `duckdb`) is timed per
query on an open connection, the result fetched into Python. The `vitals` table of wardstream
is the view that attributes each reading through the association history (the join with
associations happens there); DuckDB reads the stored columns, and joins `associations.csv`
explicitly for the fifth query. Results are compared after normalising: timestamps to epoch µs,
floats to a relative 1e-9. Prints JSON on stdout.
"""
import csv, io, json, math, statistics, subprocess, sys, time
from datetime import datetime, timezone

import duckdb

THRESHOLD = 75

QUERIES = {
    "q1_hourly_means_per_patient_metric": (
        """SELECT patient_id, metric, date_trunc('hour', time) AS hour, avg(value) AS mean, count(*) AS n
           FROM {vitals} WHERE patient_id IS NOT NULL
           GROUP BY patient_id, metric, date_trunc('hour', time) ORDER BY patient_id, metric, hour""",
        None,
    ),
    "q2_last_heart_rate_per_bed": (
        # The small side (one row per bed) first: DataFusion builds its hash table on the left
        # input and has no row estimate to swap the sides by, so `vitals v JOIN (…) m` built it
        # from a million readings. The same text runs on both engines; the result is the same.
        """SELECT v.bed, v.time, v.value
           FROM (SELECT bed, max(time) AS t FROM {vitals} WHERE metric = 'heart_rate' AND bed IS NOT NULL GROUP BY bed) m
           JOIN {vitals} v ON v.bed = m.bed AND v.time = m.t
           WHERE v.metric = 'heart_rate' ORDER BY v.bed""",
        None,
    ),
    "q3_seconds_heart_rate_above_75_per_patient": (
        f"""SELECT patient_id, count(*) AS seconds_above FROM {{vitals}}
           WHERE metric = 'heart_rate' AND value > {THRESHOLD} AND patient_id IS NOT NULL
           GROUP BY patient_id ORDER BY patient_id""",
        None,
    ),
    "q4_readings_per_device_per_day": (
        """SELECT device_id, date, count(*) AS readings FROM {vitals} GROUP BY device_id, date ORDER BY device_id, date""",
        None,
    ),
    "q5_heart_rate_per_encounter_join_associations": (
        # wardstream: the vitals view attributes every reading through the association history.
        """SELECT encounter_id, ward, count(*) AS n, avg(value) AS mean_hr FROM {vitals}
           WHERE metric = 'heart_rate' AND encounter_id IS NOT NULL
           GROUP BY encounter_id, ward ORDER BY encounter_id""",
        # DuckDB: the stored readings joined with the association intervals.
        """SELECT a.encounter_id, a.ward, count(*) AS n, avg(v.value) AS mean_hr
           FROM vitals v JOIN associations a
             ON v.device_id = a.device_id AND epoch_us(v.time) >= a.valid_from_us
            AND (a.valid_to_us IS NULL OR epoch_us(v.time) < a.valid_to_us)
           WHERE v.metric = 'heart_rate' GROUP BY a.encounter_id, a.ward ORDER BY a.encounter_id""",
    ),
}


def norm(value):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return ("t", int(round(value.timestamp() * 1e6)))
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "isoformat"):  # datetime.date
        return value.isoformat()
    s = str(value)
    try:
        return float(s)
    except ValueError:
        pass
    if len(s) >= 19 and s[4] == "-" and s[10] in "T ":
        try:
            return norm(datetime.fromisoformat(s.replace("Z", "+00:00")))
        except ValueError:
            pass
    return s


def same(a, b):
    if len(a) != len(b):
        return False, f"{len(a)} rows vs {len(b)}"
    for i, (ra, rb) in enumerate(zip(a, b)):
        if len(ra) != len(rb):
            return False, f"row {i}: {ra} vs {rb}"
        for x, y in zip(ra, rb):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False, f"row {i}: {ra} vs {rb}"
            elif x != y:
                return False, f"row {i}: {ra} vs {rb}"
    return True, ""


def main():
    data, binary = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    table = sys.argv[sys.argv.index("--table") + 1] if "--table" in sys.argv else "vitals"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""CREATE VIEW vitals AS SELECT * FROM read_parquet('{data}/vitals/*/*.parquet',
                    hive_partitioning = true, hive_types = {{'date': VARCHAR}})""")
    con.execute(f"""CREATE VIEW associations AS SELECT * FROM read_csv('{data}/associations.csv', header = true,
                    columns = {{'device_id': 'VARCHAR', 'patient_id': 'VARCHAR', 'encounter_id': 'VARCHAR',
                               'ward': 'VARCHAR', 'bed': 'VARCHAR', 'valid_from_us': 'BIGINT', 'valid_to_us': 'BIGINT'}})""")

    def ws(sql):
        started = time.perf_counter()
        out = subprocess.run([binary, "query", "--data", data, "--format", "csv", sql], capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if out.returncode != 0:
            raise SystemExit(f"wardstream query failed: {out.stderr}")
        rows = list(csv.reader(io.StringIO(out.stdout)))[1:]
        return elapsed, [[norm(v) for v in r] for r in rows]

    def dd(sql):
        started = time.perf_counter()
        rows = con.execute(sql).fetchall()
        elapsed = time.perf_counter() - started
        return elapsed, [[norm(v) for v in r] for r in rows]

    startup = statistics.median(ws("SELECT 1")[0] for _ in range(runs))
    report = {"data": data, "table": table, "runs": runs, "wardstream_startup_s": round(startup, 3), "queries": {}}
    ratios, ratios_net = [], []
    for name, (ws_sql, dd_sql) in QUERIES.items():
        ws_sql_t = ws_sql.format(vitals=table)
        dd_sql_t = dd_sql or ws_sql.format(vitals="vitals")
        ws_times, dd_times = [], []
        for _ in range(runs):
            t, ws_rows = ws(ws_sql_t)
            ws_times.append(t)
            t, dd_rows = dd(dd_sql_t)
            dd_times.append(t)
        ok, why = same(ws_rows, dd_rows)
        w, d = statistics.median(ws_times), statistics.median(dd_times)
        ratios.append(w / d)
        ratios_net.append(max(w - startup, 1e-3) / d)
        report["queries"][name] = {
            "rows": len(ws_rows), "identical": ok, "difference": why,
            "wardstream_s": [round(x, 3) for x in ws_times], "duckdb_s": [round(x, 3) for x in dd_times],
            "wardstream_median_s": round(w, 3), "duckdb_median_s": round(d, 3), "ratio": round(w / d, 2),
            "ratio_without_startup": round(max(w - startup, 1e-3) / d, 2),
        }
        print(f"{name}: wardstream {w:.3f} s, duckdb {d:.3f} s, ratio {w / d:.2f}, identical {ok} {why}", file=sys.stderr)
    report["geomean_ratio"] = round(math.exp(sum(map(math.log, ratios)) / len(ratios)), 2)
    report["geomean_ratio_without_startup"] = round(math.exp(sum(map(math.log, ratios_net)) / len(ratios_net)), 2)
    report["duckdb_version"] = duckdb.__version__
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
