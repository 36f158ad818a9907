//! # wardstream-protocols: wire formats and transport drivers
//!
//! Everything between a device's bytes and the pipeline's [`IngestBatch`]:
//!
//! - [`senml`]: a sans-I/O SenML JSON codec (RFC 8428). [`senml::decode`] turns a payload into
//!   resolved [`senml::Record`]s (base fields applied, relative times made absolute), rejecting
//!   bad packs ([`senml::SenmlError`]) or single bad records ([`senml::RecordError`]) without
//!   panicking on any input. [`senml::pack_to_batch`] turns one message into an
//!   [`IngestBatch`] of [`RawReading`]s and [`DeadLetter`]s, choosing each reading's device id
//!   by the [`senml::DeviceIdRule`] (the rule is documented in [`senml::device`]).
//! - [`mqtt`]: the MQTT driver on rumqttc. [`mqtt::MqttConfig`] configures it,
//!   [`mqtt::run`] connects, subscribes, reconnects with backoff and feeds every message
//!   through `pack_to_batch` into the pipeline's [`Inlet`](wardstream_pipeline::Inlet);
//!   [`mqtt::MqttStats`] counts what it did.
//! - [`masimo`]: a sans-I/O codec for Masimo pulse oximeters' "ASCII 1" serial lines
//!   ([`masimo::MasimoDecoder`]: device id from the serial number, local time to UTC, `EXC`
//!   exception bits to quality flags, malformed lines to dead letters).
//! - [`serial`]: the serial driver on tokio-serial, one task per port ([`serial::run`],
//!   [`serial::spawn`]): pluggable framing ([`serial::Framer`]), reopening lost ports with
//!   backoff, [`serial::SerialStats`] per port.
//! - [`modbus`]: the Modbus TCP/RTU poller on rmodbus and tokio-serial. Register maps per device
//!   model ([`modbus::ModbusConfig`]), a sans-I/O core ([`modbus::DevicePoller`]: requests out,
//!   readings and dead letters in) and [`modbus::run`], one task per connection, with
//!   timeouts, retries and reconnection counted in [`modbus::ModbusStats`].
//! - [`hl7`]: a sans-I/O HL7 v2 parser ([`hl7::Message`], never panics), ACKs
//!   ([`hl7::ack`]), ADT messages as association events ([`hl7::adt::decode`]) and IHE PCD-01
//!   `ORU^R01` as reading batches ([`hl7::pcd01::decode`]).
//! - [`mllp`]: MLLP framing ([`mllp::MllpDecoder`], sans-I/O) and the tokio listener
//!   ([`mllp::serve`]) that hands each message to an [`mllp::MllpHandler`] and acknowledges it
//!   only once the handler's future resolves; [`mllp::MllpStats`] counts what it did.
//!
//! Codecs never touch sockets; drivers own the I/O and call the codecs.
//!
//! ```
//! use wardstream_pipeline::{RawValue, Reason};
//! use wardstream_protocols::senml::{DeviceIdRule, pack_to_batch};
//!
//! let payload = br#"[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":1.7e9,"n":"HR","u":"/min","v":72},
//!                    {"n":"SpO2","u":"%","t":1,"v":97},
//!                    {"n":"RESP","u":"/min"}]"#;
//! let now = 1_700_000_002_000_000;
//! let batch = pack_to_batch(payload, "wardstream/icu/bed-4", &DeviceIdRule::default(), now);
//!
//! let hr = &batch.readings[0];
//! assert_eq!((&*hr.device_id, hr.name.as_str()), ("urn:dev:mac:0024befffe804ff1", "HR"));
//! assert_eq!((&hr.value, hr.device_time), (&RawValue::Number(72.0), 1_700_000_000_000_000));
//! assert_eq!(batch.readings[1].device_time, 1_700_000_001_000_000);
//! // The record without a value is a dead letter; the others are unaffected.
//! assert_eq!(batch.dead_letters[0].reason, Reason::MissingValue);
//! ```
//!
//! [`IngestBatch`]: wardstream_pipeline::IngestBatch
//! [`RawReading`]: wardstream_pipeline::RawReading
//! [`DeadLetter`]: wardstream_pipeline::DeadLetter

// Tests may unwrap (a failed unwrap is a failed test); the library itself may not.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod hl7;
pub mod masimo;
pub mod mllp;
pub mod modbus;
pub mod mqtt;
pub mod senml;
pub mod serial;
