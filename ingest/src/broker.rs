//! [`EmbeddedBroker`]: an in-process MQTT broker (rumqttd) on a loopback port, so that the demo
//! needs nothing installed. Only for the demo: rumqttd keeps sessions in memory and has no
//! shutdown API (PITFALLS), and tests of delivery guarantees use Mosquitto.
//!
//! Both the simulated monitors and wardstream speak MQTT 3.1.1 to it (rumqttd was seen not to
//! deliver 3.1.1 publishes to MQTT 5 subscribers).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running embedded broker. Its thread lives until the process exits.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts rumqttd on a free port of 127.0.0.1 and waits until it accepts connections.
    pub fn start() -> anyhow::Result<EmbeddedBroker> {
        let port = free_loopback_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config: rumqttd::Config = toml::from_str(&broker_config(addr)).context("embedded broker config")?;
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(config);
                if let Err(error) = broker.start() {
                    tracing::error!(%error, "embedded MQTT broker stopped");
                }
            })
            .context("starting the broker thread")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                bail!("embedded MQTT broker did not listen on {addr} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(EmbeddedBroker { addr })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

/// A port that was free a moment ago (bind to port 0, read it, release it).
pub fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// rumqttd's configuration: one MQTT 3.1.1 listener, generous queues so that a burst of QoS 1
/// messages is never dropped for a slow subscriber.
fn broker_config(addr: SocketAddr) -> String {
    format!(
        r#"
id = 0

[router]
id = 0
max_connections = 10010
max_outgoing_packet_count = 2000
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "{addr}"
next_connection_delay_ms = 1

[v4.1.connections]
connection_timeout_ms = 60000
max_payload_size = 1048576
max_inflight_count = 500
dynamic_filters = true
"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_broker_config_parses() {
        let config: rumqttd::Config = toml::from_str(&super::broker_config("127.0.0.1:1".parse().unwrap())).unwrap();
        assert_eq!(config.v4.unwrap()["1"].connections.max_payload_size, 1_048_576);
    }
}
