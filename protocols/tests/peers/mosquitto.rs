//! Shared by the MQTT driver tests: a real Mosquitto broker on a loopback port (unlimited
//! inflight window, no queue limit), restartable, with `mosquitto_pub` for publishing; killed
//! when dropped. Mosquitto must be installed (`MOSQUITTO` / `MOSQUITTO_PUB` override the paths).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

/// How long the broker may take to listen.
const WAIT: Duration = Duration::from_secs(20);

/// Finds a tool on `$PATH`, in the sbin directories, or at `$<env>`; panics if it is missing.
pub fn tool(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return path.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    for dir in dirs {
        if dir.join(name).is_file() {
            return dir.join(name);
        }
    }
    panic!(
        "`{name}` is not installed, and the MQTT source tests need a real Mosquitto broker. \
         Install it (Debian/Ubuntu: `apt-get install mosquitto mosquitto-clients`) or set {env}."
    );
}

/// A Mosquitto broker on a loopback port, killed when dropped.
pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> Broker {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = Broker { port, dir: tempfile::tempdir().unwrap(), child: None };
        broker.restart();
        broker
    }

    /// Starts (again) on the same port, waiting until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let config = self.dir.path().join("mosquitto.conf");
        let text = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\npersistence false\n",
            self.port
        );
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).unwrap();
        let child = Command::new(tool("mosquitto", "MOSQUITTO"))
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto failed to start");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {}: {}", self.port, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Publishes one message with `mosquitto_pub` at QoS 1 (payload from stdin, so any bytes).
    pub async fn publish(&self, topic: &str, payload: &[u8]) {
        let mut child = tokio::process::Command::new(tool("mosquitto_pub", "MOSQUITTO_PUB"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1", "-t", topic, "-s"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto_pub failed to start");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(payload).await.unwrap();
        drop(stdin);
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "mosquitto_pub failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
