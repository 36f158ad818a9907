//! `[auth]`: who may call the HTTP API. Static bearer tokens (`[[auth.tokens]]`, stored as
//! SHA-256 hashes or read from a file or the environment, never written in clear in the config)
//! and JWTs from the hospital's single sign-on (`[auth.jwt]`, keys from a JWKS file).
//!
//! ```toml
//! [auth]
//! clinician_recent_hours = 24      # a clinician sees patients in their wards now or this recently
//!
//! [[auth.tokens]]
//! name = "icu-nurses"
//! role = "clinician"               # clinician | analyst | integration | admin
//! wards = ["ICU"]                  # clinicians only: the wards they see
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # hex SHA-256 of the token
//!
//! [[auth.tokens]]
//! name = "adt-engine"
//! role = "integration"
//! token_file = "/etc/wardstream/adt-token"   # or token_env = "WARDSTREAM_ADT_TOKEN"
//!
//! [auth.jwt]
//! jwks_file = "/etc/wardstream/sso-jwks.json"
//! issuer = "https://sso.hospital.example"
//! audience = "wardstream"
//! role_claim = "wardstream_role"   # default "role"
//! wards_claim = "wards"            # default "wards": an array, or one string of space/comma separated wards
//! ```
//!
//! With the HTTP API on, at least one token or the `[auth.jwt]` section is required: the service
//! refuses to start otherwise.

use std::path::PathBuf;

use serde::Deserialize;

use super::Role;

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Static bearer tokens (`[[auth.tokens]]`).
    pub tokens: Vec<TokenEntry>,
    /// JWTs from single sign-on (`[auth.jwt]`), when configured.
    pub jwt: Option<JwtSettings>,
    /// A clinician sees a patient who is in one of their wards now or was within this many
    /// hours. Default 24.
    pub clinician_recent_hours: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings { tokens: Vec::new(), jwt: None, clinician_recent_hours: default_clinician_recent_hours() }
    }
}

/// Default [`AuthSettings::clinician_recent_hours`].
pub const fn default_clinician_recent_hours() -> u64 {
    24
}

/// One static bearer token: exactly one of `sha256`, `token_file` and `token_env`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// The user (or system) name the token stands for, as audit records show it.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The wards a clinician sees (required for `clinician`, ignored otherwise).
    #[serde(default)]
    pub wards: Vec<String>,
    /// The hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
    pub sha256: Option<String>,
    /// A file holding the token (surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the token.
    pub token_env: Option<String>,
}

/// `[auth.jwt]`: JWTs signed RS256 or ES256 by a key of the JWKS file; issuer, audience and
/// expiry checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The JSON Web Key Set (`{"keys": [...]}`) holding the issuer's public keys.
    pub jwks_file: PathBuf,
    /// The `iss` required.
    pub issuer: String,
    /// The `aud` required.
    pub audience: String,
    /// The claim naming the role. Default `role`.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// The claim listing a clinician's wards. Default `wards`.
    #[serde(default = "default_wards_claim")]
    pub wards_claim: String,
    /// The claim naming the user. Default `sub`.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, seconds. Default 30.
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
}

fn default_role_claim() -> String {
    "role".into()
}

fn default_wards_claim() -> String {
    "wards".into()
}

fn default_user_claim() -> String {
    "sub".into()
}

/// Default [`JwtSettings::leeway_secs`].
pub const fn default_leeway_secs() -> u64 {
    30
}
