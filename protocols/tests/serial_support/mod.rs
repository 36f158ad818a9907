//! Shared by the serial tests: a real pseudo-terminal pair from `socat` (unplugged by killing it,
//! replugged by starting it again on the same link names), a real `Pipeline` with an in-memory
//! sink, and the serial source under test between them. socat must be installed: the tests
//! fail, rather than skip, without it (`SOCAT` overrides its path).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wardstream_pipeline::{
    Catalogue, Clock, DeadLetter, FlowConfig, Micros, Normaliser, Observation, Pipeline, Sink, SinkError, StoreBatch,
};
use wardstream_protocols::serial::{self, SerialConfig, SerialStats, SerialStatsSnapshot};

/// The test clock's "now": 2026-01-02T03:10:00Z. Lines are dated shortly before it so that
/// clock-skew correction and the future-time check leave their times alone.
pub const NOW: Micros = 1_767_323_400_000_000;
/// One second in µs.
pub const S: Micros = 1_000_000;
pub const WAIT: Duration = Duration::from_secs(20);

/// A Masimo line dated `NOW − 60 s + i s` (UTC clock), SpO2 `90 + i % 10`, pulse `60 + i`,
/// PI 1.25, no serial number, no exception; with CR LF.
pub fn line(i: i64) -> String {
    let t = chrono_free_utc(NOW / S - 60 + i);
    format!(
        "{t} SN=---------- SPO2={:03}% BPM={:03} PI=01.25 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=000000 EXC1=00000000\r\n",
        90 + i % 10,
        60 + i
    )
}

/// The device time of `line(i)`.
pub fn line_time(i: i64) -> Micros {
    NOW - 60 * S + i * S
}

/// `MM/DD/YY HH:MM:SS` of a UTC second on 2026-01-02 (enough for these tests, no date crate).
fn chrono_free_utc(secs: i64) -> String {
    let day_start = 1_767_312_000; // 2026-01-02T00:00:00Z
    let s = secs - day_start;
    assert!((0..86_400).contains(&s));
    format!("01/02/26 {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub fn socat() -> PathBuf {
    if let Some(path) = std::env::var_os("SOCAT") {
        return path.into();
    }
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join("socat");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`socat` is not installed, and the serial tests need real pseudo-terminals (apt-get install socat) or set SOCAT"
    );
}

/// Two linked pseudo-terminals: the driver opens `device`, the test (the "device") writes to
/// `peer`. Dropping kills socat.
pub struct PtyPair {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PtyPair {
    pub fn start() -> PtyPair {
        let mut pair = PtyPair { dir: tempfile::tempdir().unwrap(), child: None };
        pair.plug();
        pair
    }

    /// The end the driver reads.
    pub fn device(&self) -> PathBuf {
        self.dir.path().join("device")
    }

    /// The end the test writes.
    pub fn peer(&self) -> PathBuf {
        self.dir.path().join("peer")
    }

    /// Starts socat (again), waiting until both links exist.
    pub fn plug(&mut self) {
        assert!(self.child.is_none(), "already plugged");
        let log = std::fs::File::create(self.dir.path().join("socat.log")).unwrap();
        let child = Command::new(socat())
            .arg("-d")
            .arg("-d")
            .arg(format!("pty,raw,echo=0,link={}", self.device().display()))
            .arg(format!("pty,raw,echo=0,link={}", self.peer().display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("socat failed to start");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while !(self.device().exists() && self.peer().exists()) {
            assert!(Instant::now() < deadline, "socat made no ptys: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills socat and removes its links (socat leaves them behind; a stale link could point at
    /// a pty number another test reuses): the port vanishes like an unplugged USB adapter.
    pub fn unplug(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.device());
        let _ = std::fs::remove_file(self.peer());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("socat.log")).unwrap_or_default()
    }

    /// Opens the writing end (keep it open across writes: when the last writer closes, socat
    /// ends the session).
    pub fn open_peer(&self) -> std::fs::File {
        std::fs::OpenOptions::new().write(true).open(self.peer()).unwrap()
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        self.unplug();
    }
}

pub fn write(peer: &mut std::fs::File, bytes: &[u8]) {
    peer.write_all(bytes).unwrap();
    peer.flush().unwrap();
}

#[derive(Clone, Default)]
pub struct MemorySink {
    pub observations: Arc<Mutex<Vec<Observation>>>,
    pub dead_letters: Arc<Mutex<Vec<DeadLetter>>>,
}

impl Sink for MemorySink {
    fn write(&mut self, batch: StoreBatch) -> Result<(), SinkError> {
        self.observations.lock().unwrap().extend(batch.observations);
        self.dead_letters.lock().unwrap().extend(batch.dead_letters);
        Ok(())
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

pub struct FixedClock;

impl Clock for FixedClock {
    fn now_micros(&self) -> Micros {
        NOW
    }
}

/// A pipeline with a memory sink and a serial source on `config`.
pub struct Harness {
    pipeline: Pipeline,
    sink: MemorySink,
    pub stats: Arc<SerialStats>,
    shutdown: watch::Sender<bool>,
    source: tokio::task::JoinHandle<Result<(), serial::Error>>,
}

impl Harness {
    pub fn start(config: &SerialConfig) -> Harness {
        let sink = MemorySink::default();
        let flow =
            FlowConfig { queue_capacity: 2, workers: 1, tick: Duration::from_millis(10), ..FlowConfig::default() };
        let pipeline = Pipeline::start(flow, Normaliser::new(Arc::new(Catalogue::builtin())), sink.clone()).unwrap();
        let stats = Arc::new(SerialStats::new());
        let (shutdown, rx) = watch::channel(false);
        let source = serial::spawn(config, pipeline.inlet(), Arc::new(FixedClock), Arc::clone(&stats), rx).unwrap();
        Harness { pipeline, sink, stats, shutdown, source }
    }

    pub async fn wait_for(&self, what: &str, cond: impl Fn(&SerialStatsSnapshot) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(&self.stats.snapshot()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.stats.snapshot());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the source, then the pipeline; returns what reached the sink.
    pub async fn finish(self) -> (Vec<Observation>, Vec<DeadLetter>) {
        self.shutdown.send(true).unwrap();
        let stopped = tokio::time::timeout(WAIT, self.source).await.expect("the source did not stop");
        stopped.unwrap().unwrap();
        self.pipeline.shutdown().unwrap();
        let observations = std::mem::take(&mut *self.sink.observations.lock().unwrap());
        let dead = std::mem::take(&mut *self.sink.dead_letters.lock().unwrap());
        (observations, dead)
    }
}
