//! JWT verification for single sign-on: RS256 and ES256 tokens signed by a key of the configured
//! JWKS file, with `iss`, `aud` and `exp` (and `nbf` when present) checked. The role and, for
//! clinicians, the wards come from configurable claims.
//!
//! A token whose header names a `kid` is checked against that key only; without a `kid`, against
//! every key of the token's algorithm family. The JWKS file is read once, at start.

use anyhow::{Context, bail};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::settings::JwtSettings;
use super::{Principal, Role};

/// One usable key of the set.
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies JWTs (see the module docs).
pub struct JwtVerifier {
    keys: Vec<Key>,
    settings: JwtSettings,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").field("keys", &self.keys.len()).field("issuer", &self.settings.issuer).finish()
    }
}

impl JwtVerifier {
    /// Reads the JWKS file; keys other than RSA and P-256 EC keys are skipped.
    pub fn new(settings: &JwtSettings) -> anyhow::Result<JwtVerifier> {
        let text = std::fs::read_to_string(&settings.jwks_file)
            .with_context(|| format!("reading auth.jwt.jwks_file {}", settings.jwks_file.display()))?;
        let set: JwkSet = serde_json::from_str(&text)
            .with_context(|| format!("auth.jwt.jwks_file {} is not a JWK set", settings.jwks_file.display()))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).context("a key of the JWK set")?;
            keys.push(Key { kid: jwk.common.key_id.clone(), algorithm, key });
        }
        if keys.is_empty() {
            bail!("auth.jwt.jwks_file {} holds no RSA or P-256 key", settings.jwks_file.display());
        }
        Ok(JwtVerifier { keys, settings: settings.clone() })
    }

    /// Who the token stands for, or why it is refused (a short text for the 401 answer).
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token".to_owned())?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err("token algorithm not accepted (RS256 or ES256)".into());
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.settings.leeway_secs;
        let candidates = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| header.kid.is_none() || k.kid == header.kid);
        let mut last = "no key of the key set matches the token".to_owned();
        for key in candidates {
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => return self.principal(&data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = match e.kind() {
                        ErrorKind::ExpiredSignature => "token expired".into(),
                        ErrorKind::ImmatureSignature => "token not valid yet".into(),
                        ErrorKind::InvalidAudience => "token audience not accepted".into(),
                        ErrorKind::InvalidIssuer => "token issuer not accepted".into(),
                        ErrorKind::InvalidSignature => "token signature invalid".into(),
                        ErrorKind::MissingRequiredClaim(c) => format!("token lacks the claim {c}"),
                        _ => "token not accepted".into(),
                    };
                    // Claims are checked only once the signature holds: any error but a bad
                    // signature is final.
                    if !matches!(e.kind(), ErrorKind::InvalidSignature) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn principal(&self, claims: &Value) -> Result<Principal, String> {
        let s = &self.settings;
        let user = claims[&s.user_claim].as_str().filter(|u| !u.is_empty());
        let user = user.ok_or_else(|| format!("token lacks the claim {}", s.user_claim))?;
        let role = claims[&s.role_claim].as_str().and_then(Role::parse);
        let role = role.ok_or_else(|| format!("token has no known role in the claim {}", s.role_claim))?;
        let wards: Vec<String> = match &claims[&s.wards_claim] {
            Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Value::String(text) => text.split([' ', ',']).filter(|w| !w.is_empty()).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if role == Role::Clinician && wards.is_empty() {
            return Err(format!("a clinician token needs wards in the claim {}", s.wards_claim));
        }
        let wards = if role == Role::Clinician { wards } else { Vec::new() };
        Ok(Principal { user: user.to_owned(), role, wards })
    }
}
