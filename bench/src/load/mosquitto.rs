//! [`Mosquitto`]: a real Mosquitto broker on a free loopback port for one harness run, configured
//! as the integration tests configure theirs (the queue limit lifted: the default
//! `max_queued_messages` of 1000 drops QoS 1 bursts), with the run's `max_inflight_messages`
//! (`--broker-inflight`, 1000 by default; 0 for an unlimited window, which wardstream's PUBACKs
//! now keep up with: see README, Durability), killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running broker.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The broker binary, from the usual places.
fn binary() -> anyhow::Result<PathBuf> {
    for candidate in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(candidate).exists() {
            return Ok(PathBuf::from(candidate));
        }
    }
    bail!("mosquitto is not installed (apt-get install mosquitto; scripts/test.sh does)")
}

impl Mosquitto {
    /// Starts a broker on a free port with `max_inflight_messages` = `inflight` (0: unlimited)
    /// and waits (up to 10 s) until it accepts connections.
    pub fn start(inflight: u32) -> anyhow::Result<Mosquitto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir().context("temporary directory for mosquitto.conf")?;
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 0\nmax_inflight_messages {inflight}\nlog_dest none\n"
            ),
        )
        .context("writing mosquitto.conf")?;
        let mut child = Command::new(binary()?)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mosquitto")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("mosquitto exited at start ({status})");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("mosquitto did not listen on port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Mosquitto { child, port, _dir: dir })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
