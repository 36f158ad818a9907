//! Sorts the driver's connection errors into the kinds an operator acts on differently: TLS
//! failures (an untrusted or wrong broker certificate, a client certificate the broker refused,
//! any TLS alert), credentials the broker refused, and everything else (network, broker down),
//! which heals by itself. TLS failures show up in two places in rumqttc: during the handshake
//! (`ConnectionError::Tls`) and, with TLS 1.3, as an alert read after it (an I/O error wrapping
//! a `rustls::Error` deep inside `ConnectionError::MqttState`): both count as TLS.

use std::error::Error as StdError;

use rumqttc::{ConnectReturnCode, ConnectionError};

/// What kind of connection failure an error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The TLS layer failed; the text names the reason (e.g. `invalid peer certificate:
    /// UnknownIssuer`, `received fatal alert: CertificateRequired`).
    Tls(String),
    /// The broker refused the credentials or the client (CONNACK return code 4 or 5).
    Auth(ConnectReturnCode),
    /// Anything else (connection refused, reset, timeout, protocol error).
    Other,
}

/// Classifies a connection error.
pub fn classify(error: &ConnectionError) -> Failure {
    match error {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => Failure::Auth(*code),
        ConnectionError::Tls(e) => Failure::Tls(rustls_cause(e).map_or_else(|| e.to_string(), |t| t.to_string())),
        other => rustls_cause(other).map_or(Failure::Other, |t| Failure::Tls(t.to_string())),
    }
}

/// The first `rustls::Error` in the source chain of `error`, looking inside I/O errors too
/// (whose `source()` skips the error they wrap).
fn rustls_cause<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_wrapping(tls: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, tls)
    }

    #[test]
    fn a_tls_alert_read_after_the_handshake_is_a_tls_failure() {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let error = ConnectionError::MqttState(rumqttc::StateError::Deserialization(rumqttc::Error::Io(io_wrapping(
            alert.clone(),
        ))));
        assert_eq!(classify(&error), Failure::Tls(alert.to_string()));
    }

    #[test]
    fn handshake_errors_credentials_and_the_rest_are_told_apart() {
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let error = ConnectionError::Tls(rumqttc::TlsError::Io(io_wrapping(bad_cert.clone())));
        assert_eq!(classify(&error), Failure::Tls(bad_cert.to_string()));
        assert!(bad_cert.to_string().contains("UnknownIssuer"), "{bad_cert}");
        for code in [ConnectReturnCode::BadUserNamePassword, ConnectReturnCode::NotAuthorized] {
            assert_eq!(classify(&ConnectionError::ConnectionRefused(code)), Failure::Auth(code));
        }
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&ConnectionError::Io(refused)), Failure::Other);
        assert_eq!(
            classify(&ConnectionError::ConnectionRefused(ConnectReturnCode::ServiceUnavailable)),
            Failure::Other
        );
        assert_eq!(classify(&ConnectionError::NetworkTimeout), Failure::Other);
    }
}
