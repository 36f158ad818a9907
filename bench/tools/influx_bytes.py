#!/usr/bin/env python3
"""InfluxDB 1.x peer of the Parquet layout measurement (BENCHMARKS.md, "Parquet layout").

Starts a private influxd (temp directories, port 18086, cold-write compaction after 30 s),
writes a line-protocol file (from `dataset --influx-lines`) over HTTP in chunks of 5,000 lines
(precision ms), waits until the shards are fully compacted (data directory size stable, WAL
empty), and prints JSON: readings (fields), points, bytes of data + wal, bytes per reading.

Usage: influx_bytes.py LINES_FILE [--readings-per-line 10]
"""
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request, urllib.parse

PORT = 18086

def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except FileNotFoundError:
                pass
    return total

def disk_usage(path):
    """Allocated bytes (st_blocks), which counts a sparse preallocated file at what it holds."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def post(path, body, params):
    url = f"http://127.0.0.1:{PORT}{path}?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()

def main():
    lines_file = sys.argv[1]
    per_line = float(sys.argv[sys.argv.index("--readings-per-line") + 1]) if "--readings-per-line" in sys.argv else 10
    tmp = tempfile.mkdtemp(prefix="influx-bench-")
    conf = os.path.join(tmp, "influxdb.conf")
    with open(conf, "w") as f:
        f.write(f"""reporting-enabled = false
bind-address = "127.0.0.1:18088"
[meta]
  dir = "{tmp}/meta"
[data]
  dir = "{tmp}/data"
  wal-dir = "{tmp}/wal"
  index-version = "inmem"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "5s"
  compact-full-write-cold-duration = "30s"
  max-series-per-database = 0
  max-values-per-tag = 0
[http]
  bind-address = "127.0.0.1:{PORT}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
""")
    log = open(os.path.join(tmp, "influxd.log"), "w")
    proc = subprocess.Popen(["influxd", "-config", conf], stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/ping", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        post("/query", None, {"q": "CREATE DATABASE bench"})
        points = 0
        started = time.time()
        chunk = []
        with open(lines_file, "rb") as f:
            for line in f:
                chunk.append(line)
                if len(chunk) == 5000:
                    post("/write", b"".join(chunk), {"db": "bench", "precision": "ms"})
                    points += len(chunk)
                    chunk = []
            if chunk:
                post("/write", b"".join(chunk), {"db": "bench", "precision": "ms"})
                points += len(chunk)
        write_s = time.time() - started
        # Wait for full compaction: data size stable for 60 s and the WAL empty.
        last, stable_since = -1, time.time()
        while True:
            time.sleep(5)
            size, wal = du(f"{tmp}/data"), du(f"{tmp}/wal")
            if size != last:
                last, stable_since = size, time.time()
            elif time.time() - stable_since > 60 and wal < 1024 * 64:
                break
            if time.time() - started > 3600:
                break
        count = post("/query", None, {"db": "bench", "q": "SELECT count(HR) FROM vitals"})
        data, wal = du(f"{tmp}/data"), du(f"{tmp}/wal")
        files = {}
        for root, _, names in os.walk(tmp):
            for n in names:
                p = os.path.join(root, n)
                files[os.path.relpath(p, tmp)] = os.path.getsize(p)
        readings = round(points * per_line)
        tsm = sum(v for k, v in files.items() if k.endswith(".tsm") or k.endswith(".tsi") or k.endswith(".tombstone"))
        allocated = disk_usage(f"{tmp}/data") + disk_usage(f"{tmp}/wal")
        print(json.dumps({
            "points": points, "readings": readings, "write_s": round(write_s, 1),
            "write_readings_per_s": round(readings / write_s),
            "data_bytes": data, "wal_bytes": wal,
            "tsm_bytes": tsm,
            "disk_usage_bytes": allocated,
            "bytes_per_reading_apparent": round((data + wal) / readings, 3),
            # What the readings take: the TSM files (data, timestamps, series keys) and WAL; the
            # series file `_series` is preallocated in 4 MiB segments and counted at its
            # allocated size (st_blocks) in `bytes_per_reading_on_disk`.
            "bytes_per_reading_tsm": round((tsm + wal) / readings, 3),
            "bytes_per_reading_on_disk": round(allocated / readings, 3),
            "bytes_per_reading": round(allocated / readings, 3),
            "count_check": json.loads(count)["results"][0]["series"][0]["values"][0][1],
            "files": files,
            "version": subprocess.run(["influxd", "version"], capture_output=True, text=True).stdout.strip(),
        }, indent=2))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
