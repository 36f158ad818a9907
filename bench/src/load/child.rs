//! [`DriverProcess`]: the parent's handle on the load driver child process (see
//! [`super::driver`] for the protocol): spawn, wait for `READY`, send the start time, read the
//! report. The child is killed if the handle is dropped early.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::driver::{DriverReport, DriverSpec, READY};

/// The argument that makes the `load` binary run as the driver.
pub const DRIVER_ARG: &str = "__driver";

/// A running driver.
#[derive(Debug)]
pub struct DriverProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl DriverProcess {
    /// Starts this executable as the driver for `spec`.
    pub fn spawn(spec: &DriverSpec) -> anyhow::Result<DriverProcess> {
        let exe = std::env::current_exe().context("locating the load binary")?;
        let mut child = Command::new(exe)
            .arg(DRIVER_ARG)
            .arg(serde_json::to_string(spec)?)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the load driver process")?;
        let stdin = child.stdin.take().context("the driver has no stdin")?;
        let stdout = child.stdout.take().context("the driver has no stdout")?;
        Ok(DriverProcess { child, stdin, lines: BufReader::new(stdout).lines() })
    }

    async fn line(&mut self, timeout: Duration, what: &str) -> anyhow::Result<String> {
        match tokio::time::timeout(timeout, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => bail!("the load driver exited before {what}"),
            Ok(Err(e)) => Err(e).with_context(|| format!("reading {what} from the load driver")),
            Err(_) => bail!("no {what} from the load driver within {timeout:?}"),
        }
    }

    /// Waits until the driver is connected and subscribed.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let line = self.line(timeout, "READY").await?;
        if line.trim() != READY {
            bail!("the load driver said {line:?} instead of {READY}");
        }
        Ok(())
    }

    /// Tells the driver to start publishing at `start_us` (wall clock).
    pub async fn start(&mut self, start_us: i64) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{start_us}\n").as_bytes()).await?;
        self.stdin.flush().await.context("sending the start time to the load driver")
    }

    /// Waits for the driver's report and for it to exit.
    pub async fn report(mut self, timeout: Duration) -> anyhow::Result<DriverReport> {
        let line = self.line(timeout, "the report").await?;
        let report: DriverReport =
            serde_json::from_str(&line).with_context(|| format!("the driver's report {line:?}"))?;
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        match status {
            Ok(Ok(s)) if s.success() => Ok(report),
            Ok(Ok(s)) => bail!("the load driver exited with {s}"),
            _ => bail!("the load driver did not exit after its report"),
        }
    }
}
