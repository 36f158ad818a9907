#!/usr/bin/env bash
# The end-to-end load scenarios of BENCHMARKS.md ("Load harness"): builds the `load` harness in
# release and runs, against a real Mosquitto and wardstream in-process,
#   1. durability on,  20,000 readings/s (the latency targets: live p99 <= 50 ms, timeline p99 <= 100 ms)
#   2. durability off, 20,000 readings/s
#   3. durability on,  flat out (stored rate vs the plain-subscriber ceiling, target >= 90 %)
#   4. durability off, flat out
# writing each JSON report to bench/results/load-<scenario>.json (a summary goes to stderr).
# Options: SECONDS_PER_RUN (default 30), DEVICES (default 2000), and any extra arguments are passed
# to every run (e.g. `scripts/bench-load.sh --connections 16`).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! [ -x /usr/sbin/mosquitto ] && ! command -v mosquitto >/dev/null 2>&1; then
  echo "installing mosquitto"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
fi

seconds="${SECONDS_PER_RUN:-30}"
devices="${DEVICES:-2000}"
cargo build --release -p wardstream-bench --bin load
load="${CARGO_TARGET_DIR:-target}/release/load"
mkdir -p bench/results

run() {
  local name="$1"; shift
  echo "== $name" >&2
  "$load" --devices "$devices" --seconds "$seconds" "$@" "${extra[@]}" > "bench/results/load-$name.json.tmp"
  mv "bench/results/load-$name.json.tmp" "bench/results/load-$name.json"
}

extra=("$@")
run durable-20k --durability on --rate 20000
run nondurable-20k --durability off --rate 20000
run durable-max --durability on --rate max
run nondurable-max --durability off --rate max
echo "results in bench/results/load-*.json" >&2
