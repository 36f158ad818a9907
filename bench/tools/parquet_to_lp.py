#!/usr/bin/env python3
"""The readings of a wardstream data directory as InfluxDB line protocol, for influx_bytes.py:
one point per (device, time), one field per metric, tags device, ward, bed, patient (as stored),
timestamps in ms (the `--precision` influx_bytes.py writes with).

Usage: parquet_to_lp.py DATA_DIR OUT_FILE   (prints the readings-per-point ratio to stderr)
"""
import sys
from collections import defaultdict

import pyarrow.dataset as ds


def tag(v):
    return (v or "none").replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")


def main():
    data, out = sys.argv[1], sys.argv[2]
    table = ds.dataset(f"{data}/vitals", format="parquet", partitioning="hive").to_table(
        columns=["device_id", "time", "metric", "value", "ward", "bed", "patient_id"])
    points = defaultdict(dict)
    tags = {}
    cols = [table.column(c).to_pylist() for c in ["device_id", "time", "metric", "value", "ward", "bed", "patient_id"]]
    for dev, t, metric, value, ward, bed, patient in zip(*cols):
        key = (dev, int(t.timestamp() * 1000))
        points[key][metric] = value
        tags[key] = (ward, bed, patient)
    readings = 0
    with open(out, "w") as f:
        for (dev, ms), fields in sorted(points.items()):
            ward, bed, patient = tags[(dev, ms)]
            readings += len(fields)
            body = ",".join(f"{m}={v!r}" for m, v in sorted(fields.items()))
            f.write(f"vitals,device={tag(dev)},ward={tag(ward)},bed={tag(bed)},patient={tag(patient)} {body} {ms}\n")
    print(f"{readings} readings in {len(points)} points: {readings / max(len(points), 1):.3f} per point", file=sys.stderr)
    print(f"{readings / max(len(points), 1)}")


if __name__ == "__main__":
    main()
