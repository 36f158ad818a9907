#!/usr/bin/env bash
# Runs every wardstream test on a fresh machine: installs the real peers the tests use when they
# are missing (Mosquitto broker and clients and socat from Debian; the Python peers in
# scripts/test-peers.txt from PyPI), builds the
# `wardstream` binary the black-box tests drive, then runs the whole suite in one build profile.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing_apt=()
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || missing_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing_apt+=(mosquitto-clients)
command -v socat >/dev/null 2>&1 || missing_apt+=(socat)
if [ ${#missing_apt[@]} -gt 0 ]; then
  echo "installing ${missing_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi
# The Debian package may start a system broker on 1883; the tests use their own ports.

# Independent peers: Parquet readers, an HL7 MLLP client, a Modbus implementation, FHIR models.
if ! python3 -c 'import pyarrow, duckdb, hl7, pymodbus, serial, fhir.resources.R4B' >/dev/null 2>&1; then
  echo "installing the Python test peers"
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/test-peers.txt
fi

# Exactly one arrow and one parquet in the tree (DataFusion 55.2 pins 59.3; a second copy means
# two incompatible RecordBatch types and twice the build).
if cargo tree -d --workspace --edges normal,build 2>/dev/null | grep -E '^(arrow|parquet|object_store|datafusion)[a-z_-]* v'; then
  echo "error: a second version of the crates above is in the dependency tree" >&2
  exit 1
fi

# One profile (dev) for everything: build the binary the CLI tests run, then every test target,
# then the doctests (which --all-targets leaves out). Benches run once each as smoke tests.
cargo build --workspace --bins
cargo test --workspace --all-targets
cargo test --workspace --doc
