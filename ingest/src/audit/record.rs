//! One audit record as stored: a JSON object on one line, hash-chained to the record before it.
//!
//! The hash is SHA-256 over the record's canonical form — the JSON serialisation of every field
//! except `hash`, in the fixed order below, with `prev_hash` included — written as lowercase hex.
//! Verification re-serialises the parsed fields, so whitespace in the file does not matter but
//! any change of a value does.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A stored audit record (one line of `audit/audit.log`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When the record was made: RFC 3339 UTC with microseconds (`2026-12-03T07:24:26.123456Z`).
    pub time: String,
    /// Who: the authenticated principal's name.
    pub user: String,
    /// The principal's role (`clinician`, `analyst`, `integration`, `admin`).
    pub role: String,
    /// What was done, e.g. `timeline`, `fhir_search`, `sql`, `association_change`.
    pub action: String,
    /// The patients whose data was returned or changed.
    pub patient_ids: Vec<String>,
    /// How many rows or resources were returned.
    pub result_count: u64,
    /// The client's address.
    pub client: String,
    /// The `hash` of the record before (or [`GENESIS_HASH`]).
    pub prev_hash: String,
    /// SHA-256 (hex) of this record's canonical form.
    pub hash: String,
}

/// The hashed fields, in hashing order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    time: &'a str,
    user: &'a str,
    role: &'a str,
    action: &'a str,
    patient_ids: &'a [String],
    result_count: u64,
    client: &'a str,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// The SHA-256 (hex) of this record's fields other than `hash`.
    pub fn compute_hash(&self) -> String {
        let canonical = Canonical {
            seq: self.seq,
            time: &self.time,
            user: &self.user,
            role: &self.role,
            action: &self.action,
            patient_ids: &self.patient_ids,
            result_count: self.result_count,
            client: &self.client,
            prev_hash: &self.prev_hash,
        };
        // Serialising plain strings and integers cannot fail; an empty input would only make
        // verification fail, never pass.
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// The line as written to the log, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &[u8]) -> Result<AuditRecord, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        let mut r = AuditRecord {
            seq: 1,
            time: "2026-12-03T07:24:26.000000Z".into(),
            user: "alice".into(),
            role: "clinician".into(),
            action: "timeline".into(),
            patient_ids: vec!["P1".into()],
            result_count: 3,
            client: "127.0.0.1:5000".into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        r.hash = r.compute_hash();
        r
    }

    #[test]
    fn round_trip_keeps_the_hash_valid() {
        let r = record();
        let line = r.to_line();
        assert_eq!(line.last(), Some(&b'\n'));
        let parsed = AuditRecord::parse(&line[..line.len() - 1]).unwrap();
        assert_eq!(parsed, r);
        assert_eq!(parsed.compute_hash(), r.hash);
        assert_eq!(r.hash.len(), 64);
    }

    #[test]
    fn any_field_change_changes_the_hash() {
        let r = record();
        let mut changed = r.clone();
        changed.result_count = 4;
        assert_ne!(changed.compute_hash(), r.hash);
        let mut changed = r.clone();
        changed.patient_ids.push("P2".into());
        assert_ne!(changed.compute_hash(), r.hash);
        let mut changed = r;
        changed.prev_hash = "1".repeat(64);
        assert_ne!(changed.compute_hash(), changed.hash);
    }
}
