//! TLS to the broker: builds the rustls client configuration (ring crypto provider) from PEM
//! files named in [`MqttConfig`](super::MqttConfig) — the CA certificates the broker's
//! certificate must chain to, and optionally a client certificate and key for mutual TLS.
//!
//! Verification is never disabled: the broker's certificate must chain to a certificate of
//! `ca_file` and name the host of the URL (DNS name or IP address). A file that cannot be read
//! or holds no usable certificate or key is a configuration error at start-up; a broker whose
//! certificate fails verification is a connection error, logged, counted and retried by the
//! driver. Error messages name files, never their contents.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::Error;

/// A client configuration trusting only the certificates of `ca_file`, presenting the chain of
/// `client` (certificate file, key file) when given.
pub fn client_config(ca_file: &Path, client: Option<(&Path, &Path)>) -> Result<ClientConfig, Error> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(ca_file, "ca_file")? {
        roots
            .add(cert)
            .map_err(|e| invalid("ca_file", format!("{}: not a usable CA certificate: {e}", ca_file.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("tls", format!("the TLS provider refused its defaults: {e}")))?
        .with_root_certificates(roots);
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_file, key_file)) => {
            let chain = read_certificates(cert_file, "client_cert_file")?;
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                invalid(
                    "client_key_file",
                    format!("{}: no PEM private key (PKCS#8, PKCS#1 or SEC1): {}", key_file.display(), pem_problem(&e)),
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                invalid("client_key_file", format!("{}: does not fit the client certificate: {e}", key_file.display()))
            })
        }
    }
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(path: &Path, field: &'static str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |e: &pem::Error| invalid(field, format!("{}: {}", path.display(), pem_problem(e)));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(invalid(field, format!("{}: no PEM certificate (BEGIN CERTIFICATE) in the file", path.display())));
    }
    Ok(certs)
}

/// What is wrong with a PEM file, without quoting any of it (a key file's lines are secret).
fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => format!("cannot read it: {io}"),
        pem::Error::NoItemsFound => "nothing of the expected kind in it".into(),
        _ => "malformed PEM".into(),
    }
}

fn invalid(field: &'static str, message: String) -> Error {
    Error::InvalidConfig { field, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_and_non_pem_files_are_configuration_errors_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n").unwrap();
        for (path, expected) in [
            (dir.path().join("missing.pem"), "cannot read it"),
            (empty.clone(), "no PEM certificate"),
            (junk.clone(), "malformed PEM"),
        ] {
            let err = client_config(&path, None).unwrap_err();
            let Error::InvalidConfig { field, message } = &err else { panic!("{err}") };
            assert_eq!(*field, "ca_file");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn a_key_file_error_never_quotes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("key.pem");
        std::fs::write(&secret, "-----BEGIN PRIVATE KEY----- s3cr3t-material\n").unwrap();
        let e = PrivateKeyDer::from_pem_file(&secret).unwrap_err();
        assert!(!pem_problem(&e).contains("s3cr3t"), "{}", pem_problem(&e));
    }
}
