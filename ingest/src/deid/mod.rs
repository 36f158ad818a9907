//! # De-identification: what an `analyst` (and `wardstream query --deidentified`) sees
//!
//! - `patient_id` and `encounter_id` are replaced by **keyed pseudonyms**:
//!   `pt_` / `enc_` + the first 20 hex digits (80 bits) of HMAC-SHA256(key, `"patient:" + id`)
//!   (`"encounter:" + id`). Stable for a key (the same patient gets the same pseudonym in every
//!   query, across restarts), different under another key, and not reversible or checkable
//!   without the key: the pseudonym function is never offered to SQL, only baked into the views.
//! - **Free text is dropped**: `dead_letters.detail` (parser messages quote what was received)
//!   and `dead_letters.payload` (the raw message: an HL7 payload carries names and MRNs). The
//!   vitals table has no free text (`source_name` is a device's label for a metric, such as
//!   `HR`). `device_id`, `ward` and `bed` are kept: they name equipment and places, not people,
//!   though with times they are quasi-identifiers — an analyst with a bed plan and an admission
//!   list could re-identify a stay. Turn on time shifting to blunt that.
//! - **Times shifted per patient** (optional, `[privacy] shift_times = true`): `time`,
//!   `device_time` and `received_at` of a reading attributed to a patient move by a whole number
//!   of days in ±1…182, keyed by HMAC(key, `"shift:" + patient_id`): intervals within one
//!   patient's data are preserved (and times of day), dates are not. The `date` partition column
//!   (which would give the real day away) is then left out of `vitals`. Readings with no patient
//!   are not shifted.
//!
//! The views are built by [`views`] over the identified `vitals` view of [`crate::sql_view`];
//! analyst sessions get only the de-identified views registered (no `vitals_stored`, no
//! attribution functions, no `audit`), see [`crate::sql_api`].

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub mod views;

/// Shortest accepted key, bytes.
pub const MIN_KEY_BYTES: usize = 16;
/// Hex digits kept of the HMAC in a pseudonym.
pub const PSEUDONYM_HEX_DIGITS: usize = 20;
/// Largest time shift, days (either way).
pub const MAX_SHIFT_DAYS: i64 = 182;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The secret behind pseudonyms and time shifts, and whether times are shifted.
#[derive(Clone)]
pub struct Deidentifier {
    key: std::sync::Arc<[u8]>,
    shift_times: bool,
}

impl std::fmt::Debug for Deidentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Deidentifier").field("shift_times", &self.shift_times).finish_non_exhaustive()
    }
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("pseudonym key file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The environment variable is not set (or not UTF-8).
    #[error("pseudonym key: environment variable {0} is not set")]
    MissingEnv(String),
    /// The key is too short.
    #[error("pseudonym key is {0} bytes; at least {MIN_KEY_BYTES} are needed (e.g. `openssl rand -hex 32`)")]
    TooShort(usize),
}

impl Deidentifier {
    /// A de-identifier with `key` (its bytes as given, surrounding whitespace trimmed; at least
    /// [`MIN_KEY_BYTES`]).
    pub fn new(key: &[u8], shift_times: bool) -> Result<Deidentifier, KeyError> {
        let key = key.trim_ascii();
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(key.len()));
        }
        Ok(Deidentifier { key: key.into(), shift_times })
    }

    /// The key from a file (its contents, whitespace trimmed).
    pub fn from_key_file(path: &Path, shift_times: bool) -> Result<Deidentifier, KeyError> {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read { path: path.to_path_buf(), source })?;
        Self::new(&bytes, shift_times)
    }

    /// The key from an environment variable.
    pub fn from_env(var: &str, shift_times: bool) -> Result<Deidentifier, KeyError> {
        let value = std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?;
        Self::new(value.as_bytes(), shift_times)
    }

    /// Whether times are shifted per patient.
    pub fn shifts_times(&self) -> bool {
        self.shift_times
    }

    /// The pseudonym of a patient id: `pt_` + 20 hex digits.
    pub fn patient_pseudonym(&self, patient_id: &str) -> String {
        format!("pt_{}", self.hex_mac("patient:", patient_id))
    }

    /// The pseudonym of an encounter id: `enc_` + 20 hex digits.
    pub fn encounter_pseudonym(&self, encounter_id: &str) -> String {
        format!("enc_{}", self.hex_mac("encounter:", encounter_id))
    }

    /// The time shift of a patient's data, µs: a whole number of days in ±1…[`MAX_SHIFT_DAYS`]
    /// (0 when times are not shifted).
    pub fn shift_micros(&self, patient_id: &str) -> i64 {
        if !self.shift_times {
            return 0;
        }
        let mac = self.mac("shift:", patient_id);
        let mut first = [0u8; 8];
        first.copy_from_slice(&mac[..8]);
        let span = 2 * MAX_SHIFT_DAYS as u64; // 364 non-zero values: -182..=-1 and 1..=182
        let n = (u64::from_be_bytes(first) % span) as i64;
        let days = if n < MAX_SHIFT_DAYS { n - MAX_SHIFT_DAYS } else { n - MAX_SHIFT_DAYS + 1 };
        days * MICROS_PER_DAY
    }

    fn mac(&self, domain: &str, value: &str) -> [u8; 32] {
        // HMAC accepts keys of any length: new_from_slice cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else { return [0; 32] };
        mac.update(domain.as_bytes());
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn hex_mac(&self, domain: &str, value: &str) -> String {
        let mut hex = hex::encode(self.mac(domain, value));
        hex.truncate(PSEUDONYM_HEX_DIGITS);
        hex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn pseudonyms_are_stable_prefixed_and_keyed() {
        let a = Deidentifier::new(KEY, false).unwrap();
        let b = Deidentifier::new(b"another key, also long enough", false).unwrap();
        let p = a.patient_pseudonym("MRN-001");
        assert_eq!(p, Deidentifier::new(KEY, false).unwrap().patient_pseudonym("MRN-001"));
        assert!(p.starts_with("pt_"));
        assert_eq!(p.len(), 3 + PSEUDONYM_HEX_DIGITS);
        assert_ne!(p, b.patient_pseudonym("MRN-001"));
        assert_ne!(p, a.patient_pseudonym("MRN-002"));
        assert!(a.encounter_pseudonym("MRN-001").starts_with("enc_"));
        assert_ne!(a.encounter_pseudonym("MRN-001")[4..], p[3..]);
    }

    #[test]
    fn pseudonyms_are_hmac_sha256_as_documented() {
        // Computed independently: python3 hmac.new(KEY, b"patient:MRN-001", sha256).hexdigest()[:20]
        let d = Deidentifier::new(KEY, false).unwrap();
        assert_eq!(d.patient_pseudonym("MRN-001"), "pt_b7ec476e904e64cc5773");
        assert_eq!(d.encounter_pseudonym("ENC-1"), "enc_749580ac7c9858c42e1f");
    }

    #[test]
    fn short_keys_are_refused_and_whitespace_trimmed() {
        assert!(matches!(Deidentifier::new(b"short", false), Err(KeyError::TooShort(5))));
        let padded = [KEY, b"\n"].concat();
        assert_eq!(
            Deidentifier::new(&padded, false).unwrap().patient_pseudonym("x"),
            Deidentifier::new(KEY, false).unwrap().patient_pseudonym("x")
        );
    }

    #[test]
    fn shifts_are_whole_nonzero_days_within_range() {
        let d = Deidentifier::new(KEY, true).unwrap();
        for i in 0..500 {
            let s = d.shift_micros(&format!("P{i}"));
            assert_eq!(s % MICROS_PER_DAY, 0);
            let days = s / MICROS_PER_DAY;
            assert!(days != 0 && days.abs() <= MAX_SHIFT_DAYS, "{days}");
        }
        assert_eq!(Deidentifier::new(KEY, false).unwrap().shift_micros("P1"), 0);
    }
}
