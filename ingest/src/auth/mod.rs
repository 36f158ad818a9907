//! Authentication and role-based authorisation of the HTTP API.
//!
//! - [`settings::AuthSettings`]: the `[auth]` section (static tokens as SHA-256 hashes, files or
//!   environment variables; JWTs verified against a JWKS file).
//! - [`Access`]: built from it at start; turns a bearer token into a [`Principal`] (static tokens
//!   in [`tokens`], JWTs in [`jwt`]).
//! - [`middleware`]: the axum layers. Every route but `/healthz` requires a bearer token (401
//!   otherwise, `WWW-Authenticate: Bearer`); each group of routes admits some [`Role`]s (403
//!   otherwise). The [`Principal`] and the [`Client`] address go into the request's extensions for
//!   handlers and the audit trail.
//! - [`scope`]: a clinician sees only patients who are, or were recently, in one of their wards.
//!
//! | role | routes |
//! |---|---|
//! | `clinician` | timeline, live, FHIR, wards (ward-scoped) |
//! | `analyst` | `POST /api/v1/query` |
//! | `integration` | associations, devices |
//! | `admin` | everything, `/metrics` included |

pub mod demo_tokens;
pub mod jwt;
pub mod middleware;
pub mod scope;
pub mod settings;
pub mod tokens;

use serde::Deserialize;
use wardstream_pipeline::Micros;

pub use settings::AuthSettings;

/// What a caller may do (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Timelines, FHIR, live streams and ward pages, for patients of their wards.
    Clinician,
    /// The SQL endpoint only.
    Analyst,
    /// Associations and the device registry (ADT engines, barcode scanners, device gateways).
    Integration,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, in the order above.
    pub const ALL: [Role; 4] = [Role::Clinician, Role::Analyst, Role::Integration, Role::Admin];

    /// `clinician`, `analyst`, `integration` or `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Analyst => "analyst",
            Role::Integration => "integration",
            Role::Admin => "admin",
        }
    }

    /// The role named `text` (as [`Role::as_str`] writes it).
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request (in the request's extensions once authenticated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name, or the JWT's user claim.
    pub user: String,
    /// The role.
    pub role: Role,
    /// A clinician's wards (empty for other roles).
    pub wards: Vec<String>,
}

/// The client's address (IP), in the request's extensions; `unknown` when the server was not
/// started with connection info (in-process router tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client(pub String);

/// Turns bearer tokens into principals (see the module docs).
#[derive(Debug)]
pub struct Access {
    tokens: tokens::TokenTable,
    jwt: Option<jwt::JwtVerifier>,
    clinician_recent: Micros,
}

impl Access {
    /// From `[auth]`: reads token files, environment variables and the JWKS file. Refuses a
    /// section with neither tokens nor JWT (the HTTP API is never open to everyone).
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Access> {
        anyhow::ensure!(
            !settings.tokens.is_empty() || settings.jwt.is_some(),
            "the HTTP API requires authentication: define [[auth.tokens]] or [auth.jwt] \
             (see `wardstream config example`), or turn the API off with [http] enabled = false"
        );
        let tokens = tokens::TokenTable::new(&settings.tokens)?;
        let jwt = settings.jwt.as_ref().map(jwt::JwtVerifier::new).transpose()?;
        let hours = i64::try_from(settings.clinician_recent_hours).unwrap_or(i64::MAX / 3_600_000_000);
        Ok(Access { tokens, jwt, clinician_recent: hours.saturating_mul(3_600_000_000) })
    }

    /// Accepts no credentials at all (the HTTP API off).
    pub fn closed() -> Access {
        Access { tokens: tokens::TokenTable::default(), jwt: None, clinician_recent: 0 }
    }

    /// Who `token` stands for, or why it is refused.
    pub fn authenticate(&self, token: &str) -> Result<Principal, String> {
        if let Some(principal) = self.tokens.lookup(token) {
            return Ok(principal.clone());
        }
        match &self.jwt {
            Some(verifier) if token.split('.').count() == 3 => verifier.verify(token),
            _ => Err("unknown token".into()),
        }
    }

    /// How far back a clinician's ward scope reaches, µs.
    pub fn clinician_recent_micros(&self) -> Micros {
        self.clinician_recent
    }
}
