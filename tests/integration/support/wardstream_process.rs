//! `wardstream run` as a separate process, for the durability tests: started from a config file
//! with its log in a file, killed with SIGKILL at any moment or stopped with SIGTERM, its HTTP
//! address read from the log and its `/metrics` counters read over HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::wardstream_bin;

/// The running process.
pub struct WardstreamProcess {
    child: Option<Child>,
    log: PathBuf,
    http: Option<SocketAddr>,
}

impl WardstreamProcess {
    /// Starts `wardstream run --config <config>`, logging to `log` (INFO, plus the MQTT driver's
    /// DEBUG lines such as `subscribed`).
    pub fn spawn(config: &Path, log: &Path) -> WardstreamProcess {
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new(wardstream_bin())
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,rumqttc=warn,datafusion=warn,wardstream_protocols::mqtt=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        WardstreamProcess { child: Some(child), log: log.to_path_buf(), http: None }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until a log line contains `needle`; panics with the log after `timeout` or if the
    /// process exits first.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("wardstream exited ({status}) before logging {needle:?}:\n{log}");
                }
            }
            assert!(Instant::now() < deadline, "wardstream did not log {needle:?} within {timeout:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTTP API's address (from the `HTTP API ready address=…` log line).
    pub fn http(&mut self) -> SocketAddr {
        if let Some(address) = self.http {
            return address;
        }
        let line = self.wait_log("HTTP API ready", Duration::from_secs(60));
        let address = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("address="))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        self.http = Some(address);
        address
    }

    /// The sum of every sample of the `/metrics` family `name` (0 when absent).
    pub fn metric(&mut self, name: &str) -> f64 {
        let text = super::http::get(self.http(), "/metrics").body;
        metric_sum(&text, name)
    }

    /// SIGKILL, then reaps the process.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `timeout` for the orderly shutdown; panics (after a SIGKILL)
    /// with the log when it takes longer.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wardstream did not stop within {timeout:?} of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WardstreamProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The sum of the samples of family `name` in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| *series == name || series.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

#[test]
fn metric_sum_adds_the_labelled_samples_of_one_family_only() {
    let text = "# HELP a_total x\na_total{s=\"1\"} 2\na_total{s=\"2\"} 3\na_total_more 7\nb 1\n";
    assert_eq!(metric_sum(text, "a_total"), 5.0);
    assert_eq!(metric_sum(text, "b"), 1.0);
    assert_eq!(metric_sum(text, "c"), 0.0);
}
