#!/usr/bin/env bash
# Installs the real peers wardstream's tests use when they are missing: the Mosquitto broker and
# clients and socat from Debian, and the Python peers in scripts/test-peers.txt from PyPI.
# scripts/test.sh runs it first; run it alone before running single tests by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing_apt=()
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || missing_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing_apt+=(mosquitto-clients)
command -v socat >/dev/null 2>&1 || missing_apt+=(socat)
command -v curl >/dev/null 2>&1 || missing_apt+=(curl)   # HTTPS checks (tls_listeners)
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

