//! wardstream's black-box integration tests, one binary, against real peers: Mosquitto
//! (`mosquitto`, `mosquitto_pub`), pyarrow and DuckDB as independent Parquet readers, and the
//! `wardstream` binary itself. `scripts/test.sh` installs the peers and builds the binary first.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod api_adt_samples;
mod api_bad_requests;
mod api_common;
mod api_devices_wards;
mod api_fhir_validation;
mod api_live_stream;
mod api_restart;
mod association_story;
mod audit_cli;
mod cli;
mod compaction_service;
mod driver_state;
mod durability;
mod logs_privacy;
mod mimic_replay;
mod mqtt_bulk;
mod mqtt_identity;
mod mqtt_rfc8428;
mod mqtt_tls;
mod pcd01_gateway;
mod pcd01_serial;
mod quality_report;
mod recovery_replay;
mod security_audit;
mod security_jwt;
mod security_matrix;
mod security_process;
mod support;
mod tls_listeners;
mod wardsim_pcd01;
