//! Test support for wardstream's black-box integration tests (`tests/integration/`): nothing
//! here is product code. The tests run against real peers: a Mosquitto broker started per test,
//! `mosquitto_pub` as the publisher, and pyarrow/DuckDB as independent Parquet readers.
