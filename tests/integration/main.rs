//! wardstream's black-box integration tests, one binary, against real peers: Mosquitto
//! (`mosquitto`, `mosquitto_pub`), pyarrow and DuckDB as independent Parquet readers, and the
//! `wardstream` binary itself. `scripts/test.sh` installs the peers and builds the binary first.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod association_story;
mod cli;
mod mimic_replay;
mod mqtt_bulk;
mod mqtt_rfc8428;
mod quality_report;
mod support;
