#!/usr/bin/env bash
# Runs every wardstream test on a fresh machine: installs the real peers the tests use when they
# are missing (Mosquitto broker and clients and socat from Debian; the Python peers in
# scripts/test-peers.txt from PyPI), builds the
# `wardstream` binary the black-box tests drive, then runs the whole suite in one build profile.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-peers.sh

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
