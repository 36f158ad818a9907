//! A real Mosquitto with persistence, restartable on the same port with the same persistence
//! directory, for the durability tests.
//!
//! Unlike [`super::mosquitto::Mosquitto`] it keeps persistent sessions and their queued messages
//! across restarts: [`PersistentMosquitto::stop`] (SIGTERM) makes Mosquitto write its database,
//! which [`PersistentMosquitto::restart`] loads again; [`PersistentMosquitto::save`] (SIGUSR1)
//! writes it while running. [`PersistentMosquitto::kill`] (SIGKILL) loses whatever changed since
//! the last save (Mosquitto saves only then, on exit and every `autosave_interval`, set to an hour
//! here): messages it acknowledged to a publisher since are gone, which is the broker's
//! behaviour, not wardstream's; messages delivered since are delivered again. Run as root,
//! Mosquitto would switch to the `mosquitto` user, which cannot write the test's directory:
//! the config then says `user root`. Queue and inflight limits are
//! lifted (PITFALLS: the default `max_queued_messages` of 1000 drops QoS 1 bursts). The log goes
//! to `mosquitto.log` in the broker's directory, one file across restarts.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker that can be stopped, killed and started again.
pub struct PersistentMosquitto {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    for candidate in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("mosquitto is not installed: run scripts/test.sh, which installs it (apt package mosquitto)");
}

impl PersistentMosquitto {
    /// Starts a broker on a free loopback port with an empty persistence directory and no
    /// inflight limit.
    pub fn start() -> PersistentMosquitto {
        PersistentMosquitto::start_with_inflight(0)
    }

    /// [`PersistentMosquitto::start`] with `max_inflight_messages` = `inflight` (0: no limit;
    /// Mosquitto's own default is 20): the QoS 1 messages sent to a client and not yet
    /// acknowledged beyond which the broker waits.
    pub fn start_with_inflight(inflight: u32) -> PersistentMosquitto {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let user = if is_root() { "user root\n" } else { "" };
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!(
                "{user}listener {port} 127.0.0.1\nallow_anonymous true\n\
                 persistence true\npersistence_location {}/\nautosave_interval 3600\n\
                 max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages {inflight}\n\
                 sys_interval 1\nlog_dest stderr\nlog_timestamp_format %H:%M:%S\n",
                store.display()
            ),
        )
        .unwrap();
        let mut broker = PersistentMosquitto { child: None, port, dir };
        broker.restart();
        broker
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Starts the broker again (same port, same persistence) and waits until it listens.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("mosquitto exited ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "mosquitto did not listen on {}:\n{}", self.port, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// SIGTERM: Mosquitto saves its database (sessions, queued messages) and exits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
            assert!(status.success());
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "mosquitto did not stop on SIGTERM:\n{}", self.log());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGUSR1: Mosquitto writes its database; returns once the new file is in place.
    pub fn save(&self) {
        let child = self.child.as_ref().expect("the broker is running");
        let db = self.dir.path().join("store").join("mosquitto.db");
        let modified = || std::fs::metadata(&db).and_then(|m| m.modified()).ok();
        let before = modified();
        let status = Command::new("kill").args(["-USR1", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while modified() == before || db.with_extension("db.new").exists() {
            assert!(Instant::now() < deadline, "mosquitto did not save its database:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: nothing is saved (see the module docs).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Messages the broker holds (`$SYS/broker/store/messages/count`, published every second),
    /// read with `mosquitto_sub`; `None` when it did not answer within 5 s.
    pub fn stored_messages(&self) -> Option<u64> {
        let out = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-C", "1", "-W", "5"])
            .args(["-t", "$SYS/broker/store/messages/count"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// The broker's log so far (every start).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }
}

/// True when this process runs as root (`id -u` prints 0).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Drop for PersistentMosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
