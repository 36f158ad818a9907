//! [`MqttConfig`]: how the MQTT driver connects (address, TLS, credentials), what it subscribes
//! to, how it finds device ids and whether it checks device identity. Deserialised from the
//! service configuration (e.g. a `[mqtt]` TOML table). Secrets are never in it: it names the
//! files or environment variables they are read from when the options are built.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{MqttOptions, QoS, TlsConfiguration, Transport};
use serde::Deserialize;

use super::{Error, credentials, tls};
use crate::senml::{DeviceIdFrom, DeviceIdRule, IdentityPolicy};

const fn default_qos() -> u8 {
    1
}
const fn default_device_topic_level() -> usize {
    2
}
const fn default_keep_alive_secs() -> u64 {
    30
}
const fn default_max_packet_bytes() -> usize {
    1024 * 1024
}
const fn default_inflight() -> u16 {
    100
}
const fn default_clean_session() -> bool {
    false
}
/// The broker address used when none is configured.
pub const DEFAULT_URL: &str = "mqtt://127.0.0.1:1883";
/// The client id used when none is configured.
pub const DEFAULT_CLIENT_ID: &str = "wardstream";
/// The topic filter subscribed to when none is configured.
pub const DEFAULT_TOPIC: &str = "wardstream/#";
/// The port of `mqtt://` and `tcp://` URLs without one.
pub const DEFAULT_PORT: u16 = 1883;
/// The port of `mqtts://` URLs without one.
pub const DEFAULT_TLS_PORT: u16 = 8883;

/// The MQTT source's configuration. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker: `mqtt://host[:port]` or `tcp://host[:port]` (port 1883 by default), or
    /// `mqtts://host[:port]` (also `ssl://`, `tls://`; port 8883 by default) for TLS. IPv6 hosts
    /// in brackets.
    pub url: String,
    /// Use TLS even with an `mqtt://` URL (an `mqtts://` URL always does). TLS needs `ca_file`.
    pub tls: bool,
    /// PEM file of the CA certificate(s) the broker's certificate must chain to (required with
    /// TLS; verification cannot be turned off). The broker's certificate must also name the
    /// URL's host (DNS name or IP address).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
    /// MQTT username (sent in CONNECT).
    pub username: Option<String>,
    /// File holding the password (one trailing line break is ignored); needs `username`.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password (instead of `password_file`).
    pub password_env: Option<String>,
    /// Device identity: `"enforce"` rejects a message whose payload names another device than
    /// its topic (one `identity_mismatch` dead letter, nothing stored); `"off"` (the default)
    /// trusts the payload. See `senml::identity`.
    pub identity: IdentityPolicy,
    /// The MQTT client id. Must be unique per broker: a second client with the same id
    /// disconnects the first.
    pub client_id: String,
    /// Topic filters to subscribe to (`+` and `#` wildcards allowed).
    pub topics: Vec<String>,
    /// Subscription QoS: 0 (at most once), 1 (at least once) or 2 (exactly once).
    pub qos: u8,
    /// Where device ids come from: `name` (the SenML name, falling back to the topic) or
    /// `topic` (always the topic level). See the device-id rule in `senml::device`.
    pub device_id_from: DeviceIdFrom,
    /// The 0-based topic level holding the device id: 2 for `wardstream/<ward>/<device>/...`.
    pub device_topic_level: usize,
    /// MQTT keep-alive interval in seconds (0 disables pings; at most 65535).
    pub keep_alive_secs: u64,
    /// Largest MQTT packet accepted or sent, in bytes (both directions). A larger message
    /// breaks the connection, so keep this above the largest pack a device sends.
    pub max_packet_bytes: usize,
    /// Most QoS 1/2 messages in flight (unacknowledged) at once.
    pub inflight: u16,
    /// Start a clean session on every connect (messages published while disconnected are
    /// lost). Default `false`: a persistent session, so the broker keeps what arrives while
    /// wardstream is down; with the WAL on, messages are acknowledged only once durable.
    pub clean_session: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: DEFAULT_URL.to_owned(),
            tls: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            username: None,
            password_file: None,
            password_env: None,
            identity: IdentityPolicy::Off,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            topics: vec![DEFAULT_TOPIC.to_owned()],
            qos: default_qos(),
            device_id_from: DeviceIdFrom::default(),
            device_topic_level: default_device_topic_level(),
            keep_alive_secs: default_keep_alive_secs(),
            max_packet_bytes: default_max_packet_bytes(),
            inflight: default_inflight(),
            clean_session: default_clean_session(),
        }
    }
}

impl MqttConfig {
    /// A configuration for tests: the defaults, pointed at `url`, with a 5 s keep-alive.
    pub fn test_config(url: &str) -> MqttConfig {
        MqttConfig { url: url.to_owned(), keep_alive_secs: 5, ..MqttConfig::default() }
    }

    /// The device-id rule these settings describe.
    pub fn device_id_rule(&self) -> DeviceIdRule {
        DeviceIdRule { from: self.device_id_from, topic_level: self.device_topic_level }
    }

    /// The subscription QoS.
    pub fn qos(&self) -> Result<QoS, Error> {
        match self.qos {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            other => Err(invalid("qos", format!("{other} is not 0, 1 or 2"))),
        }
    }

    /// True when the connection uses TLS (`mqtts://` URL or `tls = true`).
    pub fn uses_tls(&self) -> bool {
        self.tls || parse_url(&self.url).is_ok_and(|u| u.tls)
    }

    /// Checks every field and builds the rumqttc options, reading the TLS files and the
    /// password. The options hold the password: never log them.
    pub fn mqtt_options(&self) -> Result<MqttOptions, Error> {
        let url = parse_url(&self.url)?;
        let (host, port) = (url.host, url.port);
        self.qos()?;
        if self.client_id.is_empty() {
            return Err(invalid("client_id", "must not be empty".into()));
        }
        if self.topics.is_empty() || self.topics.iter().any(String::is_empty) {
            return Err(invalid("topics", "needs at least one non-empty topic filter".into()));
        }
        if self.keep_alive_secs > u64::from(u16::MAX) {
            return Err(invalid("keep_alive_secs", format!("{} is above 65535", self.keep_alive_secs)));
        }
        if self.max_packet_bytes == 0 || self.inflight == 0 {
            return Err(invalid("max_packet_bytes/inflight", "must be above 0".into()));
        }
        let mut options = MqttOptions::new(self.client_id.clone(), host, port);
        options
            .set_keep_alive(Duration::from_secs(self.keep_alive_secs))
            .set_max_packet_size(self.max_packet_bytes, self.max_packet_bytes)
            .set_inflight(self.inflight)
            .set_clean_session(self.clean_session)
            // Room for every PUBACK that can ever be outstanding: a broker cannot have more
            // than 65,535 QoS 1/2 messages unacknowledged on one session (packet ids are 16
            // bits), so acks are never refused for a full channel while the poll task waits on
            // the pipeline (a refused ack would be lost: see `acker`). The channel allocates as
            // it fills, so the bound costs nothing until used.
            .set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
        if let Some(transport) = self.transport()? {
            options.set_transport(transport);
        }
        if let Some((username, password)) = self.credentials()? {
            options.set_credentials(username, password);
        }
        Ok(options)
    }

    /// The TLS transport, `None` for plain TCP. TLS settings without TLS are an error, so that
    /// a forgotten `mqtts://` never silently sends in clear.
    fn transport(&self) -> Result<Option<Transport>, Error> {
        let client = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            _ => return Err(invalid("client_cert_file/client_key_file", "set both or neither".into())),
        };
        if !self.uses_tls() {
            if self.ca_file.is_some() || client.is_some() {
                return Err(invalid(
                    "tls",
                    "ca_file or a client certificate is set but TLS is off: use an mqtts:// URL or tls = true".into(),
                ));
            }
            return Ok(None);
        }
        let ca_file = self.ca_file.as_deref().ok_or_else(|| {
            invalid("ca_file", "required with TLS (the broker's certificate is verified against it)".into())
        })?;
        let config = tls::client_config(ca_file, client)?;
        Ok(Some(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(config)))))
    }

    /// Username and password (empty when only a username is set).
    fn credentials(&self) -> Result<Option<(String, String)>, Error> {
        let password = credentials::read_password(self.password_file.as_deref(), self.password_env.as_deref())?;
        match (&self.username, password) {
            (Some(user), password) if !user.is_empty() => Ok(Some((user.clone(), password.unwrap_or_default()))),
            (Some(_), _) => Err(invalid("username", "must not be empty".into())),
            (None, Some(_)) => Err(invalid("username", "a password is configured without a username".into())),
            (None, None) => Ok(None),
        }
    }
}

/// Capacity of rumqttc's request channel: every possible packet id, plus room for subscribe,
/// ping and disconnect requests.
pub const REQUEST_CHANNEL_CAPACITY: usize = u16::MAX as usize + 64;

fn invalid(field: &'static str, message: String) -> Error {
    Error::InvalidConfig { field, message }
}

/// A broker URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port (1883 or 8883 when the URL has none).
    pub port: u16,
    /// `mqtts://`, `ssl://` or `tls://`.
    pub tls: bool,
}

/// `mqtt://host[:port]`, `tcp://host[:port]` or (TLS) `mqtts://host[:port]`, `ssl://…`,
/// `tls://…` → host, port and whether the scheme is TLS.
pub fn parse_url(url: &str) -> Result<BrokerUrl, Error> {
    let bad = |why: &str| invalid("url", format!("{url:?}: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected mqtt://host:port"))?;
    let tls = match scheme {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" | "tls" => true,
        _ => return Err(bad("the scheme must be mqtt://, tcp:// or (TLS) mqtts://")),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(bad("expected only host[:port] after the scheme"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => return Err(bad("IPv6 hosts go in brackets: [::1]:1883")),
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None if tls => DEFAULT_TLS_PORT,
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("the port must be 1-65535"))?,
    };
    Ok(BrokerUrl { host: host.to_owned(), port, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_documented_defaults() {
        let c: MqttConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, MqttConfig::default());
        assert_eq!(
            (c.url.as_str(), c.client_id.as_str(), &c.topics[..]),
            ("mqtt://127.0.0.1:1883", "wardstream", &["wardstream/#".to_owned()][..])
        );
        assert_eq!((c.qos, c.device_id_from, c.device_topic_level), (1, DeviceIdFrom::Name, 2));
        assert_eq!((c.max_packet_bytes, c.inflight, c.clean_session), (1_048_576, 100, false));
        let o = c.mqtt_options().unwrap();
        assert_eq!(
            (o.broker_address(), o.max_packet_size(), o.inflight()),
            (("127.0.0.1".to_owned(), 1883), 1_048_576, 100)
        );
    }

    #[test]
    fn fields_are_read_and_unknown_ones_rejected() {
        let c: MqttConfig = serde_json::from_str(r#"{"url":"tcp://broker:1884","qos":2,"device_id_from":"topic","device_topic_level":1,"topics":["a/+","b/#"]}"#).unwrap();
        assert_eq!(
            (c.qos().unwrap(), c.device_id_rule()),
            (QoS::ExactlyOnce, DeviceIdRule { from: DeviceIdFrom::Topic, topic_level: 1 })
        );
        let err = serde_json::from_str::<MqttConfig>(r#"{"max_packet_size":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `max_packet_size`"), "{err}");
    }

    #[test]
    fn urls_parse_into_host_and_port() {
        let p = |u: &str| parse_url(u).map(|b| (b.host, b.port, b.tls)).unwrap();
        assert_eq!(p("mqtt://127.0.0.1:1883"), ("127.0.0.1".into(), 1883, false));
        assert_eq!(p("tcp://broker.local"), ("broker.local".into(), 1883, false));
        assert_eq!(p("mqtt://[::1]:1884/"), ("::1".into(), 1884, false));
        assert_eq!(p("mqtt://[::1]"), ("::1".into(), 1883, false));
        assert_eq!(p("mqtts://broker.local"), ("broker.local".into(), 8883, true));
        assert_eq!(p("ssl://10.0.0.1:1884"), ("10.0.0.1".into(), 1884, true));
        assert_eq!(p("tls://[::1]"), ("::1".into(), 8883, true));
        for bad in [
            "127.0.0.1:1883",
            "mqtts://",
            "http://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://u@h",
            "mqtt://h/x",
            "mqtt://::1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_settings_are_reported_by_field() {
        let check = |c: MqttConfig, field: &str| {
            let err = c.mqtt_options().unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig { field: f, .. } if f == &field), "{err}");
        };
        check(MqttConfig { qos: 3, ..MqttConfig::default() }, "qos");
        check(MqttConfig { client_id: String::new(), ..MqttConfig::default() }, "client_id");
        check(MqttConfig { topics: vec![], ..MqttConfig::default() }, "topics");
        check(MqttConfig { keep_alive_secs: 70_000, ..MqttConfig::default() }, "keep_alive_secs");
        check(MqttConfig { inflight: 0, ..MqttConfig::default() }, "max_packet_bytes/inflight");
        check(MqttConfig { url: "https://x".into(), ..MqttConfig::default() }, "url");
    }

    #[test]
    fn tls_needs_a_ca_file_and_tls_settings_need_tls() {
        let check = |c: MqttConfig, field: &str| {
            let err = c.mqtt_options().unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig { field: f, .. } if f == &field), "{err}");
        };
        check(MqttConfig { url: "mqtts://x".into(), ..MqttConfig::default() }, "ca_file");
        check(MqttConfig { tls: true, ..MqttConfig::default() }, "ca_file");
        check(MqttConfig { ca_file: Some("ca.pem".into()), ..MqttConfig::default() }, "tls");
        let half = MqttConfig { client_cert_file: Some("c.pem".into()), ..MqttConfig::default() };
        check(half, "client_cert_file/client_key_file");
        check(MqttConfig { password_env: Some("PATH".into()), ..MqttConfig::default() }, "username");
        check(MqttConfig { username: Some(String::new()), ..MqttConfig::default() }, "username");
        assert!(MqttConfig { tls: true, ..MqttConfig::default() }.uses_tls());
        assert!(!MqttConfig::default().uses_tls());
    }

    #[test]
    fn credentials_come_from_a_file_and_stay_out_of_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret-pw\n").unwrap();
        let c: MqttConfig = serde_json::from_value(serde_json::json!({
            "username": "wardstream", "password_file": file, "identity": "enforce"
        }))
        .unwrap();
        assert_eq!(c.identity, IdentityPolicy::Enforce);
        let o = c.mqtt_options().unwrap();
        let login = o.credentials().unwrap();
        assert_eq!((login.username.as_str(), login.password.as_str()), ("wardstream", "s3cret-pw"));
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
