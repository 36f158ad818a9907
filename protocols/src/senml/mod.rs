//! A sans-I/O SenML JSON codec (RFC 8428): bytes in, resolved records out.
//!
//! - [`decode`] parses a pack (`application/senml+json`) and resolves every record against the
//!   base fields in force (`bn`, `bt`, `bu`, `bv`, `bs`, `bver`; RFC 8428 §4.5, §4.6): name =
//!   `bn` + `n`, value = `bv` + `v` (numbers only), unit = `u` or else `bu`, sum = `bs` + `s`,
//!   time = `bt` + `t`. A resolved time below 2^28 s is relative to the "now" the caller passes
//!   (the receive time); a record without any time is "now".
//! - The whole pack is rejected ([`SenmlError`]) when it is not a JSON array of objects (bad
//!   JSON, invalid UTF-8, wrong types such as `"v":"12"`, a label twice, trailing bytes), when
//!   a record declares `bver` above 10 or a must-understand label (ending in `_`). Other
//!   unknown labels are ignored.
//! - A single record is rejected ([`RecordError`]) when its resolved name breaks the RFC's
//!   character rule, when it has no value (only a sum counts as none), more than one value,
//!   or a time that cannot be represented. A record of base fields only yields nothing.
//! - [`pack_to_batch`] turns a message into an `IngestBatch` for the pipeline, choosing each
//!   reading's device id by the [`DeviceIdRule`] (see [`device`] for the rule);
//!   [`pack_to_batch_with_identity`] first checks that the payload names no device but its
//!   topic's, under an [`IdentityPolicy`] (see [`identity`]).
//! - Speed: [`pack_to_batch`] first runs a single-pass byte scanner (`scan`, `fast`) that
//!   resolves base fields on the fly and writes readings straight into the batch; on anything
//!   unusual or invalid it hands the payload to the serde-based decoder above, which stays the
//!   reference ([`reference_pack_to_batch_with_identity`]) and gives every error its message.
//!
//! ```
//! use wardstream_protocols::senml::{Value, decode};
//!
//! let pack = br#"[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.7e9,"bu":"Cel","n":"temp","v":23.1},
//!                 {"n":"temp","t":-60,"v":22.9}]"#;
//! let records = decode(pack, 1_700_000_005_000_000).unwrap();
//! let second = records[1].as_ref().unwrap();
//! assert_eq!(second.name, "urn:dev:ow:10e2073a01080063:temp");
//! assert_eq!((&second.value, second.unit.as_deref()), (&Value::Number(22.9), Some("Cel")));
//! assert_eq!(second.time, 1_699_999_940_000_000);
//! ```

mod batch;
pub mod device;
mod error;
mod fast;
pub mod identity;
mod resolve;
mod scan;
mod wire;

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod identity_tests;
#[cfg(test)]
mod resolve_tests;
#[cfg(test)]
mod rfc_tests;

pub use batch::{pack_to_batch, pack_to_batch_with_identity, reference_pack_to_batch_with_identity};
pub use device::{DeviceIdFrom, DeviceIdRule};
pub use error::{RecordError, RecordErrorKind, SUPPORTED_VERSION, SenmlError};
pub use identity::IdentityPolicy;
pub use resolve::{Item, RELATIVE_TIME_LIMIT_SECONDS, Record, Value, decode, is_valid_name};
