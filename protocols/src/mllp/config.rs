//! [`MllpConfig`]: where the MLLP listener listens and its limits. Deserialised from the
//! service configuration (e.g. an `[hl7]` TOML table); unknown fields are errors.

use serde::Deserialize;

use super::MllpError;

/// The address listened on when none is configured: every interface, port 2575 (IANA's port
/// for HL7 over MLLP).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:2575";

const fn default_max_frame_bytes() -> usize {
    1024 * 1024
}
const fn default_idle_timeout_s() -> u64 {
    300
}

/// The MLLP listener's configuration. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MllpConfig {
    /// `host:port` to listen on (`0.0.0.0:2575`; a host name is resolved at start).
    pub listen: String,
    /// Largest message accepted, in bytes (the content of one MLLP frame). A larger one is
    /// skipped without being buffered and answered `AR`.
    pub max_frame_bytes: usize,
    /// A connection that sends nothing for this many seconds is closed (0: never).
    pub idle_timeout_s: u64,
}

impl Default for MllpConfig {
    fn default() -> Self {
        MllpConfig {
            listen: DEFAULT_LISTEN.to_owned(),
            max_frame_bytes: default_max_frame_bytes(),
            idle_timeout_s: default_idle_timeout_s(),
        }
    }
}

impl MllpConfig {
    /// A configuration for tests: loopback, an ephemeral port, 64 KiB frames, 5 s idle timeout.
    pub fn test_config() -> MllpConfig {
        MllpConfig { listen: "127.0.0.1:0".to_owned(), max_frame_bytes: 64 * 1024, idle_timeout_s: 5 }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), MllpError> {
        if self.listen.trim().is_empty() {
            return Err(MllpError::InvalidConfig { field: "listen", message: "must not be empty".into() });
        }
        if self.max_frame_bytes == 0 {
            return Err(MllpError::InvalidConfig { field: "max_frame_bytes", message: "must be above 0".into() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_documented_defaults_and_unknown_fields_are_rejected() {
        let c: MllpConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, MllpConfig::default());
        assert_eq!((c.listen.as_str(), c.max_frame_bytes, c.idle_timeout_s), ("0.0.0.0:2575", 1_048_576, 300));
        let c: MllpConfig =
            serde_json::from_str(r#"{"listen":"127.0.0.1:3000","max_frame_bytes":10,"idle_timeout_s":0}"#).unwrap();
        assert_eq!((c.listen.as_str(), c.max_frame_bytes, c.idle_timeout_s), ("127.0.0.1:3000", 10, 0));
        assert!(serde_json::from_str::<MllpConfig>(r#"{"port":2575}"#).is_err());
        assert!(c.validate().is_ok());
        let zero = MllpConfig { max_frame_bytes: 0, ..MllpConfig::default() };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "invalid MLLP configuration: max_frame_bytes: must be above 0"
        );
    }
}
