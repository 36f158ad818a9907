#!/usr/bin/env bash
# Regenerates every figure of BENCHMARKS.md and the generated tables in it:
#   1. criterion benches (hot_path, decoders, attach, pipeline), release
#   2. the load harness (scripts/bench-load.sh: 20,000 readings/s and flat out, WAL on and off)
#   3. the Parquet layout data sets (`dataset`: 10 M and the large set), each next to its raw SenML
#      bytes and to InfluxDB 1.x storing the same readings with and without their receive times
#      (bench/tools/influx_bytes.py); and 10 minutes of `wardstream demo`'s own data
#   4. the five analyst queries, `wardstream query` vs DuckDB on the large set (bench/tools/queries.py)
#   5. bench/tools/tables.py: bench/results/tables.md and the tables between the markers in BENCHMARKS.md
# Environment: CARGO_TARGET_DIR (default target), LARGE_DEVICES / LARGE_SECONDS (the large set,
# default 1000 × 10000 s = 100 M readings), SKIP (space-separated steps to skip: criterion load
# layout influx queries), WORK (where data sets go, default /tmp/wardstream-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
work="${WORK:-/tmp/wardstream-bench}"
skip=" ${SKIP:-} "
large_devices="${LARGE_DEVICES:-1000}"
large_seconds="${LARGE_SECONDS:-10000}"
mkdir -p bench/results "$work"
skipped() { [[ "$skip" == *" $1 "* ]]; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! skipped influx && ! command -v influxd >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
fi

cargo build --release -p wardstream-bench --bins
cargo build --release -p wardstream-ingest --bin wardstream

if ! skipped criterion; then
  for b in hot_path decoders attach pipeline; do
    cargo bench -p wardstream-bench --bench "$b" 2>&1 | tee "bench/results/criterion-$b.txt"
  done
fi

if ! skipped load; then
  scripts/bench-load.sh
fi

layout() {
  local name="$1" devices="$2" seconds="$3"
  rm -rf "$work/$name"
  "$target/release/dataset" --devices "$devices" --seconds "$seconds" --out "$work/$name" \
    --influx-lines "$work/$name.lp" --influx-received-at > "bench/results/layout-$name.json"
  if ! skipped influx; then
    # InfluxDB twice: with each pack's receive time as a field (the information wardstream's
    # files hold), and with the values only.
    python3 bench/tools/influx_bytes.py "$work/$name.lp" > "bench/results/influx-$name-received_at.json"
    sed 's/,received_at=[0-9]*i / /' "$work/$name.lp" > "$work/$name.values.lp"
    python3 bench/tools/influx_bytes.py "$work/$name.values.lp" > "bench/results/influx-$name.json"
  fi
  rm -f "$work/$name.lp" "$work/$name.values.lp"
}
if ! skipped layout; then
  layout hospital-1000-beds-1000s 1000 1000
  layout "hospital-${large_devices}-beds-${large_seconds}s" "$large_devices" "$large_seconds"
  # the demo's own data: 10 minutes of `wardstream demo` (16 beds, MIMIC-II numerics), compacted
  rm -rf "$work/demo"
  "$target/release/wardstream" demo --data "$work/demo" --duration 600 --http 127.0.0.1:18480 > "$work/demo.out"
  "$target/release/dataset" --measure "$work/demo" > bench/results/layout-demo-16-beds-600s.json
fi

if ! skipped queries; then
  python3 bench/tools/queries.py "$work/hospital-${large_devices}-beds-${large_seconds}s" "$target/release/wardstream" \
    --runs 3 > bench/results/queries.json
fi

python3 bench/tools/tables.py "$target/criterion" bench/results BENCHMARKS.md > /dev/null
echo "tables: bench/results/tables.md (and BENCHMARKS.md)" >&2
