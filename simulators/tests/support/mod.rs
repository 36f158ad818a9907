//! Test peers: a real Mosquitto broker on a free loopback port, and a rumqttc subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A Mosquitto process with a temporary config; killed on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts Mosquitto on a free port. Panics (failing the test) if it is not installed.
    pub fn start() -> Mosquitto {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if let Some(broker) = Mosquitto::start_on(port) {
                return broker;
            }
        }
        panic!("Mosquitto did not start on any of 5 free ports");
    }

    /// Starts Mosquitto on `port`; `None` if it exits or does not listen within 5 s.
    pub fn start_on(port: u16) -> Option<Mosquitto> {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} not found: these tests need a real Mosquitto broker \
             (apt-get install mosquitto; the project's test script installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n\
                 max_inflight_messages 0\npersistence false\nlog_dest stderr\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
        let mut child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {MOSQUITTO}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return None;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Mosquitto { child, port, dir });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills the broker (as a crash would) and returns its port.
    pub fn kill(mut self) -> u16 {
        self.stop();
        self.port
    }

    /// The broker's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A QoS 1 subscriber collecting `(topic, payload)`.
pub struct Subscriber {
    _client: AsyncClient,
    received: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Connects and subscribes to `filter`; returns once the broker confirmed the subscription.
    pub async fn start(port: u16, filter: &str) -> Subscriber {
        let mut options = MqttOptions::new(format!("test-subscriber-{port}"), "127.0.0.1", port);
        options.set_max_packet_size(1 << 20, 1 << 20).set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (tx, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), ready_rx).await.expect("no SubAck within 5 s").unwrap();
        Subscriber { _client: client, received, task }
    }

    /// Collects messages until `n` arrived or `timeout` passed, then 300 ms more to catch extras.
    pub async fn collect(&mut self, n: usize, timeout: Duration) -> Vec<(String, Vec<u8>)> {
        let mut messages = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while messages.len() < n {
            match tokio::time::timeout_at(deadline, self.received.recv()).await {
                Ok(Some(message)) => messages.push(message),
                _ => break,
            }
        }
        while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(300), self.received.recv()).await {
            messages.push(message);
        }
        messages
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
