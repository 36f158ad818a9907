//! Static bearer tokens: the table of SHA-256 hashes built from `[[auth.tokens]]`, lookup of a
//! presented token by its hash, and fresh random tokens (for the demo).
//!
//! Only hashes are kept in memory; a token read from a file or the environment is hashed at
//! start and dropped. Tokens are never logged.

use std::collections::HashMap;

use anyhow::{Context, bail, ensure};
use sha2::{Digest, Sha256};

use super::settings::TokenEntry;
use super::{Principal, Role};

/// The hex SHA-256 of `token`, as `[[auth.tokens]] sha256` takes it.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token: 32 bytes from the OS, hex (64 characters).
pub fn generate_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(hex::encode(bytes))
}

/// The static tokens, by hash.
#[derive(Debug, Default)]
pub struct TokenTable {
    by_hash: HashMap<[u8; 32], Principal>,
}

impl TokenTable {
    /// Builds the table, reading `token_file`/`token_env` secrets. Errors name the entry, never
    /// the secret.
    pub fn new(entries: &[TokenEntry]) -> anyhow::Result<TokenTable> {
        let mut by_hash = HashMap::new();
        for entry in entries {
            let hash = entry_hash(entry).with_context(|| format!("auth.tokens entry {:?}", entry.name))?;
            ensure!(!entry.name.is_empty(), "auth.tokens: an entry has an empty name");
            ensure!(
                entry.role != Role::Clinician || !entry.wards.is_empty(),
                "auth.tokens entry {:?}: a clinician token needs wards",
                entry.name
            );
            let principal = Principal {
                user: entry.name.clone(),
                role: entry.role,
                wards: if entry.role == Role::Clinician { entry.wards.clone() } else { Vec::new() },
            };
            if by_hash.insert(hash, principal).is_some() {
                bail!("auth.tokens entry {:?}: the same token is given twice", entry.name);
            }
        }
        Ok(TokenTable { by_hash })
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Who `token` stands for, if anyone.
    pub fn lookup(&self, token: &str) -> Option<&Principal> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash.get(&hash)
    }
}

fn entry_hash(entry: &TokenEntry) -> anyhow::Result<[u8; 32]> {
    match (&entry.sha256, &entry.token_file, &entry.token_env) {
        (Some(hex_text), None, None) => {
            let bytes = hex::decode(hex_text.trim()).context("sha256 is not hex")?;
            bytes.try_into().map_err(|_| anyhow::anyhow!("sha256 must be 64 hex digits (32 bytes)"))
        }
        (None, Some(path), None) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading token_file {}", path.display()))?;
            secret_hash(text.trim())
        }
        (None, None, Some(var)) => {
            let text = std::env::var(var).with_context(|| format!("reading token_env {var}"))?;
            secret_hash(text.trim())
        }
        _ => bail!("give exactly one of sha256, token_file and token_env"),
    }
}

fn secret_hash(token: &str) -> anyhow::Result<[u8; 32]> {
    ensure!(token.len() >= 16, "the token is shorter than 16 characters");
    Ok(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, role: Role, wards: &[&str]) -> TokenEntry {
        TokenEntry {
            name: name.into(),
            role,
            wards: wards.iter().map(|w| w.to_string()).collect(),
            sha256: None,
            token_file: None,
            token_env: None,
        }
    }

    #[test]
    fn tokens_are_found_by_their_hash_from_any_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "file-token-0123456789\n").unwrap();
        let mut a = entry("nurse", Role::Clinician, &["ICU"]);
        a.sha256 = Some(sha256_hex("hash-token-0123456789"));
        let mut b = entry("adt", Role::Integration, &["ignored"]);
        b.token_file = Some(file);
        let table = TokenTable::new(&[a, b]).unwrap();
        assert_eq!(table.len(), 2);
        let nurse = table.lookup("hash-token-0123456789").unwrap();
        assert_eq!(
            (nurse.user.as_str(), nurse.role, nurse.wards.clone()),
            ("nurse", Role::Clinician, vec!["ICU".into()])
        );
        let adt = table.lookup("file-token-0123456789").unwrap();
        assert_eq!((adt.user.as_str(), adt.role, adt.wards.len()), ("adt", Role::Integration, 0));
        assert!(table.lookup("hash-token-012345678").is_none());
    }

    #[test]
    fn bad_entries_are_refused_with_their_name() {
        let none = entry("x", Role::Admin, &[]);
        assert!(format!("{:#}", TokenTable::new(&[none]).unwrap_err()).contains("exactly one of"));
        let mut short = entry("y", Role::Admin, &[]);
        short.sha256 = Some("abcd".into());
        assert!(format!("{:#}", TokenTable::new(&[short]).unwrap_err()).contains("64 hex digits"));
        let mut wardless = entry("z", Role::Clinician, &[]);
        wardless.sha256 = Some(sha256_hex("z"));
        assert!(format!("{:#}", TokenTable::new(&[wardless]).unwrap_err()).contains("needs wards"));
        assert_eq!(generate_token().unwrap().len(), 64);
        assert_ne!(generate_token().unwrap(), generate_token().unwrap());
    }
}
