//! Fresh tokens for `wardstream demo`: one random token per role, of which the demo's
//! configuration keeps only the SHA-256 hashes; the tokens themselves are printed once, for the
//! person running the demo.

use super::Role;
use super::settings::{AuthSettings, TokenEntry};
use super::tokens::{generate_token, sha256_hex};

/// One demo token.
#[derive(Debug, Clone)]
pub struct DemoToken {
    /// Its role.
    pub role: Role,
    /// The token (printed, never stored).
    pub token: String,
}

/// A token per role (the clinician's scoped to `wards`) and the `[auth]` settings holding their
/// hashes.
pub fn generate(wards: &[String]) -> anyhow::Result<(AuthSettings, Vec<DemoToken>)> {
    let mut settings = AuthSettings::default();
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let token = generate_token()?;
        settings.tokens.push(TokenEntry {
            name: format!("demo-{role}"),
            role,
            wards: if role == Role::Clinician { wards.to_vec() } else { Vec::new() },
            sha256: Some(sha256_hex(&token)),
            token_file: None,
            token_env: None,
        });
        tokens.push(DemoToken { role, token });
    }
    Ok((settings, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_gets_a_token_that_authenticates_as_it() {
        let (settings, tokens) = generate(&["icu-1".to_owned()]).unwrap();
        assert_eq!(tokens.len(), 4);
        let access = crate::auth::Access::from_settings(&settings).unwrap();
        for t in &tokens {
            let p = access.authenticate(&t.token).unwrap();
            assert_eq!((p.role, p.user.clone()), (t.role, format!("demo-{}", t.role)));
            assert!(settings.tokens.iter().all(|e| e.sha256.as_deref() != Some(t.token.as_str())));
        }
        assert_eq!(access.authenticate(&tokens[0].token).unwrap().wards, vec!["icu-1".to_owned()]);
    }
}
