//! Shared by the Modbus driver tests: a pipeline with an in-memory sink and the driver running
//! into it, the pymodbus peer (`modbus_peer.py`) as a child process, and `socat` pty pairs.
//! Every peer is killed when dropped; ports and pty paths are unique per test.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wardstream_pipeline::{
    Catalogue, DeadLetter, FlowConfig, Normaliser, Observation, Pipeline, Sink, SinkError, StoreBatch, SystemClock,
};
use wardstream_protocols::modbus::{self, DeviceStatsSnapshot, ModbusConfig, ModbusStats};

/// How long any wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[derive(Clone, Default)]
pub struct MemorySink {
    observations: Arc<Mutex<Vec<Observation>>>,
    dead_letters: Arc<Mutex<Vec<DeadLetter>>>,
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

/// A pipeline (built-in catalogue, memory sink) with the Modbus driver feeding it.
pub struct Harness {
    pipeline: Pipeline,
    sink: MemorySink,
    pub stats: Arc<ModbusStats>,
    shutdown: watch::Sender<bool>,
    driver: tokio::task::JoinHandle<Result<(), modbus::Error>>,
}

impl Harness {
    pub fn start(config: ModbusConfig) -> Harness {
        let sink = MemorySink::default();
        let flow = FlowConfig { queue_capacity: 4, tick: Duration::from_millis(10), ..FlowConfig::default() };
        let pipeline = Pipeline::start(flow, Normaliser::new(Arc::new(Catalogue::builtin())), sink.clone()).unwrap();
        let stats = Arc::new(ModbusStats::new());
        let (shutdown, rx) = watch::channel(false);
        let driver = tokio::spawn(modbus::run(config, pipeline.inlet(), Arc::new(SystemClock), Arc::clone(&stats), rx));
        Harness { pipeline, sink, stats, shutdown, driver }
    }

    pub fn device(&self, id: &str) -> DeviceStatsSnapshot {
        self.stats.snapshot().get(id).copied().unwrap_or_default()
    }

    /// Waits until `cond` holds for the stats of `id`.
    pub async fn wait_for(
        &self,
        id: &str,
        what: &str,
        cond: impl Fn(&DeviceStatsSnapshot) -> bool,
    ) -> DeviceStatsSnapshot {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.device(id);
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {id}: {what}: {:?}", self.stats.snapshot());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the driver, then the pipeline; returns what reached the sink and the final stats.
    pub async fn finish(self) -> (Vec<Observation>, Vec<DeadLetter>) {
        self.shutdown.send(true).unwrap();
        let stopped = tokio::time::timeout(WAIT, self.driver).await.expect("the Modbus driver did not stop");
        stopped.unwrap().unwrap();
        self.pipeline.shutdown().unwrap();
        let observations = std::mem::take(&mut *self.sink.observations.lock().unwrap());
        let dead = std::mem::take(&mut *self.sink.dead_letters.lock().unwrap());
        (observations, dead)
    }
}

/// The pymodbus slave of `modbus_peer.py`, killed when dropped.
pub struct PyPeer {
    child: Option<Child>,
    paused: bool,
    args: [String; 2],
}

impl PyPeer {
    /// Modbus TCP on 127.0.0.1:`port`.
    pub fn tcp(port: u16) -> PyPeer {
        PyPeer::start(["tcp".into(), port.to_string()])
    }

    /// Modbus RTU on the pty or port at `path`.
    pub fn rtu(path: &Path) -> PyPeer {
        PyPeer::start(["rtu".into(), path.display().to_string()])
    }

    fn start(args: [String; 2]) -> PyPeer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/modbus_peer.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the pymodbus peer");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(WAIT) {
            Ok(line) if line.trim() == "ready" => PyPeer { child: Some(child), paused: false, args },
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the pymodbus peer did not start ({other:?}); is pymodbus 3.x installed? (pip install -r scripts/test-peers.txt)"
                );
            }
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the peer is running").id();
        let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Freezes the peer (SIGSTOP): its socket stays open but nothing is answered.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.paused = true;
    }

    /// Thaws it (SIGCONT).
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.paused = false;
    }

    /// Kills it (connections are closed, the port refuses).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL works on a stopped process too.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// Starts it again with the same arguments (after [`PyPeer::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let fresh = PyPeer::start(self.args.clone());
        *self = fresh;
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two linked pseudo-terminals made by `socat`, at unique paths; killed when dropped.
pub struct PtyPair {
    child: Child,
    _dir: tempfile::TempDir,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl PtyPair {
    pub fn new() -> PtyPair {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("slave"), dir.path().join("master"));
        let end = |p: &Path| format!("pty,raw,echo=0,link={}", p.display());
        let child = Command::new("socat")
            .args([end(&a), end(&b)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat is needed for the RTU tests (apt-get install socat)");
        let deadline = Instant::now() + WAIT;
        while !(a.exists() && b.exists()) {
            assert!(Instant::now() < deadline, "socat did not create its ptys");
            std::thread::sleep(Duration::from_millis(10));
        }
        PtyPair { child, _dir: dir, a, b }
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
